/* Test helpers: a record collector that checks every emitted record is valid JSON without
 * duplicate keys, and accessors that fail the test on a missing or mistyped field. */
#ifndef S4F_DECODE_TEST_UTIL_H
#define S4F_DECODE_TEST_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "decode.h"

#define TU_MAX_RECS 4096

struct tu_recs {
    size_t n;
    json_t *obj[TU_MAX_RECS];
    struct s4f_flow_out meta[TU_MAX_RECS]; /* pointers inside are not valid after the callback */
    char src_text[TU_MAX_RECS][48];
    size_t invalid; /* records that failed to parse */
};

/* s4f_record_cb collecting into a struct tu_recs (ctx). */
void tu_collect(void *ctx, const struct s4f_flow_out *rec);
void tu_clear(struct tu_recs *r);

struct sockaddr_storage tu_addr(const char *text);
int64_t tu_int(const struct tu_recs *r, size_t i, const char *key);
double tu_real(const struct tu_recs *r, size_t i, const char *key);
const char *tu_str(const struct tu_recs *r, size_t i, const char *key);
bool tu_has(const struct tu_recs *r, size_t i, const char *key);
uint64_t tu_err(const struct s4f_decoder *dec, enum s4f_decode_reason reason);
/* Directory of the akvorado NetFlow captures, or NULL if not found. */
const char *tu_testdata_dir(void);
/* Path of a file in the source tree (collector/decode/...). */
const char *tu_source_path(const char *rel, char *buf, size_t len);

#endif
