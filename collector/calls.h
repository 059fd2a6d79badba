/*
 * calls: the HTTP API's calls (collector/api.h) and who may make them.
 *
 * The auth classes the route table declares (routes.h) are checked here: the read token
 * (--read-token-file), the probe token (--probe-token-file) and signed pushes
 * (--probe-keys, shared/sign.h). A call's arguments come from the query, the body or
 * Flagger's webhook metadata; writes go to the writer thread, reads to a reader, and the
 * answer comes back through the server's pending table.
 */
#ifndef VIGIL_CALLS_H
#define VIGIL_CALLS_H

#include <jansson.h>
#include <libwebsockets.h>

#include "sign.h"

struct server;
struct http_req;
struct writer_item;
struct probe_result;

/* The state of one API request (in struct http_req). */
struct calls_req {
    json_t *args;               /* the call's arguments */
    struct probe_result *probe; /* POST /v1/probe-runs: the document, parsed */
    /* A signed push: checked by its headers at once, by its body in calls_finish. */
    int sig;
    char key_id[SIGN_KEY_ID_MAX + 1];
    long long sig_ts;           /* X-Vigil-Timestamp, Unix s */
    char signature[65];         /* X-Vigil-Signature, lower-case hex */
};

/* Checks the request against its route's auth class. Returns 1 to go on, or 0 with the
 * 401 decided in req->reject (answered at once for a request without a body, after the
 * body otherwise). */
int calls_authorize(struct server *srv, struct http_req *req);

/* Whether the request may read (--read-token-file): for the WebSocket's upgrade. */
int calls_may_read(const struct server *srv, struct lws *wsi);

/* Route handlers of the API's routes: at the headers and once the body is complete. */
void calls_start(struct server *srv, struct http_req *req);
void calls_finish(struct server *srv, struct http_req *req);

/* 1 when a finished item is an API call this module submitted. */
int calls_owns(const struct writer_item *item);

/* An API call finished: its effects (probe series, alerts, live pages, recording a
 * verdict) and the answer to req (NULL when the client left). */
void calls_done(struct server *srv, struct writer_item *item, struct http_req *req);

/* Frees the per-request state. */
void calls_req_fini(struct calls_req *c);

#endif
