#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alerts.h"
#include "calls.h"
#include "clock.h"
#include "http.h"
#include "ingest.h"
#include "jsonarena.h"
#include "live.h"
#include "metrics.h"
#include "ratelimit.h"
#include "readers.h"
#include "routes.h"
#include "watch.h"
#include "writer.h"

/* Set by the signal handler (a lock-free atomic_int is async-signal-safe) or when a
 * service thread cannot start; read by every service thread. */
static atomic_int stop_requested;
static struct server *_Atomic signal_srv;

_Static_assert(SERVER_THREADS_MAX <= WRITER_DONE_LISTS,
               "each service thread needs a done list of its own (writer.h)");

struct server_pt *server_pt_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static void pending_add(struct server_pt *pt, struct http_req *req)
{
    struct http_req **b = &pt->pending[req->id % SERVER_PENDING_BUCKETS];
    req->next = *b;
    *b = req;
    req->waiting = 1;
}

static struct http_req *pending_take(struct server_pt *pt, uint64_t id)
{
    for (struct http_req **p = &pt->pending[id % SERVER_PENDING_BUCKETS]; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            struct http_req *found = *p;
            *p = found->next;
            found->waiting = 0;
            return found;
        }
    }
    return NULL;
}

void server_forget(struct server *srv, struct http_req *req)
{
    if (req->waiting) {
        pending_take(server_pt_of(req->wsi), req->id);
        /* Its client left: a read not started yet is not worth running. */
        if (srv->readers)
            readers_forget(srv->readers, req->id);
    }
    http_req_fini(req);
}

void server_enqueue(struct server *srv, struct http_req *req, struct writer_item *item,
                    int write)
{
    if (item) {
        item->id = atomic_fetch_add(&srv->next_id, 1) + 1;
        item->tsi = server_pt_of(req->wsi)->tsi;
    }
    if (!item || (write ? writer_submit(srv->writer, item)
                        : readers_submit(srv->readers, item)) < 0) {
        const char *why = !item ? "out of memory" : write ? "write queue full" : "read queue full";
        writer_item_free(item);
        req->retry_after = 1;
        http_reject(srv, req, 503, REJ_QUEUE_FULL, why, NULL);
        return;
    }
    req->id = item->id;
    pending_add(server_pt_of(req->wsi), req);
    /* A read's answer comes within twice --read-timeout (its wait in the queue, then its
     * statements) and the computing after them; a connection still waiting past
     * SERVER_READ_GRACE_S more is closed, so that no client is held for ever whatever
     * went wrong. Writing the answer sets lws's keep-alive timeout in its place. */
    if (!write)
        lws_set_timeout(req->wsi, PENDING_TIMEOUT_USER_OK,
                        2 * (srv->o->read_timeout_ms + 999) / 1000 + SERVER_READ_GRACE_S);
}

void server_health(struct server *srv, struct http_req *req)
{
    const struct writer_stats *w = writer_stats(srv->writer);
    int failing = w->store_failing, spooling = w->store_degraded;
    char spooled[160];
    snprintf(spooled, sizeof spooled, "{\"status\":\"degraded: ClickHouse does not take writes;"
             " %lld batches spooled\"}\n", (long long)w->spool_batches);
    http_set_body(req, srv->draining ? "{\"status\":\"stopping\"}\n"
                  : spooling ? spooled
                  : failing ? "{\"status\":\"degraded: cannot store\"}\n" : "{\"status\":\"ok\"}\n",
                  "application/json");
    http_answer(req, srv->draining || failing || spooling ? 503 : 200, NULL, NULL);
}

/* Takes in the sockets handed to pt. */
static void adopt_handed(struct server_pt *pt)
{
    int fds[SERVER_HANDOFF_MAX];
    pthread_mutex_lock(&pt->lock);
    size_t n = pt->nhandoff;
    memcpy(fds, pt->handoff, n * sizeof *fds);
    pt->nhandoff = 0;
    pthread_mutex_unlock(&pt->lock);
    pt->handed -= (int)n;
    for (size_t i = 0; i < n; i++)
        if (!lws_adopt_socket_vhost(lws_get_vhost_by_name(pt->ctx, "default"), fds[i]))
            fprintf(stderr, "collector: a connection handed to service thread %d was"
                    " closed: lws could not take it (out of memory?)\n", pt->tsi);
}

int server_handoff(struct server *srv, int fd)
{
    struct server_pt *to = &srv->pts[0];
    for (int i = 1; i < srv->nthreads; i++)
        if (srv->pts[i].conns + srv->pts[i].handed < to->conns + to->handed)
            to = &srv->pts[i];
    if (to->tsi == 0)
        return -1;
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0)
        return -1;
    pthread_mutex_lock(&to->lock);
    int full = to->nhandoff == SERVER_HANDOFF_MAX;
    if (!full) {
        to->handoff[to->nhandoff++] = dup;
        to->handed++;
    }
    pthread_mutex_unlock(&to->lock);
    if (full) {
        close(dup);
        return -1;
    }
    lws_cancel_service(to->ctx);
    return dup;
}

/* Takes every finished item of pt's, the writer's first, and hands each to the room that
 * waits for it, with the request still waiting for it (NULL when its client left). */
void server_collect_done(struct server_pt *pt)
{
    struct server *srv = pt->srv;
    adopt_handed(pt);
    if (!srv->writer)
        return;                 /* lws's own wake-ups while the server starts */
    struct writer_item *d = writer_take_done(srv->writer, pt->tsi), **tail = &d;
    while (*tail)
        tail = &(*tail)->next;
    *tail = srv->readers ? readers_take_done(srv->readers, pt->tsi) : NULL;
    while (d) {
        struct writer_item *next = d->next;
        struct http_req *req = d->id ? pending_take(pt, d->id) : NULL;
        if (watch_owns(d))
            watch_rum_done(srv->watch, d);
        else if (watch_is_rebuild(d))
            metrics_probe_rebuild(srv->metrics, d->response);
        else if (calls_owns(d))
            calls_done(srv, d, req);
        else
            ingest_done(srv, d, req);
        writer_item_free(d);
        d = next;
    }
}

/* Once a second on each service thread: its live pages; on the first, the alert rules'
 * clock and the p75 series' refresh on a reader. */
static void tick(lws_sorted_usec_list_t *sul)
{
    struct server_pt *pt = lws_container_of(sul, struct server_pt, tick);
    struct server *srv = pt->srv;
    live_tick(srv->live, pt->tsi);
    struct writer_item *rum = pt->tsi == 0 ? watch_tick(srv->watch) : NULL;
    if (rum && (!srv->readers || readers_submit(srv->readers, rum) < 0)) {
        watch_rum_done(srv->watch, NULL);
        writer_item_free(rum);
    }
    lws_sul_schedule(pt->ctx, 0, &pt->tick, tick, LWS_US_PER_SEC);
}


/* Wakes every service thread (lws_cancel_service writes to a pipe: fine from a signal
 * handler and from any thread). */
static void wake(void *arg)
{
    struct server *srv = arg;
    for (int i = 0; i < srv->nthreads; i++)
        if (srv->pts[i].ctx)
            lws_cancel_service(srv->pts[i].ctx);
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    struct server *srv = signal_srv;
    if (srv)
        wake(srv);
}

static int any_pending(const struct server_pt *pt)
{
    for (int i = 0; i < SERVER_PENDING_BUCKETS; i++)
        if (pt->pending[i])
            return 1;
    return 0;
}

/* One service thread: serves until a stop is asked for, then drains: refuses new
 * beacons, lets the writer store what it has and answers those requests. Reads are not
 * waited for: queued ones are answered 503 and running statements interrupted
 * (sqlite3_interrupt), so that a long read cannot hold up the stop. */
static void *serve(void *arg)
{
    struct server_pt *pt = arg;
    struct server *srv = pt->srv;

    while (!stop_requested)
        if (lws_service(pt->ctx, 0) < 0)
            break;
    srv->draining = 1;
    readers_cancel(srv->readers);
    double deadline = clock_mono_ms() + SERVER_DRAIN_SECONDS * 1000.0;
    while (clock_mono_ms() < deadline && (writer_stats(srv->writer)->queued > 0 || any_pending(pt)))
        lws_service(pt->ctx, 0);
    return NULL;
}

/* --threads, or one per core, at most SERVER_THREADS_MAX. */
static int thread_count(const struct server_opts *o)
{
    long n = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > SERVER_THREADS_MAX ? SERVER_THREADS_MAX : (int)n;
}

/*
 * Tries to bind host:port (host NULL: all addresses) the way libwebsockets will, with
 * SO_REUSEADDR, and lets go of it again, so that a port another process holds is told in
 * a sentence ("127.0.0.1:8080 is already in use") instead of lws's "ERROR on binding fd 8
 * to port 8080 (-1 98)". Returns 0 when the bind worked (or the check could not be
 * made, leaving the verdict to lws), -1 with err filled when it did not.
 */
static int listen_check(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *ai = NULL;
    char service[16];
    int fd, one = 1, rc = 0;

    if (port == 0)
        return 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = host ? AF_UNSPEC : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &ai) != 0 || !ai)
        return 0;
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            const char *h = host ? host : "0.0.0.0";
            if (errno == EADDRINUSE)
                snprintf(err, errlen, "%s:%d is already in use (another collector or server "
                         "listens there; choose another port with --listen HOST:PORT)", h, port);
            else if (errno == EACCES)
                snprintf(err, errlen, "cannot listen on %s:%d: permission denied (ports below "
                         "1024 need root)", h, port);
            else
                snprintf(err, errlen, "cannot listen on %s:%d: %s", h, port, strerror(errno));
            rc = -1;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return rc;
}

int server_run(const struct server_opts *o, struct store *store, char *err, size_t errlen)
{
    struct lws_context_creation_info info;
    struct server srv;
    SSL_CTX *client_tls = NULL;
    int rc = -1;

    /* Before any of the server's threads: beacons are parsed into arenas (ingest.c). */
    jsonarena_install();

    /* lws keeps a struct http_req per HTTP request and live.c's state per WebSocket. */
    const struct lws_protocols protocols[] = {
        {"http", route_http_callback, sizeof(struct http_req), 0, 0, NULL, 0},
        {"vigil-live", live_callback, live_pss_size, 1024, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0}
    };

    memset(&srv, 0, sizeof srv);
    srv.o = o;
    srv.rl = ratelimit_new(o->rate, o->burst, o->global_rate);
    srv.ingest = ingest_new();
    srv.metrics = metrics_new();
    srv.live = live_new();
    if (!srv.rl || !srv.ingest || !srv.metrics || !srv.live) {
        snprintf(err, errlen, "out of memory");
        store_close(store);
        goto early;
    }
    if (listen_check(o->host, o->port, err, errlen) < 0) {
        store_close(store);
        goto early;
    }
    lws_set_log_level(LLL_ERR, NULL);
    srv.nthreads = thread_count(o);
    if (!(srv.pts = calloc((size_t)srv.nthreads, sizeof *srv.pts))) {
        snprintf(err, errlen, "out of memory");
        store_close(store);
        goto early;
    }
    for (int i = 0; i < srv.nthreads; i++) {
        srv.pts[i].srv = &srv;
        srv.pts[i].tsi = i;
        pthread_mutex_init(&srv.pts[i].lock, NULL);
    }
    memset(&info, 0, sizeof info);
    info.iface = o->host;
    info.protocols = protocols;
    info.keepalive_timeout = o->idle_timeout_s;
    info.timeout_secs = (unsigned int)o->idle_timeout_s;
    info.max_http_header_data = 4096;
    /* --max-connections in all: each thread takes its share. */
    info.fd_limit_per_thread = (unsigned int)((o->max_conns + srv.nthreads - 1) / srv.nthreads)
                               + 16;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (o->tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = o->tls_cert;
        info.ssl_private_key_filepath = o->tls_key;
        info.alpn = "http/1.1";
        /* lws gives each TLS vhost a client SSL_CTX too (the collector makes no client
         * connections) and frees it through an ex_data index that each context's
         * OpenSSL init assigns anew, so with several contexts all but the last leaked
         * (LeakSanitizer, at exit). One context of ours, which lws then leaves alone
         * (provided_client_ssl_ctx), is freed below. */
        if (!(client_tls = SSL_CTX_new(TLS_client_method()))) {
            snprintf(err, errlen, "out of memory (OpenSSL)");
            store_close(store);
            goto out;
        }
        info.provided_client_ssl_ctx = client_tls;
    }
    /* The first thread's context listens; the others serve the sockets it hands them
     * (lws_adopt_socket_vhost), with the same vhost settings, TLS included. */
    for (int i = 0; i < srv.nthreads; i++) {
        info.port = i == 0 ? o->port : CONTEXT_PORT_NO_LISTEN_SERVER;
        info.user = &srv.pts[i];
        if (!(srv.pts[i].ctx = lws_create_context(&info))) {
            if (i == 0)
                snprintf(err, errlen, "cannot listen on %s:%d (see the lws message above)",
                         o->host ? o->host : "*", o->port);
            else
                snprintf(err, errlen, "cannot start service thread %d of %d (see the lws"
                         " message above)", i + 1, srv.nthreads);
            store_close(store);
            goto out;
        }
    }
    if (writer_start(&srv.writer, store, o->queue_max, o->batch_rows, o->batch_ms, wake,
                     &srv, err, errlen) < 0) {
        store_close(store);
        goto out;
    }
    writer_retain(srv.writer, o->retain_raw_ms, o->retain_ms);
    if (o->nalert_urls && alerts_start(&srv.alerts, o->alert_urls, o->nalert_urls, err,
                                       errlen) < 0)
        goto out;
    if (!(srv.watch = watch_new(srv.alerts, o->probe_silence_ms, o->rum_refresh_ms))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    struct store_opts ro = {.db = o->db_path, .password_file = o->store_password_file,
                            .readonly = 1};
    if (readers_start(&srv.readers, &ro, o->readers, o->read_timeout_ms, o->queue_max,
                      wake, &srv, err, errlen) < 0)
        goto out;
    struct writer_item *rebuild = watch_rebuild_item(METRICS_PROBE_SERIES_MAX);
    if (rebuild && readers_submit(srv.readers, rebuild) < 0)
        writer_item_free(rebuild);
    for (int i = 0; i < srv.nthreads; i++)
        lws_sul_schedule(srv.pts[i].ctx, 0, &srv.pts[i].tick, tick, LWS_US_PER_SEC);
    int port = lws_get_vhost_listen_port(lws_get_vhost_by_name(srv.pts[0].ctx, "default"));
    fprintf(stderr, "collector: listening on %s://%s:%d\n", o->tls_cert ? "https" : "http",
            o->host ? o->host : "0.0.0.0", port);
    if (o->port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", o->port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, o->port_file) < 0) {
            snprintf(err, errlen, "cannot write %s: %s", o->port_file, strerror(errno));
            goto out;
        }
    }

    signal_srv = &srv;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Thread 0 is this one. */
    int started = 1;
    for (int i = 1; i < srv.nthreads; i++, started++) {
        if (pthread_create(&srv.pts[i].thread, NULL, serve, &srv.pts[i]) != 0)
            break;
        /* For top -H and scripts/bench-collector, which adds up the service threads. */
        pthread_setname_np(srv.pts[i].thread, "collector-http");
    }
    if (started < srv.nthreads) {
        snprintf(err, errlen, "cannot start %d service threads (--threads)", srv.nthreads);
        stop_requested = 1;
        wake(&srv);
    }
    serve(&srv.pts[0]);
    for (int i = 1; i < started; i++)
        pthread_join(srv.pts[i].thread, NULL);
    if (started < srv.nthreads)
        goto out;
    fprintf(stderr, "collector: stopped\n");
    rc = 0;
out:
    signal_srv = NULL;
    readers_stop(srv.readers);
    writer_stop(srv.writer);
    alerts_stop(srv.alerts);
    watch_free(srv.watch);
    for (int i = srv.nthreads - 1; i >= 0; i--) {
        if (srv.pts[i].ctx) {
            lws_sul_schedule(srv.pts[i].ctx, 0, &srv.pts[i].tick, tick,
                             LWS_SET_TIMER_USEC_CANCEL);
            lws_context_destroy(srv.pts[i].ctx);
        }
        for (size_t k = 0; k < srv.pts[i].nhandoff; k++)
            close(srv.pts[i].handoff[k]);
        pthread_mutex_destroy(&srv.pts[i].lock);
    }
    SSL_CTX_free(client_tls);
early:
    ratelimit_free(srv.rl);
    ingest_free(srv.ingest);
    metrics_free(srv.metrics);
    live_free(srv.live);
    free(srv.pts);
    return rc;
}
