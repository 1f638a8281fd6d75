/* Test harness for the window engine and the analyses: runs one analysis over an in-memory
 * window engine whose emit() captures the documents instead of producing them, so tests
 * drive time, deliveries and back-pressure by hand and check exact documents (jansson).
 *
 * Ownership: the harness owns every captured document; th_doc() returns a borrowed json_t
 * valid until th_free(). Single-threaded, like the engine. */
#ifndef S4F_TEST_HARNESS_H
#define S4F_TEST_HARNESS_H

#include "analysis.h"
#include "flow.h"
#include "window.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* An hour-aligned event time (2025-11-27T06:00:00Z) and a wall clock a day later, so that no
 * test flow is refused as coming from the future unless a test wants it. */
#define TH_T0   INT64_C(1764223200000)
#define TH_WALL (TH_T0 + INT64_C(86400000))

struct th_doc {
    char *id;
    json_t *doc;
    void *win;
    bool acked;
};

/* A changelog record the analysis wrote (s4f_emit_changelog). */
struct th_rec {
    int32_t partition;
    void *key, *val;
    size_t klen, vlen;
    void *win;
    bool acked;
};

struct th {
    const struct s4f_analysis *a;
    void *conf;
    void *inst;
    struct s4f_metrics *metrics;
    struct s4f_wengine *we;
    struct th_doc *docs; /* every emission, in order */
    size_t ndocs, cap;
    struct th_rec *recs; /* every changelog record, in order */
    size_t nrecs, rcap;
    enum s4f_status answer; /* what emit() answers: S4F_OK unless a test simulates trouble */
    int64_t wall;           /* now_wall handed to flow() and tick() */
    int64_t mono_skew;      /* added to the monotonic clock at tick(): idle timeouts */
    int64_t ts;             /* the records' Kafka timestamp (processing time); 0: wall */
};

/* Builds the analysis from a YAML section (its option table) and an engine over it. */
/* yaml: the analysis's options; watermark_quorum is 1 (the largest event time) unless set. */
struct th *th_new(const struct s4f_analysis *a, const char *yaml);
void th_free(struct th *t);

/* Folds a flow read at offset of partition; returns the engine's answer. */
enum s4f_status th_flow(struct th *t, int32_t partition, int64_t offset, const struct s4f_flow *f);
void th_tick(struct th *t);
/* Acknowledges (ok) or fails every document and changelog record not yet acknowledged. */
void th_ack_all(struct th *t, bool ok);
/* Gives every changelog record `from` wrote to t's analysis, as the engine does on
 * assignment; returns how many it refused. */
size_t th_restore(struct th *t, const struct th *from);

/* The last document emitted with this id, or NULL. */
json_t *th_doc(const struct th *t, const char *id);
/* How many times a document with this id was emitted. */
size_t th_emits(const struct th *t, const char *id);
/* Distinct ids of a type (prefix match on "<type>:"). */
size_t th_count_type(const struct th *t, const char *type);
/* The value of a counter or gauge of the analysis (`analysis="<name>"`). */
int64_t th_metric(struct th *t, const char *name);
/* Integer member of a document (asserts that it exists). */
int64_t th_int(const json_t *doc, const char *key);
const char *th_str(const json_t *doc, const char *key);

/* A flow: addresses as text, end time, duration 500 ms. */
struct s4f_flow th_mkflow(const char *src, const char *dst, uint8_t proto, uint16_t dport,
                          uint16_t flags, uint64_t packets, uint64_t bytes, int64_t end_ms);
/* A UDP DNS flow as the reader makes it (both probe families give the same struct s4f_dns):
 * name in the question and the first answer, qtype as both types, one packet of 80 bytes,
 * end time TH_T0 + rel. */
struct s4f_flow th_dnsflow(const char *src, const char *dst, uint16_t sport, uint16_t dport,
                           const char *name, bool response, uint8_t rcode, uint16_t qtype,
                           int64_t rel);

#endif
