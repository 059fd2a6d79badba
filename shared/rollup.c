#include "rollup.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

const char *const rollup_dims[ROLLUP_DIMS] = {"browser", "os", "device", "country", "conn",
                                              "page"};

/* One pending row: its key fields packed in one allocation, and the deltas. */
struct entry {
    char *app, *version, *metric, *dim, *key;   /* point into text */
    char *text;
    long long minute, n, hits;
    struct sketch sk;
    int has_sketch;
    int dirty;                  /* has a delta since the last flush */
    uint64_t hash;
};

/* Entries outlive a flush, their deltas cleared, so that the next transaction, which
 * mostly files under the same keys (this minute's), allocates nothing: allocating and
 * freeing them per batch cost the writer a fifth of its time in malloc and in the
 * kernel's madvise (perf, scripts/bench-collector). An entry that stays clean through a
 * whole flush is dropped when the table is rebuilt. */
enum { Q_ADD, Q_PAGES, Q_PUT, Q_N };

struct rollup {
    struct entry **slots;       /* open addressing, a power of two */
    size_t cap, used;
    size_t dirty;               /* entries with a delta */
    sqlite3 *db;                /* the connection q was prepared on */
    sqlite3_stmt *q[Q_N];
};

struct rollup *rollup_new(void)
{
    struct rollup *r = calloc(1, sizeof *r);
    if (r && !(r->slots = calloc(r->cap = 1024, sizeof *r->slots))) {
        free(r);
        return NULL;
    }
    return r;
}

static void entry_free(struct entry *e)
{
    if (!e)
        return;
    sketch_fini(&e->sk);
    free(e->text);
    free(e);
}

static void entry_clear(struct entry *e)
{
    sketch_clear(&e->sk);
    e->n = e->hits = 0;
    e->has_sketch = 0;
    e->dirty = 0;
}

void rollup_clear(struct rollup *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->cap; i++)
        if (r->slots[i])
            entry_clear(r->slots[i]);
    r->dirty = 0;
}

static void finalize(struct rollup *r)
{
    for (int i = 0; i < Q_N; i++) {
        sqlite3_finalize(r->q[i]);
        r->q[i] = NULL;
    }
    r->db = NULL;
}

void rollup_free(struct rollup *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->cap; i++)
        entry_free(r->slots[i]);
    finalize(r);
    free(r->slots);
    free(r);
}

size_t rollup_pending(const struct rollup *r)
{
    return r->dirty;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;
}

static int grow(struct rollup *r)
{
    size_t cap = r->cap * 2;
    struct entry **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < r->cap; i++) {
        struct entry *e = r->slots[i];
        if (!e)
            continue;
        size_t k = (size_t)e->hash & (cap - 1);
        while (slots[k])
            k = (k + 1) & (cap - 1);
        slots[k] = e;
    }
    free(r->slots);
    r->slots = slots;
    r->cap = cap;
    return 0;
}

/* The pending row for the key, created empty if new; NULL when out of memory. */
static struct entry *slot(struct rollup *r, const char *app, const char *version,
                          const char *metric, const char *dim, long long minute,
                          const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    h = fnv(fnv(fnv(fnv(fnv(h, app), version), metric), dim), key);
    h = (h ^ (uint64_t)minute) * 1099511628211ULL;
    if (2 * (r->used + 1) > r->cap && grow(r) < 0)
        return NULL;
    size_t k = (size_t)h & (r->cap - 1);
    for (struct entry *e; (e = r->slots[k]); k = (k + 1) & (r->cap - 1))
        if (e->hash == h && e->minute == minute && strcmp(e->app, app) == 0
            && strcmp(e->version, version) == 0 && strcmp(e->metric, metric) == 0
            && strcmp(e->dim, dim) == 0 && strcmp(e->key, key) == 0) {
            r->dirty += !e->dirty;
            e->dirty = 1;
            return e;
        }
    struct entry *e = calloc(1, sizeof *e);
    size_t la = strlen(app) + 1, lv = strlen(version) + 1, lm = strlen(metric) + 1;
    size_t ld = strlen(dim) + 1, lk = strlen(key) + 1;
    if (!e || !(e->text = malloc(la + lv + lm + ld + lk))) {
        free(e);
        return NULL;
    }
    e->app = memcpy(e->text, app, la);
    e->version = memcpy(e->app + la, version, lv);
    e->metric = memcpy(e->version + lv, metric, lm);
    e->dim = memcpy(e->metric + lm, dim, ld);
    e->key = memcpy(e->dim + ld, key, lk);
    e->minute = minute;
    e->hash = h;
    e->dirty = 1;
    sketch_init(&e->sk);
    r->slots[k] = e;
    r->used++;
    r->dirty++;
    return e;
}

/* Applies fn's delta to the whole version's row and to each slice's row. */
static int each_row(struct rollup *r, const struct rollup_point *p, const char *metric,
                    int (*fn)(struct entry *e, const void *arg), const void *arg)
{
    long long minute = p->received_ms / ROLLUP_MINUTE_MS;
    struct entry *e = slot(r, p->app, p->version, metric, "", minute, "");
    if (!e || fn(e, arg) < 0)
        return -1;
    for (int d = 0; d < ROLLUP_DIMS; d++) {
        const char *key = p->dim[d] && *p->dim[d] ? p->dim[d] : ROLLUP_NONE;
        if (!(e = slot(r, p->app, p->version, metric, rollup_dims[d], minute, key))
            || fn(e, arg) < 0)
            return -1;
    }
    return 0;
}

struct value_delta {
    int bucket;                 /* the value's, found once for all its rows */
    long long count;
};

static int add_value(struct entry *e, const void *arg)
{
    const struct value_delta *d = arg;
    if (sketch_add_bucket(&e->sk, d->bucket, d->count) < 0)
        return -1;
    e->has_sketch = 1;
    e->n += d->count;
    return 0;
}

int rollup_value(struct rollup *r, const struct rollup_point *p, const char *metric,
                 double v, long long count)
{
    struct value_delta d = {sketch_bucket(v), count};
    /* Refuse before touching any row, so that a bad value changes nothing. */
    if (d.bucket == SKETCH_BAD_BUCKET)
        return -1;
    return each_row(r, p, metric, add_value, &d);
}

static int add_views(struct entry *e, const void *arg)
{
    const long long *d = arg;
    e->n += d[0];
    e->hits += d[1];
    return 0;
}

int rollup_views(struct rollup *r, const struct rollup_point *p, long long views,
                 long long hits)
{
    long long d[2] = {views, hits};
    return each_row(r, p, ROLLUP_ERRORS, add_views, d);
}

/* Pages first, most page views or values first, so that the busiest pages of a flush
 * take the free page rows of their minute. */
static int by_weight(const void *a, const void *b)
{
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    int px = strcmp(x->dim, "page") == 0, py = strcmp(y->dim, "page") == 0;
    if (px != py)
        return py - px;
    return (y->n > x->n) - (y->n < x->n);
}

/* A delta is added to its row in SQL, so that a row is found once: Q_ADD adds to a row
 * that exists (for pages, which must know), Q_PUT adds or inserts. Counts never go below
 * zero. Since schema version 5 a page view's slices never change, so a replaced value
 * leaves the very row it went into; a page view stored before that may have gained a page
 * or a connection type after its value was filed, and a slice's count stays a count. */
#define ROLLUP_ADD_SET                                                                     \
    "n = max(0, n + ?7), hits = max(0, hits + ?8), sketch = vigil_sketch_add(sketch, ?9)"
static const char *const flush_sql[Q_N] = {
    "UPDATE rollups SET " ROLLUP_ADD_SET " WHERE app = ?1 AND version = ?2 AND metric = ?3"
    " AND dim = ?4 AND minute = ?5 AND key = ?6",
    "SELECT count(*) FROM rollups WHERE app = ?1 AND version = ?2 AND metric = ?3"
    " AND dim = ?4 AND minute = ?5",
    "INSERT INTO rollups (app, version, metric, dim, minute, key, n, hits, sketch)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, max(0, ?7), max(0, ?8), vigil_sketch_add(NULL, ?9))"
    " ON CONFLICT (app, version, metric, dim, minute, key) DO UPDATE SET " ROLLUP_ADD_SET,
};

/* vigil_sketch_add(stored, delta): the stored sketch blob (or NULL) plus a delta's, with
 * no count below zero, encoded; NULL when both are NULL. */
static void sql_sketch_add(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct sketch sk;
    char err[128];
    unsigned char *blob = NULL;
    size_t len = 0;

    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL && sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    sketch_init(&sk);
    for (int i = 0; i < 2; i++) {
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
            continue;
        if (sketch_merge_blob(&sk, sqlite3_value_blob(argv[i]),
                              (size_t)sqlite3_value_bytes(argv[i]), err, sizeof err) < 0) {
            sketch_fini(&sk);
            sqlite3_result_error(ctx, err, -1);
            return;
        }
    }
    long long total = sk.zeros < 0 ? (sk.zeros = 0) : sk.zeros;
    for (size_t k = 0; k < sk.len; k++) {
        if (sk.counts[k] < 0)
            sk.counts[k] = 0;
        total += sk.counts[k];
    }
    sk.n = total;
    if (sketch_encode(&sk, &blob, &len) < 0)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_blob(ctx, blob, (int)len, free);
    sketch_fini(&sk);
}

static void bind_entry(sqlite3_stmt *q, const struct entry *e, const char *key,
                       const unsigned char *blob, size_t blen)
{
    sqlite3_bind_text(q, 1, e->app, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, e->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, e->metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, e->dim, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, e->minute);
    if (sqlite3_bind_parameter_count(q) < 6)
        return;
    sqlite3_bind_text(q, 6, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 7, e->n);
    sqlite3_bind_int64(q, 8, e->hits);
    if (blob)
        sqlite3_bind_blob(q, 9, blob, (int)blen, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 9);
}

/* Steps q once and resets it; the result code of the step. */
static int step_once(sqlite3_stmt *q, long long *first_column)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && first_column)
        *first_column = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc;
}

static int write_entry(sqlite3_stmt **q, struct entry *e, char *err, size_t errlen)
{
    const char *key = e->key;
    unsigned char *blob = NULL;
    size_t blen = 0;
    int rc = -1;

    if (e->has_sketch && sketch_encode(&e->sk, &blob, &blen) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* A new page of a minute that has its share of pages counts under "(other)". */
    if (strcmp(e->dim, "page") == 0 && strcmp(key, ROLLUP_OTHER) != 0) {
        long long pages = 0;
        bind_entry(q[Q_ADD], e, key, blob, blen);
        if (step_once(q[Q_ADD], NULL) != SQLITE_DONE)
            goto db;
        if (sqlite3_changes(sqlite3_db_handle(q[Q_ADD])) == 1) {
            rc = 0;
            goto out;
        }
        bind_entry(q[Q_PAGES], e, NULL, NULL, 0);
        if (step_once(q[Q_PAGES], &pages) != SQLITE_ROW)
            goto db;
        if (pages >= ROLLUP_PAGES_MAX - 1)
            key = ROLLUP_OTHER;
    }
    bind_entry(q[Q_PUT], e, key, blob, blen);
    if (step_once(q[Q_PUT], NULL) != SQLITE_DONE)
        goto db;
    rc = 0;
    goto out;
db:
    snprintf(err, errlen, "writing rollups: %s", sqlite3_errmsg(sqlite3_db_handle(q[Q_PUT])));
out:
    free(blob);
    return rc;
}

int rollup_add_row(struct rollup *r, const struct rollup_row *row)
{
    struct entry *e = slot(r, row->app, row->version, row->metric, row->dim, row->minute,
                           row->key);
    if (!e || (row->sk && sketch_merge(&e->sk, row->sk) < 0))
        return -1;
    e->has_sketch |= row->sk != NULL;
    e->n += row->n;
    e->hits += row->hits;
    return 0;
}

int rollup_each(const struct rollup *r, int (*fn)(const struct rollup_row *row, void *arg),
                void *arg)
{
    for (size_t i = 0; i < r->cap; i++) {
        const struct entry *e = r->slots[i];
        if (!e || !e->dirty)
            continue;
        struct rollup_row row = {e->app, e->version, e->metric, e->dim, e->key, e->minute,
                                 e->n, e->hits, e->has_sketch ? &e->sk : NULL};
        int rc = fn(&row, arg);
        if (rc)
            return rc;
    }
    return 0;
}

/* Drops the entries that no transaction touched since the last flush. */
static int compact(struct rollup *r)
{
    struct entry **slots = calloc(r->cap, sizeof *slots);
    if (!slots)
        return -1;
    r->used = 0;
    for (size_t i = 0; i < r->cap; i++) {
        struct entry *e = r->slots[i];
        if (!e)
            continue;
        if (!e->dirty) {
            entry_free(e);
            continue;
        }
        size_t k = (size_t)e->hash & (r->cap - 1);
        while (slots[k])
            k = (k + 1) & (r->cap - 1);
        slots[k] = e;
        r->used++;
    }
    free(r->slots);
    r->slots = slots;
    return 0;
}

int rollup_flush(struct rollup *r, sqlite3 *db, char *err, size_t errlen)
{
    struct entry **list = NULL;
    size_t n = 0;
    int rc = -1;

    if (r->dirty == 0)
        return 0;
    if (r->db != db) {
        finalize(r);
        if (sqlite3_create_function(db, "vigil_sketch_add", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                    NULL, sql_sketch_add, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "writing rollups: %s", sqlite3_errmsg(db));
            goto out;
        }
    }
    for (int i = 0; i < Q_N && !r->q[i]; i++) {
        if (sqlite3_prepare_v3(db, flush_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &r->q[i], NULL)
            != SQLITE_OK) {
            snprintf(err, errlen, "writing rollups: %s", sqlite3_errmsg(db));
            finalize(r);
            goto out;
        }
        r->db = db;
    }
    if (!(list = malloc(r->dirty * sizeof *list))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->cap; i++)
        if (r->slots[i] && r->slots[i]->dirty)
            list[n++] = r->slots[i];
    qsort(list, n, sizeof *list, by_weight);
    for (size_t i = 0; i < n; i++)
        if (write_entry(r->q, list[i], err, errlen) < 0)
            goto out;
    rc = 0;
out:
    free(list);
    /* Half the table idle: rebuild it with the entries this flush wrote. */
    if (rc == 0 && 2 * r->dirty < r->used && compact(r) < 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    rollup_clear(r);
    return rc;
}

/* The group a row of time t or value key goes to: the last one when the same, else a new
 * one; past STORE_GROUPS_MAX values of a dimension, "(other)" (an existing "(other)", else
 * the last group renamed). Shared by store_rollup_groups and chstore_rollup_groups, so
 * that both stores fold alike. NULL when out of memory. */
struct store_group *rollup_group_of(struct store_group **g, size_t *n, size_t *cap,
                                    const char *by, long long t, const char *key)
{
    int same = *n > 0 && (by ? strcmp((*g)[*n - 1].key, key) == 0 : (*g)[*n - 1].t == t);
    if (!same && by && *n == STORE_GROUPS_MAX) {
        size_t k = 0;
        while (k < *n && strcmp((*g)[k].key, ROLLUP_OTHER) != 0)
            k++;
        if (k == *n)
            k = *n - 1;
        struct store_group tmp = (*g)[k];
        (*g)[k] = (*g)[*n - 1];
        (*g)[*n - 1] = tmp;
        snprintf((*g)[*n - 1].key, sizeof (*g)[*n - 1].key, "%s", ROLLUP_OTHER);
        same = 1;
    }
    if (!same) {
        if (*n == *cap) {
            size_t ncap = *cap ? 2 * *cap : 64;
            struct store_group *bigger = realloc(*g, ncap * sizeof **g);
            if (!bigger)
                return NULL;
            *g = bigger;
            *cap = ncap;
        }
        memset(&(*g)[*n], 0, sizeof (*g)[*n]);
        sketch_init(&(*g)[*n].sk);
        (*g)[*n].t = by ? 0 : t;
        snprintf((*g)[*n].key, sizeof (*g)[*n].key, "%s", by ? key : "");
        (*n)++;
    }
    return &(*g)[*n - 1];
}
