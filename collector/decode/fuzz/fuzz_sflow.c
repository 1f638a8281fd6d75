/* libFuzzer target: the sFlow v5 decoder. An input is the body of one sFlow datagram after its
 * version word (the target adds 00000005, so no execution is spent on other protocols); its
 * first byte picks one of 8 senders. One decoder lives across inputs, with a small interface
 * table, so that its bound is reached. Every record must be valid JSON without duplicate keys,
 * and every interface the table reports must be one it may hold. */
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "log.h"

#define MAX_IFS 16

static struct s4f_decoder *dec;
static uint8_t buf[65536];

static void check_cb(void *ctx, const struct s4f_flow_out *rec)
{
    (void)ctx;
    json_error_t err;
    /* Counters times the sampling rate may exceed 2^63 (unsigned): numbers are read as reals. */
    json_t *o = json_loadb(rec->json, rec->json_len,
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
    if (!o || !json_is_object(o) || rec->version != S4F_VERSION_SFLOW) {
        fprintf(stderr, "invalid record (%s): %.*s\n", err.text, (int)rec->json_len, rec->json);
        abort();
    }
    json_decref(o);
}

static void check_if(void *ctx, const struct s4f_sflow_interface *ifc)
{
    (void)ctx;
    if (!ifc->agent || strlen(ifc->agent) >= 46)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dec) {
        s4f_log_level_current = -1;
        struct s4f_decoder_opts o = {.max_exporters = 8, .max_sflow_interfaces = MAX_IFS};
        dec = s4f_decoder_new(&o);
        if (!dec)
            abort();
    }
    if (size < 1 || size > sizeof(buf) - 4)
        return 0;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)(40000 + (data[0] & 7)));
    s4->sin_addr.s_addr = htonl(0xc0000201u);
    static const uint8_t version[4] = {0, 0, 0, 5};
    memcpy(buf, version, 4);
    memcpy(buf + 4, data + 1, size - 1);
    s4f_decode_datagram(dec, &ss, buf, size + 3, 1764223857000LL, check_cb, NULL);
    if (s4f_decoder_foreach_sflow_interface(dec, check_if, NULL) > MAX_IFS)
        abort();
    return 0;
}
