/* libFuzzer entry: any bytes as a tls_classification dictionary file. A dictionary the parser
 * accepts must hold no more keys than the text has lines, and every lookup on it (with keys
 * cut from the same bytes) must stay in bounds and give texts of at most
 * S4F_TLS_DICT_TEXT_MAX bytes. A refusal must name the file and a line. */
#include "tls_dict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(const struct s4f_tls_class *c)
{
    if (!c)
        return;
    if (strlen(c->device_type) > S4F_TLS_DICT_TEXT_MAX ||
        strlen(c->operating_system) > S4F_TLS_DICT_TEXT_MAX ||
        strlen(c->application) > S4F_TLS_DICT_TEXT_MAX ||
        strlen(c->browser) > S4F_TLS_DICT_TEXT_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    size_t dups = 0;
    struct s4f_tls_dict *d =
        s4f_tls_dict_parse("fuzz.csv", (const char *)data, size, &dups, err, sizeof(err));
    if (!d) {
        if (strncmp(err, "fuzz.csv:", 9) != 0)
            abort();
        return 0;
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (s4f_tls_dict_size(d) + dups > lines)
        abort();
    uint16_t suites[S4F_TLS_DICT_MAX_SUITES];
    size_t ns = size / 2 < S4F_TLS_DICT_MAX_SUITES ? size / 2 : S4F_TLS_DICT_MAX_SUITES;
    for (size_t i = 0; i < ns; i++)
        suites[i] = (uint16_t)(data[2 * i] << 8 | data[2 * i + 1]);
    check(s4f_tls_dict_suites(d, suites, ns));
    if (size >= 16)
        check(s4f_tls_dict_ja3(d, data));
    size_t tn = size < 300 ? size : 300;
    check(s4f_tls_dict_ja4(d, (const char *)data, tn));
    check(s4f_tls_dict_sni(d, (const char *)data, tn));
    s4f_tls_dict_free(d);
    return 0;
}
