/*
 * watch: what the collector alerts on and the /metrics series an alert rule reads
 * (collector/README.md "Alerts" and "/metrics"), kept in memory and shared by the
 * service threads (every function may be called from any of them; it locks).
 *
 * The service threads feed it what it already has in hand (a gate decision or a verdict
 * a reader computed, a probe run the writer stored, beacons stored) and ticks it once a
 * second; watch turns the events into alerts (alerts.h, when webhooks are configured)
 * and the latest values into series. Nothing here touches the disk: the RUM p75 series
 * come from a reader call (watch_rum_item) whose answer the service thread caches.
 * Every table is bounded; the least recently updated entry makes room.
 */
#ifndef VIGIL_WATCH_H
#define VIGIL_WATCH_H

#include <jansson.h>

#include "alerts.h"
#include "buf.h"
#include "writer.h"

#define WATCH_VERDICTS_MAX 256          /* (app, baseline, canary) pairs in vigil_verdict */
#define WATCH_GATES_MAX 256             /* (app, version) gate states remembered */
#define WATCH_REGIONS_MAX 256           /* (app, region) probe hosts watched */
#define WATCH_APPS_MAX 64               /* apps in vigil_beacons_stored_total; then (other) */
#define WATCH_RUM_SERIES_MAX 500        /* (app, version, metric) in vigil_rum_p75 */
#define WATCH_RUM_WINDOW_MS (15 * 60 * 1000LL)  /* the p75 is over the last 15 minutes */
#define WATCH_RUM_REFRESH_DEFAULT_MS 30000
#define WATCH_PUSH_GAP_MIN_MS 200       /* pushes closer than this count as one */
#define WATCH_SILENCE_FACTOR 3          /* silent after 3 usual intervals without a push */

struct watch;

/* A new watch posting to alerts (NULL: no alerts, series only). probe_silence_ms > 0
 * fixes when a region counts as silent; 0 takes 3 times its usual interval.
 * rum_refresh_ms is how often the p75 series are read. NULL when out of memory. */
struct watch *watch_new(struct alerts *alerts, long long probe_silence_ms,
                        long long rum_refresh_ms);
void watch_free(struct watch *w);

/* A gate decision (gate.h's JSON) answered to a client. */
void watch_gate(struct watch *w, const json_t *decision);

/* A verdict (cmp.h's JSON with app, baseline, canary) answered to a client. */
void watch_verdict(struct watch *w, const json_t *verdict);

/* A probe result the writer stored: its app and region ("" none) reported. */
void watch_probe_run(struct watch *w, const char *app, const char *region);

/* n beacons of app stored. */
void watch_beacons(struct watch *w, const char *app, long long n);

/* Once a second: alerts on regions gone silent. Returns a reader call (writer.h) to
 * submit when the p75 series are due for a refresh, else NULL; hand its answer back
 * with watch_rum_done (or drop it with watch_rum_done(w, NULL) when not submitted). */
struct writer_item *watch_tick(struct watch *w);

/* 1 when the finished item is watch's reader call. */
int watch_owns(const struct writer_item *item);
void watch_rum_done(struct watch *w, const struct writer_item *item);

/* A reader call that reads back the latest probe run of each series (at most
 * max_series) after a restart: its answer (watch_is_rebuild) is an array of result
 * documents, one journey each, oldest first, for the probe series. NULL without memory. */
struct writer_item *watch_rebuild_item(size_t max_series);
int watch_is_rebuild(const struct writer_item *item);

/* Writes the series (vigil_verdict, vigil_rum_p75, vigil_beacons_stored_total,
 * vigil_alerts_*_total) in the Prometheus text format. */
void watch_metrics_text(struct watch *w, struct buf *b);

#endif
