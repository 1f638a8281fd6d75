#include "htab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Slot layout: uint64_t hash (0: empty), key, padding, value; the value starts on an 8-byte
 * boundary so that analyses may store uint64_t counters in it. */
#define HDR     8
#define VOFF(h) ((HDR + (h)->ksize + 7) & ~(size_t)7)

void s4f_htab_init(struct s4f_htab *h, size_t ksize, size_t vsize, size_t max)
{
    memset(h, 0, sizeof(*h));
    h->ksize = ksize;
    h->vsize = vsize;
    h->slot = (((HDR + ksize + 7) & ~(size_t)7) + vsize + 7) & ~(size_t)7;
    h->max = max;
}

static unsigned char *slot_at(const struct s4f_htab *h, size_t i)
{
    return h->mem + i * h->slot;
}

/* Key equality in words: keys are 8 to 48 bytes, and a libc memcmp call per probe showed. */
static inline bool key_eq(const unsigned char *a, const unsigned char *b, size_t n)
{
    uint64_t x, y, diff = 0;
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        diff |= x ^ y;
    }
    for (; n; a++, b++, n--)
        diff |= (uint64_t)(*a ^ *b);
    return diff == 0;
}

/* Tables of 2 MiB and more are mapped on 2 MiB boundaries and offered to the kernel for
 * transparent huge pages (where THP is "madvise", as on Debian): their probes land all over
 * tens of megabytes, and with 4 KiB pages nearly every one missed the TLB too; the kernel's
 * fresh zero pages also spare a calloc. Smaller tables come from calloc. */
#ifndef HUGE_BYTES
#define HUGE_BYTES ((size_t)2 << 20)
#endif

static unsigned char *table_alloc(size_t bytes, size_t *mapped)
{
    *mapped = 0;
    if (bytes < HUGE_BYTES)
        return calloc(1, bytes);
    size_t len = (bytes + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
    unsigned char *m =
        mmap(NULL, len + HUGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    /* Trim to an aligned run of len bytes. */
    size_t lead = (HUGE_BYTES - ((uintptr_t)m & (HUGE_BYTES - 1))) & (HUGE_BYTES - 1);
    if (lead)
        munmap(m, lead);
    if (HUGE_BYTES - lead)
        munmap(m + lead + len, HUGE_BYTES - lead);
    m += lead;
#ifdef MADV_HUGEPAGE
    madvise(m, len, MADV_HUGEPAGE); /* a hint: without THP the table works as well */
#endif
    /* Write-touch each huge page: grow() reads a slot before writing it, and a first read
     * would map the shared zero page, to be copied on the write right after. */
    for (size_t off = 0; off < len; off += HUGE_BYTES)
        m[off] = 0;
    *mapped = len;
    return m;
}

static void table_free(unsigned char *m, size_t mapped)
{
    if (mapped)
        munmap(m, mapped);
    else
        free(m);
}

static int grow(struct s4f_htab *h)
{
    size_t ncap = h->cap ? h->cap * 2 : 64, nmapped;
    if (ncap > SIZE_MAX / h->slot)
        return -1;
    unsigned char *nm = table_alloc(ncap * h->slot, &nmapped);
    if (!nm)
        return -1;
    for (size_t i = 0; i < h->cap; i++) {
        unsigned char *s = slot_at(h, i);
        uint64_t hv;
        memcpy(&hv, s, 8);
        if (!hv)
            continue;
        size_t j = hv & (ncap - 1);
        while (1) {
            uint64_t o;
            memcpy(&o, nm + j * h->slot, 8);
            if (!o)
                break;
            j = (j + 1) & (ncap - 1);
        }
        memcpy(nm + j * h->slot, s, h->slot);
    }
    table_free(h->mem, h->mapped);
    h->mem = nm;
    h->mapped = nmapped;
    h->cap = ncap;
    return 0;
}

void *s4f_htab_find(const struct s4f_htab *h, const void *key, uint64_t hash)
{
    if (!h->cap)
        return NULL;
    hash |= 1; /* 0 marks an empty slot */
    for (size_t i = hash & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
        unsigned char *s = slot_at(h, i);
        uint64_t hv;
        memcpy(&hv, s, 8);
        if (!hv)
            return NULL;
        if (hv == hash && key_eq(s + HDR, key, h->ksize))
            return s + VOFF(h);
    }
}

bool s4f_htab_remove(struct s4f_htab *h, const void *key, uint64_t hash)
{
    unsigned char *v = s4f_htab_find(h, key, hash);
    if (!v)
        return false;
    size_t mask = h->cap - 1, i = (size_t)(v - VOFF(h) - h->mem) / h->slot;
    /* Pull back each later entry of the run whose home slot does not lie cyclically in
     * (i, j]: it was placed past i because i was taken. */
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        uint64_t hv;
        memcpy(&hv, slot_at(h, j), 8);
        if (!hv)
            break;
        size_t home = hv & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            memcpy(slot_at(h, i), slot_at(h, j), h->slot);
            i = j;
        }
    }
    memset(slot_at(h, i), 0, h->slot);
    h->n--;
    return true;
}

void *s4f_htab_insert(struct s4f_htab *h, const void *key, uint64_t hash, bool *created)
{
    *created = false;
    hash |= 1; /* 0 marks an empty slot */
    for (;;) {
        /* One probe sequence finds the key or the slot it would take. */
        size_t i = h->cap ? hash & (h->cap - 1) : 0;
        unsigned char *s = NULL;
        for (; h->cap; i = (i + 1) & (h->cap - 1)) {
            s = slot_at(h, i);
            uint64_t hv;
            memcpy(&hv, s, 8);
            if (!hv)
                break;
            if (hv == hash && key_eq(s + HDR, key, h->ksize))
                return s + VOFF(h);
        }
        if (h->n >= h->max)
            return NULL;
        /* Load factor at most 1/2: short probe sequences. */
        if ((h->n + 1) * 2 > h->cap) {
            if (grow(h) != 0)
                return NULL;
            continue;
        }
        memcpy(s, &hash, 8);
        memcpy(s + HDR, key, h->ksize);
        memset(s + HDR + h->ksize, 0, h->slot - HDR - h->ksize);
        h->n++;
        *created = true;
        return s + VOFF(h);
    }
}

int s4f_htab_reserve(struct s4f_htab *h, size_t n)
{
    if (n > h->max)
        n = h->max;
    while (n * 2 > h->cap)
        if (grow(h) != 0)
            return -1;
    return 0;
}

const void *s4f_htab_key_at(const struct s4f_htab *h, size_t i)
{
    unsigned char *s = slot_at(h, i);
    uint64_t hv;
    memcpy(&hv, s, 8);
    return hv ? s + HDR : NULL;
}

void *s4f_htab_val_at(const struct s4f_htab *h, size_t i)
{
    return slot_at(h, i) + VOFF(h);
}

void s4f_htab_clear(struct s4f_htab *h)
{
    if (h->mem)
        memset(h->mem, 0, h->cap * h->slot);
    h->n = 0;
}

void s4f_htab_release(struct s4f_htab *h)
{
    table_free(h->mem, h->mapped);
    h->mem = NULL;
    h->mapped = 0;
    h->cap = h->n = 0;
}

void s4f_htab_pool_take(struct s4f_htab_pool *p, struct s4f_htab *out, size_t ksize, size_t vsize,
                        size_t max, size_t hint)
{
    s4f_htab_init(out, ksize, vsize, max);
    while (p->n) {
        struct s4f_htab t = p->t[--p->n];
        if (t.cap > 8 * hint + 1024) {
            s4f_htab_release(&t);
            continue;
        }
        s4f_htab_clear(&t);
        *out = t;
        out->max = max;
        break;
    }
    /* A failed reserve is only a missed optimisation: the tables grow on demand. */
    s4f_htab_reserve(out, hint);
}

void s4f_htab_pool_give(struct s4f_htab_pool *p, struct s4f_htab *t)
{
    if (p->n < S4F_HTAB_POOL && t->mem)
        p->t[p->n++] = *t;
    else
        s4f_htab_release(t);
    memset(t, 0, sizeof(*t));
}

void s4f_htab_pool_release(struct s4f_htab_pool *p)
{
    while (p->n)
        s4f_htab_release(&p->t[--p->n]);
}

uint64_t s4f_hash_bytes(const void *p, size_t n)
{
    /* Eight bytes per step, then a finaliser (murmur3's fmix64): keys are 8 to 48 bytes
     * (addresses, ports) and hashing them bytewise was a visible part of host_stats' cost.
     * Only this process uses the values: nothing depends on them across processes. */
    const unsigned char *b = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
        b += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, b, n);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* ---- 64-bit keys ----------------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

void s4f_htab64_init(struct s4f_htab64 *h, size_t max)
{
    memset(h, 0, sizeof(*h));
    h->max = max;
}

static int grow64(struct s4f_htab64 *h, size_t ncap)
{
    size_t nmapped;
    if (ncap > SIZE_MAX / 16)
        return -1;
    uint64_t *nm = (uint64_t *)table_alloc(ncap * 16, &nmapped);
    if (!nm)
        return -1;
    for (size_t i = 0; i < h->cap; i++) {
        uint64_t k = h->mem[2 * i];
        if (!k)
            continue;
        size_t j = mix64(k) & (ncap - 1);
        while (nm[2 * j])
            j = (j + 1) & (ncap - 1);
        nm[2 * j] = k;
        nm[2 * j + 1] = h->mem[2 * i + 1];
    }
    table_free((unsigned char *)h->mem, h->mapped);
    h->mem = nm;
    h->mapped = nmapped;
    h->cap = ncap;
    return 0;
}

uint64_t *s4f_htab64_insert(struct s4f_htab64 *h, uint64_t key, bool *created)
{
    *created = false;
    if (!key)
        return NULL; /* marks an empty slot: the callers' keys never are 0 */
    for (;;) {
        size_t i = 0;
        if (h->cap) {
            for (i = mix64(key) & (h->cap - 1); h->mem[2 * i]; i = (i + 1) & (h->cap - 1))
                if (h->mem[2 * i] == key)
                    return &h->mem[2 * i + 1];
        }
        if (h->n >= h->max)
            return NULL;
        if ((h->n + 1) * 10 > h->cap * 7) {
            if (grow64(h, h->cap ? h->cap * 2 : 64) != 0)
                return NULL;
            continue;
        }
        h->mem[2 * i] = key;
        h->mem[2 * i + 1] = 0;
        h->n++;
        *created = true;
        return &h->mem[2 * i + 1];
    }
}

int s4f_htab64_reserve(struct s4f_htab64 *h, size_t n)
{
    if (n > h->max)
        n = h->max;
    size_t cap = h->cap ? h->cap : 64;
    while (n * 10 > cap * 7)
        cap *= 2;
    return cap > h->cap ? grow64(h, cap) : 0;
}

void s4f_htab64_clear(struct s4f_htab64 *h)
{
    if (h->mem)
        memset(h->mem, 0, h->cap * 16);
    h->n = 0;
}

void s4f_htab64_release(struct s4f_htab64 *h)
{
    table_free((unsigned char *)h->mem, h->mapped);
    h->mem = NULL;
    h->mapped = 0;
    h->cap = h->n = 0;
}

/* ---- pair counts in one word ------------------------------------------------------------ */

void s4f_cset64_init(struct s4f_cset64 *h, size_t max, unsigned kbits)
{
    memset(h, 0, sizeof(*h));
    h->max = max;
    h->cbits = 64 - (kbits > 62 ? 62 : kbits);
    s4f_htab64_init(&h->big, max);
}

static int grow_cset(struct s4f_cset64 *h, size_t ncap)
{
    size_t nmapped;
    if (ncap > SIZE_MAX / 8)
        return -1;
    uint64_t *nm = (uint64_t *)table_alloc(ncap * 8, &nmapped);
    if (!nm)
        return -1;
    for (size_t i = 0; i < h->cap; i++) {
        uint64_t w = h->mem[i];
        if (!w)
            continue;
        size_t j = mix64(w >> h->cbits) & (ncap - 1);
        while (nm[j])
            j = (j + 1) & (ncap - 1);
        nm[j] = w;
    }
    table_free((unsigned char *)h->mem, h->mapped);
    h->mem = nm;
    h->mapped = nmapped;
    h->cap = ncap;
    return 0;
}

int s4f_cset64_add(struct s4f_cset64 *h, uint64_t key, uint64_t inc, bool *created)
{
    *created = false;
    uint64_t cmax = ((uint64_t)1 << h->cbits) - 1;
    if (!key || key >> (64 - h->cbits) || !inc)
        return -1; /* 0 marks an empty slot; wider keys would lose bits */
    for (;;) {
        size_t i = 0;
        if (h->cap) {
            for (i = mix64(key) & (h->cap - 1); h->mem[i]; i = (i + 1) & (h->cap - 1)) {
                if (h->mem[i] >> h->cbits != key)
                    continue;
                uint64_t c = h->mem[i] & cmax;
                if (c != cmax && inc < cmax - c) {
                    h->mem[i] += inc;
                    return 0;
                }
                /* The count leaves (or has left) the word for the side table. */
                bool bc;
                uint64_t *big = s4f_htab64_insert(&h->big, key, &bc);
                if (!big)
                    return -1;
                if (bc)
                    *big = c;
                *big += inc;
                h->mem[i] |= cmax;
                return 0;
            }
        }
        if (h->n >= h->max)
            return -1;
        if ((h->n + 1) * 10 > h->cap * 7) {
            if (grow_cset(h, h->cap ? h->cap * 2 : 128) != 0)
                return -1;
            continue;
        }
        if (inc >= cmax) {
            bool bc;
            uint64_t *big = s4f_htab64_insert(&h->big, key, &bc);
            if (!big)
                return -1;
            *big = inc;
            h->mem[i] = key << h->cbits | cmax;
        } else {
            h->mem[i] = key << h->cbits | inc;
        }
        h->n++;
        *created = true;
        return 0;
    }
}

uint64_t s4f_cset64_count_at(const struct s4f_cset64 *h, size_t i)
{
    uint64_t cmax = ((uint64_t)1 << h->cbits) - 1, c = h->mem[i] & cmax;
    if (c != cmax)
        return c;
    /* The side table is small (the few large counts): a lookup by insert, never creating. */
    uint64_t key = h->mem[i] >> h->cbits;
    const struct s4f_htab64 *b = &h->big;
    for (size_t j = mix64(key) & (b->cap - 1); b->cap && b->mem[2 * j]; j = (j + 1) & (b->cap - 1))
        if (b->mem[2 * j] == key)
            return b->mem[2 * j + 1];
    return c; /* not reached: a saturated word always has its side entry */
}

int s4f_cset64_reserve(struct s4f_cset64 *h, size_t n)
{
    if (n > h->max)
        n = h->max;
    size_t cap = h->cap ? h->cap : 128;
    while (n * 10 > cap * 7)
        cap *= 2;
    return cap > h->cap ? grow_cset(h, cap) : 0;
}

void s4f_cset64_clear(struct s4f_cset64 *h)
{
    if (h->mem)
        memset(h->mem, 0, h->cap * 8);
    h->n = 0;
    s4f_htab64_release(&h->big);
}

void s4f_cset64_release(struct s4f_cset64 *h)
{
    table_free((unsigned char *)h->mem, h->mapped);
    h->mem = NULL;
    h->mapped = 0;
    h->cap = h->n = 0;
    s4f_htab64_release(&h->big);
}
