/*
 * chread: the reads of shared/store.h answered from ClickHouse (the scale-out store;
 * collector/README.md "ClickHouse"). Each chread_X takes the same arguments as store_X,
 * with the ClickHouse connection in place of the store, and gives the same result in the
 * same form (same JSON keys, order, caps and errors), so that store.c dispatches to it
 * when the store was opened on a clickhouse:// URL and nothing above the store can tell.
 *
 * The raw tables are ReplacingMergeTree (shared/chstore.c) and no read relies on a merge:
 * page views and metrics are grouped by their natural key (min(received_ms), the first
 * receipt; argMax(value, updated_ms), the latest report), errors by event id, the small
 * tables read with FINAL. The rollups are summed, the batch markers (app '') left out.
 * Every query is bounded: rows (the caps below and those of store.h, checked with
 * clickhouse_query_json's max_rows) and time (the connection's max_execution_time).
 * Strings reach SQL only through chstore_quote.
 */
#ifndef VIGIL_CHREAD_H
#define VIGIL_CHREAD_H

#include <jansson.h>
#include <stddef.h>

#include "clickhouse.h"

/* The bounds of the reads (collector/README.md "Reads from ClickHouse"). Past the first
 * three a read fails with a sentence naming it, never cutting silently; the last two are
 * the LIMITs of store.h's reads, which cut as SQLite's do. */
#define CHREAD_LIST_MAX 100000          /* a list's limit argument (the API asks 500); SQLite
                                           reads a negative one as none, refused here */
#define CHREAD_POINTS_MAX 500000        /* values of one --exact series (TabSeparated, about
                                           25 bytes each: within CLICKHOUSE_ANSWER_MAX) */
#define CHREAD_JOURNEY_ROWS_MAX 200000  /* journey runs of a gate, regions or last-runs read */
#define CHREAD_MARKERS_MAX 1000         /* store_deployments' LIMIT */
#define CHREAD_DASH_ROWS 50             /* a dashboard list (apps, versions, new errors) */

int chread_metric_values(struct clickhouse *c, const char *app, const char *version,
                         const char *metric, long long since_ms, long long until_ms,
                         double **values, size_t *n, char *err, size_t errlen);
json_t *chread_probe_runs(struct clickhouse *c, const char *app, const char *version,
                          long long limit, char *err, size_t errlen);
json_t *chread_gate_rows(struct clickhouse *c, const char *app, const char *version,
                         long long since_ms, char *err, size_t errlen);
json_t *chread_regions(struct clickhouse *c, const char *app, long long since_ms, char *err,
                       size_t errlen);
json_t *chread_last_runs(struct clickhouse *c, const char *app, const char *version, char *err,
                         size_t errlen);
json_t *chread_deployments(struct clickhouse *c, const char *app, char *err, size_t errlen);
int chread_marker_weight(struct clickhouse *c, const char *app, const char *version,
                         double *weight, char *err, size_t errlen);
int chread_traffic_views(struct clickhouse *c, const char *app, const char *version,
                         long long since_ms, long long until_ms, long long *views, char *err,
                         size_t errlen);
long long chread_window_start(struct clickhouse *c, const char *app, const char *version,
                              char *err, size_t errlen);
long long chread_window_start_before(struct clickhouse *c, const char *app,
                                     const char *version, long long before_ms, char *err,
                                     size_t errlen);
int chread_seen(struct clickhouse *c, const char *app, const char *version, char *err,
                size_t errlen);
int chread_error_views(struct clickhouse *c, const char *app, const char *version,
                       long long since_ms, long long until_ms, long long *hits,
                       long long *views, char *err, size_t errlen);
json_t *chread_verdicts(struct clickhouse *c, const char *app, long long limit, char *err,
                        size_t errlen);
/* Whether a verdict like this one was stored in the repeat_ms before ts (store_insert_
 * verdict's repeat rule): 1 yes, 0 no, -1 with err. */
int chread_verdict_repeat(struct clickhouse *c, const char *app, const char *baseline,
                          const char *canary, const char *policy, const char *method,
                          const char *decision, long long ts, long long repeat_ms, char *err,
                          size_t errlen);
json_t *chread_apps(struct clickhouse *c, char *err, size_t errlen);
json_t *chread_versions(struct clickhouse *c, const char *app, char *err, size_t errlen);
int chread_metric_points(struct clickhouse *c, const char *app, const char *version,
                         const char *metric, long long since_ms, long long until_ms,
                         long long **times, double **values, size_t *n, char *err,
                         size_t errlen);
json_t *chread_new_errors(struct clickhouse *c, const char *app, const char *baseline,
                          const char *canary, long long since_ms, char *err, size_t errlen);
json_t *chread_probe_results(struct clickhouse *c, const char *app, long long offset,
                             char *err, size_t errlen);
json_t *chread_probe_latest(struct clickhouse *c, size_t max_series, char *err,
                            size_t errlen);
json_t *chread_rum_quantiles(struct clickhouse *c, long long since_ms, double q,
                             size_t max_series, char *err, size_t errlen);
/* store_oldest: the oldest raw metric's receipt (min(received_ms): ClickHouse has no
 * storage order to follow) and the oldest rollup minute kept. */
int chread_oldest(struct clickhouse *c, long long *raw_ms, long long *rollup_ms, char *err,
                  size_t errlen);

#endif
