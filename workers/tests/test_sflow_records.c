/* sFlow records end to end: the sFlow captures of real agents (shared/testdata/akvorado/sflow),
 * decoded by the collector's decoder, must all be read by the worker's flow reader, with the
 * sampled packet's addresses, ports and protocol and the renormalised counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "flow.h"
#include "log.h"
#include "pcap_reader.h"
#include "test_util.h"

#define NOW 1764223857000LL

struct seen {
    size_t ok, refused;
    struct s4f_flow first;
};

static void on_record(void *ctx, const struct s4f_flow_out *rec)
{
    struct seen *s = ctx;
    struct s4f_flow f;
    const char *why = NULL;
    if (s4f_flow_parse(rec->json, rec->json_len, &f, &why) != S4F_OK) {
        print_error("refused (%s): %.*s\n", why ? why : "?", (int)rec->json_len, rec->json);
        s->refused++;
        return;
    }
    if (s->ok++ == 0)
        s->first = f;
}

static void test_captures_read(void **state)
{
    (void)state;
    const char *nf = tu_testdata_dir();
    if (!nf)
        skip();
    static const char *const files[] = {"data-1140.pcap",
                                        "data-discard-interface.pcap",
                                        "data-encap-vxlan.pcap",
                                        "data-icmpv4.pcap",
                                        "data-icmpv6.pcap",
                                        "data-local-interface.pcap",
                                        "data-qinq.pcap",
                                        "data-multiple-interfaces.pcap",
                                        "data-sflow-ipv4-data.pcap",
                                        "data-sflow-raw-ipv4.pcap",
                                        "data-sflow-expanded-sample.pcap"};
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    struct seen s = {0};
    for (size_t i = 0; i < S4F_ARRAY_SIZE(files); i++) {
        char path[1300];
        snprintf(path, sizeof(path), "%s/../sflow/%s", nf, files[i]);
        static struct s4f_pcap pc;
        int n = s4f_pcap_read(path, &pc);
        assert_true(n > 0);
        for (int k = 0; k < n; k++)
            s4f_decode_datagram(d, &pc.pkts[k].src, pc.pkts[k].payload, pc.pkts[k].len, NOW,
                                on_record, &s);
        s4f_pcap_free(&pc);
    }
    assert_int_equal(s.refused, 0);
    assert_int_equal(s.ok, 16);
    /* The first sample of data-1140: IPv6 TCP 46026 -> 22, ACK, 1518 bytes, 1 in 1024. */
    assert_int_equal(s.first.proto, 6);
    assert_int_equal(s.first.sport, 46026);
    assert_int_equal(s.first.dport, 22);
    assert_int_equal(s.first.tcp_flags, 0x10);
    assert_int_equal(s.first.packets, 1024);
    assert_int_equal(s.first.bytes, 1518 * 1024);
    assert_int_equal(s.first.end_ms, NOW);
    s4f_decoder_free(d);
}

int main(void)
{
    s4f_log_level_current = S4F_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captures_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
