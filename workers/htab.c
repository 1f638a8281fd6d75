#include "htab.h"

#include <stdlib.h>
#include <string.h>

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

static int grow(struct s4f_htab *h)
{
    size_t ncap = h->cap ? h->cap * 2 : 64;
    unsigned char *nm = calloc(ncap, h->slot);
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
    free(h->mem);
    h->mem = nm;
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
        if (hv == hash && memcmp(s + HDR, key, h->ksize) == 0)
            return s + VOFF(h);
    }
}

void *s4f_htab_insert(struct s4f_htab *h, const void *key, uint64_t hash, bool *created)
{
    *created = false;
    void *v = s4f_htab_find(h, key, hash);
    if (v)
        return v;
    if (h->n >= h->max)
        return NULL;
    /* Load factor at most 1/2: short probe sequences. */
    if ((h->n + 1) * 2 > h->cap && grow(h) != 0)
        return NULL;
    hash |= 1;
    size_t i = hash & (h->cap - 1);
    while (1) {
        uint64_t hv;
        memcpy(&hv, slot_at(h, i), 8);
        if (!hv)
            break;
        i = (i + 1) & (h->cap - 1);
    }
    unsigned char *s = slot_at(h, i);
    memcpy(s, &hash, 8);
    memcpy(s + HDR, key, h->ksize);
    memset(s + HDR + h->ksize, 0, h->slot - HDR - h->ksize);
    h->n++;
    *created = true;
    return s + VOFF(h);
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

void s4f_htab_release(struct s4f_htab *h)
{
    free(h->mem);
    h->mem = NULL;
    h->cap = h->n = 0;
}

uint64_t s4f_hash_bytes(const void *p, size_t n)
{
    /* FNV-1a then a finaliser: keys are short (addresses, ports). */
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}
