#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "probe_result.h"
#include "promtext.h"
#include "server.h"
#include "watch.h"
#include "writer.h"

#define JOURNEY_LABEL_MAX 128       /* bytes of a journey name kept as a label */

/* Requests refused for their Origin are counted per origin in /metrics, for the first
 * METRICS_REFUSED_ORIGINS_MAX origins (the rest together as "(other)"), and logged at
 * most once a minute per origin, so that a misconfigured --allow-origin shows instead of
 * beacons vanishing, and a flood of made-up origins can grow neither the table nor the
 * log. */
#define REFUSED_ORIGIN_LEN 128      /* bytes of an origin kept (label and log) */
#define REFUSED_LOG_MS 60000.0      /* one log line per origin per minute, at most */

struct refused_origin {
    char origin[REFUSED_ORIGIN_LEN + 1];  /* printable ASCII; "(other)" for the last slot */
    long long count;
    long long logged;           /* count when the last line was written */
    double log_ms;              /* when (monotonic); meaningful once logged > 0 */
};

/* blackbox_exporter's probe_http_duration_seconds phases: each on its own, not cumulative,
 * so that they add up to the request's total time (step_phases). */
enum { PHASE_RESOLVE, PHASE_CONNECT, PHASE_TLS, PHASE_PROCESSING, PHASE_TRANSFER, PHASE_N };
#define SERIES_STEPS_MAX 16        /* steps of a journey with series of their own */
#define STEP_LABEL_MAX 64
static const char *const phase_names[PHASE_N] = {"resolve", "connect", "tls", "processing",
                                                 "transfer"};

struct probe_series {
    char app[65], version[65], region[65];
    char journey[JOURNEY_LABEL_MAX + 1];
    long long started_ms;       /* the journey run's start: an older run (a late retry from
                                   a probe's spool) does not replace a newer one */
    long long seq;              /* when it was last updated: the least recent is evicted */
    int success;
    int http_status;            /* of the run's last step that sent a request; 0 none */
    double http_version;        /* of that step: 1.0, 1.1, 2, 3; 0 unknown */
    double phase_s[PHASE_N];    /* summed over the run's steps */
    long long cert_expiry;      /* earliest over the run's https steps, Unix s; -1 none */
    struct {
        char name[STEP_LABEL_MAX + 1];
        double phase_s[PHASE_N];
    } steps[SERIES_STEPS_MAX];  /* the first steps of the run, each on its own */
    size_t nsteps;
};

/* The counts and series, shared by the service threads: the counts are atomic, the
 * tables behind the lock. */
struct metrics {
    pthread_mutex_t lock;       /* refused, series */
    _Atomic long long accepted_requests, accepted_beacons, bots;
    _Atomic long long rejected[REJ_N];
    _Atomic long long connections;
    struct refused_origin refused[METRICS_REFUSED_ORIGINS_MAX + 1];  /* the last: "(other)" */
    size_t nrefused;
    struct probe_series *series;    /* METRICS_PROBE_SERIES_MAX, allocated when first used */
    size_t nseries;
    long long series_seq;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(struct metrics));
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->series);
    free(m);
}

void metrics_stored(struct metrics *m, long long beacons)
{
    m->accepted_requests++;
    m->accepted_beacons += beacons;
}

void metrics_bot(struct metrics *m)
{
    m->bots++;
}

void metrics_connections(struct metrics *m, int delta)
{
    m->connections += delta;
}

/* Counts a request refused for its Origin and logs it, at most once a minute per origin
 * (the origin is the client's: it is logged and labelled as printable ASCII only). */
static void origin_refused(struct metrics *m, const char *origin)
{
    char clean[REFUSED_ORIGIN_LEN + 1];
    size_t n = 0;
    for (; origin[n] && n < REFUSED_ORIGIN_LEN; n++)
        clean[n] = (unsigned char)origin[n] < 0x20 || (unsigned char)origin[n] > 0x7e
                   ? '?' : origin[n];
    clean[n] = '\0';
    struct refused_origin *r = NULL;
    for (size_t i = 0; i < m->nrefused && !r; i++)
        if (strcmp(m->refused[i].origin, clean) == 0)
            r = &m->refused[i];
    if (!r && m->nrefused < METRICS_REFUSED_ORIGINS_MAX) {
        r = &m->refused[m->nrefused++];
        memcpy(r->origin, clean, n + 1);
    }
    int other = !r;
    if (other) {
        r = &m->refused[METRICS_REFUSED_ORIGINS_MAX];
        snprintf(r->origin, sizeof r->origin, "(other)");
    }
    r->count++;
    double now = clock_mono_ms();
    if (r->logged > 0 && now - r->log_ms < REFUSED_LOG_MS)
        return;
    fprintf(stderr, "collector: refused beacons from origin \"%s\": not allowed by"
            " --allow-origin (%lld refused%s since the collector started; at most one line"
            " a minute)\n", clean, r->count,
            other ? " from origins past the first 64" : " from it");
    r->logged = r->count;
    r->log_ms = now;
}

void metrics_rejected(struct metrics *m, enum http_reason r, const char *origin)
{
    m->rejected[r]++;
    if (r == REJ_ORIGIN) {
        pthread_mutex_lock(&m->lock);
        origin_refused(m, origin);
        pthread_mutex_unlock(&m->lock);
    }
}

/* The series of one (app, journey, region, version): found, or a new one, taking the
 * place of the least recently updated when the table is full. NULL without memory. */
static struct probe_series *series_slot(struct metrics *m, const char *app,
                                        const char *version, const char *region,
                                        const char *journey)
{
    struct probe_series *oldest = NULL;
    if (!m->series && !(m->series = calloc(METRICS_PROBE_SERIES_MAX, sizeof *m->series)))
        return NULL;
    for (size_t i = 0; i < m->nseries; i++) {
        struct probe_series *p = &m->series[i];
        if (strcmp(p->app, app) == 0 && strcmp(p->version, version) == 0
            && strcmp(p->region, region) == 0 && strcmp(p->journey, journey) == 0)
            return p;
        if (!oldest || p->seq < oldest->seq)
            oldest = p;
    }
    struct probe_series *p = m->nseries < METRICS_PROBE_SERIES_MAX
                             ? &m->series[m->nseries++] : oldest;
    memset(p, 0, sizeof *p);
    snprintf(p->app, sizeof p->app, "%s", app);
    snprintf(p->version, sizeof p->version, "%s", version);
    snprintf(p->region, sizeof p->region, "%s", region);
    snprintf(p->journey, sizeof p->journey, "%s", journey);
    p->started_ms = -1;
    return p;
}

/* A step's timings_ms as blackbox_exporter's phases, in seconds, into out. The probe's
 * dns, connect and tls are each a phase of its own already (probe/runner.c takes curl's
 * cumulative times apart), but its ttfb and total count from the start, as curl's
 * STARTTRANSFER and TOTAL do: processing is from the end of tls (the request sent) to
 * ttfb, transfer from ttfb to total. Each phase ends where the previous one ended or
 * later, and at the total at the latest, so that no phase is negative and the phases add
 * up to the total. Without a first byte (ttfb 0: no response) the wait after tls is all
 * processing. Missing or bad numbers count as 0. */
static void step_phases(const struct probe_result_step *st, double out[PHASE_N])
{
    double v[PROBE_T_N], end[PHASE_N], prev = 0;

    for (int i = 0; i < PROBE_T_N; i++)
        v[i] = st->has_timings ? st->timings[i] / 1000.0 : 0;
    double total = v[4];
    end[PHASE_RESOLVE] = v[0];
    end[PHASE_CONNECT] = v[0] + v[1];
    end[PHASE_TLS] = v[0] + v[1] + v[2];
    end[PHASE_PROCESSING] = v[3] > 0 ? v[3] : total;
    end[PHASE_TRANSFER] = total;
    for (int ph = 0; ph < PHASE_N; ph++) {
        double e = end[ph] < prev ? prev : end[ph] > total ? total : end[ph];
        out[ph] = e - prev;
        prev = e;
    }
}

/* Takes one journey run of app/version/region into the /metrics table, unless the
 * series holds a newer run already. Called with the lock held, from memory. */
static void series_journey(struct metrics *m, const char *app, const char *version,
                           const char *region, const struct probe_result_journey *j)
{
    char journey[JOURNEY_LABEL_MAX + 1];
    /* A long name is cut at a character boundary, so that the label stays UTF-8. */
    size_t n = strlen(j->name);
    if (n > JOURNEY_LABEL_MAX) {
        n = JOURNEY_LABEL_MAX;
        while (n > 0 && ((unsigned char)j->name[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(journey, j->name, n);
    journey[n] = '\0';
    struct probe_series *p = series_slot(m, app, version, region, journey);
    if (!p || j->started_ms < p->started_ms)
        return;
    p->started_ms = j->started_ms;
    p->seq = ++m->series_seq;
    p->success = j->passed;
    p->cert_expiry = -1;
    p->http_status = 0;
    p->http_version = 0;
    for (int ph = 0; ph < PHASE_N; ph++)
        p->phase_s[ph] = 0;
    p->nsteps = 0;
    for (size_t k = 0; k < j->nsteps; k++) {
        const struct probe_result_step *st = &j->steps[k];
        int own = p->nsteps < SERIES_STEPS_MAX && st->has_timings;
        double phases[PHASE_N];
        /* A skipped step sent nothing: the status is the last answer's (0: none). */
        if (st->status >= 0) {
            p->http_status = st->status;
            p->http_version = strtod(st->http_version, NULL);
            if (!isfinite(p->http_version) || p->http_version < 0)
                p->http_version = 0;
        }
        if (own)
            snprintf(p->steps[p->nsteps].name, sizeof p->steps[p->nsteps].name, "%.*s",
                     STEP_LABEL_MAX, st->name);
        step_phases(st, phases);
        for (int ph = 0; ph < PHASE_N; ph++) {
            p->phase_s[ph] += phases[ph];
            if (own)
                p->steps[p->nsteps].phase_s[ph] = phases[ph];
        }
        if (own)
            p->nsteps++;
        long long expiry = st->cert_expiry_ms;
        if (expiry >= 0 && (p->cert_expiry < 0 || expiry / 1000 < p->cert_expiry))
            p->cert_expiry = expiry / 1000;
    }
}

/* Takes the journey runs of a probe result the writer has just stored into the /metrics
 * table. */
void metrics_probe_run(struct metrics *m, const struct probe_result *r)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < r->njourneys; i++)
        series_journey(m, r->app, r->version, r->region, &r->journeys[i]);
    pthread_mutex_unlock(&m->lock);
}

/* The probe series as the database left them (watch_rebuild_item's answer: documents of
 * one journey each, oldest first); a run pushed since is newer. */
void metrics_probe_rebuild(struct metrics *m, const json_t *docs)
{
    char field[128], err[256];
    size_t k;
    json_t *doc;
    pthread_mutex_lock(&m->lock);
    json_array_foreach(docs, k, doc) {
        const json_t *labels = json_object_get(doc, "labels");
        const char *app = json_string_value(json_object_get(labels, "app"));
        const char *version = json_string_value(json_object_get(labels, "version"));
        const char *region = json_string_value(json_object_get(labels, "region"));
        struct probe_result_journey j;
        if (!app || !version || probe_result_parse_journey(json_array_get(json_object_get(
                doc, "journeys"), 0), "", &j, field, sizeof field, err, sizeof err) < 0)
            continue;
        series_journey(m, app, version, region ? region : "", &j);
        probe_result_journey_fini(&j);
    }
    pthread_mutex_unlock(&m->lock);
}

static void series_labels(struct buf *b, const struct probe_series *p)
{
    buf_puts(b, "{app=\"");
    promtext_value(b, p->app);
    buf_puts(b, "\",journey=\"");
    promtext_value(b, p->journey);
    buf_puts(b, "\",region=\"");
    promtext_value(b, p->region);
    buf_puts(b, "\",version=\"");
    promtext_value(b, p->version);
    buf_puts(b, "\"");
}

/* The latest probe results, as blackbox_exporter names its probe_* series. */
static void probe_metrics_text(struct metrics *m, struct buf *b)
{
    /* The gauges of one value per series (blackbox's probe_success,
     * probe_http_status_code, probe_http_version). */
    static const char *const gauges[][2] = {
        {"vigil_probe_success", "Whether the latest run of the journey passed (1) or not (0)."},
        {"vigil_probe_http_status_code",
         "HTTP status of the last answered step of the latest run of the journey (0: none)."},
        {"vigil_probe_http_version",
         "HTTP version of that step's answer (1, 1.1, 2, 3; 0: none)."},
    };
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        promtext_family(b, gauges[g][0], "gauge", gauges[g][1]);
        for (size_t i = 0; i < m->nseries; i++) {
            const struct probe_series *p = &m->series[i];
            buf_puts(b, gauges[g][0]);
            series_labels(b, p);
            buf_printf(b, "} %.9g\n", g == 0 ? (double)p->success
                       : g == 1 ? (double)p->http_status : p->http_version);
        }
    }
    promtext_family(b, "vigil_probe_duration_seconds", "gauge",
           "Time of the latest run of the journey by phase (resolve, connect, tls, processing,"
           " transfer; they add up to the total), summed over its steps.");
    for (size_t i = 0; i < m->nseries; i++) {
        for (int ph = 0; ph < PHASE_N; ph++) {
            buf_puts(b, "vigil_probe_duration_seconds");
            series_labels(b, &m->series[i]);
            buf_printf(b, ",phase=\"%s\"} %.9g\n", phase_names[ph], m->series[i].phase_s[ph]);
        }
    }
    promtext_family(b, "vigil_probe_step_duration_seconds", "gauge",
           "Time of each step of the latest run of the journey by phase, as"
           " vigil_probe_duration_seconds (first 16 steps).");
    for (size_t i = 0; i < m->nseries; i++) {
        for (size_t k = 0; k < m->series[i].nsteps; k++) {
            for (int ph = 0; ph < PHASE_N; ph++) {
                buf_puts(b, "vigil_probe_step_duration_seconds");
                series_labels(b, &m->series[i]);
                buf_puts(b, ",step=\"");
                promtext_value(b, m->series[i].steps[k].name);
                buf_printf(b, "\",phase=\"%s\"} %.9g\n", phase_names[ph],
                           m->series[i].steps[k].phase_s[ph]);
            }
        }
    }
    promtext_family(b, "vigil_probe_ssl_earliest_cert_expiry", "gauge",
           "Earliest certificate expiry seen by the latest run of the journey, Unix seconds.");
    for (size_t i = 0; i < m->nseries; i++) {
        if (m->series[i].cert_expiry < 0)
            continue;
        buf_puts(b, "vigil_probe_ssl_earliest_cert_expiry");
        series_labels(b, &m->series[i]);
        buf_printf(b, "} %lld\n", m->series[i].cert_expiry);
    }
}

static void metrics_text(struct server *srv, struct buf *b)
{
    const struct writer_stats *w = writer_stats(srv->writer);
    struct metrics *m = srv->metrics;

    promtext_scalar(b, "vigil_beacon_requests_accepted_total", "counter",
           "Requests whose beacons were stored.", m->accepted_requests);
    promtext_scalar(b, "vigil_beacons_accepted_total", "counter", "Beacons stored.",
                    m->accepted_beacons);
    promtext_family(b, "vigil_beacon_requests_rejected_total", "counter", "Requests refused, by reason.");
    for (int i = 0; i < REJ_N; i++)
        buf_printf(b, "vigil_beacon_requests_rejected_total{reason=\"%s\"} %lld\n",
                   http_reason_names[i], m->rejected[i]);
    promtext_family(b, "vigil_beacon_origin_refused_total", "counter",
           "Requests refused for their Origin, by origin (the first 64; the rest as (other)).");
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i <= METRICS_REFUSED_ORIGINS_MAX; i++) {
        if (m->refused[i].count == 0)
            continue;
        buf_puts(b, "vigil_beacon_origin_refused_total{origin=\"");
        promtext_value(b, m->refused[i].origin);
        buf_printf(b, "\"} %lld\n", m->refused[i].count);
    }
    pthread_mutex_unlock(&m->lock);
    promtext_scalar(b, "vigil_beacon_requests_bot_dropped_total", "counter",
           "Requests from known bots, read and not stored.", m->bots);
    promtext_scalar(b, "vigil_write_queue_depth", "gauge", "Requests waiting for the writer.",
                    w->queued);
    promtext_family(b, "vigil_batch_commit_seconds", "histogram", "Time to store and commit one batch.");
    for (int i = 0; i < WRITER_LATENCY_BUCKETS; i++)
        buf_printf(b, "vigil_batch_commit_seconds_bucket{le=\"%g\"} %lld\n",
                   writer_latency_bounds_ms[i] / 1000.0, w->latency_le[i]);
    buf_printf(b, "vigil_batch_commit_seconds_bucket{le=\"+Inf\"} %lld\n", w->batches);
    buf_printf(b, "vigil_batch_commit_seconds_sum %g\n", w->latency_sum_ms / 1000.0);
    buf_printf(b, "vigil_batch_commit_seconds_count %lld\n", w->batches);
    promtext_scalar(b, "vigil_batches_failed_total", "counter",
                    "Batches that could not be committed.", w->failed_batches);
    promtext_scalar(b, "vigil_rows_stored_total", "counter",
                    "Rows written (page views, metrics, errors).", w->rows_stored);
    promtext_scalar(b, "vigil_db_bytes", "gauge",
           "Size of the database and its WAL (ClickHouse: its parts on disk).", w->db_bytes);
    promtext_family(b, "vigil_db_oldest_raw_timestamp_seconds", "gauge",
           "When the oldest raw metric kept was received (Unix s); absent before retention's"
           " first pass or when there is none.");
    if (w->oldest_raw_ms >= 0)
        buf_printf(b, "vigil_db_oldest_raw_timestamp_seconds %lld\n", w->oldest_raw_ms / 1000);
    promtext_family(b, "vigil_db_oldest_rollup_timestamp_seconds", "gauge",
           "The start of the oldest per-minute rollup kept (Unix s).");
    if (w->oldest_rollup_ms >= 0)
        buf_printf(b, "vigil_db_oldest_rollup_timestamp_seconds %lld\n",
                   w->oldest_rollup_ms / 1000);
    promtext_scalar(b, "vigil_db_expired_rows_total", "counter", "Rows deleted by retention.",
                    w->expired_rows);
    /* The ClickHouse store's writes (collector/README.md "ClickHouse"); 0 on SQLite. */
    const struct {
        const char *name, *type, *help;
        long long v;
    } store[] = {
        {"vigil_store_degraded", "gauge",
         "1 while ClickHouse does not take the writes (they go to the spool).",
         w->store_degraded ? 1 : 0},
        {"vigil_spool_batches", "gauge", "Batches waiting in the spool.", w->spool_batches},
        {"vigil_spool_bytes", "gauge", "Bytes waiting in the spool.", w->spool_bytes},
        {"vigil_spooled_batches_total", "counter",
         "Batches that went to the spool because ClickHouse did not take them.",
         w->spooled_batches},
        {"vigil_replayed_batches_total", "counter", "Spooled batches replayed into ClickHouse.",
         w->replayed_batches},
        {"vigil_spool_set_aside_total", "counter",
         "Spool records that could not be read, moved aside as NAME.bad.", w->spool_set_aside},
    };
    for (size_t i = 0; i < sizeof store / sizeof *store; i++)
        promtext_scalar(b, store[i].name, store[i].type, store[i].help, store[i].v);
    promtext_scalar(b, "vigil_connections", "gauge", "Open client connections.",
                    m->connections);
    pthread_mutex_lock(&m->lock);
    probe_metrics_text(m, b);
    pthread_mutex_unlock(&m->lock);
    watch_metrics_text(srv->watch, b);
}


void metrics_start(struct server *srv, struct http_req *req)
{
    struct buf b;
    buf_init(&b, 0);
    metrics_text(srv, &b);
    http_set_body(req, b.data ? b.data : "", "text/plain; version=0.0.4");
    buf_fini(&b);
    http_answer(req, 200, NULL, NULL);
}
