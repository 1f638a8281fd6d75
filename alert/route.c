/* Routing decisions of s4f-alert: severity of a result type, route globs, the id dedup set and
 * the per-destination token bucket. */
#include "alert.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

const char *const s4f_alert_severity_names[] = {"low", "medium", "high", "critical", NULL};

/* The built-in severities of the shipped detections, after the operator's own. */
static const struct {
    const char *glob;
    enum s4f_alert_severity sev;
} builtin_severities[] = {
    {"detection.ddos", S4F_SEV_HIGH},    {"detection.reflectdos", S4F_SEV_HIGH},
    {"ssh_auth_simple", S4F_SEV_MEDIUM}, {"portscan_*", S4F_SEV_MEDIUM},
    {"rule_*", S4F_SEV_MEDIUM},          {"pattern_finder", S4F_SEV_MEDIUM},
};

static int severity_parse(const char *s)
{
    for (int i = 0; s4f_alert_severity_names[i]; i++)
        if (strcasecmp(s, s4f_alert_severity_names[i]) == 0)
            return i;
    return -1;
}

enum s4f_alert_severity s4f_alert_severity_of(const struct s4f_kvlist *severities, int def,
                                              const char *type)
{
    for (size_t i = 0; severities && i < severities->n; i++) {
        int s = severity_parse(severities->v[i]);
        if (s >= 0 && fnmatch(severities->k[i], type, 0) == 0)
            return (enum s4f_alert_severity)s;
    }
    for (size_t i = 0; i < S4F_ARRAY_SIZE(builtin_severities); i++)
        if (fnmatch(builtin_severities[i].glob, type, 0) == 0)
            return builtin_severities[i].sev;
    return (enum s4f_alert_severity)def;
}

bool s4f_alert_type_matches(const struct s4f_strlist *globs, const char *type)
{
    for (size_t i = 0; globs && i < globs->n; i++)
        if (fnmatch(globs->v[i], type, 0) == 0)
            return true;
    return false;
}

/* ---- dedup set ---------------------------------------------------------------------------- */

struct dnode {
    struct dnode *next;
    uint64_t hash;
    char id[];
};

struct s4f_alert_dedup {
    size_t cap;          /* ids remembered at most */
    size_t nbuckets;     /* power of two */
    struct dnode **tab;  /* chains */
    struct dnode **ring; /* insertion order: ring[head] is the oldest */
    size_t head, n;
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

struct s4f_alert_dedup *s4f_alert_dedup_new(size_t capacity)
{
    struct s4f_alert_dedup *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cap = capacity;
    if (capacity == 0)
        return d;
    d->nbuckets = 16;
    while (d->nbuckets < capacity * 2)
        d->nbuckets *= 2;
    d->tab = calloc(d->nbuckets, sizeof(*d->tab));
    d->ring = calloc(capacity, sizeof(*d->ring));
    if (!d->tab || !d->ring) {
        s4f_alert_dedup_free(d);
        return NULL;
    }
    return d;
}

void s4f_alert_dedup_free(struct s4f_alert_dedup *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->ring && i < d->n; i++)
        free(d->ring[(d->head + i) % d->cap]);
    free(d->ring);
    free(d->tab);
    free(d);
}

bool s4f_alert_dedup_has(const struct s4f_alert_dedup *d, const char *id)
{
    if (!d || d->cap == 0)
        return false;
    uint64_t h = hash_id(id);
    for (const struct dnode *x = d->tab[h & (d->nbuckets - 1)]; x; x = x->next)
        if (x->hash == h && strcmp(x->id, id) == 0)
            return true;
    return false;
}

static void forget_oldest(struct s4f_alert_dedup *d)
{
    struct dnode *old = d->ring[d->head];
    struct dnode **pp = &d->tab[old->hash & (d->nbuckets - 1)];
    while (*pp != old)
        pp = &(*pp)->next;
    *pp = old->next;
    free(old);
    d->head = (d->head + 1) % d->cap;
    d->n--;
}

int s4f_alert_dedup_add(struct s4f_alert_dedup *d, const char *id)
{
    if (!d || d->cap == 0 || s4f_alert_dedup_has(d, id))
        return 0;
    size_t len = strlen(id);
    struct dnode *x = malloc(sizeof(*x) + len + 1);
    if (!x)
        return -1;
    memcpy(x->id, id, len + 1);
    x->hash = hash_id(id);
    if (d->n == d->cap)
        forget_oldest(d);
    struct dnode **b = &d->tab[x->hash & (d->nbuckets - 1)];
    x->next = *b;
    *b = x;
    d->ring[(d->head + d->n) % d->cap] = x;
    d->n++;
    return 0;
}

/* ---- token bucket ------------------------------------------------------------------------- */

void s4f_alert_bucket_init(struct s4f_alert_bucket *b, double rate, double burst, int64_t now_ms)
{
    b->rate = rate;
    b->burst = burst < 1 ? 1 : burst;
    b->tokens = b->burst;
    b->last_ms = now_ms;
}

bool s4f_alert_bucket_take(struct s4f_alert_bucket *b, int64_t now_ms)
{
    if (b->rate <= 0)
        return true;
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now_ms;
    }
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}
