/* protocols_statistics: flows, packets and bytes per transport protocol and window, as the
 * original Stream4Flow application, except that ICMP and ICMPv6 get their own rows (the
 * original lumped them into "other"). One row per protocol seen in the window. A biflow record
 * (RFC 5103) counts its reverse direction too, as the flow from destination to source it
 * stands for: its reverse packets and bytes, and one more flow when it has reverse packets,
 * so biflow and uniflow exporters give the same figures. */
#include "analysis.h"

#include <stdlib.h>

enum { P_TCP, P_UDP, P_ICMP, P_ICMPV6, P_OTHER, P_COUNT };

static const char *const proto_names[P_COUNT] = {"tcp", "udp", "icmp", "icmpv6", "other"};

struct ps_conf {
    struct s4f_analysis_common common;
};

static const struct s4f_opt ps_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct ps_conf, "10s", "16"),
    S4F_OPT_END,
};

struct ps_window {
    uint64_t flows[P_COUNT], packets[P_COUNT], bytes[P_COUNT];
};

static void *ps_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err, size_t errlen)
{
    /* Stateless beyond windows: any non-NULL pointer will do as the instance. */
    static int instance;
    return &instance;
}

static void *ps_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    return calloc(1, sizeof(struct ps_window));
}

static void ps_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct ps_window *w = wstate;
    int p;
    switch (f->proto) {
    case 6:
        p = P_TCP;
        break;
    case 17:
        p = P_UDP;
        break;
    case 1:
        p = P_ICMP;
        break;
    case 58:
        p = P_ICMPV6;
        break;
    default:
        p = P_OTHER;
        break;
    }
    w->flows[p] += 1 + (f->rev_packets > 0);
    w->packets[p] += f->packets + f->rev_packets;
    w->bytes[p] += f->bytes + f->rev_bytes;
}

static void ps_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct ps_window *w = wstate;
    for (int p = 0; p < P_COUNT; p++) {
        if (!w->flows[p])
            continue;
        struct s4f_jbuf *b = s4f_result_begin(out, "protocols_statistics", proto_names[p], 0, 0);
        if (!b)
            continue;
        s4f_jb_str(b, "protocol", proto_names[p]);
        s4f_jb_u64(b, "flows", w->flows[p]);
        s4f_jb_u64(b, "packets", w->packets[p]);
        s4f_jb_u64(b, "bytes", w->bytes[p]);
        s4f_result_end(out);
    }
}

static void ps_window_free(void *inst, void *wstate)
{
    free(wstate);
}

static void ps_destroy(void *inst)
{
}

const struct s4f_analysis s4f_analysis_protocols_statistics = {
    .name = "protocols_statistics",
    .summary = "Flows, packets and bytes per transport protocol (tcp, udp, icmp, icmpv6, other)",
    .opts = ps_opts,
    .conf_size = sizeof(struct ps_conf),
    .init = ps_init,
    .window_new = ps_window_new,
    .on_flow = ps_on_flow,
    .on_window_close = ps_on_window_close,
    .window_free = ps_window_free,
    .destroy = ps_destroy,
};
