#include "store.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "stats.h"

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

    "CREATE TABLE probe_runs ("
    "  run_id TEXT PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL,"
    "  region TEXT NOT NULL, host TEXT, passed INTEGER NOT NULL, started INTEGER NOT NULL,"
    "  received INTEGER NOT NULL, document TEXT NOT NULL);"
    "CREATE TABLE probe_journeys ("
    "  run_id TEXT NOT NULL REFERENCES probe_runs(run_id), idx INTEGER NOT NULL,"
    "  app TEXT NOT NULL, version TEXT NOT NULL, region TEXT NOT NULL,"
    "  journey TEXT NOT NULL, passed INTEGER NOT NULL, started INTEGER NOT NULL,"
    "  failed_step TEXT, failure TEXT, retried INTEGER NOT NULL,"
    "  PRIMARY KEY (run_id, idx));"
    "CREATE INDEX probe_journeys_by_version ON probe_journeys(app, version, started);"
    "CREATE TABLE deployments ("
    "  id INTEGER PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL, baseline TEXT,"
    "  stage TEXT, ts INTEGER NOT NULL, note TEXT, received INTEGER NOT NULL);"
    "CREATE INDEX deployments_by_app ON deployments(app, version, ts);"
    "CREATE TABLE verdicts ("
    "  id INTEGER PRIMARY KEY, app TEXT NOT NULL, baseline TEXT NOT NULL,"
    "  canary TEXT NOT NULL, policy TEXT NOT NULL, method TEXT NOT NULL,"
    "  decision TEXT NOT NULL, ts INTEGER NOT NULL, window_start INTEGER NOT NULL,"
    "  n_baseline INTEGER NOT NULL, n_canary INTEGER NOT NULL, result TEXT NOT NULL);"
    "CREATE INDEX verdicts_by_app ON verdicts(app, ts);",

    /* Signed probe pushes (shared/sign.h): the key id a run was signed with (NULL for a
     * run pushed with the bearer token), and on each journey run whether it was signed,
     * so that the gate can count signed runs without a join. */
    "ALTER TABLE probe_runs ADD COLUMN key_id TEXT;"
    "ALTER TABLE probe_journeys ADD COLUMN signed INTEGER NOT NULL DEFAULT 0;",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

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
        if (version > 0 && version < STORE_SCHEMA_VERSION) {
            snprintf(err, errlen, "%s has schema version %d, older than this collector's (%d):"
                     " run collector serve on it once to migrate it", path, version,
                     STORE_SCHEMA_VERSION);
            goto out;
        }
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
    long long *times;
    if (store_metric_points(s, app, version, metric, since_ms, until_ms, &times, values, n,
                            err, errlen) < 0)
        return -1;
    free(times);
    stats_sort(*values, *n);
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

/* Runs one statement with text parameters (NULL binds NULL) and returns the first
 * column of its first row as a new JSON value parsed from text (SQLite's json functions
 * build it), or NULL with err. A statement that yields no row gives JSON null. */
static json_t *query_json(struct store *s, const char *sql, const char *const *params,
                          size_t nparams, const long long *ints, size_t nints,
                          char *err, size_t errlen)
{
    sqlite3_stmt *q;
    json_t *out = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        db_error(s, "querying", err, errlen);
        return NULL;
    }
    for (size_t i = 0; i < nparams; i++)
        bind_str(q, (int)i + 1, params[i]);
    for (size_t i = 0; i < nints; i++)
        sqlite3_bind_int64(q, (int)(nparams + i) + 1, ints[i]);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(q, 0);
        out = text ? json_loads(text, JSON_DECODE_ANY, NULL) : json_null();
        if (!out)
            snprintf(err, errlen, "%s: a query returned invalid JSON", s->path);
    } else if (rc == SQLITE_DONE) {
        out = json_null();
    } else {
        db_error(s, "querying", err, errlen);
    }
    sqlite3_finalize(q);
    return out;
}

static int exec_params(struct store *s, const char *sql, const char *const *params,
                       size_t nparams, const long long *ints, size_t nints, const char *what,
                       char *err, size_t errlen)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(s, what, err, errlen);
    for (size_t i = 0; i < nparams; i++)
        bind_str(q, (int)i + 1, params[i]);
    for (size_t i = 0; i < nints; i++)
        sqlite3_bind_int64(q, (int)(nparams + i) + 1, ints[i]);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_error(s, what, err, errlen);
    return sqlite3_changes(s->db);
}

/* Unix ms of an RFC 3339 time, in SQL: julianday understands the trailing Z. */
#define SQL_MS(x) "CAST(round((julianday(" x ") - 2440587.5) * 86400000) AS INTEGER)"

int store_insert_probe_run(struct store *s, const char *document, long long received_ms,
                           int is_signed, const char *key_id, char *err, size_t errlen)
{
    const char *p[] = {document, is_signed ? key_id : NULL};
    long long r[] = {received_ms, is_signed ? 1 : 0};
    int n = exec_params(s,
        "INSERT OR IGNORE INTO probe_runs (run_id, app, version, region, host, passed,"
        " started, received, document, key_id) SELECT json_extract(?1, '$.run_id'),"
        " json_extract(?1, '$.labels.app'), json_extract(?1, '$.labels.version'),"
        " coalesce(json_extract(?1, '$.labels.region'), ''), json_extract(?1, '$.labels.host'),"
        " json_extract(?1, '$.passed'), " SQL_MS("json_extract(?1, '$.started_at')") ", ?3, ?1,"
        " ?2",
        p, 2, r, 1, "storing a probe run", err, errlen);
    if (n <= 0)
        return n;
    if (exec_params(s,
        "INSERT INTO probe_journeys (run_id, idx, app, version, region, journey, passed,"
        " started, failed_step, failure, retried, signed)"
        " SELECT json_extract(?1, '$.run_id'), j.key, json_extract(?1, '$.labels.app'),"
        " json_extract(?1, '$.labels.version'), coalesce(json_extract(?1, '$.labels.region'), ''),"
        " json_extract(j.value, '$.name'), json_extract(j.value, '$.passed'),"
        " " SQL_MS("json_extract(j.value, '$.started_at')") ","
        " (SELECT json_extract(st.value, '$.name') FROM json_each(j.value, '$.steps') st"
        "   WHERE json_extract(st.value, '$.result') = 'failed' LIMIT 1),"
        " (SELECT json_extract(st.value, '$.failures[0].check') || ': ' ||"
        "         json_extract(st.value, '$.failures[0].message')"
        "   FROM json_each(j.value, '$.steps') st"
        "   WHERE json_extract(st.value, '$.result') = 'failed' LIMIT 1),"
        " (SELECT count(*) FROM json_each(j.value, '$.steps') st"
        "   WHERE json_extract(st.value, '$.result') = 'passed'"
        "     AND json_extract(st.value, '$.attempts') > 1), ?2"
        " FROM json_each(?1, '$.journeys') j",
        p, 1, r + 1, 1, "storing probe journeys", err, errlen) < 0)
        return -1;
    return 1;
}

json_t *store_probe_runs(struct store *s, const char *app, const char *version, long long limit,
                         char *err, size_t errlen)
{
    const char *p[] = {app, version};
    long long l[] = {limit};
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('run_id', run_id, 'journey', journey,"
        " 'region', region, 'version', version, 'passed', json(CASE passed WHEN 1 THEN 'true'"
        " ELSE 'false' END), 'started', strftime('%Y-%m-%dT%H:%M:%fZ', started / 1000.0,"
        " 'unixepoch'), 'failed_step', failed_step, 'failure', failure, 'retried', retried,"
        " 'signed', json(CASE signed WHEN 1 THEN 'true' ELSE 'false' END),"
        " 'key_id', (SELECT key_id FROM probe_runs r WHERE r.run_id = j.run_id))), '[]')"
        " FROM (SELECT * FROM probe_journeys WHERE app = ?1 AND (?2 IS NULL OR version = ?2)"
        " ORDER BY started DESC LIMIT ?3) j", p, 2, l, 1, err, errlen);
}

json_t *store_gate_rows(struct store *s, const char *app, const char *version, long long since_ms,
                        char *err, size_t errlen)
{
    const char *p[] = {app, version};
    long long t[] = {since_ms};
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('region', region, 'journey', journey,"
        " 'passed', passed, 'started', started, 'failed_step', failed_step, 'failure', failure,"
        " 'retried', retried, 'signed', signed)), '[]') FROM (SELECT * FROM probe_journeys"
        " WHERE app = ?1 AND version = ?2 AND started >= ?3 ORDER BY started)",
        p, 2, t, 1, err, errlen);
}

json_t *store_regions(struct store *s, const char *app, long long since_ms, char *err,
                      size_t errlen)
{
    const char *p[] = {app};
    long long t[] = {since_ms};
    return query_json(s,
        "SELECT coalesce(json_group_array(region), '[]') FROM (SELECT DISTINCT region"
        " FROM probe_journeys WHERE app = ?1 AND started >= ?2 ORDER BY region)",
        p, 1, t, 1, err, errlen);
}

json_t *store_last_runs(struct store *s, const char *app, const char *version, char *err,
                        size_t errlen)
{
    const char *p[] = {app, version};
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('region', region, 'journey', journey,"
        " 'started', started)), '[]') FROM (SELECT region, journey, max(started) AS started"
        " FROM probe_journeys WHERE app = ?1 AND version = ?2 GROUP BY region, journey)",
        p, 2, NULL, 0, err, errlen);
}

int store_insert_deployment(struct store *s, const json_t *d, long long received_ms,
                            char *err, size_t errlen)
{
    const char *p[] = {json_string_value(json_object_get(d, "app")),
                       json_string_value(json_object_get(d, "version")),
                       json_string_value(json_object_get(d, "baseline")),
                       json_string_value(json_object_get(d, "stage")),
                       json_string_value(json_object_get(d, "note"))};
    long long t[] = {(long long)json_number_value(json_object_get(d, "ts")), received_ms};
    return exec_params(s, "INSERT INTO deployments (app, version, baseline, stage, note, ts,"
                       " received) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", p, 5, t, 2,
                       "storing a deployment", err, errlen) < 0 ? -1 : 0;
}

json_t *store_deployments(struct store *s, const char *app, char *err, size_t errlen)
{
    const char *p[] = {app};
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('app', app, 'version', version,"
        " 'baseline', baseline, 'stage', stage, 'ts', ts, 'note', note)), '[]')"
        " FROM (SELECT * FROM deployments WHERE app = ?1 ORDER BY ts DESC LIMIT 1000)",
        p, 1, NULL, 0, err, errlen);
}

long long store_window_start(struct store *s, const char *app, const char *version,
                             char *err, size_t errlen)
{
    const char *p[] = {app, version};
    json_t *v = query_json(s,
        "SELECT coalesce((SELECT max(ts) FROM deployments WHERE app = ?1 AND version = ?2),"
        " (SELECT min(received) FROM pageviews WHERE app = ?1 AND version = ?2), -1)",
        p, 2, NULL, 0, err, errlen);
    long long t = json_is_integer(v) ? json_integer_value(v) : -2;
    json_decref(v);
    return t;
}

int store_error_views(struct store *s, const char *app, const char *version,
                      long long since_ms, long long until_ms, long long *hits,
                      long long *views, char *err, size_t errlen)
{
    const char *p[] = {app, version};
    long long t[] = {since_ms, until_ms};
    json_t *v = query_json(s,
        "SELECT json_array(count(*), coalesce(sum(EXISTS (SELECT 1 FROM errors e"
        " WHERE e.pageview = pv.id)), 0)) FROM pageviews pv WHERE app = ?1 AND version = ?2"
        " AND received >= ?3 AND received < ?4", p, 2, t, 2, err, errlen);
    if (!json_is_array(v)) {
        json_decref(v);
        return -1;
    }
    *views = json_integer_value(json_array_get(v, 0));
    *hits = json_integer_value(json_array_get(v, 1));
    json_decref(v);
    return 0;
}

int store_insert_verdict(struct store *s, const char *app, const char *baseline,
                         const char *canary, const json_t *verdict, long long ts,
                         long long window_start, long long nbase, long long ncanary,
                         char *err, size_t errlen)
{
    char *text = json_dumps(verdict, JSON_COMPACT);
    const char *p[] = {app, baseline, canary,
                       json_string_value(json_object_get(verdict, "policy")),
                       json_string_value(json_object_get(verdict, "method")),
                       json_string_value(json_object_get(verdict, "decision")), text};
    long long t[] = {ts, window_start, nbase, ncanary};
    int rc = exec_params(s, "INSERT INTO verdicts (app, baseline, canary, policy, method,"
                         " decision, result, ts, window_start, n_baseline, n_canary)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                         p, 7, t, 4, "storing a verdict", err, errlen);
    free(text);
    return rc < 0 ? -1 : 0;
}

json_t *store_verdicts(struct store *s, const char *app, long long limit, char *err,
                       size_t errlen)
{
    const char *p[] = {app};
    long long l[] = {limit};
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('ts', strftime('%Y-%m-%dT%H:%M:%fZ',"
        " ts / 1000.0, 'unixepoch'), 'baseline', baseline, 'canary', canary, 'policy', policy,"
        " 'method', method, 'decision', decision, 'n_baseline', n_baseline, 'n_canary',"
        " n_canary, 'reasons', json_extract(result, '$.reasons'))), '[]')"
        " FROM (SELECT * FROM verdicts WHERE app = ?1 ORDER BY ts DESC LIMIT ?2)",
        p, 1, l, 1, err, errlen);
}

json_t *store_apps(struct store *s, char *err, size_t errlen)
{
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('app', app, 'versions', nv,"
        " 'pageviews', n, 'last_seen', ls)), '[]') FROM (SELECT app, count(DISTINCT version)"
        " AS nv, count(*) AS n, max(received) / 1000 AS ls FROM pageviews GROUP BY app"
        " ORDER BY ls DESC LIMIT 50)", NULL, 0, NULL, 0, err, errlen);
}

json_t *store_versions(struct store *s, const char *app, char *err, size_t errlen)
{
    const char *p[] = {app};
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('version', version, 'pageviews', n,"
        " 'first_seen', fs, 'last_seen', ls)), '[]') FROM (SELECT version, count(*) AS n,"
        " min(received) / 1000 AS fs, max(received) / 1000 AS ls FROM pageviews"
        " WHERE app = ?1 GROUP BY version ORDER BY ls DESC LIMIT 50)",
        p, 1, NULL, 0, err, errlen);
}

int store_metric_points(struct store *s, const char *app, const char *version,
                        const char *metric, long long since_ms, long long until_ms,
                        long long **times, double **values, size_t *n, char *err,
                        size_t errlen)
{
    sqlite3_stmt *q;
    size_t cap = 1024, count = 0;
    long long *t = malloc(cap * sizeof *t);
    double *v = malloc(cap * sizeof *v);
    int rc;

    *times = NULL;
    *values = NULL;
    *n = 0;
    if (!t || !v) {
        free(t);
        free(v);
        return -1;
    }
    /* For "errors", one point per page view: 1 if it had a JS error, else 0. */
    const char *sql = strcmp(metric, "errors") == 0
        ? "SELECT received, EXISTS (SELECT 1 FROM errors e WHERE e.pageview = pv.id)"
          " FROM pageviews pv WHERE app = ?1 AND version = ?3 AND received >= ?4"
          " AND received < ?5 AND ?2 = 'errors' ORDER BY received"
        : "SELECT received, value FROM metrics WHERE app = ?1 AND name = ?2 AND version = ?3"
          " AND received >= ?4 AND received < ?5 ORDER BY received";
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        free(t);
        free(v);
        return db_error(s, "querying a series", err, errlen);
    }
    sqlite3_bind_text(q, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, since_ms);
    sqlite3_bind_int64(q, 5, until_ms);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (count == cap) {
            long long *t2 = realloc(t, 2 * cap * sizeof *t);
            double *v2 = t2 ? realloc(v, 2 * cap * sizeof *v) : NULL;
            if (t2)
                t = t2;
            if (!v2) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = v2;
            cap *= 2;
        }
        t[count] = sqlite3_column_int64(q, 0);
        v[count++] = sqlite3_column_double(q, 1);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        free(t);
        free(v);
        return db_error(s, "querying a series", err, errlen);
    }
    *times = t;
    *values = v;
    *n = count;
    return 0;
}

json_t *store_breakdown_rows(struct store *s, const char *app, const char *version,
                             const char *metric, const char *by, long long since_ms,
                             long long until_ms, char *err, size_t errlen)
{
    /* by is one of a fixed list of column names (checked by the caller's table). */
    static const char *const columns[] = {"browser", "os", "device", "country", "conn", "page",
                                          NULL};
    int ok = 0;
    for (int i = 0; columns[i]; i++)
        ok |= strcmp(columns[i], by) == 0;
    if (!ok) {
        snprintf(err, errlen, "unknown breakdown \"%s\"", by);
        return NULL;
    }
    char sql[1024];
    const char *p[] = {app, version, metric};
    long long t[] = {since_ms, until_ms};
    if (strcmp(metric, "errors") == 0)
        snprintf(sql, sizeof sql,
            "SELECT coalesce(json_group_array(json_array(k, v)), '[]') FROM ("
            " SELECT coalesce(pv.%s, '(none)') AS k, EXISTS (SELECT 1 FROM errors e"
            " WHERE e.pageview = pv.id) AS v FROM pageviews pv WHERE pv.app = ?1"
            " AND pv.version = ?2 AND ?3 = 'errors' AND pv.received >= ?4 AND pv.received < ?5"
            " LIMIT 200000)", by);
    else
        snprintf(sql, sizeof sql,
            "SELECT coalesce(json_group_array(json_array(k, v)), '[]') FROM ("
            " SELECT coalesce(pv.%s, '(none)') AS k, m.value AS v FROM metrics m"
            " JOIN pageviews pv ON pv.id = m.pageview WHERE m.app = ?1 AND m.version = ?2"
            " AND m.name = ?3 AND m.received >= ?4 AND m.received < ?5 LIMIT 200000)", by);
    return query_json(s, sql, p, 3, t, 2, err, errlen);
}

json_t *store_new_errors(struct store *s, const char *app, const char *baseline,
                         const char *canary, long long since_ms, char *err, size_t errlen)
{
    const char *p[] = {app, canary, baseline};
    long long t[] = {since_ms};
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('fingerprint', fingerprint, 'message',"
        " message, 'source', source, 'count', c, 'last_seen', ls)), '[]') FROM ("
        " SELECT e.fingerprint, g.message, g.source, count(*) AS c, max(e.received) / 1000 AS ls"
        " FROM errors e JOIN error_groups g ON g.fingerprint = e.fingerprint"
        " WHERE e.app = ?1 AND e.version = ?2 AND e.received >= ?4"
        " AND e.fingerprint NOT IN (SELECT fingerprint FROM errors WHERE app = ?1"
        " AND version = ?3) GROUP BY e.fingerprint ORDER BY c DESC LIMIT 50)",
        p, 3, t, 1, err, errlen);
}

json_t *store_probe_results(struct store *s, const char *app, char *err, size_t errlen)
{
    const char *p[] = {app};
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('journey', pj.journey, 'region',"
        " pj.region, 'version', pj.version, 'passed', json(CASE pj.passed WHEN 1 THEN 'true'"
        " ELSE 'false' END), 'started_at', strftime('%Y-%m-%dT%H:%M:%fZ', pj.started / 1000.0,"
        " 'unixepoch'), 'run_id', pj.run_id, 'failed_step', pj.failed_step, 'failure',"
        " pj.failure, 'duration_ms', json_extract(pr.document, '$.journeys[' || pj.idx ||"
        " '].duration_ms'), 'steps', json(json_extract(pr.document, '$.journeys[' || pj.idx ||"
        " '].steps')))), '[]') FROM probe_journeys pj JOIN probe_runs pr ON pr.run_id = pj.run_id"
        " WHERE pj.app = ?1 AND pj.started = (SELECT max(x.started) FROM probe_journeys x"
        " WHERE x.app = pj.app AND x.journey = pj.journey AND x.region = pj.region)",
        p, 1, NULL, 0, err, errlen);
}
