#include "chstore.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/*
 * The single-node schema. Only what both 18.16 and current ClickHouse accept: the
 * MergeTree syntax with PARTITION BY / ORDER BY (custom partitioning, 1.1.54310 and
 * later), String, Int16/Int64, Float64, UInt8 and DateTime columns, no Map, no TTL
 * (19.6), no LowCardinality (19.x). https://clickhouse.com/docs/engines/table-engines/
 * mergetree-family/summingmergetree and .../replacingmergetree.
 *
 * hist: one row per (app, version, metric, dim, key, minute, bucket) with a count, the
 * bucket being shared/sketch.h's index (SKETCH_ZERO_BUCKET for zeros). SummingMergeTree
 * adds the counts of rows with the same ORDER BY key when it merges parts, so the table
 * converges to what SQLite's rollups hold; a read sums anyway (rows of parts not merged
 * yet). counters: page views and those with a JS error per slice and minute, the
 * "errors" rows of the rollups. Both are partitioned by UTC day, so that retention drops
 * whole partitions (ALTER TABLE ... DROP PARTITION) and a batch's part is one partition.
 *
 * The raw tables keep SQLite's columns and are ReplacingMergeTree on their natural keys
 * (the version column keeps the newest row of a key: a metric's later value replaces the
 * earlier one, as in SQLite); a read that must not see an unmerged duplicate uses FINAL
 * or argMax. Their ORDER BY starts with what the reads filter on.
 */
const char *const chstore_ddl[] = {
    "CREATE TABLE IF NOT EXISTS hist ("
    " app String, version String, metric String, dim String, key String,"
    " minute DateTime('UTC'), bucket Int16, count Int64"
    ") ENGINE = SummingMergeTree() PARTITION BY toYYYYMMDD(minute)"
    " ORDER BY (app, version, metric, dim, key, minute, bucket)",

    "CREATE TABLE IF NOT EXISTS counters ("
    " app String, version String, metric String, dim String, key String,"
    " minute DateTime('UTC'), views Int64, hits Int64"
    ") ENGINE = SummingMergeTree() PARTITION BY toYYYYMMDD(minute)"
    " ORDER BY (app, version, metric, dim, key, minute)",

    "CREATE TABLE IF NOT EXISTS pageviews ("
    " app String, pv String, version String, session String, page String, nav String,"
    " client_ts Int64, received DateTime('UTC'), received_ms Int64, last_received_ms Int64,"
    " browser String, browser_major Int32, os String, device String, country String,"
    " conn String, device_hint String, viewport String, dpr Float64, attrs String"
    ") ENGINE = ReplacingMergeTree(last_received_ms) PARTITION BY toYYYYMMDD(received)"
    " ORDER BY (app, version, pv)",

    "CREATE TABLE IF NOT EXISTS metrics ("
    " app String, version String, name String, mid String, pv String, value Float64,"
    " rating String, received DateTime('UTC'), received_ms Int64, updated_ms Int64,"
    " attribution String"
    ") ENGINE = ReplacingMergeTree(updated_ms) PARTITION BY toYYYYMMDD(received)"
    " ORDER BY (app, version, name, pv, mid)",

    "CREATE TABLE IF NOT EXISTS errors ("
    " app String, version String, eid String, pv String, fingerprint String,"
    " message String, source String, line Int64, col Int64, stack String, kind String,"
    " received DateTime('UTC'), received_ms Int64"
    ") ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(received)"
    " ORDER BY (app, version, fingerprint, eid)",

    "CREATE TABLE IF NOT EXISTS probe_runs ("
    " run_id String, app String, version String, region String, host String,"
    " passed UInt8, started_ms Int64, received DateTime('UTC'), key_id String, document String"
    ") ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(received) ORDER BY (run_id)",

    "CREATE TABLE IF NOT EXISTS probe_journeys ("
    " run_id String, idx Int32, app String, version String, region String,"
    " journey String, passed UInt8, started DateTime('UTC'), started_ms Int64, failed_step String,"
    " failure String, retried UInt8, signed UInt8"
    ") ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(started)"
    " ORDER BY (app, version, run_id, idx)",

    "CREATE TABLE IF NOT EXISTS deployments ("
    " app String, version String, did String, baseline String, stage String,"
    " ts DateTime('UTC'), ts_ms Int64, note String, received_ms Int64, weight Nullable(Float64)"
    ") ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (app, version, did)",

    "CREATE TABLE IF NOT EXISTS verdicts ("
    " app String, vid String, baseline String, canary String, policy String,"
    " method String, decision String, ts DateTime('UTC'), ts_ms Int64, window_start_ms Int64,"
    " n_baseline Int64, n_canary Int64, result String"
    ") ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (app, vid)",
};
const size_t chstore_ddl_n = sizeof chstore_ddl / sizeof *chstore_ddl;

int chstore_init(struct clickhouse *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < chstore_ddl_n; i++)
        if (clickhouse_exec(c, chstore_ddl[i], err, errlen) < 0)
            return -1;
    return 0;
}

int chstore_batch_id(char out[CHSTORE_BATCH_LEN + 1], char *err, size_t errlen)
{
    unsigned char raw[CHSTORE_BATCH_LEN / 2];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        snprintf(err, errlen, "no random bytes for a batch id (OpenSSL RAND_bytes)");
        return -1;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int chstore_quote(struct buf *b, const char *s)
{
    size_t start = b->len;
    int bad = buf_puts(b, "'") < 0;
    for (const char *p = s; *p && !bad;) {
        size_t run = strcspn(p, "\\'");
        bad = buf_append(b, p, run) < 0 || (p[run] && buf_printf(b, "\\%c", p[run]) < 0);
        p += run + (p[run] != '\0');
    }
    if (bad || buf_puts(b, "'") < 0) {
        b->len = start;
        if (b->data)
            b->data[start] = '\0';
        return -1;
    }
    return 0;
}

void chstore_batch_fini(struct chstore_batch *b)
{
    for (size_t i = 0; i < b->nparts; i++)
        buf_fini(&b->part[i].rows);
    b->nparts = 0;
}

#define DAY_MINUTES (24 * 60)

static int raw_table(const char *name);

/* The part of b for table and day, started with its marker row when new; NULL with err
 * past CHSTORE_DAYS_MAX days. */
static struct chstore_part *part_of(struct chstore_batch *b, const char *table, long long day,
                                    char *err, size_t errlen)
{
    struct chstore_part *p;
    for (size_t i = 0; i < b->nparts; i++)
        if (b->part[i].day == day && strcmp(b->part[i].table, table) == 0)
            return &b->part[i];
    if (b->nparts == 2 * CHSTORE_DAYS_MAX) {
        snprintf(err, errlen, "a batch's rows span more than %d days", CHSTORE_DAYS_MAX);
        return NULL;
    }
    p = &b->part[b->nparts++];
    p->table = table;
    p->day = day;
    buf_init(&p->rows, CHSTORE_BATCH_MAX);
    /* The marker: app '', version the batch id, metric and dim "#batch", the day's start;
     * a count of 1 (views 1) so that SummingMergeTree, which drops rows whose sums are
     * all zero, keeps it. */
    if (buf_printf(&p->rows, "\t%s\t%s\t%s\t\t%lld\t%s\n", b->id, CHSTORE_MARKER,
                   CHSTORE_MARKER, day * DAY_MINUTES * 60,
                   strcmp(table, "hist") == 0 ? "0\t1" : "1\t0") < 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return p;
}

struct build {
    struct chstore_batch *b;
    char *err;
    size_t errlen;
};

/* The key columns of a row, TabSeparated, up to and with the minute (Unix seconds). */
static int key_fields(struct buf *o, const struct rollup_row *row)
{
    const char *f[] = {row->app, row->version, row->metric, row->dim, row->key};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (clickhouse_tsv_field(o, f[i]) < 0 || buf_puts(o, "\t") < 0)
            return -1;
    return buf_printf(o, "%lld", row->minute * (ROLLUP_MINUTE_MS / 1000));
}

static int add_row(const struct rollup_row *row, void *arg)
{
    struct build *x = arg;
    long long day = row->minute / DAY_MINUTES;
    struct chstore_part *p;
    int bad = 0;

    if (!row->sk) {
        if (row->n == 0 && row->hits == 0)
            return 0;
        if (!(p = part_of(x->b, "counters", day, x->err, x->errlen)))
            return -1;
        bad = key_fields(&p->rows, row) < 0
              || buf_printf(&p->rows, "\t%lld\t%lld\n", row->n, row->hits) < 0;
    } else if (!sketch_empty(row->sk)) {
        const struct sketch *s = row->sk;
        if (!(p = part_of(x->b, "hist", day, x->err, x->errlen)))
            return -1;
        for (size_t k = 0; k <= s->len && !bad; k++) {
            /* k == s->len is the zero bucket. */
            long long n = k < s->len ? s->counts[k] : s->zeros;
            int bucket = k < s->len ? s->first + (int)k : SKETCH_ZERO_BUCKET;
            if (n != 0)
                bad = key_fields(&p->rows, row) < 0
                      || buf_printf(&p->rows, "\t%d\t%lld\n", bucket, n) < 0;
        }
    } else {
        return 0;
    }
    if (bad) {
        snprintf(x->err, x->errlen, "a batch's %s rows pass %u bytes (or memory ran out)",
                 p->table, CHSTORE_BATCH_MAX);
        return -1;
    }
    return 0;
}

int chstore_batch_build(struct chstore_batch *b, const char *id, const struct rollup *r,
                        char *err, size_t errlen)
{
    struct build x = {b, err, errlen};
    memset(b, 0, sizeof *b);
    if (strlen(id) != CHSTORE_BATCH_LEN || strspn(id, "0123456789abcdef") != CHSTORE_BATCH_LEN) {
        snprintf(err, errlen, "a batch id is %d lower-case hex digits", CHSTORE_BATCH_LEN);
        return -1;
    }
    memcpy(b->id, id, sizeof b->id);
    return rollup_each(r, add_row, &x) ? -1 : 0;
}

#define SPOOL_MAGIC "vigil-chbatch 1"

int chstore_batch_encode(const struct chstore_batch *b, struct buf *out)
{
    if (buf_printf(out, SPOOL_MAGIC " %s %zu\n", b->id, b->nparts) < 0)
        return -1;
    for (size_t i = 0; i < b->nparts; i++) {
        const struct chstore_part *p = &b->part[i];
        if (buf_printf(out, "%s %lld %zu\n", p->table, p->day, p->rows.len) < 0
            || buf_append(out, p->rows.data, p->rows.len) < 0)
            return -1;
    }
    return 0;
}

/* The line at *pos (without its newline, at most 127 bytes) into line; advances *pos. */
static int next_line(const char *data, size_t len, size_t *pos, char line[128])
{
    const char *nl = memchr(data + *pos, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - (data + *pos)) : 0;
    if (!nl || n >= 128)
        return -1;
    memcpy(line, data + *pos, n);
    line[n] = '\0';
    *pos += n + 1;
    return 0;
}

int chstore_batch_decode(struct chstore_batch *b, const char *data, size_t len, char *err,
                         size_t errlen)
{
    char line[128], id[CHSTORE_BATCH_LEN + 2], table[16], extra[2];
    size_t pos = 0, nparts, at;
    memset(b, 0, sizeof *b);
    if (next_line(data, len, &pos, line) < 0
        || sscanf(line, SPOOL_MAGIC " %33s %zu %1s", id, &nparts, extra) != 2
        || strlen(id) != CHSTORE_BATCH_LEN
        || strspn(id, "0123456789abcdef") != CHSTORE_BATCH_LEN || nparts > sizeof b->part / sizeof *b->part) {
        snprintf(err, errlen, "byte 0: not a batch of this version (expected \"" SPOOL_MAGIC
                 " ID PARTS\")");
        return -1;
    }
    memcpy(b->id, id, sizeof b->id);
    for (size_t i = 0; i < nparts; i++) {
        struct chstore_part *p = &b->part[b->nparts];
        size_t n;
        at = pos;
        int raw = -1;
        if (next_line(data, len, &pos, line) < 0
            || sscanf(line, "%15s %lld %zu %1s", table, &p->day, &n, extra) != 3
            || (strcmp(table, "hist") != 0 && strcmp(table, "counters") != 0
                && (raw = raw_table(table)) < 0)
            || n > CHSTORE_BATCH_MAX || n > len - pos) {
            snprintf(err, errlen, "byte %zu: part %zu is not \"TABLE DAY LENGTH\" (hist,"
                     " counters, pageviews, metrics or errors) with LENGTH bytes after it",
                     at, i + 1);
            return -1;
        }
        p->table = raw >= 0 ? chstore_raw_tables[raw]
                   : strcmp(table, "hist") == 0 ? "hist" : "counters";
        buf_init(&p->rows, CHSTORE_BATCH_MAX);
        b->nparts++;
        if (buf_append(&p->rows, data + pos, n) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        pos += n;
    }
    if (pos != len) {
        snprintf(err, errlen, "byte %zu: %zu bytes after the last part", pos, len - pos);
        return -1;
    }
    return 0;
}

static const char *const columns[] = {
    "hist (app, version, metric, dim, key, minute, bucket, count)",
    "counters (app, version, metric, dim, key, minute, views, hits)",
};

const char *const chstore_raw_tables[CHSTORE_RAW_TABLES] = {"pageviews", "metrics", "errors"};

const char *const chstore_raw_columns[CHSTORE_RAW_TABLES] = {
    "pageviews (app, pv, version, session, page, nav, client_ts, received, received_ms,"
    " last_received_ms, browser, browser_major, os, device, country, conn, device_hint,"
    " viewport, dpr, attrs)",
    "metrics (app, version, name, mid, pv, value, rating, received, received_ms, updated_ms,"
    " attribution)",
    "errors (app, version, eid, pv, fingerprint, message, source, line, col, stack, kind,"
    " received, received_ms)",
};

/* The number of raw table name, or -1 when it is not one. */
static int raw_table(const char *name)
{
    for (int i = 0; i < CHSTORE_RAW_TABLES; i++)
        if (strcmp(name, chstore_raw_tables[i]) == 0)
            return i;
    return -1;
}

int chstore_batch_add_raw(struct chstore_batch *b, int table, struct buf *rows, char *err,
                          size_t errlen)
{
    if (rows->len == 0)
        return 0;
    for (size_t i = 0; i < b->nparts; i++)
        if (b->part[i].table == chstore_raw_tables[table]) {
            snprintf(err, errlen, "a batch has %s rows already", chstore_raw_tables[table]);
            return -1;
        }
    if (b->nparts == sizeof b->part / sizeof *b->part) {
        snprintf(err, errlen, "a batch has no room for another part");
        return -1;
    }
    /* The raw parts go first, so that they are sent first. */
    memmove(&b->part[1], &b->part[0], b->nparts * sizeof *b->part);
    b->part[0].table = chstore_raw_tables[table];
    b->part[0].day = -1;
    b->part[0].rows = *rows;
    b->nparts++;
    buf_init(rows, rows->max);
    return 0;
}

/* Whether the marker of part p of batch id is in its table: 1, 0, or -1 with err. */
static int has_marker(struct clickhouse *c, const char *id, const struct chstore_part *p,
                      char *err, size_t errlen)
{
    char sql[512], *out = NULL;
    int rc;
    snprintf(sql, sizeof sql,
             "SELECT count() FROM %s WHERE app = '' AND version = '%s' AND metric = '%s'"
             " AND dim = '%s' AND key = '' AND minute = toDateTime(%lld)",
             p->table, id, CHSTORE_MARKER, CHSTORE_MARKER, p->day * DAY_MINUTES * 60);
    if (clickhouse_query(c, sql, 4096, &out, NULL, err, errlen) < 0)
        return -1;
    rc = strtoll(out, NULL, 10) > 0;
    free(out);
    return rc;
}

int chstore_batch_send(struct clickhouse *c, const struct chstore_batch *b, int replay,
                       size_t *sent, char *err, size_t errlen)
{
    if (sent)
        *sent = 0;
    for (size_t i = 0; i < b->nparts; i++) {
        const struct chstore_part *p = &b->part[i];
        int raw = raw_table(p->table);
        int done = replay && raw < 0 ? has_marker(c, b->id, p, err, errlen) : 0;
        if (done < 0)
            return -1;
        if (done)
            continue;
        if (clickhouse_insert(c, raw >= 0 ? chstore_raw_columns[raw]
                                          : columns[strcmp(p->table, "hist") != 0],
                              "TabSeparated", p->rows.data, p->rows.len, err, errlen) < 0)
            return -1;
        if (sent)
            (*sent)++;
    }
    return 0;
}

/* WHERE of a read of one version's rows of n metrics and dimension dim (key "" too when
 * dim is ""), over the minutes that hold [since_ms, until_ms). */
static int where_rows(struct buf *q, const char *app, const char *version,
                      const char *const *metrics, size_t n, const char *dim,
                      long long since_ms, long long until_ms)
{
    long long first = since_ms / ROLLUP_MINUTE_MS, last = (until_ms - 1) / ROLLUP_MINUTE_MS;
    int bad = buf_puts(q, " WHERE app = ") < 0 || chstore_quote(q, app) < 0
              || buf_puts(q, " AND version = ") < 0 || chstore_quote(q, version) < 0
              || buf_puts(q, n == 1 ? " AND metric = " : " AND metric IN (") < 0;
    for (size_t i = 0; i < n; i++)
        bad = bad || (i > 0 && buf_puts(q, ", ") < 0) || chstore_quote(q, metrics[i]) < 0;
    return bad || (n > 1 && buf_puts(q, ")") < 0)
           || buf_puts(q, " AND dim = ") < 0 || chstore_quote(q, dim) < 0
           || (!*dim && buf_puts(q, " AND key = ''") < 0)
           || buf_printf(q, " AND minute >= toDateTime(%lld) AND minute <= toDateTime(%lld)",
                         first * 60, last * 60) < 0
           ? -1 : 0;
}

/* The bucket and count of a hist row, checked against the mapping. 0 or -1. */
static int row_bucket(const json_t *row, int *bucket, long long *n)
{
    long long b;
    if (clickhouse_json_int(row, "bucket", &b) < 0 || clickhouse_json_int(row, "n", n) < 0
        || (b != SKETCH_ZERO_BUCKET && (b < SKETCH_INDEX_MIN || b > SKETCH_INDEX_MAX)))
        return -1;
    *bucket = (int)b;
    return 0;
}

int chstore_read_sketch(struct clickhouse *c, const char *app, const char *version,
                        const char *metric, long long since_ms, long long until_ms,
                        struct sketch *out, char *err, size_t errlen)
{
    return chstore_read_sketches(c, app, version, &metric, 1, since_ms, until_ms, out, err,
                                 errlen);
}

int chstore_read_sketches(struct clickhouse *c, const char *app, const char *version,
                          const char *const *metrics, size_t n, long long since_ms,
                          long long until_ms, struct sketch *out, char *err, size_t errlen)
{
    struct buf q;
    json_t *rows = NULL;
    int rc = -1, bad;

    for (size_t i = 0; i < n; i++) {
        sketch_clear(&out[i]);
        out[i].n = out[i].zeros = 0;
    }
    if (n == 0 || n > CHSTORE_METRICS_MAX) {
        snprintf(err, errlen, "a read of %zu metrics (1 to %d)", n, CHSTORE_METRICS_MAX);
        return -1;
    }
    buf_init(&q, 0);
    bad = buf_puts(&q, "SELECT metric, bucket, sum(count) AS n FROM hist") < 0
          || where_rows(&q, app, version, metrics, n, "", since_ms, until_ms) < 0
          || buf_puts(&q, " GROUP BY metric, bucket HAVING n > 0 ORDER BY metric, bucket") < 0;
    if (bad) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* At most every bucket of the mapping and the zero bucket, per metric. */
    if (clickhouse_query_json(c, q.data, n * (SKETCH_INDEX_MAX - SKETCH_INDEX_MIN + 2), &rows,
                              err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *row = json_array_get(rows, i);
        const char *metric = json_string_value(json_object_get(row, "metric"));
        long long count;
        int bucket;
        size_t k = 0;
        while (metric && k < n && strcmp(metrics[k], metric) != 0)
            k++;
        if (k == n || row_bucket(row, &bucket, &count) < 0) {
            snprintf(err, errlen, "ClickHouse at %s: hist of %s/%s has a row that is not a "
                     "bucket of this version's sketch", clickhouse_name(c), app, version);
            goto out;
        }
        if (sketch_add_bucket(&out[k], bucket, count) < 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    for (size_t i = 0; rc < 0 && i < n; i++)
        sketch_clear(&out[i]);
    json_decref(rows);
    buf_fini(&q);
    return rc;
}

int chstore_read_errors(struct clickhouse *c, const char *app, const char *version,
                        long long since_ms, long long until_ms, long long *views,
                        long long *hits, char *err, size_t errlen)
{
    struct buf q;
    json_t *rows = NULL;
    int rc = -1;

    *views = *hits = 0;
    buf_init(&q, 0);
    if (buf_puts(&q, "SELECT sum(views) AS views, sum(hits) AS hits FROM counters") < 0
        || where_rows(&q, app, version, (const char *[]){ROLLUP_ERRORS}, 1, "", since_ms,
                         until_ms) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (clickhouse_query_json(c, q.data, 1, &rows, err, errlen) < 0)
        goto out;
    const json_t *row = json_array_get(rows, 0);
    if (row && (clickhouse_json_int(row, "views", views) < 0
                || clickhouse_json_int(row, "hits", hits) < 0)) {
        snprintf(err, errlen, "ClickHouse at %s: counters answered without views and hits",
                 clickhouse_name(c));
        goto out;
    }
    rc = 0;
out:
    json_decref(rows);
    buf_fini(&q);
    return rc;
}

void chstore_groups_free(struct store_group *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        sketch_fini(&g[i].sk);
    free(g);
}

/* The query of chstore_rollup_groups. By page, the keys outside the window's busiest
 * ROLLUP_PAGES_MAX - 1 pages are read as "(other)" (a subquery on the same rows). */
static int groups_sql(struct buf *q, const char *app, const char *version, const char *metric,
                      const char *by, long long since_ms, long long until_ms, long long step_ms)
{
    int errors = strcmp(metric, ROLLUP_ERRORS) == 0, page = by && strcmp(by, "page") == 0;
    const char *table = errors ? "counters" : "hist", *weight = errors ? "views" : "count";
    int bad = buf_puts(q, "SELECT ") < 0;
    if (page)
        bad = bad || buf_printf(q, "if(key IN (SELECT key FROM %s", table) < 0
              || where_rows(q, app, version, &metric, 1, by, since_ms, until_ms) < 0
              || buf_printf(q, " GROUP BY key ORDER BY sum(%s) DESC, key LIMIT %d), key, '%s')"
                            " AS g", weight, ROLLUP_PAGES_MAX - 1, ROLLUP_OTHER) < 0;
    else if (by)
        bad = bad || buf_puts(q, "key AS g") < 0;
    else if (step_ms >= ROLLUP_MINUTE_MS)
        bad = bad || buf_printf(q, "intDiv(toUInt32(minute), %lld) * %lld AS g",
                                step_ms / 1000, step_ms / 1000) < 0;
    else
        bad = bad || buf_puts(q, "toUInt32(0) AS g") < 0;
    bad = bad || buf_printf(q, errors ? ", sum(views) AS n, sum(hits) AS hits FROM counters"
                                      : ", bucket, sum(count) AS n FROM hist") < 0
          || where_rows(q, app, version, &metric, 1, by ? by : "", since_ms, until_ms) < 0
          || buf_printf(q, errors ? " GROUP BY g ORDER BY g LIMIT %d"
                                  : " GROUP BY g, bucket HAVING n > 0 ORDER BY g, bucket LIMIT %d",
                        CHSTORE_GROUP_ROWS_MAX + 1) < 0;
    return bad ? -1 : 0;
}

int chstore_rollup_groups(struct clickhouse *c, const char *app, const char *version,
                          const char *metric, const char *by, long long since_ms,
                          long long until_ms, long long step_ms, struct store_group **out,
                          size_t *nout, char *err, size_t errlen)
{
    int errors = strcmp(metric, ROLLUP_ERRORS) == 0, rc = -1;
    struct store_group *g = NULL;
    size_t n = 0, cap = 0;
    json_t *rows = NULL;
    struct buf q;

    *out = NULL;
    *nout = 0;
    buf_init(&q, 0);
    if (groups_sql(&q, app, version, metric, by, since_ms, until_ms, step_ms) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (clickhouse_query_json(c, q.data, CHSTORE_GROUP_ROWS_MAX, &rows, err, errlen) < 0) {
        if (strstr(err, "more than"))
            snprintf(err, errlen, "reading %s of %s/%s: more than %d rows: ask for a shorter "
                     "window or a coarser step", metric, app, version, CHSTORE_GROUP_ROWS_MAX);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *row = json_array_get(rows, i);
        const char *key = json_string_value(json_object_get(row, "g"));
        long long t = 0, v = 0, hits = 0;
        int bucket = 0;
        if ((by ? !key : clickhouse_json_int(row, "g", &t) < 0)
            || (errors ? clickhouse_json_int(row, "n", &v) < 0
                         || clickhouse_json_int(row, "hits", &hits) < 0
                       : row_bucket(row, &bucket, &v) < 0)) {
            snprintf(err, errlen, "ClickHouse at %s: row %zu of %s of %s/%s is not a group of "
                     "the rollups", clickhouse_name(c), i + 1, metric, app, version);
            goto out;
        }
        struct store_group *cur = rollup_group_of(&g, &n, &cap, by, t * 1000, key ? key : "");
        if (!cur || (!errors && sketch_add_bucket(&cur->sk, bucket, v) < 0)) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        cur->n += v;
        cur->hits += hits;
    }
    *out = g;
    *nout = n;
    g = NULL;
    rc = 0;
out:
    chstore_groups_free(g, n);
    json_decref(rows);
    buf_fini(&q);
    return rc;
}
