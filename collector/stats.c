/* Publishes the decoder's and the sockets' statistics as metrics, once a second, from the main
 * thread (the decoder is single-threaded; the HTTP thread only reads the published atomics).
 * Decoder counters are cumulative, so they are copied with set(), not added. */
#include "collector.h"

#include <stdio.h>
#include <stdlib.h>

struct collector_stats {
    struct s4f_metrics *m;
    struct s4f_metric *datagrams[S4F_PROTO__COUNT], *flows[S4F_PROTO__COUNT];
    struct s4f_metric *errors[S4F_DR__COUNT];
    struct s4f_metric *rejected, *options, *tpl_added, *tpl_withdrawn, *tpl_expired, *tpl_evicted,
        *exp_evicted, *seq_lost, *seq_resets, *sampling_updates, *if_updates, *if_refused,
        *kernel_drops, *truncated, *exporters, *tpl_evicted_mem, *exp_evicted_mem, *memory,
        *seq_reordered;
    struct s4f_metric *time_fallback[S4F_TF__COUNT];
    struct s4f_metric *sflow_flow_samples, *sflow_counter_samples, *sflow_non_ip, *sflow_skipped,
        *sflow_if_refused, *sflow_ifs;
};

struct collector_stats *collector_stats_new(struct s4f_metrics *m)
{
    struct collector_stats *st = calloc(1, sizeof(*st));
    char l[128];
    if (!st)
        return NULL;
    st->m = m;
    for (int p = 0; p < S4F_PROTO__COUNT; p++) {
        s4f_metrics_labels(l, sizeof(l), "version", s4f_proto_name(p), NULL);
        st->datagrams[p] = s4f_metrics_counter(
            m, "datagrams_total", "Datagrams (UDP) or messages (TCP) received, by protocol", l);
        st->flows[p] =
            s4f_metrics_counter(m, "flows_total", "Flow records decoded, by protocol", l);
    }
    for (int r = 0; r < S4F_DR__COUNT; r++) {
        s4f_metrics_labels(l, sizeof(l), "reason", s4f_decode_reason_name(r), NULL);
        st->errors[r] = s4f_metrics_counter(m, "decode_errors_total",
                                            "Malformed or unusable input, by reason", l);
    }
    st->rejected = s4f_metrics_counter(m, "datagrams_rejected_total",
                                       "Datagrams rejected whole (bad header)", NULL);
    st->options = s4f_metrics_counter(m, "options_records_total", "Options records decoded", NULL);
    st->tpl_added = s4f_metrics_counter(m, "templates_added_total",
                                        "Templates learnt (new or changed layout)", NULL);
    st->tpl_withdrawn =
        s4f_metrics_counter(m, "templates_withdrawn_total", "Templates withdrawn", NULL);
    st->tpl_expired = s4f_metrics_counter(m, "templates_expired_total",
                                          "Templates dropped after their lifetime", NULL);
    st->tpl_evicted = s4f_metrics_counter(m, "templates_evicted_total",
                                          "Templates evicted by max_templates_per_exporter", NULL);
    st->exp_evicted = s4f_metrics_counter(m, "exporters_evicted_total",
                                          "Exporters evicted by max_exporters", NULL);
    st->seq_lost = s4f_metrics_counter(
        m, "sequence_lost_total",
        "Flows (v5, IPFIX) or packets (v9) missing according to sequence numbers", NULL);
    st->seq_resets = s4f_metrics_counter(m, "sequence_resets_total",
                                         "Sequence number jumps taken as exporter restarts", NULL);
    st->sampling_updates = s4f_metrics_counter(
        m, "sampling_updates_total", "Sampling intervals learnt from options records", NULL);
    st->if_updates =
        s4f_metrics_counter(m, "interface_updates_total",
                            "Interface names or descriptions learnt from options records", NULL);
    st->if_refused =
        s4f_metrics_counter(m, "interfaces_refused_total",
                            "Interface names not kept: max_interfaces_per_domain reached", NULL);
    st->kernel_drops = s4f_metrics_counter(
        m, "udp_kernel_drops_total",
        "Datagrams dropped by the kernel because the receive buffer was full (SO_RXQ_OVFL)", NULL);
    st->truncated = s4f_metrics_counter(m, "udp_truncated_total",
                                        "Datagrams larger than 64 KiB (dropped)", NULL);
    st->exporters = s4f_metrics_gauge(m, "exporters", "Exporters currently tracked", NULL);
    st->tpl_evicted_mem = s4f_metrics_counter(
        m, "templates_evicted_memory_total",
        "Templates evicted (least recently used of all exporters) by max_template_memory", NULL);
    st->exp_evicted_mem = s4f_metrics_counter(
        m, "exporters_evicted_memory_total",
        "Exporters evicted by max_template_memory once no template was left to evict", NULL);
    st->memory = s4f_metrics_gauge(m, "template_memory_bytes",
                                   "Bytes held by templates and exporter state (budget: "
                                   "max_template_memory)",
                                   NULL);
    st->seq_reordered = s4f_metrics_counter(
        m, "sequence_reordered_total",
        "Packets whose sequence number was a little behind the expected one (late)", NULL);
    for (int r = 0; r < S4F_TF__COUNT; r++) {
        s4f_metrics_labels(l, sizeof(l), "reason", s4f_time_fallback_name(r), NULL);
        st->time_fallback[r] = s4f_metrics_counter(
            m, "time_fallback_total",
            "Flow records whose start/end times were derived rather than exported, by reason", l);
    }
    st->sflow_flow_samples = s4f_metrics_counter(m, "sflow_samples_total",
                                                 "sFlow samples read, by kind", "kind=\"flow\"");
    st->sflow_counter_samples = s4f_metrics_counter(
        m, "sflow_samples_total", "sFlow samples read, by kind", "kind=\"counter\"");
    st->sflow_non_ip = s4f_metrics_counter(
        m, "sflow_samples_skipped_total",
        "sFlow samples not turned into records: no IPv4/IPv6 packet, or an unknown sample type",
        "reason=\"non_ip\"");
    st->sflow_skipped = s4f_metrics_counter(
        m, "sflow_samples_skipped_total",
        "sFlow samples not turned into records: no IPv4/IPv6 packet, or an unknown sample type",
        "reason=\"unknown_type\"");
    st->sflow_if_refused = s4f_metrics_counter(
        m, "sflow_interfaces_refused_total",
        "sFlow interface counter records not kept: sflow_max_interfaces interfaces tracked", NULL);
    st->sflow_ifs = s4f_metrics_gauge(m, "sflow_interfaces",
                                      "sFlow interfaces whose counters are published", NULL);
    return st;
}

static void set_u64(struct s4f_metric *s, uint64_t v)
{
    s4f_metric_set(s, (int64_t)v);
}

static void per_exporter(void *ctx, const struct s4f_exporter_stats *e)
{
    struct collector_stats *st = ctx;
    char l[256], v[8], port[8];
    if (e->version == S4F_VERSION_SFLOW)
        snprintf(v, sizeof(v), "sflow5");
    else
        snprintf(v, sizeof(v), "%u", (unsigned)e->version);
    snprintf(port, sizeof(port), "%u", (unsigned)e->port);
    s4f_metrics_labels(l, sizeof(l), "exporter", e->addr_text, "port", port, "transport",
                       e->tcp ? "tcp" : "udp", "version", v, NULL);
    set_u64(s4f_metrics_counter(st->m, "exporter_datagrams_total", "Datagrams per exporter", l),
            e->datagrams);
    set_u64(s4f_metrics_counter(st->m, "exporter_flows_total", "Flow records per exporter", l),
            e->flows);
    set_u64(s4f_metrics_counter(st->m, "exporter_sequence_lost_total",
                                "Records missing by sequence numbers, per exporter", l),
            e->seq_lost);
    s4f_metric_set(s4f_metrics_gauge(st->m, "exporter_templates", "Templates held per exporter", l),
                   e->templates);
    for (int r = 0; r < S4F_DR__COUNT; r++) {
        if (!e->errors[r])
            continue; /* only reasons that happened: bounded series */
        char lr[320];
        s4f_metrics_labels(lr, sizeof(lr), "exporter", e->addr_text, "port", port, "reason",
                           s4f_decode_reason_name(r), NULL);
        set_u64(s4f_metrics_counter(st->m, "exporter_decode_errors_total",
                                    "Malformed input per exporter, by reason", lr),
                e->errors[r]);
    }
}

/* One sFlow interface's counters as its agent reported them (cumulative, so set, not added). */
static void per_sflow_interface(void *ctx, const struct s4f_sflow_interface *ifc)
{
    struct collector_stats *st = ctx;
    char sub[12], idx[12], l[256], ld[272];
    snprintf(sub, sizeof(sub), "%u", (unsigned)ifc->sub_agent);
    snprintf(idx, sizeof(idx), "%u", (unsigned)ifc->ifindex);
    s4f_metrics_labels(l, sizeof(l), "agent", ifc->agent, "sub_agent", sub, "ifindex", idx, NULL);
    static const char *const names[4] = {
        "sflow_interface_octets_total", "sflow_interface_packets_total",
        "sflow_interface_discards_total", "sflow_interface_errors_total"};
    static const char *const helps[4] = {
        "Octets through an sFlow agent's interface (ifIn/OutOctets), by direction",
        "Packets through an sFlow agent's interface (unicast, multicast and broadcast), by "
        "direction",
        "Packets an sFlow agent's interface discarded (ifIn/OutDiscards), by direction",
        "Packets with errors on an sFlow agent's interface (ifIn/OutErrors), by direction"};
    const uint64_t in[4] = {ifc->in_octets, ifc->in_packets, ifc->in_discards, ifc->in_errors};
    const uint64_t out[4] = {ifc->out_octets, ifc->out_packets, ifc->out_discards, ifc->out_errors};
    for (int i = 0; i < 4; i++) {
        snprintf(ld, sizeof(ld), "%s,direction=\"in\"", l);
        set_u64(s4f_metrics_counter(st->m, names[i], helps[i], ld), in[i]);
        snprintf(ld, sizeof(ld), "%s,direction=\"out\"", l);
        set_u64(s4f_metrics_counter(st->m, names[i], helps[i], ld), out[i]);
    }
    set_u64(s4f_metrics_gauge(st->m, "sflow_interface_speed_bps",
                              "Speed of an sFlow agent's interface (ifSpeed), bits per second", l),
            ifc->speed);
    s4f_metric_set(s4f_metrics_gauge(st->m, "sflow_interface_up",
                                     "1 if an sFlow agent's interface is operationally up", l),
                   (ifc->status & 2) ? 1 : 0);
}

void collector_stats_publish(struct collector_stats *st, const struct s4f_decoder *dec,
                             const struct collector_inputs *in)
{
    struct s4f_decode_stats s;
    s4f_decoder_stats(dec, &s);
    for (int p = 0; p < S4F_PROTO__COUNT; p++) {
        set_u64(st->datagrams[p], s.datagrams[p]);
        set_u64(st->flows[p], s.flows[p]);
    }
    for (int r = 0; r < S4F_DR__COUNT; r++)
        set_u64(st->errors[r], s.errors[r]);
    set_u64(st->rejected, s.datagrams_rejected);
    set_u64(st->options, s.options_records);
    set_u64(st->tpl_added, s.templates_added);
    set_u64(st->tpl_withdrawn, s.templates_withdrawn);
    set_u64(st->tpl_expired, s.templates_expired);
    set_u64(st->tpl_evicted, s.templates_evicted);
    set_u64(st->exp_evicted, s.exporters_evicted);
    set_u64(st->seq_lost, s.seq_lost);
    set_u64(st->seq_resets, s.seq_resets);
    set_u64(st->sampling_updates, s.sampling_updates);
    set_u64(st->if_updates, s.interface_updates);
    set_u64(st->if_refused, s.interfaces_refused);
    set_u64(st->tpl_evicted_mem, s.templates_evicted_memory);
    set_u64(st->exp_evicted_mem, s.exporters_evicted_memory);
    set_u64(st->memory, s.memory_bytes);
    set_u64(st->seq_reordered, s.seq_reordered);
    for (int r = 0; r < S4F_TF__COUNT; r++)
        set_u64(st->time_fallback[r], s.time_fallback[r]);
    set_u64(st->kernel_drops, collector_inputs_kernel_drops(in));
    set_u64(st->truncated, collector_inputs_truncated(in));
    size_t n = s4f_decoder_foreach_exporter(dec, per_exporter, st);
    s4f_metric_set(st->exporters, (int64_t)n);
    set_u64(st->sflow_flow_samples, s.sflow_flow_samples);
    set_u64(st->sflow_counter_samples, s.sflow_counter_samples);
    set_u64(st->sflow_non_ip, s.sflow_non_ip);
    set_u64(st->sflow_skipped, s.sflow_skipped);
    set_u64(st->sflow_if_refused, s.sflow_interfaces_refused);
    n = s4f_decoder_foreach_sflow_interface(dec, per_sflow_interface, st);
    s4f_metric_set(st->sflow_ifs, (int64_t)n);
}

void collector_stats_free(struct collector_stats *st)
{
    free(st);
}
