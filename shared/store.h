/*
 * store: Vigil's SQLite database (schema: collector/README.md), or its ClickHouse store.
 *
 * One writer (the collector's writer thread) inserts beacons in transactions it groups
 * itself; any number of readers (the CLI verbs, another process) query the same file,
 * which WAL mode allows. A struct store is used by one thread at a time.
 *
 * Opened on a clickhouse:// URL (store_open_opts), the same calls go to ClickHouse:
 * reads to shared/chread.h (and chstore_rollup_groups), writes to shared/chwrite.h, where
 * a transaction of beacons is one batch that store_commit sends, or spools when
 * ClickHouse does not take it (collector/README.md, "ClickHouse").
 */
#ifndef VIGIL_STORE_H
#define VIGIL_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "sketch.h"

#define STORE_SCHEMA_VERSION 6
#define STORE_GROUPS_MAX 1000       /* values of a dimension in one breakdown; the rest: "(other)" */

struct store;

/* What the server adds to a beacon it accepted. */
struct beacon_meta {
    long long received_ms;   /* server time, Unix ms */
    char browser[24];
    int browser_major;
    char os[16];
    char device[8];
    char country[8];         /* from the trusted country header, "" if none */
};

/* Opens (creating and migrating when writable) the database at path. readonly != 0 opens
 * an existing file for queries only. Returns 0 with *out (close with store_close()), or
 * -1 with a message in err. */
int store_open(struct store **out, const char *path, int readonly, char *err, size_t errlen);

#define STORE_CLICKHOUSE_SCHEME "clickhouse://"

/* Where and how to open a store. */
struct store_opts {
    const char *db;                     /* a SQLite path, or clickhouse://HOST:PORT/DB */
    const char *password_file;          /* ClickHouse: the password's file, or NULL */
    int init;                           /* ClickHouse: create the missing tables */
    const char *spool_dir;              /* ClickHouse writer: the spool folder, or NULL */
    unsigned long long spool_max_bytes; /* the spool's bound (0: none) */
    int readonly;
};

/* Opens the store o names: store_open for a path; for a clickhouse:// URL a connection
 * (no request yet, except the DDL with init), and unless readonly the writes with their
 * spool (locked: one collector per spool folder). 0 with *out, or -1 with err. */
int store_open_opts(struct store **out, const struct store_opts *o, char *err, size_t errlen);

/* Whether db names a ClickHouse store (starts with clickhouse://). */
int store_is_url(const char *db);

/* Whether the database takes writes now: not opened read-only by SQLite (file mode, owner,
 * read-only file system), and a committed write of its header page works (the write lock
 * within the busy timeout, room on the disk). 0, or -1 with err naming the file and why.
 * For collector serve's start. On ClickHouse: it answers and has every table (0); 1 when
 * it does not answer but the spool takes the writes meanwhile (err says why); else -1. */
int store_check_writable(struct store *s, char *err, size_t errlen);

void store_close(struct store *s);

/* ClickHouse: sends at most max spooled batches, oldest first, when a replay is due
 * (shared/chwrite.h). Returns how many were stored, 0 (none due; always on SQLite), or -1
 * with err. For the writer thread, between batches. */
int store_replay(struct store *s, int max, char *err, size_t errlen);

/* Whether batches wait in the spool (0 on SQLite). */
int store_spooled(const struct store *s);

/* The spool and the health of the writes, for /healthz and /metrics (zeros on SQLite). */
struct store_spool_stats {
    int degraded;               /* ClickHouse did not take the latest send or replay */
    long long batches, bytes;   /* waiting in the spool */
    long long spooled_total, replayed_total, set_aside_total;
    char reason[256];           /* why the latest send or replay failed, "" when none */
};
void store_spool_stats(const struct store *s, struct store_spool_stats *out);

/* The collector's writer does not checkpoint the WAL inside the COMMIT that crosses
 * SQLite's threshold (a 204 would wait for it), nor on its own thread (the checkpoint's
 * copying and fsyncs took about 15 ms of every 100 under scripts/bench-collector's load,
 * and every request that came meanwhile waited: p99 14 ms, 6 ms without them).
 * store_defer_checkpoints turns the automatic checkpoint of s off, counts the WAL's
 * frames instead, and starts a checkpoint thread with a connection of its own
 * (shared/checkpointer.h). store_checkpoint, which the writer calls between batches:
 * once the WAL holds STORE_CHECKPOINT_FRAMES frames (SQLite's default threshold), starts
 * the same PASSIVE checkpoint the automatic one would, on that thread, while the writer
 * goes on committing; when it is done, starts another for the frames committed meanwhile,
 * until at most STORE_CHECKPOINT_TAIL frames are left or STORE_CHECKPOINT_ROUNDS rounds
 * ran; then checkpoints what is left itself, between two commits, so that this one
 * completes and the next transaction starts the WAL again from its beginning (a writer
 * rewinds the WAL only when all of it was copied, sqlite.org/wal.html, "Checkpointing").
 * A no-op on a store that did not defer and on ClickHouse. store_defer_checkpoints returns
 * 0, or -1 with err when the thread could not start; store_checkpoint 1 when a checkpoint
 * ended (the last round, run here), 0 when none did, -1 with err when one failed (the
 * next call starts again). */
#define STORE_CHECKPOINT_FRAMES 1000
#define STORE_CHECKPOINT_TAIL 32
#define STORE_CHECKPOINT_ROUNDS 4
int store_defer_checkpoints(struct store *s, char *err, size_t errlen);
int store_checkpoint(struct store *s, char *err, size_t errlen);

/* Transactions around store_insert_beacon calls. Each returns 0 or -1 with err. */
int store_begin(struct store *s, char *err, size_t errlen);
int store_commit(struct store *s, char *err, size_t errlen);
void store_rollback(struct store *s);

/* Inserts one validated beacon (beacon_validate) with its server metadata: its page view
 * (merged with earlier beacons of the same app and pv), its metrics (a metric whose id
 * was seen before for the app replaces the earlier value) and its errors (grouped by
 * fingerprint). Returns the number of rows written, or -1 with err. */
int store_insert_beacon(struct store *s, const json_t *beacon, const struct beacon_meta *m,
                        char *err, size_t errlen);

/* The group of a JS error: SHA-256 over the app, the message and the first five lines of
 * the stack, each run of digits as one '0' (line numbers and ids that change from deploy
 * to deploy do not split a group), as 32 hex digits. */
void store_error_fingerprint(const char *app, const char *message, const char *stack,
                             char out[33]);

/* Loads the values of one metric of one version of an app received in
 * [since_ms, until_ms), sorted ascending, into a new array *values (free() it) of *n.
 * Returns 0 or -1 with err. */
int store_metric_values(struct store *s, const char *app, const char *version,
                        const char *metric, long long since_ms, long long until_ms,
                        double **values, size_t *n, char *err, size_t errlen);

/* Size of the database file and its WAL, in bytes. */
long long store_bytes(struct store *s);

struct probe_result;

/* Probe results (shared/probe_result.h, parsed and checked): stores the run and one row
 * per journey run in one transaction, unless a run with that run_id is stored already.
 * is_signed says the collector verified the push's signature with key key_id (shared/
 * sign.h); 0 for a push with the bearer token (key_id is then ignored). Returns 1 when
 * stored, 0 when it was there before (the earlier rows stay as they were), -1 with err
 * (nothing stored). */
int store_insert_probe_result(struct store *s, const struct probe_result *r,
                              long long received_ms, int is_signed, const char *key_id,
                              char *err, size_t errlen);

/* The same from the document's text, parsed with probe_result_parse_text (a document
 * that is not valid is -1 with "field: reason" in err). */
int store_insert_probe_run(struct store *s, const char *document, long long received_ms,
                           int is_signed, const char *key_id, char *err, size_t errlen);

/* The latest journey runs of an app (of one version, or all when version is NULL), newest
 * first: [{run_id, journey, region, version, passed, started, failed_step, failure,
 * retried, signed, key_id}]. A new reference, or NULL with err. */
json_t *store_probe_runs(struct store *s, const char *app, const char *version,
                         long long limit, char *err, size_t errlen);

/* Journey runs of app/version started since since_ms, oldest first, for the gate:
 * [{region, journey, passed, started, failed_step, failure, retried, signed}]. */
json_t *store_gate_rows(struct store *s, const char *app, const char *version,
                        long long since_ms, char *err, size_t errlen);

/* The regions that reported for app since since_ms: ["eu-west", ...]. */
json_t *store_regions(struct store *s, const char *app, long long since_ms, char *err,
                      size_t errlen);

/* When each region/journey of app/version last ran: [{region, journey, started}]. */
json_t *store_last_runs(struct store *s, const char *app, const char *version, char *err,
                        size_t errlen);

/* A deployment marker {app, version, baseline, stage, ts, note, weight}, validated
 * (weight, the canary's percentage of the traffic, may be absent). 0 or -1. */
int store_insert_deployment(struct store *s, const json_t *d, long long received_ms,
                            char *err, size_t errlen);

/* The markers of an app, newest first (at most 1000), each with its weight or null. */
json_t *store_deployments(struct store *s, const char *app, char *err, size_t errlen);

/* The weight of the latest marker of app/version (the one store_window_start starts
 * from), or NAN when there is no marker or it has no weight. 0 or -1 with err. */
int store_marker_weight(struct store *s, const char *app, const char *version, double *weight,
                        char *err, size_t errlen);

/* Page views of app/version in the rollup minutes that hold [since, until), without those
 * of synthetic tests in headless Chromium (browser UACLASS_HEADLESS; bots are never
 * stored): the traffic the split check counts. 0 or -1 with err. */
int store_traffic_views(struct store *s, const char *app, const char *version,
                        long long since_ms, long long until_ms, long long *views, char *err,
                        size_t errlen);

/* Where a version's comparison window starts: its latest marker, else its first beacon
 * (Unix ms); -1 when neither exists, -2 on error (err). */
long long store_window_start(struct store *s, const char *app, const char *version,
                             char *err, size_t errlen);

/* The same as it was at before_ms: from the markers and beacons before then. */
long long store_window_start_before(struct store *s, const char *app, const char *version,
                                    long long before_ms, char *err, size_t errlen);

/* 1 when the store holds anything of app (version NULL) or of one version of it: page
 * views, rollups, deployment markers or probe runs; 0 when nothing; -1 with err. Each
 * test is an EXISTS on an index that starts with (app, version). */
int store_seen(struct store *s, const char *app, const char *version, char *err,
               size_t errlen);

/* Page views of app/version received in [since, until), and how many had a JS error. */
int store_error_views(struct store *s, const char *app, const char *version,
                      long long since_ms, long long until_ms, long long *hits,
                      long long *views, char *err, size_t errlen);

/* Stores a verdict (cmp_judge's JSON) with its window and sample sizes, unless
 * repeat_ms > 0 and a verdict of the same app, baseline, canary, policy, method and
 * decision was stored in the repeat_ms before ts (a poll asking again; collector/README.md
 * "Which verdicts are recorded"). 1 stored, 0 a repeat, -1 with err. */
int store_insert_verdict(struct store *s, const char *app, const char *baseline,
                         const char *canary, const json_t *verdict, long long ts,
                         long long window_start, long long nbase, long long ncanary,
                         long long repeat_ms, char *err, size_t errlen);

/* --- rollups (shared/rollup.h): what every read but --exact uses ------------------- */

/* One group of rollup rows: a time bucket, or one value of a dimension. */
struct store_group {
    long long t;                /* grouped by time: the bucket's start, Unix ms */
    char key[513];              /* grouped by a dimension: its value */
    long long n;                /* values; for "errors", page views */
    long long hits;             /* for "errors", page views with a JS error */
    struct sketch sk;           /* the values (empty for "errors") */
};

/* Reads the rollups of one metric (or "errors") of app/version over the minutes that hold
 * [since, until) (whole minutes: the first one from its start) and merges them: with by NULL,
 * into time buckets of step_ms (a multiple of a minute; 0 for one group over the whole
 * window); else by the values of dimension by (browser, os, device, country, conn or
 * page; past STORE_GROUPS_MAX values, the rest as one "(other)"). *out is a new array of
 * *n groups in order of time or value (free it with store_groups_free), possibly empty.
 * Returns 0 or -1 with err. */
int store_rollup_groups(struct store *s, const char *app, const char *version,
                        const char *metric, const char *by, long long since_ms,
                        long long until_ms, long long step_ms, struct store_group **out,
                        size_t *n, char *err, size_t errlen);
void store_groups_free(struct store_group *g, size_t n);

#define STORE_RUM_ROWS_MAX 200000   /* rollup rows one store_rum_quantiles call reads */

/* The q-quantile of every metric (not "errors") of every app/version with rollups since
 * since_ms, merged over the window: [{app, version, metric, value, n}], at most
 * max_series of them (the first found) from at most STORE_RUM_ROWS_MAX rows. For the
 * collector's /metrics; a new reference, or NULL with err. */
json_t *store_rum_quantiles(struct store *s, long long since_ms, double q, size_t max_series,
                            char *err, size_t errlen);

/* A time limit on every statement of this connection (0: none): a statement still
 * running ms after the last store_start_read() is interrupted and fails, and
 * store_timed_out() then says so. For the collector's reader threads. */
void store_set_timeout(struct store *s, int ms);
void store_start_read(struct store *s);

/* From any thread (sqlite3_interrupt is safe there): the running statement of s and every
 * later one fail at once, with "the collector is stopping", on a store given
 * store_set_timeout. For the readers' stop; the store is only good for store_close then. */
void store_interrupt(struct store *s);
int store_timed_out(const struct store *s);

/* Deletes, in a few short transactions of at most limit rows per table, the raw rows
 * (page views, metrics, errors, probe runs) older than now - raw_ms and the rollups and
 * verdicts older than now - rollup_ms (either 0: kept for ever), and returns freed pages
 * to the file system when the database allows it. Returns the number of rows deleted, or -1 with err. */
long long store_retain(struct store *s, long long now_ms, long long raw_ms,
                       long long rollup_ms, int limit, char *err, size_t errlen);

/* When the first raw metric in storage order (the next retention deletes) was received,
 * and the start of the oldest rollup minute kept (Unix ms; -1 when none). */
int store_oldest(struct store *s, long long *raw_ms, long long *rollup_ms, char *err,
                 size_t errlen);

/* Dashboard queries (collector/README.md "Dashboard query API"). Each returns a new
 * reference or NULL with err. */
json_t *store_apps(struct store *s, char *err, size_t errlen);
json_t *store_versions(struct store *s, const char *app, char *err, size_t errlen);

/* Times (Unix ms) and values of one metric of app/version in [since, until), by time;
 * for metric "errors", one point per page view (1 with a JS error, else 0). The caller
 * frees *times and *values. Returns 0 or -1 with err. */
int store_metric_points(struct store *s, const char *app, const char *version,
                        const char *metric, long long since_ms, long long until_ms,
                        long long **times, double **values, size_t *n, char *err,
                        size_t errlen);

/* Error groups seen in the canary since since_ms and never in the baseline. */
json_t *store_new_errors(struct store *s, const char *app, const char *baseline,
                         const char *canary, long long since_ms, char *err, size_t errlen);

#define STORE_PROBE_RESULTS_MAX 50  /* journeys (with region) one store_probe_results lists */

/* The latest run of each journey in each region, with its steps: {"total": how many
 * (journey, region) pairs there are, "results": STORE_PROBE_RESULTS_MAX of them by journey
 * and region, from the offset-th (0 for the first page)}. A new reference, or NULL with
 * err. */
json_t *store_probe_results(struct store *s, const char *app, long long offset, char *err,
                            size_t errlen);

#define STORE_PROBE_LATEST_ROWS 20000  /* journey runs store_probe_latest reads */

/* The latest run of each (app, version, region, journey) among the newest
 * STORE_PROBE_LATEST_ROWS journey runs, newest first, at most max_series of them:
 * [{app, version, region, journey, passed, started_at, steps}] (steps as the run's
 * document has them). For the collector's probe series after a restart. */
json_t *store_probe_latest(struct store *s, size_t max_series, char *err, size_t errlen);

/* The latest verdicts of an app, newest first. */
json_t *store_verdicts(struct store *s, const char *app, long long limit, char *err,
                       size_t errlen);

/* --- collector migrate: the database's contents for another store ------------------ */

/* The raw tables in export order, named as ClickHouse's tables (shared/chstore.c). */
enum store_export_table {
    STORE_EXPORT_PAGEVIEWS, STORE_EXPORT_METRICS, STORE_EXPORT_ERRORS,
    STORE_EXPORT_PROBE_RUNS, STORE_EXPORT_PROBE_JOURNEYS, STORE_EXPORT_DEPLOYMENTS,
    STORE_EXPORT_VERDICTS, STORE_EXPORT_N
};
extern const char *const store_export_names[STORE_EXPORT_N];

/* Appends to out, one JSON object per line (ClickHouse's JSONEachRow), at most limit
 * rows (and no more once out holds max_bytes) of table whose row id is above *after, in row id order, with the columns of
 * ClickHouse's table of that name: times both as 'YYYY-MM-DD hh:mm:ss' UTC (the DateTime
 * columns) and as Unix ms, NULL text as '', and the ids ClickHouse keys rows by that
 * SQLite does not have made from the row id ("sqlite-ID"), so that exporting the same
 * rows again gives the same keys. *after becomes the last row id given, *rows the count
 * (0 at the end). 0 or -1 with err. */
int store_export_rows(struct store *s, enum store_export_table table, long long *after,
                      size_t limit, size_t max_bytes, struct buf *out, size_t *rows, char *err,
                      size_t errlen);

/* The minutes (received_ms / 60000) of the first and last rollup rows; both -1 when
 * there are none. 0 or -1 with err. */
int store_rollup_span(struct store *s, long long *first, long long *last, char *err,
                      size_t errlen);

struct rollup_row;

/* Calls fn on every rollup row of the minutes [from, to), in order of minute and key
 * (row->sk decoded from the stored sketch; everything borrowed for the call), stopping
 * at fn's first non-zero return, which it returns. 0, fn's value, or -1 with err. */
int store_export_rollups(struct store *s, long long from_minute, long long to_minute,
                         int (*fn)(const struct rollup_row *row, void *arg), void *arg,
                         char *err, size_t errlen);

#endif
