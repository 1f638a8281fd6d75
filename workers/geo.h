/* GeoIP fields of results: the country and autonomous system the collector attached to an
 * address (struct s4f_geo in flow.h), kept by an analysis for the addresses its keys name and
 * written beside them in the results (`src_country`, `src_as`, `src_as_org`, ...).
 *
 * An analysis keeps one small number per key instead of the text: s4f_geo_intern() gives each
 * distinct (country, AS number, AS organisation) an id in a table of its own (the world has some
 * 100,000 ASes, so the table stays small; it is capped at max entries, past which new tuples
 * get no id and are counted). Ids stay valid for the table's life. One table per analysis
 * instance, used by its thread only (no locking). */
#ifndef S4F_GEO_H
#define S4F_GEO_H

#include "flow.h"

#include <stddef.h>
#include <stdint.h>

struct s4f_jbuf;
struct s4f_geo_tab;

/* max: most distinct tuples (0: 65536). NULL when out of memory. */
struct s4f_geo_tab *s4f_geo_tab_new(size_t max);
void s4f_geo_tab_free(struct s4f_geo_tab *t);
/* The id of g with its organisation text org (NUL-terminated, g->org_len bytes); 0 when g
 * carries nothing, or the table is full (counted: s4f_geo_tab_refused). */
uint32_t s4f_geo_intern(struct s4f_geo_tab *t, const struct s4f_geo *g, const char *org);
/* The ids of a flow's source and destination. */
static inline uint32_t s4f_geo_src(struct s4f_geo_tab *t, const struct s4f_flow *f)
{
    return s4f_geo_intern(t, &f->src_geo, f->src_as_org);
}
static inline uint32_t s4f_geo_dst(struct s4f_geo_tab *t, const struct s4f_flow *f)
{
    return s4f_geo_intern(t, &f->dst_geo, f->dst_as_org);
}
uint64_t s4f_geo_tab_refused(const struct s4f_geo_tab *t);
/* Appends `<prefix>_country`, `<prefix>_as` and `<prefix>_as_org` of id, each only when known
 * (nothing for id 0). prefix: "src", "dst", "host"... */
void s4f_jb_geo(struct s4f_jbuf *b, const struct s4f_geo_tab *t, const char *prefix, uint32_t id);

#endif
