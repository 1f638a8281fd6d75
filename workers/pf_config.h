/* pattern_finder configurations (docs/pattern_finder.md): the original's YAML format
 * (configuration, filter, vectors, output, distance) read into a fixed form, and the
 * per-flow pieces the analysis (analyses/pattern_finder.c) uses: filter, vector, distance,
 * interval. IPFIX element names are mapped onto the fields the worker's reader keeps; an
 * element it does not keep, a type mismatch, a pattern whose length differs from the vector
 * or a malformed number is refused with file:line:column. The original's `default_function`
 * (Python eval of configuration text) is refused: configuration is not code.
 *
 * Ownership: pf_config_load() returns a configuration freed with pf_config_free(); the
 * evaluation functions only read it. */
#ifndef S4F_PF_CONFIG_H
#define S4F_PF_CONFIG_H

#include "config.h"
#include "flow.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PF_MAX_FILTERS  32
#define PF_MAX_ELEMS    8  /* elements per filter item, key, operation */
#define PF_MAX_FVALUES  64 /* values per filter item */
#define PF_MAX_VALUES   16 /* vector length */
#define PF_MAX_OUTPUTS  4
#define PF_MAX_PATTERNS 8
#define PF_MAX_BINS     8

enum pf_ftype { PF_F_EXISTS, PF_F_INT, PF_F_IP, PF_F_NIN, PF_F_CMP };
enum pf_vtype { PF_V_ELEMENT, PF_V_DIRECT, PF_V_OPERATION, PF_V_ENTROPY };

struct pf_filter {
    uint8_t type, cmp; /* cmp: S4F_RC_* of rules_compile.h order: eq ne lt le gt ge */
    uint8_t elems[PF_MAX_ELEMS];
    size_t nelems, nvals;
    double nums[PF_MAX_FVALUES];
    struct s4f_cidr cidrs[PF_MAX_FVALUES];
    char *texts[PF_MAX_FVALUES];
};

struct pf_value {
    uint8_t type, op;
    uint8_t elems[PF_MAX_ELEMS];
    size_t nelems;
    double direct;
};

struct pf_output {
    char name[64];
    uint8_t elem;
    bool response; /* biflow: from the response flow */
};

struct pf_pattern {
    char name[64];
    double req[PF_MAX_VALUES], resp[PF_MAX_VALUES];
};

struct pf_dist {
    double intervals[PF_MAX_BINS], weights[PF_MAX_BINS], limit;
    size_t nbins;
};

struct pf_config {
    char name[128];
    int64_t window_ms;
    struct pf_filter filters[PF_MAX_FILTERS];
    size_t nfilters;
    bool biflow;
    uint8_t key_elems[PF_MAX_ELEMS]; /* simple vectors */
    size_t nkey;
    int64_t time_difference_ms;
    struct pf_value values[PF_MAX_VALUES];
    size_t nvalues;
    struct pf_output outputs[PF_MAX_OUTPUTS];
    size_t noutputs;
    struct pf_pattern patterns[PF_MAX_PATTERNS];
    size_t npatterns;
    struct pf_dist dists[PF_MAX_PATTERNS]; /* per pattern (its own or the default) */
};

struct pf_config *pf_config_load(const char *path, char *err, size_t errlen);
struct pf_config *pf_config_parse(const struct s4f_conf_doc *doc, char *err, size_t errlen);
void pf_config_free(struct pf_config *c);

bool pf_filter(const struct pf_config *c, const struct s4f_flow *f);
/* The key of a simple vector: its elements' text joined by '-'. */
void pf_simple_key(const struct pf_config *c, const struct s4f_flow *f, char *out, size_t len);
/* The vector's values of one flow (c->nvalues of them; NaN where undefined). */
void pf_vector(const struct pf_config *c, const struct s4f_flow *f, double *out);
/* Quadratic-form distance of a vector (and, for biflows, its response) to pattern i. */
double pf_distance(const struct pf_config *c, size_t i, const double *req, const double *resp);
/* The interval of distance d: the last i with d >= intervals[i]; -1 below the first or NaN. */
int pf_bin(const struct pf_dist *d, double dist);
/* The text of output o (an address, a number, a name). */
void pf_output_text(const struct pf_config *c, size_t o, const struct s4f_flow *req,
                    const struct s4f_flow *resp, char *out, size_t len);

#endif
