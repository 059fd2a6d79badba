#include "watch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "promtext.h"
#include "store.h"

#define RUM_CALL "rum-p75"
#define NAME_LEN 65

static const char *const decisions[] = {"promote", "pause", "rollback"};

struct verdict_entry {
    char app[NAME_LEN], baseline[NAME_LEN], canary[NAME_LEN];
    char decision[16];
    double share, expected;     /* the canary's observed and expected share of page views */
    int has_share;              /* the latest verdict tested the split (srm.h) */
    long long seq;              /* when last updated: the least recent makes room */
};

struct gate_entry {
    char app[NAME_LEN], version[NAME_LEN];
    int blocked;                /* the latest decision was block */
    long long episodes;         /* times it turned to block: one alert each */
    long long seq;
};

struct region_entry {
    char app[NAME_LEN], region[NAME_LEN];
    double last_ms;             /* monotonic: the latest push */
    long long last_wall_ms;     /* the same, Unix ms, for the alert's text */
    double interval_ms;         /* the usual time between pushes (smoothed); 0 unknown */
    long long pushes;
    int silent;                 /* alerted, waiting for the next push */
    long long seq;
};

struct app_count {
    char app[NAME_LEN];
    long long n;
};

struct watch {
    pthread_mutex_t lock;       /* the service threads share it */
    struct alerts *alerts;
    long long silence_ms, refresh_ms;
    long long seq;
    struct verdict_entry verdicts[WATCH_VERDICTS_MAX];
    size_t nverdicts;
    struct gate_entry gates[WATCH_GATES_MAX];
    size_t ngates;
    struct region_entry regions[WATCH_REGIONS_MAX];
    size_t nregions;
    struct app_count apps[WATCH_APPS_MAX + 1];  /* the last is "(other)" */
    size_t napps;
    json_t *rum;                /* the latest answer of the reader call, or NULL */
    double rum_asked_ms;        /* monotonic: when the call was last submitted */
    int rum_pending;            /* a call is out */
};

static void copy(char *dst, const char *src)
{
    snprintf(dst, NAME_LEN, "%s", src);
}

struct watch *watch_new(struct alerts *alerts, long long probe_silence_ms,
                        long long rum_refresh_ms)
{
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->alerts = alerts;
    w->silence_ms = probe_silence_ms;
    w->refresh_ms = rum_refresh_ms > 0 ? rum_refresh_ms : WATCH_RUM_REFRESH_DEFAULT_MS;
    w->rum_asked_ms = -1e18;
    copy(w->apps[WATCH_APPS_MAX].app, "(other)");
    pthread_mutex_init(&w->lock, NULL);
    return w;
}

void watch_free(struct watch *w)
{
    if (!w)
        return;
    json_decref(w->rum);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void verdict_locked(struct watch *w, const json_t *v)
{
    const char *app = json_string_value(json_object_get(v, "app"));
    const char *baseline = json_string_value(json_object_get(v, "baseline"));
    const char *canary = json_string_value(json_object_get(v, "canary"));
    const char *decision = json_string_value(json_object_get(v, "decision"));
    size_t k = 0;

    if (!w || !app || !baseline || !canary || !decision)
        return;
    for (size_t i = 0; i < w->nverdicts; i++, k++) {
        struct verdict_entry *e = &w->verdicts[i];
        if (strcmp(e->app, app) == 0 && strcmp(e->baseline, baseline) == 0
            && strcmp(e->canary, canary) == 0)
            break;
    }
    if (k == w->nverdicts) {
        size_t old = 0;
        for (size_t i = 1; i < w->nverdicts; i++)
            if (w->verdicts[i].seq < w->verdicts[old].seq)
                old = i;
        k = w->nverdicts < WATCH_VERDICTS_MAX ? w->nverdicts++ : old;
        memset(&w->verdicts[k], 0, sizeof w->verdicts[k]);
        copy(w->verdicts[k].app, app);
        copy(w->verdicts[k].baseline, baseline);
        copy(w->verdicts[k].canary, canary);
    }
    struct verdict_entry *e = &w->verdicts[k];
    int was_rollback = strcmp(e->decision, "rollback") == 0;
    snprintf(e->decision, sizeof e->decision, "%s", decision);
    e->seq = ++w->seq;
    const json_t *t = json_object_get(v, "traffic");
    e->has_share = json_is_number(json_object_get(t, "observed"))
                   && json_is_number(json_object_get(t, "expected"));
    e->share = json_number_value(json_object_get(t, "observed"));
    e->expected = json_number_value(json_object_get(t, "expected"));
    if (strcmp(decision, "rollback") != 0 || was_rollback || !w->alerts)
        return;

    /* The first rollback of the pair since the collector started: one alert. */
    char key[256], text[1024];
    const char *why = json_string_value(json_array_get(json_object_get(v, "reasons"), 0));
    snprintf(key, sizeof key, "verdict-rollback/%s/%s/%s", app, baseline, canary);
    snprintf(text, sizeof text, "Vigil: roll back %s %s (canary against baseline %s)%s%s",
             app, canary, baseline, why ? ": " : "", why ? why : "");
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:O}", "event", "verdict_rollback", "app", app,
                           "baseline", baseline, "canary", canary, "verdict", v);
    alerts_post(w->alerts, key, text, ev);
    json_decref(ev);
}

static void gate_locked(struct watch *w, const json_t *g)
{
    const char *app = json_string_value(json_object_get(g, "app"));
    const char *version = json_string_value(json_object_get(g, "version"));
    const char *decision = json_string_value(json_object_get(g, "decision"));
    size_t k = 0;

    if (!w || !app || !version || !decision)
        return;
    for (; k < w->ngates; k++)
        if (strcmp(w->gates[k].app, app) == 0 && strcmp(w->gates[k].version, version) == 0)
            break;
    if (k == w->ngates) {
        size_t old = 0;
        for (size_t i = 1; i < w->ngates; i++)
            if (w->gates[i].seq < w->gates[old].seq)
                old = i;
        k = w->ngates < WATCH_GATES_MAX ? w->ngates++ : old;
        memset(&w->gates[k], 0, sizeof w->gates[k]);
        copy(w->gates[k].app, app);
        copy(w->gates[k].version, version);
    }
    struct gate_entry *e = &w->gates[k];
    int block = strcmp(decision, "block") == 0;
    int turned = block && !e->blocked;
    e->blocked = block;
    e->seq = ++w->seq;
    if (!turned)
        return;
    e->episodes++;
    if (!w->alerts)
        return;

    /* One alert each time the version's gate turns to block, not at every look. */
    char key[256], text[1024];
    const char *why = json_string_value(json_array_get(json_object_get(g, "reasons"), 0));
    snprintf(key, sizeof key, "gate-block/%s/%s/%lld", app, version, e->episodes);
    snprintf(text, sizeof text, "Vigil: the gate blocks %s %s%s%s", app, version,
             why ? ": " : "", why ? why : "");
    json_t *ev = json_pack("{s:s,s:s,s:s,s:O}", "event", "gate_block", "app", app,
                           "version", version, "gate", g);
    alerts_post(w->alerts, key, text, ev);
    json_decref(ev);
}

static void probe_run_locked(struct watch *w, const char *app, const char *region)
{
    double now = clock_mono_ms();
    size_t k = 0;

    if (!w || !app || !region || !*region)
        return;
    for (; k < w->nregions; k++)
        if (strcmp(w->regions[k].app, app) == 0 && strcmp(w->regions[k].region, region) == 0)
            break;
    if (k == w->nregions) {
        size_t old = 0;
        for (size_t i = 1; i < w->nregions; i++)
            if (w->regions[i].seq < w->regions[old].seq)
                old = i;
        k = w->nregions < WATCH_REGIONS_MAX ? w->nregions++ : old;
        memset(&w->regions[k], 0, sizeof w->regions[k]);
        copy(w->regions[k].app, app);
        copy(w->regions[k].region, region);
    }
    struct region_entry *e = &w->regions[k];
    if (e->pushes > 0) {
        double gap = now - e->last_ms;
        /* A burst (one push per version, a spool flushed) is one report. Otherwise the
         * usual interval follows the gaps, a quarter of the way each time. */
        if (gap < WATCH_PUSH_GAP_MIN_MS && !e->silent)
            return;
        if (!e->silent)
            e->interval_ms = e->interval_ms > 0 ? 0.75 * e->interval_ms + 0.25 * gap : gap;
    }
    e->last_ms = now;
    e->last_wall_ms = clock_wall_ms();
    e->pushes++;
    e->silent = 0;
    e->seq = ++w->seq;
}

static void beacons_locked(struct watch *w, const char *app, long long n)
{
    size_t k = 0;
    if (!w || !app)
        return;
    while (k < w->napps && strcmp(w->apps[k].app, app) != 0)
        k++;
    if (k == w->napps) {
        if (w->napps == WATCH_APPS_MAX)
            k = WATCH_APPS_MAX;
        else
            copy(w->apps[w->napps++].app, app);
    }
    w->apps[k].n += n;
}

/* Runs on a reader thread: the p75 of every metric of every version over the window. */
static void rum_call(struct store *s, struct writer_item *item)
{
    char err[512];
    store_start_read(s);
    item->response = store_rum_quantiles(s, clock_wall_ms() - WATCH_RUM_WINDOW_MS, 0.75,
                                         WATCH_RUM_SERIES_MAX, err, sizeof err);
    item->status = item->response ? 200 : 503;
    if (!item->response)
        fprintf(stderr, "collector: the p75 series were not refreshed: %s\n", err);
}

/* Runs on a reader thread: the latest probe runs in the database, as result documents
 * of one journey each, oldest first (the order they would have come in). */
static void rebuild_call(struct store *s, struct writer_item *item)
{
    char err[512];
    json_int_t max = json_integer_value(json_object_get(item->request, "max"));
    store_start_read(s);
    json_t *rows = store_probe_latest(s, max > 0 ? (size_t)max : 1, err, sizeof err);
    if (!rows) {
        fprintf(stderr, "collector: the probe series were not read back: %s\n", err);
        item->status = 503;
        return;
    }
    item->response = json_array();
    for (size_t i = json_array_size(rows); i-- > 0;) {
        const json_t *r = json_array_get(rows, i);
        json_array_append_new(item->response, json_pack(
            "{s:{s:O,s:O,s:O},s:[{s:O,s:O,s:O,s:O}]}",
            "labels", "app", json_object_get(r, "app"), "version", json_object_get(r, "version"),
            "region", json_object_get(r, "region"),
            "journeys", "name", json_object_get(r, "journey"),
            "started_at", json_object_get(r, "started_at"), "passed", json_object_get(r, "passed"),
            "steps", json_object_get(r, "steps")));
    }
    json_decref(rows);
    item->status = 200;
}

struct writer_item *watch_rebuild_item(size_t max_series)
{
    struct writer_item *item = calloc(1, sizeof *item);
    if (!item)
        return NULL;
    item->call = rebuild_call;
    item->request = json_pack("{s:s,s:I}", "call", "probe-rebuild", "max", (json_int_t)max_series);
    return item;
}

int watch_is_rebuild(const struct writer_item *item)
{
    return item && item->call == rebuild_call;
}

static void check_silence(struct watch *w, double now)
{
    for (size_t i = 0; i < w->nregions; i++) {
        struct region_entry *e = &w->regions[i];
        double limit = w->silence_ms > 0 ? (double)w->silence_ms
                       : WATCH_SILENCE_FACTOR * e->interval_ms;
        if (e->silent || limit <= 0 || now - e->last_ms <= limit)
            continue;
        e->silent = 1;
        if (!w->alerts)
            continue;
        char key[256], text[512], when[40];
        time_t t = (time_t)(e->last_wall_ms / 1000);
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        /* The push count tells this silence from the next one after the region is back. */
        snprintf(key, sizeof key, "probe-silent/%s/%s/%lld", e->app, e->region, e->pushes);
        snprintf(text, sizeof text, "Vigil: the %s probes of %s stopped reporting: no run"
                 " since %s (%.0f s, expected every %.0f s)", e->region, e->app, when,
                 (now - e->last_ms) / 1000.0, e->interval_ms / 1000.0);
        json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:I}", "event", "probe_silent",
                               "app", e->app, "region", e->region, "last_run_at", when,
                               "silent_s", (now - e->last_ms) / 1000.0,
                               "interval_s", e->interval_ms / 1000.0, "limit_s", limit / 1000.0,
                               "pushes", (json_int_t)e->pushes);
        alerts_post(w->alerts, key, text, ev);
        json_decref(ev);
    }
}

static struct writer_item *tick_locked(struct watch *w)
{
    double now = clock_mono_ms();
    if (!w)
        return NULL;
    check_silence(w, now);
    if (w->rum_pending || now - w->rum_asked_ms < (double)w->refresh_ms)
        return NULL;
    struct writer_item *item = calloc(1, sizeof *item);
    if (!item)
        return NULL;
    item->call = rum_call;
    item->request = json_pack("{s:s}", "call", RUM_CALL);
    w->rum_pending = 1;
    w->rum_asked_ms = now;
    return item;
}

int watch_owns(const struct writer_item *item)
{
    return item && item->call == rum_call;
}

static void rum_done_locked(struct watch *w, const struct writer_item *item)
{
    if (!w)
        return;
    w->rum_pending = 0;
    if (item && item->status == 200 && json_is_array(item->response)) {
        json_decref(w->rum);
        w->rum = json_incref(item->response);
    }
}

/* One label, name="value", opening the set when first. */
static void label(struct buf *b, const char *name, const char *v, int first)
{
    buf_printf(b, "%s%s=\"", first ? "{" : ",", name);
    promtext_value(b, v);
    buf_puts(b, "\"");
}

/* One gauge per judged pair whose latest verdict tested the traffic split: the observed
 * share, or with expected the expected one. */
static void share_series(struct watch *w, struct buf *b, const char *name, const char *help,
                         int expected)
{
    promtext_family(b, name, "gauge", help);
    for (size_t i = 0; i < w->nverdicts; i++) {
        if (!w->verdicts[i].has_share)
            continue;
        buf_puts(b, name);
        label(b, "app", w->verdicts[i].app, 1);
        label(b, "baseline", w->verdicts[i].baseline, 0);
        label(b, "canary", w->verdicts[i].canary, 0);
        buf_printf(b, "} %.9g\n", expected ? w->verdicts[i].expected : w->verdicts[i].share);
    }
}

static void metrics_text_locked(struct watch *w, struct buf *b)
{
    struct alerts_stats st;
    size_t i;
    json_t *r;

    alerts_get_stats(w ? w->alerts : NULL, &st);
    promtext_scalar(b, "vigil_alerts_sent_total", "counter",
                    "Alert deliveries a webhook accepted (one per event and URL).", st.sent);
    promtext_scalar(b, "vigil_alerts_failed_total", "counter",
                    "Alert deliveries given up after every retry.", st.failed);
    promtext_scalar(b, "vigil_alerts_dropped_total", "counter",
                    "Alert deliveries dropped, the oldest first, from a full queue.", st.dropped);
    if (!w)
        return;
    promtext_family(b, "vigil_verdict", "gauge",
           "1 for the latest decision of each canary the collector judged since it started.");
    for (i = 0; i < w->nverdicts; i++) {
        for (size_t d = 0; d < sizeof decisions / sizeof decisions[0]; d++) {
            buf_puts(b, "vigil_verdict");
            label(b, "app", w->verdicts[i].app, 1);
            label(b, "baseline", w->verdicts[i].baseline, 0);
            label(b, "canary", w->verdicts[i].canary, 0);
            label(b, "decision", decisions[d], 0);
            buf_printf(b, "} %d\n", strcmp(w->verdicts[i].decision, decisions[d]) == 0);
        }
    }
    share_series(w, b, "vigil_traffic_share", "The canary's share of page views (baseline and"
                 " canary, without synthetic tests) in the latest verdict's window.", 0);
    share_series(w, b, "vigil_traffic_expected_share", "The canary's share of page views its"
                 " rollout step expects (the deployment marker's weight / 100).", 1);
    promtext_family(b, "vigil_rum_p75", "gauge",
           "p75 of each RUM metric over the last 15 minutes, from the rollups (ms; CLS unitless).");
    json_array_foreach(w->rum, i, r) {
        buf_puts(b, "vigil_rum_p75");
        label(b, "app", json_string_value(json_object_get(r, "app")), 1);
        label(b, "version", json_string_value(json_object_get(r, "version")), 0);
        label(b, "metric", json_string_value(json_object_get(r, "metric")), 0);
        buf_printf(b, "} %.9g\n", json_number_value(json_object_get(r, "value")));
    }
    promtext_family(b, "vigil_beacons_stored_total", "counter",
           "Beacons stored, by app (the first 64; the rest as (other)).");
    for (i = 0; i <= WATCH_APPS_MAX; i++) {
        if (i >= w->napps && i < WATCH_APPS_MAX)
            continue;
        if (i == WATCH_APPS_MAX && w->apps[i].n == 0)
            continue;
        buf_puts(b, "vigil_beacons_stored_total");
        label(b, "app", w->apps[i].app, 1);
        buf_printf(b, "} %lld\n", w->apps[i].n);
    }
}

/* The service threads share the watch: each entry point takes its lock. */
#define LOCKED(w, call)                 \
    do {                                \
        if (!(w))                       \
            return;                     \
        pthread_mutex_lock(&(w)->lock); \
        call;                           \
        pthread_mutex_unlock(&(w)->lock); \
    } while (0)

void watch_verdict(struct watch *w, const json_t *v)
{
    LOCKED(w, verdict_locked(w, v));
}

void watch_gate(struct watch *w, const json_t *g)
{
    LOCKED(w, gate_locked(w, g));
}

void watch_probe_run(struct watch *w, const char *app, const char *region)
{
    LOCKED(w, probe_run_locked(w, app, region));
}

void watch_beacons(struct watch *w, const char *app, long long n)
{
    LOCKED(w, beacons_locked(w, app, n));
}

void watch_rum_done(struct watch *w, const struct writer_item *item)
{
    LOCKED(w, rum_done_locked(w, item));
}

void watch_metrics_text(struct watch *w, struct buf *b)
{
    LOCKED(w, metrics_text_locked(w, b));
}

struct writer_item *watch_tick(struct watch *w)
{
    struct writer_item *item = NULL;
    if (!w)
        return NULL;
    pthread_mutex_lock(&w->lock);
    item = tick_locked(w);
    pthread_mutex_unlock(&w->lock);
    return item;
}
