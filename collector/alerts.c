#include "alerts.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

/* One event on its way to one URL. */
struct delivery {
    size_t url;                 /* index into urls */
    char *body;                 /* the JSON body (owned) */
    int attempts;               /* tries made */
    double due_ms;              /* monotonic: the next try, not before */
    struct delivery *next;
};

struct alerts {
    const char *urls[ALERTS_URLS_MAX];
    size_t nurls;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* on CLOCK_MONOTONIC: a new delivery, or stop */
    struct delivery *head, *tail;
    size_t queued;
    atomic_int stopping;        /* also read by a try in progress, which it aborts */
    uint64_t keys[ALERTS_KEYS_MAX];     /* hashes of the keys posted, a ring */
    size_t nkeys, next_key;
    struct alerts_stats stats;          /* under lock */
};

/* FNV-1a: 64 bits make a collision between two keys of one collector negligible. */
static uint64_t key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ULL;
    return h;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* Aborts a try in progress when the collector stops, so that a webhook that does not
 * answer cannot hold up the stop for ALERTS_TIMEOUT_MS. */
static int abort_on_stop(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load_explicit(&((struct alerts *)ud)->stopping, memory_order_relaxed);
}

/* One try: 1 when the receiver answered 2xx. */
static int send_once(struct alerts *a, CURL *c, const char *url, const char *body)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long code = 0;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ALERTS_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)ALERTS_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vigil-collector");
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    else
        fprintf(stderr, "collector: alert to %s: %s\n", url, curl_easy_strerror(rc));
    curl_slist_free_all(h);
    return code >= 200 && code < 300;
}

static void delivery_free(struct delivery *d)
{
    if (d) {
        free(d->body);
        free(d);
    }
}

static void append(struct alerts *a, struct delivery *d)
{
    d->next = NULL;
    if (a->tail)
        a->tail->next = d;
    else
        a->head = d;
    a->tail = d;
    a->queued++;
}

/* Takes out the first delivery that is due, or NULL, with *wait_ms until the earliest
 * is (-1 when the queue is empty). Under the lock. */
static struct delivery *take_due(struct alerts *a, double now, double *wait_ms)
{
    struct delivery *prev = NULL;
    *wait_ms = -1;
    for (struct delivery *d = a->head; d; prev = d, d = d->next) {
        if (d->due_ms <= now) {
            if (prev)
                prev->next = d->next;
            else
                a->head = d->next;
            if (a->tail == d)
                a->tail = prev;
            a->queued--;
            return d;
        }
        if (*wait_ms < 0 || d->due_ms - now < *wait_ms)
            *wait_ms = d->due_ms - now;
    }
    return NULL;
}

static void *alerts_main(void *arg)
{
    struct alerts *a = arg;
    CURL *c = curl_easy_init();

    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        double wait_ms;
        struct delivery *d = take_due(a, clock_mono_ms(), &wait_ms);
        if (!d) {
            if (wait_ms < 0) {
                pthread_cond_wait(&a->cond, &a->lock);
            } else {
                struct timespec ts;
                clock_mono_deadline(&ts, wait_ms + 1);
                pthread_cond_timedwait(&a->cond, &a->lock, &ts);
            }
            continue;
        }
        pthread_mutex_unlock(&a->lock);
        int ok = c && send_once(a, c, a->urls[d->url], d->body);
        pthread_mutex_lock(&a->lock);
        d->attempts++;
        if (ok) {
            a->stats.sent++;
            delivery_free(d);
        } else if (d->attempts >= ALERTS_ATTEMPTS) {
            a->stats.failed++;
            fprintf(stderr, "collector: an alert to %s failed %d times: given up\n",
                    a->urls[d->url], d->attempts);
            delivery_free(d);
        } else {
            d->due_ms = clock_mono_ms() + ALERTS_BACKOFF_MS * (double)(1 << (d->attempts - 1));
            append(a, d);
        }
    }
    pthread_mutex_unlock(&a->lock);
    curl_easy_cleanup(c);
    return NULL;
}

int alerts_start(struct alerts **out, const char *const *urls, size_t n, char *err,
                 size_t errlen)
{
    pthread_condattr_t ca;
    struct alerts *a;

    if (n == 0 || n > ALERTS_URLS_MAX) {
        snprintf(err, errlen, "--alert-webhook is given 1 to %d times", ALERTS_URLS_MAX);
        return -1;
    }
    if (!(a = calloc(1, sizeof *a))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        a->urls[i] = urls[i];
    a->nurls = n;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&a->thread, NULL, alerts_main, a) != 0) {
        snprintf(err, errlen, "cannot start the alert thread");
        pthread_cond_destroy(&a->cond);
        pthread_mutex_destroy(&a->lock);
        free(a);
        return -1;
    }
    *out = a;
    return 0;
}

int alerts_post(struct alerts *a, const char *key, const char *text, const json_t *event)
{
    if (!a)
        return 0;
    uint64_t h = key_hash(key);
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nkeys; i++) {
        if (a->keys[i] == h) {
            pthread_mutex_unlock(&a->lock);
            return 0;
        }
    }
    a->keys[a->next_key] = h;
    a->next_key = (a->next_key + 1) % ALERTS_KEYS_MAX;
    if (a->nkeys < ALERTS_KEYS_MAX)
        a->nkeys++;
    pthread_mutex_unlock(&a->lock);

    /* The body is made outside the lock: the sender thread may be waiting for it. */
    json_t *body = json_deep_copy(event);
    if (!json_is_object(body)) {
        json_decref(body);
        body = json_object();
    }
    json_object_set_new(body, "text", json_string(text));
    json_object_set_new(body, "key", json_string(key));
    char *s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(body);
    if (s && strlen(s) > ALERTS_BODY_MAX) {
        free(s);
        json_t *small = json_pack("{s:s,s:s,s:b}", "text", text, "key", key, "truncated", 1);
        s = small ? json_dumps(small, JSON_COMPACT) : NULL;
        json_decref(small);
    }
    if (!s)
        return -1;
    int rc = 1;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nurls; i++) {
        struct delivery *d = calloc(1, sizeof *d);
        if (d && !(d->body = strdup(s))) {
            free(d);
            d = NULL;
        }
        if (!d) {
            rc = -1;
            break;
        }
        d->url = i;
        d->due_ms = 0;
        if (a->queued == ALERTS_QUEUE_MAX) {
            struct delivery *old = a->head;
            a->head = old->next;
            if (!a->head)
                a->tail = NULL;
            a->queued--;
            delivery_free(old);
            a->stats.dropped++;
        }
        append(a, d);
    }
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
    free(s);
    return rc;
}

void alerts_get_stats(struct alerts *a, struct alerts_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    *out = a->stats;
    pthread_mutex_unlock(&a->lock);
}

void alerts_stop(struct alerts *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    while (a->head) {
        struct delivery *d = a->head;
        a->head = d->next;
        delivery_free(d);
    }
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
    curl_global_cleanup();
    free(a);
}
