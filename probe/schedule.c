#include "schedule.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
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

/* A uniform number in [0, 1). */
/* Monotonic ms: the schedule's plans and waits, which must not shift when NTP steps the
 * wall clock (that is only for the log's timestamps). */
static long long mono_ms(void)
{
    return (long long)clock_mono_ms();
}

static double uniform(void)
{
    unsigned int r;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (unsigned int)rand();
    return (double)r / 4294967296.0;
}

/* One journey run in flight, on its own thread. */
struct job {
    struct scheduler *sc;
    size_t idx;
    pthread_t thread;
};

struct scheduler {
    const struct schedule_opts *so;
    const struct runner_opts *ro;
    struct journey **js;
    size_t n;
    long long *due;             /* next planned start of each journey, monotonic ms */
    int *running;               /* a run of the journey is in flight */
    size_t active;              /* runs in flight */
    struct spool *spool;
    long long retry_at, retry_ms;   /* next delivery try (monotonic ms, 0 none), its backoff */
    /* The lock guards everything above once runs are in flight, and keeps log lines
     * and deliveries (hence the spool's order) one at a time. */
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* a run ended */
};

/* One log line: JSON with --log json, else text. fields is consumed. */
static void log_event(const struct scheduler *sc, const char *event, json_t *fields)
{
    char when[40];
    text_rfc3339(when, sizeof when, clock_wall_ms());
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
    free(sc->running);
    sc->js = js;
    sc->n = n;
    sc->due = calloc(n ? n : 1, sizeof *sc->due);
    sc->running = calloc(n ? n : 1, sizeof *sc->running);
    /* Spread the first runs over the first interval's jitter, so that hosts started
     * together do not fire together. */
    long long now = mono_ms();
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
            sc->retry_at = mono_ms() + sc->retry_ms;
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
        sc->retry_at = mono_ms() + sc->retry_ms;
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

/* A journey run on its own thread: run it, deliver its result, log it, plan the next.
 * Runs of different journeys go side by side, so a slow one delays no other. */
static void *job_main(void *arg)
{
    struct job *jb = arg;
    struct scheduler *sc = jb->sc;
    struct journey *one[1] = {sc->js[jb->idx]};
    char err[512], why[512];
    long long start = mono_ms();

    json_t *doc = runner_run(one, 1, sc->ro, on_step, NULL, err, sizeof err);
    long long end = mono_ms();

    pthread_mutex_lock(&sc->lock);
    const char *state = doc ? deliver(sc, doc, why, sizeof why) : "dropped";
    json_t *j = json_array_get(json_object_get(doc, "journeys"), 0);
    if (j) {
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
    } else {
        log_event(sc, "error", json_pack("{s:s,s:s}", "journey", one[0]->name, "error", err));
    }
    json_decref(doc);
    /* Plan the next run; one that outlasted its interval skips the slots it missed. */
    long long next = next_start(sc, sc->due[jb->idx]);
    if (next <= end) {
        log_event(sc, "overrun", json_pack("{s:s,s:I,s:I}", "journey", one[0]->name,
                  "took_ms", (json_int_t)(end - start), "interval_ms",
                  (json_int_t)sc->so->every_ms));
        while (next <= end)
            next = next_start(sc, next);
    }
    sc->due[jb->idx] = next;
    /* OpenSSL keeps state per thread (its random generator, its error queue); it is
     * freed here, before the scheduler may see no run in flight and end the process. */
    OPENSSL_thread_stop();
    sc->running[jb->idx] = 0;
    sc->active--;
    pthread_cond_broadcast(&sc->changed);
    pthread_mutex_unlock(&sc->lock);
    free(jb);
    return NULL;
}

/* Starts the runs that are due, up to --parallel at once. Called locked. */
static void start_due(struct scheduler *sc)
{
    long long now = mono_ms();
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (size_t i = 0; i < sc->n && sc->active < (size_t)sc->ro->parallel; i++) {
        if (sc->running[i] || sc->due[i] > now)
            continue;
        struct job *jb = calloc(1, sizeof *jb);
        if (!jb)
            break;
        jb->sc = sc;
        jb->idx = i;
        sc->running[i] = 1;
        sc->active++;
        if (pthread_create(&jb->thread, &attr, job_main, jb) != 0) {
            sc->running[i] = 0;
            sc->active--;
            free(jb);
            break;
        }
    }
    pthread_attr_destroy(&attr);
}

/* Waits, locked, until no run is in flight (before a reload or at the end). */
static void wait_idle(struct scheduler *sc)
{
    while (sc->active)
        pthread_cond_wait(&sc->changed, &sc->lock);
}

int schedule_run(const struct schedule_opts *so, const struct runner_opts *ro,
                 schedule_load_fn load, void *ctx, char *err, size_t errlen)
{
    struct scheduler sc;
    struct journey **js;
    size_t n;
    struct sigaction sa;

    memset(&sc, 0, sizeof sc);
    sc.so = so;
    sc.ro = ro;
    sc.retry_ms = SCHEDULE_RETRY_MIN_MS;
    if (load(ctx, &js, &n, err, errlen) < 0)
        return -1;
    if (spool_open(&sc.spool, so->spool_dir, so->spool_max, err, errlen) < 0) {
        for (size_t i = 0; i < n; i++)
            journey_free(js[i]);
        free(js);
        return -1;
    }
    pthread_mutex_init(&sc.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sc.changed, &ca);
    pthread_condattr_destroy(&ca);
    set_journeys(&sc, js, n);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);

    pthread_mutex_lock(&sc.lock);
    log_event(&sc, "start", json_pack("{s:I,s:I,s:s,s:I}", "journeys", (json_int_t)n,
              "interval_ms", (json_int_t)so->every_ms, "region", so->region ? so->region : "",
              "spooled", (json_int_t)spool_count(sc.spool)));
    if (spool_count(sc.spool))
        drain(&sc);
    while (!stop_requested) {
        if (reload_requested) {
            char why[1024];
            reload_requested = 0;
            /* Runs in flight use the current journeys: let them end first. */
            wait_idle(&sc);
            if (load(ctx, &js, &n, why, sizeof why) < 0) {
                log_event(&sc, "reload", json_pack("{s:s,s:s}", "result",
                          "failed: keeping the previous journeys", "error", why));
            } else {
                set_journeys(&sc, js, n);
                log_event(&sc, "reload", json_pack("{s:s,s:I}", "result", "ok", "journeys",
                          (json_int_t)n));
            }
        }
        start_due(&sc);
        long long now = mono_ms();
        if (sc.retry_at && sc.retry_at <= now)
            drain(&sc);
        /* Sleep until the next start or retry, a run's end, or 200 ms at most, so that
         * signals and reloads are seen promptly. */
        long long wake = now + 200;
        for (size_t i = 0; i < sc.n; i++)
            if (!sc.running[i] && sc.due[i] < wake)
                wake = sc.due[i];
        if (sc.retry_at && sc.retry_at < wake)
            wake = sc.retry_at;
        if (wake > now && !stop_requested && !reload_requested) {
            struct timespec until;
            clock_mono_deadline(&until, (double)(wake - now));
            pthread_cond_timedwait(&sc.changed, &sc.lock, &until);
        }
    }
    wait_idle(&sc);
    drain(&sc);
    log_event(&sc, "stop", json_pack("{s:I,s:I}", "spooled", (json_int_t)spool_count(sc.spool),
              "dropped_when_full", (json_int_t)spool_dropped(sc.spool)));
    pthread_mutex_unlock(&sc.lock);
    set_journeys(&sc, NULL, 0);
    free(sc.due);
    free(sc.running);
    spool_close(sc.spool);
    pthread_mutex_destroy(&sc.lock);
    pthread_cond_destroy(&sc.changed);
    return 0;
}
