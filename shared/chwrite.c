#include "chwrite.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "chstore.h"
#include "clock.h"
#include "fspool.h"
#include "probe_result.h"
#include "rollup.h"
#include "store.h"

#define CACHE_BUCKETS 65536     /* hash buckets of the page view cache (a power of 2) */
#define SMALL_ANSWER 4096       /* bytes of a count's answer, or of ClickHouse's error */

/* A metric value of a remembered page view. */
struct pv_metric {
    char *name, *mid;
    double value;
    long long received_ms;      /* when its first value came: the minute it is filed under */
};

/* A remembered page view: what SQLite's writer reads back from its pageviews and metrics
 * rows. */
struct pv_entry {
    struct pv_entry *hnext;             /* hash chain */
    struct pv_entry *prev, *next;       /* first in, first out */
    uint64_t hash;
    char *app, *version, *pv;
    long long received_ms;              /* the first beacon's */
    char *dims[ROLLUP_DIMS];            /* rollup_dims' values, NULL: none */
    int has_error;
    struct pv_metric *metrics;
    size_t nmetrics;
    unsigned long long saved;           /* the batch whose undo record holds a copy */
};

/* How to undo a batch's changes of the cache: an entry it created (copy NULL), or the
 * copy of an entry as it was before the batch changed it. */
struct undo {
    struct pv_entry *e, *copy;
};

struct cache {
    struct pv_entry *bucket[CACHE_BUCKETS];
    struct pv_entry *oldest, *newest;
    size_t n;
    struct undo *undo;
    size_t nundo, capundo;
    unsigned long long batch;           /* the open batch's number, from 1 */
};

struct chwrite {
    struct clickhouse *c;
    struct fspool *spool;
    unsigned long long spool_max;
    int need_init;
    struct rollup *rollup;
    struct buf raw[CHSTORE_RAW_TABLES];
    char batch_id[CHSTORE_BATCH_LEN + 1];
    long long nids;                     /* ids made in the open batch (batch_own_id) */
    struct cache *cache;
    int down;                           /* the latest send or replay failed */
    char reason[256];                   /* its error */
    double replay_after;                /* monotonic ms before which no replay starts */
    long long spooled, replayed;
    double retained_at, sized_at;       /* monotonic ms of the last retention, size */
    long long bytes;
};

/* --- the page view cache --------------------------------------------------------- */

static uint64_t pv_hash(const char *app, const char *version, const char *pv)
{
    /* FNV-1a over the three names with their NULs, so that ("ab", "c") and ("a", "bc")
     * differ. */
    uint64_t h = 1469598103934665603ULL;
    const char *f[3] = {app, version, pv};
    for (int k = 0; k < 3; k++)
        for (const unsigned char *c = (const unsigned char *)f[k];; c++) {
            h = (h ^ *c) * 1099511628211ULL;
            if (!*c)
                break;
        }
    return h;
}

static void entry_free_fields(struct pv_entry *e)
{
    free(e->app);
    free(e->version);
    free(e->pv);
    for (int d = 0; d < ROLLUP_DIMS; d++)
        free(e->dims[d]);
    for (size_t i = 0; i < e->nmetrics; i++) {
        free(e->metrics[i].name);
        free(e->metrics[i].mid);
    }
    free(e->metrics);
}

static void entry_free(struct pv_entry *e)
{
    if (e) {
        entry_free_fields(e);
        free(e);
    }
}

/* A deep copy of e's fields (not its links); NULL when out of memory. */
static struct pv_entry *entry_clone(const struct pv_entry *e)
{
    struct pv_entry *c = calloc(1, sizeof *c);
    int bad = !c;
    if (bad)
        return NULL;
    c->hash = e->hash;
    c->received_ms = e->received_ms;
    c->has_error = e->has_error;
    c->app = strdup(e->app);
    c->version = strdup(e->version);
    c->pv = strdup(e->pv);
    bad = !c->app || !c->version || !c->pv;
    for (int d = 0; d < ROLLUP_DIMS; d++)
        if (e->dims[d] && !(c->dims[d] = strdup(e->dims[d])))
            bad = 1;
    if (e->nmetrics && !(c->metrics = calloc(e->nmetrics, sizeof *c->metrics)))
        bad = 1;
    for (size_t i = 0; !bad && i < e->nmetrics; i++) {
        c->metrics[i] = e->metrics[i];
        c->metrics[i].name = strdup(e->metrics[i].name);
        c->metrics[i].mid = strdup(e->metrics[i].mid);
        c->nmetrics++;
        bad = !c->metrics[i].name || !c->metrics[i].mid;
    }
    if (bad) {
        entry_free(c);
        return NULL;
    }
    return c;
}

static struct pv_entry *cache_find(struct cache *k, const char *app, const char *version,
                                   const char *pv)
{
    uint64_t h = pv_hash(app, version, pv);
    for (struct pv_entry *e = k->bucket[h & (CACHE_BUCKETS - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->pv, pv) == 0 && strcmp(e->version, version) == 0
            && strcmp(e->app, app) == 0)
            return e;
    return NULL;
}

static int undo_push(struct cache *k, struct pv_entry *e, struct pv_entry *copy)
{
    if (k->nundo == k->capundo) {
        size_t cap = k->capundo ? 2 * k->capundo : 256;
        struct undo *u = realloc(k->undo, cap * sizeof *u);
        if (!u)
            return -1;
        k->undo = u;
        k->capundo = cap;
    }
    k->undo[k->nundo++] = (struct undo){e, copy};
    e->saved = k->batch;
    return 0;
}

/* Before the open batch changes e: keeps a copy for chwrite_rollback, once per batch. */
static int cache_save(struct cache *k, struct pv_entry *e)
{
    if (e->saved == k->batch)
        return 0;
    struct pv_entry *copy = entry_clone(e);
    if (!copy || undo_push(k, e, copy) < 0) {
        entry_free(copy);
        return -1;
    }
    return 0;
}

static void cache_unlink(struct cache *k, struct pv_entry *e)
{
    struct pv_entry **p = &k->bucket[e->hash & (CACHE_BUCKETS - 1)];
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        k->oldest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        k->newest = e->prev;
    k->n--;
}

/* A new entry for a page view first seen in the open batch, or NULL (out of memory). */
static struct pv_entry *cache_add(struct cache *k, const char *app, const char *version,
                                  const char *pv, long long received_ms,
                                  const char *const dims[ROLLUP_DIMS])
{
    struct pv_entry *e = calloc(1, sizeof *e);
    int bad = !e;
    if (bad)
        return NULL;
    e->hash = pv_hash(app, version, pv);
    e->received_ms = received_ms;
    e->app = strdup(app);
    e->version = strdup(version);
    e->pv = strdup(pv);
    bad = !e->app || !e->version || !e->pv;
    for (int d = 0; d < ROLLUP_DIMS; d++)
        if (dims[d] && !(e->dims[d] = strdup(dims[d])))
            bad = 1;
    if (bad || undo_push(k, e, NULL) < 0) {
        entry_free(e);
        return NULL;
    }
    struct pv_entry **b = &k->bucket[e->hash & (CACHE_BUCKETS - 1)];
    e->hnext = *b;
    *b = e;
    e->prev = k->newest;
    if (k->newest)
        k->newest->next = e;
    else
        k->oldest = e;
    k->newest = e;
    k->n++;
    return e;
}

/* The batch is over: its undo records go (rollback: applied first, newest first), and the
 * oldest entries past CHWRITE_PAGEVIEWS_MAX are forgotten. Entries are evicted only here,
 * so that an undo record never points to a freed entry. */
static void cache_end(struct cache *k, int rollback)
{
    for (size_t i = k->nundo; i-- > 0;) {
        struct pv_entry *e = k->undo[i].e, *copy = k->undo[i].copy;
        if (rollback && !copy) {
            cache_unlink(k, e);
            entry_free(e);
        } else if (rollback) {
            entry_free_fields(e);
            e->app = copy->app;
            e->version = copy->version;
            e->pv = copy->pv;
            memcpy(e->dims, copy->dims, sizeof e->dims);
            e->received_ms = copy->received_ms;
            e->has_error = copy->has_error;
            e->metrics = copy->metrics;
            e->nmetrics = copy->nmetrics;
            free(copy);
        } else {
            entry_free(copy);
        }
    }
    k->nundo = 0;
    while (k->n > CHWRITE_PAGEVIEWS_MAX) {
        struct pv_entry *e = k->oldest;
        cache_unlink(k, e);
        entry_free(e);
    }
}

static void cache_free(struct cache *k)
{
    if (!k)
        return;
    cache_end(k, 0);
    for (struct pv_entry *e = k->oldest, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    free(k->undo);
    free(k);
}

/* --- TabSeparated fields --------------------------------------------------------- */

/* Appends s (NULL as "") as a field, then sep. */
static int tsv_str(struct buf *b, const char *s, char sep)
{
    return clickhouse_tsv_field(b, s ? s : "") < 0 || buf_append(b, &sep, 1) < 0 ? -1 : 0;
}

static int tsv_json(struct buf *b, const json_t *v, char sep)
{
    return tsv_str(b, json_string_value(v), sep);
}

/* A JSON value (object, array) as compact text with sorted keys, as SQLite stores it. */
static int tsv_dump(struct buf *b, const json_t *v, char sep)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int rc = v && !text ? -1 : tsv_str(b, text, sep);
    free(text);
    return rc;
}

static int tsv_int(struct buf *b, long long v, char sep)
{
    return buf_printf(b, "%lld%c", v, sep);
}

static int tsv_num(struct buf *b, double v, char sep)
{
    return buf_printf(b, "%.17g%c", v, sep);
}

/* --- open, check, stats ---------------------------------------------------------- */

int chwrite_open(struct chwrite **out, struct clickhouse *c, const struct chwrite_opts *o,
                 char *err, size_t errlen)
{
    struct chwrite *w = calloc(1, sizeof *w);
    int rc = -1;

    *out = NULL;
    if (!w || !(w->rollup = rollup_new()) || !(w->cache = calloc(1, sizeof *w->cache))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    w->c = c;
    for (int i = 0; i < CHSTORE_RAW_TABLES; i++)
        buf_init(&w->raw[i], CHSTORE_BATCH_MAX);
    if (o->spool_dir) {
        struct fspool_opts so = {".batch", 0, o->spool_max_bytes, 0, 1, CHWRITE_RECORD_MAX};
        if (fspool_open(&w->spool, o->spool_dir, &so, err, errlen) < 0)
            goto out;
        w->spool_max = o->spool_max_bytes;
        /* A batch this process did not send may have been in flight when the one before
         * it stopped: its replay waits the request timeout, as after any failed send. */
        if (fspool_files(w->spool) > 0)
            w->replay_after = clock_mono_ms() + CLICKHOUSE_TIMEOUT_MS;
    }
    if (o->init && chstore_init(c, err, errlen) < 0) {
        /* Unreachable with a spool: the tables are made before the first write. */
        if (!(w->spool && clickhouse_unreachable(c)))
            goto out;
        w->need_init = 1;
    }
    *out = w;
    w = NULL;
    rc = 0;
out:
    chwrite_close(w);
    return rc;
}

void chwrite_close(struct chwrite *w)
{
    if (!w)
        return;
    fspool_close(w->spool);
    rollup_free(w->rollup);
    for (int i = 0; i < CHSTORE_RAW_TABLES; i++)
        buf_fini(&w->raw[i]);
    cache_free(w->cache);
    free(w);
}

/* The tables the collector writes and reads, all of chstore_ddl. */
#define TABLES_SQL                                                                          \
    "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN"     \
    " ('hist', 'counters', 'pageviews', 'metrics', 'errors', 'probe_runs', 'probe_journeys',"\
    " 'deployments', 'verdicts')"
#define TABLES_N 9

static void note_failure(struct chwrite *w, const char *why);

int chwrite_check(struct chwrite *w, char *err, size_t errlen)
{
    char *out = NULL;
    if (w->need_init && chstore_init(w->c, err, errlen) == 0)
        w->need_init = 0;
    if (clickhouse_query(w->c, TABLES_SQL, SMALL_ANSWER, &out, NULL, err, errlen) < 0) {
        if (!(w->spool && clickhouse_unreachable(w->c)))
            return -1;
        note_failure(w, err);
        return 1;
    }
    long long n = strtoll(out, NULL, 10);
    free(out);
    if (n != TABLES_N) {
        snprintf(err, errlen, "ClickHouse at %s has %lld of Vigil's %d tables: start the "
                 "collector once with --store-init to create them", clickhouse_name(w->c), n,
                 TABLES_N);
        return -1;
    }
    return 0;
}

int chwrite_spooled(const struct chwrite *w)
{
    return w->spool && fspool_files(w->spool) > 0;
}

void chwrite_stats(const struct chwrite *w, struct store_spool_stats *out)
{
    memset(out, 0, sizeof *out);
    out->degraded = w->down;
    snprintf(out->reason, sizeof out->reason, "%s", w->down ? w->reason : "");
    out->spooled_total = w->spooled;
    out->replayed_total = w->replayed;
    if (w->spool) {
        out->batches = (long long)fspool_files(w->spool);
        out->bytes = (long long)fspool_bytes(w->spool);
        out->set_aside_total = (long long)fspool_dropped(w->spool);
    }
}

/* A send or replay failed: ClickHouse is taken for down until a replay works, and no
 * replay starts within the request timeout (the failed INSERT may still commit). */
static void note_failure(struct chwrite *w, const char *why)
{
    snprintf(w->reason, sizeof w->reason, "%s", why);
    w->down = 1;
    w->replay_after = clock_mono_ms() + CLICKHOUSE_TIMEOUT_MS;
}

/* Creates the tables when --store-init could not at the start. 0 or -1 with err. */
static int init_if_needed(struct chwrite *w, char *err, size_t errlen)
{
    if (!w->need_init)
        return 0;
    if (chstore_init(w->c, err, errlen) < 0)
        return -1;
    w->need_init = 0;
    return 0;
}

/* --- beacons ----------------------------------------------------------------------- */

static void batch_reset(struct chwrite *w)
{
    rollup_clear(w->rollup);
    for (int i = 0; i < CHSTORE_RAW_TABLES; i++)
        buf_reset(&w->raw[i]);
    w->nids = 0;
}

#define OWN_ID_LEN (CHSTORE_BATCH_LEN + 24)

/* An id for a row that has none of its own (an error, or a page view or metric sent
 * without one): "#", the batch's id and a number, unique, and the same again when a
 * replay sends the batch. ('#' starts no id the beacon script makes.) */
static void batch_own_id(struct chwrite *w, char out[OWN_ID_LEN])
{
    snprintf(out, OWN_ID_LEN, "#%s-%lld", w->batch_id, ++w->nids);
}

int chwrite_begin(struct chwrite *w, char *err, size_t errlen)
{
    batch_reset(w);
    w->cache->batch++;
    return chstore_batch_id(w->batch_id, err, errlen);
}

static int no_room(const char *table, char *err, size_t errlen)
{
    snprintf(err, errlen, "a batch's %s rows pass %u bytes, or memory ran out: store fewer "
             "rows a batch (--batch-rows)", table, CHSTORE_BATCH_MAX);
    return -1;
}

static int no_memory(char *err, size_t errlen)
{
    snprintf(err, errlen, "adding to the rollups: out of memory");
    return -1;
}

/* The page view row of a beacon: the first beacon's time and slices (e), the rest this
 * beacon's, newest wins (ReplacingMergeTree(last_received_ms)). */
static int pageview_row(struct buf *o, const json_t *b, const struct beacon_meta *m,
                        const struct pv_entry *e)
{
    const json_t *ctx = json_object_get(b, "ctx"), *ts = json_object_get(b, "ts");
    const json_t *dpr = json_object_get(ctx, "dpr");
    return tsv_str(o, e->app, '\t') < 0 || tsv_str(o, e->pv, '\t') < 0
           || tsv_str(o, e->version, '\t') < 0
           || tsv_json(o, json_object_get(b, "session"), '\t') < 0
           || tsv_str(o, e->dims[5], '\t') < 0
           || tsv_json(o, json_object_get(b, "nav"), '\t') < 0
           || tsv_int(o, ts ? (long long)json_number_value(ts) : 0, '\t') < 0
           || tsv_int(o, e->received_ms / 1000, '\t') < 0
           || tsv_int(o, e->received_ms, '\t') < 0 || tsv_int(o, m->received_ms, '\t') < 0
           || tsv_str(o, e->dims[0], '\t') < 0 || tsv_int(o, m->browser_major, '\t') < 0
           || tsv_str(o, e->dims[1], '\t') < 0 || tsv_str(o, e->dims[2], '\t') < 0
           || tsv_str(o, e->dims[3], '\t') < 0 || tsv_str(o, e->dims[4], '\t') < 0
           || tsv_json(o, json_object_get(ctx, "device"), '\t') < 0
           || tsv_json(o, json_object_get(ctx, "viewport"), '\t') < 0
           || tsv_num(o, dpr ? json_number_value(dpr) : 0, '\t') < 0
           || tsv_dump(o, json_object_get(b, "attrs"), '\n') < 0
           ? -1 : 0;
}

/* The rollup point of a remembered page view. */
static void point_of(const struct pv_entry *e, long long received_ms, struct rollup_point *p)
{
    p->app = e->app;
    p->version = e->version;
    p->received_ms = received_ms;
    for (int d = 0; d < ROLLUP_DIMS; d++)
        p->dim[d] = e->dims[d];
}

/* One metric event: its raw row and its rollup delta; a value of a metric id the page
 * view had replaces it (store.c's insert_metric, from the cache). */
static int metric(struct chwrite *w, struct pv_entry *e, const json_t *ev,
                  const struct beacon_meta *m, char *err, size_t errlen)
{
    const char *name = json_string_value(json_object_get(ev, "name"));
    const char *mid = json_string_value(json_object_get(ev, "id"));
    char own[OWN_ID_LEN];
    double value = json_number_value(json_object_get(ev, "value"));
    struct pv_metric *old = NULL;
    struct rollup_point p;
    long long received = m->received_ms;
    struct buf *o = &w->raw[1];

    for (size_t i = 0; mid && i < e->nmetrics && !old; i++)
        if (strcmp(e->metrics[i].mid, mid) == 0 && strcmp(e->metrics[i].name, name) == 0)
            old = &e->metrics[i];
    if (old) {
        received = old->received_ms;
        point_of(e, received, &p);
        if (rollup_value(w->rollup, &p, name, old->value, -1) < 0
            || rollup_value(w->rollup, &p, name, value, 1) < 0)
            return no_memory(err, errlen);
        old->value = value;
    } else {
        point_of(e, received, &p);
        if (rollup_value(w->rollup, &p, name, value, 1) < 0)
            return no_memory(err, errlen);
        if (!mid) {
            /* Without an id a value is never updated: a row of its own. */
            batch_own_id(w, own);
            mid = own;
        } else if (e->nmetrics < CHWRITE_PV_METRICS_MAX) {
            struct pv_metric *more = realloc(e->metrics, (e->nmetrics + 1) * sizeof *more);
            if (!more)
                return no_memory(err, errlen);
            e->metrics = more;
            more[e->nmetrics] = (struct pv_metric){strdup(name), strdup(mid), value, received};
            if (!more[e->nmetrics].name || !more[e->nmetrics].mid) {
                free(more[e->nmetrics].name);
                free(more[e->nmetrics].mid);
                return no_memory(err, errlen);
            }
            e->nmetrics++;
        }
    }
    if (tsv_str(o, e->app, '\t') < 0 || tsv_str(o, e->version, '\t') < 0
        || tsv_str(o, name, '\t') < 0 || tsv_str(o, mid, '\t') < 0
        || tsv_str(o, e->pv, '\t') < 0 || tsv_num(o, value, '\t') < 0
        || tsv_json(o, json_object_get(ev, "rating"), '\t') < 0
        || tsv_int(o, received / 1000, '\t') < 0 || tsv_int(o, received, '\t') < 0
        || tsv_int(o, m->received_ms, '\t') < 0
        || tsv_dump(o, json_object_get(ev, "attribution"), '\n') < 0)
        return no_room("metrics", err, errlen);
    return 0;
}

/* One error event's raw row; its id is the batch's id and its number in the batch, the
 * same again when a replay sends the batch. */
static int error_row(struct chwrite *w, const struct pv_entry *e, const json_t *ev,
                     const struct beacon_meta *m, char *err, size_t errlen)
{
    char fp[33], eid[OWN_ID_LEN];
    const char *message = json_string_value(json_object_get(ev, "message"));
    const json_t *line = json_object_get(ev, "line"), *col = json_object_get(ev, "col");
    struct buf *o = &w->raw[2];

    store_error_fingerprint(e->app, message, json_string_value(json_object_get(ev, "stack")),
                            fp);
    batch_own_id(w, eid);
    if (tsv_str(o, e->app, '\t') < 0 || tsv_str(o, e->version, '\t') < 0
        || tsv_str(o, eid, '\t') < 0 || tsv_str(o, e->pv, '\t') < 0
        || tsv_str(o, fp, '\t') < 0 || tsv_str(o, message, '\t') < 0
        || tsv_json(o, json_object_get(ev, "source"), '\t') < 0
        || tsv_int(o, line ? json_integer_value(line) : 0, '\t') < 0
        || tsv_int(o, col ? json_integer_value(col) : 0, '\t') < 0
        || tsv_json(o, json_object_get(ev, "stack"), '\t') < 0
        || tsv_json(o, json_object_get(ev, "kind"), '\t') < 0
        || tsv_int(o, m->received_ms / 1000, '\t') < 0
        || tsv_int(o, m->received_ms, '\n') < 0)
        return no_room("errors", err, errlen);
    return 0;
}

int chwrite_beacon(struct chwrite *w, const json_t *b, const struct beacon_meta *m,
                   char *err, size_t errlen)
{
    const char *app = json_string_value(json_object_get(b, "app"));
    const char *version = json_string_value(json_object_get(b, "version"));
    const char *pv = json_string_value(json_object_get(b, "pv"));
    char own[OWN_ID_LEN];
    struct pv_entry *e;
    int rows = 1, errors = 0;
    struct rollup_point p;

    /* A beacon without a page view id is a page view of its own, as in SQLite (its NULL
     * is unique there). */
    if (!pv) {
        batch_own_id(w, own);
        pv = own;
    }
    e = cache_find(w->cache, app, version, pv);
    if (e && cache_save(w->cache, e) < 0)
        return no_memory(err, errlen);
    if (!e) {
        /* The slices of SQLite's row: the server's classes ("" is none) and the
         * beacon's connection and page. */
        const char *dims[ROLLUP_DIMS] = {
            *m->browser ? m->browser : NULL, *m->os ? m->os : NULL,
            *m->device ? m->device : NULL, *m->country ? m->country : NULL,
            json_string_value(json_object_get(json_object_get(b, "ctx"), "conn")),
            json_string_value(json_object_get(b, "page"))};
        if (!(e = cache_add(w->cache, app, version, pv, m->received_ms, dims)))
            return no_memory(err, errlen);
        point_of(e, e->received_ms, &p);
        if (rollup_views(w->rollup, &p, 1, 0) < 0)
            return no_memory(err, errlen);
    }
    if (pageview_row(&w->raw[0], b, m, e) < 0)
        return no_room("pageviews", err, errlen);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(b, "events"), i, ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (strcmp(type, "metric") == 0 ? metric(w, e, ev, m, err, errlen) < 0
                                        : error_row(w, e, ev, m, err, errlen) < 0)
            return -1;
        errors += strcmp(type, "metric") != 0;
        rows++;
    }
    if (errors && !e->has_error) {
        e->has_error = 1;
        point_of(e, e->received_ms, &p);
        if (rollup_views(w->rollup, &p, 0, 1) < 0)
            return no_memory(err, errlen);
    }
    return rows;
}

/* Puts batch b into the spool. 0, or -1 with a sentence for the client: it goes into a
 * beacon's 503, so it names neither a file nor ClickHouse's address (the log has those:
 * chwrite_stats' reason). */
static int spool_batch(struct chwrite *w, const struct chstore_batch *b, char *err,
                       size_t errlen)
{
    struct buf rec;
    char spool_err[512];
    int rc = -1;

    buf_init(&rec, 0);
    if (chstore_batch_encode(b, &rec) < 0) {
        snprintf(err, errlen, "ClickHouse did not take the batch, and it could not be "
                 "spooled (out of memory)");
    } else if (w->spool_max && fspool_bytes(w->spool) + rec.len > w->spool_max) {
        snprintf(err, errlen, "ClickHouse did not take the batch, and the spool is full: %llu "
                 "bytes wait for ClickHouse, and this batch's %zu would pass --spool-max-bytes "
                 "%llu: send again later", fspool_bytes(w->spool), rec.len, w->spool_max);
    } else if (fspool_add(w->spool, rec.data, rec.len, spool_err, sizeof spool_err) < 0) {
        snprintf(err, errlen, "ClickHouse did not take the batch, and the spool refused it "
                 "(its disk is full or not writable)");
    } else {
        w->spooled++;
        rc = 0;
    }
    buf_fini(&rec);
    return rc;
}

int chwrite_commit(struct chwrite *w, char *err, size_t errlen)
{
    struct chstore_batch b;
    char why[512];
    int rc = -1;

    if (chstore_batch_build(&b, w->batch_id, w->rollup, err, errlen) < 0)
        goto out;
    for (int i = 0; i < CHSTORE_RAW_TABLES; i++)
        if (chstore_batch_add_raw(&b, i, &w->raw[i], err, errlen) < 0)
            goto out;
    if (b.nparts == 0) {
        rc = 0;
        goto out;
    }
    /* While ClickHouse is down, a batch goes straight to the spool (behind the ones that
     * wait), instead of waiting for a connect timeout each. */
    if (!(w->spool && w->down)) {
        if (init_if_needed(w, why, sizeof why) == 0
            && chstore_batch_send(w->c, &b, 0, NULL, why, sizeof why) == 0) {
            rc = 0;
            goto out;
        }
        note_failure(w, why);
        if (!w->spool) {
            snprintf(err, errlen, "%s", why);
            goto out;
        }
    }
    rc = spool_batch(w, &b, err, errlen);
out:
    chstore_batch_fini(&b);
    batch_reset(w);
    cache_end(w->cache, rc < 0);
    return rc;
}

void chwrite_rollback(struct chwrite *w)
{
    batch_reset(w);
    cache_end(w->cache, 1);
}

int chwrite_replay(struct chwrite *w, int max, char *err, size_t errlen)
{
    int n = 0;
    if (clock_mono_ms() < w->replay_after || (!chwrite_spooled(w) && !w->down))
        return 0;
    /* Down with nothing spooled (no beacon came since): a cheap query says when it is up. */
    if (!chwrite_spooled(w)) {
        char *out = NULL;
        if (init_if_needed(w, err, errlen) < 0
            || clickhouse_query(w->c, "SELECT 1", SMALL_ANSWER, &out, NULL, err, errlen) < 0) {
            note_failure(w, err);
            return -1;
        }
        free(out);
        w->down = 0;
        return 0;
    }
    while (n < max) {
        char name[FSPOOL_NAME_MAX], *data = NULL;
        size_t len = 0;
        struct chstore_batch b;
        int got = fspool_oldest(w->spool, name, &data, &len, err, errlen);
        if (got <= 0)
            return got < 0 ? -1 : n;
        if (chstore_batch_decode(&b, data, len, err, errlen) < 0) {
            /* A record this version cannot read: moved aside (counted), not retried. */
            chstore_batch_fini(&b);
            free(data);
            if (fspool_set_aside(w->spool, name, err, errlen) < 0)
                return -1;
            continue;
        }
        free(data);
        int sent = init_if_needed(w, err, errlen) == 0
                   && chstore_batch_send(w->c, &b, 1, NULL, err, errlen) == 0;
        chstore_batch_fini(&b);
        if (!sent) {
            note_failure(w, err);
            return -1;
        }
        if (fspool_remove(w->spool, name, err, errlen) < 0)
            return -1;
        w->down = 0;
        w->replayed++;
        n++;
    }
    return n;
}

/* --- probe results, markers, verdicts -------------------------------------------- */

/* Inserts rows (TabSeparated) into "table (columns)"; 0 or -1 with err. */
static int insert(struct chwrite *w, const char *into, const struct buf *rows, char *err,
                  size_t errlen)
{
    if (!rows->data) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (init_if_needed(w, err, errlen) < 0)
        return -1;
    return clickhouse_insert(w->c, into, "TabSeparated", rows->data, rows->len, err, errlen);
}

/* A new random id (a batch id's form) for a marker or verdict row. */
static int row_id(char out[CHSTORE_BATCH_LEN + 1], char *err, size_t errlen)
{
    return chstore_batch_id(out, err, errlen);
}

int chwrite_probe_result(struct chwrite *w, const struct probe_result *r, long long received_ms,
                         int is_signed, const char *key_id, char *err, size_t errlen)
{
    struct buf q, rows;
    char *out = NULL, *doc = json_dumps(r->doc, JSON_COMPACT);
    int rc = -1, bad;

    buf_init(&q, 0);
    buf_init(&rows, 0);
    if (!doc || buf_puts(&q, "SELECT count() FROM probe_runs WHERE run_id = ") < 0
        || chstore_quote(&q, r->run_id) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (init_if_needed(w, err, errlen) < 0
        || clickhouse_query(w->c, q.data, SMALL_ANSWER, &out, NULL, err, errlen) < 0)
        goto out;
    if (strtoll(out, NULL, 10) > 0) {
        rc = 0;
        goto out;
    }
    /* The journeys first, the run last: a run row is there only when its journeys are,
     * so that the check above never skips a run whose journeys failed to go in (a retry
     * sends them again, and ReplacingMergeTree keeps one of each). */
    bad = 0;
    for (size_t i = 0; i < r->njourneys && !bad; i++) {
        const struct probe_result_journey *j = &r->journeys[i];
        char *failure = probe_result_failure(j);
        bad = tsv_str(&rows, r->run_id, '\t') < 0 || tsv_int(&rows, (long long)i, '\t') < 0
              || tsv_str(&rows, r->app, '\t') < 0 || tsv_str(&rows, r->version, '\t') < 0
              || tsv_str(&rows, r->region, '\t') < 0 || tsv_str(&rows, j->name, '\t') < 0
              || tsv_int(&rows, j->passed, '\t') < 0
              || tsv_int(&rows, j->started_ms / 1000, '\t') < 0
              || tsv_int(&rows, j->started_ms, '\t') < 0
              || tsv_str(&rows, j->failed ? j->failed->name : NULL, '\t') < 0
              || tsv_str(&rows, failure, '\t') < 0 || tsv_int(&rows, j->retried, '\t') < 0
              || tsv_int(&rows, is_signed ? 1 : 0, '\n') < 0;
        free(failure);
    }
    if (bad) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (r->njourneys && insert(w, "probe_journeys (run_id, idx, app, version, region, journey,"
                               " passed, started, started_ms, failed_step, failure, retried,"
                               " signed)", &rows, err, errlen) < 0)
        goto out;
    buf_reset(&rows);
    if (tsv_str(&rows, r->run_id, '\t') < 0 || tsv_str(&rows, r->app, '\t') < 0
        || tsv_str(&rows, r->version, '\t') < 0 || tsv_str(&rows, r->region, '\t') < 0
        || tsv_str(&rows, r->host, '\t') < 0 || tsv_int(&rows, r->passed, '\t') < 0
        || tsv_int(&rows, r->started_ms, '\t') < 0 || tsv_int(&rows, received_ms / 1000, '\t') < 0
        || tsv_str(&rows, is_signed ? key_id : NULL, '\t') < 0 || tsv_str(&rows, doc, '\n') < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (insert(w, "probe_runs (run_id, app, version, region, host, passed, started_ms,"
               " received, key_id, document)", &rows, err, errlen) < 0)
        goto out;
    rc = 1;
out:
    free(out);
    free(doc);
    buf_fini(&q);
    buf_fini(&rows);
    return rc;
}

int chwrite_deployment(struct chwrite *w, const json_t *d, long long received_ms, char *err,
                       size_t errlen)
{
    struct buf rows;
    char did[CHSTORE_BATCH_LEN + 1];
    long long ts = (long long)json_number_value(json_object_get(d, "ts"));
    const json_t *weight = json_object_get(d, "weight");
    int rc = -1;

    if (row_id(did, err, errlen) < 0)
        return -1;
    buf_init(&rows, 0);
    if (tsv_json(&rows, json_object_get(d, "app"), '\t') < 0
        || tsv_json(&rows, json_object_get(d, "version"), '\t') < 0
        || tsv_str(&rows, did, '\t') < 0
        || tsv_json(&rows, json_object_get(d, "baseline"), '\t') < 0
        || tsv_json(&rows, json_object_get(d, "stage"), '\t') < 0
        || tsv_int(&rows, ts / 1000, '\t') < 0 || tsv_int(&rows, ts, '\t') < 0
        || tsv_json(&rows, json_object_get(d, "note"), '\t') < 0
        || tsv_int(&rows, received_ms, '\t') < 0
        /* \N is TabSeparated's NULL: a marker without a weight. */
        || (json_is_number(weight) ? tsv_num(&rows, json_number_value(weight), '\n')
                                   : buf_puts(&rows, "\\N\n")) < 0)
        snprintf(err, errlen, "out of memory");
    else
        rc = insert(w, "deployments (app, version, did, baseline, stage, ts, ts_ms, note,"
                    " received_ms, weight)", &rows, err, errlen);
    buf_fini(&rows);
    return rc;
}

int chwrite_verdict(struct chwrite *w, const char *app, const char *baseline,
                    const char *canary, const json_t *verdict, long long ts,
                    long long window_start, long long nbase, long long ncanary, char *err,
                    size_t errlen)
{
    struct buf rows;
    char vid[CHSTORE_BATCH_LEN + 1];
    char *text = json_dumps(verdict, JSON_COMPACT);
    int rc = -1;

    buf_init(&rows, 0);
    if (!text || row_id(vid, err, errlen) < 0)
        goto out;
    if (tsv_str(&rows, app, '\t') < 0 || tsv_str(&rows, vid, '\t') < 0
        || tsv_str(&rows, baseline, '\t') < 0 || tsv_str(&rows, canary, '\t') < 0
        || tsv_json(&rows, json_object_get(verdict, "policy"), '\t') < 0
        || tsv_json(&rows, json_object_get(verdict, "method"), '\t') < 0
        || tsv_json(&rows, json_object_get(verdict, "decision"), '\t') < 0
        || tsv_int(&rows, ts / 1000, '\t') < 0 || tsv_int(&rows, ts, '\t') < 0
        || tsv_int(&rows, window_start, '\t') < 0 || tsv_int(&rows, nbase, '\t') < 0
        || tsv_int(&rows, ncanary, '\t') < 0 || tsv_str(&rows, text, '\n') < 0)
        goto out;
    rc = insert(w, "verdicts (app, vid, baseline, canary, policy, method, decision, ts, ts_ms,"
                " window_start_ms, n_baseline, n_canary, result)", &rows, err, errlen);
out:
    if (rc < 0 && !text)
        snprintf(err, errlen, "out of memory");
    free(text);
    buf_fini(&rows);
    return rc;
}

/* --- retention and size ---------------------------------------------------------- */

/* The tables retention looks at: partitioned by day (YYYYMMDD) or month (YYYYMM), and
 * kept for the raw rows' time or the rollups'. Deployment markers are kept, as in
 * SQLite. */
static const struct {
    const char *table;
    int monthly, rollup;
} retained[] = {
    {"pageviews", 0, 0}, {"metrics", 0, 0}, {"errors", 0, 0}, {"probe_runs", 1, 0},
    {"probe_journeys", 1, 0}, {"hist", 0, 1}, {"counters", 0, 1}, {"verdicts", 1, 1},
};

/* The end (Unix ms, exclusive) of partition id of a daily or monthly table; -1 when id is
 * not one. */
static long long partition_end(const char *id, int monthly)
{
    char *end;
    long long v = strtoll(id, &end, 10);
    struct tm tm;
    if (*end || end == id)
        return -1;
    memset(&tm, 0, sizeof tm);
    if (monthly) {
        tm.tm_year = (int)(v / 100) - 1900;
        tm.tm_mon = (int)(v % 100);         /* the next month; timegm normalises month 12 */
        tm.tm_mday = 1;
    } else {
        tm.tm_year = (int)(v / 10000) - 1900;
        tm.tm_mon = (int)(v / 100 % 100) - 1;
        tm.tm_mday = (int)(v % 100) + 1;    /* the next day */
    }
    return (long long)timegm(&tm) * 1000;
}

long long chwrite_retain(struct chwrite *w, long long now_ms, long long raw_ms,
                         long long rollup_ms, char *err, size_t errlen)
{
    json_t *rows = NULL;
    long long dropped = 0;
    double now = clock_mono_ms();

    if ((raw_ms <= 0 && rollup_ms <= 0)
        || (w->retained_at > 0 && now - w->retained_at < CHWRITE_RETAIN_EVERY_MS))
        return 0;
    w->retained_at = now;
    if (clickhouse_query_json(w->c, "SELECT table, partition_id AS id FROM system.parts"
                              " WHERE database = currentDatabase() AND active"
                              " GROUP BY table, partition_id", 100000, &rows, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *row = json_array_get(rows, i);
        const char *table = json_string_value(json_object_get(row, "table"));
        const char *id = json_string_value(json_object_get(row, "id"));
        for (size_t k = 0; table && id && k < sizeof retained / sizeof *retained; k++) {
            long long keep = retained[k].rollup ? rollup_ms : raw_ms;
            long long until = partition_end(id, retained[k].monthly);
            if (strcmp(table, retained[k].table) != 0 || keep <= 0 || until < 0
                || until > now_ms - keep)
                continue;
            char sql[256];
            snprintf(sql, sizeof sql, "ALTER TABLE %s DROP PARTITION ID '%s'", table, id);
            if (strspn(id, "0123456789") != strlen(id)
                || clickhouse_exec(w->c, sql, err, errlen) < 0) {
                json_decref(rows);
                return -1;
            }
            dropped++;
        }
    }
    json_decref(rows);
    return dropped;
}

long long chwrite_bytes(struct chwrite *w)
{
    char err[256], *out = NULL;
    double now = clock_mono_ms();
    if (w->sized_at > 0 && now - w->sized_at < CHWRITE_BYTES_EVERY_MS)
        return w->bytes;
    w->sized_at = now;
    if (clickhouse_query(w->c, "SELECT sum(bytes_on_disk) FROM system.parts WHERE"
                         " database = currentDatabase() AND active", SMALL_ANSWER, &out, NULL, err,
                         sizeof err) == 0)
        w->bytes = strtoll(out, NULL, 10);
    free(out);
    return w->bytes;
}
