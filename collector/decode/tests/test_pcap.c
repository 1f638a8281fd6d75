/* Real exporter captures (shared/testdata/akvorado/netflow, see SOURCE.md there) replayed
 * through the decoder. Expected values were read with
 *   tshark -r FILE -V -d udp.port==PORT,cflow
 * (template captures merged before data captures with mergecap -a); times are
 * unix_secs * 1000 - sysUptime + First/Last as tshark shows them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "log.h"
#include "pcap_reader.h"
#include "test_util.h"

#define NOW 1764223857000LL

static struct tu_recs R;

/* Replays the files in order into d; returns the number of datagrams. */
static int replay(struct s4f_decoder *d, const char *const *files)
{
    const char *dir = tu_testdata_dir();
    int total = 0;
    for (; *files; files++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, *files);
        static struct s4f_pcap pc;
        int n = s4f_pcap_read(path, &pc);
        if (n <= 0)
            print_error("cannot read %s\n", path);
        assert_true(n > 0);
        for (int i = 0; i < n; i++)
            s4f_decode_datagram(d, &pc.pkts[i].src, pc.pkts[i].payload, pc.pkts[i].len, NOW,
                                tu_collect, &R);
        total += n;
        s4f_pcap_free(&pc);
    }
    return total;
}

static uint64_t total_errors(const struct s4f_decoder *d)
{
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    uint64_t n = 0;
    for (int r = 0; r < S4F_DR__COUNT; r++)
        n += st.errors[r];
    return n;
}

static int have_data(void **state)
{
    if (!tu_testdata_dir()) {
        print_message("captures not found: set S4F_TESTDATA_NETFLOW\n");
        skip();
    }
    return 0;
}

static void test_nfv5(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    replay(d, (const char *const[]){"nfv5.pcap", NULL});
    assert_int_equal(total_errors(d), 0);
    assert_int_equal(R.n, 29);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "161.202.212.212");
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv4Address"), "202.152.70.24");
    assert_string_equal(tu_str(&R, 0, "ipfix.ipNextHopIPv4Address"), "61.6.255.150");
    assert_int_equal(tu_int(&R, 0, "ipfix.ingressInterface"), 117);
    assert_int_equal(tu_int(&R, 0, "ipfix.egressInterface"), 86);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 133);
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceTransportPort"), 30104);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 11963);
    assert_int_equal(tu_int(&R, 0, "ipfix.tcpControlBits"), 0x18);
    assert_int_equal(tu_int(&R, 0, "ipfix.protocolIdentifier"), 6);
    assert_int_equal(tu_int(&R, 0, "ipfix.bgpSourceAsNumber"), 36351);
    assert_int_equal(tu_int(&R, 0, "ipfix.bgpDestinationAsNumber"), 10101);
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceIPv4PrefixLength"), 19);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationIPv4PrefixLength"), 24);
    /* 1680626679 s - 2874339 s uptime + 2874324 s */
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), 1680626664000LL);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), 1680626664000LL);
    assert_int_equal(tu_int(&R, 0, "ipfix.engineId"), 3);
    assert_string_equal(tu_str(&R, 0, "ipfix.exporterIPv4Address"), "10.19.144.41");
    assert_false(tu_has(&R, 0, "s4f.sampling_interval"));
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_v9_template_data(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    replay(d, (const char *const[]){"template.pcap", "data.pcap", NULL});
    assert_int_equal(total_errors(d), 0);
    assert_int_equal(R.n, 4);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 1500);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "198.38.121.178");
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv4Address"), "91.170.143.87");
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceTransportPort"), 443);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 19624);
    assert_int_equal(tu_int(&R, 0, "ipfix.samplerId"), 1);
    /* 1647285928 s - 944951.609 s + 944948.659 s */
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), 1647285925050LL);
    assert_string_equal(tu_str(&R, 1, "ipfix.sourceIPv4Address"), "198.38.121.219");
    assert_false(tu_has(&R, 0, "s4f.sampling_interval"));
    assert_string_equal(R.src_text[0], "198.38.121.178");
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_v9_options_sampling(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    replay(d, (const char *const[]){"options-template.pcap", "options-data.pcap", "template.pcap",
                                    "data.pcap", NULL});
    assert_int_equal(total_errors(d), 0);
    assert_int_equal(R.n, 4);
    /* Sampler 1: random 1 out of 30000. */
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 30000);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 30000);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 1500 * 30000);
    assert_int_equal(R.meta[0].sampling_interval, 30000);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_v9_multiple_sampling_rates(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    replay(d, (const char *const[]){"multiplesamplingrates-options-template.pcap",
                                    "multiplesamplingrates-options-data.pcap",
                                    "multiplesamplingrates-template.pcap",
                                    "multiplesamplingrates-data.pcap", NULL});
    assert_int_equal(total_errors(d), 0);
    assert_int_equal(R.n, 12);
    /* Flow 1: sampler 2 (1 out of 4000), 18 packets, 1348 octets. */
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv6Address"), "ffff::68");
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv6Address"), "ffff::1a");
    assert_int_equal(tu_int(&R, 0, "ipfix.samplerId"), 2);
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 4000);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 18 * 4000);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 1348 * 4000);
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceTransportPort"), 443);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 52616);
    /* 1701360975 s - 1098324.379 s + 1098319.359 s / + 1098324.270 s */
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), 1701360969980LL);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), 1701360974891LL);
    assert_int_equal(R.meta[0].src_family, AF_INET6);
    /* Flow 2: sampler 1 (1 out of 2000), 4 packets, 579 octets. */
    assert_string_equal(tu_str(&R, 1, "ipfix.sourceIPv6Address"), "ffff::5a");
    assert_int_equal(tu_int(&R, 1, "s4f.sampling_interval"), 2000);
    assert_int_equal(tu_int(&R, 1, "ipfix.packetDeltaCount"), 4 * 2000);
    assert_int_equal(tu_int(&R, 1, "ipfix.octetDeltaCount"), 579 * 2000);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_v9_sampling_in_record(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    replay(d, (const char *const[]){"samplingrate-template.pcap", "samplingrate-data.pcap", NULL});
    assert_int_equal(total_errors(d), 0);
    assert_int_equal(R.n, 6);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "232.131.215.65");
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv4Address"), "142.183.180.65");
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceTransportPort"), 13245);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 10907);
    assert_int_equal(tu_int(&R, 0, "ipfix.samplingInterval"), 2048);
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 2048);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 1 * 2048);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 160 * 2048);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_v9_data_before_templates(void **state)
{
    /* One datagram: data set 257, options template + options data (sampling 100), template 257,
     * data set 257. The first data set is decoded with the template found later. */
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    replay(d, (const char *const[]){"data+templates.pcap", NULL});
    assert_int_equal(total_errors(d), 0);
    assert_int_equal(R.n, 21);
    for (size_t i = 0; i < R.n; i++)
        assert_int_equal(tu_int(&R, i, "s4f.sampling_interval"), 100);
    /* tshark's FlowSet 5 Flow 1 */
    assert_string_equal(tu_str(&R, 11, "ipfix.sourceIPv4Address"), "120.120.180.202");
    assert_string_equal(tu_str(&R, 11, "ipfix.destinationIPv4Address"), "120.120.147.170");
    assert_int_equal(tu_int(&R, 11, "ipfix.sourceTransportPort"), 443);
    assert_int_equal(tu_int(&R, 11, "ipfix.destinationTransportPort"), 53744);
    assert_int_equal(tu_int(&R, 11, "ipfix.octetDeltaCount"), 436 * 100);
    assert_int_equal(tu_int(&R, 11, "ipfix.packetDeltaCount"), 1 * 100);
    /* 1684085372 s - 116860.520 s + 116800.990 s */
    assert_int_equal(tu_int(&R, 11, "ipfix.flowStartMilliseconds"), 1684085312470LL);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_ipfix_ipfixprobe(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    replay(d, (const char *const[]){"ipfixprobe-templates.pcap", "ipfixprobe-data.pcap", NULL});
    assert_int_equal(total_errors(d), 0);
    assert_int_equal(R.n, 4);
    assert_int_equal(R.meta[0].version, 10);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "10.10.1.4");
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv4Address"), "10.10.1.1");
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceTransportPort"), 56166);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 53);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 62);
    assert_int_equal(tu_int(&R, 0, "ipfix.reverseOctetDeltaCount"), 128);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndReason"), 4);
    /* Oct 5, 2009 06:06:07.492 and .526 UTC */
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), 1254722767492LL);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), 1254722767526LL);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceMacAddress"), "00:e0:1c:3c:17:c2");
    assert_int_equal(tu_int(&R, 0, "ipfix.observationDomainId"), 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_icmp(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    replay(d, (const char *const[]){"icmp-template.pcap", "icmp-data.pcap", NULL});
    assert_int_equal(total_errors(d), 0);
    assert_int_equal(R.n, 4);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv6Address"), "2001:db8::");
    assert_int_equal(tu_int(&R, 0, "ipfix.protocolIdentifier"), 58);
    assert_string_equal(tu_str(&R, 2, "ipfix.sourceIPv4Address"), "203.0.113.4");
    assert_string_equal(tu_str(&R, 2, "ipfix.destinationIPv4Address"), "203.0.113.5");
    assert_int_equal(tu_int(&R, 2, "ipfix.octetDeltaCount"), 84);
    assert_int_equal(tu_int(&R, 2, "ipfix.protocolIdentifier"), 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* Every capture decodes without a counted error and every record is valid JSON. */
static void test_all_captures_clean(void **state)
{
    static const char *const sets[][5] = {
        {"datalink-template.pcap", "datalink-data.pcap"},
        {"ethernet-over-mpls-with-control-word-template.pcap",
         "ethernet-over-mpls-with-control-word-data.pcap"},
        {"ipfix-srv6-template.pcap", "ipfix-srv6-data.pcap"},
        {"juniper-cpid-template.pcap", "juniper-cpid-data.pcap"},
        {"mpls.pcap"},
        {"nat.pcap"},
        {"physicalinterfaces.pcap"},
    };
    static const size_t expect[] = {1, 10, 1, 1, 2, 9, 8};
    for (size_t i = 0; i < S4F_ARRAY_SIZE(sets); i++) {
        struct s4f_decoder *d = s4f_decoder_new(NULL);
        tu_clear(&R);
        replay(d, sets[i]);
        assert_int_equal(total_errors(d), 0);
        assert_int_equal(R.n, expect[i]);
        assert_int_equal(R.invalid, 0);
        tu_clear(&R);
        s4f_decoder_free(d);
    }
}

int main(void)
{
    s4f_log_level_current = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nfv5, have_data),
        cmocka_unit_test_setup(test_v9_template_data, have_data),
        cmocka_unit_test_setup(test_v9_options_sampling, have_data),
        cmocka_unit_test_setup(test_v9_multiple_sampling_rates, have_data),
        cmocka_unit_test_setup(test_v9_sampling_in_record, have_data),
        cmocka_unit_test_setup(test_v9_data_before_templates, have_data),
        cmocka_unit_test_setup(test_ipfix_ipfixprobe, have_data),
        cmocka_unit_test_setup(test_icmp, have_data),
        cmocka_unit_test_setup(test_all_captures_clean, have_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
