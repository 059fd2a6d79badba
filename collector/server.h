/*
 * server: the collector's HTTP service on libwebsockets (API: collector/README.md).
 *
 * HTTP runs on --threads lws service threads (libwebsockets' SMP: a listening socket per
 * thread with SO_REUSEPORT, and each connection served by one thread, its tsi, for its
 * whole life); disk work goes to the writer thread (writer.h) or a reader (readers.h), and
 * its results come back to the service thread that waits for them (writer_item.tsi)
 * through lws_cancel_service. The rooms the service threads share (ratelimit, ingest's
 * User-Agent cache, metrics, live, watch, the per-address cap) lock what they keep. This
 * module is the service's lifecycle: it starts the threads and the lws context, serves
 * until a signal, drains, and hands finished items to the rooms that wait for them
 * (ingest.h, calls.h, metrics.h, watch.h). Routing is routes.h.
 */
#ifndef VIGIL_SERVER_H
#define VIGIL_SERVER_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "store.h"

#define SERVER_ORIGINS_MAX 32
#define SERVER_STATIC_MAX 8
#define SERVER_PROXIES_MAX 32
#define SERVER_ALERT_URLS_MAX 8         /* --alert-webhook URLs (alerts.h) */
#define SERVER_PENDING_BUCKETS 4096     /* requests waiting for the writer, by id */
#define SERVER_DRAIN_SECONDS 3          /* how long a stop waits for answers to go out */
#define SERVER_THREADS_MAX 8            /* --threads: lws service threads at most; as
                                           LWS_MAX_SMP in scripts/build-lws and
                                           WRITER_DONE_LISTS */

struct sign_keys;
struct http_req;
struct writer_item;

struct server_opts {
    const char *host;           /* address to listen on; NULL for all */
    int port;                   /* 0: an ephemeral port */
    const char *port_file;      /* if set, the bound port is written here */
    const char *origins[SERVER_ORIGINS_MAX];
    size_t norigins;            /* "*" among them allows any origin */
    struct cidr proxies[SERVER_PROXIES_MAX];
    size_t nproxies;            /* X-Forwarded-For is trusted only from these */
    const char *country_header; /* e.g. "CF-IPCountry"; NULL for none */
    double rate, burst, global_rate;
    const char *tls_cert, *tls_key;
    int max_conns;
    int idle_timeout_s;
    size_t queue_max, batch_rows;
    int batch_ms;
    const char *token;          /* bearer token for POST /v1/probe-runs and /v1/deployments */
    const char *read_token;     /* if set, needed to read the dashboard API and /v1/live */
    const char *metrics_token;  /* if set, needed for /metrics (else the read token is) */
    int body_timeout_s;         /* a request body must arrive whole within this (408) */
    int max_per_address;        /* open connections from one peer address at most */
    const struct sign_keys *keys; /* probe hosts' keys for signed POST /v1/probe-runs, or NULL */
    const char *db_path;        /* the database the store was opened on, for the readers */
    int readers;                /* reader threads (readers.h) */
    int read_timeout_ms;        /* a read's statement time limit */
    long long retain_raw_ms;    /* keep raw rows this long (0: for ever) */
    long long retain_ms;        /* keep rollups and verdicts this long */
    const char *alert_urls[SERVER_ALERT_URLS_MAX];
    size_t nalert_urls;         /* webhooks that get the alerts (watch.h); 0: none */
    long long probe_silence_ms; /* a region is silent after this; 0: 3x its usual interval */
    long long rum_refresh_ms;   /* how often vigil_rum_p75 is read from the rollups */
    const char *static_dirs[SERVER_STATIC_MAX];
    size_t nstatic;             /* GET of other paths: files under these, first match */
    int threads;                /* lws service threads; 0: one per core (at most
                                   SERVER_THREADS_MAX) */
};

/* Serves until SIGTERM or SIGINT, then stops accepting requests, stores and answers what
 * was accepted, and closes the store. Takes ownership of store. Returns 0 after a clean
 * stop, or -1 with err if the server could not start. */
int server_run(const struct server_opts *o, struct store *store, char *err, size_t errlen);

/* One service thread's own state: the requests of its connections that wait for the
 * writer or a reader, by id, and its once-a-second tick. Only that thread touches it. */
struct server_pt {
    struct server *srv;
    int tsi;
    pthread_t thread;           /* for tsi > 0; tsi 0 is server_run's own thread */
    lws_sorted_usec_list_t tick;
    struct http_req *pending[SERVER_PENDING_BUCKETS];
};

/* The service's context, shared by the rooms (http, routes, ingest, calls, live,
 * metrics, files) and by the service threads: what is set before they start is read
 * only; the rooms lock what they change. */
struct server {
    const struct server_opts *o;
    struct lws_context *ctx;
    struct writer *writer;
    struct readers *readers;
    struct ratelimit *rl;
    struct ingest *ingest;
    struct metrics *metrics;
    struct live *live;
    struct alerts *alerts;      /* the webhook sender, NULL without --alert-webhook */
    struct watch *watch;        /* alert rules and their series (watch.h) */
    struct server_pt *pts;      /* one per service thread, nthreads of them */
    int nthreads;
    _Atomic uint64_t next_id;
    _Atomic int draining;       /* stopping: refuse new beacons */
};

/* Hands an item to the writer thread (write != 0) or to the readers and keeps req
 * waiting for it, or answers 503 when memory or the queue is exhausted (item NULL: out
 * of memory; it is freed then). */
void server_enqueue(struct server *srv, struct http_req *req, struct writer_item *item,
                    int write);

/* Answers the requests of service thread tsi whose items the writer or the readers
 * finished (on LWS_CALLBACK_EVENT_WAIT_CANCELLED, which their wake() causes on every
 * service thread). Called on that thread. */
void server_collect_done(struct server *srv, int tsi);

/* The request's connection is gone: it no longer waits, and what it holds is freed. */
void server_forget(struct server *srv, struct http_req *req);

/* Route handler of GET /healthz: 200 {"status": "ok"}; 503 {"status": "stopping"} while
 * stopping, and {"status": "degraded: cannot store"} while the latest batch of beacons
 * failed to store (a read-only file, a full disk, a lock held elsewhere) until one is
 * stored again. */
void server_health(struct server *srv, struct http_req *req);

#endif
