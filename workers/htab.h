/* A bounded open-addressing hash table of fixed-size entries (key bytes then value bytes),
 * used by the analyses for their per-window keys. The bound is a hard cap on entries: past it
 * insert() refuses (the caller counts), so hostile key spreads cannot grow memory. Entries
 * are zeroed at creation; their addresses change when the table grows, so do not keep them
 * across inserts. Single-threaded. */
#ifndef S4F_HTAB_H
#define S4F_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct s4f_htab {
    unsigned char *mem;
    size_t cap;    /* slots, a power of two */
    size_t n;      /* entries */
    size_t ksize;  /* key bytes */
    size_t vsize;  /* value bytes */
    size_t slot;   /* bytes per slot */
    size_t max;    /* most entries */
    size_t mapped; /* bytes mapped for mem (large tables), 0: mem is from calloc */
};

void s4f_htab_init(struct s4f_htab *h, size_t ksize, size_t vsize, size_t max);
/* The value of key, or NULL. */
void *s4f_htab_find(const struct s4f_htab *h, const void *key, uint64_t hash);
/* The value of key, created zeroed if absent (*created set). NULL: cap reached or out of
 * memory. */
void *s4f_htab_insert(struct s4f_htab *h, const void *key, uint64_t hash, bool *created);
/* Asks the CPU for the slot a probe for hash starts at, without waiting: issued for several
 * tables before inserting into them, their cache misses overlap. */
static inline void s4f_htab_prefetch(const struct s4f_htab *h, uint64_t hash)
{
    if (h->cap)
        __builtin_prefetch(h->mem + ((hash | 1) & (h->cap - 1)) * h->slot, 1);
}
/* Removes key (backward shift: no tombstones, probe sequences stay short). True when it was
 * there. Entries may move: do not keep their addresses across it. */
bool s4f_htab_remove(struct s4f_htab *h, const void *key, uint64_t hash);
/* Grows the table to hold n entries (at most max) without growing again: a hint from the
 * previous window spares the doublings. 0, or -1 when out of memory (nothing lost). */
int s4f_htab_reserve(struct s4f_htab *h, size_t n);
/* Iteration: slot i's key (NULL when empty) for i < h->cap; the value follows the key. */
const void *s4f_htab_key_at(const struct s4f_htab *h, size_t i);
void *s4f_htab_val_at(const struct s4f_htab *h, size_t i);
/* Empties the table, keeping its memory (reused by the next window). */
void s4f_htab_clear(struct s4f_htab *h);
void s4f_htab_release(struct s4f_htab *h);

/* Tables of freed windows, emptied and reused by the next ones: fresh tables of tens of
 * megabytes for every window and partition cost page faults and kernel zeroing. One pool per
 * kind of table (same key and value sizes); it holds at most S4F_HTAB_POOL tables (the
 * windows alive at once). */
#define S4F_HTAB_POOL 32
struct s4f_htab_pool {
    struct s4f_htab t[S4F_HTAB_POOL];
    size_t n;
};
/* A table for a new window: a pooled one (emptied) if any, else a fresh one, reserved for hint
 * entries. A pooled table far larger than the hint (traffic fell) is released. */
void s4f_htab_pool_take(struct s4f_htab_pool *p, struct s4f_htab *out, size_t ksize, size_t vsize,
                        size_t max, size_t hint);
/* Gives t's memory to the pool (or releases it when the pool is full); t is left empty. */
void s4f_htab_pool_give(struct s4f_htab_pool *p, struct s4f_htab *t);
void s4f_htab_pool_release(struct s4f_htab_pool *p);

uint64_t s4f_hash_bytes(const void *p, size_t n);

/* The same bounded table for the commonest case, a 64-bit key (never 0) and a 64-bit value,
 * in 16-byte slots: no stored hash, no key copy. For the member sets of the analyses (a host's
 * index and a peer's IPv4 address or a port, packed into one word), where the generic table's
 * slots were 24 to 40 bytes. Same contract as s4f_htab (capped at max entries, values zeroed
 * at creation, addresses valid until the next insert), but filled to 0.7 before it doubles
 * (s4f_htab: 0.5): with four slots a cache line the longer probes cost little, and these
 * tables are most of a window's memory. */
struct s4f_htab64 {
    uint64_t *mem; /* cap pairs of (key, value); key 0: empty */
    size_t cap, n, max;
    size_t mapped; /* as in s4f_htab */
};

void s4f_htab64_init(struct s4f_htab64 *h, size_t max);
uint64_t *s4f_htab64_insert(struct s4f_htab64 *h, uint64_t key, bool *created);
int s4f_htab64_reserve(struct s4f_htab64 *h, size_t n);
void s4f_htab64_clear(struct s4f_htab64 *h);
void s4f_htab64_release(struct s4f_htab64 *h);
/* Iteration: for i < h->cap, h->mem[2 * i] is slot i's key (0: empty), h->mem[2 * i + 1] its
 * value. */

/* Pair counts in half of that: a key of at most kbits bits (never 0) and its count share one
 * 8-byte word, the count in the low 64 - kbits bits. A count that outgrows them moves to a
 * side table of its own (big), so counts stay exact whatever they reach; the pairs of the
 * analyses are keyed by a host index and an IPv4 address or a port, and most counts are
 * small. Capped at max keys, filled to 0.7 before it doubles, as s4f_htab64. For issue 17:
 * these tables were most of host_stats' memory. */
struct s4f_cset64 {
    uint64_t *mem; /* cap words: key << cbits | count; 0: empty */
    size_t cap, n, max;
    size_t mapped;         /* as in s4f_htab */
    unsigned cbits;        /* count bits, 64 - kbits (at least 2) */
    struct s4f_htab64 big; /* key -> count, for the words whose count field is all ones */
};

/* kbits: bits of the largest key, at most 62. */
void s4f_cset64_init(struct s4f_cset64 *h, size_t max, unsigned kbits);
/* Adds inc (1 or more) to key's count, creating it at 0 if absent (*created set). -1: cap
 * reached, or out of memory (nothing changed). */
int s4f_cset64_add(struct s4f_cset64 *h, uint64_t key, uint64_t inc, bool *created);
int s4f_cset64_reserve(struct s4f_cset64 *h, size_t n);
void s4f_cset64_clear(struct s4f_cset64 *h);
void s4f_cset64_release(struct s4f_cset64 *h);
/* Iteration: for i < h->cap, slot i's key (0: empty) and its count. */
static inline uint64_t s4f_cset64_key_at(const struct s4f_cset64 *h, size_t i)
{
    return h->mem[i] >> h->cbits;
}
uint64_t s4f_cset64_count_at(const struct s4f_cset64 *h, size_t i);

#endif
