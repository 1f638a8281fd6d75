/* libFuzzer entry: any bytes through the packed-message reader (docs/packed-format.md). A
 * message it accepts must give sane flows, and each of its records must encode back to
 * exactly its bytes (the format has one form per flow, so the reader refuses any other), and
 * the message's length must be what its records add up to. */
#include "flow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct s4f_flow f;
    static uint8_t again[S4F_PACKED_REC_MAX];
    size_t cnt;
    if (s4f_packed_check((const char *)data, size, &f, &cnt, NULL) != S4F_OK)
        return 0;
    struct s4f_packed_iter it;
    if (s4f_packed_open((const char *)data, size, &it, &cnt, NULL) != S4F_OK || !cnt ||
        cnt > S4F_PACKED_MAX_FLOWS)
        abort();
    size_t o = S4F_PACKED_HDR_LEN, n = 0;
    int rc;
    while ((rc = s4f_packed_next(&it, &f, NULL)) == 1) {
        if (f.start_ms > f.end_ms || f.end_ms <= 0 || (f.src.family != 4 && f.src.family != 6) ||
            f.src.family != f.dst.family || f.side != S4F_SIDE_ANY ||
            strlen(f.dns.name) != f.dns.name_len || strlen(f.app.sni) != f.app.sni_len ||
            strlen(f.src_as_org) != f.src_geo.org_len)
            abort();
        size_t len = s4f_packed_encode(&f, again);
        if (len > S4F_PACKED_REC_MAX || o + len > size || memcmp(again, data + o, len) != 0)
            abort();
        o += len;
        n++;
    }
    if (rc != 0 || n != cnt || o != size)
        abort();
    return 0;
}
