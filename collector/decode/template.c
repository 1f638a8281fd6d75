/* Templates: the information element registry (libfixbuf's information model), compiling a
 * template into a decode program, and the per-domain template cache with lifetimes, withdrawal
 * and per-exporter LRU eviction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fixbuf/public.h>

#include "decode_int.h"

#define NAME_MAX_LEN 120

bool s4f_elements_load(struct s4f_decoder *dec)
{
    fbInfoModel_t *model = fbInfoModelAlloc();
    if (!model)
        return false;
    dec->model = model;
    for (const char *const *f = dec->o.element_files; f && *f; f++) {
        GError *err = NULL;
        if (!fbInfoModelReadXMLFile(model, *f, &err)) {
            s4f_error("decode: cannot load information elements from %s: %s", *f,
                      err ? err->message : "unknown error");
            g_clear_error(&err);
            return false;
        }
        s4f_info("decode: loaded information elements from %s", *f);
    }
    return true;
}

/* Field semantics that do not come from the registry's data type. */
#define SP_SKIP 0xff /* special.kind: never emitted */

struct special {
    uint16_t id;
    uint8_t kind; /* 0: use the registry type, S4F_K_TIME or SP_SKIP */
    uint8_t aux;
    uint8_t role;
    uint8_t flags;
};

static const struct special specials[] = {
    {1, 0, 0, 0, S4F_OPF_RENORM},
    {2, 0, 0, 0, S4F_OPF_RENORM},
    {8, 0, 0, 0, S4F_OPF_SRC},
    {10, 0, 0, S4F_R_IFACE, 0},
    {12, 0, 0, 0, S4F_OPF_DST},
    {14, 0, 0, S4F_R_EGRESS, 0},
    {19, 0, 0, 0, S4F_OPF_RENORM},
    {20, 0, 0, 0, S4F_OPF_RENORM},
    {21, S4F_K_TIME, S4F_T_SYSUP | S4F_T_END, 0, 0},
    {22, S4F_K_TIME, S4F_T_SYSUP, 0, 0},
    {23, 0, 0, 0, S4F_OPF_RENORM},
    {24, 0, 0, 0, S4F_OPF_RENORM},
    {27, 0, 0, 0, S4F_OPF_SRC},
    {28, 0, 0, 0, S4F_OPF_DST},
    {34, 0, 0, S4F_R_INTERVAL, 0},
    {48, 0, 0, S4F_R_SAMPLER_ID, 0},
    {50, 0, 0, S4F_R_RANDOM_INTERVAL, 0},
    {82, 0, 0, S4F_R_IFNAME, 0},
    {83, 0, 0, S4F_R_IFDESC, 0},
    {85, 0, 0, 0, S4F_OPF_RENORM},
    {86, 0, 0, 0, S4F_OPF_RENORM},
    {150, S4F_K_TIME, S4F_T_SEC, 0, 0},
    {151, S4F_K_TIME, S4F_T_SEC | S4F_T_END, 0, 0},
    {152, S4F_K_TIME, S4F_T_MS, 0, 0},
    {153, S4F_K_TIME, S4F_T_MS | S4F_T_END, 0, 0},
    {154, S4F_K_TIME, S4F_T_NTP, 0, 0},
    {155, S4F_K_TIME, S4F_T_NTP | S4F_T_END, 0, 0},
    {156, S4F_K_TIME, S4F_T_NTP, 0, 0},
    {157, S4F_K_TIME, S4F_T_NTP | S4F_T_END, 0, 0},
    {158, S4F_K_TIME, S4F_T_DELTA_US, 0, 0},
    {159, S4F_K_TIME, S4F_T_DELTA_US | S4F_T_END, 0, 0},
    {160, 0, 0, S4F_R_SYSINIT, 0},
    {161, S4F_K_TIME, S4F_T_DUR_MS, 0, 0},
    {162, S4F_K_TIME, S4F_T_DUR_US, 0, 0},
    {210, SP_SKIP, 0, 0, 0},
    {302, 0, 0, S4F_R_SAMPLER_ID, 0},
    {305, 0, 0, S4F_R_PKT_INTERVAL, 0},
    {306, 0, 0, S4F_R_PKT_SPACE, 0},
    {309, 0, 0, S4F_R_SIZE, 0},
    {310, 0, 0, S4F_R_POPULATION, 0},
    {311, 0, 0, S4F_R_PROBABILITY, 0},
};

static const struct special *find_special(uint32_t pen, uint16_t id)
{
    if (pen == S4F_PEN_REVERSE) {
        /* Reverse counters (RFC 5103) are renormalised like the forward ones. */
        static const struct special rev = {0, 0, 0, 0, S4F_OPF_RENORM};
        switch (id) {
        case 1:
        case 2:
        case 19:
        case 20:
        case 23:
        case 24:
        case 85:
        case 86:
            return &rev;
        default:
            return NULL;
        }
    }
    if (pen != 0)
        return NULL;
    size_t lo = 0, hi = S4F_ARRAY_SIZE(specials);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (specials[mid].id == id)
            return &specials[mid];
        if (specials[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Upper bound of the JSON text of one value of this kind and fixed length. */
static uint32_t value_bound(uint8_t kind, uint32_t len)
{
    switch (kind) {
    case S4F_K_SKIP:
        return 0;
    case S4F_K_FLOAT:
        return 32;
    case S4F_K_MAC:
        return 19;
    case S4F_K_IPV4:
        return 17;
    case S4F_K_IPV6:
        return 48;
    case S4F_K_STRING:
        return 6 * len + 2;
    case S4F_K_HEX:
        return 2 * len + 4;
    default:
        return 24; /* integers, booleans, times */
    }
}

static uint8_t kind_for_type(int type, uint16_t len)
{
    bool fixed8 = len != S4F_VARLEN && len <= 8;
    switch (type) {
    case FB_UINT_8:
    case FB_UINT_16:
    case FB_UINT_32:
    case FB_UINT_64:
        return fixed8 ? S4F_K_UINT : S4F_K_HEX;
    case FB_INT_8:
    case FB_INT_16:
    case FB_INT_32:
    case FB_INT_64:
        return fixed8 ? S4F_K_INT : S4F_K_HEX;
    case FB_FLOAT_32:
    case FB_FLOAT_64:
        return len == 4 || len == 8 ? S4F_K_FLOAT : S4F_K_HEX;
    case FB_BOOL:
        return len == 1 ? S4F_K_BOOL : S4F_K_HEX;
    case FB_MAC_ADDR:
        return len == 6 ? S4F_K_MAC : S4F_K_HEX;
    case FB_STRING:
        return S4F_K_STRING;
    case FB_DT_SEC:
        return fixed8 ? S4F_K_DT_SEC : S4F_K_HEX;
    case FB_DT_MILSEC:
        return fixed8 ? S4F_K_DT_MS : S4F_K_HEX;
    case FB_DT_MICROSEC:
        return len == 8 ? S4F_K_DT_US : S4F_K_HEX;
    case FB_DT_NANOSEC:
        return len == 8 ? S4F_K_DT_NS : S4F_K_HEX;
    case FB_IP4_ADDR:
        return len == 4 ? S4F_K_IPV4 : S4F_K_HEX;
    case FB_IP6_ADDR:
        return len == 16 ? S4F_K_IPV6 : S4F_K_HEX;
    default:
        return S4F_K_HEX;
    }
}

/* Writes `,"<prefix><name>":` with the name restricted to [A-Za-z0-9_]. */
static size_t make_key(char *dst, const char *prefix, const char *name)
{
    size_t n = 0;
    dst[n++] = ',';
    dst[n++] = '"';
    for (const char *s = prefix; *s; s++)
        dst[n++] = *s;
    for (size_t i = 0; name[i] && i < NAME_MAX_LEN; i++) {
        char c = name[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        dst[n++] = ok ? c : '_';
    }
    dst[n++] = '"';
    dst[n++] = ':';
    return n;
}

static const char *v9_scope_name(uint16_t type)
{
    switch (type) {
    case 1:
        return "scopeSystem";
    case 2:
        return "scopeInterface";
    case 3:
        return "scopeLineCard";
    case 4:
        return "scopeCache";
    case 5:
        return "scopeTemplate";
    default:
        return NULL;
    }
}

#define KEY_MAX (2 + 8 + NAME_MAX_LEN + 2 + 1)

/* The keys of one template, to emit each key once. Open addressing over the key strings. */
#define KEYSET_SIZE (2 * S4F_MAX_FIELDS_LIMIT + 16)
struct keyset {
    const char *k[KEYSET_SIZE];
    uint16_t len[KEYSET_SIZE];
};

/* Derived keys the encoder adds itself; fields may not take them. */
static const char key_start[] = ",\"ipfix.flowStartMilliseconds\":";
static const char key_end[] = ",\"ipfix.flowEndMilliseconds\":";
static const char key_rate[] = ",\"s4f.sampling_interval\":";
static const char key_type[] = ",\"@type\":";
static const char key_etype[] = ",\"ipfix.engineType\":";
static const char key_eid[] = ",\"ipfix.engineId\":";
/* Keys the encoder adds unless the record has them. */
static const char key_exp4[] = ",\"ipfix.exporterIPv4Address\":";
static const char key_exp6[] = ",\"ipfix.exporterIPv6Address\":";
static const char key_dom[] = ",\"ipfix.observationDomainId\":";

static bool keyset_is(const char *k, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(k, lit, len) == 0;
}

/* Returns false if the key is already present. */
static bool keyset_add(struct keyset *ks, const char *k, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)k[i]) * 16777619u;
    for (uint32_t i = h % KEYSET_SIZE;; i = (i + 1) % KEYSET_SIZE) {
        if (!ks->k[i]) {
            ks->k[i] = k;
            ks->len[i] = (uint16_t)len;
            return true;
        }
        if (ks->len[i] == len && memcmp(ks->k[i], k, len) == 0)
            return false;
    }
}

static void keyset_init(struct keyset *ks, uint8_t version)
{
    static const char *const reserved[] = {key_start, key_end, key_rate, key_type};
    memset(ks, 0, sizeof(*ks));
    for (size_t i = 0; i < S4F_ARRAY_SIZE(reserved); i++)
        keyset_add(ks, reserved[i], strlen(reserved[i]));
    /* Only NetFlow v5 derives engineType/engineId from its header; v9 and IPFIX records carry
     * them as ordinary fields (38/39). */
    if (version == 5) {
        keyset_add(ks, key_etype, strlen(key_etype));
        keyset_add(ks, key_eid, strlen(key_eid));
    }
}

struct s4f_tpl *s4f_tpl_compile(struct s4f_decoder *dec, uint8_t version, bool options,
                                const struct s4f_fspec *f, uint16_t n, uint16_t scope_count,
                                const uint8_t *raw, uint32_t raw_len)
{
    struct s4f_tpl *t = calloc(1, sizeof(*t) + (size_t)n * sizeof(struct s4f_op));
    if (!t)
        return NULL;
    t->keys = malloc((size_t)n * KEY_MAX + 1);
    t->raw = malloc(raw_len ? raw_len : 1);
    if (!t->keys || !t->raw)
        goto fail;
    memcpy(t->raw, raw, raw_len);
    t->raw_len = raw_len;
    t->refcnt = 1;
    t->options = options;
    t->nops = n;
    t->scope_count = scope_count;
    t->expires_ms = INT64_MAX;

    struct keyset ks;
    keyset_init(&ks, version);

    size_t kpos = 0;
    uint32_t off = 0;
    for (uint16_t i = 0; i < n; i++) {
        struct s4f_op *op = &t->ops[i];
        const struct s4f_fspec *fs = &f[i];
        op->len = fs->len;
        op->off = (uint16_t)off;
        if (fs->len == S4F_VARLEN) {
            t->varlen = true;
            off += 1;
        } else {
            off += fs->len;
        }
        char *key = t->keys + kpos;
        char tmp[64];
        const char *name = NULL;
        const char *prefix = "ipfix.";
        int type = -1;
        const struct special *sp = NULL;

        if (version == 9 && options && i < scope_count) {
            name = v9_scope_name(fs->id);
            if (!name) {
                snprintf(tmp, sizeof(tmp), "scope%u", (unsigned)fs->id);
                name = tmp;
            }
            prefix = "s4f.";
            type = FB_UINT_64;
            if (fs->id == 2 && fs->len && fs->len <= 8)
                op->role = S4F_R_IFACE; /* sampling options per interface */
        } else {
            const fbInfoElement_t *ie =
                fbInfoModelGetElementByID((fbInfoModel_t *)dec->model, fs->id, fs->pen);
            if (ie && ie->ref.name) {
                name = ie->ref.name;
                type = ie->type;
            } else {
                snprintf(tmp, sizeof(tmp), "e%uid%u", (unsigned)fs->pen, (unsigned)fs->id);
                name = tmp;
            }
            sp = find_special(fs->pen, fs->id);
        }

        op->kind = type >= 0 ? kind_for_type(type, fs->len) : S4F_K_HEX;
        if (sp) {
            op->role = sp->role;
            op->flags = sp->flags;
            if (sp->kind == SP_SKIP) {
                op->kind = S4F_K_SKIP;
            } else if (sp->kind == S4F_K_TIME) {
                unsigned unit = sp->aux & 0x0f;
                bool ok = unit == S4F_T_NTP ? fs->len == 8 : fs->len != S4F_VARLEN && fs->len <= 8;
                if (ok) {
                    op->kind = S4F_K_TIME;
                    op->aux = sp->aux;
                }
            }
            if (op->kind != S4F_K_UINT)
                op->flags &= (uint8_t)~S4F_OPF_RENORM;
            /* Numeric roles need 1-8 bytes; the text roles take any length, options only. */
            bool text_role = op->role == S4F_R_IFNAME || op->role == S4F_R_IFDESC;
            if (op->role && !text_role && (fs->len == S4F_VARLEN || fs->len > 8))
                op->role = S4F_R_NONE;
            if (text_role && (!options || op->kind != S4F_K_STRING))
                op->role = S4F_R_NONE;
            if (op->kind != S4F_K_IPV4 && op->kind != S4F_K_IPV6)
                op->flags &= (uint8_t) ~(S4F_OPF_SRC | S4F_OPF_DST);
        }
        if (sp && sp->kind == S4F_K_TIME && op->kind != S4F_K_TIME)
            op->kind = S4F_K_SKIP; /* unusable length: would clash with the derived keys */
        if (fs->len == 0)
            op->kind = S4F_K_SKIP; /* empty field (seen in real v9 scope fields) */

        bool emit =
            op->kind != S4F_K_SKIP && (op->kind != S4F_K_TIME || (op->aux & 0x0f) >= S4F_T_DUR_MS);
        op->key = "";
        if (emit) {
            size_t kl = make_key(key, prefix, name);
            if (keyset_add(&ks, key, kl)) {
                op->key = key;
                op->key_len = (uint16_t)kl;
                kpos += kl;
                if (keyset_is(key, kl, key_exp4) || keyset_is(key, kl, key_exp6))
                    t->has_exporter_field = true;
                if (keyset_is(key, kl, key_dom))
                    t->has_domain_field = true;
            } else {
                /* Repeated element, or a name taken by another element or a derived key:
                 * only the first is emitted, so keys are never duplicated. */
                op->kind = S4F_K_SKIP;
            }
        }
        if (op->kind == S4F_K_SKIP) {
            op->role = S4F_R_NONE;
            op->flags = 0;
        }
        if (op->role)
            t->role_mask |= 1u << op->role;
        if (fs->len != S4F_VARLEN)
            t->out_bound += op->key_len + value_bound(op->kind, fs->len);
    }
    t->min_len = off;
    /* The keys were laid out in a worst-case buffer (n * KEY_MAX bytes); keep only what is used,
     * so that the memory budget counts real bytes. */
    char *keys = malloc(kpos ? kpos : 1);
    if (keys) {
        memcpy(keys, t->keys, kpos);
        for (uint16_t i = 0; i < n; i++)
            if (t->ops[i].key_len)
                t->ops[i].key = keys + (t->ops[i].key - t->keys);
        free(t->keys);
        t->keys = keys;
    }
    t->mem = s4f_msize(t) + s4f_msize(t->keys) + s4f_msize(t->raw);
    return t;
fail:
    free(t->keys);
    free(t->raw);
    free(t);
    return NULL;
}

void s4f_tpl_release(struct s4f_tpl *t)
{
    if (!t || --t->refcnt > 0)
        return;
    free(t->keys);
    free(t->raw);
    free(t);
}

static inline uint32_t tpl_bucket(const struct s4f_domain *d, uint16_t id)
{
    return ((uint32_t)id * 0x9E3779B1u >> 16) & d->tmask;
}

static void lru_remove(struct s4f_exporter *e, struct s4f_tpl *t)
{
    if (t->lru_prev)
        t->lru_prev->lru_next = t->lru_next;
    else
        e->tpl_head = t->lru_next;
    if (t->lru_next)
        t->lru_next->lru_prev = t->lru_prev;
    else
        e->tpl_tail = t->lru_prev;
    t->lru_prev = t->lru_next = NULL;
}

static void lru_push(struct s4f_exporter *e, struct s4f_tpl *t)
{
    t->lru_prev = NULL;
    t->lru_next = e->tpl_head;
    if (e->tpl_head)
        e->tpl_head->lru_prev = t;
    e->tpl_head = t;
    if (!e->tpl_tail)
        e->tpl_tail = t;
}

static void glru_remove(struct s4f_decoder *dec, struct s4f_tpl *t)
{
    if (t->glru_prev)
        t->glru_prev->glru_next = t->glru_next;
    else
        dec->gtpl_head = t->glru_next;
    if (t->glru_next)
        t->glru_next->glru_prev = t->glru_prev;
    else
        dec->gtpl_tail = t->glru_prev;
    t->glru_prev = t->glru_next = NULL;
}

static void glru_push(struct s4f_decoder *dec, struct s4f_tpl *t)
{
    t->glru_prev = NULL;
    t->glru_next = dec->gtpl_head;
    if (dec->gtpl_head)
        dec->gtpl_head->glru_prev = t;
    dec->gtpl_head = t;
    if (!dec->gtpl_tail)
        dec->gtpl_tail = t;
}

/* Marks a cached template used: front of its exporter's and the decoder's LRU lists. */
static void touch(struct s4f_decoder *dec, struct s4f_exporter *e, struct s4f_tpl *t)
{
    if (e->tpl_head != t) {
        lru_remove(e, t);
        lru_push(e, t);
    }
    if (dec->gtpl_head != t) {
        glru_remove(dec, t);
        glru_push(dec, t);
    }
}

void s4f_tpl_unlink(struct s4f_decoder *dec, struct s4f_tpl *t)
{
    struct s4f_domain *d = t->dom;
    if (!d)
        return;
    glru_remove(dec, t);
    dec->mem_used -= t->mem;
    struct s4f_tpl **pp = &d->tbl[tpl_bucket(d, t->id)];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = t->hnext;
    t->hnext = NULL;
    d->ntpl--;
    lru_remove(d->exp, t);
    d->exp->ntpl--;
    t->dom = NULL;
    s4f_tpl_release(t);
}

static struct s4f_tpl *find(struct s4f_domain *d, uint16_t id)
{
    if (!d->tbl)
        return NULL;
    for (struct s4f_tpl *t = d->tbl[tpl_bucket(d, id)]; t; t = t->hnext)
        if (t->id == id)
            return t;
    return NULL;
}

struct s4f_tpl *s4f_tpl_lookup(struct s4f_msg *m, uint16_t id)
{
    struct s4f_tpl *t = find(m->dom, id);
    if (!t)
        return NULL;
    if (t->expires_ms < m->now_ms) {
        m->dec->st.templates_expired++;
        s4f_tpl_unlink(m->dec, t);
        return NULL;
    }
    touch(m->dec, m->exp, t);
    return t;
}

static bool grow_table(struct s4f_decoder *dec, struct s4f_domain *d)
{
    uint32_t nb = d->tbl ? (d->tmask + 1) * 2 : 16;
    struct s4f_tpl **tbl = calloc(nb, sizeof(*tbl));
    if (!tbl)
        return false;
    uint32_t old = d->tbl ? d->tmask + 1 : 0;
    struct s4f_tpl **ot = d->tbl;
    d->tbl = tbl;
    d->tmask = nb - 1;
    for (uint32_t b = 0; b < old; b++) {
        for (struct s4f_tpl *t = ot[b], *nx; t; t = nx) {
            nx = t->hnext;
            uint32_t h = tpl_bucket(d, t->id);
            t->hnext = tbl[h];
            tbl[h] = t;
        }
    }
    dec->mem_used += s4f_msize(tbl);
    dec->mem_used -= s4f_msize(ot);
    free(ot);
    return true;
}

void s4f_tpl_announce(struct s4f_msg *m, uint16_t id, bool options, const struct s4f_fspec *f,
                      uint16_t n, uint16_t scope_count, const uint8_t *raw, uint32_t raw_len)
{
    struct s4f_decoder *dec = m->dec;
    struct s4f_domain *d = m->dom;
    struct s4f_exporter *e = m->exp;
    int64_t expires = e->tcp ? INT64_MAX : m->now_ms + (int64_t)dec->o.template_lifetime_s * 1000;
    struct s4f_tpl *old = find(d, id);
    if (old && old->options == options && old->raw_len == raw_len &&
        memcmp(old->raw, raw, raw_len) == 0) {
        old->expires_ms = expires;
        dec->st.templates_refreshed++;
        touch(dec, e, old);
        return;
    }
    if (old) {
        s4f_count_err(m, S4F_DR_TEMPLATE_CHANGED, "template id reused with another layout");
        s4f_tpl_unlink(dec, old);
    }
    if ((!d->tbl || d->ntpl >= 2 * (d->tmask + 1)) && !grow_table(dec, d) && !d->tbl) {
        s4f_count_err(m, S4F_DR_NO_MEMORY, "template table");
        return;
    }
    struct s4f_tpl *t = s4f_tpl_compile(dec, m->version, options, f, n, scope_count, raw, raw_len);
    if (!t) {
        s4f_count_err(m, S4F_DR_NO_MEMORY, "template");
        return;
    }
    while (e->ntpl >= dec->o.max_templates_per_exporter && e->tpl_tail) {
        dec->st.templates_evicted++;
        s4f_tpl_unlink(dec, e->tpl_tail);
    }
    t->id = id;
    t->dom = d;
    t->expires_ms = expires;
    uint32_t h = tpl_bucket(d, id);
    t->hnext = d->tbl[h];
    d->tbl[h] = t;
    d->ntpl++;
    e->ntpl++;
    lru_push(e, t);
    glru_push(dec, t);
    dec->mem_used += t->mem;
    dec->st.templates_added++;
    s4f_mem_enforce(dec, e);
}

void s4f_tpl_withdraw(struct s4f_msg *m, uint16_t id)
{
    struct s4f_tpl *t = find(m->dom, id);
    if (!t) {
        s4f_count_err(m, S4F_DR_WITHDRAW_UNKNOWN, "withdrawal of an unknown template");
        return;
    }
    m->dec->st.templates_withdrawn++;
    s4f_tpl_unlink(m->dec, t);
}

void s4f_tpl_withdraw_all(struct s4f_msg *m, bool options)
{
    struct s4f_domain *d = m->dom;
    if (!d->tbl)
        return;
    for (uint32_t b = 0; b <= d->tmask; b++) {
        for (struct s4f_tpl *t = d->tbl[b], *nx; t; t = nx) {
            nx = t->hnext;
            if (t->options == options) {
                m->dec->st.templates_withdrawn++;
                s4f_tpl_unlink(m->dec, t);
            }
        }
    }
}
