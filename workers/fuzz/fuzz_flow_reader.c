/* libFuzzer entry: any bytes through the flat-record reader and the routed-record decoder; a
 * flow either accepts must be sane, and a decoded routed record must encode back to the same
 * bytes. The same bytes as address text: the hand-written IPv4 parser must agree with
 * inet_pton. */
#include "flow.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s4f_flow f;
    if (s4f_flow_parse((const char *)data, size, &f, NULL) == S4F_OK &&
        (f.start_ms > f.end_ms || (f.src.family != 4 && f.src.family != 6) ||
         f.src.family != f.dst.family || f.side > S4F_SIDE_DST))
        abort();
    if (s4f_flow_decode_routed((const char *)data, size, &f, NULL) == S4F_OK) {
        if (f.start_ms > f.end_ms || (f.src.family != 4 && f.src.family != 6) ||
            f.src.family != f.dst.family || f.side == S4F_SIDE_ANY || f.side > S4F_SIDE_MARK ||
            f.end_ms <= 0)
            abort();
        uint8_t again[S4F_ROUTED_MAX];
        if (f.side == S4F_SIDE_MARK) {
            s4f_flow_encode_mark(f.src_partition, f.src_offset, f.end_ms, f.mark_idle,
                                 (int64_t)f.packets, (int64_t)f.bytes, f.mark_from, again);
        } else {
            s4f_flow_encode_routed(&f, f.side, f.src_partition, f.src_offset, again);
            s4f_routed_set_gap(again, f.src_gap);
        }
        /* Binary (not the JSON form): equal unless the start was clamped (the one field the
         * decoder rewrites); versions 1 and 2 have the same fields without the reverse ones. */
        bool binary = data[0] != '{';
        if (binary)
            again[3] = data[3];
        if (binary && memcmp(again, data, 48) != 0)
            abort();
        if (binary && size >= S4F_ROUTED_LEN && memcmp(again + 96, data + 96, 16) != 0)
            abort();
        /* Version 4 keeps its GeoIP block as written (a block that says nothing is refused). */
        if (binary && size == S4F_ROUTED_LEN_V4 &&
            memcmp(again + S4F_ROUTED_LEN, data + S4F_ROUTED_LEN, S4F_ROUTED_GEO_LEN) != 0)
            abort();
    }
    if (size < 64 && !memchr(data, '\0', size) && !memchr(data, ':', size)) {
        char text[64];
        struct s4f_addr a;
        unsigned char ref[4];
        memcpy(text, data, size);
        text[size] = '\0';
        int ours = s4f_addr_parse(text, size, &a);
        int theirs = inet_pton(AF_INET, text, ref) == 1 ? 0 : -1;
        if (ours != theirs || (ours == 0 && memcmp(a.b, ref, 4) != 0))
            abort();
    }
    return 0;
}
