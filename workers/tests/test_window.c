/* The window engine on a stub analysis that counts flows: tumbling and sliding windows, the
 * per-partition watermark, allowed lateness, idle timeout, processing time, the future guard,
 * delivery failures and back-pressure, the commit bookkeeping (safe offset, horizon) and the
 * window cap. Time is driven by hand: no test sleeps. */
#include "harness.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- the stub analysis ------------------------------------------------------------------ */

struct stub_conf {
    struct s4f_analysis_common common;
};

static const struct s4f_opt stub_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct stub_conf, "10s", "100"),
    S4F_OPT_END,
};

struct stub {
    int windows_live; /* window_new minus window_free: must end at 0 */
    int finals;
    int resends; /* on_window_final again after a lost message */
    int closes;
};

struct stub_win {
    uint64_t flows, bytes;
};

static void *stub_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err,
                       size_t errlen)
{
    return calloc(1, sizeof(struct stub));
}

static void *stub_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    ((struct stub *)inst)->windows_live++;
    return calloc(1, sizeof(struct stub_win));
}

static void stub_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct stub_win *w = wstate;
    w->flows++;
    w->bytes += f->bytes;
}

static void stub_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                       struct s4f_emit *out)
{
    struct stub_win *w = wstate;
    ((struct stub *)inst)->closes++;
    struct s4f_jbuf *b = s4f_result_begin(out, "stub", "k", 0, 0);
    if (!b)
        return;
    s4f_jb_u64(b, "flows", w->flows);
    s4f_jb_u64(b, "bytes", w->bytes);
    s4f_jb_u64(b, "first", win->first_close);
    s4f_result_end(out);
}

static void stub_final(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                       struct s4f_emit *out)
{
    if (win->resend)
        ((struct stub *)inst)->resends++;
    else
        ((struct stub *)inst)->finals++;
}

static void stub_window_free(void *inst, void *wstate)
{
    ((struct stub *)inst)->windows_live--;
    free(wstate);
}

static void stub_destroy(void *inst)
{
    assert_int_equal(((struct stub *)inst)->windows_live, 0);
    free(inst);
}

static const struct s4f_analysis stub = {
    .name = "stub",
    .opts = stub_opts,
    .conf_size = sizeof(struct stub_conf),
    .init = stub_init,
    .window_new = stub_window_new,
    .on_flow = stub_on_flow,
    .on_window_close = stub_close,
    .on_window_final = stub_final,
    .window_free = stub_window_free,
    .destroy = stub_destroy,
};

/* ---- helpers ------------------------------------------------------------------------------ */

static enum s4f_status at(struct th *t, int32_t part, int64_t off, int64_t rel_ms)
{
    struct s4f_flow f = th_mkflow("10.0.0.1", "10.0.0.2", 6, 80, 0x10, 1, 100, TH_T0 + rel_ms);
    return th_flow(t, part, off, &f);
}

/* id of the stub's result for the window starting at rel_ms (len ms) of part. */
static const char *wid(int64_t rel_ms, int64_t len, int part)
{
    static char buf[8][96];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 96, "stub:%" PRId64 "+%" PRId64 ":p%d:k", TH_T0 + rel_ms, len, part);
    return b;
}

static int64_t safe(struct th *t, int32_t part, int64_t *horizon)
{
    return s4f_wengine_safe_offset(t->we, part, horizon);
}

static struct stub *inst(struct th *t)
{
    return t->inst;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_tumbling_emit_at_watermark(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\nallowed_lateness: 5s\n");
    assert_int_equal(at(t, 0, 0, 1000), S4F_OK);
    assert_int_equal(at(t, 0, 1, 9999), S4F_OK);
    th_tick(t);
    assert_int_equal(t->ndocs, 0);                /* the watermark has not reached the end */
    assert_int_equal(at(t, 0, 2, 10000), S4F_OK); /* [s, s + 10 s): belongs to the next one */
    th_tick(t);
    assert_int_equal(t->ndocs, 1);
    json_t *d = th_doc(t, wid(0, 10000, 0));
    assert_non_null(d);
    assert_int_equal(th_int(d, "flows"), 2);
    assert_int_equal(th_int(d, "first"), 1);
    assert_string_equal(th_str(d, "window_start"), "2025-11-27T06:00:00.000Z");
    assert_string_equal(th_str(d, "window_end"), "2025-11-27T06:00:10.000Z");
    assert_string_equal(th_str(d, "@type"), "stub");

    /* Emitted but within allowed lateness: still held, so its input is not committed. */
    int64_t h;
    assert_int_equal(safe(t, 0, &h), 0);
    assert_true(h == INT64_MIN);
    th_ack_all(t, true);
    assert_int_equal(at(t, 0, 3, 15000), S4F_OK);
    th_tick(t);
    assert_int_equal(inst(t)->finals, 1);
    assert_int_equal(safe(t, 0, &h), 2); /* the open window's first offset */
    assert_int_equal(h, TH_T0 + 10000);
    assert_int_equal(s4f_wengine_windows(t->we), 1);
    /* Final: a flow for it is dropped and counted, never folded silently. */
    assert_int_equal(at(t, 0, 4, 9000), S4F_ERR);
    assert_int_equal(th_metric(t, "late_dropped_total"), 1);
    s4f_wengine_skip(t->we, 0, 4);
    assert_int_equal(safe(t, 0, &h), 2);
    assert_int_equal(th_emits(t, wid(0, 10000, 0)), 1);
    assert_int_equal(th_metric(t, "flows_total"), 4);
    th_free(t);
}

static void test_sliding_windows(void **state)
{
    struct th *t = th_new(&stub, "window: 30s\nslide: 10s\nallowed_lateness: 0\n");
    assert_int_equal(at(t, 0, 0, 5000), S4F_OK);  /* windows starting -20, -10, 0 s */
    assert_int_equal(at(t, 0, 1, 25000), S4F_OK); /* 0, 10, 20 s */
    /* Without lateness, a flow for windows the watermark passed is dropped. */
    assert_int_equal(at(t, 0, 2, -5000), S4F_ERR);
    assert_int_equal(th_metric(t, "late_dropped_total"), 1);
    assert_int_equal(s4f_wengine_windows(t->we), 5);
    assert_int_equal(at(t, 0, 3, 100000), S4F_OK);
    th_tick(t);
    static const struct {
        int64_t start;
        int flows;
    } want[] = {{-20000, 1}, {-10000, 1}, {0, 2}, {10000, 1}, {20000, 1}};
    for (size_t i = 0; i < S4F_ARRAY_SIZE(want); i++) {
        json_t *d = th_doc(t, wid(want[i].start, 30000, 0));
        assert_non_null(d);
        assert_int_equal(th_int(d, "flows"), want[i].flows);
    }
    assert_int_equal(th_count_type(t, "stub"), 5);
    assert_int_equal(inst(t)->finals, 5);
    th_ack_all(t, true);
    th_tick(t);
    int64_t h;
    assert_int_equal(safe(t, 0, &h), 3);
    assert_int_equal(h, TH_T0 + 50000);
    th_free(t);
}

static void test_watermark_is_per_partition(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\n");
    assert_int_equal(at(t, 0, 0, 1000), S4F_OK);
    assert_int_equal(at(t, 1, 0, 1000), S4F_OK);
    assert_int_equal(at(t, 1, 1, 50000), S4F_OK);
    th_tick(t);
    assert_non_null(th_doc(t, wid(0, 10000, 1)));
    assert_null(th_doc(t, wid(0, 10000, 0))); /* partition 0 has not seen time pass */
    assert_int_equal(t->ndocs, 1);
    th_free(t);
}

static void test_allowed_lateness_folds_then_drops(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\nallowed_lateness: 10s\n");
    assert_int_equal(at(t, 0, 0, 1000), S4F_OK);
    assert_int_equal(at(t, 0, 1, 12000), S4F_OK);
    th_tick(t);
    assert_int_equal(th_int(th_doc(t, wid(0, 10000, 0)), "flows"), 1);
    th_ack_all(t, true);
    /* Two late flows: folded, each counted, one re-emission with the same id. */
    assert_int_equal(at(t, 0, 2, 2000), S4F_OK);
    assert_int_equal(at(t, 0, 3, 3000), S4F_OK);
    assert_int_equal(th_metric(t, "late_folded_total"), 2);
    /* Out of order but for a window not emitted yet: not late. */
    assert_int_equal(at(t, 0, 4, 11000), S4F_OK);
    assert_int_equal(th_metric(t, "late_folded_total"), 2);
    th_tick(t); /* within the re-emission interval: not yet */
    assert_int_equal(th_emits(t, wid(0, 10000, 0)), 1);
    t->mono_skew = S4F_REEMIT_INTERVAL_MS;
    th_tick(t);
    json_t *d = th_doc(t, wid(0, 10000, 0));
    assert_int_equal(th_int(d, "flows"), 3);
    assert_int_equal(th_int(d, "first"), 0);
    assert_int_equal(th_emits(t, wid(0, 10000, 0)), 2);
    th_ack_all(t, true);
    /* One more late flow, then the watermark reaches end + lateness: final, and emitted at
     * once whatever the interval. */
    t->mono_skew = 0;
    assert_int_equal(at(t, 0, 6, 2500), S4F_OK);
    assert_int_equal(at(t, 0, 5, 20000), S4F_OK);
    th_tick(t);
    assert_int_equal(th_emits(t, wid(0, 10000, 0)), 3);
    assert_int_equal(th_int(th_doc(t, wid(0, 10000, 0)), "flows"), 4);
    assert_int_equal(inst(t)->finals, 1);
    th_ack_all(t, true);
    th_tick(t);
    assert_int_equal(at(t, 0, 7, 4000), S4F_ERR);
    assert_int_equal(th_metric(t, "late_dropped_total"), 1);
    assert_int_equal(th_emits(t, wid(0, 10000, 0)), 3);
    int64_t h;
    assert_int_equal(safe(t, 0, &h), 1);
    assert_int_equal(h, TH_T0 + 10000);
    th_free(t);
}

static void test_idle_timeout_emits_open_windows(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\nidle_timeout: 1s\n");
    assert_int_equal(at(t, 0, 0, 1000), S4F_OK);
    th_tick(t);
    assert_int_equal(t->ndocs, 0);
    t->mono_skew = 1000; /* the partition has been quiet for idle_timeout */
    th_tick(t);
    assert_int_equal(t->ndocs, 1);
    assert_int_equal(th_int(th_doc(t, wid(0, 10000, 0)), "flows"), 1);
    assert_int_equal(th_metric(t, "idle_emits_total"), 1);
    th_tick(t); /* once per quiet spell */
    assert_int_equal(t->ndocs, 1);
    th_ack_all(t, true);
    /* Still open: more flows re-emit it with the same id, at the next quiet spell. */
    int64_t h;
    assert_int_equal(safe(t, 0, &h), 0);
    t->mono_skew = 0;
    assert_int_equal(at(t, 0, 1, 2000), S4F_OK);
    th_tick(t);
    assert_int_equal(t->ndocs, 1);
    t->mono_skew = 1000;
    th_tick(t);
    assert_int_equal(th_emits(t, wid(0, 10000, 0)), 2);
    assert_int_equal(th_int(th_doc(t, wid(0, 10000, 0)), "flows"), 2);
    assert_int_equal(th_int(th_doc(t, wid(0, 10000, 0)), "first"), 0);
    assert_int_equal(inst(t)->finals, 0);
    th_free(t);
}

static void test_processing_time(void **state)
{
    /* The harness hands t->wall over as the record's Kafka timestamp. */
    struct th *t = th_new(&stub, "window: 10s\ntime_mode: processing\nallowed_lateness: 0\n"
                                 "idle_timeout: 1s\n");
    t->wall = TH_T0 + 1000;
    /* A flow of an old capture lands in the window of its timestamp. */
    assert_int_equal(at(t, 0, 0, -86400000), S4F_OK);
    t->wall = TH_T0 + 9000;
    th_tick(t);
    assert_int_equal(t->ndocs, 0);
    /* The timestamps move the watermark, as event times do: a replay after a restart (with
     * a later wall clock) puts every record in the same window again. */
    t->wall = TH_T0 + 10000;
    assert_int_equal(at(t, 0, 1, -86400000), S4F_OK);
    th_tick(t);
    assert_int_equal(th_int(th_doc(t, wid(0, 10000, 0)), "flows"), 1);
    /* An idle partition's watermark follows the wall clock: its last window becomes final. */
    t->wall = TH_T0 + 25000;
    t->mono_skew = 1000;
    th_tick(t);
    assert_int_equal(th_int(th_doc(t, wid(10000, 10000, 0)), "flows"), 1);
    assert_int_equal(inst(t)->finals, 2);
    th_free(t);
}

static void test_processing_time_replay_is_identical(void **state)
{
    /* Regression: processing time was the arrival wall clock, so a replay after a restart
     * put the same records in other windows (counted twice downstream). */
    const char *cfg = "window: 10s\ntime_mode: processing\nallowed_lateness: 0\n";
    struct th *t[2] = {th_new(&stub, cfg), th_new(&stub, cfg)};
    for (int run = 0; run < 2; run++) {
        for (int i = 0; i < 30; i++) {
            t[run]->ts = TH_T0 + i * 1000;
            /* the replay runs a day later: its wall clock differs, the timestamps do not */
            t[run]->wall = run ? TH_WALL + i : t[run]->ts;
            assert_int_equal(at(t[run], 0, i, 0), S4F_OK);
        }
        th_tick(t[run]);
    }
    for (int w = 0; w < 20000; w += 10000)
        assert_int_equal(th_int(th_doc(t[0], wid(w, 10000, 0)), "flows"),
                         th_int(th_doc(t[1], wid(w, 10000, 0)), "flows"));
    assert_int_equal(th_int(th_doc(t[0], wid(0, 10000, 0)), "flows"), 10);
    th_free(t[0]);
    th_free(t[1]);
}

static void test_future_flows_refused(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\nmax_future: 10m\n");
    t->wall = TH_T0;
    assert_int_equal(at(t, 0, 0, 601000), S4F_ERR);
    assert_int_equal(th_metric(t, "future_dropped_total"), 1);
    assert_int_equal(at(t, 0, 1, 599000), S4F_OK);
    assert_int_equal(s4f_wengine_windows(t->we), 1);
    th_free(t);
}

static void test_watermark_quorum_statistic(void **state)
{
    /* The watermark is the 3rd largest time of the partition's recent records: one record
     * far ahead neither moves it nor is folded until the watermark comes near it. */
    struct th *t = th_new(&stub, "window: 10s\nallowed_lateness: 0\nwatermark_quorum: 3\n");
    assert_int_equal(at(t, 0, 0, 1000), S4F_OK);
    assert_int_equal(at(t, 0, 1, 2000), S4F_OK);
    assert_int_equal(at(t, 0, 2, 30000), S4F_OK); /* set aside: > 1000 + 10 s */
    assert_int_equal(th_metric(t, "outlier_total"), 1);
    assert_int_equal(at(t, 0, 3, 3000), S4F_OK);
    assert_int_equal(at(t, 0, 4, 12000), S4F_OK); /* watermark 3000 */
    th_tick(t);
    assert_int_equal(t->ndocs, 0);
    assert_int_equal(at(t, 0, 5, 13000), S4F_OK); /* 3rd largest: 12000 */
    th_tick(t);
    assert_int_equal(t->ndocs, 1);
    assert_int_equal(th_int(th_doc(t, wid(0, 10000, 0)), "flows"), 3);
    th_ack_all(t, true);
    th_tick(t);
    /* The record set aside holds the commit point back. */
    int64_t h;
    assert_int_equal(safe(t, 0, &h), 2);
    assert_int_equal(s4f_wengine_windows(t->we), 1);
    assert_int_equal(at(t, 0, 6, 21000), S4F_OK); /* watermark 13000: 30000 still aside */
    assert_int_equal(s4f_wengine_windows(t->we), 2);
    assert_int_equal(at(t, 0, 7, 22000), S4F_OK); /* watermark 21000: 30000 folded */
    assert_int_equal(s4f_wengine_windows(t->we), 3);
    assert_int_equal(th_metric(t, "outlier_dropped_total"), 0);
    assert_int_equal(th_metric(t, "flows_total"), 8);
    th_free(t);
}

static void test_watermark_follows_a_real_jump(void **state)
{
    /* After an hour of silence the records resume: the first ones wait aside until the
     * quorum confirms the new time, then all are folded; nothing is late or lost. */
    struct th *t = th_new(&stub, "window: 10s\nallowed_lateness: 0\nwatermark_quorum: 4\n");
    for (int i = 0; i < 10; i++)
        assert_int_equal(at(t, 0, i, i * 1000), S4F_OK);
    for (int i = 10; i < 20; i++)
        assert_int_equal(at(t, 0, i, 3600000 + i * 1000), S4F_OK);
    assert_int_equal(th_metric(t, "outlier_total"), 3);
    assert_int_equal(th_metric(t, "outlier_dropped_total"), 0);
    assert_int_equal(th_metric(t, "late_dropped_total"), 0);
    assert_int_equal(th_metric(t, "flows_total"), 20);
    th_free(t);
}

/* Runs a 300 s stream (a flow every 100 ms), with one flow 9 minutes ahead every 30 s when
 * poison; returns the harness after a flush. */
static struct th *poison_run(bool poison)
{
    struct th *t = th_new(&stub, "window: 10s\nallowed_lateness: 5s\nwatermark_quorum: 8\n");
    int64_t off = 0;
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(at(t, 0, off++, i * 100), S4F_OK);
        if (poison && i % 300 == 150)
            assert_int_equal(at(t, 0, off++, i * 100 + 540000), S4F_OK);
        if (i % 100 == 99) {
            th_tick(t);
            th_ack_all(t, true);
        }
    }
    s4f_wengine_flush(t->we);
    return t;
}

static void test_watermark_poisoning_changes_nothing(void **state)
{
    /* Regression (issue 13): one flow 9 minutes ahead moved the watermark, and every real
     * flow after it was dropped as late. */
    struct th *clean = poison_run(false), *t = poison_run(true);
    for (int w = 0; w < 300000; w += 10000)
        assert_int_equal(th_int(th_doc(t, wid(w, 10000, 0)), "flows"),
                         th_int(th_doc(clean, wid(w, 10000, 0)), "flows"));
    assert_int_equal(th_metric(t, "late_dropped_total"), 0);
    assert_int_equal(th_metric(t, "flows_total"), 3000);
    assert_int_equal(th_metric(t, "outlier_total"), 10);
    /* each dropped two blocks of offsets later, but the last: still aside at the end */
    assert_int_equal(th_metric(t, "outlier_dropped_total"), 9);
    /* the same windows, final ones included */
    assert_int_equal(inst(t)->finals, inst(clean)->finals);
    th_free(clean);
    th_free(t);
}

static void test_conf_check_window_cap(void **state)
{
    /* Regression (issue 23): settings that need more open windows than a partition holds
     * were accepted, and a flow within lateness then lost its window. */
    char err[256];
    struct s4f_analysis_common c = {.window_ms = 1000, .lateness_ms = 600000};
    assert_int_equal(s4f_window_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "open windows"));
    c = (struct s4f_analysis_common){.window_ms = 60000, .slide_ms = 1000, .lateness_ms = 480000};
    assert_int_equal(s4f_window_conf_check(&c, err, sizeof(err)), -1);
    c = (struct s4f_analysis_common){.window_ms = 60000, .slide_ms = 1000, .lateness_ms = 60000};
    assert_int_equal(s4f_window_conf_check(&c, err, sizeof(err)), 0);
    c = (struct s4f_analysis_common){.window_ms = 10000, .lateness_ms = 60000};
    assert_int_equal(s4f_window_conf_check(&c, err, sizeof(err)), 0);
    c = (struct s4f_analysis_common){.window_ms = 60000, .slide_ms = 7000};
    assert_int_equal(s4f_window_conf_check(&c, err, sizeof(err)), -1);
    c = (struct s4f_analysis_common){
        .window_ms = 60000, .time_mode = S4F_TIME_PROCESSING, .repartition_topic = "r"};
    assert_int_equal(s4f_window_conf_check(&c, err, sizeof(err)), -1);
}

static void test_failed_delivery_is_emitted_again(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\nallowed_lateness: 0\n");
    assert_int_equal(at(t, 0, 0, 1000), S4F_OK);
    assert_int_equal(at(t, 0, 1, 10000), S4F_OK);
    th_tick(t); /* emitted and final at once (no lateness), held until acknowledged */
    assert_int_equal(inst(t)->finals, 1);
    int64_t h;
    assert_int_equal(safe(t, 0, &h), 0);
    th_ack_all(t, false); /* lost for good by the producer */
    th_tick(t);
    assert_int_equal(th_emits(t, wid(0, 10000, 0)), 2);
    assert_int_equal(th_int(th_doc(t, wid(0, 10000, 0)), "flows"), 1);
    assert_int_equal(safe(t, 0, &h), 0);
    th_ack_all(t, true);
    th_tick(t);
    assert_int_equal(safe(t, 0, &h), 1);
    assert_int_equal(h, TH_T0 + 10000);
    assert_int_equal(inst(t)->finals, 1);
    /* Its long-lived records (changelog) written again: folded once, sent twice. */
    assert_int_equal(inst(t)->resends, 1);
    th_free(t);
}

static void test_backpressure_retries(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\n");
    assert_int_equal(at(t, 0, 0, 1000), S4F_OK);
    assert_int_equal(at(t, 0, 1, 10000), S4F_OK);
    t->answer = S4F_RETRY;
    th_tick(t);
    assert_int_equal(t->ndocs, 0);
    t->answer = S4F_OK;
    th_tick(t);
    assert_int_equal(th_emits(t, wid(0, 10000, 0)), 1);
    th_free(t);
}

static void test_horizon_waits_for_older_windows(void **state)
{
    /* Two windows final in one tick; the younger one's result is acknowledged first. The
     * horizon must not pass the older one: a crash now must rebuild it from the replay. */
    struct th *t = th_new(&stub, "window: 10s\nallowed_lateness: 0\n");
    assert_int_equal(at(t, 0, 5, 1000), S4F_OK);
    assert_int_equal(at(t, 0, 6, 11000), S4F_OK);
    assert_int_equal(at(t, 0, 7, 30000), S4F_OK);
    th_tick(t);
    assert_int_equal(t->ndocs, 2);
    assert_string_equal(t->docs[1].id, wid(10000, 10000, 0));
    t->docs[1].acked = true;
    s4f_wengine_delivered(t->we, t->docs[1].win, true);
    th_tick(t);
    int64_t h;
    assert_int_equal(safe(t, 0, &h), 5);
    assert_true(h == INT64_MIN);
    th_ack_all(t, true);
    th_tick(t);
    assert_int_equal(safe(t, 0, &h), 7);
    assert_int_equal(h, TH_T0 + 20000);
    th_free(t);
}

static void test_restored_horizon_skips_final_windows(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\n");
    s4f_wengine_set_horizon(t->we, 0, TH_T0 + 10000);
    /* A replay of what the previous owner made final: skipped, counted apart from late
     * flows (issue 23: a rebalance showed "late" drops with exact totals). */
    assert_int_equal(at(t, 0, 0, 5000), S4F_ERR);
    assert_int_equal(th_metric(t, "replayed_skipped_total"), 1);
    assert_int_equal(th_metric(t, "late_dropped_total"), 0);
    assert_int_equal(at(t, 0, 1, 15000), S4F_OK);
    /* A window this owner made final: later flows for it are late. */
    assert_int_equal(at(t, 0, 2, 91000), S4F_OK);
    th_tick(t);
    th_ack_all(t, true);
    th_tick(t);
    assert_int_equal(at(t, 0, 3, 16000), S4F_ERR);
    assert_int_equal(th_metric(t, "late_dropped_total"), 1);
    assert_int_equal(th_metric(t, "replayed_skipped_total"), 1);
    th_free(t);
}

static void test_window_cap_per_partition(void **state)
{
    /* A hostile spread of timestamps: one window each, lateness long enough to keep them. */
    struct th *t = th_new(&stub, "window: 1s\nallowed_lateness: 1d\n");
    for (int i = 0; i < S4F_MAX_WINDOWS_PER_PARTITION + 88; i++)
        assert_int_equal(at(t, 0, i, (int64_t)i * 1000), S4F_OK);
    assert_int_equal(th_metric(t, "windows_forced_total"), 88);
    assert_int_equal(inst(t)->finals, 88);
    th_ack_all(t, true);
    th_tick(t);
    assert_int_equal(s4f_wengine_windows(t->we), S4F_MAX_WINDOWS_PER_PARTITION);
    th_free(t);
}

static void test_revoked_partition_frees_after_delivery(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\n");
    assert_int_equal(at(t, 3, 0, 1000), S4F_OK);
    assert_int_equal(at(t, 3, 1, 10000), S4F_OK);
    th_tick(t);
    assert_int_equal(s4f_wengine_inflight(t->we), 1);
    s4f_wengine_drop_partition(t->we, 3);
    int64_t h;
    assert_int_equal(safe(t, 3, &h), -1);
    assert_int_equal(s4f_wengine_windows(t->we), 1); /* kept until delivered */
    th_ack_all(t, true);
    th_tick(t);
    assert_int_equal(s4f_wengine_windows(t->we), 0);
    assert_int_equal(s4f_wengine_inflight(t->we), 0);
    th_free(t);
}

static void test_flush_emits_everything_open(void **state)
{
    struct th *t = th_new(&stub, "window: 10s\n");
    assert_int_equal(at(t, 0, 0, 1000), S4F_OK);
    assert_int_equal(at(t, 1, 0, 21000), S4F_OK);
    s4f_wengine_flush(t->we);
    assert_non_null(th_doc(t, wid(0, 10000, 0)));
    assert_non_null(th_doc(t, wid(20000, 10000, 1)));
    th_free(t);
}

static void test_commit_metadata(void **state)
{
    char buf[64];
    int64_t h = 0;
    assert_int_equal(s4f_wengine_meta_format(1764223210000, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "s4f1 h=1764223210000");
    assert_int_equal(s4f_wengine_meta_parse(buf, strlen(buf), &h), 0);
    assert_int_equal(h, 1764223210000);
    assert_int_equal(s4f_wengine_meta_format(1, buf, 4), -1);
    static const char *const bad[] = {"",
                                      "s4f1 h=",
                                      "s4f1 h=12x",
                                      "s4f2 h=1",
                                      "h=1",
                                      ("s4f1 h=1111111111111111111111111111111111111111111111111"
                                       "1111111111111111111")};
    for (size_t i = 0; i < S4F_ARRAY_SIZE(bad); i++)
        assert_int_equal(s4f_wengine_meta_parse(bad[i], strlen(bad[i]), &h), -1);
    assert_int_equal(s4f_wengine_meta_parse(NULL, 0, &h), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tumbling_emit_at_watermark),
        cmocka_unit_test(test_sliding_windows),
        cmocka_unit_test(test_watermark_is_per_partition),
        cmocka_unit_test(test_allowed_lateness_folds_then_drops),
        cmocka_unit_test(test_idle_timeout_emits_open_windows),
        cmocka_unit_test(test_processing_time),
        cmocka_unit_test(test_processing_time_replay_is_identical),
        cmocka_unit_test(test_future_flows_refused),
        cmocka_unit_test(test_watermark_quorum_statistic),
        cmocka_unit_test(test_watermark_follows_a_real_jump),
        cmocka_unit_test(test_watermark_poisoning_changes_nothing),
        cmocka_unit_test(test_conf_check_window_cap),
        cmocka_unit_test(test_failed_delivery_is_emitted_again),
        cmocka_unit_test(test_backpressure_retries),
        cmocka_unit_test(test_horizon_waits_for_older_windows),
        cmocka_unit_test(test_restored_horizon_skips_final_windows),
        cmocka_unit_test(test_window_cap_per_partition),
        cmocka_unit_test(test_revoked_partition_frees_after_delivery),
        cmocka_unit_test(test_flush_emits_everything_open),
        cmocka_unit_test(test_commit_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
