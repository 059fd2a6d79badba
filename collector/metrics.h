/*
 * metrics: GET /metrics (collector/README.md "/metrics") in the Prometheus text format,
 * and the counts and probe series it shows, shared by the service threads (every
 * function may be called from any of them).
 *
 * The probe series are blackbox_exporter's probe_* series of the latest run of each
 * (app, journey, region, version), taken from the parsed documents (probe_result.h).
 */
#ifndef VIGIL_METRICS_H
#define VIGIL_METRICS_H

#include <jansson.h>

#include "http.h"

#define METRICS_PROBE_SERIES_MAX 1024   /* (app, journey, region, version) */
#define METRICS_REFUSED_ORIGINS_MAX 64  /* origins counted on their own; then "(other)" */

struct metrics;
struct probe_result;

/* NULL without memory; metrics_free(NULL) is a no-op. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Counts. */
void metrics_rejected(struct metrics *m, enum http_reason r, const char *origin);
void metrics_stored(struct metrics *m, long long beacons);
void metrics_bot(struct metrics *m);
void metrics_connections(struct metrics *m, int delta);

/* A probe result the writer stored: its journeys into the probe series, unless a series
 * holds a newer run. */
void metrics_probe_run(struct metrics *m, const struct probe_result *r);

/* The probe series as the database left them (watch_rebuild_item's answer). */
void metrics_probe_rebuild(struct metrics *m, const json_t *docs);

/* Route handler of GET and HEAD /metrics. */
void metrics_start(struct server *srv, struct http_req *req);

#endif
