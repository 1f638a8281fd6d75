/* s4f-collector: NetFlow v5/v9 and IPFIX on UDP (and IPFIX on TCP), sFlow v5 on UDP, to flat JSON
 * on Kafka. */
#include "collector.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const key_modes[] = {"source", "exporter", "none", NULL};
static const char *const output_formats[] = {"json", "packed", NULL};

#ifndef S4F_ELEMENTS_DIR
#define S4F_ELEMENTS_DIR "/usr/share/stream4flow/elements"
#endif
#ifndef S4F_SOURCE_ELEMENTS_DIR
#define S4F_SOURCE_ELEMENTS_DIR "."
#endif
/* Both probe families' application elements (collector/decode/elements/). */
#define S4F_ELEMENTS_DEFAULT                                                                       \
    "[" S4F_ELEMENTS_DIR "/flowmon.xml, " S4F_ELEMENTS_DIR "/ipfixprobe.xml]"

/* clang-format off */
const struct s4f_opt collector_opts[] = {
    S4F_DAEMON_COMMON_OPTS(struct collector_conf, "127.0.0.1:9101"),
    {"listen", S4F_OPT_STRING, "[::]:4739", 0, 0, offsetof(struct collector_conf, listen),
     "UDP address for NetFlow v5, v9 and IPFIX; [::] is dual stack", NULL},
    {"tcp_listen", S4F_OPT_STRING, "[::]:4739", 0, 0, offsetof(struct collector_conf, tcp_listen),
     "TCP address for IPFIX over TCP; empty disables it", NULL},
    {"sflow_listen", S4F_OPT_STRING, "[::]:6343", 0, 0,
     offsetof(struct collector_conf, sflow_listen),
     "UDP address for sFlow v5 (flow samples become flow records, counter samples interface "
     "metrics); empty disables it", NULL},
    {"sflow_max_interfaces", S4F_OPT_INT, "256", 1, 100000,
     offsetof(struct collector_conf, sflow_max_interfaces),
     "sFlow interfaces (agent, sub-agent, ifIndex) whose counters are kept as metrics; further "
     "ones are counted, not kept (ten series each)", NULL},
    {"tcp_max_connections", S4F_OPT_INT, "64", 1, 10000,
     offsetof(struct collector_conf, tcp_max_connections),
     "Concurrent IPFIX/TCP exporters; further connections are refused and counted", NULL},
    {"tcp_max_connections_per_address", S4F_OPT_INT, "4", 1, 10000,
     offsetof(struct collector_conf, tcp_max_connections_per_address),
     "Concurrent IPFIX/TCP connections from one address (one address must not take every slot); "
     "further ones are refused and counted", NULL},
    {"tcp_idle_timeout", S4F_OPT_DURATION, "5m", 1000, 86400000,
     offsetof(struct collector_conf, tcp_idle_timeout_ms),
     "An IPFIX/TCP connection silent this long is closed, and its templates with it", NULL},
    {"rcvbuf", S4F_OPT_SIZE, "32M", 65536, 2147483647, offsetof(struct collector_conf, rcvbuf),
     "UDP socket receive buffer (SO_RCVBUF; as root SO_RCVBUFFORCE passes net.core.rmem_max)",
     NULL},
    {"batch", S4F_OPT_INT, "64", 1, 1024, offsetof(struct collector_conf, batch),
     "Datagrams read per recvmmsg() call", NULL},
    {"topic", S4F_OPT_STRING, "ipfix.entry", 0, 0, offsetof(struct collector_conf, topic),
     "Kafka topic of the flow records", NULL},
    {"kafka_key", S4F_OPT_ENUM, "source", 0, 0, offsetof(struct collector_conf, key_mode),
     "Kafka message key: the flow's source address (host analyses partition naturally), the "
     "exporter address, or none (round robin)", key_modes},
    {"output_format", S4F_OPT_ENUM, "json", 0, 0, offsetof(struct collector_conf, output_format),
     "Kafka message format: json, one IPFIXcol-compatible JSON object per flow (what other "
     "consumers read), or packed, many flows per message in a compact binary form that only "
     "Stream4Flow workers read (docs/packed-format.md): choose it when the collector or the "
     "workers are bound by Kafka messages per second", output_formats},
    {"packed_max_flows", S4F_OPT_INT, "256", 1, 1024,
     offsetof(struct collector_conf, packed_max_flows),
     "output_format packed: flows per message at most (a message also ends at 256 KiB)", NULL},
    {"packed_linger", S4F_OPT_DURATION, "2ms", 0, 1000,
     offsetof(struct collector_conf, packed_linger_ms),
     "output_format packed: how long a partly filled message may wait for more flows (Kafka's "
     "linger.ms comes on top)", NULL},
    {"kafka", S4F_OPT_MAP, NULL, 0, 0, offsetof(struct collector_conf, kafka),
     "librdkafka properties for this daemon, over the shared kafka: section", NULL},
    {"queue_full_wait", S4F_OPT_DURATION, "20ms", 0, 1000,
     offsetof(struct collector_conf, queue_full_wait_ms),
     "How long a record may wait for room in a full Kafka queue before it is dropped and "
     "counted; UDP is not read meanwhile, so keep it short", NULL},
    {"template_lifetime", S4F_OPT_DURATION, "1800s", 1000, 86400000,
     offsetof(struct collector_conf, template_lifetime_ms),
     "How long a UDP template lives after it was last announced", NULL},
    {"max_exporters", S4F_OPT_INT, "4096", 1, 1000000,
     offsetof(struct collector_conf, max_exporters),
     "Exporters tracked at once; the least recently seen is evicted (counted)", NULL},
    {"max_templates_per_exporter", S4F_OPT_INT, "4096", 1, 65535,
     offsetof(struct collector_conf, max_templates_per_exporter),
     "Templates kept per exporter; the least recently used is evicted (counted)", NULL},
    {"max_fields_per_template", S4F_OPT_INT, "256", 1, 1024,
     offsetof(struct collector_conf, max_fields_per_template),
     "Fields a template may have; longer templates are refused and counted", NULL},
    {"max_template_memory", S4F_OPT_SIZE, "64M", 1048576, 68719476736.0,
     offsetof(struct collector_conf, max_template_memory),
     "One budget for the templates and exporter state of all exporters, in bytes allocated; when "
     "reached the least recently used templates (of any exporter) are evicted, then the least "
     "recently seen exporters (counted)", NULL},
    {"renormalize", S4F_OPT_BOOL, "true", 0, 0, offsetof(struct collector_conf, renormalize),
     "Multiply packet and byte counters by the sampling interval (kept in "
     "s4f.sampling_interval)", NULL},
    {"exporter_fields", S4F_OPT_BOOL, "true", 0, 0,
     offsetof(struct collector_conf, exporter_fields),
     "Add the exporter address and observation domain to every record", NULL},
    {"default_sampling_interval", S4F_OPT_INT, "0", 0, 4294967295.0,
     offsetof(struct collector_conf, default_sampling_interval),
     "Sampling interval assumed when an exporter announces none (0: none)", NULL},
    {"interface_names", S4F_OPT_BOOL, "true", 0, 0,
     offsetof(struct collector_conf, interface_names),
     "Add the names and descriptions of a flow's ingress and egress interfaces "
     "(s4f.in_if_name, s4f.in_if_description, s4f.out_if_name, s4f.out_if_description) where "
     "the exporter sends them as IPFIX/v9 options (interfaceName 82, interfaceDescription 83)",
     NULL},
    {"max_interfaces_per_domain", S4F_OPT_INT, "1024", 1, 65536,
     offsetof(struct collector_conf, max_interfaces_per_domain),
     "Interfaces whose names are kept per exporter and observation domain (inside "
     "max_template_memory); names of further ones are not kept (counted)", NULL},
    {"element_files", S4F_OPT_LIST, S4F_ELEMENTS_DEFAULT, 0, 0,
     offsetof(struct collector_conf, element_files),
     "Extra information element definitions (libfixbuf XML registry format): by default the "
     "Flowmon (PEN 39499) and ipfixprobe (PEN 8057) DNS, HTTP and TLS elements", NULL},
    {"geoip_country_database", S4F_OPT_STRING, "", 0, 0,
     offsetof(struct collector_conf, geoip_country_database),
     "MaxMind-format country database (GeoLite2-Country, GeoLite2-City, DB-IP country lite): "
     "adds s4f.src_country and s4f.dst_country; empty: off. Replace the file by renaming a new "
     "one over it (as geoipupdate does): it is reloaded without a pause", NULL},
    {"geoip_asn_database", S4F_OPT_STRING, "", 0, 0,
     offsetof(struct collector_conf, geoip_asn_database),
     "MaxMind-format AS database (GeoLite2-ASN, DB-IP ASN lite): adds s4f.src_as, s4f.dst_as, "
     "s4f.src_as_org and s4f.dst_as_org; empty: off", NULL},
    {"geoip_fields", S4F_OPT_LIST, "[src_country, dst_country, src_as, dst_as]", 0, 0,
     offsetof(struct collector_conf, geoip_fields),
     "Which GeoIP fields to add (of src_country, dst_country, src_as, dst_as; *_as brings its "
     "*_as_org)", NULL},
    {"geoip_check_interval", S4F_OPT_DURATION, "60s", 100, 86400000,
     offsetof(struct collector_conf, geoip_check_interval_ms),
     "How often the GeoIP database files are checked for a new version", NULL},
    S4F_OPT_END,
};
/* clang-format on */

static int validate(struct s4f_daemon *d, char *err, size_t errlen)
{
    const struct collector_conf *c = d->conf;
    unsigned fields;
    return collector_enrich_parse_fields(&c->geoip_fields, &fields, err, errlen);
}

int main(int argc, char **argv)
{
    struct collector_conf conf = {0};
    struct s4f_daemon d = {
        .name = "collector",
        .summary = "Receives NetFlow v5/v9 and IPFIX on UDP/4739 (IPFIX also on TCP) and sFlow v5 "
                   "on UDP/6343, and publishes flat JSON flow records to Kafka.",
        .opts = collector_opts,
        .conf = &conf,
        .validate = validate,
    };
    struct s4f_decoder *dec = NULL;
    struct collector_inputs *in = NULL;
    struct collector_stats *stats = NULL;
    struct collector_out out = {0};
    struct collector_enrich *enrich = NULL;
    int rc = s4f_daemon_init(&d, argc, argv), exit_code = 1;
    char err[512];

    if (rc != 0) {
        s4f_daemon_finish(&d);
        return rc < 0 ? 1 : 0;
    }
    if (s4f_daemon_start(&d) != 0)
        goto out;

    const char *files[65] = {0};
    for (size_t i = 0; i < conf.element_files.n && i < 64; i++)
        files[i] = conf.element_files.v[i];
    /* The built-in default names the installed files; a binary run from its build tree (never
     * installed) falls back to the copies in the source tree, or runs without those elements. */
    static const char *const installed[] = {S4F_ELEMENTS_DIR "/flowmon.xml",
                                            S4F_ELEMENTS_DIR "/ipfixprobe.xml"};
    static const char *const in_source[] = {S4F_SOURCE_ELEMENTS_DIR "/flowmon.xml",
                                            S4F_SOURCE_ELEMENTS_DIR "/ipfixprobe.xml"};
    bool is_default = conf.element_files.n == S4F_ARRAY_SIZE(installed);
    for (size_t i = 0; is_default && i < S4F_ARRAY_SIZE(installed); i++)
        is_default = strcmp(files[i], installed[i]) == 0;
    for (size_t i = 0, o = 0; is_default && i < S4F_ARRAY_SIZE(installed); i++) {
        files[o] = access(installed[i], R_OK) == 0   ? installed[i]
                   : access(in_source[i], R_OK) == 0 ? in_source[i]
                                                     : NULL;
        if (files[o])
            o++;
        else
            s4f_warn("%s not found: its enterprise elements (DNS/HTTP/TLS) will be reported by "
                     "number",
                     installed[i]);
        files[o] = NULL;
    }
    struct s4f_decoder_opts dopts = {
        .template_lifetime_s = (uint32_t)(conf.template_lifetime_ms / 1000),
        .max_exporters = (uint32_t)conf.max_exporters,
        .max_templates_per_exporter = (uint32_t)conf.max_templates_per_exporter,
        .max_fields_per_template = (uint32_t)conf.max_fields_per_template,
        .max_template_memory = (size_t)conf.max_template_memory,
        .default_sampling_interval = (uint32_t)conf.default_sampling_interval,
        .max_sflow_interfaces = (uint32_t)conf.sflow_max_interfaces,
        .no_renormalize = !conf.renormalize,
        .no_exporter_fields = !conf.exporter_fields,
        .no_interface_names = !conf.interface_names,
        .max_interfaces_per_domain = (uint32_t)conf.max_interfaces_per_domain,
        .element_files = files,
    };
    dec = s4f_decoder_new(&dopts);
    if (!dec) {
        s4f_error("cannot create the decoder (see above)");
        goto out;
    }
    if (collector_out_init(&out, &conf, &d.kafka, d.metrics, err, sizeof(err)) != 0) {
        s4f_error("%s", err);
        goto out;
    }
    stats = collector_stats_new(d.metrics);
    unsigned geo_fields = 0;
    collector_enrich_parse_fields(&conf.geoip_fields, &geo_fields, err, sizeof(err));
    struct collector_enrich_opts eopts = {
        .country_db = conf.geoip_country_database,
        .asn_db = conf.geoip_asn_database,
        .fields = geo_fields,
        .check_interval_ms = conf.geoip_check_interval_ms,
        .next = collector_out_record,
        .next_ctx = &out,
        .metrics = d.metrics,
    };
    enrich = collector_enrich_new(&eopts);
    if (!enrich)
        goto out;
    if (collector_enrich_active(enrich))
        in = collector_inputs_new(&conf, dec, collector_enrich_record, enrich, d.metrics);
    else
        in = collector_inputs_new(&conf, dec, collector_out_record, &out, d.metrics);
    if (!in || !stats)
        goto out;
    s4f_info("receiving on udp %s%s%s%s%s, producing to topic %s", conf.listen,
             *conf.tcp_listen ? " and tcp " : "", conf.tcp_listen,
             *conf.sflow_listen ? ", sflow on udp " : "", conf.sflow_listen, conf.topic);

    int64_t next_publish = 0;
    while (!s4f_daemon_stopping()) {
        collector_inputs_run_once(in, collector_out_wait_ms(&out, 100));
        collector_out_poll(&out);
        int64_t now = s4f_mono_ms();
        if (now >= next_publish) {
            collector_stats_publish(stats, dec, in);
            next_publish = now + 1000;
        }
    }

    /* Drain in pipeline order: stop input, then flush what Kafka still holds within the grace
     * period; whatever is left is logged as lost. */
    s4f_info("draining: input closed, flushing Kafka");
    collector_inputs_close(in);
    collector_stats_publish(stats, dec, in);
    int64_t left_ms = s4f_daemon_drain_left_ms();
    int left = collector_out_flush(&out, left_ms > 0 ? (int)left_ms : 0);
    if (left)
        s4f_warn("%d flow records still queued for Kafka at exit: lost", left);
    exit_code = 0;
out:
    collector_inputs_free(in);
    collector_enrich_free(enrich);
    collector_out_free(&out);
    collector_stats_free(stats);
    s4f_decoder_free(dec);
    s4f_daemon_finish(&d);
    return exit_code;
}
