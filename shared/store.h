/*
 * store: Vigil's SQLite database (schema: collector/README.md).
 *
 * One writer (the collector's writer thread) inserts beacons in transactions it groups
 * itself; any number of readers (the CLI verbs, another process) query the same file,
 * which WAL mode allows. A struct store is used by one thread at a time.
 */
#ifndef VIGIL_STORE_H
#define VIGIL_STORE_H

#include <jansson.h>
#include <stddef.h>

#define STORE_SCHEMA_VERSION 3

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

void store_close(struct store *s);

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

/* Loads the values of one metric of one version of an app received in
 * [since_ms, until_ms), sorted ascending, into a new array *values (free() it) of *n.
 * Returns 0 or -1 with err. */
int store_metric_values(struct store *s, const char *app, const char *version,
                        const char *metric, long long since_ms, long long until_ms,
                        double **values, size_t *n, char *err, size_t errlen);

/* Size of the database file and its WAL, in bytes. */
long long store_bytes(struct store *s);

/* Probe results (the JSON document of probe/README.md, already validated). Stores the
 * run and one row per journey run, unless a run with that run_id is stored already.
 * is_signed says the collector verified the push's signature with key key_id (shared/
 * sign.h); 0 for a push with the bearer token (key_id is then ignored). Returns 1 when
 * stored, 0 when it was there before (the earlier row stays as it was), -1 with err. */
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

/* A deployment marker {app, version, baseline, stage, ts, note}, validated. 0 or -1. */
int store_insert_deployment(struct store *s, const json_t *d, long long received_ms,
                            char *err, size_t errlen);

/* The markers of an app, newest first. */
json_t *store_deployments(struct store *s, const char *app, char *err, size_t errlen);

/* Where a version's comparison window starts: its latest marker, else its first beacon
 * (Unix ms); -1 when neither exists, -2 on error (err). */
long long store_window_start(struct store *s, const char *app, const char *version,
                             char *err, size_t errlen);

/* Page views of app/version received in [since, until), and how many had a JS error. */
int store_error_views(struct store *s, const char *app, const char *version,
                      long long since_ms, long long until_ms, long long *hits,
                      long long *views, char *err, size_t errlen);

/* Stores a verdict (cmp_judge's JSON) with its window and sample sizes. 0 or -1. */
int store_insert_verdict(struct store *s, const char *app, const char *baseline,
                         const char *canary, const json_t *verdict, long long ts,
                         long long window_start, long long nbase, long long ncanary,
                         char *err, size_t errlen);

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

/* [[key, value], ...] of one version's metric (or error flags) by a page view column:
 * browser, os, device, country, conn or page. */
json_t *store_breakdown_rows(struct store *s, const char *app, const char *version,
                             const char *metric, const char *by, long long since_ms,
                             long long until_ms, char *err, size_t errlen);

/* Error groups seen in the canary since since_ms and never in the baseline. */
json_t *store_new_errors(struct store *s, const char *app, const char *baseline,
                         const char *canary, long long since_ms, char *err, size_t errlen);

/* The latest run of each journey in each region, with its steps. */
json_t *store_probe_results(struct store *s, const char *app, char *err, size_t errlen);

/* The latest verdicts of an app, newest first. */
json_t *store_verdicts(struct store *s, const char *app, long long limit, char *err,
                       size_t errlen);

#endif
