#include "schedule.h"

#include <errno.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spool.h"
#include "text.h"

static volatile sig_atomic_t stop_requested, reload_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A uniform number in [0, 1). */
static double uniform(void)
{
    unsigned int r;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (unsigned int)rand();
    return (double)r / 4294967296.0;
}

struct scheduler {
    const struct schedule_opts *so;
    const struct runner_opts *ro;
    struct journey **js;
    size_t n;
    long long *due;             /* next planned start of each journey, Unix ms */
    struct spool *spool;
    long long retry_at, retry_ms;
};

/* One log line: JSON with --log json, else text. fields is consumed. */
static void log_event(const struct scheduler *sc, const char *event, json_t *fields)
{
    char when[40];
    text_rfc3339(when, sizeof when, now_ms());
    if (sc->so->json_log) {
        json_object_set_new(fields, "ts", json_string(when));
        json_object_set_new(fields, "event", json_string(event));
        char *line = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
        fprintf(stderr, "%s\n", line ? line : "{}");
        free(line);
    } else {
        fprintf(stderr, "%s %s", when, event);
        const char *key;
        json_t *v;
        json_object_foreach(fields, key, v) {
            char *t = json_is_string(v) ? strdup(json_string_value(v))
                                        : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(6));
            fprintf(stderr, " %s=%s", key, t ? t : "?");
            free(t);
        }
        fputc('\n', stderr);
    }
    fflush(stderr);
    json_decref(fields);
}

/* The next start after planned: one interval later, moved by up to +-jitter. */
static long long next_start(const struct scheduler *sc, long long planned)
{
    double j = sc->so->jitter * (2 * uniform() - 1);
    return planned + (long long)((double)sc->so->every_ms * (1 + j));
}

static void set_journeys(struct scheduler *sc, struct journey **js, size_t n)
{
    for (size_t i = 0; i < sc->n; i++)
        journey_free(sc->js[i]);
    free(sc->js);
    free(sc->due);
    sc->js = js;
    sc->n = n;
    sc->due = calloc(n ? n : 1, sizeof *sc->due);
    /* Spread the first runs over the first interval's jitter, so that hosts started
     * together do not fire together. */
    long long now = now_ms();
    for (size_t i = 0; i < n; i++)
        sc->due[i] = now + (long long)(uniform() * sc->so->jitter * (double)sc->so->every_ms);
}

/* Tries to deliver what the spool holds, oldest first, until one fails. Returns 1 when
 * the spool is empty afterwards. */
static int drain(struct scheduler *sc)
{
    char name[64], note[64], err[512];
    char *text;
    size_t len;
    int r;

    while ((r = spool_oldest(sc->spool, name, sizeof name, &text, &len, err, sizeof err)) == 1) {
        enum push_result pr = push_send(text, len, sc->so->push_url, &sc->so->auth, sc->ro,
                                        note, sizeof note, err, sizeof err);
        json_t *doc = json_loadb(text, len, 0, NULL);
        const char *run_id = json_string_value(json_object_get(doc, "run_id"));
        free(text);
        if (pr == PUSH_RETRY) {
            sc->retry_at = now_ms() + sc->retry_ms;
            log_event(sc, "delivery", json_pack("{s:s,s:s,s:s,s:I,s:I}", "run_id",
                      run_id ? run_id : "?", "delivery", "spooled", "error", err, "retry_in_ms",
                      (json_int_t)sc->retry_ms, "spooled", (json_int_t)spool_count(sc->spool)));
            sc->retry_ms = sc->retry_ms * 2 > SCHEDULE_RETRY_MAX_MS ? SCHEDULE_RETRY_MAX_MS
                                                                   : sc->retry_ms * 2;
            json_decref(doc);
            return 0;
        }
        spool_remove(sc->spool, name);
        sc->retry_ms = SCHEDULE_RETRY_MIN_MS;
        sc->retry_at = 0;
        log_event(sc, "delivery", json_pack("{s:s,s:s,s:s,s:I}", "run_id", run_id ? run_id : "?",
                  "delivery", pr == PUSH_OK ? "delivered" : "dropped",
                  pr == PUSH_OK ? "note" : "error", pr == PUSH_OK ? note : err,
                  "spooled", (json_int_t)spool_count(sc->spool)));
        json_decref(doc);
    }
    return r == 0;
}

/* Delivers a new result in order: straight away when nothing waits before it, else (or
 * when the collector cannot take it now) after what the spool holds. */
static const char *deliver(struct scheduler *sc, json_t *doc, char *why, size_t whylen)
{
    char note[64], err[512];
    char *text = json_dumps(doc, JSON_COMPACT);
    const char *state = "spooled";

    why[0] = '\0';
    if (!text)
        return "dropped";
    if (spool_count(sc->spool) == 0) {
        enum push_result pr = push_send(text, strlen(text), sc->so->push_url, &sc->so->auth,
                                        sc->ro, note, sizeof note, err, sizeof err);
        if (pr == PUSH_OK) {
            free(text);
            return "delivered";
        }
        snprintf(why, whylen, "%s", err);
        if (pr == PUSH_REFUSED) {
            free(text);
            return "dropped";
        }
        sc->retry_at = now_ms() + sc->retry_ms;
    }
    size_t dropped = spool_dropped(sc->spool);
    if (spool_add(sc->spool, text, strlen(text), err, sizeof err) < 0) {
        snprintf(why, whylen, "%s", err);
        state = "dropped";
    }
    if (spool_dropped(sc->spool) > dropped)
        log_event(sc, "spool_full", json_pack("{s:I,s:I}", "dropped_oldest",
                  (json_int_t)(spool_dropped(sc->spool) - dropped), "spool_max",
                  (json_int_t)sc->so->spool_max));
    free(text);
    return state;
}

static void on_step(void *ctx, const json_t *journey, const json_t *step)
{
    (void)ctx;
    (void)journey;
    (void)step;
}

/* Runs the journeys that are due, delivers the result, logs a line per journey run. */
static void run_due(struct scheduler *sc)
{
    long long start = now_ms();
    struct journey **batch = calloc(sc->n, sizeof *batch);
    size_t *which = calloc(sc->n, sizeof *which), nb = 0;
    char err[512], why[512];

    for (size_t i = 0; batch && which && i < sc->n; i++)
        if (sc->due[i] <= start) {
            which[nb] = i;
            batch[nb++] = sc->js[i];
        }
    if (nb == 0) {
        free(batch);
        free(which);
        return;
    }
    json_t *doc = runner_run(batch, nb, sc->ro, on_step, NULL, err, sizeof err);
    long long end = now_ms();
    const char *state = doc ? deliver(sc, doc, why, sizeof why) : "dropped";
    size_t k;
    json_t *j;
    json_array_foreach(json_object_get(doc, "journeys"), k, j) {
        json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:I}",
            "run_id", json_string_value(json_object_get(doc, "run_id")),
            "journey", json_string_value(json_object_get(j, "name")),
            "region", sc->so->region ? sc->so->region : "",
            "result", json_is_true(json_object_get(j, "passed")) ? "passed" : "failed",
            "duration_ms", json_number_value(json_object_get(j, "duration_ms")),
            "delivery", state, "spooled", (json_int_t)spool_count(sc->spool));
        if (why[0])
            json_object_set_new(f, "error", json_string(why));
        log_event(sc, "run", f);
    }
    if (!doc)
        log_event(sc, "error", json_pack("{s:s}", "error", err));
    json_decref(doc);
    /* Plan the next runs; a run that outlasted its interval skips the slots it missed. */
    for (size_t i = 0; i < nb; i++) {
        size_t idx = which[i];
        long long next = next_start(sc, sc->due[idx]);
        if (next <= end) {
            log_event(sc, "overrun", json_pack("{s:s,s:I,s:I}", "journey", sc->js[idx]->name,
                      "took_ms", (json_int_t)(end - start), "interval_ms",
                      (json_int_t)sc->so->every_ms));
            while (next <= end)
                next = next_start(sc, next);
        }
        sc->due[idx] = next;
    }
    free(batch);
    free(which);
}

int schedule_run(const struct schedule_opts *so, const struct runner_opts *ro,
                 schedule_load_fn load, void *ctx, char *err, size_t errlen)
{
    struct scheduler sc = {so, ro, NULL, 0, NULL, NULL, 0, SCHEDULE_RETRY_MIN_MS};
    struct journey **js;
    size_t n;
    struct sigaction sa;

    if (load(ctx, &js, &n, err, errlen) < 0)
        return -1;
    if (spool_open(&sc.spool, so->spool_dir, so->spool_max, err, errlen) < 0) {
        for (size_t i = 0; i < n; i++)
            journey_free(js[i]);
        free(js);
        return -1;
    }
    set_journeys(&sc, js, n);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    log_event(&sc, "start", json_pack("{s:I,s:I,s:s,s:I}", "journeys", (json_int_t)n,
              "interval_ms", (json_int_t)so->every_ms, "region", so->region ? so->region : "",
              "spooled", (json_int_t)spool_count(sc.spool)));
    if (spool_count(sc.spool))
        drain(&sc);

    while (!stop_requested) {
        if (reload_requested) {
            char why[1024];
            reload_requested = 0;
            if (load(ctx, &js, &n, why, sizeof why) < 0) {
                log_event(&sc, "reload", json_pack("{s:s,s:s}", "result",
                          "failed: keeping the previous journeys", "error", why));
            } else {
                set_journeys(&sc, js, n);
                log_event(&sc, "reload", json_pack("{s:s,s:I}", "result", "ok", "journeys",
                          (json_int_t)n));
            }
        }
        run_due(&sc);
        long long now = now_ms();
        if (sc.retry_at && sc.retry_at <= now)
            drain(&sc);
        /* Sleep until the next start or retry, a second at most, so that signals and
         * reloads are seen promptly (nanosleep also returns early on a signal). */
        long long wake = now + 1000;
        for (size_t i = 0; i < sc.n; i++)
            if (sc.due[i] < wake)
                wake = sc.due[i];
        if (sc.retry_at && sc.retry_at < wake)
            wake = sc.retry_at;
        if (wake > now && !stop_requested && !reload_requested) {
            struct timespec ts = {(time_t)((wake - now) / 1000), (long)((wake - now) % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    drain(&sc);
    log_event(&sc, "stop", json_pack("{s:I,s:I}", "spooled", (json_int_t)spool_count(sc.spool),
              "dropped_when_full", (json_int_t)spool_dropped(sc.spool)));
    set_journeys(&sc, NULL, 0);
    free(sc.due);
    spool_close(sc.spool);
    return 0;
}
