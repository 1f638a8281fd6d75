/* libFuzzer target: what the sink reads from the outside. The first byte picks the reader:
 * 0 a Kafka message as a result (its first bytes also as an s4f-epoch header), 1 as a raw flow
 * (both then go into a bulk body), 2 a bulk answer of a few items. None may crash, hang or leak; an
 * accepted document must make a bulk line that is one line. */
#include "bulk.h"
#include "jscan.h"
#include "templates.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t len = size - 1;
    char reason[S4F_BULK_REASON_MAX];
    switch (data[0] % 3) {
    case 0:
    case 1: {
        struct s4f_doc_meta meta;
        enum s4f_doc_kind kind = data[0] % 3 == 0 ? S4F_DOC_RESULT : S4F_DOC_FLOW;
        /* Half the inputs through the sink's checks (known types, time bounds) as well. */
        const struct s4f_bulk_checks checks = {.now_ms = 1795759850000LL,
                                               .max_future_ms = 3600000,
                                               .max_age_ms = 30LL * 86400000,
                                               .type_known = s4f_tpl_result_type};
        /* A result's first bytes also as its s4f-epoch header: an epoch or nothing. */
        int64_t v = 0;
        if (kind == S4F_DOC_RESULT && s4f_bulk_epoch_version(p, len < 12 ? len : 12, &v) == 0 &&
            (v <= 0 || (v & 0xffffffffLL) != 0))
            abort();
        if (s4f_bulk_doc_meta(kind, "fuzz", p, len, "topic", 1, 2, 3, size % 2 ? &checks : NULL,
                              &meta, reason, sizeof(reason)) != S4F_OK)
            break;
        /* Some results as fenced ones: a versioned action line. */
        if (kind == S4F_DOC_RESULT && size % 4 == 0)
            meta.version = (int64_t)len << 32;
        struct s4f_buf b = {0};
        if (s4f_bulk_append(&b, &meta, p, len) == 0) {
            /* Exactly two lines: the action and the document. */
            size_t nl = 0;
            for (size_t i = 0; i < b.len; i++)
                nl += b.p[i] == '\n';
            if (nl != 2 || b.p[b.len - 1] != '\n')
                abort();
        }
        s4f_buf_free(&b);
        break;
    }
    default: {
        struct s4f_bulk_item_result r[4];
        s4f_bulk_parse_response(p, len, 3, r);
        break;
    }
    }
    return 0;
}
