/*
 * alerts: delivers the collector's alerts (collector/README.md "Alerts") to the
 * --alert-webhook URLs, on a thread of its own with libcurl, so that a slow or dead
 * receiver never holds up ingest or the service thread.
 *
 * The service thread hands an event over with alerts_post(), which only takes a lock
 * and copies: each event has a dedupe key, and a key seen before (among the last
 * ALERTS_KEYS_MAX) is dropped, so that each event is sent once. Each (event, URL) is a
 * delivery in a bounded queue: past ALERTS_QUEUE_MAX the oldest delivery is dropped and
 * counted. A delivery is a POST of the JSON body; any 2xx is success; anything else (or
 * no answer within ALERTS_TIMEOUT_MS) is tried again after a backoff that doubles from
 * ALERTS_BACKOFF_MS, ALERTS_ATTEMPTS times at most, then counted as failed.
 */
#ifndef VIGIL_ALERTS_H
#define VIGIL_ALERTS_H

#include <jansson.h>
#include <stddef.h>

#define ALERTS_URLS_MAX 8
#define ALERTS_QUEUE_MAX 256            /* deliveries waiting */
#define ALERTS_KEYS_MAX 4096            /* dedupe keys remembered */
#define ALERTS_ATTEMPTS 5               /* tries of one delivery */
#define ALERTS_BACKOFF_MS 500           /* before the second try; doubles each time */
#define ALERTS_TIMEOUT_MS 5000          /* one try, connection included */
#define ALERTS_CONNECT_TIMEOUT_MS 2000
#define ALERTS_BODY_MAX (256 * 1024)    /* an event's body, at most (larger is cut to text) */

/* Counters for /metrics, read from the service thread. */
struct alerts_stats {
    long long sent;             /* deliveries a receiver accepted (2xx) */
    long long failed;           /* deliveries given up after ALERTS_ATTEMPTS tries */
    long long dropped;          /* deliveries dropped from a full queue */
};

struct alerts;

/* Starts the sender thread for n URLs (n >= 1; the strings must outlive it). Returns 0
 * with *out, or -1 with err. */
int alerts_start(struct alerts **out, const char *const *urls, size_t n, char *err,
                 size_t errlen);

/* Queues one event for every URL, unless key was posted before. text is the Slack
 * line; event (borrowed) is the full event, sent beside it:
 * {"text": text, "key": key, ...event's members}. Returns 1 when queued, 0 when a
 * duplicate, -1 when out of memory. alerts_post(NULL, ...) is a no-op returning 0. */
int alerts_post(struct alerts *a, const char *key, const char *text, const json_t *event);

/* Copies the counters (zeros for NULL). */
void alerts_get_stats(struct alerts *a, struct alerts_stats *out);

/* Stops the thread: a try in progress is aborted and what is still queued is dropped.
 * alerts_stop(NULL) is a no-op. */
void alerts_stop(struct alerts *a);

#endif
