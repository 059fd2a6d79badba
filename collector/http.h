/*
 * http: one HTTP request on the service thread, its common state and its answer.
 *
 * lws keeps a struct http_req per request (per keep-alive transaction). The routing
 * (routes.h) fills the common part and hands it to its route's handlers; each room keeps
 * its own state in the union (ingest.h for beacons, calls.h for the API). The answer is
 * decided once (status, body, headers) and written in one go from WRITEABLE.
 */
#ifndef VIGIL_HTTP_H
#define VIGIL_HTTP_H

#include <libwebsockets.h>
#include <stdint.h>

#include "buf.h"
#include "calls.h"
#include "ingest.h"

#define HTTP_HEADER_SPACE 1024      /* bytes for response headers */

struct server;
struct route;

/* Why a request was refused: counted per reason in /metrics. */
enum http_reason {
    REJ_MALFORMED, REJ_SCHEMA, REJ_TOO_LARGE, REJ_MEDIA_TYPE, REJ_RATE_LIMITED,
    REJ_QUEUE_FULL, REJ_ORIGIN, REJ_NOT_FOUND, REJ_METHOD, REJ_STORE_FAILED,
    REJ_SHUTTING_DOWN, REJ_LENGTH_REQUIRED, REJ_UNAUTHORIZED, REJ_BODY_TIMEOUT, REJ_N
};
extern const char *const http_reason_names[REJ_N];

struct http_req {
    struct lws *wsi;
    const struct route *route;  /* NULL until routed */
    const char *uri;            /* the path; during the route's start handler only */
    struct buf body;
    size_t body_seen;           /* bytes of body received, kept or not */
    int reject;                 /* status decided before the body was read, or 0 */
    enum http_reason reject_reason;
    char reject_msg[256];
    int origin_ok;              /* echo the Origin in CORS headers */
    char origin[256];
    int preflight;              /* a CORS preflight: answer with the allowed methods */
    uint64_t id;                /* while waiting for the writer or a reader */
    int waiting;
    struct http_req *next;      /* in the server's pending table */
    /* The answer, once decided. */
    int status;
    char *resp;                 /* body with LWS_PRE bytes before it, or NULL */
    size_t resp_len;
    const char *ctype;
    int retry_after;
    int close;
    char etag[48];              /* static files */
    const char *encoding;       /* Content-Encoding of a precompressed file, or NULL */
    int vary_ae;                /* the answer depends on Accept-Encoding */
    int head;                   /* HEAD: headers only */
    lws_sorted_usec_list_t body_sul;  /* the body's deadline (--body-timeout) */
    const char *cache;          /* Cache-Control, default no-store */
    union {
        struct ingest_req rum;  /* POST /v1/rum */
        struct calls_req call;  /* the API's routes */
    } u;
};

/* Takes the request's Origin: origin_ok when it may see CORS headers (http_origin_ok). */
void http_origin(struct server *srv, struct http_req *req);

/* An origin may send beacons if it is listed, or if "*" is (the Host header is not
 * trusted to name the collector's own origin). */
int http_origin_ok(const struct server *srv, const char *origin);

/* Sets the answer's body (copied) and content type. */
void http_set_body(struct http_req *req, const char *text, const char *ctype);

/* Decides the answer: status and, for errors, {"error": msg, "field": field}. */
void http_answer(struct http_req *req, int status, const char *msg, const char *field);

/* Refuses the request: counted by reason in /metrics, then answered as http_answer. */
void http_reject(struct server *srv, struct http_req *req, int status, enum http_reason r,
                 const char *msg, const char *field);

/* Decides a refusal before the body is read (it is still read, to keep the connection
 * in step), with the reason as printf formats it; http_body_refused answers it. */
void http_refuse_later(struct http_req *req, int status, enum http_reason r,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A complete body that must not be used: refused before it came, or longer than max.
 * Answers and returns 1 in those cases. */
int http_body_refused(struct server *srv, struct http_req *req, size_t max);

/* 1 when the request announces a body (Content-Length > 0 or Transfer-Encoding). */
int http_has_body(struct lws *wsi);

/* Writes the decided answer. Returns what the lws callback returns: -1 closes. */
int http_send(struct http_req *req);

/* Frees what the request holds (its body, answer and per-route state). */
void http_req_fini(struct http_req *req);

#endif
