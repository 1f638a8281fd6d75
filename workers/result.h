/* Result documents: implements the result API of analysis.h (s4f_result_begin/end, the
 * s4f_jb_* JSON helpers, s4f_emit_changelog): builds each document with its common fields
 * and deterministic id, and hands it to the window engine's sinks (s4f_wengine_opts.emit,
 * .emit_changelog). The window engine (window.c) owns one s4f_emit, sets it up once
 * (s4f_emit_init) and points it at the window being emitted before each on_window_close /
 * on_window_final (s4f_emit_start).
 *
 * Ownership: the s4f_emit is its owner's; s4f_emit_release frees its buffer. Threading: the
 * owner's (the analysis's engine thread). */
#ifndef S4F_RESULT_H
#define S4F_RESULT_H

#include "analysis.h"
#include "metrics.h"
#include "s4f.h"

#include <stdbool.h>
#include <stdint.h>

/* Formatted times: the documents of one window share @timestamp, window_start and
 * window_end, and gmtime + snprintf per field was a tenth of host_stats' cost. */
#define S4F_JB_TCACHE 4

struct s4f_jbuf {
    char *buf;
    size_t len, cap;
    bool failed;
    int64_t tcache_ms[S4F_JB_TCACHE];
    char tcache[S4F_JB_TCACHE][32];
    unsigned tcache_next;
};

struct s4f_emit {
    /* Set once (s4f_emit_init). */
    enum s4f_status (*emit)(void *ctx, const char *id, const char *doc, size_t len, void *win);
    enum s4f_status (*emit_changelog)(void *ctx, int32_t partition, const void *key, size_t klen,
                                      const void *val, size_t vlen, void *win);
    void *ctx;
    bool changelog; /* a changelog topic is configured and emit_changelog is set */
    /* A message of window handle win was taken by a sink: the owner waits for its
     * acknowledgement. */
    void (*taken)(void *owner, void *win);
    void *owner;
    struct s4f_metric *m_results, *m_refused; /* may be NULL */
    /* The window being emitted (s4f_emit_start). */
    int64_t start_ms, end_ms;
    int32_t partition;
    void *win;
    /* What became of its messages: some met back-pressure (retry: nretry of them). */
    bool retry;
    int nretry;
    /* The document being built. */
    struct s4f_jbuf jb;
    char id[256];
    bool open;
};

struct s4f_emit_opts {
    enum s4f_status (*emit)(void *ctx, const char *id, const char *doc, size_t len, void *win);
    enum s4f_status (*emit_changelog)(void *ctx, int32_t partition, const void *key, size_t klen,
                                      const void *val, size_t vlen, void *win);
    void *ctx;
    bool changelog;
    void (*taken)(void *owner, void *win);
    void *owner;
    struct s4f_metric *m_results, *m_refused;
};

void s4f_emit_init(struct s4f_emit *out, const struct s4f_emit_opts *o);
/* Points out at window [start_ms, end_ms) of partition (handle win) and clears retry and
 * nretry. */
void s4f_emit_start(struct s4f_emit *out, int64_t start_ms, int64_t end_ms, int32_t partition,
                    void *win);
void s4f_emit_release(struct s4f_emit *out);

#endif
