/* GeoIP fields of results: see geo.h. */
#include "geo.h"
#include "analysis.h"
#include "htab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ent {
    struct s4f_geo g;
    char org[S4F_AS_ORG_MAX + 1];
};

struct s4f_geo_tab {
    struct ent *v; /* v[id - 1] */
    size_t n, cap, max;
    uint32_t *idx; /* open addressing: ids, 0 empty */
    size_t mask;
    uint64_t refused;
};

struct s4f_geo_tab *s4f_geo_tab_new(size_t max)
{
    struct s4f_geo_tab *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->max = max ? max : 65536;
    return t;
}

void s4f_geo_tab_free(struct s4f_geo_tab *t)
{
    if (!t)
        return;
    free(t->v);
    free(t->idx);
    free(t);
}

uint64_t s4f_geo_tab_refused(const struct s4f_geo_tab *t)
{
    return t->refused;
}

static uint64_t hash(const struct s4f_geo *g, const char *org)
{
    uint64_t h = s4f_hash_bytes(g->country, sizeof(g->country)) ^ ((uint64_t)g->asn << 17);
    return h ^ s4f_hash_bytes(org, g->org_len) * 0x9e3779b97f4a7c15ull;
}

static bool same(const struct ent *e, const struct s4f_geo *g, const char *org)
{
    return e->g.asn == g->asn && e->g.org_len == g->org_len &&
           memcmp(e->g.country, g->country, sizeof(g->country)) == 0 &&
           memcmp(e->org, org, g->org_len) == 0;
}

/* Doubles the index (load at most a half). */
static bool grow_index(struct s4f_geo_tab *t)
{
    size_t slots = t->idx ? (t->mask + 1) * 2 : 64;
    uint32_t *idx = calloc(slots, sizeof(*idx));
    if (!idx)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        size_t s = hash(&t->v[i].g, t->v[i].org) & (slots - 1);
        while (idx[s])
            s = (s + 1) & (slots - 1);
        idx[s] = (uint32_t)(i + 1);
    }
    free(t->idx);
    t->idx = idx;
    t->mask = slots - 1;
    return true;
}

uint32_t s4f_geo_intern(struct s4f_geo_tab *t, const struct s4f_geo *g, const char *org)
{
    if (!t || (!g->country[0] && !g->asn && !g->org_len))
        return 0;
    uint64_t h = hash(g, org);
    if (t->idx) {
        for (size_t s = h & t->mask; t->idx[s]; s = (s + 1) & t->mask)
            if (same(&t->v[t->idx[s] - 1], g, org))
                return t->idx[s];
    }
    if (t->n >= t->max) {
        t->refused++;
        return 0;
    }
    if ((!t->idx || (t->n + 1) * 2 > t->mask + 1) && !grow_index(t)) {
        t->refused++;
        return 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct ent *v = realloc(t->v, cap * sizeof(*v));
        if (!v) {
            t->refused++;
            return 0;
        }
        t->v = v;
        t->cap = cap;
    }
    struct ent *e = &t->v[t->n++];
    e->g = *g;
    memcpy(e->org, org, g->org_len);
    e->org[g->org_len] = '\0';
    size_t s = h & t->mask;
    while (t->idx[s])
        s = (s + 1) & t->mask;
    t->idx[s] = (uint32_t)t->n;
    return (uint32_t)t->n;
}

void s4f_jb_geo(struct s4f_jbuf *b, const struct s4f_geo_tab *t, const char *prefix, uint32_t id)
{
    if (!t || !id || id > t->n)
        return;
    const struct ent *e = &t->v[id - 1];
    char key[48];
    if (e->g.country[0]) {
        snprintf(key, sizeof(key), "%s_country", prefix);
        s4f_jb_str(b, key, e->g.country);
    }
    if (e->g.asn) {
        snprintf(key, sizeof(key), "%s_as", prefix);
        s4f_jb_u64(b, key, e->g.asn);
    }
    if (e->g.org_len) {
        snprintf(key, sizeof(key), "%s_as_org", prefix);
        s4f_jb_str(b, key, e->org);
    }
}
