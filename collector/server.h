/*
 * server: the collector's HTTP service on libwebsockets (API: collector/README.md).
 *
 * HTTP runs on --threads service threads, each with an lws context of its own (lws 4.1
 * is single-threaded per context; its SMP mode deadlocks: collector/README.md "Ingest
 * throughput"). The first listens and accepts; it hands each new connection to the
 * thread with the fewest (server_handoff), which serves it for its whole life. Disk work
 * goes to the writer thread (writer.h) or a reader (readers.h), and its results come back
 * to the service thread that waits for them (writer_item.tsi) through
 * lws_cancel_service. The rooms the service threads share (ratelimit, ingest's
 * User-Agent cache, metrics, live, watch, the per-address cap) lock what they keep. This
 * module is the service's lifecycle: it starts the threads and their contexts, serves
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
#define SERVER_THREADS_MAX 8            /* --threads at most; as WRITER_DONE_LISTS */
#define SERVER_HANDOFF_MAX 256          /* accepted connections waiting for their thread */

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
    const char *store_password_file;  /* ClickHouse's password file (--store-password-file) */
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
    int threads;                /* service threads; 0: one per core (at most
                                   SERVER_THREADS_MAX) */
};

/* Serves until SIGTERM or SIGINT, then stops accepting requests, stores and answers what
 * was accepted, and closes the store. Takes ownership of store. Returns 0 after a clean
 * stop, or -1 with err if the server could not start. */
int server_run(const struct server_opts *o, struct store *store, char *err, size_t errlen);

/* One service thread: its lws context (whose user data it is), the requests of its
 * connections that wait for the writer or a reader, by id, and its once-a-second tick,
 * which only it touches; and the sockets handed to it, behind its lock. */
struct server_pt {
    struct server *srv;
    int tsi;                    /* its index, 0 to nthreads - 1 */
    pthread_t thread;           /* for tsi > 0; tsi 0 is server_run's own thread */
    struct lws_context *ctx;
    lws_sorted_usec_list_t tick;
    struct http_req *pending[SERVER_PENDING_BUCKETS];
    _Atomic int conns;          /* its lws connections (LWS_CALLBACK_WSI_CREATE less
                                   WSI_DESTROY, routes.c) */
    _Atomic int handed;         /* sockets handed to it, not yet taken in */
    pthread_mutex_t lock;       /* handoff */
    int handoff[SERVER_HANDOFF_MAX];
    size_t nhandoff;
};

/* The service's context, shared by the rooms (http, routes, ingest, calls, live,
 * metrics, files) and by the service threads: what is set before they start is read
 * only; the rooms lock what they change. */
struct server {
    const struct server_opts *o;
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

#define SERVER_READ_GRACE_S 5    /* beyond a read's limits before its connection is closed */

/* Hands an item to the writer thread (write != 0) or to the readers and keeps req
 * waiting for it, or answers 503 when memory or the queue is exhausted (item NULL: out
 * of memory; it is freed then). */
void server_enqueue(struct server *srv, struct http_req *req, struct writer_item *item,
                    int write);

/* The service thread whose context wsi belongs to. */
struct server_pt *server_pt_of(struct lws *wsi);

/* On LWS_CALLBACK_EVENT_WAIT_CANCELLED, which wake() and server_handoff cause on every
 * service thread: takes in the connections handed to this thread, and answers its
 * requests whose items the writer or the readers finished. Called on that thread. */
void server_collect_done(struct server_pt *pt);

/* A connection the first thread accepted (at LWS_CALLBACK_FILTER_NETWORK_CONNECTION):
 * the thread with the fewest connections takes it. Returns -1 when the first thread
 * keeps it, else a socket of the chosen thread's (a dup of fd, which the caller lets lws
 * close by refusing fd). */
int server_handoff(struct server *srv, int fd);

/* The request's connection is gone: it no longer waits, and what it holds is freed. */
void server_forget(struct server *srv, struct http_req *req);

/* Route handler of GET /healthz: 200 {"status": "ok"}; 503 {"status": "stopping"} while
 * stopping, {"status": "degraded: cannot store"} while the latest batch of beacons
 * failed to store (a read-only file, a full disk, a lock held elsewhere) until one is
 * stored again, and {"status": "degraded: ClickHouse does not take writes; N batches
 * spooled"} while the ClickHouse store's latest send or replay failed. */
void server_health(struct server *srv, struct http_req *req);

#endif
