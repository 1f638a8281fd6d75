/* libFuzzer target: the IPFIX-over-TCP stream splitter and the decoder behind it. Each input is
 * one connection; the first byte picks how the bytes are cut into reads. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "log.h"

static struct s4f_decoder *dec;

static void check_cb(void *ctx, const struct s4f_flow_out *rec)
{
    (void)ctx;
    json_error_t err;
    json_t *o = json_loadb(rec->json, rec->json_len,
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
    if (!o) {
        fprintf(stderr, "invalid record (%s): %.*s\n", err.text, (int)rec->json_len, rec->json);
        abort();
    }
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dec) {
        s4f_log_level_current = -1;
        dec = s4f_decoder_new(NULL);
        if (!dec)
            abort();
    }
    if (size < 1)
        return 0;
    size_t chunk = 1 + data[0] % 64;
    if (data[0] >= 192)
        chunk = size; /* whole input in one read */
    data++;
    size--;
    struct s4f_ipfix_stream *st = s4f_ipfix_stream_new(dec, NULL);
    if (!st)
        abort();
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (s4f_ipfix_stream_feed(st, data + off, n, 1764223857000LL, check_cb, NULL) != S4F_OK)
            break;
        if (s4f_ipfix_stream_pending(st) > 65535)
            abort();
        off += n;
    }
    s4f_ipfix_stream_free(st);
    return 0;
}
