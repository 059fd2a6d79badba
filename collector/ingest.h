/*
 * ingest: POST /v1/rum, beacons from browsers (collector/README.md "POST /v1/rum").
 *
 * At the headers: size, origin, content type, the rate limit and the User-Agent's class;
 * at the body: the beacon schema (shared/beacon.h), then the writer. The client is
 * answered 204 once the transaction holding its beacons has committed.
 */
#ifndef VIGIL_INGEST_H
#define VIGIL_INGEST_H

#include "store.h"

#define INGEST_DISCARD_MAX (1024 * 1024)  /* body bytes read and dropped before closing */
#define INGEST_UA_CACHE_SLOTS 256         /* User-Agents whose class is remembered */
#define INGEST_UA_CACHE_LEN 320           /* longer User-Agents are classified every time */

struct server;
struct http_req;
struct writer_item;

/* The state of one POST /v1/rum (in struct http_req). */
struct ingest_req {
    int bot;                    /* a known bot: read, count, do not store */
    struct beacon_meta meta;    /* what the server adds to each beacon */
};

struct ingest;

/* The User-Agent cache, shared by the service threads (it locks). NULL without memory;
 * ingest_free(NULL) is a no-op. */
struct ingest *ingest_new(void);
void ingest_free(struct ingest *in);

/* Route handlers: POST /v1/rum at its headers and once its body is complete, and the
 * CORS preflight OPTIONS /v1/rum. */
void ingest_start(struct server *srv, struct http_req *req);
void ingest_finish(struct server *srv, struct http_req *req);
void ingest_preflight(struct server *srv, struct http_req *req);

/* A beacon item the writer finished (status 204 stored, else 503): counted, the live
 * pages and the alert rules told, and req (NULL when the client left) answered. */
void ingest_done(struct server *srv, const struct writer_item *item, struct http_req *req);

#endif
