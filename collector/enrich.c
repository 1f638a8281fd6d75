/* The collector's GeoIP enrichment: see collector.h.
 *
 * Two databases at most (country, AS), each held as a struct geo_db (an open MMDB_s and the
 * identity of the file it came from). The data-path thread owns `cur`; a watcher thread stats
 * the files every check interval, opens a changed file aside (MMDB_open maps it and checks its
 * metadata, which takes milliseconds on a real database) and publishes it in `pending`. The data
 * path takes it with one atomic exchange before its next record and hands the old one back in
 * `retired`, which the watcher closes on its next round. The hot path therefore never waits
 * and takes no lock: one relaxed load per database per record.
 *
 * Lookups: the tree walk is libmaxminddb's; what a record's data offset decodes to (country
 * code, AS number and organisation, already in JSON form) is cached per database in a small
 * direct-mapped table keyed by that offset, since a real database has far fewer distinct
 * records than addresses. */
#include "collector.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { DB_COUNTRY, DB_ASN, DB__COUNT };
static const char *const db_names[DB__COUNT] = {"country", "asn"};

/* An AS organisation longer than this (in bytes of the database's text) is cut at a character
 * boundary: names are short, and a record must stay small whatever the file says. It is cut
 * further if its JSON form (escapes) would not fit VAL_MAX. */
#define ORG_MAX 96
/* A cached value in JSON form: a country `"CZ"`, or an AS `2852,"CESNET"` split in two; with
 * its two lengths an entry is two CPU cache lines. */
#define VAL_MAX     124
#define CACHE_SLOTS 8192
/* IPv4 /16s and /24s whose answer is known (the matching network, or the empty part of the
 * tree, covers all of it): most lookups of busy hosts, services and unrouted space end here,
 * without a tree walk. */
#define PREFIX_SLOTS   65536
#define PREFIX16_SLOTS 2048
/* A database larger than this is refused: real ones are tens of MB (GeoLite2-City about 70,
 * DB-IP's city lite about 130), and the collector holds a private copy of each (db_open). */
#define DB_MAX_BYTES ((off_t)1 << 30)

/* Which version of a file: a new file renamed over the path, or one rewritten, differs. */
struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct geo_db {
    MMDB_s mmdb;
};

struct cache_ent {
    uint16_t num_len, org_len; /* ASN: number text, then the organisation's JSON string */
    char val[VAL_MAX];         /* country: `"CZ"` (num_len bytes) */
};

struct prefix_ent {
    uint32_t tag;  /* (address >> 8) + 1; 0: empty */
    uint32_t off1; /* data offset + 1; 0: not in the database */
};

struct dbslot {
    const char *path; /* NULL: not configured */
    struct geo_db *cur;
    _Atomic(struct geo_db *) pending, retired;
    uint32_t *tags; /* the cache's keys apart from its values (a small array that stays in the
                     * CPU cache): data offset + 1, 0 empty */
    struct cache_ent *cache;
    struct prefix_ent *prefix, *prefix16;
    struct s4f_metric *m_reloads, *m_errors, *m_build;
    struct file_id tried; /* watcher: the version last opened (or refused): not tried again */
};

struct collector_enrich {
    struct dbslot db[DB__COUNT];
    unsigned fields;
    int64_t check_ms;
    s4f_record_cb next;
    void *next_ctx;
    char *buf;
    size_t cap;
    struct s4f_metric *m_enriched, *m_lookup_errors;
    pthread_t thr;
    bool thr_started;
    pthread_mutex_t mu; /* the watcher's sleep only (never taken by the data path) */
    pthread_cond_t cv;
    bool stop;
};

static void db_close(struct geo_db *g)
{
    if (!g)
        return;
    MMDB_close(&g->mmdb);
    free(g);
}

static struct file_id file_id_of(const struct stat *st)
{
    return (struct file_id){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
}

static bool same_file(const struct file_id *a, const struct file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* A private, sealed copy of the file at path (version st) in memory: its descriptor, or -1
 * (errno set; ESTALE when the file changed while it was read, so the next round tries again).
 * libmaxminddb maps the file it opens (MMDB_MODE_MMAP is its only mode), and a file truncated
 * or rewritten in place under that map (cp over it, an editor, an unfinished download) would
 * raise SIGBUS at the next lookup: the collector maps the copy, which nobody else can change.
 * The price is the file's size in memory (shared memory, in the collector's RSS). */
static int private_copy(const char *path, const struct stat *st)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int fd = -1, e = 0;
    struct stat a, b;
    struct file_id want = file_id_of(st), got;
    if (fstat(in, &a) != 0) {
        e = errno;
        goto out;
    }
    got = file_id_of(&a);
    if (!same_file(&got, &want)) {
        e = ESTALE;
        goto out;
    }
    if (a.st_size > DB_MAX_BYTES) {
        e = EFBIG;
        goto out;
    }
    fd = memfd_create("s4f-geoip", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        e = errno;
        goto out;
    }
    char buf[1 << 16];
    off_t done = 0;
    while (done < a.st_size) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* shrunk while read */
            e = n < 0 ? errno : ESTALE;
            goto out;
        }
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(fd, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                e = k < 0 ? errno : EIO;
                goto out;
            }
            w += k;
        }
        done += n;
    }
    /* Rewritten while it was read: the copy may mix two versions. */
    if (fstat(in, &b) != 0 || (got = file_id_of(&b), !same_file(&got, &want))) {
        e = ESTALE;
        goto out;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
        e = errno;
out:
    close(in);
    if (e && fd >= 0) {
        close(fd);
        fd = -1;
    }
    errno = e;
    return fd;
}

/* Opens the slot's file (whose version is st) aside; NULL if it is not a usable database
 * (logged, counted) or changed while it was read (tried again at the next round). */
static struct geo_db *db_open(struct dbslot *s, int kind, const struct stat *st)
{
    s->tried = file_id_of(st);
    int fd = private_copy(s->path, st);
    if (fd < 0) {
        if (errno == ESTALE) {
            memset(&s->tried, 0, sizeof(s->tried));
            return NULL;
        }
        s4f_error("geoip %s database %s: %s; the one in use (if any) stays", db_names[kind],
                  s->path, errno == EFBIG ? "larger than 1 GiB" : strerror(errno));
        s4f_metric_inc(s->m_errors);
        return NULL;
    }
    struct geo_db *g = calloc(1, sizeof(*g));
    if (!g) {
        close(fd);
        return NULL;
    }
    /* libmaxminddb opens by name: the copy's name in /proc. Its map outlives the descriptor. */
    char fdpath[64];
    snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
    int rc = MMDB_open(fdpath, MMDB_MODE_MMAP, &g->mmdb);
    close(fd);
    if (rc != MMDB_SUCCESS) {
        s4f_error("geoip %s database %s: %s%s%s; the one in use (if any) stays", db_names[kind],
                  s->path, MMDB_strerror(rc), rc == MMDB_IO_ERROR ? ": " : "",
                  rc == MMDB_IO_ERROR ? strerror(errno) : "");
        s4f_metric_inc(s->m_errors);
        free(g);
        return NULL;
    }
    const char *type = g->mmdb.metadata.database_type ? g->mmdb.metadata.database_type : "";
    bool fits = kind == DB_ASN ? strstr(type, "ASN") != NULL
                               : strstr(type, "Country") != NULL || strstr(type, "City") != NULL;
    s4f_info("geoip %s database %s: %s, built %llu, %llu nodes%s", db_names[kind], s->path, type,
             (unsigned long long)g->mmdb.metadata.build_epoch,
             (unsigned long long)g->mmdb.metadata.node_count,
             fits ? "" : " (its type does not look like one; fields it lacks stay absent)");
    return g;
}

/* One round of the watcher: closes what the data path gave back, opens changed files aside
 * and publishes them. */
static void watch_round(struct collector_enrich *e)
{
    for (int k = 0; k < DB__COUNT; k++) {
        struct dbslot *s = &e->db[k];
        if (!s->path)
            continue;
        db_close(atomic_exchange_explicit(&s->retired, NULL, memory_order_acquire));
        struct stat st;
        if (stat(s->path, &st) != 0 || !S_ISREG(st.st_mode))
            continue; /* gone or being replaced: keep what we have */
        struct file_id id = file_id_of(&st);
        if (same_file(&id, &s->tried))
            continue;
        struct geo_db *g = db_open(s, k, &st);
        if (!g)
            continue;
        /* A version published before and never taken (no traffic since) is replaced: the data
         * path never saw it, so it is ours to close. */
        db_close(atomic_exchange_explicit(&s->pending, g, memory_order_acq_rel));
        s4f_metric_inc(s->m_reloads);
    }
}

static void *watcher(void *arg)
{
    struct collector_enrich *e = arg;
    s4f_log_set_thread_name("geoip");
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += e->check_ms / 1000;
        ts.tv_nsec += (e->check_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        if (e->stop)
            break;
        pthread_mutex_unlock(&e->mu);
        watch_round(e);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

int collector_enrich_parse_fields(const struct s4f_strlist *l, unsigned *out, char *err,
                                  size_t errlen)
{
    static const char *const names[] = {"src_country", "dst_country", "src_as", "dst_as"};
    *out = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t j = 0;
        while (j < S4F_ARRAY_SIZE(names) && strcmp(l->v[i], names[j]) != 0)
            j++;
        if (j == S4F_ARRAY_SIZE(names)) {
            snprintf(err, errlen,
                     "geoip_fields: unknown field \"%s\" (src_country, dst_country, src_as, "
                     "dst_as)",
                     l->v[i]);
            return -1;
        }
        *out |= 1u << j;
    }
    return 0;
}

struct collector_enrich *collector_enrich_new(const struct collector_enrich_opts *o)
{
    struct collector_enrich *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->fields = o->fields;
    e->check_ms = o->check_interval_ms > 0 ? o->check_interval_ms : 60000;
    e->next = o->next;
    e->next_ctx = o->next_ctx;
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    const char *paths[DB__COUNT] = {o->country_db, o->asn_db};
    unsigned want[DB__COUNT] = {S4F_GEO_SRC_COUNTRY | S4F_GEO_DST_COUNTRY,
                                S4F_GEO_SRC_AS | S4F_GEO_DST_AS};
    for (int k = 0; k < DB__COUNT; k++) {
        struct dbslot *s = &e->db[k];
        if (!paths[k] || !*paths[k] || !(e->fields & want[k]))
            continue;
        s->path = paths[k];
        s->tags = calloc(CACHE_SLOTS, sizeof(*s->tags));
        s->cache = calloc(CACHE_SLOTS, sizeof(*s->cache));
        s->prefix = calloc(PREFIX_SLOTS, sizeof(*s->prefix));
        s->prefix16 = calloc(PREFIX16_SLOTS, sizeof(*s->prefix16));
        if (!s->tags || !s->cache || !s->prefix || !s->prefix16)
            goto fail;
        char lab[64];
        s4f_metrics_labels(lab, sizeof(lab), "database", db_names[k], NULL);
        s->m_reloads = s4f_metrics_counter(
            o->metrics, "geoip_loads_total",
            "GeoIP database files opened and handed to the data path, by database", lab);
        s->m_errors =
            s4f_metrics_counter(o->metrics, "geoip_load_errors_total",
                                "GeoIP database files that could not be opened, by database", lab);
        s->m_build = s4f_metrics_gauge(
            o->metrics, "geoip_database_build_epoch",
            "Build time (epoch s) of the GeoIP database in use, by database; 0: none", lab);
        struct stat st;
        if (stat(s->path, &st) != 0) {
            s4f_warn("geoip %s database %s: %s; its fields stay absent until the file appears",
                     db_names[k], s->path, strerror(errno));
            continue;
        }
        s->cur = db_open(s, k, &st);
        if (s->cur) {
            s4f_metric_inc(s->m_reloads);
            s4f_metric_set(s->m_build, (int64_t)s->cur->mmdb.metadata.build_epoch);
        }
    }
    e->m_enriched = s4f_metrics_counter(o->metrics, "geoip_records_total",
                                        "Flow records with at least one GeoIP field", NULL);
    e->m_lookup_errors =
        s4f_metrics_counter(o->metrics, "geoip_lookup_errors_total",
                            "GeoIP lookups that failed inside the database (corrupt file?)", NULL);
    if (e->db[DB_COUNTRY].path || e->db[DB_ASN].path) {
        if (pthread_create(&e->thr, NULL, watcher, e) != 0)
            goto fail;
        e->thr_started = true;
    }
    return e;
fail:
    collector_enrich_free(e);
    return NULL;
}

void collector_enrich_free(struct collector_enrich *e)
{
    if (!e)
        return;
    if (e->thr_started) {
        pthread_mutex_lock(&e->mu);
        e->stop = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thr, NULL);
    }
    for (int k = 0; k < DB__COUNT; k++) {
        struct dbslot *s = &e->db[k];
        db_close(s->cur);
        db_close(atomic_exchange(&s->pending, NULL));
        db_close(atomic_exchange(&s->retired, NULL));
        free(s->tags);
        free(s->cache);
        free(s->prefix);
        free(s->prefix16);
    }
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e->buf);
    free(e);
}

bool collector_enrich_active(const struct collector_enrich *e)
{
    return e && (e->db[DB_COUNTRY].path || e->db[DB_ASN].path);
}

/* Takes a newly published database, if any (data path). */
static inline void db_take(struct dbslot *s)
{
    if (!atomic_load_explicit(&s->pending, memory_order_relaxed))
        return;
    struct geo_db *g = atomic_exchange_explicit(&s->pending, NULL, memory_order_acquire);
    if (!g)
        return;
    struct geo_db *old = s->cur;
    s->cur = g;
    memset(s->tags, 0, CACHE_SLOTS * sizeof(*s->tags));
    memset(s->prefix, 0, PREFIX_SLOTS * sizeof(*s->prefix));
    memset(s->prefix16, 0, PREFIX16_SLOTS * sizeof(*s->prefix16));
    s4f_metric_set(s->m_build, (int64_t)g->mmdb.metadata.build_epoch);
    /* The watcher closes it; if it has not yet closed the one before (impossible within one
     * round, it publishes at most one per round), close that here. */
    db_close(atomic_exchange_explicit(&s->retired, old, memory_order_acq_rel));
}

/* Text of at most max bytes, cut at a UTF-8 character boundary. */
static size_t cut_utf8(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* The cache entry of addr in s, filled on a miss; NULL if the address is not in the
 * database or has none of the fields. */
static const struct cache_ent *lookup(struct collector_enrich *e, int kind, int family,
                                      const uint8_t *addr)
{
    struct dbslot *s = &e->db[kind];
    struct prefix_ent *pe = NULL, *pe16 = NULL;
    MMDB_entry_s entry = {.mmdb = &s->cur->mmdb};
    uint32_t tag = 0, tag16 = 0;
    if (family == AF_INET) {
        tag16 = ((uint32_t)addr[0] << 8 | addr[1]) + 1;
        pe16 = &s->prefix16[(tag16 * 2654435761u >> 12) % PREFIX16_SLOTS];
        tag = ((uint32_t)addr[0] << 16 | (uint32_t)addr[1] << 8 | addr[2]) + 1;
        pe = &s->prefix[(tag * 2654435761u >> 10) % PREFIX_SLOTS];
        const struct prefix_ent *hit = pe16->tag == tag16 ? pe16 : pe->tag == tag ? pe : NULL;
        if (hit) {
            if (!hit->off1)
                return NULL;
            entry.offset = hit->off1 - 1;
            goto have_entry;
        }
    }
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } sa;
    if (family == AF_INET) {
        memset(&sa.in, 0, sizeof(sa.in));
        sa.in.sin_family = AF_INET;
        memcpy(&sa.in.sin_addr, addr, 4);
    } else {
        memset(&sa.in6, 0, sizeof(sa.in6));
        sa.in6.sin6_family = AF_INET6;
        memcpy(&sa.in6.sin6_addr, addr, 16);
    }
    int mmdb_err = 0;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&s->cur->mmdb, &sa.sa, &mmdb_err);
    if (mmdb_err != MMDB_SUCCESS) {
        /* An IPv6 address in an IPv4-only database is not an error worth counting. */
        if (mmdb_err != MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
            s4f_metric_inc(e->m_lookup_errors);
        return NULL;
    }
    /* The answer holds for the whole /24 when the network found (or the empty subtree) is
     * no longer than that; an IPv4 address in an IPv6 tree may report its depth from the root
     * of the tree. */
    unsigned mask = r.netmask > 32 ? r.netmask - 96 : r.netmask;
    if (pe16 && mask <= 16) {
        pe16->tag = tag16;
        pe16->off1 = r.found_entry ? r.entry.offset + 1 : 0;
    } else if (pe && mask <= 24) {
        pe->tag = tag;
        pe->off1 = r.found_entry ? r.entry.offset + 1 : 0;
    }
    if (!r.found_entry)
        return NULL;
    entry.offset = r.entry.offset;
have_entry:;
    size_t slot = (entry.offset * 2654435761u >> 8) % CACHE_SLOTS;
    struct cache_ent *c = &s->cache[slot];
    if (s->tags[slot] == entry.offset + 1)
        return c->num_len ? c : NULL;
    s->tags[slot] = entry.offset + 1;
    c->num_len = c->org_len = 0;
    MMDB_entry_data_s d;
    if (kind == DB_COUNTRY) {
        if (MMDB_get_value(&entry, &d, "country", "iso_code", NULL) == MMDB_SUCCESS && d.has_data &&
            d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size > 0 && d.data_size <= 8) {
            char *end = s4f_json_string(c->val, (const uint8_t *)d.utf8_string, d.data_size);
            c->num_len = (uint16_t)(end - c->val);
        }
        return c->num_len ? c : NULL;
    }
    uint64_t asn = 0;
    bool have = false;
    if (MMDB_get_value(&entry, &d, "autonomous_system_number", NULL) == MMDB_SUCCESS &&
        d.has_data) {
        if (d.type == MMDB_DATA_TYPE_UINT32)
            asn = d.uint32, have = true;
        else if (d.type == MMDB_DATA_TYPE_UINT16)
            asn = d.uint16, have = true;
        else if (d.type == MMDB_DATA_TYPE_UINT64)
            asn = d.uint64, have = asn <= UINT32_MAX;
    }
    if (!have)
        return NULL;
    c->num_len = (uint16_t)snprintf(c->val, 16, "%llu", (unsigned long long)asn);
    if (MMDB_get_value(&entry, &d, "autonomous_system_organization", NULL) == MMDB_SUCCESS &&
        d.has_data && d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size > 0) {
        /* Escaped at full length aside, then cut until the JSON form fits. */
        char tmp[6 * ORG_MAX + 2];
        size_t room = VAL_MAX - c->num_len, n = cut_utf8(d.utf8_string, d.data_size, ORG_MAX);
        for (;;) {
            c->org_len = (uint16_t)(s4f_json_string(tmp, (const uint8_t *)d.utf8_string, n) - tmp);
            if (c->org_len <= room || n == 0)
                break;
            n = cut_utf8(d.utf8_string, n, n - 1); /* strictly shorter */
        }
        if (c->org_len > room)
            c->org_len = 0;
        memcpy(c->val + c->num_len, tmp, c->org_len);
    }
    return c;
}

#define PUT_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) += sizeof(lit) - 1)
#define PUT(p, s, n)    (memcpy((p), (s), (n)), (p) += (n))

/* Appends one side's fields at p. */
static char *put_side(struct collector_enrich *e, char *p, bool src, int family,
                      const uint8_t *addr)
{
    unsigned cf = src ? S4F_GEO_SRC_COUNTRY : S4F_GEO_DST_COUNTRY;
    unsigned af = src ? S4F_GEO_SRC_AS : S4F_GEO_DST_AS;
    if ((e->fields & cf) && e->db[DB_COUNTRY].cur) {
        const struct cache_ent *c = lookup(e, DB_COUNTRY, family, addr);
        if (c) {
            if (src)
                PUT_LIT(p, ",\"s4f.src_country\":");
            else
                PUT_LIT(p, ",\"s4f.dst_country\":");
            PUT(p, c->val, c->num_len);
        }
    }
    if ((e->fields & af) && e->db[DB_ASN].cur) {
        const struct cache_ent *c = lookup(e, DB_ASN, family, addr);
        if (c) {
            if (src)
                PUT_LIT(p, ",\"s4f.src_as\":");
            else
                PUT_LIT(p, ",\"s4f.dst_as\":");
            PUT(p, c->val, c->num_len);
            if (c->org_len) {
                if (src)
                    PUT_LIT(p, ",\"s4f.src_as_org\":");
                else
                    PUT_LIT(p, ",\"s4f.dst_as_org\":");
                PUT(p, c->val + c->num_len, c->org_len);
            }
        }
    }
    return p;
}

/* Room the fields of one side may take. */
#define SIDE_MAX (2 * 24 + 16 + 2 * VAL_MAX)

void collector_enrich_record(void *ctx, const struct s4f_flow_out *rec)
{
    struct collector_enrich *e = ctx;
    db_take(&e->db[DB_COUNTRY]);
    db_take(&e->db[DB_ASN]);
    bool any_db = e->db[DB_COUNTRY].cur || e->db[DB_ASN].cur;
    if (!any_db || rec->is_options || rec->json_len < 2 || rec->json[rec->json_len - 1] != '}' ||
        (!rec->src_family && !rec->dst_family)) {
        e->next(e->next_ctx, rec);
        return;
    }
    size_t need = rec->json_len + 2 * SIDE_MAX;
    if (need > e->cap) {
        size_t cap = need * 2;
        char *nb = realloc(e->buf, cap);
        if (!nb) {
            e->next(e->next_ctx, rec); /* unenriched rather than lost */
            return;
        }
        e->buf = nb;
        e->cap = cap;
    }
    char *p = e->buf;
    PUT(p, rec->json, rec->json_len - 1);
    char *fields = p;
    if (rec->src_family)
        p = put_side(e, p, true, rec->src_family, rec->src_addr);
    if (rec->dst_family)
        p = put_side(e, p, false, rec->dst_family, rec->dst_addr);
    if (p == fields) {
        e->next(e->next_ctx, rec);
        return;
    }
    *p++ = '}';
    s4f_metric_inc(e->m_enriched);
    struct s4f_flow_out o = *rec;
    o.json = e->buf;
    o.json_len = (size_t)(p - e->buf);
    /* The key's text pointed into the decoder's buffer, which is still valid and unchanged. */
    e->next(e->next_ctx, &o);
}
