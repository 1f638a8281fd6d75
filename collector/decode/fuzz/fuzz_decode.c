/* libFuzzer target: the datagram decoder. One decoder lives across inputs (as in the daemon),
 * so templates and sampling state learnt from one input shape the next. An input is a sequence
 * of datagrams, each prefixed by a 2-byte big-endian length and a 1-byte exporter selector;
 * an input without that framing (a plain captured payload) is decoded as one datagram too.
 * Every record must be valid JSON without duplicate keys (checked with jansson, which also
 * refuses invalid UTF-8): application strings of any bytes included. */
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "log.h"

static struct s4f_decoder *dec;
static int64_t now_ms = 1764223857000LL;

static void check_cb(void *ctx, const struct s4f_flow_out *rec)
{
    (void)ctx;
    json_error_t err;
    json_t *o = json_loadb(rec->json, rec->json_len,
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
    if (!o || !json_is_object(o)) {
        fprintf(stderr, "invalid record (%s): %.*s\n", err.text, (int)rec->json_len, rec->json);
        abort();
    }
    json_decref(o);
    if (rec->src_text && rec->src_text_len > 45)
        abort();
}

static void datagram(uint8_t sel, const uint8_t *p, size_t n)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (sel & 0x80) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr.s6_addr[0] = 0x20;
        s6->sin6_addr.s6_addr[15] = sel & 7;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(0xc0000200u | (sel & 7));
    }
    /* Time moves on a little with every datagram, and jumps on request (template expiry). */
    now_ms += (sel & 0x40) ? 3600000 : 10;
    s4f_decode_datagram(dec, &ss, p, n, now_ms, check_cb, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dec) {
        s4f_log_level_current = -1;
        /* The application elements of both probe families (Flowmon, ipfixprobe: DNS, HTTP,
         * TLS strings and octet arrays), as the daemon loads them by default. */
        static const char *files[] = {S4F_ELEMENTS_SRC "/flowmon.xml",
                                      S4F_ELEMENTS_SRC "/ipfixprobe.xml", NULL};
        struct s4f_decoder_opts o = {.element_files = files,
                                     .max_exporters = 4,
                                     .max_templates_per_exporter = 64,
                                     .max_domains_per_exporter = 8,
                                     .emit_options_records = true};
        dec = s4f_decoder_new(&o);
        if (!dec)
            abort();
    }
    /* A payload straight from a capture starts with version 5, 9 or 10. */
    if (size >= 2 && data[0] == 0 && (data[1] == 5 || data[1] == 9 || data[1] == 10)) {
        datagram(0, data, size);
        return 0;
    }
    while (size >= 3) {
        size_t n = (size_t)data[0] << 8 | data[1];
        uint8_t sel = data[2];
        data += 3;
        size -= 3;
        if (n > size)
            n = size;
        datagram(sel, data, n);
        data += n;
        size -= n;
    }
    return 0;
}
