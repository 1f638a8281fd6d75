/* Replay duplicate suppression for repartitioned input: see dedup.h. */
#include "dedup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The input offsets of (sp, side) known to be written to this repartition partition: n
 * disjoint, non-adjacent intervals [lo, hi] in ascending order, from the records' claims
 * (restored state reaches down to everything older: lo[0] INT64_MIN). One interval unless a
 * write failed. */
struct dkey {
    int32_t sp;
    uint8_t side;
    uint8_t n;
    int64_t lo[S4F_DEDUP_MAX_GAPS], hi[S4F_DEDUP_MAX_GAPS];
};

struct snap {
    int64_t offset;
    size_t n;
    struct dkey *keys;
};

struct s4f_dedup {
    struct dkey keys[S4F_DEDUP_MAX_KEYS];
    size_t n;
    bool changed; /* since the last snapshot */
    struct snap snaps[S4F_DEDUP_MAX_SNAPSHOTS];
    size_t nsnaps;
};

struct s4f_dedup *s4f_dedup_new(void)
{
    return calloc(1, sizeof(struct s4f_dedup));
}

static void snap_drop(struct s4f_dedup *d, size_t i)
{
    free(d->snaps[i].keys);
    memmove(&d->snaps[i], &d->snaps[i + 1], (d->nsnaps - i - 1) * sizeof(d->snaps[0]));
    d->nsnaps--;
}

void s4f_dedup_free(struct s4f_dedup *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nsnaps; i++)
        free(d->snaps[i].keys);
    free(d);
}

static bool covered(const struct dkey *k, int64_t so)
{
    for (int i = k->n - 1; i >= 0; i--) {
        if (so > k->hi[i])
            return false;
        if (so >= k->lo[i])
            return true;
    }
    return false;
}

/* Adds [lo, hi] to k's intervals, merging what overlaps or touches. Past
 * S4F_DEDUP_MAX_GAPS intervals the two oldest merge (the gap between them is taken as
 * filled: the oldest gaps are those a rewrite had the longest to refill). */
static void cover(struct dkey *k, int64_t lo, int64_t hi)
{
    int64_t nlo[S4F_DEDUP_MAX_GAPS + 1], nhi[S4F_DEDUP_MAX_GAPS + 1];
    int m = 0;
    bool placed = false;
    for (int i = 0; i < k->n; i++) {
        if (k->hi[i] < lo && lo - k->hi[i] > 1) {
            nlo[m] = k->lo[i];
            nhi[m++] = k->hi[i];
        } else if (k->lo[i] > hi && k->lo[i] - hi > 1) {
            if (!placed) {
                nlo[m] = lo;
                nhi[m++] = hi;
                placed = true;
            }
            nlo[m] = k->lo[i];
            nhi[m++] = k->hi[i];
        } else {
            lo = k->lo[i] < lo ? k->lo[i] : lo;
            hi = k->hi[i] > hi ? k->hi[i] : hi;
        }
    }
    if (!placed) {
        nlo[m] = lo;
        nhi[m++] = hi;
    }
    if (m > S4F_DEDUP_MAX_GAPS) {
        memmove(nlo + 1, nlo + 2, (size_t)(m - 2) * sizeof(nlo[0]));
        memmove(nhi, nhi + 1, (size_t)(m - 1) * sizeof(nhi[0]));
        m--;
    }
    memcpy(k->lo, nlo, (size_t)m * sizeof(nlo[0]));
    memcpy(k->hi, nhi, (size_t)m * sizeof(nhi[0]));
    k->n = (uint8_t)m;
}

static struct dkey *key_find(struct s4f_dedup *d, int32_t sp, uint8_t side)
{
    /* Linear: a handful of source partitions times two sides, hot in cache. */
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].sp == sp && d->keys[i].side == side)
            return &d->keys[i];
    return NULL;
}

enum s4f_dedup_verdict s4f_dedup_check(struct s4f_dedup *d, int32_t sp, uint8_t side, int64_t so,
                                       uint32_t gap)
{
    struct dkey *k = key_find(d, sp, side);
    int64_t lo = gap ? so - (int64_t)gap + 1 : so;
    if (k) {
        if (covered(k, so))
            return S4F_DEDUP_DUP;
        if (k->n == 1 && lo - 1 <= k->hi[0] && lo >= k->lo[0]) {
            k->hi[0] = so; /* the usual case: the next record, right after the last */
        } else {
            cover(k, lo, so);
        }
        d->changed = true;
        return S4F_DEDUP_NEW;
    }
    if (d->n == S4F_DEDUP_MAX_KEYS)
        return S4F_DEDUP_FULL;
    /* Not below its claim: records of it a failed write lost come later, and are new. */
    k = &d->keys[d->n++];
    *k = (struct dkey){.sp = sp, .side = side, .n = 1};
    k->lo[0] = lo;
    k->hi[0] = so;
    d->changed = true;
    return S4F_DEDUP_NEW;
}

bool s4f_dedup_contiguous(struct s4f_dedup *d, int32_t sp, uint8_t side, int64_t from, int64_t upto)
{
    struct dkey *k = key_find(d, sp, side);
    if (!k)
        return d->n == S4F_DEDUP_MAX_KEYS; /* untracked: nothing to wait for */
    for (int i = 0; i < k->n; i++)
        if (k->lo[i] <= from && k->hi[i] >= upto)
            return true;
    return false;
}

void s4f_dedup_snapshot(struct s4f_dedup *d, int64_t next_offset)
{
    if (d->nsnaps && (!d->changed || d->snaps[d->nsnaps - 1].offset >= next_offset))
        return;
    if (d->nsnaps == S4F_DEDUP_MAX_SNAPSHOTS) {
        /* Thin the older half: commit points far back stay available, spaced wider. */
        size_t half = d->nsnaps / 2, w = 1;
        for (size_t r = 1; r < d->nsnaps; r++) {
            if (r < half && r % 2 == 1) {
                free(d->snaps[r].keys);
                continue;
            }
            d->snaps[w++] = d->snaps[r];
        }
        d->nsnaps = w;
    }
    struct dkey *copy = malloc((d->n ? d->n : 1) * sizeof(*copy));
    if (!copy)
        return; /* a missed commit point only: the next snapshot will do */
    memcpy(copy, d->keys, d->n * sizeof(*copy));
    d->snaps[d->nsnaps++] = (struct snap){next_offset, d->n, copy};
    d->changed = false;
}

int64_t s4f_dedup_commit_point(struct s4f_dedup *d, int64_t safe, char *meta, size_t len)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < d->nsnaps; i++)
        if (d->snaps[i].offset <= safe)
            best = i;
    if (best == SIZE_MAX)
        return -1;
    const struct snap *s = &d->snaps[best];
    size_t o = 0;
    int w = snprintf(meta, len, "d=");
    if (w < 0 || (size_t)w >= len)
        return -1;
    o = (size_t)w;
    for (size_t i = 0; i < s->n; i++) {
        const struct dkey *k = &s->keys[i];
        w = snprintf(meta + o, len - o, "%s%" PRId32 ".%u:%" PRId64, i ? "," : "", k->sp,
                     (unsigned)k->side, k->hi[0]);
        if (w < 0 || (size_t)w >= len - o)
            return -1;
        o += (size_t)w;
        /* A first interval that does not reach down to everything older (records below
         * it lost and not yet rewritten): "^lo". */
        if (k->lo[0] != INT64_MIN) {
            w = snprintf(meta + o, len - o, "^%" PRId64, k->lo[0]);
            if (w < 0 || (size_t)w >= len - o)
                return -1;
            o += (size_t)w;
        }
        /* Gaps not refilled yet: "~lo-hi" per later interval. */
        for (int j = 1; j < k->n; j++) {
            w = snprintf(meta + o, len - o, "~%" PRId64 "-%" PRId64, k->lo[j], k->hi[j]);
            if (w < 0 || (size_t)w >= len - o)
                return -1;
            o += (size_t)w;
        }
    }
    int64_t off = s->offset;
    while (best-- > 0)
        snap_drop(d, 0);
    return off;
}

int s4f_dedup_restore(struct s4f_dedup *d, const char *meta, size_t len, int64_t offset)
{
    for (size_t i = 0; i < d->nsnaps; i++)
        free(d->snaps[i].keys);
    d->nsnaps = 0;
    d->n = 0;
    d->changed = true;
    char tmp[8192];
    if (len >= sizeof(tmp))
        return -1;
    memcpy(tmp, meta, len);
    tmp[len] = '\0';
    int rc = 0;
    if (len) {
        if (strncmp(tmp, "d=", 2) != 0)
            return -1;
        char *p = tmp + 2;
        while (*p) {
            char *end;
            long long sp = strtoll(p, &end, 10);
            if (end == p || *end != '.' || sp < 0 || sp > INT32_MAX)
                goto bad;
            p = end + 1;
            long long side = strtoll(p, &end, 10);
            if (end == p || *end != ':' || side < 0 || side > 255)
                goto bad;
            p = end + 1;
            long long so = strtoll(p, &end, 10);
            if (end == p || d->n == S4F_DEDUP_MAX_KEYS)
                goto bad;
            struct dkey *k = &d->keys[d->n++];
            *k = (struct dkey){.sp = (int32_t)sp, .side = (uint8_t)side, .n = 1};
            k->lo[0] = INT64_MIN;
            k->hi[0] = (int64_t)so;
            p = end;
            if (*p == '^') {
                long long lo = strtoll(p + 1, &end, 10);
                if (end == p + 1 || lo > so)
                    goto bad;
                k->lo[0] = (int64_t)lo;
                p = end;
            }
            while (*p == '~') {
                long long lo = strtoll(p + 1, &end, 10);
                if (end == p + 1 || *end != '-' || k->n == S4F_DEDUP_MAX_GAPS ||
                    lo <= k->hi[k->n - 1] + 1)
                    goto bad;
                p = end + 1;
                long long hi = strtoll(p, &end, 10);
                if (end == p || hi < lo)
                    goto bad;
                k->lo[k->n] = (int64_t)lo;
                k->hi[k->n++] = (int64_t)hi;
                p = end;
            }
            if (*p && *p != ',')
                goto bad;
            p = *p ? p + 1 : p;
        }
    }
    s4f_dedup_snapshot(d, offset);
    return rc;
bad:
    d->n = 0;
    s4f_dedup_snapshot(d, offset);
    return -1;
}

enum s4f_dedup_bound s4f_dedup_bound(int64_t so, int64_t hwm, int64_t age_ms)
{
    if (so < 0)
        return S4F_DEDUP_BOUND_BEYOND;
    if (hwm >= 0 && so < hwm)
        return S4F_DEDUP_BOUND_OK;
    if (age_ms >= S4F_DEDUP_HWM_REFRESH_MS)
        return S4F_DEDUP_BOUND_QUERY;
    if (hwm < 0)
        return S4F_DEDUP_BOUND_OK;
    if (age_ms == 0)
        return S4F_DEDUP_BOUND_BEYOND;
    return so - hwm < S4F_DEDUP_HWM_SLACK ? S4F_DEDUP_BOUND_OK : S4F_DEDUP_BOUND_BEYOND;
}

size_t s4f_dedup_drop_if(struct s4f_dedup *d, bool (*bad)(void *ctx, int32_t sp, int64_t so),
                         void *ctx)
{
    size_t w = 0, dropped = 0;
    for (size_t r = 0; r < d->n; r++) {
        const struct dkey *k = &d->keys[r];
        /* The largest offset covered: the end of the last interval. */
        if (k->n && bad(ctx, k->sp, k->hi[k->n - 1])) {
            dropped++;
            continue;
        }
        d->keys[w++] = d->keys[r];
    }
    d->n = w;
    if (dropped && d->nsnaps) {
        /* The snapshot restore() took at the committed offset: the same maxima, cleaned. */
        struct snap *s = &d->snaps[d->nsnaps - 1];
        memcpy(s->keys, d->keys, d->n * sizeof(*s->keys));
        s->n = d->n;
    }
    return dropped;
}
