/* The TLS classification dictionary of tls_classification: client fingerprints to (device
 * type, operating system, application, browser), read from a user-extensible text file.
 *
 * Format (docs/worker.md "tls_classification"), one entry a line, five ';'-separated columns:
 *
 *     key;device_type;operating_system;application;browser
 *
 * where key is one of
 *
 *     0x0004,0x0005,...   cipher suites offered in the ClientHello, as the original Stream4Flow
 *                         dictionary wrote them (after its byte swap, without 0x0000 entries)
 *     ja3:<32 hex digits> the JA3 MD5
 *     ja4:<text>          the JA4 fingerprint
 *     sni:<name>          the server name; sni:*.example.com matches every name below
 *                         example.com (not example.com itself)
 *
 * Empty columns are "Unknown" in the results. Blank lines, lines starting with '#' and the
 * original's header line (a key of "suites") are skipped. A key given twice: the later line
 * wins, as it did in the original (a Python dict). Every other deviation is an error naming
 * file and line: a wrong number of columns, a malformed key, a column longer than
 * S4F_TLS_DICT_TEXT_MAX bytes, control characters or invalid UTF-8, more than
 * S4F_TLS_DICT_MAX_ENTRIES entries, a file larger than S4F_TLS_DICT_MAX_BYTES.
 *
 * A dictionary is immutable once built; lookups return pointers into it, valid until it is
 * freed. Not thread-safe to free while another thread looks up (the analysis has one thread). */
#ifndef S4F_TLS_DICT_H
#define S4F_TLS_DICT_H

#include <stddef.h>
#include <stdint.h>

#define S4F_TLS_DICT_TEXT_MAX    64
#define S4F_TLS_DICT_MAX_ENTRIES 100000
#define S4F_TLS_DICT_MAX_BYTES   (16 * 1024 * 1024)
#define S4F_TLS_DICT_MAX_SUITES  64

enum s4f_tls_key_kind {
    S4F_TLS_KEY_SUITES = 1,
    S4F_TLS_KEY_JA3 = 2,
    S4F_TLS_KEY_JA4 = 3,
    S4F_TLS_KEY_SNI = 4,
};

/* One classification: NUL-terminated texts, "" for an empty column. */
struct s4f_tls_class {
    const char *device_type, *operating_system, *application, *browser;
};

struct s4f_tls_dict;

/* Builds a dictionary from text (len bytes, any content; it need not be terminated). name is
 * the file name for messages. NULL on error, with "name:line: what" in err. The number of
 * keys given twice goes to *duplicates when not NULL. */
struct s4f_tls_dict *s4f_tls_dict_parse(const char *name, const char *text, size_t len,
                                        size_t *duplicates, char *err, size_t errlen);
/* Reads and parses the file at path (see above). NULL on error with the message in err. */
struct s4f_tls_dict *s4f_tls_dict_load(const char *path, size_t *duplicates, char *err,
                                       size_t errlen);
void s4f_tls_dict_free(struct s4f_tls_dict *d);
/* Distinct keys. */
size_t s4f_tls_dict_size(const struct s4f_tls_dict *d);

/* Lookups; NULL when the key is not in the dictionary. suites are the suites as the
 * dictionary writes them (already swapped, no zero entries). sni is matched exactly, then
 * against the wildcard entries of each parent domain, nearest first; case-insensitive. */
const struct s4f_tls_class *s4f_tls_dict_suites(const struct s4f_tls_dict *d,
                                                const uint16_t *suites, size_t n);
const struct s4f_tls_class *s4f_tls_dict_ja3(const struct s4f_tls_dict *d, const uint8_t md5[16]);
const struct s4f_tls_class *s4f_tls_dict_ja4(const struct s4f_tls_dict *d, const char *ja4,
                                             size_t len);
const struct s4f_tls_class *s4f_tls_dict_sni(const struct s4f_tls_dict *d, const char *sni,
                                             size_t len);

#endif
