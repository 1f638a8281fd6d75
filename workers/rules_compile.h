/* Declarative detection rules (docs/rules.md): the YAML rule file compiled once into flat
 * arrays that the rules analysis (analyses/rules.c) evaluates per flow without allocating.
 *
 * A rule names a filter over flow fields, key fields, a window and slide, aggregates per key,
 * a condition on the aggregates and the fields of its result (@type rule_<name>). Compiling
 * refuses, with file:line:column, anything the evaluator would have to guess at: an unknown
 * field or operator, a value of the wrong type or outside the field's range, a comparison set
 * that no value satisfies (gt 20 with lt 10), a window the analysis's windows cannot carry.
 *
 * Ownership: s4f_rules_load()/s4f_rules_compile() return a set the caller frees with
 * s4f_rules_free(); nothing in it points into the YAML document. Evaluation only reads the
 * set, so it is safe on any thread once built. */
#ifndef S4F_RULES_COMPILE_H
#define S4F_RULES_COMPILE_H

#include "config.h"
#include "flow.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S4F_RULES_MAX       256 /* rules per file */
#define S4F_RULE_NAME_MAX   58  /* "rule_" + name within the sink's 64-byte type */
#define S4F_RULE_MAX_KEYS   4
#define S4F_RULE_MAX_AGGS   16
#define S4F_RULE_MAX_FIELDS 24
#define S4F_RULE_TOP_MAX    20
#define S4F_RULE_MAX_NODES  512  /* filter and condition nodes per rule */
#define S4F_RULE_MAX_SET    4096 /* values of one in / not_in list */
#define S4F_RULE_KEY_MAX    (S4F_RULE_MAX_KEYS * 17)
#define S4F_RULE_STR_MAX    S4F_DNS_TEXT_MAX

enum s4f_rfield {
    S4F_RF_SRC_IP,
    S4F_RF_DST_IP,
    S4F_RF_SRC_PORT,
    S4F_RF_DST_PORT,
    S4F_RF_PROTO,
    S4F_RF_TCP_FLAGS,
    S4F_RF_PACKETS,
    S4F_RF_BYTES,
    S4F_RF_REV_PACKETS,
    S4F_RF_REV_BYTES,
    S4F_RF_START,
    S4F_RF_END,
    S4F_RF_DURATION,
    S4F_RF_FAMILY,
    S4F_RF_DNS_NAME,
    S4F_RF_DNS_QTYPE,
    S4F_RF_DNS_RCODE,
    S4F_RF_DNS_RESPONSE,
    S4F_RF_N,
};

enum s4f_rkind { S4F_RK_NUM, S4F_RK_ADDR, S4F_RK_STR };

struct s4f_rfield_info {
    const char *name;
    enum s4f_rkind kind;
    int64_t min, max;
    bool time;     /* epoch milliseconds: written as a date */
    bool optional; /* `exists` can be false (DNS fields) */
    const char *help;
};
extern const struct s4f_rfield_info s4f_rfields[S4F_RF_N];

enum s4f_rop {
    S4F_ROP_TRUE,
    S4F_ROP_AND,
    S4F_ROP_OR,
    S4F_ROP_NOT,
    S4F_ROP_CMP,     /* numeric field (masked) <cmp> val */
    S4F_ROP_IN_NUM,  /* numeric field in a set of ranges */
    S4F_ROP_IN_ADDR, /* address in a set of prefixes (eq: one full-length prefix) */
    S4F_ROP_IN_STR,  /* text field in a set of strings */
    S4F_ROP_EXISTS,
};

enum s4f_rcmp { S4F_RC_EQ, S4F_RC_NE, S4F_RC_LT, S4F_RC_LE, S4F_RC_GT, S4F_RC_GE };

/* One node of a filter or a condition. Children of AND/OR/NOT are kids[first..first+n). For
 * a condition, field is an aggregate index and dval the value compared. */
struct s4f_rnode {
    uint8_t op, field, cmp;
    bool neg; /* IN_* and EXISTS: negated (not_in, exists: false) */
    uint32_t first, n;
    int64_t mask; /* CMP, IN_NUM: the field is and-ed with it first (-1: none) */
    int64_t val;
    double dval;
};

enum s4f_ragg_op {
    S4F_RA_COUNT,
    S4F_RA_SUM,
    S4F_RA_MIN,
    S4F_RA_MAX,
    S4F_RA_MEAN,
    S4F_RA_DISTINCT,
    S4F_RA_TOP,
};

struct s4f_ragg {
    char name[64];
    uint8_t op, field;
    uint8_t slot;   /* value slot (int64) in the key's state: SUM/MIN/MAX/MEAN/DISTINCT/TOP */
    uint8_t member; /* DISTINCT/TOP: the tag of its members */
    uint8_t k;      /* TOP */
};

struct s4f_rule {
    char name[S4F_RULE_NAME_MAX + 1];
    char type[S4F_RULE_NAME_MAX + 6]; /* rule_<name> */
    uint64_t fingerprint;             /* of its definition: unchanged rules keep their state */
    int64_t window_ms, slide_ms;
    uint8_t keys[S4F_RULE_MAX_KEYS];
    size_t nkeys, key_size; /* key bytes: 17 per address, 8 per number */
    struct s4f_ragg aggs[S4F_RULE_MAX_AGGS];
    size_t naggs, nslots; /* int64 slots per key: slot 0 is the flow count */
    bool has_members;
    /* Result fields: index < nkeys a key field, else nkeys + aggregate index. */
    uint8_t fields[S4F_RULE_MAX_FIELDS];
    char field_names[S4F_RULE_MAX_FIELDS][64];
    size_t nfields;
    struct s4f_rnode *filter; /* filter[0] is the root */
    uint32_t *fkids;
    size_t nfilter;
    struct s4f_rnode *cond; /* NULL: every key is reported */
    uint32_t *ckids;
    size_t ncond;
    /* Sets of the filter's IN_* nodes: node.first/n index these for leaves. */
    int64_t (*ranges)[2];
    struct s4f_cidr *cidrs;
    char **strs;
    size_t nranges, ncidrs, nstrs;
    size_t line; /* where it is defined, for messages */
};

struct s4f_ruleset {
    struct s4f_rule *rules;
    size_t n;
};

/* Limits the analysis sets on the rules: rule windows must fit its windows. */
struct s4f_rules_limits {
    int64_t window_ms, slide_ms; /* the analysis's (slide: its window when tumbling) */
    bool processing;             /* processing time: every rule on the analysis's window */
};

/* Compiles a parsed document. NULL and err ("file:line:col: message") when refused. */
struct s4f_ruleset *s4f_rules_compile(const struct s4f_conf_doc *doc,
                                      const struct s4f_rules_limits *lim, char *err, size_t errlen);
/* Loads and compiles a file. */
struct s4f_ruleset *s4f_rules_load(const char *path, const struct s4f_rules_limits *lim, char *err,
                                   size_t errlen);
void s4f_rules_free(struct s4f_ruleset *rs);

/* Whether flow f passes the filter of r. No allocation; bounded by the rule's node count. */
bool s4f_rule_match(const struct s4f_rule *r, const struct s4f_flow *f);
/* The numeric value of a field of f (addresses and text: 0). */
int64_t s4f_rule_num(const struct s4f_flow *f, int field);
/* Writes the key bytes of f for r into out (r->key_size bytes). */
void s4f_rule_key(const struct s4f_rule *r, const struct s4f_flow *f, uint8_t *out);
/* Whether the aggregates' values (one per aggregate, in order) pass the condition. */
bool s4f_rule_cond(const struct s4f_rule *r, const double *vals);

#endif
