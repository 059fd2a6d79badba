#include "routes.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "beacon.h"
#include "calls.h"
#include "files.h"
#include "http.h"
#include "ingest.h"
#include "metrics.h"
#include "peers.h"
#include "probe_result.h"
#include "server.h"

#define CALL_BODY PROBE_RESULT_BODY_MAX, 4 * (size_t)PROBE_RESULT_BODY_MAX

/* Every route of the collector, in the order they are looked up (the first whose method
 * and path match wins; ROUTE_ANY_PATH only for a path no exact route has). Flagger's
 * webhooks (docs/gitbook/usage/webhooks.md) go on at 2xx and count anything else toward
 * the analysis' threshold: the rollout hook lets "pause" through so that only "rollback"
 * counts, and confirm-promotion holds the promotion until "promote". */
const struct route route_table[] = {
    {ROUTE_POST, "/v1/rum", ROUTE_ANYONE, -1, BODY_BEACONS, BEACON_BODY_MAX, INGEST_DISCARD_MAX,
     NULL, 0, ingest_start, ingest_finish,
     "beacons (allowed origins, per-client rate limits)"},
    {ROUTE_OPTIONS, "/v1/rum", ROUTE_ANYONE, -1, BODY_NONE, 0, 0, NULL, 0, ingest_preflight,
     NULL, "CORS preflight of the beacon"},
    {ROUTE_GET, "/healthz", ROUTE_ANYONE, -1, BODY_NONE, 0, 0, NULL, 0, server_health, NULL,
     "health (503 while stopping)"},
    {ROUTE_GET | ROUTE_HEAD, "/metrics", ROUTE_METRICS, -1, BODY_NONE, 0, 0, NULL, 0,
     metrics_start, NULL, "Prometheus metrics"},
    {ROUTE_POST, "/v1/probe-runs", ROUTE_PUSH, API_PROBE_RUN, BODY_DOCUMENT, CALL_BODY, NULL, 0,
     calls_start, calls_finish, "store a probe result document"},
    {ROUTE_GET, "/v1/probe-runs", ROUTE_READ, API_PROBE_RUNS, BODY_NONE, 0, 0, NULL, 0,
     calls_start, NULL, "journey runs"},
    {ROUTE_POST, "/v1/deployments", ROUTE_TOKEN, API_DEPLOYMENT, BODY_ARGS, CALL_BODY, NULL, 0,
     calls_start, calls_finish, "store a deployment marker"},
    {ROUTE_GET, "/v1/deployments", ROUTE_READ, API_DEPLOYMENTS, BODY_NONE, 0, 0, NULL, 0,
     calls_start, NULL, "deployment markers"},
    {ROUTE_GET, "/v1/gate", ROUTE_READ, API_GATE, BODY_NONE, 0, 0, NULL, 0, calls_start, NULL,
     "the pre-exposure gate"},
    {ROUTE_GET, "/v1/verdict", ROUTE_READ, API_VERDICT, BODY_NONE, 0, 0, NULL, 0, calls_start,
     NULL, "the canary verdict (recorded)"},
    {ROUTE_GET, "/v1/verdicts", ROUTE_READ, API_VERDICTS, BODY_NONE, 0, 0, NULL, 0, calls_start,
     NULL, "recorded verdicts"},
    {ROUTE_GET, "/v1/apps", ROUTE_READ, API_APPS, BODY_NONE, 0, 0, NULL, 0, calls_start, NULL,
     "dashboard: apps"},
    {ROUTE_GET, "/v1/versions", ROUTE_READ, API_VERSIONS, BODY_NONE, 0, 0, NULL, 0, calls_start,
     NULL, "dashboard: versions"},
    {ROUTE_GET, "/v1/series", ROUTE_READ, API_SERIES, BODY_NONE, 0, 0, NULL, 0, calls_start,
     NULL, "dashboard: a metric over time"},
    {ROUTE_GET, "/v1/breakdown", ROUTE_READ, API_BREAKDOWN, BODY_NONE, 0, 0, NULL, 0,
     calls_start, NULL, "dashboard: where canary and baseline differ"},
    {ROUTE_GET, "/v1/errors", ROUTE_READ, API_ERRORS, BODY_NONE, 0, 0, NULL, 0, calls_start,
     NULL, "dashboard: new JS errors"},
    {ROUTE_GET, "/v1/probe-results", ROUTE_READ, API_PROBE_RESULTS, BODY_NONE, 0, 0, NULL, 0,
     calls_start, NULL, "dashboard: latest probe results"},
    {ROUTE_GET, "/v1/traffic", ROUTE_READ, API_TRAFFIC, BODY_NONE, 0, 0, NULL, 0, calls_start,
     NULL, "dashboard: the canary's share of page views per marker segment"},
    {ROUTE_POST, "/v1/hooks/flagger/pre-rollout", ROUTE_READ, API_GATE, BODY_FLAGGER, CALL_BODY,
     "allow", 0, calls_start, calls_finish, "Flagger: the gate (200 on allow)"},
    {ROUTE_POST, "/v1/hooks/flagger/confirm-promotion", ROUTE_READ, API_VERDICT, BODY_FLAGGER,
     CALL_BODY, "promote", 0, calls_start, calls_finish, "Flagger: the verdict (200 on promote)"},
    {ROUTE_POST, "/v1/hooks/flagger/rollout", ROUTE_READ, API_VERDICT, BODY_FLAGGER, CALL_BODY,
     "promote pause", 0, calls_start, calls_finish,
     "Flagger: the verdict (200 on promote or pause)"},
    {ROUTE_GET, "/v1/live", ROUTE_READ, -1, BODY_NONE, 0, 0, NULL, 1, NULL, NULL,
     "WebSocket `vigil-live`: live updates"},
    {ROUTE_GET | ROUTE_HEAD, ROUTE_ANY_PATH, ROUTE_ANYONE, -1, BODY_NONE, 0, 0, NULL, 0, files_start, NULL,
     "static files (`--static`)"},
};
const size_t route_count = sizeof route_table / sizeof route_table[0];

static const char *const auth_docs[ROUTE_AUTH_N] = {
    [ROUTE_ANYONE] = "anyone",
    [ROUTE_READ] = "anyone, or with `--read-token-file` its holders",
    [ROUTE_METRICS] = "anyone, or with `--metrics-token-file` (else `--read-token-file`)"
                      " its holders",
    [ROUTE_TOKEN] = "the probe token (`--probe-token-file`)",
    [ROUTE_PUSH] = ("the probe token (`--probe-token-file`), or a probe host's signature"
                    " (`--probe-keys`)"),
};

const char *route_auth_doc(enum route_auth a)
{
    return auth_docs[a];
}

const struct route *route_find(unsigned method, const char *path, int *known)
{
    const struct route *fallback = NULL;
    *known = 0;
    for (size_t i = 0; i < route_count; i++) {
        const struct route *r = &route_table[i];
        if (strcmp(r->path, ROUTE_ANY_PATH) == 0) {
            if (r->methods & method)
                fallback = r;
            continue;
        }
        /* A WebSocket route is reached by its upgrade only; as plain HTTP it is unknown. */
        if (r->websocket || strcmp(r->path, path) != 0)
            continue;
        *known = 1;
        if (r->methods & method)
            return r;
    }
    return *known ? NULL : fallback;
}

int route_doc_table(struct buf *b)
{
    static const struct {
        unsigned bit;
        const char *name;
    } methods[] = {{ROUTE_GET, "GET"}, {ROUTE_HEAD, "HEAD"}, {ROUTE_POST, "POST"},
                   {ROUTE_OPTIONS, "OPTIONS"}};
    int rc = buf_puts(b, "| route | who may call it | what |\n| --- | --- | --- |\n");
    for (size_t i = 0; i < route_count && rc == 0; i++) {
        const struct route *r = &route_table[i];
        rc |= buf_puts(b, "| `");
        for (size_t k = 0, n = 0; k < sizeof methods / sizeof methods[0]; k++)
            if (r->methods & methods[k].bit)
                rc |= buf_printf(b, "%s%s", n++ ? ", " : "", methods[k].name);
        rc |= buf_printf(b, " %s` | %s | %s |\n", r->path, route_auth_doc(r->auth), r->doc);
    }
    return rc ? -1 : 0;
}

/* The request's method as a route bit; 0 for one no route takes. */
static unsigned method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
        return ROUTE_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
        return ROUTE_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
        return ROUTE_OPTIONS;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0)
        return ROUTE_HEAD;
    return 0;
}

/* Refuses, with 400 and close, a request whose framing two parsers could read two ways
 * (request smuggling): a Content-Length that is not 1*DIGIT or several that differ
 * (RFC 9112 6.3 item 5, RFC 9110 8.6; nginx answers both 400 and closes), and an
 * HTTP/1.1 request without exactly one Host (RFC 9112 3.2). lws takes the first
 * Content-Length's leading digits ("12abc" as 12), so the refusal closes the connection
 * before anything after the headers is read as a body or as another request. Returns 1
 * if refused. */
static int framing_refused(struct server *srv, struct http_req *req)
{
    struct lws *wsi = req->wsi;
    char v[32], first[32] = "", version[16];
    const char *why = NULL;

    for (int i = 0, n; !why && (n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
                                                            i)) > 0; i++) {
        /* Optional whitespace around the value (RFC 9110 5.5); lws also starts a
         * repeated header's value with a space. */
        if (n >= (int)sizeof v - 1
            || lws_hdr_copy_fragment(wsi, v, sizeof v, WSI_TOKEN_HTTP_CONTENT_LENGTH, i) != n) {
            why = "Content-Length must be digits only";
            break;
        }
        char *d = v + strspn(v, " \t");
        size_t digits = strspn(d, "0123456789");
        int bad = digits == 0 || d[digits + strspn(d + digits, " \t")] != '\0';
        d[digits] = '\0';
        if (bad)
            why = "Content-Length must be digits only";
        else if (i == 0)
            snprintf(first, sizeof first, "%s", d);
        else if (strcmp(first, d) != 0)
            why = "several different Content-Length headers";
    }
    if (!why && lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_HTTP) > 0
        && strcmp(version, "HTTP/1.0") != 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HOST) <= 0)
        why = "an HTTP/1.1 request needs a Host header";
    if (!why)
        return 0;
    req->close = 1;
    http_reject(srv, req, 400, REJ_MALFORMED, why, NULL);
    return 1;
}

/* A new request: find its route (405 for a known path and another method, 404 for an
 * unknown one), check who may call it, and hand it to the route's start handler. */
static void route_request(struct server *srv, struct http_req *req, const char *uri)
{
    unsigned method = method_of(req->wsi);
    int known;
    const struct route *r = route_find(method, uri, &known);

    http_origin(srv, req);
    if (framing_refused(srv, req))
        return;
    if (!r) {
        req->close = http_has_body(req->wsi);
        if (known)
            http_reject(srv, req, 405, REJ_METHOD, "method not allowed", NULL);
        else
            http_reject(srv, req, 404, REJ_NOT_FOUND, "not found", NULL);
        return;
    }
    req->route = r;
    req->head = method == ROUTE_HEAD;
    req->uri = uri;
    /* Refused by its auth class: at once without a body, else once the body is read. */
    if (!calls_authorize(srv, req) && r->body == BODY_NONE) {
        http_reject(srv, req, req->reject, req->reject_reason, req->reject_msg, NULL);
        return;
    }
    r->start(srv, req);
    req->uri = NULL;
}

/* Connections per client address (--max-per-address). lws adopts an accepted socket
 * right after LWS_CALLBACK_FILTER_NETWORK_CONNECTION, which gives its fd, and gives it to
 * the service thread with the fewest connections, which binds it to this protocol
 * (LWS_CALLBACK_HTTP_BIND_PROTOCOL) when it first serves it, on that thread. So the slot
 * counted at the filter waits, by fd, in a short list until the bind takes it; from then
 * on it goes with the connection as its opaque user data (kept across a WebSocket
 * upgrade), and comes back at LWS_CALLBACK_WSI_DESTROY, which lws sends to this, the
 * first protocol, always. A slot still waiting when its fd is accepted again belonged to
 * a socket lws closed before binding it: it is given back then. All under peers_lock:
 * the service threads share the table. */
#define PEERS_WAITING_MAX 256       /* accepted, not yet bound; more are not capped */
static struct peers peers;
static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int fd, slot;
} peers_waiting[PEERS_WAITING_MAX];
static size_t npeers_waiting;

/* Takes the slot waiting for fd out of the list: the slot, or -1. Called locked. */
static int waiting_take(int fd)
{
    for (size_t i = 0; i < npeers_waiting; i++) {
        if (peers_waiting[i].fd == fd) {
            int slot = peers_waiting[i].slot;
            peers_waiting[i] = peers_waiting[--npeers_waiting];
            return slot;
        }
    }
    return -1;
}

/* What a connection keeps from one request to the next (its opaque user data): its
 * slot, and its peer's address once asked. Asking the kernel for each request on a
 * kept-alive connection (getpeername) cost a service thread 6% of its time (perf,
 * scripts/bench-collector). */
struct route_conn {
    int slot;                   /* in peers, or -1 when not counted */
    char peer[64];              /* "" until route_peer asks */
};

static void peer_release(struct lws *wsi)
{
    struct route_conn *c = lws_get_opaque_user_data(wsi);
    if (!c)
        return;
    pthread_mutex_lock(&peers_lock);
    peers_close(&peers, c->slot);
    pthread_mutex_unlock(&peers_lock);
    lws_set_opaque_user_data(wsi, NULL);
    free(c);
}

/* The connection is bound: the slot counted for its socket goes with it. Out of
 * memory, the connection is not counted (its slot is given back at once). */
static void peer_bind(struct lws *wsi)
{
    if (lws_get_opaque_user_data(wsi))
        return;
    struct route_conn *c = calloc(1, sizeof *c);
    pthread_mutex_lock(&peers_lock);
    int slot = waiting_take(lws_get_socket_fd(wsi));
    if (!c)
        peers_close(&peers, slot);
    pthread_mutex_unlock(&peers_lock);
    if (!c)
        return;
    c->slot = slot;
    lws_set_opaque_user_data(wsi, c);
}

const char *route_peer(struct lws *wsi, char *buf, size_t len)
{
    struct route_conn *c = lws_get_opaque_user_data(wsi);
    if (c && c->peer[0])
        return c->peer;
    lws_get_peer_simple(wsi, buf, len);
    if (c && strlen(buf) < sizeof c->peer)
        memcpy(c->peer, buf, strlen(buf) + 1);
    return buf;
}

/* A new connection from the socket fd: 0 to take it, 1 to close it at once. A peer among
 * --trust-proxy is not capped: it carries many clients. */
static int peer_filter(struct server *srv, int fd)
{
    char addr[PEERS_ADDR_LEN];
    int refuse = 0;

    pthread_mutex_lock(&peers_lock);
    peers_close(&peers, waiting_take(fd));
    pthread_mutex_unlock(&peers_lock);
    if (peers_address(fd, addr, sizeof addr) < 0)
        return 0;
    for (size_t i = 0; i < srv->o->nproxies; i++)
        if (cidr_contains(&srv->o->proxies[i], addr))
            return 0;
    pthread_mutex_lock(&peers_lock);
    int slot = peers_open(&peers, addr, srv->o->max_per_address);
    if (slot == -2) {
        refuse = 1;
    } else if (slot >= 0 && npeers_waiting < PEERS_WAITING_MAX) {
        peers_waiting[npeers_waiting].fd = fd;
        peers_waiting[npeers_waiting++].slot = slot;
    } else {
        peers_close(&peers, slot);
    }
    pthread_mutex_unlock(&peers_lock);
    return refuse;
}

/* A new connection from the socket fd: counted against its address's cap, then handed
 * to the service thread with the fewest connections (server_handoff). Returns 0 for lws
 * to adopt fd on this thread, 1 to have it closed: refused, or handed on as a dup (with
 * its waiting slot). */
static int accept_filter(struct server *srv, int fd)
{
    if (peer_filter(srv, fd))
        return 1;
    int dup = server_handoff(srv, fd);
    if (dup < 0)
        return 0;
    pthread_mutex_lock(&peers_lock);
    for (size_t i = 0; i < npeers_waiting; i++)
        if (peers_waiting[i].fd == fd)
            peers_waiting[i].fd = dup;
    pthread_mutex_unlock(&peers_lock);
    return 1;
}

/* The body deadline (--body-timeout) passed before the body was complete: 408, close. */
static void body_late(lws_sorted_usec_list_t *sul)
{
    struct http_req *req = lws_container_of(sul, struct http_req, body_sul);
    struct server *srv = server_pt_of(req->wsi)->srv;
    char msg[96];
    if (req->status || req->waiting)
        return;
    req->close = 1;
    snprintf(msg, sizeof msg, "the body did not arrive within %d s (--body-timeout)",
             srv->o->body_timeout_s);
    http_reject(srv, req, 408, REJ_BODY_TIMEOUT, msg, NULL);
}

int route_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                        void *in, size_t len)
{
    struct http_req *req = user;
    struct server *srv = server_pt_of(wsi)->srv;

    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        /* On every service thread, each taking what waits for it. */
        server_collect_done(server_pt_of(wsi));
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        /* Only a WebSocket route is upgraded, and only for a caller its auth class lets
         * in (/v1/live: the read token). */
        char uri[64];
        const struct route *r = NULL;
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) > 0)
            for (size_t i = 0; !r && i < route_count; i++)
                if (route_table[i].websocket && strcmp(route_table[i].path, uri) == 0)
                    r = &route_table[i];
        if (!r || !(r->auth == ROUTE_ANYONE || (r->auth == ROUTE_READ
                                                && calls_may_read(srv, wsi))))
            return 1;
        return 0;
    }

    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return accept_filter(srv, (int)(intptr_t)in);

    case LWS_CALLBACK_WSI_CREATE:
        server_pt_of(wsi)->conns++;
        metrics_connections(srv->metrics, 1);
        return 0;
    case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
        peer_bind(wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        server_pt_of(wsi)->conns--;
        peer_release(wsi);
        metrics_connections(srv->metrics, -1);
        return 0;

    case LWS_CALLBACK_HTTP:
        /* A new request while the last one still waits for its answer would lose that
         * answer and the connection with it (HTTP/1.1 answers in order). It must not
         * happen: lws keeps pipelined bytes in the connection's buffer list and parses
         * them only once the transaction before is complete (test_pipelined_reads.py);
         * if it does, close. */
        if (req->waiting) {
            fprintf(stderr, "collector: a request came before the answer of the one"
                    " before it on the same connection; closing the connection\n");
            return -1;
        }
        lws_sul_cancel(&req->body_sul);
        memset(req, 0, sizeof *req);
        req->wsi = wsi;
        route_request(srv, req, in);
        /* A body must come whole within --body-timeout, however slowly it trickles in
         * (lws's own timeout starts again with each piece). */
        if (!req->status && http_has_body(wsi))
            lws_sul_schedule(lws_get_context(wsi), 0, &req->body_sul, body_late,
                             (lws_usec_t)srv->o->body_timeout_s * LWS_US_PER_SEC);
        return 0;

    case LWS_CALLBACK_HTTP_BODY:
        if (!req->route || req->route->body == BODY_NONE)
            return 0;
        req->body_seen += len;
        /* Far past any limit: stop reading and close. */
        if (req->body_seen > req->route->drop_max)
            return -1;
        /* Past the buffer's cap the body is dropped; finishing answers 413. */
        if (!req->reject && buf_append(&req->body, in, len) < 0)
            req->body.len = 0;
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        lws_sul_cancel(&req->body_sul);
        if (req->route && req->route->finish && !req->status && !req->waiting)
            req->route->finish(srv, req);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!req || !req->status)
            return 0;
        return http_send(req);

    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (req) {
            lws_sul_cancel(&req->body_sul);
            server_forget(srv, req);
        }
        return 0;

    default:
        return 0;
    }
}
