#include "ingest.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "beacon.h"
#include "clock.h"
#include "http.h"
#include "jsonarena.h"
#include "live.h"
#include "metrics.h"
#include "ratelimit.h"
#include "routes.h"
#include "server.h"
#include "uaclass.h"
#include "watch.h"
#include "writer.h"

/* Most beacons come from a few browser builds, so their classes are remembered. */
struct ua_cached {
    char ua[INGEST_UA_CACHE_LEN];
    struct uaclass c;
};

struct ingest {
    pthread_mutex_t lock;       /* the service threads share the cache */
    struct ua_cached ua_cache[INGEST_UA_CACHE_SLOTS];
};

struct ingest *ingest_new(void)
{
    struct ingest *in = calloc(1, sizeof(struct ingest));
    if (in)
        pthread_mutex_init(&in->lock, NULL);
    return in;
}

void ingest_free(struct ingest *in)
{
    if (in)
        pthread_mutex_destroy(&in->lock);
    free(in);
}

static int trusted(const struct server *srv, const char *addr)
{
    for (size_t i = 0; i < srv->o->nproxies; i++)
        if (cidr_contains(&srv->o->proxies[i], addr))
            return 1;
    return 0;
}

/* The client's address: the socket peer, or, when the peer is a trusted proxy, the last
 * address in X-Forwarded-For that is not itself a trusted proxy. An IPv4 peer on a
 * dual-stack socket ("::ffff:10.0.0.1") is taken as its IPv4 address. */
static void client_address(struct server *srv, struct lws *wsi, char *out, size_t outlen)
{
    char xff[1024];
    snprintf(out, outlen, "%s", route_peer(wsi, xff, sizeof xff));
    if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.'))
        memmove(out, out + 7, strlen(out + 7) + 1);
    if (!trusted(srv, out) || lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) <= 0)
        return;
    /* Walk the list from its right end: each hop appends the address it saw. */
    for (char *end = xff + strlen(xff); end > xff;) {
        char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        *b = '\0';
        if (*a && !trusted(srv, a)) {
            snprintf(out, outlen, "%s", a);
            return;
        }
        end = start > xff ? start - 1 : xff;
    }
}

static void classify(struct server *srv, const char *ua, struct uaclass *out)
{
    uint32_t h = 2166136261u;
    size_t n = 0;
    for (const char *p = ua; *p; p++, n++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    if (n >= INGEST_UA_CACHE_LEN) {
        uaclass_classify(ua, out);
        return;
    }
    struct ua_cached *slot = &srv->ingest->ua_cache[h % INGEST_UA_CACHE_SLOTS];
    pthread_mutex_lock(&srv->ingest->lock);
    int hit = slot->ua[0] && strcmp(slot->ua, ua) == 0;
    if (hit)
        *out = slot->c;
    pthread_mutex_unlock(&srv->ingest->lock);
    if (hit)
        return;
    uaclass_classify(ua, out);
    pthread_mutex_lock(&srv->ingest->lock);
    memcpy(slot->ua, ua, n + 1);
    slot->c = *out;
    pthread_mutex_unlock(&srv->ingest->lock);
}

/* Whether a Content-Type value names the media type want: its type/subtype, before any
 * ";" parameters and without the whitespace around it, compared without case (RFC 9110
 * 8.3.1); "application/jsonXYZ" is another type. */
static int media_type_is(const char *ctype, const char *want)
{
    size_t n = strcspn(ctype, ";");
    while (n > 0 && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t'))
        n--;
    while (n > 0 && (*ctype == ' ' || *ctype == '\t')) {
        ctype++;
        n--;
    }
    return n == strlen(want) && strncasecmp(ctype, want, n) == 0;
}

/* Starts a POST /v1/rum: the checks that need only the headers. A request refused here
 * still has its body read (and dropped) so that the connection stays in step. */
static void start_rum(struct server *srv, struct http_req *req)
{
    struct lws *wsi = req->wsi;
    char ctype[128], len[32], client[64], ua[1024];
    struct uaclass uc;

    buf_init(&req->body, BEACON_BODY_MAX);
    if (lws_hdr_copy(wsi, len, sizeof len, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0
        && strtoll(len, NULL, 10) > BEACON_BODY_MAX) {
        req->close = 1;   /* the body will not be read */
        snprintf(req->reject_msg, sizeof req->reject_msg, "body larger than %d bytes",
                 BEACON_BODY_MAX);
        req->reject = 413;
        req->reject_reason = REJ_TOO_LARGE;
        return;
    }
    if (req->origin[0] && !req->origin_ok) {
        req->reject = 403;
        req->reject_reason = REJ_ORIGIN;
        snprintf(req->reject_msg, sizeof req->reject_msg, "origin not allowed");
        return;
    }
    if (srv->draining) {
        req->reject = 503;
        req->reject_reason = REJ_SHUTTING_DOWN;
        req->retry_after = 1;
        snprintf(req->reject_msg, sizeof req->reject_msg, "shutting down");
        return;
    }
    if (lws_hdr_copy(wsi, ctype, sizeof ctype, WSI_TOKEN_HTTP_CONTENT_TYPE) > 0
        && !media_type_is(ctype, "text/plain") && !media_type_is(ctype, "application/json")) {
        req->reject = 415;
        req->reject_reason = REJ_MEDIA_TYPE;
        snprintf(req->reject_msg, sizeof req->reject_msg,
                 "content type must be text/plain or application/json");
        return;
    }
    client_address(srv, wsi, client, sizeof client);
    int wait = ratelimit_take(srv->rl, client, clock_mono_ms());
    if (wait) {
        req->reject = 429;
        req->reject_reason = REJ_RATE_LIMITED;
        req->retry_after = wait;
        snprintf(req->reject_msg, sizeof req->reject_msg, "rate limited");
        return;
    }
    if (lws_hdr_copy(wsi, ua, sizeof ua, WSI_TOKEN_HTTP_USER_AGENT) < 0)
        ua[0] = '\0';
    classify(srv, ua, &uc);
    req->u.rum.bot = uc.bot;
    req->u.rum.meta.received_ms = clock_wall_ms();
    snprintf(req->u.rum.meta.browser, sizeof req->u.rum.meta.browser, "%s", uc.browser);
    req->u.rum.meta.browser_major = uc.browser_major;
    snprintf(req->u.rum.meta.os, sizeof req->u.rum.meta.os, "%s", uc.os);
    snprintf(req->u.rum.meta.device, sizeof req->u.rum.meta.device, "%s", uc.device);
    if (srv->o->country_header) {
        char name[80], country[16];
        snprintf(name, sizeof name, "%s:", srv->o->country_header);
        for (char *c = name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (lws_hdr_custom_copy(wsi, country, sizeof country, name, (int)strlen(name)) > 0
            && strlen(country) == 2 && isalpha((unsigned char)country[0])
            && isalpha((unsigned char)country[1])) {
            country[0] = (char)toupper((unsigned char)country[0]);
            country[1] = (char)toupper((unsigned char)country[1]);
            snprintf(req->u.rum.meta.country, sizeof req->u.rum.meta.country, "%s", country);
        }
    }
}

/* POST /v1/rum at its headers. lws 4.1 does not decode chunked request bodies: it would
 * read the chunks as the next request, so they are refused (browsers send beacons with a
 * Content-Length). */
void ingest_start(struct server *srv, struct http_req *req)
{
    char te[32];
    if (lws_hdr_copy(req->wsi, te, sizeof te, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        req->close = 1;
        http_reject(srv, req, 411, REJ_LENGTH_REQUIRED, "a Content-Length is required"
                    " (chunked bodies are not accepted)", NULL);
        return;
    }
    start_rum(srv, req);
    if (req->reject == 413) {
        http_reject(srv, req, 413, REJ_TOO_LARGE, req->reject_msg, NULL);
        return;
    }
    if (!http_has_body(req->wsi)) {
        if (!req->reject)
            http_reject(srv, req, 400, REJ_MALFORMED, "empty body", NULL);
        else
            ingest_finish(srv, req);
    }
}

void ingest_preflight(struct server *srv, struct http_req *req)
{
    req->preflight = 1;
    if (req->origin[0] && !req->origin_ok)
        http_reject(srv, req, 403, REJ_ORIGIN, "origin not allowed", NULL);
    else
        http_answer(req, 204, NULL, NULL);
}

/* The body is complete: validate, and hand it to the writer. */
void ingest_finish(struct server *srv, struct http_req *req)
{
    char field[128], msg[256];

    if (http_body_refused(srv, req, BEACON_BODY_MAX))
        return;
    /* The beacons' tree lives in an arena of its own until the item is freed (jsonarena.h):
     * a parse without malloc per node, and no free per node. */
    struct jsonarena *arena = jsonarena_new();
    jsonarena_enter(arena);
    json_t *beacons = beacon_parse(req->body.data ? req->body.data : "", req->body.len,
                                   field, sizeof field, msg, sizeof msg);
    jsonarena_leave();
    if (!beacons) {
        jsonarena_drop(arena, NULL);
        http_reject(srv, req, 400, field[0] ? REJ_SCHEMA : REJ_MALFORMED, msg, field);
        return;
    }
    if (req->u.rum.bot) {
        metrics_bot(srv->metrics);
        jsonarena_drop(arena, beacons);
        http_answer(req, 204, NULL, NULL);
        return;
    }
    struct writer_item *item = calloc(1, sizeof *item);
    if (item) {
        item->beacons = beacons;
        item->arena = arena;
        item->meta = req->u.rum.meta;
        size_t i;
        json_t *b;
        json_array_foreach(beacons, i, b)
            item->rows += 1 + json_array_size(json_object_get(b, "events"));
    } else {
        jsonarena_drop(arena, beacons);
    }
    server_enqueue(srv, req, item, 1);
}

void ingest_done(struct server *srv, const struct writer_item *d, struct http_req *req)
{
    if (d->status == 204) {
        size_t i;
        json_t *b;
        metrics_stored(srv->metrics, (long long)json_array_size(d->beacons));
        json_array_foreach(d->beacons, i, b) {
            live_changed(srv->live, json_string_value(json_object_get(b, "app")), LIVE_BEACONS);
            watch_beacons(srv->watch, json_string_value(json_object_get(b, "app")), 1);
        }
    }
    if (!req)
        return;
    if (d->status == 204) {
        http_answer(req, 204, NULL, NULL);
    } else {
        /* The writer's reason (writer.h), e.g. the ClickHouse spool's bound. */
        const char *why = json_string_value(json_object_get(d->response, "error"));
        req->retry_after = 1;
        http_reject(srv, req, 503, REJ_STORE_FAILED, why ? why : "could not store the beacon",
                    NULL);
    }
}
