/* Cross-check against libfixbuf as the reference decoder: the same IPFIX messages (random
 * values, a varlen string in every record, records split over several messages) decoded by
 * libfixbuf's collection API and by s4f_decode must agree field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "decode.h"
#include "fixbuf_ref.h"
#include "log.h"
#include "msggen.h"
#include "test_util.h"

#define NOW  1764223857000LL
#define T0   1764223857u
#define NREC 2000

static struct s4f_mg g;
static struct tu_recs R;
static struct s4f_ref_rec ref[NREC];
static char ref_names[NREC][64];
static size_t nref;

static void ref_cb(void *ctx, const struct s4f_ref_rec *rec)
{
    (void)ctx;
    assert_true(nref < NREC);
    ref[nref] = *rec;
    assert_true(rec->ifname.len < sizeof(ref_names[0]));
    memcpy(ref_names[nref], rec->ifname.buf, rec->ifname.len);
    ref_names[nref][rec->ifname.len] = '\0';
    ref[nref].ifname.buf = NULL;
    nref++;
}

static uint32_t ip_host(const char *text)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, text, &a), 1);
    return ntohl(a.s_addr);
}

static void template_set(void)
{
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, S4F_MG_TYPICAL_N + 1);
    for (int i = 0; i < S4F_MG_TYPICAL_N; i++)
        s4f_mg_field(&g, s4f_mg_typical_fields[i][0], s4f_mg_typical_fields[i][1], 0);
    s4f_mg_field(&g, 82, 65535, 0);
}

static void test_against_libfixbuf(void **state)
{
    struct s4f_ref r;
    assert_int_equal(s4f_ref_init(&r), 0);
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    assert_non_null(d);
    tu_clear(&R);
    nref = 0;
    srand(4739);
    struct sockaddr_storage ss = tu_addr("192.0.2.1");
    uint32_t seq = 0, total = 0;
    for (int m = 0; total < NREC; m++) {
        s4f_mg_ipfix(&g, T0, seq, 7);
        if (m % 10 == 0)
            template_set();
        s4f_mg_set(&g, 256);
        int nrec = 1 + rand() % 20;
        if (total + (uint32_t)nrec > NREC)
            nrec = (int)(NREC - total);
        for (int i = 0; i < nrec; i++) {
            s4f_mg_typical_rec(&g, (uint32_t)rand(), (uint64_t)NOW - (uint64_t)(rand() % 100000));
            /* Overwrite the two counters (record offset 15) with wide values. */
            g.len -= 69 - 15;
            s4f_mg_u64(&g, ((uint64_t)rand() << 32) ^ (uint64_t)rand());
            s4f_mg_u64(&g, ((uint64_t)rand() << 31) ^ (uint64_t)rand());
            g.len += 69 - 15 - 16;
            char name[40];
            int nl = snprintf(name, sizeof(name), "if-%d/%d", rand() % 100, rand());
            s4f_mg_varlen(&g, name, (size_t)nl);
        }
        size_t len = s4f_mg_end(&g);
        assert_int_equal(s4f_ref_decode(&r, g.buf, len, ref_cb, NULL), nrec);
        assert_int_equal(s4f_decode_datagram(d, &ss, g.buf, len, NOW, tu_collect, &R), S4F_OK);
        seq += (uint32_t)nrec;
        total += (uint32_t)nrec;
    }
    assert_int_equal(nref, NREC);
    assert_int_equal(R.n, NREC);
    for (size_t i = 0; i < NREC; i++) {
        const struct s4f_ref_rec *x = &ref[i];
        assert_int_equal(ip_host(tu_str(&R, i, "ipfix.sourceIPv4Address")), x->src);
        assert_int_equal(ip_host(tu_str(&R, i, "ipfix.destinationIPv4Address")), x->dst);
        assert_int_equal(ip_host(tu_str(&R, i, "ipfix.ipNextHopIPv4Address")), x->nexthop);
        assert_int_equal(tu_int(&R, i, "ipfix.sourceTransportPort"), x->sport);
        assert_int_equal(tu_int(&R, i, "ipfix.destinationTransportPort"), x->dport);
        assert_int_equal(tu_int(&R, i, "ipfix.protocolIdentifier"), x->proto);
        assert_int_equal(tu_int(&R, i, "ipfix.tcpControlBits"), x->flags);
        assert_int_equal(tu_int(&R, i, "ipfix.ipClassOfService"), x->tos);
        assert_int_equal(tu_int(&R, i, "ipfix.ingressInterface"), x->ingress);
        assert_int_equal(tu_int(&R, i, "ipfix.egressInterface"), x->egress);
        assert_int_equal(tu_int(&R, i, "ipfix.bgpSourceAsNumber"), x->src_as);
        assert_int_equal(tu_int(&R, i, "ipfix.bgpDestinationAsNumber"), x->dst_as);
        assert_int_equal(tu_int(&R, i, "ipfix.sourceIPv4PrefixLength"), x->src_mask);
        assert_int_equal(tu_int(&R, i, "ipfix.destinationIPv4PrefixLength"), x->dst_mask);
        assert_int_equal((uint64_t)tu_int(&R, i, "ipfix.packetDeltaCount"), x->packets);
        assert_int_equal((uint64_t)tu_int(&R, i, "ipfix.octetDeltaCount"), x->octets);
        assert_int_equal((uint64_t)tu_int(&R, i, "ipfix.flowStartMilliseconds"), x->start_ms);
        assert_int_equal((uint64_t)tu_int(&R, i, "ipfix.flowEndMilliseconds"), x->end_ms);
        assert_string_equal(tu_str(&R, i, "ipfix.interfaceName"), ref_names[i]);
    }
    tu_clear(&R);
    s4f_decoder_free(d);
    s4f_ref_free(&r);
}

int main(void)
{
    s4f_log_level_current = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_libfixbuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
