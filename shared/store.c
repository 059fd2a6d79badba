#include "store.h"

#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <time.h>

#include "beacon.h"
#include "buf.h"
#include "chread.h"
#include "chstore.h"
#include "checkpointer.h"
#include "chwrite.h"
#include "clickhouse.h"
#include "clock.h"
#include "probe_result.h"
#include "rollup.h"
#include "stats.h"
#include "uaclass.h"

/* The columns of the first schema's pageviews and metrics, which version 6 rebuilds with
 * other keys. */
#define PAGEVIEW_COLUMNS                                                                    \
    "  id INTEGER PRIMARY KEY,"                                                             \
    "  app TEXT NOT NULL, version TEXT NOT NULL,"                                           \
    "  pv TEXT, session TEXT, page TEXT, nav TEXT,"                                         \
    "  client_ts INTEGER, received INTEGER NOT NULL, last_received INTEGER NOT NULL,"       \
    "  browser TEXT, browser_major INTEGER, os TEXT, device TEXT, country TEXT,"            \
    "  conn TEXT, device_hint TEXT, viewport TEXT, dpr REAL, attrs TEXT,"
#define METRIC_COLUMNS                                                                      \
    "  id INTEGER PRIMARY KEY,"                                                             \
    "  pageview INTEGER NOT NULL REFERENCES pageviews(id),"                                 \
    "  app TEXT NOT NULL, version TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,"  \
    "  rating TEXT, mid TEXT, received INTEGER NOT NULL, updated INTEGER NOT NULL,"         \
    "  attribution TEXT,"

/* Each entry moves the schema from version i to i + 1 (PRAGMA user_version). */
static const char *const migrations[] = {
    "CREATE TABLE pageviews ("
    PAGEVIEW_COLUMNS
    "  UNIQUE (app, pv));"
    "CREATE INDEX pageviews_by_version ON pageviews(app, version, received);"
    "CREATE TABLE metrics ("
    METRIC_COLUMNS
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

    /* Per-minute rollups (rollup.h), built from the raw rows by backfill() in the same
     * transaction. A page view counts its beacons (1 when first stored, so that the
     * writer knows a new page view from a merged one) and whether it had a JS error.
     * The raw tables get no index on time for retention: four more indexes cost ingest a
     * fifth of its throughput (scripts/bench-collector), and retention walks them in
     * storage order instead (expire()). The small tables do get one. */
    "ALTER TABLE pageviews ADD COLUMN beacons INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE pageviews ADD COLUMN has_error INTEGER NOT NULL DEFAULT 0;"
    "UPDATE pageviews SET has_error = 1 WHERE id IN (SELECT pageview FROM errors);"
    "CREATE INDEX probe_runs_by_started ON probe_runs(started);"
    "CREATE INDEX probe_journeys_by_started ON probe_journeys(started);"
    "CREATE INDEX verdicts_by_ts ON verdicts(ts);"
    ROLLUP_DDL,

    /* The traffic share a rollout step promises the canary (shared/srm.h), in percent;
     * NULL for a marker without one. */
    "ALTER TABLE deployments ADD COLUMN weight REAL;",

    /* A later beacon may update only the same (app, version, pv, metric name) (issue 16):
     * a page view is named by (app, version, pv), not (app, pv), and a metric by its page
     * view, name and id, not (app, id), so that another version or another metric name
     * gets rows of its own instead of rewriting stored ones. SQLite cannot change a
     * table's UNIQUE constraint, so both tables are rebuilt (sqlite.org/lang_altertable.html,
     * "Making Other Kinds Of Table Schema Changes"); row ids are kept, and with them the
     * metrics' and errors' references. A metric's key starts with its page view's id,
     * which grows with each new page view: its index is appended to instead of being
     * written at a random place, which keeps ingest from slowing as the table grows. */
    "CREATE TABLE pageviews_v6 ("
    PAGEVIEW_COLUMNS
    "  beacons INTEGER NOT NULL DEFAULT 1, has_error INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (app, version, pv));"
    "INSERT INTO pageviews_v6 SELECT id, app, version, pv, session, page, nav, client_ts,"
    "  received, last_received, browser, browser_major, os, device, country, conn,"
    "  device_hint, viewport, dpr, attrs, beacons, has_error FROM pageviews ORDER BY id;"
    "DROP TABLE pageviews;"
    "ALTER TABLE pageviews_v6 RENAME TO pageviews;"
    "CREATE INDEX pageviews_by_version ON pageviews(app, version, received);"
    "CREATE TABLE metrics_v6 ("
    METRIC_COLUMNS
    "  UNIQUE (pageview, name, mid));"
    "INSERT INTO metrics_v6 SELECT id, pageview, app, version, name, value, rating, mid,"
    "  received, updated, attribution FROM metrics ORDER BY id;"
    "DROP TABLE metrics;"
    "ALTER TABLE metrics_v6 RENAME TO metrics;"
    "CREATE INDEX metrics_by_version ON metrics(app, name, version, received);",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

static long long minute_ceil(long long ms);

/* The page view columns that are the rollups' dimensions, in rollup_dims order. */
#define PV_DIMS "browser, os, device, country, conn, page"
#define PV_DIMS_OF(t) t ".browser, " t ".os, " t ".device, " t ".country, " t ".conn, " t ".page"

enum { ST_PAGEVIEW_NEW, ST_PAGEVIEW, ST_METRIC, ST_METRIC_OLD, ST_METRIC_SET, ST_ERROR,
       ST_HAS_ERROR, ST_GROUP, ST_BEGIN, ST_COMMIT, ST_N };

#define PAGEVIEW_INSERT                                                                    \
    "INSERT INTO pageviews (app, version, pv, session, page, nav, client_ts, received,"     \
    " last_received, browser, browser_major, os, device, country, conn, device_hint,"      \
    " viewport, dpr, attrs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

static const char *const statements[ST_N] = {
    /* A new page view, the common case: its row id, counts and slices are known without
     * reading the row back, and a RETURNING clause costs an ephemeral table per statement
     * (perf under scripts/bench-collector: about 4% of the writer's time). A
     * conflict changes nothing here: ST_PAGEVIEW then merges the beacon. */
    PAGEVIEW_INSERT " ON CONFLICT (app, version, pv) DO NOTHING",
    /* A later beacon of the same (app, version, pv) joins its page view. It may fill what
     * the first one left out (nav comes with the first metric), but not the columns the
     * rollups slice by (page, conn; browser, os, device and country are the server's):
     * the slices a page view's values were filed under never change, so that an update
     * of a value takes it out of the slice it went into. */
    PAGEVIEW_INSERT " ON CONFLICT (app, version, pv) DO UPDATE SET"
    " last_received = excluded.last_received,"
    " session = coalesce(session, excluded.session),"
    " nav = coalesce(nav, excluded.nav), client_ts = coalesce(client_ts, excluded.client_ts),"
    " device_hint = coalesce(device_hint, excluded.device_hint),"
    " viewport = coalesce(viewport, excluded.viewport), dpr = coalesce(dpr, excluded.dpr),"
    " attrs = coalesce(attrs, excluded.attrs), beacons = beacons + 1"
    " RETURNING id, beacons, has_error, version, received, " PV_DIMS,
    /* A metric id seen before in the same page view under the same name is an update of
     * that measurement (web-vitals reports CLS and INP again as they grow), whose value
     * beacon_validate checked against that name's limit: the writer reads the old value
     * (ST_METRIC_OLD) to take it out of the rollups, then sets the new one
     * (ST_METRIC_SET). The same id under another name or page view is another
     * measurement. */
    "INSERT INTO metrics (pageview, app, version, name, value, rating, mid, received,"
    " updated, attribution) VALUES (?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (pageview, name, mid) DO NOTHING",
    "SELECT value, received FROM metrics WHERE pageview = ?1 AND name = ?2 AND mid = ?3",
    "UPDATE metrics SET value = ?4, rating = ?5, updated = ?6, attribution = ?7"
    " WHERE pageview = ?1 AND name = ?2 AND mid = ?3",
    "INSERT INTO errors (pageview, app, version, fingerprint, message, source, line, col,"
    " stack, kind, received) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "UPDATE pageviews SET has_error = 1 WHERE id = ?1 AND has_error = 0",
    "INSERT INTO error_groups (fingerprint, app, message, source, first_seen, last_seen,"
    " count) VALUES (?,?,?,?,?,?,1) ON CONFLICT (fingerprint) DO UPDATE SET"
    " last_seen = excluded.last_seen, count = count + 1",
    /* A batch's transaction, prepared once rather than parsed for each batch. */
    "BEGIN IMMEDIATE",
    "COMMIT",
};

struct store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[ST_N];
    struct rollup *rollup;      /* the open transaction's rollup deltas (writable store) */
    struct checkpointer *ckpt;  /* store_defer_checkpoints: the checkpoint thread */
    int ckpt_rounds;            /* its rounds of the checkpoint under way, 0 for none */
    int wal_frames;             /* frames in the WAL after the last commit, when deferred */
    int timeout_ms;             /* a read's time limit, 0 for none */
    double deadline;            /* monotonic ms when the running statement must stop */
    atomic_int interrupted;     /* store_interrupt: every statement from now on fails */
    struct clickhouse *ch;      /* opened on a clickhouse:// URL: every call goes there */
    struct chwrite *chw;        /* ClickHouse's writes (writable store), NULL read-only */
    double oldest_at;           /* ClickHouse: when store_oldest last asked (monotonic ms) */
    long long oldest_raw, oldest_rollup;
};

/* The message names what failed, not the file: it can reach an HTTP client. */
static int db_error(struct store *s, const char *what, char *err, size_t errlen)
{
    if (sqlite3_errcode(s->db) == SQLITE_INTERRUPT && atomic_load(&s->interrupted))
        snprintf(err, errlen, "%s: the collector is stopping", what);
    else if (sqlite3_errcode(s->db) == SQLITE_INTERRUPT && s->timeout_ms > 0)
        snprintf(err, errlen, "%s: the query ran past its time limit of %d ms (--read-timeout):"
                 " ask for a shorter window", what, s->timeout_ms);
    else
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
    return -1;
}

/* The schema version that introduced the rollups. */
#define STORE_ROLLUP_SCHEMA 4
#define BACKFILL_FLUSH_ROWS 400000

/* Copies one row's text columns from first on into p's dimensions (borrowed from q until
 * its next step). */
static void point_dims(sqlite3_stmt *q, int first, struct rollup_point *p)
{
    for (int d = 0; d < ROLLUP_DIMS; d++)
        p->dim[d] = (const char *)sqlite3_column_text(q, first + d);
}

static void progress(const char *what, long long done, long long total)
{
    fprintf(stderr, "collector: building rollups: %lld of %lld %s\n", done, total, what);
}

/* Builds the rollups of a database that had none from its raw rows (the migration to
 * STORE_ROLLUP_SCHEMA), in the migration's transaction, with progress on stderr. */
static int backfill(struct store *s, char *err, size_t errlen)
{
    static const char *const scans[2] = {
        "SELECT app, version, received, has_error, " PV_DIMS " FROM pageviews",
        "SELECT m.app, m.version, m.received, m.name, " PV_DIMS_OF("pv") ", m.value"
        " FROM metrics m JOIN pageviews pv ON pv.id = m.pageview",
    };
    static const char *const counts[2] = {"SELECT count(*) FROM pageviews",
                                           "SELECT count(*) FROM metrics"};
    static const char *const names[2] = {"page views", "metric values"};
    struct rollup *r = rollup_new();
    int rc = -1;

    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *q;
        long long total = 0, done = 0;
        if (sqlite3_prepare_v2(s->db, counts[i], -1, &q, NULL) != SQLITE_OK)
            goto db;
        if (sqlite3_step(q) == SQLITE_ROW)
            total = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        if (total == 0)
            continue;
        if (sqlite3_prepare_v2(s->db, scans[i], -1, &q, NULL) != SQLITE_OK)
            goto db;
        int step;
        while ((step = sqlite3_step(q)) == SQLITE_ROW) {
            struct rollup_point p = {(const char *)sqlite3_column_text(q, 0),
                                     (const char *)sqlite3_column_text(q, 1),
                                     sqlite3_column_int64(q, 2), {NULL}};
            int ok;
            if (i == 0) {
                point_dims(q, 4, &p);
                ok = rollup_views(r, &p, 1, sqlite3_column_int(q, 3) != 0);
            } else {
                point_dims(q, 4, &p);
                ok = rollup_value(r, &p, (const char *)sqlite3_column_text(q, 3),
                                  sqlite3_column_double(q, 10), 1);
            }
            if (ok < 0) {
                snprintf(err, errlen, "building rollups: a stored value the histogram"
                         " refuses, or out of memory");
                sqlite3_finalize(q);
                goto out;
            }
            if (++done % BACKFILL_FLUSH_ROWS == 0) {
                if (rollup_flush(r, s->db, err, errlen) < 0) {
                    sqlite3_finalize(q);
                    goto out;
                }
                progress(names[i], done, total);
            }
        }
        sqlite3_finalize(q);
        if (step != SQLITE_DONE)
            goto db;
        if (rollup_flush(r, s->db, err, errlen) < 0)
            goto out;
        progress(names[i], done, total);
    }
    rc = 0;
    goto out;
db:
    db_error(s, "building rollups", err, errlen);
out:
    rollup_free(r);
    return rc;
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
    /* A new database reclaims the pages retention frees (incremental_vacuum); an older
     * one reuses them for new rows, which bounds it as well (VACUUM once converts it). */
    if (version == 0
        && sqlite3_exec(s->db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, "setting auto_vacuum", err, errlen);
    for (; version < (int)n; version++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK
            || sqlite3_exec(s->db, migrations[version], NULL, NULL, NULL) != SQLITE_OK
            || (version + 1 == STORE_ROLLUP_SCHEMA && backfill(s, err, errlen) < 0)
            || sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK
            || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            if (!*err)
                db_error(s, "migrating the schema", err, errlen);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return 0;
}

/* The store on ClickHouse: a connection, and the writes (with the spool) unless
 * read-only. */
static int clickhouse_store(struct store *s, const struct store_opts *o, char *err,
                            size_t errlen)
{
    if (clickhouse_open(&s->ch, o->db, o->password_file, err, errlen) < 0)
        return -1;
    if (o->readonly)
        return o->init ? chstore_init(s->ch, err, errlen) : 0;
    struct chwrite_opts w = {o->spool_dir, o->spool_max_bytes, o->init};
    return chwrite_open(&s->chw, s->ch, &w, err, errlen);
}

int store_is_url(const char *db)
{
    return strncmp(db, STORE_CLICKHOUSE_SCHEME, strlen(STORE_CLICKHOUSE_SCHEME)) == 0;
}

int store_open_opts(struct store **out, const struct store_opts *o, char *err, size_t errlen)
{
    struct store *s;
    *out = NULL;
    if (!store_is_url(o->db))
        return store_open(out, o->db, o->readonly, err, errlen);
    if (!(s = calloc(1, sizeof *s))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (clickhouse_store(s, o, err, errlen) < 0) {
        store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* SQLite counts every allocation for sqlite3_memory_used() (which Vigil never asks)
 * under a global mutex: two lock operations per malloc and free, 3% of the writer's time
 * (perf, scripts/bench-collector). SQLITE_CONFIG_MEMSTATUS off drops them; it must come
 * before SQLite initializes (sqlite.org/c3ref/config.html), hence once, before the first
 * open, and a refusal (SQLite already initialized by someone else) changes nothing. */
static pthread_once_t sqlite_configured = PTHREAD_ONCE_INIT;

static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(struct store **out, const char *path, int readonly, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof *s);
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = -1;

    *out = NULL;
    pthread_once(&sqlite_configured, configure_sqlite);
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
        *err = '\0';
        if (migrate(s, err, errlen) < 0)
            goto out;
        if (!(s->rollup = rollup_new())) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
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

int store_check_writable(struct store *s, char *err, size_t errlen)
{
    char pragma[64];
    sqlite3_stmt *q;
    int version = 0;

    if (s->ch)
        return chwrite_check(s->chw, err, errlen);
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        snprintf(err, errlen, "%s is read-only (its mode, owner or file system): the collector"
                 " must be able to write to it", s->path);
        return -1;
    }
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK
        && sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    /* A real write (the header page, the value unchanged) through a committed
     * transaction: it needs the write lock and room on the disk, as a beacon does. */
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK
        || sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK
        || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot write to %s: %s (another process holds its write lock,"
                 " or the file or its disk refuses writes)", s->path, sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    checkpointer_free(s->ckpt);
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(s->st[i]);
    rollup_free(s->rollup);
    sqlite3_close(s->db);
    chwrite_close(s->chw);
    clickhouse_close(s->ch);
    free(s->path);
    free(s);
}

int store_replay(struct store *s, int max, char *err, size_t errlen)
{
    return s->chw ? chwrite_replay(s->chw, max, err, errlen) : 0;
}

int store_spooled(const struct store *s)
{
    return s->chw && chwrite_spooled(s->chw);
}

void store_spool_stats(const struct store *s, struct store_spool_stats *out)
{
    if (s->chw)
        chwrite_stats(s->chw, out);
    else
        memset(out, 0, sizeof *out);
}

/* The writes need a writable store; on ClickHouse they are chwrite's. */
static int no_writes(char *err, size_t errlen)
{
    snprintf(err, errlen, "the store was opened read-only");
    return -1;
}

/* SQLite's WAL hook: after each commit, the frames in the WAL. */
static int wal_counted(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((struct store *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

int store_defer_checkpoints(struct store *s, char *err, size_t errlen)
{
    if (!s->db || s->ckpt)
        return 0;
    if (checkpointer_new(&s->ckpt, s->path, "wal-checkpoint", err, errlen) < 0)
        return -1;
    /* A WAL hook replaces the automatic checkpoint, which is SQLite's own WAL hook
     * (sqlite.org/c3ref/wal_autocheckpoint.html). */
    sqlite3_wal_hook(s->db, wal_counted, s);
    return 0;
}

int store_checkpoint(struct store *s, char *err, size_t errlen)
{
    if (!s->ckpt)
        return 0;
    if (s->ckpt_rounds == 0) {
        if (s->wal_frames < STORE_CHECKPOINT_FRAMES)
            return 0;
        checkpointer_start(s->ckpt);
        s->ckpt_rounds = 1;
        return 0;
    }
    int copied;
    int r = checkpointer_result(s->ckpt, &copied, err, errlen);
    if (r == 0)
        return 0;                       /* still running */
    if (r < 0) {
        s->ckpt_rounds = 0;
        return -1;
    }
    /* The WAL's frames not yet in the database: s->wal_frames is the WAL's length after
     * this writer's last commit (the WAL hook), copied how much of it the round copied. */
    if (s->wal_frames - copied > STORE_CHECKPOINT_TAIL
        && s->ckpt_rounds < STORE_CHECKPOINT_ROUNDS) {
        checkpointer_start(s->ckpt);
        s->ckpt_rounds++;
        return 0;
    }
    s->ckpt_rounds = 0;
    s->wal_frames = 0;
    if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL)
        != SQLITE_OK)
        return db_error(s, "checkpointing the WAL", err, errlen);
    return 1;
}

static int run(struct store *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen);

/* Runs BEGIN or COMMIT (statement i), prepared on a writable store. 0 or -1 with err. */
static int transaction(struct store *s, int i, const char *what, char *err, size_t errlen)
{
    if (!s->st[i]) {
        if (sqlite3_exec(s->db, statements[i], NULL, NULL, NULL) != SQLITE_OK)
            return db_error(s, what, err, errlen);
        return 0;
    }
    return run(s, s->st[i], what, err, errlen);
}

int store_begin(struct store *s, char *err, size_t errlen)
{
    if (s->ch)
        return s->chw ? chwrite_begin(s->chw, err, errlen) : no_writes(err, errlen);
    return transaction(s, ST_BEGIN, "starting a transaction", err, errlen);
}

int store_commit(struct store *s, char *err, size_t errlen)
{
    if (s->ch)
        return s->chw ? chwrite_commit(s->chw, err, errlen) : no_writes(err, errlen);
    if (s->rollup && rollup_flush(s->rollup, s->db, err, errlen) < 0) {
        store_rollback(s);
        return -1;
    }
    if (transaction(s, ST_COMMIT, "committing", err, errlen) < 0) {
        store_rollback(s);
        return -1;
    }
    return 0;
}

void store_rollback(struct store *s)
{
    if (s->ch) {
        if (s->chw)
            chwrite_rollback(s->chw);
        return;
    }
    rollup_clear(s->rollup);
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

/* v as the text a column keeps (NULL for none), into *keep (free() it). */
static void column_json(const json_t *v, char **keep)
{
    *keep = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *v, char **keep)
{
    column_json(v, keep);
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
void store_error_fingerprint(const char *app, const char *message, const char *stack,
                             char out[33])
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

/* A stored row's rollup point: its text columns copied out of the statement, which the
 * next reset invalidates. */
struct point_copy {
    char version[BEACON_NAME_MAX + 1];
    char dims[ROLLUP_DIMS][BEACON_PAGE_MAX + 1];
    struct rollup_point p;
};

static void copy_point(struct point_copy *c, const char *app, sqlite3_stmt *q, int version_col,
                       int received_col, int first_dim)
{
    const char *v = (const char *)sqlite3_column_text(q, version_col);
    snprintf(c->version, sizeof c->version, "%s", v ? v : "");
    c->p.app = app;
    c->p.version = c->version;
    c->p.received_ms = sqlite3_column_int64(q, received_col);
    for (int d = 0; d < ROLLUP_DIMS; d++) {
        const char *t = (const char *)sqlite3_column_text(q, first_dim + d);
        snprintf(c->dims[d], sizeof c->dims[d], "%s", t ? t : "");
        c->p.dim[d] = t ? c->dims[d] : NULL;
    }
}

static int rollup_failed(char *err, size_t errlen)
{
    snprintf(err, errlen, "adding to the rollups: out of memory");
    return -1;
}

/* Binds a metric's key, (page view, name, id), to ?1 ?2 ?3 of st. */
static void bind_metric_key(sqlite3_stmt *st, long long pageview, const json_t *name,
                            const json_t *id)
{
    sqlite3_bind_int64(st, 1, pageview);
    bind_text(st, 2, name);
    bind_text(st, 3, id);
}

/* Stores one metric event of a beacon and files it in the rollups under the page view's
 * dimensions (pvp, with the beacon's version, which is the page view's, and the time
 * received). The same (page view, name, id) seen before replaces the earlier value, in
 * the raw row and in the rollups, under the minute the old value was filed in. */
static int insert_metric(struct store *s, const json_t *e, const json_t *app, const json_t *version,
                         long long pageview, const struct beacon_meta *m,
                         const struct rollup_point *pvp, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_METRIC];
    char *attribution = NULL;
    const json_t *name = json_object_get(e, "name"), *id = json_object_get(e, "id");
    double value = json_number_value(json_object_get(e, "value"));
    struct rollup_point p = *pvp;
    int rc;

    sqlite3_bind_int64(st, 1, pageview);
    bind_text(st, 2, app);
    bind_text(st, 3, version);
    bind_text(st, 4, name);
    sqlite3_bind_double(st, 5, value);
    bind_text(st, 6, json_object_get(e, "rating"));
    bind_text(st, 7, id);
    sqlite3_bind_int64(st, 8, m->received_ms);
    sqlite3_bind_int64(st, 9, m->received_ms);
    bind_json(st, 10, json_object_get(e, "attribution"), &attribution);
    rc = run(s, st, "storing a metric", err, errlen);
    if (rc < 0)
        goto out;
    if (sqlite3_changes(s->db) == 1) {
        p.received_ms = m->received_ms;
        if (rollup_value(s->rollup, &p, json_string_value(name), value, 1) < 0)
            rc = rollup_failed(err, errlen);
        goto out;
    }
    /* An update of a measurement stored before: out with the old value, in with the new. */
    double old_value;
    st = s->st[ST_METRIC_OLD];
    bind_metric_key(st, pageview, name, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = run(s, st, "reading a metric's earlier value", err, errlen);
        if (rc == 0) {
            snprintf(err, errlen, "a metric id conflicted but has no row");
            rc = -1;
        }
        goto out;
    }
    old_value = sqlite3_column_double(st, 0);
    p.received_ms = sqlite3_column_int64(st, 1);
    if ((rc = run(s, st, "reading a metric's earlier value", err, errlen)) < 0)
        goto out;
    st = s->st[ST_METRIC_SET];
    bind_metric_key(st, pageview, name, id);
    sqlite3_bind_double(st, 4, value);
    bind_text(st, 5, json_object_get(e, "rating"));
    sqlite3_bind_int64(st, 6, m->received_ms);
    bind_str(st, 7, attribution);
    if ((rc = run(s, st, "updating a metric", err, errlen)) < 0)
        goto out;
    if (rollup_value(s->rollup, &p, json_string_value(name), old_value, -1) < 0
        || rollup_value(s->rollup, &p, json_string_value(name), value, 1) < 0)
        rc = rollup_failed(err, errlen);
out:
    free(attribution);
    return rc;
}

/* Binds a beacon's page view columns, in PAGEVIEW_INSERT's order, to st. */
static void bind_pageview(sqlite3_stmt *st, const json_t *b, const struct beacon_meta *m,
                          const char *attrs)
{
    const json_t *ctx = json_object_get(b, "ctx"), *ts = json_object_get(b, "ts");
    bind_text(st, 1, json_object_get(b, "app"));
    bind_text(st, 2, json_object_get(b, "version"));
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
    bind_str(st, 19, attrs);
}

/* A new page view's rollup point, as its row holds it (the columns bind_pageview bound:
 * a server field "" is NULL, a beacon's string as sent); borrowed from b and m. */
static void new_point(struct point_copy *c, const json_t *b, const struct beacon_meta *m)
{
    const char *server[4] = {m->browser, m->os, m->device, m->country};
    c->p.app = json_string_value(json_object_get(b, "app"));
    c->p.version = json_string_value(json_object_get(b, "version"));
    c->p.received_ms = m->received_ms;
    for (int d = 0; d < 4; d++)
        c->p.dim[d] = *server[d] ? server[d] : NULL;
    c->p.dim[4] = json_string_value(json_object_get(json_object_get(b, "ctx"), "conn"));
    c->p.dim[5] = json_string_value(json_object_get(b, "page"));
}

_Static_assert(ROLLUP_DIMS == 6, "new_point fills browser, os, device, country, conn, page");

/* Stores a beacon's page view, or merges the beacon into the one stored: its row id, its
 * beacons and has_error after this one, and its rollup point into pv. 0 or -1 with err. */
static int store_pageview(struct store *s, const json_t *b, const struct beacon_meta *m,
                          long long *pageview, long long *beacons, int *had_error,
                          struct point_copy *pv, char *err, size_t errlen)
{
    char *attrs = NULL;
    sqlite3_stmt *st = s->st[ST_PAGEVIEW_NEW];
    int rc = -1;

    column_json(json_object_get(b, "attrs"), &attrs);
    bind_pageview(st, b, m, attrs);
    if (run(s, st, "storing a page view", err, errlen) < 0)
        goto out;
    if (sqlite3_changes(s->db) == 1) {
        *pageview = sqlite3_last_insert_rowid(s->db);
        *beacons = 1;
        *had_error = 0;
        new_point(pv, b, m);
        rc = 0;
        goto out;
    }
    st = s->st[ST_PAGEVIEW];
    bind_pageview(st, b, m, attrs);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *pageview = sqlite3_column_int64(st, 0);
        *beacons = sqlite3_column_int64(st, 1);
        *had_error = sqlite3_column_int(st, 2);
        copy_point(pv, json_string_value(json_object_get(b, "app")), st, 3, 4, 5);
    }
    if (run(s, st, "storing a page view", err, errlen) < 0)
        goto out;
    if (step != SQLITE_ROW) {
        snprintf(err, errlen, "storing a page view: no row id");
        goto out;
    }
    rc = 0;
out:
    free(attrs);
    return rc;
}

int store_insert_beacon(struct store *s, const json_t *b, const struct beacon_meta *m,
                        char *err, size_t errlen)
{
    sqlite3_stmt *st;
    const json_t *app = json_object_get(b, "app"), *version = json_object_get(b, "version");
    long long pageview = -1, beacons = 0;
    int rows = 1, had_error = 0, errors = 0;
    struct point_copy pv;

    if (s->ch)
        return s->chw ? chwrite_beacon(s->chw, b, m, err, errlen) : no_writes(err, errlen);
    if (store_pageview(s, b, m, &pageview, &beacons, &had_error, &pv, err, errlen) < 0)
        return -1;
    /* The page view is counted once, under the version and minute it was first stored
     * with (a later beacon of it merges into that row). */
    if (beacons == 1 && rollup_views(s->rollup, &pv.p, 1, 0) < 0)
        return rollup_failed(err, errlen);

    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(b, "events"), i, e) {
        const char *type = json_string_value(json_object_get(e, "type"));
        if (strcmp(type, "metric") == 0) {
            if (insert_metric(s, e, app, version, pageview, m, &pv.p, err, errlen) < 0)
                return -1;
        } else {
            char fp[33];
            const char *message = json_string_value(json_object_get(e, "message"));
            store_error_fingerprint(json_string_value(app), message,
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
            errors++;
        }
        rows++;
    }
    /* A page view's first JS error makes it a page view with an error, once. */
    if (errors && !had_error) {
        st = s->st[ST_HAS_ERROR];
        sqlite3_bind_int64(st, 1, pageview);
        if (run(s, st, "marking a page view's error", err, errlen) < 0)
            return -1;
        if (sqlite3_changes(s->db) == 1 && rollup_views(s->rollup, &pv.p, 0, 1) < 0)
            return rollup_failed(err, errlen);
    }
    return rows;
}

int store_metric_values(struct store *s, const char *app, const char *version,
                        const char *metric, long long since_ms, long long until_ms,
                        double **values, size_t *n, char *err, size_t errlen)
{
    if (s->ch)
        return chread_metric_values(s->ch, app, version, metric, since_ms, until_ms, values,
                                    n, err, errlen);
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
    if (s->ch)
        return s->chw ? chwrite_bytes(s->chw) : 0;
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
            snprintf(err, errlen, "a query returned invalid JSON");
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

int store_insert_probe_run(struct store *s, const char *document, long long received_ms,
                           int is_signed, const char *key_id, char *err, size_t errlen)
{
    struct probe_result *r;
    char field[128];
    if (probe_result_parse_text(document, strlen(document), &r, field, sizeof field, err,
                                errlen) < 0)
        return -1;
    int rc = store_insert_probe_result(s, r, received_ms, is_signed, key_id, err, errlen);
    probe_result_free(r);
    return rc;
}

/* The run, then its journey runs, in one transaction: all of it or nothing. A run id
 * stored before leaves the transaction empty (ON CONFLICT DO NOTHING) and answers 0. */
int store_insert_probe_result(struct store *s, const struct probe_result *r,
                              long long received_ms, int is_signed, const char *key_id,
                              char *err, size_t errlen)
{
    if (s->ch)
        return s->chw ? chwrite_probe_result(s->chw, r, received_ms, is_signed, key_id, err,
                                             errlen)
                      : no_writes(err, errlen);
    char *text = json_dumps(r->doc, JSON_COMPACT);
    int n = -1;

    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (store_begin(s, err, errlen) < 0) {
        free(text);
        return -1;
    }
    const char *p[] = {r->run_id, r->app, r->version, r->region, r->host, text,
                       is_signed ? key_id : NULL};
    long long t[] = {r->passed, r->started_ms, received_ms};
    n = exec_params(s,
        "INSERT INTO probe_runs (run_id, app, version, region, host, document, key_id, passed,"
        " started, received) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT (run_id) DO NOTHING",
        p, 7, t, 3, "storing a probe run", err, errlen);
    for (size_t i = 0; n > 0 && i < r->njourneys; i++) {
        const struct probe_result_journey *j = &r->journeys[i];
        char *failure = probe_result_failure(j);
        const char *jp[] = {r->run_id, r->app, r->version, r->region, j->name,
                            j->failed ? j->failed->name : NULL, failure};
        long long jt[] = {(long long)i, j->passed, j->started_ms, j->retried, is_signed ? 1 : 0};
        if (exec_params(s,
                "INSERT INTO probe_journeys (run_id, app, version, region, journey, failed_step,"
                " failure, idx, passed, started, retried, signed)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                jp, 7, jt, 5, "storing probe journeys", err, errlen) < 0)
            n = -1;
        free(failure);
    }
    free(text);
    if (n < 0) {
        store_rollback(s);
        return -1;
    }
    if (store_commit(s, err, errlen) < 0)
        return -1;
    return n > 0 ? 1 : 0;
}

json_t *store_probe_runs(struct store *s, const char *app, const char *version, long long limit,
                         char *err, size_t errlen)
{
    if (s->ch)
        return chread_probe_runs(s->ch, app, version, limit, err, errlen);
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
    if (s->ch)
        return chread_gate_rows(s->ch, app, version, since_ms, err, errlen);
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
    if (s->ch)
        return chread_regions(s->ch, app, since_ms, err, errlen);
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
    if (s->ch)
        return chread_last_runs(s->ch, app, version, err, errlen);
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
    /* The weight goes in as text and is cast: the statement helpers bind text and
     * integers, and "%.17g" keeps every bit of a double. */
    if (s->ch)
        return s->chw ? chwrite_deployment(s->chw, d, received_ms, err, errlen)
                      : no_writes(err, errlen);
    char weight[32];
    const json_t *w = json_object_get(d, "weight");
    snprintf(weight, sizeof weight, "%.17g", json_number_value(w));
    const char *p[] = {json_string_value(json_object_get(d, "app")),
                       json_string_value(json_object_get(d, "version")),
                       json_string_value(json_object_get(d, "baseline")),
                       json_string_value(json_object_get(d, "stage")),
                       json_string_value(json_object_get(d, "note")),
                       json_is_number(w) ? weight : NULL};
    long long t[] = {(long long)json_number_value(json_object_get(d, "ts")), received_ms};
    return exec_params(s, "INSERT INTO deployments (app, version, baseline, stage, note, weight,"
                       " ts, received) VALUES (?1, ?2, ?3, ?4, ?5, CAST(?6 AS REAL), ?7, ?8)",
                       p, 6, t, 2, "storing a deployment", err, errlen) < 0 ? -1 : 0;
}

json_t *store_deployments(struct store *s, const char *app, char *err, size_t errlen)
{
    if (s->ch)
        return chread_deployments(s->ch, app, err, errlen);
    const char *p[] = {app};
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('app', app, 'version', version,"
        " 'baseline', baseline, 'stage', stage, 'ts', ts, 'note', note, 'weight', weight)), '[]')"
        " FROM (SELECT * FROM deployments WHERE app = ?1 ORDER BY ts DESC, id DESC LIMIT 1000)",
        p, 1, NULL, 0, err, errlen);
}

int store_marker_weight(struct store *s, const char *app, const char *version, double *weight,
                        char *err, size_t errlen)
{
    if (s->ch)
        return chread_marker_weight(s->ch, app, version, weight, err, errlen);
    const char *p[] = {app, version};
    json_t *v = query_json(s,
        "SELECT json_array(weight) FROM deployments WHERE app = ?1 AND version = ?2"
        " ORDER BY ts DESC, id DESC LIMIT 1", p, 2, NULL, 0, err, errlen);
    if (!v)
        return -1;
    const json_t *w = json_array_get(v, 0);
    *weight = json_is_number(w) ? json_number_value(w) : NAN;
    json_decref(v);
    return 0;
}

int store_traffic_views(struct store *s, const char *app, const char *version,
                        long long since_ms, long long until_ms, long long *views, char *err,
                        size_t errlen)
{
    if (s->ch)
        return chread_traffic_views(s->ch, app, version, since_ms, until_ms, views, err,
                                    errlen);
    /* The whole version's page views less its HeadlessChrome slice: two ranges of the
     * rollups' primary key, (app, version, "errors", "" or "browser") by minute. */
    const char *p[] = {app, version, UACLASS_HEADLESS};
    long long t[] = {since_ms / ROLLUP_MINUTE_MS, minute_ceil(until_ms)};
    json_t *v = query_json(s,
        "SELECT coalesce(sum(CASE dim WHEN '' THEN n ELSE -n END), 0) FROM rollups"
        " WHERE app = ?1 AND version = ?2 AND metric = '" ROLLUP_ERRORS "'"
        " AND (dim = '' OR (dim = 'browser' AND key = ?3)) AND minute >= ?4 AND minute < ?5",
        p, 3, t, 2, err, errlen);
    if (!json_is_integer(v)) {
        json_decref(v);
        return -1;
    }
    /* Never below 0, whatever the rows say: the count feeds a test that takes counts. */
    *views = json_integer_value(v) > 0 ? json_integer_value(v) : 0;
    json_decref(v);
    return 0;
}

long long store_window_start(struct store *s, const char *app, const char *version,
                             char *err, size_t errlen)
{
    if (s->ch)
        return chread_window_start(s->ch, app, version, err, errlen);
    return store_window_start_before(s, app, version, LLONG_MAX, err, errlen);
}

long long store_window_start_before(struct store *s, const char *app, const char *version,
                                    long long before_ms, char *err, size_t errlen)
{
    if (s->ch)
        return chread_window_start_before(s->ch, app, version, before_ms, err, errlen);
    const char *p[] = {app, version};
    long long n[] = {before_ms};
    json_t *v = query_json(s,
        "SELECT coalesce((SELECT max(ts) FROM deployments WHERE app = ?1 AND version = ?2"
        " AND ts < ?3), (SELECT min(received) FROM pageviews WHERE app = ?1 AND version = ?2"
        " AND received < ?3), -1)",
        p, 2, n, 1, err, errlen);
    long long t = json_is_integer(v) ? json_integer_value(v) : -2;
    json_decref(v);
    return t;
}

int store_seen(struct store *s, const char *app, const char *version, char *err,
               size_t errlen)
{
    if (s->ch)
        return chread_seen(s->ch, app, version, err, errlen);
    /* Two statements, not "(?2 IS NULL OR version = ?2)": that form keeps SQLite from
     * seeking to (app, version) in the indexes, and an EXISTS then walked every page view
     * of the versions before it (0.4 s per verdict at 5M page views). */
    const char *p[] = {app, version};
    json_t *v = query_json(s, version
        ? "SELECT EXISTS (SELECT 1 FROM pageviews WHERE app = ?1 AND version = ?2)"
          " OR EXISTS (SELECT 1 FROM rollups WHERE app = ?1 AND version = ?2)"
          " OR EXISTS (SELECT 1 FROM deployments WHERE app = ?1 AND version = ?2)"
          " OR EXISTS (SELECT 1 FROM probe_journeys WHERE app = ?1 AND version = ?2)"
        : "SELECT EXISTS (SELECT 1 FROM pageviews WHERE app = ?1)"
          " OR EXISTS (SELECT 1 FROM rollups WHERE app = ?1)"
          " OR EXISTS (SELECT 1 FROM deployments WHERE app = ?1)"
          " OR EXISTS (SELECT 1 FROM probe_journeys WHERE app = ?1)",
        p, version ? 2 : 1, NULL, 0, err, errlen);
    int seen = json_is_integer(v) ? json_integer_value(v) != 0 : -1;
    json_decref(v);
    return seen;
}

int store_error_views(struct store *s, const char *app, const char *version,
                      long long since_ms, long long until_ms, long long *hits,
                      long long *views, char *err, size_t errlen)
{
    if (s->ch)
        return chread_error_views(s->ch, app, version, since_ms, until_ms, hits, views, err,
                                  errlen);
    const char *p[] = {app, version};
    long long t[] = {since_ms, until_ms};
    json_t *v = query_json(s,
        "SELECT json_array(count(*), coalesce(sum(has_error), 0)) FROM pageviews"
        " WHERE app = ?1 AND version = ?2 AND received >= ?3 AND received < ?4",
        p, 2, t, 2, err, errlen);
    if (!json_is_array(v)) {
        json_decref(v);
        return -1;
    }
    *views = json_integer_value(json_array_get(v, 0));
    *hits = json_integer_value(json_array_get(v, 1));
    json_decref(v);
    return 0;
}

/* store_insert_verdict on ClickHouse: the repeat rule asked of chread, then the row. */
static int ch_insert_verdict(struct store *s, const char *app, const char *baseline,
                             const char *canary, const json_t *verdict, long long ts,
                             long long window_start, long long nbase, long long ncanary,
                             long long repeat_ms, char *err, size_t errlen)
{
    if (!s->chw)
        return no_writes(err, errlen);
    if (repeat_ms > 0) {
        int seen = chread_verdict_repeat(
            s->ch, app, baseline, canary, json_string_value(json_object_get(verdict, "policy")),
            json_string_value(json_object_get(verdict, "method")),
            json_string_value(json_object_get(verdict, "decision")), ts, repeat_ms, err, errlen);
        if (seen != 0)
            return seen < 0 ? -1 : 0;
    }
    return chwrite_verdict(s->chw, app, baseline, canary, verdict, ts, window_start, nbase,
                           ncanary, err, errlen) < 0 ? -1 : 1;
}

int store_insert_verdict(struct store *s, const char *app, const char *baseline,
                         const char *canary, const json_t *verdict, long long ts,
                         long long window_start, long long nbase, long long ncanary,
                         long long repeat_ms, char *err, size_t errlen)
{
    if (s->ch)
        return ch_insert_verdict(s, app, baseline, canary, verdict, ts, window_start, nbase,
                                 ncanary, repeat_ms, err, errlen);
    char *text = json_dumps(verdict, JSON_COMPACT);
    const char *p[] = {app, baseline, canary,
                       json_string_value(json_object_get(verdict, "policy")),
                       json_string_value(json_object_get(verdict, "method")),
                       json_string_value(json_object_get(verdict, "decision")), text};
    long long t[] = {ts, window_start, nbase, ncanary, repeat_ms};
    /* The verdicts_by_app index (app, ts) finds a repeat among the last repeat_ms. */
    int rc = exec_params(s, "INSERT INTO verdicts (app, baseline, canary, policy, method,"
                         " decision, result, ts, window_start, n_baseline, n_canary)"
                         " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11"
                         " WHERE ?12 <= 0 OR NOT EXISTS (SELECT 1 FROM verdicts WHERE app = ?1"
                         " AND ts > ?8 - ?12 AND baseline = ?2 AND canary = ?3 AND policy IS ?4"
                         " AND method IS ?5 AND decision IS ?6)",
                         p, 7, t, 5, "storing a verdict", err, errlen);
    free(text);
    return rc < 0 ? -1 : rc > 0;
}

json_t *store_verdicts(struct store *s, const char *app, long long limit, char *err,
                       size_t errlen)
{
    if (s->ch)
        return chread_verdicts(s->ch, app, limit, err, errlen);
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
    if (s->ch)
        return chread_apps(s->ch, err, errlen);
    return query_json(s,
        "SELECT coalesce(json_group_array(json_object('app', app, 'versions', nv,"
        " 'pageviews', n, 'last_seen', ls)), '[]') FROM (SELECT app, count(DISTINCT version)"
        " AS nv, count(*) AS n, max(received) / 1000 AS ls FROM pageviews GROUP BY app"
        " ORDER BY ls DESC LIMIT 50)", NULL, 0, NULL, 0, err, errlen);
}

json_t *store_versions(struct store *s, const char *app, char *err, size_t errlen)
{
    if (s->ch)
        return chread_versions(s->ch, app, err, errlen);
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
    if (s->ch)
        return chread_metric_points(s->ch, app, version, metric, since_ms, until_ms, times,
                                    values, n, err, errlen);
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
        ? "SELECT received, has_error"
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

json_t *store_new_errors(struct store *s, const char *app, const char *baseline,
                         const char *canary, long long since_ms, char *err, size_t errlen)
{
    if (s->ch)
        return chread_new_errors(s->ch, app, baseline, canary, since_ms, err, errlen);
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

json_t *store_probe_results(struct store *s, const char *app, long long offset, char *err,
                            size_t errlen)
{
    if (s->ch)
        return chread_probe_results(s->ch, app, offset, err, errlen);
    const char *p[] = {app};
    const long long n[] = {STORE_PROBE_RESULTS_MAX, offset};
    /* The latest run of each (journey, region): one GROUP BY (SQLite takes the bare
     * columns from the row of max(started)), then the documents read for the first page
     * only, so that a run of 100,000 journeys costs one sort, not a scan per journey. */
    return query_json(s,
        "WITH latest AS (SELECT journey, region, max(started) AS started, run_id, idx,"
        " version, passed, failed_step, failure FROM probe_journeys WHERE app = ?1"
        " GROUP BY journey, region),"
        " page AS (SELECT * FROM latest ORDER BY journey, region LIMIT ?2 OFFSET ?3)"
        " SELECT json_object('total', (SELECT count(*) FROM latest), 'results', json("
        " (SELECT coalesce(json_group_array(json(r)), '[]') FROM (SELECT json_object('journey',"
        " pj.journey, 'region', pj.region, 'version', pj.version, 'passed', json(CASE pj.passed"
        " WHEN 1 THEN 'true' ELSE 'false' END), 'started_at', strftime('%Y-%m-%dT%H:%M:%fZ',"
        " pj.started / 1000.0, 'unixepoch'), 'run_id', pj.run_id, 'failed_step',"
        " pj.failed_step, 'failure', pj.failure, 'duration_ms', json_extract(pr.document,"
        " '$.journeys[' || pj.idx || '].duration_ms'), 'steps', json(json_extract(pr.document,"
        " '$.journeys[' || pj.idx || '].steps'))) AS r FROM page pj JOIN probe_runs pr"
        " ON pr.run_id = pj.run_id ORDER BY pj.journey, pj.region))))",
        p, 1, n, 2, err, errlen);
}

/* --- rollups, retention and limits ------------------------------------------------- */

/* SQLite calls this every few thousand instructions of a statement; non-zero interrupts it
 * (SQLITE_INTERRUPT). */
static int past_deadline(void *arg)
{
    struct store *s = arg;
    return atomic_load(&s->interrupted) || (s->deadline > 0 && clock_mono_ms() > s->deadline);
}

void store_set_timeout(struct store *s, int ms)
{
    s->timeout_ms = ms;
    if (s->ch) {
        /* ClickHouse stops the query itself at max_execution_time (whole seconds); the
         * request's own timeout is a second later, for the answer to come back. */
        clickhouse_set_timeouts(s->ch, 0, ms + 1000L, ms > 0 ? (ms + 999) / 1000 : 0);
        return;
    }
    /* Installed even without a limit, so that store_interrupt also stops a statement
     * that starts after it (sqlite3_interrupt alone covers only those running). */
    sqlite3_progress_handler(s->db, 1000, past_deadline, s);
}

void store_interrupt(struct store *s)
{
    atomic_store(&s->interrupted, 1);
    if (s->ch) {
        clickhouse_interrupt(s->ch);
        return;
    }
    sqlite3_interrupt(s->db);
}

void store_start_read(struct store *s)
{
    s->deadline = s->timeout_ms > 0 ? clock_mono_ms() + s->timeout_ms : 0;
}

int store_timed_out(const struct store *s)
{
    return s->deadline > 0 && clock_mono_ms() > s->deadline;
}

void store_groups_free(struct store_group *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        sketch_fini(&g[i].sk);
    free(g);
}

/* The minute after the one that holds ms - 1: the end, exclusive, of a window that ends
 * at ms. */
static long long minute_ceil(long long ms)
{
    long long m = ms / ROLLUP_MINUTE_MS;
    return m * ROLLUP_MINUTE_MS < ms ? m + 1 : m;
}

int store_rollup_groups(struct store *s, const char *app, const char *version,
                        const char *metric, const char *by, long long since_ms,
                        long long until_ms, long long step_ms, struct store_group **out,
                        size_t *nout, char *err, size_t errlen)
{
    if (s->ch)
        return chstore_rollup_groups(s->ch, app, version, metric, by, since_ms, until_ms,
                                     step_ms, out, nout, err, errlen);
    sqlite3_stmt *q;
    struct store_group *g = NULL;
    size_t n = 0, cap = 0;
    int rc, ok = -1;
    const char *sql = by
        ? "SELECT minute, key, n, hits, sketch FROM rollups WHERE app = ?1 AND version = ?2"
          " AND metric = ?3 AND dim = ?4 AND minute >= ?5 AND minute < ?6 ORDER BY key"
        : "SELECT minute, key, n, hits, sketch FROM rollups WHERE app = ?1 AND version = ?2"
          " AND metric = ?3 AND dim = ?4 AND minute >= ?5 AND minute < ?6 ORDER BY minute";

    *out = NULL;
    *nout = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(s, "reading rollups", err, errlen);
    sqlite3_bind_text(q, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, version, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, by ? by : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, since_ms / ROLLUP_MINUTE_MS);
    sqlite3_bind_int64(q, 6, minute_ceil(until_ms));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long t = sqlite3_column_int64(q, 0) * ROLLUP_MINUTE_MS;
        const char *key = (const char *)sqlite3_column_text(q, 1);
        if (!by)
            t = step_ms > 0 ? t - t % step_ms : 0;
        struct store_group *cur = rollup_group_of(&g, &n, &cap, by, t, key ? key : "");
        if (!cur) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        cur->n += sqlite3_column_int64(q, 2);
        cur->hits += sqlite3_column_int64(q, 3);
        const void *blob = sqlite3_column_blob(q, 4);
        if (blob && sketch_merge_blob(&cur->sk, blob, (size_t)sqlite3_column_bytes(q, 4), err,
                                      errlen) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "reading rollups", err, errlen);
        goto out;
    }
    *out = g;
    *nout = n;
    g = NULL;
    ok = 0;
out:
    sqlite3_finalize(q);
    store_groups_free(g, n);
    return ok;
}

/* Deletes the rows below cutoff in column among the first limit rows of table in storage
 * order (rowid), which is the order they were received in: the oldest go first, and
 * a pass reads at most limit rows whatever the table's size, with no index on time. A
 * row imported with an old time after newer ones goes when those before it have gone.
 * Returns the number of rows deleted, or -1 with err. */
static int expire(struct store *s, const char *table, const char *column, long long cutoff,
                  int limit, char *err, size_t errlen)
{
    char sql[320];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM (SELECT rowid,"
             " %s AS t FROM %s ORDER BY rowid LIMIT %d) WHERE t < ?1)", table, column, table,
             limit);
    long long t[] = {cutoff};
    return exec_params(s, sql, NULL, 0, t, 1, "deleting expired rows", err, errlen);
}

long long store_retain(struct store *s, long long now_ms, long long raw_ms, long long rollup_ms,
                       int limit, char *err, size_t errlen)
{
    if (s->ch)
        return s->chw ? chwrite_retain(s->chw, now_ms, raw_ms, rollup_ms, err, errlen)
                      : no_writes(err, errlen);
    long long raw = now_ms - raw_ms, roll = now_ms - rollup_ms, total = 0;
    /* Each table in its own short transaction, so that beacons wait at most one of them. */
    static const struct {
        const char *table, *column;
        int rollup;             /* kept for --retain rather than --retain-raw */
    } tables[] = {
        {"metrics", "received", 0}, {"errors", "received", 0},
        {"pageviews", "last_received", 0}, {"probe_journeys", "started", 0},
        {"probe_runs", "started", 0}, {"verdicts", "ts", 1},
    };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        if ((tables[i].rollup ? rollup_ms : raw_ms) <= 0)
            continue;
        if (store_begin(s, err, errlen) < 0)
            return -1;
        int n = expire(s, tables[i].table, tables[i].column,
                       tables[i].rollup ? roll : raw, limit, err, errlen);
        if (n < 0 || store_commit(s, err, errlen) < 0) {
            if (n < 0)
                store_rollback(s);
            return -1;
        }
        total += n;
    }
    /* rollups is WITHOUT ROWID: its rows are named by their key. */
    long long t[] = {roll / ROLLUP_MINUTE_MS};
    if (rollup_ms <= 0)
        goto vacuum;
    if (store_begin(s, err, errlen) < 0)
        return -1;
    char sql[320];
    snprintf(sql, sizeof sql, "DELETE FROM rollups WHERE (app, version, metric, dim, minute, key)"
             " IN (SELECT app, version, metric, dim, minute, key FROM rollups WHERE minute < ?1"
             " LIMIT %d)", limit);
    int n = exec_params(s, sql, NULL, 0, t, 1, "deleting expired rollups", err, errlen);
    if (n < 0) {
        store_rollback(s);
        return -1;
    }
    if (store_commit(s, err, errlen) < 0)
        return -1;
    total += n;
vacuum:
    if (total > 0)
        sqlite3_exec(s->db, "PRAGMA incremental_vacuum(256)", NULL, NULL, NULL);
    return total;
}

/* Runs sql, a SELECT of json_array(A, B), into *a and *b (-1 for a NULL). 0 or -1. */
static int two_ints(struct store *s, const char *sql, long long *a, long long *b, char *err,
                    size_t errlen)
{
    json_t *v = query_json(s, sql, NULL, 0, NULL, 0, err, errlen);
    if (!json_is_array(v)) {
        json_decref(v);
        return -1;
    }
    json_t *x = json_array_get(v, 0), *y = json_array_get(v, 1);
    *a = json_is_integer(x) ? json_integer_value(x) : -1;
    *b = json_is_integer(y) ? json_integer_value(y) : -1;
    json_decref(v);
    return 0;
}

/* How often store_oldest asks ClickHouse (the writer asks after every retention pass,
 * once a second). */
#define STORE_CH_OLDEST_EVERY_MS 60000.0

int store_oldest(struct store *s, long long *raw_ms, long long *rollup_ms, char *err,
                 size_t errlen)
{
    if (s->ch) {
        double now = clock_mono_ms();
        if (s->oldest_at <= 0 || now - s->oldest_at >= STORE_CH_OLDEST_EVERY_MS) {
            s->oldest_at = now;
            if (chread_oldest(s->ch, &s->oldest_raw, &s->oldest_rollup, err, errlen) < 0)
                return -1;
        }
        *raw_ms = s->oldest_raw;
        *rollup_ms = s->oldest_rollup;
        return 0;
    }
    /* The first raw row in storage order, the one retention deletes next: min(received)
     * has no index and read every row, once a second, on the writer's thread. */
    return two_ints(s, "SELECT json_array((SELECT received FROM metrics ORDER BY rowid"
                    " LIMIT 1), (SELECT min(minute) FROM rollups) * 60000)", raw_ms, rollup_ms,
                    err, errlen);
}

/* One (app, version, metric) being merged by store_rum_quantiles. */
struct rum_group {
    char app[65], version[65], metric[65];
    struct sketch sk;
};

json_t *store_rum_quantiles(struct store *s, long long since_ms, double q, size_t max_series,
                            char *err, size_t errlen)
{
    if (s->ch)
        return chread_rum_quantiles(s->ch, since_ms, q, max_series, err, errlen);
    sqlite3_stmt *st;
    struct rum_group *g = calloc(max_series ? max_series : 1, sizeof *g);
    size_t n = 0;
    int rc;
    json_t *out = NULL;

    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* The index on minute finds the window's rows; the whole-version rows are the few
     * with dim "". */
    if (sqlite3_prepare_v2(s->db,
            "SELECT app, version, metric, sketch FROM rollups WHERE minute >= ?1 AND dim = ''"
            " AND metric <> '" ROLLUP_ERRORS "' LIMIT ?2", -1, &st, NULL) != SQLITE_OK) {
        db_error(s, "reading rollups", err, errlen);
        free(g);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, since_ms / ROLLUP_MINUTE_MS);
    sqlite3_bind_int64(st, 2, STORE_RUM_ROWS_MAX);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *app = (const char *)sqlite3_column_text(st, 0);
        const char *version = (const char *)sqlite3_column_text(st, 1);
        const char *metric = (const char *)sqlite3_column_text(st, 2);
        const void *blob = sqlite3_column_blob(st, 3);
        size_t k = 0;
        if (!app || !version || !metric || !blob)
            continue;
        while (k < n && !(strcmp(g[k].metric, metric) == 0 && strcmp(g[k].version, version) == 0
                          && strcmp(g[k].app, app) == 0))
            k++;
        if (k == n) {
            if (n == max_series)
                continue;
            snprintf(g[n].app, sizeof g[n].app, "%s", app);
            snprintf(g[n].version, sizeof g[n].version, "%s", version);
            snprintf(g[n].metric, sizeof g[n].metric, "%s", metric);
            sketch_init(&g[n].sk);
            n++;
        }
        if (sketch_merge_blob(&g[k].sk, blob, (size_t)sqlite3_column_bytes(st, 3), err,
                              errlen) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "reading rollups", err, errlen);
        goto out;
    }
    out = json_array();
    for (size_t k = 0; k < n && out; k++) {
        struct sketch_bins b;
        if (g[k].sk.n <= 0 || sketch_bins_of(&g[k].sk, &b) < 0)
            continue;
        if (b.total > 0)
            json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:f,s:I}", "app", g[k].app,
                                  "version", g[k].version, "metric", g[k].metric,
                                  "value", sketch_bins_quantile(&b, q), "n", (json_int_t)b.total));
        sketch_bins_fini(&b);
    }
    if (!out)
        snprintf(err, errlen, "out of memory");
out:
    sqlite3_finalize(st);
    for (size_t k = 0; k < n; k++)
        sketch_fini(&g[k].sk);
    free(g);
    return out;
}

json_t *store_probe_latest(struct store *s, size_t max_series, char *err, size_t errlen)
{
    if (s->ch)
        return chread_probe_latest(s->ch, max_series, err, errlen);
    sqlite3_stmt *st;
    json_t *out = json_array();
    uint64_t *hashes = calloc(max_series ? max_series : 1, sizeof *hashes);
    int rc;

    if (!out || !hashes) {
        snprintf(err, errlen, "out of memory");
        json_decref(out);
        free(hashes);
        return NULL;
    }
    /* Newest first along the index on started: the first row of a series is its latest. */
    if (sqlite3_prepare_v2(s->db,
            "SELECT pj.app, pj.version, pj.region, pj.journey, pj.passed,"
            " strftime('%Y-%m-%dT%H:%M:%fZ', pj.started / 1000.0, 'unixepoch'),"
            " json_extract(pr.document, '$.journeys[' || pj.idx || '].steps')"
            " FROM probe_journeys pj JOIN probe_runs pr ON pr.run_id = pj.run_id"
            " ORDER BY pj.started DESC LIMIT ?1", -1, &st, NULL) != SQLITE_OK) {
        db_error(s, "reading probe runs", err, errlen);
        json_decref(out);
        free(hashes);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, STORE_PROBE_LATEST_ROWS);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && json_array_size(out) < max_series) {
        const char *f[4];
        size_t i;
        for (int k = 0; k < 4; k++)
            f[k] = (const char *)sqlite3_column_text(st, k);
        if (!f[0] || !f[1] || !f[3])
            continue;
        if (!f[2])
            f[2] = "";
        /* A 64-bit hash of the four names tells the series apart (as one key). */
        uint64_t h = 1469598103934665603ULL;
        for (int k = 0; k < 4; k++)
            for (const unsigned char *c = (const unsigned char *)f[k]; ; c++) {
                h = (h ^ *c) * 1099511628211ULL;
                if (!*c)
                    break;
            }
        int seen = 0;
        for (i = 0; i < json_array_size(out); i++)
            if (hashes[i] == h) {
                seen = 1;
                break;
            }
        if (seen)
            continue;
        hashes[json_array_size(out)] = h;
        const char *steps = (const char *)sqlite3_column_text(st, 6);
        json_t *sj = steps ? json_loads(steps, 0, NULL) : NULL;
        const char *started = (const char *)sqlite3_column_text(st, 5);
        json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:o}", "app", f[0],
                              "version", f[1], "region", f[2], "journey", f[3],
                              "passed", sqlite3_column_int(st, 4) != 0,
                              "started_at", started ? started : "",
                              "steps", sj ? sj : json_array()));
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        db_error(s, "reading probe runs", err, errlen);
        json_decref(out);
        out = NULL;
    }
    sqlite3_finalize(st);
    free(hashes);
    return out;
}

/* --- collector migrate ---------------------------------------------------------------- */

const char *const store_export_names[STORE_EXPORT_N] = {
    "pageviews", "metrics", "errors", "probe_runs", "probe_journeys", "deployments",
    "verdicts"
};

#define UTC(col) "strftime('%Y-%m-%d %H:%M:%S', (" col ") / 1000, 'unixepoch')"

/* Each: the row id, then the row as ClickHouse's columns (shared/chstore.c's DDL). */
static const char *const export_sql[STORE_EXPORT_N] = {
    "SELECT id, json_object('app', app, 'pv', coalesce(pv, ''), 'version', version,"
    " 'session', coalesce(session, ''), 'page', coalesce(page, ''), 'nav', coalesce(nav, ''),"
    " 'client_ts', coalesce(client_ts, 0), 'received', " UTC("received") ","
    " 'received_ms', received, 'last_received_ms', last_received,"
    " 'browser', coalesce(browser, ''), 'browser_major', coalesce(browser_major, 0),"
    " 'os', coalesce(os, ''), 'device', coalesce(device, ''), 'country', coalesce(country, ''),"
    " 'conn', coalesce(conn, ''), 'device_hint', coalesce(device_hint, ''),"
    " 'viewport', coalesce(viewport, ''), 'dpr', coalesce(dpr, 0.0), 'attrs', coalesce(attrs, ''))"
    " FROM pageviews WHERE id > ?1 ORDER BY id LIMIT ?2",

    "SELECT m.id, json_object('app', m.app, 'version', m.version, 'name', m.name,"
    " 'mid', coalesce(m.mid, 'sqlite-' || m.id), 'pv', coalesce(p.pv, ''), 'value', m.value,"
    " 'rating', coalesce(m.rating, ''), 'received', " UTC("m.received") ","
    " 'received_ms', m.received, 'updated_ms', m.updated,"
    " 'attribution', coalesce(m.attribution, ''))"
    " FROM metrics m JOIN pageviews p ON p.id = m.pageview WHERE m.id > ?1 ORDER BY m.id LIMIT ?2",

    "SELECT e.id, json_object('app', e.app, 'version', e.version, 'eid', 'sqlite-' || e.id,"
    " 'pv', coalesce(p.pv, ''), 'fingerprint', e.fingerprint, 'message', e.message,"
    " 'source', coalesce(e.source, ''), 'line', coalesce(e.line, 0), 'col', coalesce(e.col, 0),"
    " 'stack', coalesce(e.stack, ''), 'kind', coalesce(e.kind, ''),"
    " 'received', " UTC("e.received") ", 'received_ms', e.received)"
    " FROM errors e JOIN pageviews p ON p.id = e.pageview WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",

    "SELECT rowid, json_object('run_id', run_id, 'app', app, 'version', version,"
    " 'region', region, 'host', coalesce(host, ''), 'passed', passed, 'started_ms', started,"
    " 'received', " UTC("received") ", 'key_id', coalesce(key_id, ''), 'document', document)"
    " FROM probe_runs WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",

    "SELECT rowid, json_object('run_id', run_id, 'idx', idx, 'app', app, 'version', version,"
    " 'region', region, 'journey', journey, 'passed', passed, 'started', " UTC("started") ","
    " 'started_ms', started, 'failed_step', coalesce(failed_step, ''),"
    " 'failure', coalesce(failure, ''), 'retried', retried, 'signed', signed)"
    " FROM probe_journeys WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",

    "SELECT id, json_object('app', app, 'version', version, 'did', 'sqlite-' || id,"
    " 'baseline', coalesce(baseline, ''), 'stage', coalesce(stage, ''), 'ts', " UTC("ts") ","
    " 'ts_ms', ts, 'note', coalesce(note, ''), 'received_ms', received, 'weight', weight)"
    " FROM deployments WHERE id > ?1 ORDER BY id LIMIT ?2",

    "SELECT id, json_object('app', app, 'vid', 'sqlite-' || id, 'baseline', baseline,"
    " 'canary', canary, 'policy', policy, 'method', method, 'decision', decision,"
    " 'ts', " UTC("ts") ", 'ts_ms', ts, 'window_start_ms', window_start,"
    " 'n_baseline', n_baseline, 'n_canary', n_canary, 'result', result)"
    " FROM verdicts WHERE id > ?1 ORDER BY id LIMIT ?2",
};

int store_export_rows(struct store *s, enum store_export_table table, long long *after,
                      size_t limit, size_t max_bytes, struct buf *out, size_t *rows, char *err,
                      size_t errlen)
{
    sqlite3_stmt *q;
    int rc = SQLITE_DONE;
    *rows = 0;
    if (sqlite3_prepare_v2(s->db, export_sql[table], -1, &q, NULL) != SQLITE_OK)
        return db_error(s, "exporting rows", err, errlen);
    sqlite3_bind_int64(q, 1, *after);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)limit);
    while (out->len < max_bytes && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *row = (const char *)sqlite3_column_text(q, 1);
        if (buf_puts(out, row ? row : "{}") < 0 || buf_puts(out, "\n") < 0) {
            sqlite3_finalize(q);
            snprintf(err, errlen, "exporting %s: out of memory", store_export_names[table]);
            return -1;
        }
        *after = sqlite3_column_int64(q, 0);
        (*rows)++;
    }
    if (out->len < max_bytes && rc != SQLITE_DONE) {
        sqlite3_finalize(q);
        return db_error(s, "exporting rows", err, errlen);
    }
    sqlite3_finalize(q);
    return 0;
}

int store_rollup_span(struct store *s, long long *first, long long *last, char *err,
                      size_t errlen)
{
    return two_ints(s, "SELECT json_array((SELECT min(minute) FROM rollups),"
                    " (SELECT max(minute) FROM rollups))", first, last, err, errlen);
}

int store_export_rollups(struct store *s, long long from_minute, long long to_minute,
                         int (*fn)(const struct rollup_row *row, void *arg), void *arg,
                         char *err, size_t errlen)
{
    sqlite3_stmt *q;
    struct sketch sk;
    int rc, out = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT app, version, metric, dim, key, minute, n, hits,"
                           " sketch FROM rollups WHERE minute >= ?1 AND minute < ?2"
                           " ORDER BY minute, app, version, metric, dim, key", -1, &q, NULL)
        != SQLITE_OK)
        return db_error(s, "exporting rollups", err, errlen);
    sqlite3_bind_int64(q, 1, from_minute);
    sqlite3_bind_int64(q, 2, to_minute);
    sketch_init(&sk);
    while (!out && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(q, 8);
        struct rollup_row row = {
            (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
            (const char *)sqlite3_column_text(q, 2), (const char *)sqlite3_column_text(q, 3),
            (const char *)sqlite3_column_text(q, 4), sqlite3_column_int64(q, 5),
            sqlite3_column_int64(q, 6), sqlite3_column_int64(q, 7), NULL
        };
        sketch_clear(&sk);
        if (blob && sketch_merge_blob(&sk, blob, (size_t)sqlite3_column_bytes(q, 8), err,
                                      errlen) < 0) {
            out = -1;
            break;
        }
        row.sk = blob ? &sk : NULL;
        out = fn(&row, arg);
    }
    if (!out && rc != SQLITE_DONE)
        out = db_error(s, "exporting rollups", err, errlen);
    sqlite3_finalize(q);
    sketch_fini(&sk);
    return out;
}
