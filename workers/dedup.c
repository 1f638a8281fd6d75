/* Replay duplicate suppression for repartitioned input: see dedup.h. */
#include "dedup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dkey {
    int32_t sp;
    uint8_t side;
    int64_t max;
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

enum s4f_dedup_verdict s4f_dedup_check(struct s4f_dedup *d, int32_t sp, uint8_t side, int64_t so)
{
    /* Linear: a handful of source partitions times two sides, hot in cache. */
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].sp == sp && d->keys[i].side == side) {
            if (so <= d->keys[i].max)
                return S4F_DEDUP_DUP;
            d->keys[i].max = so;
            d->changed = true;
            return S4F_DEDUP_NEW;
        }
    if (d->n == S4F_DEDUP_MAX_KEYS)
        return S4F_DEDUP_FULL;
    d->keys[d->n++] = (struct dkey){sp, side, so};
    d->changed = true;
    return S4F_DEDUP_NEW;
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
        w = snprintf(meta + o, len - o, "%s%" PRId32 ".%u:%" PRId64, i ? "," : "", s->keys[i].sp,
                     (unsigned)s->keys[i].side, s->keys[i].max);
        if (w < 0 || (size_t)w >= len - o)
            return -1;
        o += (size_t)w;
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
            if (end == p || (*end && *end != ',') || d->n == S4F_DEDUP_MAX_KEYS)
                goto bad;
            d->keys[d->n++] = (struct dkey){(int32_t)sp, (uint8_t)side, (int64_t)so};
            p = *end ? end + 1 : end;
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
        if (bad(ctx, d->keys[r].sp, d->keys[r].max)) {
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
