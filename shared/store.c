#include "store.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"

/* Each entry moves the schema from version i to i + 1 (PRAGMA user_version). */
static const char *const migrations[] = {
    "CREATE TABLE pageviews ("
    "  id INTEGER PRIMARY KEY,"
    "  app TEXT NOT NULL, version TEXT NOT NULL,"
    "  pv TEXT, session TEXT, page TEXT, nav TEXT,"
    "  client_ts INTEGER, received INTEGER NOT NULL, last_received INTEGER NOT NULL,"
    "  browser TEXT, browser_major INTEGER, os TEXT, device TEXT, country TEXT,"
    "  conn TEXT, device_hint TEXT, viewport TEXT, dpr REAL, attrs TEXT,"
    "  UNIQUE (app, pv));"
    "CREATE INDEX pageviews_by_version ON pageviews(app, version, received);"
    "CREATE TABLE metrics ("
    "  id INTEGER PRIMARY KEY,"
    "  pageview INTEGER NOT NULL REFERENCES pageviews(id),"
    "  app TEXT NOT NULL, version TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,"
    "  rating TEXT, mid TEXT, received INTEGER NOT NULL, updated INTEGER NOT NULL,"
    "  attribution TEXT,"
    "  UNIQUE (app, mid));"
    "CREATE INDEX metrics_by_version ON metrics(app, name, version, received);"
    "CREATE TABLE error_groups ("
    "  fingerprint TEXT PRIMARY KEY, app TEXT NOT NULL, message TEXT NOT NULL,"
    "  source TEXT, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    "  count INTEGER NOT NULL);"
    "CREATE TABLE errors ("
    "  id INTEGER PRIMARY KEY,"
    "  pageview INTEGER NOT NULL REFERENCES pageviews(id),"
    "  app TEXT NOT NULL, version TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    "  message TEXT NOT NULL, source TEXT, line INTEGER, col INTEGER, stack TEXT,"
    "  kind TEXT, received INTEGER NOT NULL);"
    "CREATE INDEX errors_by_version ON errors(app, version, received);",
};

enum { ST_PAGEVIEW, ST_METRIC, ST_ERROR, ST_GROUP, ST_N };

static const char *const statements[ST_N] = {
    "INSERT INTO pageviews (app, version, pv, session, page, nav, client_ts, received,"
    " last_received, browser, browser_major, os, device, country, conn, device_hint,"
    " viewport, dpr, attrs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (app, pv) DO UPDATE SET last_received = excluded.last_received,"
    " session = coalesce(session, excluded.session), page = coalesce(page, excluded.page),"
    " nav = coalesce(nav, excluded.nav), client_ts = coalesce(client_ts, excluded.client_ts),"
    " conn = coalesce(conn, excluded.conn),"
    " device_hint = coalesce(device_hint, excluded.device_hint),"
    " viewport = coalesce(viewport, excluded.viewport), dpr = coalesce(dpr, excluded.dpr),"
    " attrs = coalesce(attrs, excluded.attrs)"
    " RETURNING id",
    "INSERT INTO metrics (pageview, app, version, name, value, rating, mid, received,"
    " updated, attribution) VALUES (?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (app, mid) DO UPDATE SET value = excluded.value,"
    " rating = excluded.rating, updated = excluded.updated,"
    " attribution = excluded.attribution",
    "INSERT INTO errors (pageview, app, version, fingerprint, message, source, line, col,"
    " stack, kind, received) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "INSERT INTO error_groups (fingerprint, app, message, source, first_seen, last_seen,"
    " count) VALUES (?,?,?,?,?,?,1) ON CONFLICT (fingerprint) DO UPDATE SET"
    " last_seen = excluded.last_seen, count = count + 1",
};

struct store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[ST_N];
};

static int db_error(struct store *s, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return -1;
}

static int migrate(struct store *s, char *err, size_t errlen)
{
    sqlite3_stmt *q;
    int version = 0;
    size_t n = sizeof migrations / sizeof migrations[0];

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return db_error(s, "reading the schema version", err, errlen);
    if (sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version > (int)n) {
        snprintf(err, errlen, "%s: schema version %d is newer than this collector's (%zu)",
                 s->path, version, n);
        return -1;
    }
    for (; version < (int)n; version++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK
            || sqlite3_exec(s->db, migrations[version], NULL, NULL, NULL) != SQLITE_OK
            || sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK
            || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            db_error(s, "migrating the schema", err, errlen);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return 0;
}

int store_open(struct store **out, const char *path, int readonly, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof *s);
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = -1;

    *out = NULL;
    if (!s || !(s->path = strdup(path)))
        goto out;
    if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (!readonly) {
        /* WAL lets readers query while the collector writes; synchronous=NORMAL keeps
         * every committed transaction through a crash or kill -9 of the process (the OS
         * has the WAL), though not through a power cut. A 16 MiB page cache keeps the
         * index pages every insert touches in memory: with the default 2 MiB the writer
         * spent most of its time reading them back through the kernel (measured with
         * perf under scripts/bench-collector: 30k -> 43k beacons/s). */
        if (sqlite3_exec(s->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                         " PRAGMA cache_size = -16384",
                         NULL, NULL, NULL) != SQLITE_OK) {
            db_error(s, "setting WAL mode", err, errlen);
            goto out;
        }
        if (migrate(s, err, errlen) < 0)
            goto out;
        for (int i = 0; i < ST_N; i++) {
            if (sqlite3_prepare_v3(s->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT,
                                   &s->st[i], NULL) != SQLITE_OK) {
                db_error(s, "preparing statements", err, errlen);
                goto out;
            }
        }
    } else {
        sqlite3_stmt *q;
        int version = 0;
        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK
            || sqlite3_step(q) != SQLITE_ROW) {
            sqlite3_finalize(q);
            db_error(s, "reading the schema version", err, errlen);
            goto out;
        }
        version = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
        if (version != STORE_SCHEMA_VERSION) {
            snprintf(err, errlen, "%s is not a Vigil database (schema version %d)", path,
                     version);
            goto out;
        }
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    store_close(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

int store_begin(struct store *s, char *err, size_t errlen)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, "starting a transaction", err, errlen);
    return 0;
}

int store_commit(struct store *s, char *err, size_t errlen)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(s, "committing", err, errlen);
        store_rollback(s);
        return -1;
    }
    return 0;
}

void store_rollback(struct store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static void bind_text(sqlite3_stmt *st, int i, const json_t *v)
{
    if (json_is_string(v))
        sqlite3_bind_text(st, i, json_string_value(v), (int)json_string_length(v),
                          SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *v, char **keep)
{
    *keep = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    bind_str(st, i, *keep);
}

/* Steps a prepared INSERT to completion and resets it. */
static int run(struct store *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        db_error(s, what, err, errlen);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return -1;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return 0;
}

/* Appends s with each run of digits written as one '0', so that line numbers and ids
 * that change from deploy to deploy do not split a group of errors. */
static void normalize(struct buf *b, const char *s, size_t max)
{
    size_t start = b->len;
    for (; s && *s && b->len - start < max; s++) {
        if (isdigit((unsigned char)*s)) {
            buf_append(b, "0", 1);
            while (isdigit((unsigned char)s[1]))
                s++;
        } else {
            buf_append(b, s, 1);
        }
    }
}

/* The error's group: SHA-256 over the app, the normalized message and the first five
 * lines of the normalized stack, as 32 hex digits. */
static void fingerprint(const char *app, const char *message, const char *stack, char out[33])
{
    struct buf b;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    buf_init(&b, 0);
    buf_puts(&b, app);
    buf_puts(&b, "\n");
    normalize(&b, message, 1024);
    buf_puts(&b, "\n");
    for (int line = 0; stack && *stack && line < 5; line++) {
        const char *nl = strchr(stack, '\n');
        size_t n = nl ? (size_t)(nl - stack) : strlen(stack);
        char *one = strndup(stack, n);
        normalize(&b, one, 512);
        buf_puts(&b, "\n");
        free(one);
        stack = nl ? nl + 1 : stack + n;
    }
    EVP_Digest(b.data ? b.data : "", b.len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    buf_fini(&b);
}

int store_insert_beacon(struct store *s, const json_t *b, const struct beacon_meta *m,
                        char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_PAGEVIEW];
    const json_t *ctx = json_object_get(b, "ctx");
    const json_t *app = json_object_get(b, "app"), *version = json_object_get(b, "version");
    json_t *ts = json_object_get(b, "ts");
    char *attrs = NULL;
    long long pageview = -1;
    int rows = 1;

    bind_text(st, 1, app);
    bind_text(st, 2, version);
    bind_text(st, 3, json_object_get(b, "pv"));
    bind_text(st, 4, json_object_get(b, "session"));
    bind_text(st, 5, json_object_get(b, "page"));
    bind_text(st, 6, json_object_get(b, "nav"));
    if (ts)
        sqlite3_bind_int64(st, 7, (sqlite3_int64)json_number_value(ts));
    sqlite3_bind_int64(st, 8, m->received_ms);
    sqlite3_bind_int64(st, 9, m->received_ms);
    bind_str(st, 10, m->browser);
    sqlite3_bind_int(st, 11, m->browser_major);
    bind_str(st, 12, m->os);
    bind_str(st, 13, m->device);
    bind_str(st, 14, m->country);
    bind_text(st, 15, json_object_get(ctx, "conn"));
    bind_text(st, 16, json_object_get(ctx, "device"));
    bind_text(st, 17, json_object_get(ctx, "viewport"));
    if (json_object_get(ctx, "dpr"))
        sqlite3_bind_double(st, 18, json_number_value(json_object_get(ctx, "dpr")));
    bind_json(st, 19, json_object_get(b, "attrs"), &attrs);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        pageview = sqlite3_column_int64(st, 0);
    if (run(s, st, "storing a page view", err, errlen) < 0 || pageview < 0) {
        free(attrs);
        if (pageview < 0 && rc == SQLITE_ROW)
            snprintf(err, errlen, "%s: storing a page view: no row id", s->path);
        return -1;
    }
    free(attrs);

    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(b, "events"), i, e) {
        const char *type = json_string_value(json_object_get(e, "type"));
        char *attribution = NULL;
        if (strcmp(type, "metric") == 0) {
            st = s->st[ST_METRIC];
            sqlite3_bind_int64(st, 1, pageview);
            bind_text(st, 2, app);
            bind_text(st, 3, version);
            bind_text(st, 4, json_object_get(e, "name"));
            sqlite3_bind_double(st, 5, json_number_value(json_object_get(e, "value")));
            bind_text(st, 6, json_object_get(e, "rating"));
            bind_text(st, 7, json_object_get(e, "id"));
            sqlite3_bind_int64(st, 8, m->received_ms);
            sqlite3_bind_int64(st, 9, m->received_ms);
            bind_json(st, 10, json_object_get(e, "attribution"), &attribution);
            rc = run(s, st, "storing a metric", err, errlen);
            free(attribution);
            if (rc < 0)
                return -1;
        } else {
            char fp[33];
            const char *message = json_string_value(json_object_get(e, "message"));
            fingerprint(json_string_value(app), message,
                        json_string_value(json_object_get(e, "stack")), fp);
            st = s->st[ST_ERROR];
            sqlite3_bind_int64(st, 1, pageview);
            bind_text(st, 2, app);
            bind_text(st, 3, version);
            bind_str(st, 4, fp);
            bind_text(st, 5, json_object_get(e, "message"));
            bind_text(st, 6, json_object_get(e, "source"));
            if (json_object_get(e, "line"))
                sqlite3_bind_int64(st, 7, json_integer_value(json_object_get(e, "line")));
            if (json_object_get(e, "col"))
                sqlite3_bind_int64(st, 8, json_integer_value(json_object_get(e, "col")));
            bind_text(st, 9, json_object_get(e, "stack"));
            bind_text(st, 10, json_object_get(e, "kind"));
            sqlite3_bind_int64(st, 11, m->received_ms);
            if (run(s, st, "storing an error", err, errlen) < 0)
                return -1;
            st = s->st[ST_GROUP];
            bind_str(st, 1, fp);
            bind_text(st, 2, app);
            bind_text(st, 3, json_object_get(e, "message"));
            bind_text(st, 4, json_object_get(e, "source"));
            sqlite3_bind_int64(st, 5, m->received_ms);
            sqlite3_bind_int64(st, 6, m->received_ms);
            if (run(s, st, "grouping an error", err, errlen) < 0)
                return -1;
        }
        rows++;
    }
    return rows;
}

int store_metric_values(struct store *s, const char *app, const char *version,
                        const char *metric, long long since_ms, long long until_ms,
                        double **values, size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *q;
    size_t cap = 1024, count = 0;
    double *v = malloc(cap * sizeof *v);
    int rc;

    *values = NULL;
    *n = 0;
    if (!v)
        return -1;
    if (sqlite3_prepare_v2(s->db,
            "SELECT value FROM metrics WHERE app = ? AND name = ? AND version = ?"
            " AND received >= ? AND received < ? ORDER BY value", -1, &q, NULL) != SQLITE_OK) {
        free(v);
        return db_error(s, "querying metrics", err, errlen);
    }
    sqlite3_bind_text(q, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, since_ms);
    sqlite3_bind_int64(q, 5, until_ms);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count == cap) {
            double *bigger = realloc(v, 2 * cap * sizeof *v);
            if (!bigger) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = bigger;
            cap *= 2;
        }
        v[count++] = sqlite3_column_double(q, 0);
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "querying metrics", err, errlen);
        sqlite3_finalize(q);
        free(v);
        return -1;
    }
    sqlite3_finalize(q);
    *values = v;
    *n = count;
    return 0;
}

long long store_bytes(struct store *s)
{
    struct stat st;
    char wal[4096];
    long long total = 0;
    if (stat(s->path, &st) == 0)
        total += (long long)st.st_size;
    snprintf(wal, sizeof wal, "%s-wal", s->path);
    if (stat(wal, &st) == 0)
        total += (long long)st.st_size;
    return total;
}
