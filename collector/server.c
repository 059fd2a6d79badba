#include "server.h"

#include <errno.h>
#include <netdb.h>
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
#include "live.h"
#include "metrics.h"
#include "ratelimit.h"
#include "readers.h"
#include "routes.h"
#include "watch.h"
#include "writer.h"

static volatile sig_atomic_t stop_requested;   /* set by the signal handler only */
static struct lws_context *signal_ctx;

static void pending_add(struct server *srv, struct http_req *req)
{
    struct http_req **b = &srv->pending[req->id % SERVER_PENDING_BUCKETS];
    req->next = *b;
    *b = req;
    req->waiting = 1;
}

static struct http_req *pending_take(struct server *srv, uint64_t id)
{
    for (struct http_req **p = &srv->pending[id % SERVER_PENDING_BUCKETS]; *p; p = &(*p)->next) {
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
        pending_take(srv, req->id);
        /* Its client left: a read not started yet is not worth running. */
        if (srv->readers)
            readers_forget(srv->readers, req->id);
    }
    http_req_fini(req);
}

void server_enqueue(struct server *srv, struct http_req *req, struct writer_item *item,
                    int write)
{
    if (item)
        item->id = ++srv->next_id;
    if (!item || (write ? writer_submit(srv->writer, item)
                        : readers_submit(srv->readers, item)) < 0) {
        const char *why = !item ? "out of memory" : write ? "write queue full" : "read queue full";
        writer_item_free(item);
        req->retry_after = 1;
        http_reject(srv, req, 503, REJ_QUEUE_FULL, why, NULL);
        return;
    }
    req->id = item->id;
    pending_add(srv, req);
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

/* Takes every finished item, the writer's first, and hands each to the room that waits
 * for it, with the request still waiting for it (NULL when its client left). */
void server_collect_done(struct server *srv)
{
    struct writer_item *d = writer_take_done(srv->writer), **tail = &d;
    while (*tail)
        tail = &(*tail)->next;
    *tail = srv->readers ? readers_take_done(srv->readers) : NULL;
    while (d) {
        struct writer_item *next = d->next;
        struct http_req *req = pending_take(srv, d->id);
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

/* Once a second: the live pages, the alert rules' clock, and the p75 series' refresh on
 * a reader. */
static void tick(lws_sorted_usec_list_t *sul)
{
    struct server *srv = lws_container_of(sul, struct server, tick);
    live_tick(srv->live);
    struct writer_item *rum = watch_tick(srv->watch);
    if (rum && (!srv->readers || readers_submit(srv->readers, rum) < 0)) {
        watch_rum_done(srv->watch, NULL);
        writer_item_free(rum);
    }
    lws_sul_schedule(srv->ctx, 0, &srv->tick, tick, LWS_US_PER_SEC);
}


static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (signal_ctx)
        lws_cancel_service(signal_ctx);
}

static void wake(void *ctx)
{
    lws_cancel_service(ctx);
}

static int any_pending(const struct server *srv)
{
    for (int i = 0; i < SERVER_PENDING_BUCKETS; i++)
        if (srv->pending[i])
            return 1;
    return 0;
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
    int rc = -1;

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
    memset(&info, 0, sizeof info);
    info.port = o->port;
    info.iface = o->host;
    info.protocols = protocols;
    info.user = &srv;
    info.keepalive_timeout = o->idle_timeout_s;
    info.timeout_secs = (unsigned int)o->idle_timeout_s;
    info.max_http_header_data = 4096;
    info.fd_limit_per_thread = (unsigned int)o->max_conns + 16;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (o->tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = o->tls_cert;
        info.ssl_private_key_filepath = o->tls_key;
        info.alpn = "http/1.1";
    }
    srv.ctx = lws_create_context(&info);
    if (!srv.ctx) {
        snprintf(err, errlen, "cannot listen on %s:%d (see the lws message above)",
                 o->host ? o->host : "*", o->port);
        store_close(store);
        goto early;
    }
    if (writer_start(&srv.writer, store, o->queue_max, o->batch_rows, o->batch_ms, wake,
                     srv.ctx, err, errlen) < 0) {
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
                      wake, srv.ctx, err, errlen) < 0)
        goto out;
    struct writer_item *rebuild = watch_rebuild_item(METRICS_PROBE_SERIES_MAX);
    if (rebuild && readers_submit(srv.readers, rebuild) < 0)
        writer_item_free(rebuild);
    lws_sul_schedule(srv.ctx, 0, &srv.tick, tick, LWS_US_PER_SEC);
    int port = lws_get_vhost_listen_port(lws_get_vhost_by_name(srv.ctx, "default"));
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

    signal_ctx = srv.ctx;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    while (!stop_requested)
        if (lws_service(srv.ctx, 0) < 0)
            break;

    /* Stop: refuse new beacons, let the writer store what it has, answer those requests.
     * Reads are not waited for: queued ones are answered 503 and running statements
     * interrupted (sqlite3_interrupt), so that a long read cannot hold up the stop. */
    srv.draining = 1;
    readers_cancel(srv.readers);
    double deadline = clock_mono_ms() + SERVER_DRAIN_SECONDS * 1000.0;
    while (clock_mono_ms() < deadline && (writer_stats(srv.writer)->queued > 0 || any_pending(&srv)))
        lws_service(srv.ctx, 0);
    fprintf(stderr, "collector: stopped\n");
    rc = 0;
out:
    signal_ctx = NULL;
    lws_sul_schedule(srv.ctx, 0, &srv.tick, tick, LWS_SET_TIMER_USEC_CANCEL);
    readers_stop(srv.readers);
    writer_stop(srv.writer);
    alerts_stop(srv.alerts);
    watch_free(srv.watch);
    lws_context_destroy(srv.ctx);
early:
    ratelimit_free(srv.rl);
    ingest_free(srv.ingest);
    metrics_free(srv.metrics);
    live_free(srv.live);
    return rc;
}
