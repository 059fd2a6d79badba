/*
 * routes: the collector's one route table, and the lws HTTP callback that follows it.
 *
 * Each route names its method(s), path, handlers, who may call it (its auth class) and,
 * for the API, the call it makes (api.h). Everything else follows from the table: the
 * 405 for a known path asked with another method, the auth check before a handler runs
 * (calls_authorize), the body limits, and the route table in collector/README.md
 * (route_doc_table; tests/unit/test_routes.c keeps the README equal to it).
 */
#ifndef VIGIL_ROUTES_H
#define VIGIL_ROUTES_H

#include <libwebsockets.h>
#include <stddef.h>

#include "buf.h"

struct server;
struct http_req;

/* Methods, as bits of struct route's methods. */
#define ROUTE_ANY_PATH "/*"       /* any path no exact route has */

enum { ROUTE_GET = 1, ROUTE_HEAD = 2, ROUTE_POST = 4, ROUTE_OPTIONS = 8 };

/* Who may call a route. */
enum route_auth {
    ROUTE_ANYONE,               /* anyone (beacons: allowed origins and rate limits) */
    ROUTE_READ,                 /* anyone, or with --read-token-file its holders */
    ROUTE_METRICS,              /* anyone, or with --metrics-token-file (else
                                   --read-token-file) its holders */
    ROUTE_TOKEN,                /* the probe token (--probe-token-file) */
    ROUTE_PUSH,                 /* the probe token, or a probe host's signature (--probe-keys) */
    ROUTE_AUTH_N
};

/* How a body is taken: not at all, beacons, or an API call's (a probe result document,
 * the call's arguments, or Flagger's webhook). */
enum route_body { BODY_NONE, BODY_BEACONS, BODY_DOCUMENT, BODY_ARGS, BODY_FLAGGER };

struct route {
    unsigned methods;           /* ROUTE_GET | ... */
    const char *path;           /* exact, or ROUTE_ANY_PATH: the static files' fallback */
    enum route_auth auth;
    int api;                    /* the call (api.h enum api_fn), or -1 */
    enum route_body body;
    size_t body_max;            /* bytes of body kept (then 413); 0 without a body */
    size_t drop_max;            /* bytes read and dropped before the connection is closed */
    const char *flagger;        /* Flagger's webhooks: the decisions answered 200 */
    int websocket;              /* an upgrade to WebSocket only (live.h) */
    void (*start)(struct server *srv, struct http_req *req);   /* at the headers */
    void (*finish)(struct server *srv, struct http_req *req);  /* the body complete */
    const char *doc;            /* what it does, for the README's table */
};

extern const struct route route_table[];
extern const size_t route_count;

/* The route for method (one ROUTE_ bit) and path, or NULL; *known tells whether any
 * exact route has that path (then the answer is 405, else 404). */
const struct route *route_find(unsigned method, const char *path, int *known);

/* Who may call, in words, for the README. */
const char *route_auth_doc(enum route_auth a);

/* Writes the README's route table (Markdown, one row per route). 0 or -1. */
int route_doc_table(struct buf *b);

/* The connection's peer address (lws_get_peer_simple), asked of the kernel once per
 * connection and kept with it; buf (len bytes) is used the first time, or when nothing
 * can be kept. */
const char *route_peer(struct lws *wsi, char *buf, size_t len);

/* The "http" protocol's callback (lws_protocols). */
int route_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                        void *in, size_t len);

#endif
