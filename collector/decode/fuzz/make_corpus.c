/* Writes the fuzz seed corpora: every UDP payload of the NetFlow/IPFIX captures (one file each,
 * and one file per capture pair in the framed multi-datagram form of fuzz_decode), plus
 * messages from the test message builder; for fuzz_stream, the IPFIX ones as TCP byte streams.
 *
 *   make_corpus CAPTURE_DIR OUT_DIR     (writes OUT_DIR/decode and OUT_DIR/stream) */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../tests/msggen.h"
#include "../tests/pcap_reader.h"

static int nfile;

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(p, 1, n, f);
    fclose(f);
    nfile++;
}

static uint8_t framed[1 << 20];
static size_t framed_len;

static void frame(const uint8_t *p, size_t n, uint8_t sel)
{
    if (framed_len + 3 + n > sizeof(framed))
        return;
    framed[framed_len++] = (uint8_t)(n >> 8);
    framed[framed_len++] = (uint8_t)n;
    framed[framed_len++] = sel;
    memcpy(framed + framed_len, p, n);
    framed_len += n;
}

static struct s4f_mg g;

static void generated(const char *ddir, const char *sdir)
{
    uint8_t stream[8192];
    size_t slen;
    /* IPFIX: typical template + data, options with sampling, varlen strings. */
    s4f_mg_ipfix(&g, 1764223857u, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, 256);
    s4f_mg_tpl(&g, 257, 3);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 82, 65535, 0);
    s4f_mg_field(&g, 121, 65535, 39499);
    s4f_mg_set(&g, 3);
    s4f_mg_opt_tpl(&g, 258, 3, 1);
    s4f_mg_field(&g, 149, 4, 0);
    s4f_mg_field(&g, 48, 1, 0);
    s4f_mg_field(&g, 34, 4, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, 1764223857000ull);
    s4f_mg_typical_rec(&g, 2, 1764223857000ull);
    s4f_mg_set(&g, 257);
    s4f_mg_ip4(&g, "10.0.0.1");
    s4f_mg_varlen(&g, "eth0", 4);
    s4f_mg_varlen(&g, "example.com", 11);
    s4f_mg_set(&g, 258);
    s4f_mg_u32(&g, 1);
    s4f_mg_u8(&g, 0);
    s4f_mg_u32(&g, 100);
    size_t n = s4f_mg_end(&g);
    write_file(ddir, "gen-ipfix-mixed", g.buf, n);
    slen = 0;
    stream[slen++] = 7; /* chunk size selector */
    memcpy(stream + slen, g.buf, n);
    slen += n;
    /* Withdrawal message. */
    s4f_mg_ipfix(&g, 1764223857u, 3, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 0);
    s4f_mg_tpl(&g, 2, 0);
    size_t w = s4f_mg_end(&g);
    write_file(ddir, "gen-ipfix-withdraw", g.buf, w);
    memcpy(stream + slen, g.buf, w);
    slen += w;
    write_file(sdir, "gen-stream", stream, slen);
    /* v9 with options template (System scope) and FLOW_SAMPLER fields. */
    s4f_mg_v9(&g, 100000, 1764223857u, 0, 0);
    s4f_mg_set(&g, 0);
    s4f_mg_typical_tpl(&g, 256);
    s4f_mg_set(&g, 1);
    s4f_mg_v9_opt_tpl(&g, 257, 4, 8);
    s4f_mg_field(&g, 1, 4, 0);
    s4f_mg_field(&g, 48, 2, 0);
    s4f_mg_field(&g, 50, 4, 0);
    s4f_mg_set(&g, 257);
    s4f_mg_u32(&g, 0);
    s4f_mg_u16(&g, 1);
    s4f_mg_u32(&g, 512);
    s4f_mg_rec(&g);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 3, 1764223857000ull);
    n = s4f_mg_end(&g);
    write_file(ddir, "gen-v9-options", g.buf, n);
    /* v5. */
    struct s4f_mg_v5rec r = {.src = "10.0.0.1", .dst = "10.0.0.2", .pkts = 1, .octets = 60};
    s4f_mg_v5(&g, 60000, 1764223857u, 0, 0, 0, 0, 0x4000 | 10);
    s4f_mg_v5_rec(&g, &r);
    s4f_mg_v5_rec(&g, &r);
    n = s4f_mg_end(&g);
    write_file(ddir, "gen-v5", g.buf, n);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: make_corpus CAPTURE_DIR OUT_DIR\n");
        return 2;
    }
    char ddir[1024], sdir[1024];
    snprintf(ddir, sizeof(ddir), "%s/decode", argv[2]);
    snprintf(sdir, sizeof(sdir), "%s/stream", argv[2]);
    mkdir(argv[2], 0755);
    mkdir(ddir, 0755);
    mkdir(sdir, 0755);
    DIR *dp = opendir(argv[1]);
    if (!dp) {
        perror(argv[1]);
        return 1;
    }
    struct dirent *de;
    static struct s4f_pcap pc;
    while ((de = readdir(dp))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".pcap") != 0)
            continue;
        char path[2048], name[512];
        snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
        int n = s4f_pcap_read(path, &pc);
        for (int i = 0; i < n; i++) {
            snprintf(name, sizeof(name), "cap-%.*s-%d", (int)(l - 5), de->d_name, i);
            write_file(ddir, name, pc.pkts[i].payload, pc.pkts[i].len);
        }
        /* Template captures followed by their data capture, framed into one input. */
        const char *t = strstr(de->d_name, "-template");
        if (t && n > 0) {
            char data[512];
            snprintf(data, sizeof(data), "%s/%.*s-data.pcap", argv[1], (int)(t - de->d_name),
                     de->d_name);
            static uint8_t stream[1 << 20];
            size_t slen = 0;
            stream[slen++] = 0xff; /* fuzz_stream: everything in one read */
            framed_len = 0;
            for (int pass = 0; pass < 2; pass++) {
                if (pass == 1) {
                    s4f_pcap_free(&pc);
                    n = s4f_pcap_read(data, &pc);
                }
                for (int i = 0; i < n; i++) {
                    const struct s4f_pcap_pkt *pk = &pc.pkts[i];
                    frame(pk->payload, pk->len, 1);
                    if (pk->len >= 2 && pk->payload[1] == 10 && slen + pk->len <= sizeof(stream)) {
                        memcpy(stream + slen, pk->payload, pk->len);
                        slen += pk->len;
                    }
                }
            }
            snprintf(name, sizeof(name), "pair-%.*s", (int)(t - de->d_name), de->d_name);
            if (n > 0)
                write_file(ddir, name, framed, framed_len);
            if (slen > 1)
                write_file(sdir, name, stream, slen);
        }
        s4f_pcap_free(&pc);
    }
    closedir(dp);
    generated(ddir, sdir);
    printf("%d corpus files written\n", nfile);
    return 0;
}
