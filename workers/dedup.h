/* Duplicate suppression for a repartitioned input, and the commit points that keep it exact
 * across crashes.
 *
 * The first stage of a repartitioned analysis (rekey.c) reads the input topic and writes one
 * routed record per side to the repartition topic, tagged with where the flow was read (source
 * partition sp, source offset so) and the side. It commits its input only after those writes
 * are acknowledged, so after a crash it writes some records again: at-least-once. Each writer
 * writes a source partition's records in offset order, and a replay starts from a committed
 * (earlier) offset; each record also claims the offsets since the previous record its writer
 * routed to the same partition and side (nothing routed there in between). So within one
 * repartition partition a record is a duplicate exactly when its so lies in the offsets
 * already covered for its (sp, side): normally everything up to the largest so seen; after
 * a failed write, intervals with a gap, which the rewrite refills (a maximum alone would drop
 * the rewritten records as duplicates: issue 23). One struct s4f_dedup tracks them for one
 * repartition partition.
 *
 * The second stage commits the repartition partition's offset only where it has the maxima of
 * everything before that offset: snapshot() records (next offset to read, maxima) pairs, and
 * commit_point() picks the newest snapshot at or before the offset the windows allow and
 * formats its maxima for the commit metadata. After a crash, restore() reloads them and the
 * replay drops the first stage's duplicates again.
 *
 * A record's so must be below its source partition's high-water mark in the input topic (the
 * caller queries it; s4f_dedup_bound decides when): one forged record claiming a far offset
 * would otherwise make every later record of its (sp, side) a duplicate, and the value would
 * live on in the commit metadata (s4f_dedup_drop_if cleans restored maxima).
 *
 * Bounds: at most S4F_DEDUP_MAX_GAPS intervals per pair (past it the oldest gap is taken as
 * filled), S4F_DEDUP_MAX_KEYS (sp, side) pairs (past it records are not deduplicated:
 * counted by the caller) and S4F_DEDUP_MAX_SNAPSHOTS snapshots (the older half is thinned, so
 * old commit points survive). The second stage (engine.c) keeps one struct s4f_dedup per
 * repartition partition, on its thread: single-threaded. */
#ifndef S4F_DEDUP_H
#define S4F_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S4F_DEDUP_MAX_KEYS      512
#define S4F_DEDUP_MAX_SNAPSHOTS 128
/* Intervals of written offsets per (sp, side): gaps left by failed writes, until refilled. */
#define S4F_DEDUP_MAX_GAPS 8
/* A high-water mark is queried again at most this often per source partition; meanwhile a
 * source offset up to S4F_DEDUP_HWM_SLACK beyond the last one is believed (the input grows
 * while stage two reads). */
#define S4F_DEDUP_HWM_REFRESH_MS 1000
#define S4F_DEDUP_HWM_SLACK      (INT64_C(1) << 20)

enum s4f_dedup_verdict {
    S4F_DEDUP_NEW = 0,  /* first time seen: fold it */
    S4F_DEDUP_DUP = 1,  /* a replayed duplicate: skip it */
    S4F_DEDUP_FULL = 2, /* no room to track its (sp, side): folded, not deduplicated */
};

struct s4f_dedup;

enum s4f_dedup_bound {
    S4F_DEDUP_BOUND_OK = 0,     /* so below what the input holds: plausible */
    S4F_DEDUP_BOUND_QUERY = 1,  /* ask the broker for the high-water mark, then decide */
    S4F_DEDUP_BOUND_BEYOND = 2, /* far beyond the input's end: refuse the record */
};

/* Whether source offset so can be real, given the source partition's last known high-water
 * mark hwm (-1: unknown) queried age_ms ago. After a query, call again with age_ms 0: a
 * fresh mark admits only so < hwm (stage one writes what it has read); an older one admits
 * up to S4F_DEDUP_HWM_SLACK more; an unknown one (query failed) admits everything. */
enum s4f_dedup_bound s4f_dedup_bound(int64_t so, int64_t hwm, int64_t age_ms);

struct s4f_dedup *s4f_dedup_new(void);
void s4f_dedup_free(struct s4f_dedup *d);
/* gap: the record's claim (struct s4f_flow.src_gap): no other record of (sp, side) in
 * (so - gap, so); 0: none (version 1 records). */
enum s4f_dedup_verdict s4f_dedup_check(struct s4f_dedup *d, int32_t sp, uint8_t side, int64_t so,
                                       uint32_t gap);
/* Whether every record of (sp, side) from input offset `from` up to `upto` is known folded,
 * with no gap (a watermark mark of sp may then be trusted). */
bool s4f_dedup_contiguous(struct s4f_dedup *d, int32_t sp, uint8_t side, int64_t from,
                          int64_t upto);
/* Records the maxima as they stand before the record at next_offset (no-op when unchanged). */
void s4f_dedup_snapshot(struct s4f_dedup *d, int64_t next_offset);
/* The newest snapshot offset <= safe (or -1: none), its maxima formatted into meta as
 * "d=sp.side:so,..." (the caller appends it to its own metadata). Older snapshots are dropped.
 * Returns -1 too when meta is too small (nothing is dropped then). */
int64_t s4f_dedup_commit_point(struct s4f_dedup *d, int64_t safe, char *meta, size_t len);
/* Loads maxima committed at offset (the "d=..." text, len bytes, may be 0) as the state at
 * that offset. 0, or -1 on malformed text (state left empty). */
int s4f_dedup_restore(struct s4f_dedup *d, const char *meta, size_t len, int64_t offset);
/* Forgets the restored maxima for which bad(ctx, sp, max) holds (after restore(), before the
 * first check). Returns how many. */
size_t s4f_dedup_drop_if(struct s4f_dedup *d, bool (*bad)(void *ctx, int32_t sp, int64_t so),
                         void *ctx);

#endif
