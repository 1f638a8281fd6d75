/* A single-pass JSON checker for the hot path: validates that a buffer is exactly one JSON
 * object (RFC 8259: string escapes, UTF-8, number grammar, literals, bounded nesting) and
 * returns where the values of a few top-level members are, without building a tree.
 *
 * The sink receives every document as text and forwards it as text; it only needs to know that
 * the text is a well-formed object and to read "@type", "id" and "@timestamp". Building a full
 * tree (jansson) for that cost half the sink's CPU. Member names are compared as written (an
 * escaped name such as "\u0069d" does not match "id"). */
#ifndef S4F_SINK_JSCAN_H
#define S4F_SINK_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

#define S4F_JSCAN_MAX_DEPTH 64

enum s4f_jkind { S4F_J_NONE = 0, S4F_J_STRING, S4F_J_NUMBER, S4F_J_OTHER };

/* A top-level member's value: for a string, the bytes between the quotes (still escaped). */
struct s4f_jval {
    enum s4f_jkind kind;
    const char *p;
    size_t len;
    bool escaped; /* the string holds backslash escapes: use s4f_jscan_unescape() */
};

/* Checks buf[0..len) and fills vals[i] for keys[i] (i < nkeys). Returns 0, or -1 with a short
 * reason ("bad escape at byte 12") in err. A requested key present twice is an error: the two
 * values could be read differently downstream. */
int s4f_jscan_object(const char *buf, size_t len, const char *const *keys, size_t nkeys,
                     struct s4f_jval *vals, char *err, size_t errlen);

/* Writes the decoded string of v (kind S4F_J_STRING) to out (NUL-terminated). Returns its length,
 * or -1 if it does not fit in outlen - 1 bytes or holds a NUL character. */
long s4f_jscan_unescape(const struct s4f_jval *v, char *out, size_t outlen);

#endif
