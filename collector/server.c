#include "server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libwebsockets.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api.h"
#include "beacon.h"
#include "buf.h"
#include "clock.h"
#include "promtext.h"
#include "ratelimit.h"
#include "readers.h"
#include "sign.h"
#include "uaclass.h"
#include "text.h"
#include "watch.h"
#include "writer.h"

#define PENDING_BUCKETS 4096       /* requests waiting for the writer, by id */
#define DRAIN_SECONDS 3            /* how long a stop waits for answers to go out */
#define HEADER_SPACE 1024          /* bytes for response headers */
#define DISCARD_MAX (1024 * 1024)  /* body bytes read and dropped before closing */
#define UA_CACHE_SLOTS 256         /* User-Agents whose class is remembered */
#define UA_CACHE_LEN 320           /* longer User-Agents are classified every time */

enum route { R_NONE, R_RUM, R_RUM_OPTIONS, R_HEALTH, R_METRICS, R_STATIC, R_CALL };

#define CALL_BODY_MAX (4 * 1024 * 1024)   /* a probe result document, at most */
#define PROBE_PATH "/v1/probe-runs"        /* the path in a push's canonical string */
#define JOURNEY_LABEL_MAX 128              /* bytes of a journey name kept as a label */

/* The signature headers of a push (shared/sign.h), as lws looks up unknown headers. */
static const struct {
    const char *lws, *name;
} sig_headers[3] = {
    {"x-vigil-key-id:", "X-Vigil-Key-Id"}, {"x-vigil-timestamp:", "X-Vigil-Timestamp"},
    {"x-vigil-signature:", "X-Vigil-Signature"},
};

enum reason {
    REJ_MALFORMED, REJ_SCHEMA, REJ_TOO_LARGE, REJ_MEDIA_TYPE, REJ_RATE_LIMITED,
    REJ_QUEUE_FULL, REJ_ORIGIN, REJ_NOT_FOUND, REJ_METHOD, REJ_STORE_FAILED,
    REJ_SHUTTING_DOWN, REJ_LENGTH_REQUIRED, REJ_UNAUTHORIZED, REJ_N
};
static const char *const reason_names[REJ_N] = {
    "malformed", "schema", "too_large", "media_type", "rate_limited", "queue_full",
    "origin", "not_found", "method", "store_failed", "shutting_down", "length_required",
    "unauthorized"
};

/* Requests refused for their Origin are counted per origin in /metrics, for the first
 * REFUSED_ORIGINS_MAX origins (the rest together as "(other)"), and logged at most once a
 * minute per origin, so that a misconfigured --allow-origin shows instead of beacons
 * vanishing, and a flood of made-up origins can grow neither the table nor the log. */
#define REFUSED_ORIGINS_MAX 64
#define REFUSED_ORIGIN_LEN 128      /* bytes of an origin kept (label and log) */
#define REFUSED_LOG_MS 60000.0      /* one log line per origin per minute, at most */

struct refused_origin {
    char origin[REFUSED_ORIGIN_LEN + 1];  /* printable ASCII; "(other)" for the last slot */
    long long count;
    long long logged;           /* count when the last line was written */
    double log_ms;              /* when (monotonic); meaningful once logged > 0 */
};

/* Per request: lws frees and re-creates it for each keep-alive transaction. */
struct pss {
    struct lws *wsi;
    enum route route;
    struct buf body;
    size_t body_seen;           /* bytes of body received, kept or not */
    int reject;                 /* status decided before the body was read, or 0 */
    enum reason reject_reason;
    char reject_msg[256];
    int bot;                    /* a known bot: read, count, do not store */
    int origin_ok;              /* echo the Origin in CORS headers */
    char origin[256];
    struct beacon_meta meta;
    uint64_t id;                /* while waiting for the writer */
    int waiting;
    struct pss *next;           /* in the pending table */
    /* The response, once decided. */
    int status;
    char *resp;                 /* body with LWS_PRE bytes before it, or NULL */
    size_t resp_len;
    const char *ctype;
    int retry_after;
    int close;
    const char *call;           /* R_CALL: the api call to make */
    json_t *args;               /* its arguments */
    int body_arg;               /* the body (JSON) is an argument: 1 as "document", 2 as all */
    const char *flagger;        /* a Flagger webhook: the decisions it answers 200 to
                                   (space-separated), NULL for every other call */
    char etag[48];              /* static files */
    const char *encoding;       /* Content-Encoding of a precompressed file, or NULL */
    int vary_ae;                /* the answer depends on Accept-Encoding */
    int head;                   /* HEAD: headers only */
    const char *cache;          /* Cache-Control, default no-store */
    /* A signed push: checked by its headers at once, by its body in finish_call. */
    int sig;
    char key_id[SIGN_KEY_ID_MAX + 1];
    long long sig_ts;           /* X-Vigil-Timestamp, Unix s */
    char signature[65];         /* X-Vigil-Signature, lower-case hex */
};

/* The latest result of one journey as one region's probes saw it for one version, for
 * /metrics (the blackbox_exporter's probe_* series). */
/* blackbox_exporter's probe_http_duration_seconds phases: each on its own, not cumulative,
 * so that they add up to the request's total time (step_phases). */
enum { PHASE_RESOLVE, PHASE_CONNECT, PHASE_TLS, PHASE_PROCESSING, PHASE_TRANSFER, PHASE_N };
#define SERIES_STEPS_MAX 16        /* steps of a journey with series of their own */
#define STEP_LABEL_MAX 64
static const char *const phase_names[PHASE_N] = {"resolve", "connect", "tls", "processing",
                                                 "transfer"};

struct probe_series {
    char app[65], version[65], region[65];
    char journey[JOURNEY_LABEL_MAX + 1];
    long long started_ms;       /* the journey run's start: an older run (a late retry from
                                   a probe's spool) does not replace a newer one */
    long long seq;              /* when it was last updated: the least recent is evicted */
    int success;
    int http_status;            /* of the run's last step that sent a request; 0 none */
    double http_version;        /* of that step: 1.0, 1.1, 2, 3; 0 unknown */
    double phase_s[PHASE_N];    /* summed over the run's steps */
    long long cert_expiry;      /* earliest over the run's https steps, Unix s; -1 none */
    struct {
        char name[STEP_LABEL_MAX + 1];
        double phase_s[PHASE_N];
    } steps[SERIES_STEPS_MAX];  /* the first steps of the run, each on its own */
    size_t nsteps;
};

/* Most beacons come from a few browser builds, so their classes are remembered. */
struct ua_cached {
    char ua[UA_CACHE_LEN];
    struct uaclass c;
};

/* Live updates (WebSocket /v1/live): what changed, per app, as sequence numbers. */
#define LIVE_APPS_MAX 64
#define LIVE_MSG_MAX 512
enum { CH_BEACONS, CH_PROBES, CH_DEPLOYMENTS, CH_VERDICTS, CH_N };
static const char *const change_names[CH_N] = {"beacons", "probes", "deployments", "verdicts"};

struct live_app {
    char app[65];
    long long seq[CH_N];        /* when each kind of data last changed */
};

struct live_pss {
    struct lws *wsi;
    char app[65];               /* subscribed app, "" before the page said */
    long long seen[CH_N];       /* what the page was told */
    long long sent_ms;          /* when it was last sent an update */
    int hello;                  /* owes the page its "subscribed" answer */
    struct live_pss *next;
};

struct server {
    const struct server_opts *o;
    struct live_app live_apps[LIVE_APPS_MAX];
    size_t nlive_apps;
    long long live_seq;
    struct live_pss *live;      /* open live connections */
    lws_sorted_usec_list_t tick;
    struct ua_cached ua_cache[UA_CACHE_SLOTS];
    struct lws_context *ctx;
    struct writer *writer;
    struct readers *readers;
    struct ratelimit *rl;
    struct pss *pending[PENDING_BUCKETS];
    uint64_t next_id;
    int draining;
    long long accepted_requests, accepted_beacons, bots;
    long long rejected[REJ_N];
    long long connections;
    struct refused_origin refused[REFUSED_ORIGINS_MAX + 1];  /* the last is "(other)" */
    size_t nrefused;
    struct probe_series *series;    /* SERVER_PROBE_SERIES_MAX, allocated when first used */
    size_t nseries;
    long long series_seq;
    struct alerts *alerts;      /* the webhook sender, NULL without --alert-webhook */
    struct watch *watch;        /* alert rules and their series (watch.h) */
};

static volatile sig_atomic_t stop_requested;
static struct lws_context *signal_ctx;

int server_parse_cidr(const char *text, struct cidr *c)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    if (n >= sizeof addr)
        return -1;
    memcpy(addr, text, n);
    addr[n] = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, addr, c->addr) == 1) {
        c->family = AF_INET;
        c->bits = 32;
    } else if (inet_pton(AF_INET6, addr, c->addr) == 1) {
        c->family = AF_INET6;
        c->bits = 128;
    } else {
        return -1;
    }
    if (slash) {
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || bits < 0 || bits > c->bits)
            return -1;
        c->bits = (int)bits;
    }
    return 0;
}

static int in_cidr(const struct cidr *c, const char *text)
{
    unsigned char a[16];
    if (inet_pton(c->family, text, a) != 1)
        return 0;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a, c->addr, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xFF << (8 - rest));
    return (a[full] & mask) == (c->addr[full] & mask);
}

static int trusted(const struct server *srv, const char *addr)
{
    for (size_t i = 0; i < srv->o->nproxies; i++)
        if (in_cidr(&srv->o->proxies[i], addr))
            return 1;
    return 0;
}

/* The client's address: the socket peer, or, when the peer is a trusted proxy, the last
 * address in X-Forwarded-For that is not itself a trusted proxy. An IPv4 peer on a
 * dual-stack socket ("::ffff:10.0.0.1") is taken as its IPv4 address. */
static void client_address(struct server *srv, struct lws *wsi, char *out, size_t outlen)
{
    char xff[1024];
    lws_get_peer_simple(wsi, out, outlen);
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
    if (n >= UA_CACHE_LEN) {
        uaclass_classify(ua, out);
        return;
    }
    struct ua_cached *slot = &srv->ua_cache[h % UA_CACHE_SLOTS];
    if (slot->ua[0] && strcmp(slot->ua, ua) == 0) {
        *out = slot->c;
        return;
    }
    uaclass_classify(ua, out);
    memcpy(slot->ua, ua, n + 1);
    slot->c = *out;
}

/* An origin may send beacons if it is listed, if "*" is, or if it is the collector's own
 * (a page the collector serves posts with an Origin header too). */
static int origin_allowed(const struct server *srv, struct lws *wsi, const char *origin)
{
    char host[256], own[300];
    if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) > 0) {
        snprintf(own, sizeof own, "%s://%s", srv->o->tls_cert ? "https" : "http", host);
        if (strcasecmp(own, origin) == 0)
            return 1;
    }
    for (size_t i = 0; i < srv->o->norigins; i++)
        if (strcmp(srv->o->origins[i], "*") == 0 || strcmp(srv->o->origins[i], origin) == 0)
            return 1;
    return 0;
}

static void set_body(struct pss *pss, const char *text, const char *ctype)
{
    size_t n = strlen(text);
    free(pss->resp);
    pss->resp = malloc(LWS_PRE + n + 1);
    if (pss->resp) {
        memcpy(pss->resp + LWS_PRE, text, n + 1);
        pss->resp_len = n;
    }
    pss->ctype = ctype;
}

/* Decides an answer: status and, for errors, {"error": msg, "field": field}. */
static void answer(struct pss *pss, int status, const char *msg, const char *field)
{
    pss->status = status;
    if (msg) {
        json_t *j = json_pack("{s:s}", "error", msg);
        if (field && *field)
            json_object_set_new(j, "field", json_string(field));
        char *text = json_dumps(j, JSON_COMPACT);
        set_body(pss, text ? text : "{}", "application/json");
        free(text);
        json_decref(j);
    }
    lws_callback_on_writable(pss->wsi);
}

/* Counts a request refused for its Origin and logs it, at most once a minute per origin
 * (the origin is the client's: it is logged and labelled as printable ASCII only). */
static void origin_refused(struct server *srv, const char *origin)
{
    char clean[REFUSED_ORIGIN_LEN + 1];
    size_t n = 0;
    for (; origin[n] && n < REFUSED_ORIGIN_LEN; n++)
        clean[n] = (unsigned char)origin[n] < 0x20 || (unsigned char)origin[n] > 0x7e
                   ? '?' : origin[n];
    clean[n] = '\0';
    struct refused_origin *r = NULL;
    for (size_t i = 0; i < srv->nrefused && !r; i++)
        if (strcmp(srv->refused[i].origin, clean) == 0)
            r = &srv->refused[i];
    if (!r && srv->nrefused < REFUSED_ORIGINS_MAX) {
        r = &srv->refused[srv->nrefused++];
        memcpy(r->origin, clean, n + 1);
    }
    int other = !r;
    if (other) {
        r = &srv->refused[REFUSED_ORIGINS_MAX];
        snprintf(r->origin, sizeof r->origin, "(other)");
    }
    r->count++;
    double now = clock_mono_ms();
    if (r->logged > 0 && now - r->log_ms < REFUSED_LOG_MS)
        return;
    fprintf(stderr, "collector: refused beacons from origin \"%s\": not allowed by"
            " --allow-origin (%lld refused%s since the collector started; at most one line"
            " a minute)\n", clean, r->count,
            other ? " from origins past the first 64" : " from it");
    r->logged = r->count;
    r->log_ms = now;
}

static void reject(struct server *srv, struct pss *pss, int status, enum reason r,
                   const char *msg, const char *field)
{
    srv->rejected[r]++;
    if (r == REJ_ORIGIN)
        origin_refused(srv, pss->origin);
    answer(pss, status, msg, field);
}

/* Writes the decided response in one go: it is small, and written from WRITEABLE. */
static int send_response(struct pss *pss)
{
    unsigned char hdr[LWS_PRE + HEADER_SPACE];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    char num[32];

    if (lws_add_http_header_status(pss->wsi, (unsigned int)pss->status, &p, end))
        return -1;
    /* 204 carries no Content-Length (RFC 9110 15.3.5), so lws's common headers, which
     * add one, are not used. */
    if (pss->status != 204 && pss->status != 304) {
        if (lws_add_http_header_by_token(pss->wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                (const unsigned char *)(pss->ctype ? pss->ctype : "application/json"),
                (int)strlen(pss->ctype ? pss->ctype : "application/json"), &p, end)
            || lws_add_http_header_content_length(pss->wsi, pss->resp_len, &p, end))
            return -1;
    }
    const char *cache = pss->cache ? pss->cache : "no-store";
    if (lws_add_http_header_by_name(pss->wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)cache, (int)strlen(cache), &p, end))
        return -1;
    if (pss->etag[0] && lws_add_http_header_by_name(pss->wsi, (const unsigned char *)"etag:",
                            (const unsigned char *)pss->etag, (int)strlen(pss->etag), &p, end))
        return -1;
    if (pss->encoding && lws_add_http_header_by_name(pss->wsi,
                (const unsigned char *)"content-encoding:",
                (const unsigned char *)pss->encoding, (int)strlen(pss->encoding), &p, end))
        return -1;
    /* One Vary header naming all that the answer depends on. */
    const char *vary = pss->origin_ok && pss->vary_ae ? "Origin, Accept-Encoding"
                       : pss->origin_ok ? "Origin" : pss->vary_ae ? "Accept-Encoding" : NULL;
    if (vary && lws_add_http_header_by_name(pss->wsi, (const unsigned char *)"vary:",
                    (const unsigned char *)vary, (int)strlen(vary), &p, end))
        return -1;
    if (pss->origin_ok) {
        if (lws_add_http_header_by_name(pss->wsi,
                (const unsigned char *)"access-control-allow-origin:",
                (const unsigned char *)pss->origin, (int)strlen(pss->origin), &p, end))
            return -1;
        if (pss->route == R_RUM_OPTIONS
            && (lws_add_http_header_by_name(pss->wsi,
                    (const unsigned char *)"access-control-allow-methods:",
                    (const unsigned char *)"POST, OPTIONS", 13, &p, end)
                || lws_add_http_header_by_name(pss->wsi,
                    (const unsigned char *)"access-control-allow-headers:",
                    (const unsigned char *)"content-type", 12, &p, end)
                || lws_add_http_header_by_name(pss->wsi,
                    (const unsigned char *)"access-control-max-age:",
                    (const unsigned char *)"86400", 5, &p, end)))
            return -1;
    }
    if (pss->retry_after > 0) {
        snprintf(num, sizeof num, "%d", pss->retry_after);
        if (lws_add_http_header_by_name(pss->wsi, (const unsigned char *)"retry-after:",
                                        (const unsigned char *)num, (int)strlen(num), &p, end))
            return -1;
    }
    if (pss->close && lws_add_http_header_by_token(pss->wsi, WSI_TOKEN_CONNECTION,
                          (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (lws_finalize_http_header(pss->wsi, &p, end))
        return -1;
    int final = pss->status == 204 || pss->status == 304 || pss->resp_len == 0 || pss->head;
    if (lws_write(pss->wsi, start, (size_t)(p - start),
                  final ? LWS_WRITE_HTTP_HEADERS_CONTINUATION : LWS_WRITE_HTTP_HEADERS) < 0)
        return -1;
    if (!final && lws_write(pss->wsi, (unsigned char *)pss->resp + LWS_PRE, pss->resp_len,
                            LWS_WRITE_HTTP_FINAL) < 0)
        return -1;
    pss->status = 0;
    if (pss->close)
        return -1;
    return lws_http_transaction_completed(pss->wsi) ? -1 : 0;
}

static void pending_add(struct server *srv, struct pss *pss)
{
    struct pss **b = &srv->pending[pss->id % PENDING_BUCKETS];
    pss->next = *b;
    *b = pss;
    pss->waiting = 1;
}

static struct pss *pending_take(struct server *srv, uint64_t id)
{
    for (struct pss **p = &srv->pending[id % PENDING_BUCKETS]; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            struct pss *found = *p;
            *p = found->next;
            found->waiting = 0;
            return found;
        }
    }
    return NULL;
}

static void forget(struct server *srv, struct pss *pss)
{
    if (pss->waiting)
        pending_take(srv, pss->id);
    buf_fini(&pss->body);
    free(pss->resp);
    pss->resp = NULL;
    json_decref(pss->args);
    pss->args = NULL;
}

static int has_body(struct lws *wsi)
{
    char v[64];
    if (lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return 1;
    return lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 && strtoll(v, NULL, 10) > 0;
}

/* Starts a POST /v1/rum: the checks that need only the headers. A request refused here
 * still has its body read (and dropped) so that the connection stays in step. */
static void start_rum(struct server *srv, struct pss *pss, struct lws *wsi)
{
    char ctype[128], len[32], client[64], ua[1024];
    struct uaclass uc;

    buf_init(&pss->body, BEACON_BODY_MAX);
    if (lws_hdr_copy(wsi, len, sizeof len, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0
        && strtoll(len, NULL, 10) > BEACON_BODY_MAX) {
        pss->close = 1;   /* the body will not be read */
        snprintf(pss->reject_msg, sizeof pss->reject_msg, "body larger than %d bytes",
                 BEACON_BODY_MAX);
        pss->reject = 413;
        pss->reject_reason = REJ_TOO_LARGE;
        return;
    }
    if (pss->origin[0] && !pss->origin_ok) {
        pss->reject = 403;
        pss->reject_reason = REJ_ORIGIN;
        snprintf(pss->reject_msg, sizeof pss->reject_msg, "origin not allowed");
        return;
    }
    if (srv->draining) {
        pss->reject = 503;
        pss->reject_reason = REJ_SHUTTING_DOWN;
        pss->retry_after = 1;
        snprintf(pss->reject_msg, sizeof pss->reject_msg, "shutting down");
        return;
    }
    if (lws_hdr_copy(wsi, ctype, sizeof ctype, WSI_TOKEN_HTTP_CONTENT_TYPE) > 0
        && strncasecmp(ctype, "text/plain", 10) != 0
        && strncasecmp(ctype, "application/json", 16) != 0) {
        pss->reject = 415;
        pss->reject_reason = REJ_MEDIA_TYPE;
        snprintf(pss->reject_msg, sizeof pss->reject_msg,
                 "content type must be text/plain or application/json");
        return;
    }
    client_address(srv, wsi, client, sizeof client);
    int wait = ratelimit_take(srv->rl, client, clock_mono_ms());
    if (wait) {
        pss->reject = 429;
        pss->reject_reason = REJ_RATE_LIMITED;
        pss->retry_after = wait;
        snprintf(pss->reject_msg, sizeof pss->reject_msg, "rate limited");
        return;
    }
    if (lws_hdr_copy(wsi, ua, sizeof ua, WSI_TOKEN_HTTP_USER_AGENT) < 0)
        ua[0] = '\0';
    classify(srv, ua, &uc);
    pss->bot = uc.bot;
    pss->meta.received_ms = clock_wall_ms();
    snprintf(pss->meta.browser, sizeof pss->meta.browser, "%s", uc.browser);
    pss->meta.browser_major = uc.browser_major;
    snprintf(pss->meta.os, sizeof pss->meta.os, "%s", uc.os);
    snprintf(pss->meta.device, sizeof pss->meta.device, "%s", uc.device);
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
            snprintf(pss->meta.country, sizeof pss->meta.country, "%s", country);
        }
    }
}

/* Hands an item to the writer thread (or, for a call that only reads, to the readers) and
 * waits for it, or answers 503 when memory or the queue is exhausted (item may be NULL:
 * out of memory). */
static void enqueue(struct server *srv, struct pss *pss, struct writer_item *item)
{
    const char *call = item && item->call
        ? json_string_value(json_object_get(item->request, "call")) : NULL;
    int read = call && !api_writes(call);
    if (item)
        item->id = ++srv->next_id;
    if (!item || (read ? readers_submit(srv->readers, item) : writer_submit(srv->writer, item)) < 0) {
        const char *why = !item ? "out of memory" : read ? "read queue full" : "write queue full";
        writer_item_free(item);
        pss->retry_after = 1;
        reject(srv, pss, 503, REJ_QUEUE_FULL, why, NULL);
        return;
    }
    pss->id = item->id;
    pending_add(srv, pss);
}

/* A complete body that must not be used: refused before it came (its reason was kept),
 * or longer than max. Answers and returns 1 in those cases. */
static int body_refused(struct server *srv, struct pss *pss, size_t max)
{
    char msg[96];
    if (pss->reject) {
        reject(srv, pss, pss->reject, pss->reject_reason, pss->reject_msg, NULL);
        return 1;
    }
    if (pss->body_seen > max) {
        snprintf(msg, sizeof msg, "body larger than %zu bytes", max);
        reject(srv, pss, 413, REJ_TOO_LARGE, msg, NULL);
        return 1;
    }
    return 0;
}

/* The body is complete: validate, and hand it to the writer. */
static void finish_rum(struct server *srv, struct pss *pss)
{
    char field[128], msg[256];

    if (body_refused(srv, pss, BEACON_BODY_MAX))
        return;
    json_t *beacons = beacon_parse(pss->body.data ? pss->body.data : "", pss->body.len,
                                   field, sizeof field, msg, sizeof msg);
    if (!beacons) {
        reject(srv, pss, 400, field[0] ? REJ_SCHEMA : REJ_MALFORMED, msg, field);
        return;
    }
    if (pss->bot) {
        srv->bots++;
        json_decref(beacons);
        answer(pss, 204, NULL, NULL);
        return;
    }
    struct writer_item *item = calloc(1, sizeof *item);
    if (item) {
        item->beacons = beacons;
        item->meta = pss->meta;
        size_t i;
        json_t *b;
        json_array_foreach(beacons, i, b)
            item->rows += 1 + json_array_size(json_object_get(b, "events"));
    } else {
        json_decref(beacons);
    }
    enqueue(srv, pss, item);
}

/* Runs on the writer thread or a reader's: the api call named in the item, within the
 * connection's time limit (readers have one). */
static void run_call(struct store *s, struct writer_item *item)
{
    store_start_read(s);
    item->status = api_call(s, json_string_value(json_object_get(item->request, "call")),
                            json_object_get(item->request, "args"), &item->response);
}

/* Copies the named query arguments of the request into a new object. "regions" is a
 * comma-separated list; "min_runs" a number. */
static json_t *url_args(struct lws *wsi)
{
    static const char *const names[] = {
        "app", "version", "baseline", "canary", "policy", "method", "warmup", "max_age",
        "regions", "min_runs", "require_signed", "metric", "q", "step", "since", "by", "record",
        "at", NULL
    };
    json_t *args = json_object();
    char buf[512], key[32];
    for (int i = 0; names[i]; i++) {
        snprintf(key, sizeof key, "%s=", names[i]);
        /* lws copies "name=value" into buf and returns where the value starts. */
        char *val = (char *)lws_get_urlarg_by_name(wsi, key, buf, sizeof buf);
        if (!val)
            continue;
        if (strcmp(names[i], "regions") == 0) {
            json_t *list = json_array();
            for (char *p = val; *p;) {
                char *comma = strchr(p, ',');
                if (comma)
                    *comma = '\0';
                if (*p)
                    json_array_append_new(list, json_string(p));
                p = comma ? comma + 1 : p + strlen(p);
            }
            json_object_set_new(args, "regions", list);
        } else if (strcmp(names[i], "min_runs") == 0) {
            char *end;
            long n = strtol(val, &end, 10);
            json_object_set_new(args, "min_runs", *end || end == val ? json_string(val)
                                                                   : json_integer(n));
        } else {
            json_object_set_new(args, names[i], json_string(val));
        }
    }
    return args;
}

/* Whether the request may read the dashboard API: always without --read-token-file,
 * else with "Authorization: Bearer TOKEN" or token=TOKEN in the query (a WebSocket from a
 * browser cannot set headers). */
static int may_read(const struct server *srv, struct lws *wsi)
{
    char auth[512], q[512];
    const char *want = srv->o->read_token;
    if (!want)
        return 1;
    size_t n = strlen(want);
    if (lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) > 0
        && strncmp(auth, "Bearer ", 7) == 0 && strlen(auth + 7) == n
        && CRYPTO_memcmp(auth + 7, want, n) == 0)
        return 1;
    const char *v = lws_get_urlarg_by_name(wsi, "token=", q, sizeof q);
    return v && strlen(v) == n && CRYPTO_memcmp(v, want, n) == 0;
}

/* A bearer token, compared in constant time. */
static int authorized(const struct server *srv, struct lws *wsi)
{
    char auth[512];
    if (!srv->o->token || lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) <= 0
        || strncmp(auth, "Bearer ", 7) != 0)
        return 0;
    size_t n = strlen(srv->o->token);
    return strlen(auth + 7) == n && CRYPTO_memcmp(auth + 7, srv->o->token, n) == 0;
}

/* Decides a 401 before the body is read (it is still read, to keep the connection in
 * step), with the reason as printf formats it. */
static void unauthorized(struct pss *pss, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void unauthorized(struct pss *pss, const char *fmt, ...)
{
    va_list ap;
    pss->reject = 401;
    pss->reject_reason = REJ_UNAUTHORIZED;
    va_start(ap, fmt);
    vsnprintf(pss->reject_msg, sizeof pss->reject_msg, fmt, ap);
    va_end(ap);
}

/* Decides from its headers whether a POST /v1/probe-runs may be stored: a request with
 * any X-Vigil-* signature header is judged by its signature alone (the HMAC and the time
 * are checked on the body in finish_call); one without, by the bearer token. Returns 1 to
 * go on, or 0 with the 401 in pss->reject. */
static int push_allowed(struct server *srv, struct pss *pss, struct lws *wsi)
{
    char v[3][160];
    int present = 0, missing = -1;

    for (int i = 0; i < 3; i++) {
        int nlen = (int)strlen(sig_headers[i].lws);
        int n = lws_hdr_custom_length(wsi, sig_headers[i].lws, nlen);
        v[i][0] = '\0';
        if (n < 0) {
            if (missing < 0)
                missing = i;
            continue;
        }
        present++;
        if (n >= (int)sizeof v[i]
            || lws_hdr_custom_copy(wsi, v[i], (int)sizeof v[i], sig_headers[i].lws, nlen) < 0) {
            unauthorized(pss, "%s is longer than %d bytes", sig_headers[i].name,
                         (int)sizeof v[i] - 1);
            return 0;
        }
    }
    if (!present) {
        if (authorized(srv, wsi))
            return 1;
        if (srv->o->token || srv->o->keys)
            unauthorized(pss, "a valid \"Authorization: Bearer TOKEN\" header%s is required",
                         srv->o->keys ? ", or a signature (X-Vigil-Key-Id, X-Vigil-Timestamp,"
                                        " X-Vigil-Signature)," : "");
        else
            unauthorized(pss, "this collector takes no probe results: start it with"
                         " --probe-token-file or --probe-keys");
        return 0;
    }
    if (!srv->o->keys) {
        unauthorized(pss, "this collector takes no signed results: start it with"
                     " --probe-keys");
        return 0;
    }
    if (missing >= 0) {
        unauthorized(pss, "%s is missing: a signed push carries X-Vigil-Key-Id,"
                     " X-Vigil-Timestamp and X-Vigil-Signature", sig_headers[missing].name);
        return 0;
    }
    if (!sign_keys_find(srv->o->keys, v[0])) {
        /* Named in the answer as printable ASCII only: it came from the client. */
        for (char *c = v[0]; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
                *c = '?';
        unauthorized(pss, "unknown key id \"%.64s\"", v[0]);
        return 0;
    }
    char *end;
    errno = 0;
    long long ts = strtoll(v[1], &end, 10);
    if (errno || end == v[1] || *end || !isdigit((unsigned char)v[1][0])) {
        unauthorized(pss, "X-Vigil-Timestamp must be Unix seconds, not \"%.32s\"", v[1]);
        return 0;
    }
    size_t slen = strlen(v[2]);
    for (size_t i = 0; i < slen; i++)
        v[2][i] = (char)tolower((unsigned char)v[2][i]);
    if (slen != 64 || strspn(v[2], "0123456789abcdef") != 64) {
        unauthorized(pss, "X-Vigil-Signature must be 64 hex digits (HMAC-SHA256)");
        return 0;
    }
    pss->sig = 1;
    snprintf(pss->key_id, sizeof pss->key_id, "%s", v[0]);
    pss->sig_ts = ts;
    memcpy(pss->signature, v[2], 65);
    return 1;
}

/* Checks a signed push against its body: the HMAC first, so that only a request signed
 * with the key is told about the clock, then the replay window. Returns 1 if it holds,
 * or 0 having answered 401. */
static int signature_holds(struct server *srv, struct pss *pss)
{
    const char *secret = sign_keys_find(srv->o->keys, pss->key_id);
    char msg[256];

    if (!secret || !sign_verify(secret, "POST", PROBE_PATH, pss->sig_ts,
                                pss->body.data ? pss->body.data : "", pss->body.len,
                                pss->signature)) {
        snprintf(msg, sizeof msg, "bad signature: X-Vigil-Signature is not the HMAC-SHA256 of"
                 " this request (POST %s, its timestamp and body) with key \"%s\"",
                 PROBE_PATH, pss->key_id);
        reject(srv, pss, 401, REJ_UNAUTHORIZED, msg, NULL);
        return 0;
    }
    long long skew = clock_wall_ms() / 1000 - pss->sig_ts;
    if (skew > SIGN_WINDOW_S || skew < -SIGN_WINDOW_S) {
        snprintf(msg, sizeof msg, "timestamp %lld is %lld s from the collector's clock;"
                 " replay window is %d s", pss->sig_ts, skew < 0 ? -skew : skew, SIGN_WINDOW_S);
        reject(srv, pss, 401, REJ_UNAUTHORIZED, msg, NULL);
        return 0;
    }
    return 1;
}

/* Answers an api call: its JSON as it is, or for a Flagger webhook 200 when the decision
 * is one the route lets through and 403 else, with the reasons as text (Flagger takes any
 * status above 202 as "no"). */
static void answer_call(struct pss *pss, int status, const json_t *body)
{
    if (pss->flagger && status == 200) {
        const char *decision = json_string_value(json_object_get(body, "decision"));
        size_t dlen = decision ? strlen(decision) : 0;
        int pass = 0;
        for (const char *p = pss->flagger; dlen && *p;) {
            size_t n = strcspn(p, " ");
            pass |= n == dlen && strncmp(p, decision, n) == 0;
            p += n + (p[n] == ' ');
        }
        struct buf b;
        size_t i;
        json_t *r;
        buf_init(&b, 0);
        buf_printf(&b, "%s\n", decision ? decision : "?");
        json_array_foreach(json_object_get(body, "reasons"), i, r)
            buf_printf(&b, "%s\n", json_string_value(r));
        set_body(pss, b.data ? b.data : "", "text/plain; charset=utf-8");
        buf_fini(&b);
        answer(pss, pass ? 200 : 403, NULL, NULL);
        return;
    }
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    set_body(pss, text ? text : "{}", "application/json");
    free(text);
    answer(pss, status, NULL, NULL);
}

/* Hands an api call to the thread that runs it: the writer for a write, a reader else. */
static void submit_call(struct server *srv, struct pss *pss)
{
    struct writer_item *item = calloc(1, sizeof *item);
    if (item) {
        item->call = run_call;
        item->request = json_pack("{s:s,s:O}", "call", pss->call, "args", pss->args);
    }
    enqueue(srv, pss, item);
}

/* The body of a POST call is complete: parse it and submit the call. */
static void finish_call(struct server *srv, struct pss *pss)
{
    json_error_t je;
    char msg[256];
    if (body_refused(srv, pss, CALL_BODY_MAX))
        return;
    /* The signature covers the bytes as sent, so it is checked before they are parsed. */
    if (pss->sig && !signature_holds(srv, pss))
        return;
    json_t *body = json_loadb(pss->body.data ? pss->body.data : "", pss->body.len,
                              JSON_REJECT_DUPLICATES, &je);
    if (!body) {
        snprintf(msg, sizeof msg, "malformed JSON at %d:%d: %s", je.line, je.column, je.text);
        reject(srv, pss, 400, REJ_MALFORMED, msg, NULL);
        return;
    }
    if (pss->flagger) {
        /* Flagger sends {"name", "namespace", "phase", "checksum", "metadata": {...}}, the
         * metadata as strings (flagger.app/v1beta1 CanaryWebhook). A version or baseline it
         * does not name comes from the deployment markers (api.c, "from_marker"), which
         * only a reader can look up. */
        static const char *const keys[] = {
            "app", "version", "baseline", "max_age", "require_signed", "policy", "warmup",
            "method", NULL
        };
        const json_t *md = json_object_get(body, "metadata");
        if (!json_is_string(json_object_get(md, "app"))) {
            json_decref(body);
            reject(srv, pss, 400, REJ_MALFORMED, "metadata.app is required: the webhook's"
                   " metadata names the app (and may name the version and baseline)",
                   "metadata.app");
            return;
        }
        json_t *regions = json_array();
        const char *list = json_string_value(json_object_get(md, "regions"));
        for (const char *p = list; p && *p;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            json_array_append_new(regions, json_stringn(p, n));
            p = comma ? comma + 1 : p + n;
        }
        for (int i = 0; keys[i]; i++)
            if (json_object_get(md, keys[i]))
                json_object_set(pss->args, keys[i], json_object_get(md, keys[i]));
        if (json_array_size(regions))
            json_object_set(pss->args, "regions", regions);
        json_object_set_new(pss->args, "from_marker", json_true());
        json_decref(regions);
        json_decref(body);
    } else if (pss->body_arg == 1) {
        /* Whether the run was signed is the server's to say, never the client's. */
        json_object_set_new(pss->args, "document", body);
        json_object_set_new(pss->args, "signed", json_boolean(pss->sig));
        if (pss->sig)
            json_object_set_new(pss->args, "key_id", json_string(pss->key_id));
        else
            json_object_del(pss->args, "key_id");
    } else {
        json_decref(pss->args);
        pss->args = body;
    }
    submit_call(srv, pss);
}

/* The series of one (app, journey, region, version): found, or a new one, taking the
 * place of the least recently updated when the table is full. NULL without memory. */
static struct probe_series *series_slot(struct server *srv, const char *app,
                                        const char *version, const char *region,
                                        const char *journey)
{
    struct probe_series *oldest = NULL;
    if (!srv->series && !(srv->series = calloc(SERVER_PROBE_SERIES_MAX, sizeof *srv->series)))
        return NULL;
    for (size_t i = 0; i < srv->nseries; i++) {
        struct probe_series *p = &srv->series[i];
        if (strcmp(p->app, app) == 0 && strcmp(p->version, version) == 0
            && strcmp(p->region, region) == 0 && strcmp(p->journey, journey) == 0)
            return p;
        if (!oldest || p->seq < oldest->seq)
            oldest = p;
    }
    struct probe_series *p = srv->nseries < SERVER_PROBE_SERIES_MAX
                             ? &srv->series[srv->nseries++] : oldest;
    memset(p, 0, sizeof *p);
    snprintf(p->app, sizeof p->app, "%s", app);
    snprintf(p->version, sizeof p->version, "%s", version);
    snprintf(p->region, sizeof p->region, "%s", region);
    snprintf(p->journey, sizeof p->journey, "%s", journey);
    p->started_ms = -1;
    return p;
}

/* A step's timings_ms as blackbox_exporter's phases, in seconds, into out. The probe's
 * dns, connect and tls are each a phase of its own already (probe/runner.c takes curl's
 * cumulative times apart), but its ttfb and total count from the start, as curl's
 * STARTTRANSFER and TOTAL do: processing is from the end of tls (the request sent) to
 * ttfb, transfer from ttfb to total. Each phase ends where the previous one ended or
 * later, and at the total at the latest, so that no phase is negative and the phases add
 * up to the total. Without a first byte (ttfb 0: no response) the wait after tls is all
 * processing. Missing or bad numbers count as 0. */
static void step_phases(const json_t *t, double out[PHASE_N])
{
    static const char *const keys[] = {"dns", "connect", "tls", "ttfb", "total"};
    double v[5], end[PHASE_N], prev = 0;

    for (int i = 0; i < 5; i++) {
        v[i] = json_number_value(json_object_get(t, keys[i])) / 1000.0;
        if (!isfinite(v[i]) || v[i] < 0)
            v[i] = 0;
    }
    double total = v[4];
    end[PHASE_RESOLVE] = v[0];
    end[PHASE_CONNECT] = v[0] + v[1];
    end[PHASE_TLS] = v[0] + v[1] + v[2];
    end[PHASE_PROCESSING] = v[3] > 0 ? v[3] : total;
    end[PHASE_TRANSFER] = total;
    for (int ph = 0; ph < PHASE_N; ph++) {
        double e = end[ph] < prev ? prev : end[ph] > total ? total : end[ph];
        out[ph] = e - prev;
        prev = e;
    }
}

/* Takes the journey runs of a probe result document the writer has just stored (so it
 * passed api.c's checks) into the /metrics table. Runs on the service thread, from
 * memory: the document is the one the request carried. */
static void series_update(struct server *srv, const json_t *doc)
{
    const json_t *labels = json_object_get(doc, "labels");
    const char *app = json_string_value(json_object_get(labels, "app"));
    const char *version = json_string_value(json_object_get(labels, "version"));
    const char *region = json_string_value(json_object_get(labels, "region"));
    size_t i, k;
    json_t *j, *st;

    if (!app || !version)
        return;
    json_array_foreach(json_object_get(doc, "journeys"), i, j) {
        char journey[JOURNEY_LABEL_MAX + 1];
        const char *name = json_string_value(json_object_get(j, "name"));
        long long started = text_rfc3339_ms(json_string_value(json_object_get(j, "started_at")));
        if (!name)
            continue;
        /* A long name is cut at a character boundary, so that the label stays UTF-8. */
        size_t n = strlen(name);
        if (n > JOURNEY_LABEL_MAX) {
            n = JOURNEY_LABEL_MAX;
            while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
                n--;
        }
        memcpy(journey, name, n);
        journey[n] = '\0';
        struct probe_series *p = series_slot(srv, app, version, region ? region : "", journey);
        if (!p)
            return;
        if (started < p->started_ms)
            continue;
        p->started_ms = started;
        p->seq = ++srv->series_seq;
        p->success = json_is_true(json_object_get(j, "passed"));
        p->cert_expiry = -1;
        p->http_status = 0;
        p->http_version = 0;
        for (int ph = 0; ph < PHASE_N; ph++)
            p->phase_s[ph] = 0;
        p->nsteps = 0;
        json_array_foreach(json_object_get(j, "steps"), k, st) {
            const json_t *t = json_object_get(st, "timings_ms");
            const json_t *status = json_object_get(st, "status");
            int own = p->nsteps < SERIES_STEPS_MAX && t;
            double phases[PHASE_N];
            /* A skipped step sent nothing: the status is the last answer's (0: none). */
            if (json_is_integer(status)) {
                json_int_t code = json_integer_value(status);
                const char *hv = json_string_value(json_object_get(st, "http_version"));
                p->http_status = code >= 0 && code <= 999 ? (int)code : 0;
                p->http_version = hv ? strtod(hv, NULL) : 0;
                if (!isfinite(p->http_version) || p->http_version < 0)
                    p->http_version = 0;
            }
            if (own)
                snprintf(p->steps[p->nsteps].name, sizeof p->steps[p->nsteps].name, "%.*s",
                         STEP_LABEL_MAX, json_string_value(json_object_get(st, "name")) ?
                         json_string_value(json_object_get(st, "name")) : "?");
            step_phases(t, phases);
            for (int ph = 0; ph < PHASE_N; ph++) {
                p->phase_s[ph] += phases[ph];
                if (own)
                    p->steps[p->nsteps].phase_s[ph] = phases[ph];
            }
            if (own)
                p->nsteps++;
            long long expiry = text_rfc3339_ms(json_string_value(
                json_object_get(json_object_get(st, "tls"), "cert_expiry")));
            if (expiry >= 0 && (p->cert_expiry < 0 || expiry / 1000 < p->cert_expiry))
                p->cert_expiry = expiry / 1000;
        }
    }
}

static struct live_app *live_app(struct server *srv, const char *app, int create)
{
    for (size_t i = 0; i < srv->nlive_apps; i++)
        if (strcmp(srv->live_apps[i].app, app) == 0)
            return &srv->live_apps[i];
    if (!create || strlen(app) >= sizeof srv->live_apps[0].app)
        return NULL;
    /* Full: the app changed longest ago makes room. */
    size_t slot = srv->nlive_apps;
    if (slot == LIVE_APPS_MAX) {
        slot = 0;
        for (size_t i = 1; i < LIVE_APPS_MAX; i++) {
            long long a = 0, b = 0;
            for (int c = 0; c < CH_N; c++) {
                a = srv->live_apps[i].seq[c] > a ? srv->live_apps[i].seq[c] : a;
                b = srv->live_apps[slot].seq[c] > b ? srv->live_apps[slot].seq[c] : b;
            }
            if (a < b)
                slot = i;
        }
    } else {
        srv->nlive_apps++;
    }
    memset(&srv->live_apps[slot], 0, sizeof srv->live_apps[slot]);
    snprintf(srv->live_apps[slot].app, sizeof srv->live_apps[slot].app, "%s", app);
    return &srv->live_apps[slot];
}

static void mark_changed(struct server *srv, const char *app, int what)
{
    struct live_app *a = app ? live_app(srv, app, 1) : NULL;
    if (a)
        a->seq[what] = ++srv->live_seq;
}

/* Once a second: each page whose app changed since it was last told gets an update. */
static void live_tick(lws_sorted_usec_list_t *sul)
{
    struct server *srv = lws_container_of(sul, struct server, tick);
    for (struct live_pss *p = srv->live; p; p = p->next) {
        const struct live_app *a = p->app[0] ? live_app(srv, p->app, 0) : NULL;
        int changed = p->hello;
        for (int c = 0; a && c < CH_N; c++)
            changed |= a->seq[c] > p->seen[c];
        if (changed)
            lws_callback_on_writable(p->wsi);
    }
    /* The alert rules' clock, and the p75 series' refresh on a reader. */
    struct writer_item *rum = watch_tick(srv->watch);
    if (rum && (!srv->readers || readers_submit(srv->readers, rum) < 0)) {
        watch_rum_done(srv->watch, NULL);
        writer_item_free(rum);
    }
    lws_sul_schedule(srv->ctx, 0, &srv->tick, live_tick, LWS_US_PER_SEC);
}

static int live_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct live_pss *p = user;
    struct server *srv = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(p, 0, sizeof *p);
        p->wsi = wsi;
        p->next = srv->live;
        srv->live = p;
        return 0;
    case LWS_CALLBACK_RECEIVE: {
        json_t *msg = len < 1024 ? json_loadb(in, len, 0, NULL) : NULL;
        const char *app = json_string_value(json_object_get(msg, "app"));
        int ok = app && *app && strlen(app) < sizeof p->app;
        for (const char *c = app; ok && *c; c++)
            ok = isalnum((unsigned char)*c) || strchr("._+-", *c);
        if (ok) {
            snprintf(p->app, sizeof p->app, "%s", app);
            const struct live_app *a = live_app(srv, p->app, 0);
            for (int c = 0; c < CH_N; c++)
                p->seen[c] = a ? a->seq[c] : 0;
            p->hello = 1;
            lws_callback_on_writable(wsi);
        }
        json_decref(msg);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        unsigned char buf[LWS_PRE + LIVE_MSG_MAX];
        char *out = (char *)buf + LWS_PRE;
        int n;
        if (p->hello) {
            p->hello = 0;
            n = snprintf(out, LIVE_MSG_MAX, "{\"type\":\"subscribed\",\"app\":\"%s\",\"seq\":%lld}",
                         p->app, srv->live_seq);
        } else {
            const struct live_app *a = live_app(srv, p->app, 0);
            if (!a)
                return 0;
            n = snprintf(out, LIVE_MSG_MAX, "{\"type\":\"update\",\"app\":\"%s\",\"seq\":%lld,"
                         "\"changed\":[", p->app, srv->live_seq);
            int first = 1;
            for (int c = 0; c < CH_N; c++) {
                if (a->seq[c] <= p->seen[c])
                    continue;
                n += snprintf(out + n, (size_t)(LIVE_MSG_MAX - n), "%s\"%s\"", first ? "" : ",",
                              change_names[c]);
                first = 0;
                p->seen[c] = a->seq[c];
            }
            n += snprintf(out + n, (size_t)(LIVE_MSG_MAX - n), "]}");
            if (first)
                return 0;
        }
        if (n >= LIVE_MSG_MAX || lws_write(wsi, (unsigned char *)out, (size_t)n, LWS_WRITE_TEXT) < n)
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        for (struct live_pss **q = &srv->live; *q; q = &(*q)->next) {
            if (*q == p) {
                *q = p->next;
                break;
            }
        }
        return 0;
    default:
        return 0;
    }
}

/* Records a verdict a reader computed: a write, so the writer's. Nobody waits for it. */
static void record_verdict(struct server *srv, json_t *verdict)
{
    struct writer_item *item = calloc(1, sizeof *item);
    if (!item)
        return;
    item->call = run_call;
    item->request = json_pack("{s:s,s:O}", "call", "verdict-record", "args", verdict);
    if (writer_submit(srv->writer, item) < 0) {
        fprintf(stderr, "collector: a verdict was not recorded: the write queue is full\n");
        writer_item_free(item);
    }
}

/* Answers the requests whose batches the writer, or whose reads the readers, finished. */
static void collect_done(struct server *srv)
{
    struct writer_item *d = writer_take_done(srv->writer), **tail = &d;
    while (*tail)
        tail = &(*tail)->next;
    *tail = srv->readers ? readers_take_done(srv->readers) : NULL;
    while (d) {
        struct writer_item *next = d->next;
        struct pss *pss = pending_take(srv, d->id);
        if (d->call) {
            /* A probe run the writer stored (or had): the /metrics table takes it from the
             * document the request carried, already in memory. */
            const char *call = json_string_value(json_object_get(d->request, "call"));
            const json_t *args = json_object_get(d->request, "args");
            if (watch_owns(d)) {
                watch_rum_done(srv->watch, d);
            } else if (watch_is_rebuild(d)) {
                /* The series as the database left them; a run pushed since is newer. */
                size_t k;
                json_t *doc;
                json_array_foreach(d->response, k, doc)
                    series_update(srv, doc);
            } else if ((d->status == 200 || d->status == 201) && call && strcmp(call, "probe-run") == 0) {
                series_update(srv, json_object_get(args, "document"));
                watch_probe_run(srv->watch, json_object_get(args, "document"));
                mark_changed(srv, json_string_value(json_object_get(json_object_get(
                    json_object_get(args, "document"), "labels"), "app")), CH_PROBES);
            } else if (d->status == 201 && call && strcmp(call, "deployment") == 0) {
                mark_changed(srv, json_string_value(json_object_get(args, "app")), CH_DEPLOYMENTS);
            } else if (d->status == 200 && call && strcmp(call, "verdict") == 0) {
                /* A replay (at=) is the past: no gauge, no alert. */
                if (!json_object_get(d->response, "at_ms"))
                    watch_verdict(srv->watch, d->response);
                if (api_records(args))
                    record_verdict(srv, d->response);
            } else if (d->status == 200 && call && strcmp(call, "gate") == 0) {
                watch_gate(srv->watch, d->response);
            } else if (d->status == 201 && call && strcmp(call, "verdict-record") == 0) {
                mark_changed(srv, json_string_value(json_object_get(args, "app")), CH_VERDICTS);
            }
            if (pss)
                answer_call(pss, d->status, d->response);
            writer_item_free(d);
            d = next;
            continue;
        }
        if (d->status == 204) {
            size_t i;
            json_t *b;
            srv->accepted_requests++;
            srv->accepted_beacons += (long long)json_array_size(d->beacons);
            json_array_foreach(d->beacons, i, b) {
                mark_changed(srv, json_string_value(json_object_get(b, "app")), CH_BEACONS);
                watch_beacons(srv->watch, json_string_value(json_object_get(b, "app")), 1);
            }
        }
        if (pss) {
            if (d->status == 204) {
                answer(pss, 204, NULL, NULL);
            } else {
                pss->retry_after = 1;
                reject(srv, pss, 503, REJ_STORE_FAILED, "could not store the beacon", NULL);
            }
        }
        writer_item_free(d);
        d = next;
    }
}

static void series_labels(struct buf *b, const struct probe_series *p)
{
    buf_puts(b, "{app=\"");
    promtext_value(b, p->app);
    buf_puts(b, "\",journey=\"");
    promtext_value(b, p->journey);
    buf_puts(b, "\",region=\"");
    promtext_value(b, p->region);
    buf_puts(b, "\",version=\"");
    promtext_value(b, p->version);
    buf_puts(b, "\"");
}

/* The latest probe results, as blackbox_exporter names its probe_* series. */
static void probe_metrics_text(struct server *srv, struct buf *b)
{
    /* The gauges of one value per series (blackbox's probe_success,
     * probe_http_status_code, probe_http_version). */
    static const char *const gauges[][2] = {
        {"vigil_probe_success", "Whether the latest run of the journey passed (1) or not (0)."},
        {"vigil_probe_http_status_code",
         "HTTP status of the last answered step of the latest run of the journey (0: none)."},
        {"vigil_probe_http_version",
         "HTTP version of that step's answer (1, 1.1, 2, 3; 0: none)."},
    };
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        promtext_family(b, gauges[g][0], "gauge", gauges[g][1]);
        for (size_t i = 0; i < srv->nseries; i++) {
            const struct probe_series *p = &srv->series[i];
            buf_puts(b, gauges[g][0]);
            series_labels(b, p);
            buf_printf(b, "} %.9g\n", g == 0 ? (double)p->success
                       : g == 1 ? (double)p->http_status : p->http_version);
        }
    }
    promtext_family(b, "vigil_probe_duration_seconds", "gauge",
           "Time of the latest run of the journey by phase (resolve, connect, tls, processing,"
           " transfer; they add up to the total), summed over its steps.");
    for (size_t i = 0; i < srv->nseries; i++) {
        for (int ph = 0; ph < PHASE_N; ph++) {
            buf_puts(b, "vigil_probe_duration_seconds");
            series_labels(b, &srv->series[i]);
            buf_printf(b, ",phase=\"%s\"} %.9g\n", phase_names[ph], srv->series[i].phase_s[ph]);
        }
    }
    promtext_family(b, "vigil_probe_step_duration_seconds", "gauge",
           "Time of each step of the latest run of the journey by phase, as"
           " vigil_probe_duration_seconds (first 16 steps).");
    for (size_t i = 0; i < srv->nseries; i++) {
        for (size_t k = 0; k < srv->series[i].nsteps; k++) {
            for (int ph = 0; ph < PHASE_N; ph++) {
                buf_puts(b, "vigil_probe_step_duration_seconds");
                series_labels(b, &srv->series[i]);
                buf_puts(b, ",step=\"");
                promtext_value(b, srv->series[i].steps[k].name);
                buf_printf(b, "\",phase=\"%s\"} %.9g\n", phase_names[ph],
                           srv->series[i].steps[k].phase_s[ph]);
            }
        }
    }
    promtext_family(b, "vigil_probe_ssl_earliest_cert_expiry", "gauge",
           "Earliest certificate expiry seen by the latest run of the journey, Unix seconds.");
    for (size_t i = 0; i < srv->nseries; i++) {
        if (srv->series[i].cert_expiry < 0)
            continue;
        buf_puts(b, "vigil_probe_ssl_earliest_cert_expiry");
        series_labels(b, &srv->series[i]);
        buf_printf(b, "} %lld\n", srv->series[i].cert_expiry);
    }
}

static void metrics_text(struct server *srv, struct buf *b)
{
    const struct writer_stats *w = writer_stats(srv->writer);

    promtext_family(b, "vigil_beacon_requests_accepted_total", "counter",
           "Requests whose beacons were stored.");
    buf_printf(b, "vigil_beacon_requests_accepted_total %lld\n", srv->accepted_requests);
    promtext_family(b, "vigil_beacons_accepted_total", "counter", "Beacons stored.");
    buf_printf(b, "vigil_beacons_accepted_total %lld\n", srv->accepted_beacons);
    promtext_family(b, "vigil_beacon_requests_rejected_total", "counter", "Requests refused, by reason.");
    for (int i = 0; i < REJ_N; i++)
        buf_printf(b, "vigil_beacon_requests_rejected_total{reason=\"%s\"} %lld\n",
                   reason_names[i], srv->rejected[i]);
    promtext_family(b, "vigil_beacon_origin_refused_total", "counter",
           "Requests refused for their Origin, by origin (the first 64; the rest as (other)).");
    for (size_t i = 0; i <= REFUSED_ORIGINS_MAX; i++) {
        if (srv->refused[i].count == 0)
            continue;
        buf_puts(b, "vigil_beacon_origin_refused_total{origin=\"");
        promtext_value(b, srv->refused[i].origin);
        buf_printf(b, "\"} %lld\n", srv->refused[i].count);
    }
    promtext_family(b, "vigil_beacon_requests_bot_dropped_total", "counter",
           "Requests from known bots, read and not stored.");
    buf_printf(b, "vigil_beacon_requests_bot_dropped_total %lld\n", srv->bots);
    promtext_family(b, "vigil_write_queue_depth", "gauge", "Requests waiting for the writer.");
    buf_printf(b, "vigil_write_queue_depth %lld\n", w->queued);
    promtext_family(b, "vigil_batch_commit_seconds", "histogram", "Time to store and commit one batch.");
    for (int i = 0; i < WRITER_LATENCY_BUCKETS; i++)
        buf_printf(b, "vigil_batch_commit_seconds_bucket{le=\"%g\"} %lld\n",
                   writer_latency_bounds_ms[i] / 1000.0, w->latency_le[i]);
    buf_printf(b, "vigil_batch_commit_seconds_bucket{le=\"+Inf\"} %lld\n", w->batches);
    buf_printf(b, "vigil_batch_commit_seconds_sum %g\n", w->latency_sum_ms / 1000.0);
    buf_printf(b, "vigil_batch_commit_seconds_count %lld\n", w->batches);
    promtext_family(b, "vigil_batches_failed_total", "counter", "Batches that could not be committed.");
    buf_printf(b, "vigil_batches_failed_total %lld\n", w->failed_batches);
    promtext_family(b, "vigil_rows_stored_total", "counter", "Rows written (page views, metrics, errors).");
    buf_printf(b, "vigil_rows_stored_total %lld\n", w->rows_stored);
    promtext_family(b, "vigil_db_bytes", "gauge", "Size of the database and its WAL.");
    buf_printf(b, "vigil_db_bytes %lld\n", w->db_bytes);
    promtext_family(b, "vigil_db_oldest_raw_timestamp_seconds", "gauge",
           "When the oldest raw metric kept was received (Unix s); absent before retention's"
           " first pass or when there is none.");
    if (w->oldest_raw_ms >= 0)
        buf_printf(b, "vigil_db_oldest_raw_timestamp_seconds %lld\n", w->oldest_raw_ms / 1000);
    promtext_family(b, "vigil_db_oldest_rollup_timestamp_seconds", "gauge",
           "The start of the oldest per-minute rollup kept (Unix s).");
    if (w->oldest_rollup_ms >= 0)
        buf_printf(b, "vigil_db_oldest_rollup_timestamp_seconds %lld\n",
                   w->oldest_rollup_ms / 1000);
    promtext_family(b, "vigil_db_expired_rows_total", "counter", "Rows deleted by retention.");
    buf_printf(b, "vigil_db_expired_rows_total %lld\n", w->expired_rows);
    promtext_family(b, "vigil_connections", "gauge", "Open client connections.");
    buf_printf(b, "vigil_connections %lld\n", srv->connections);
    probe_metrics_text(srv, b);
    watch_metrics_text(srv->watch, b);
}

static const struct {
    const char *ext, *type;
} media_types[] = {
    {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
    {".html", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
    {".json", "application/json"}, {".map", "application/json"}, {".svg", "image/svg+xml"},
    {".png", "image/png"}, {".jpg", "image/jpeg"}, {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

/* A path is served only if it is made of safe characters and has no ".." segment. */
static int safe_path(const char *uri)
{
    if (uri[0] != '/' || strlen(uri) > 256 || strstr(uri, "..") || strstr(uri, "//"))
        return 0;
    for (const char *c = uri; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("/._-", *c))
            return 0;
    return 1;
}

/* The weight ("q") a request's Accept-Encoding gives a content coding: its own entry's,
 * else that of "*", else 0 (RFC 9110 12.5.3; no header: identity only). */
static double coding_weight(const char *accept, const char *coding)
{
    double own = -1, any = -1;
    for (const char *p = accept; *p;) {
        size_t n = strcspn(p, ",");
        char item[64];
        if (n < sizeof item) {
            memcpy(item, p, n);
            item[n] = '\0';
            char *name = item + strspn(item, " \t"), *semi = strchr(name, ';');
            double q = 1;
            if (semi) {
                *semi = '\0';
                char *qs = strstr(semi + 1, "q=");
                if (qs) {
                    char *end;
                    q = strtod(qs + 2, &end);
                    if (end == qs + 2 || !isfinite(q) || q < 0)
                        q = 0;
                }
            }
            name[strcspn(name, " \t")] = '\0';
            if (strcasecmp(name, coding) == 0)
                own = q;
            else if (strcmp(name, "*") == 0)
                any = q;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return own >= 0 ? own : any > 0 ? any : 0;
}

/* Answers a GET for a file under one of the --static folders, with an ETag from its
 * size and time so that a browser can revalidate with If-None-Match. A copy the build
 * compressed beforehand (FILE.br, FILE.gz, not older than FILE) is sent instead when the
 * request's Accept-Encoding takes it, brotli first, with Content-Encoding, its own ETag
 * and Vary: Accept-Encoding. Files are read into the response (they are small), never
 * through lws_serve_http_file, which builds its reply in a buffer that can still hold
 * pipelined requests. Returns 1 if answered. */
static int serve_static(struct server *srv, struct pss *pss, struct lws *wsi, const char *uri)
{
    static const struct {
        const char *suffix, *coding;
    } codings[] = {{".br", "br"}, {".gz", "gzip"}};
    char path[4096], inm[256], accept[256];
    struct stat st;
    const char *type = NULL;

    if (!safe_path(uri))
        return 0;
    if (strcmp(uri, "/") == 0)
        uri = "/index.html";
    const char *dot = strrchr(uri, '.');
    for (size_t i = 0; dot && i < sizeof media_types / sizeof media_types[0]; i++)
        if (strcmp(dot, media_types[i].ext) == 0)
            type = media_types[i].type;
    if (!type)
        return 0;
    if (lws_hdr_copy(wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT_ENCODING) <= 0)
        accept[0] = '\0';
    for (size_t i = 0; i < srv->o->nstatic; i++) {
        snprintf(path, sizeof path, "%s%s", srv->o->static_dirs[i], uri);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SERVER_FILE_MAX)
            continue;
        /* The coding with the highest weight whose copy is there and up to date. */
        const char *coding = NULL;
        double best = 0;
        char cpath[4096 + 8], chosen[4096 + 8];
        struct stat cst, chosen_st;
        for (size_t k = 0; k < sizeof codings / sizeof codings[0]; k++) {
            snprintf(cpath, sizeof cpath, "%s%s", path, codings[k].suffix);
            if (stat(cpath, &cst) != 0 || !S_ISREG(cst.st_mode) || cst.st_size > SERVER_FILE_MAX
                || cst.st_mtim.tv_sec < st.st_mtim.tv_sec
                || (cst.st_mtim.tv_sec == st.st_mtim.tv_sec
                    && cst.st_mtim.tv_nsec < st.st_mtim.tv_nsec))
                continue;
            pss->vary_ae = 1;
            double w = coding_weight(accept, codings[k].coding);
            if (w > best) {
                best = w;
                coding = codings[k].coding;
                memcpy(chosen, cpath, sizeof chosen);
                chosen_st = cst;
            }
        }
        FILE *f = fopen(coding ? chosen : path, "rb");
        if (!f)
            continue;
        if (coding)
            st = chosen_st;
        pss->route = R_STATIC;
        pss->encoding = coding;
        snprintf(pss->etag, sizeof pss->etag, "\"%llx-%llx%s%s\"", (unsigned long long)st.st_size,
                 (unsigned long long)st.st_mtime, coding ? "-" : "", coding ? coding : "");
        /* The beacon's name does not change between releases, so browsers revalidate
         * after five minutes; the ETag makes that cheap. */
        pss->cache = "public, max-age=300";
        if (lws_hdr_copy(wsi, inm, sizeof inm, WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0
            && strstr(inm, pss->etag)) {
            fclose(f);
            answer(pss, 304, NULL, NULL);
            return 1;
        }
        free(pss->resp);
        pss->resp = malloc(LWS_PRE + (size_t)st.st_size + 1);
        if (!pss->resp || fread(pss->resp + LWS_PRE, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            fclose(f);
            free(pss->resp);
            pss->resp = NULL;
            pss->etag[0] = '\0';
            pss->cache = NULL;
            pss->encoding = NULL;
            answer(pss, 500, "cannot read the file", NULL);
            return 1;
        }
        fclose(f);
        pss->resp_len = (size_t)st.st_size;
        pss->ctype = type;
        answer(pss, 200, NULL, NULL);
        return 1;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                    void *in, size_t len)
{
    struct pss *pss = user;
    struct server *srv = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (srv)
            collect_done(srv);
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        /* Only /v1/live is a WebSocket, and only for readers allowed to read. */
        char uri[64];
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/v1/live") != 0
            || !may_read(srv, wsi))
            return 1;
        return 0;
    }

    case LWS_CALLBACK_WSI_CREATE:
        srv->connections++;
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        srv->connections--;
        return 0;

    case LWS_CALLBACK_HTTP: {
        const char *uri = in;
        memset(pss, 0, sizeof *pss);
        pss->wsi = wsi;
        if (lws_hdr_copy(wsi, pss->origin, sizeof pss->origin, WSI_TOKEN_ORIGIN) > 0)
            pss->origin_ok = origin_allowed(srv, wsi, pss->origin);
        else if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0)
            /* Longer than any allowed origin: refused, not taken as no Origin. */
            snprintf(pss->origin, sizeof pss->origin, "(an Origin over %zu bytes)",
                     sizeof pss->origin - 1);
        else
            pss->origin[0] = '\0';
        int post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        int get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
        int options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;
        int head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
        if (strcmp(uri, "/v1/rum") == 0 && post) {
            char te[32];
            pss->route = R_RUM;
            /* lws 4.1 does not decode chunked request bodies: it would read the chunks as
             * the next request. Browsers send beacons with a Content-Length. */
            if (lws_hdr_copy(wsi, te, sizeof te, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
                pss->close = 1;
                reject(srv, pss, 411, REJ_LENGTH_REQUIRED, "a Content-Length is required"
                       " (chunked bodies are not accepted)", NULL);
                return 0;
            }
            start_rum(srv, pss, wsi);
            if (pss->reject == 413) {
                reject(srv, pss, 413, REJ_TOO_LARGE, pss->reject_msg, NULL);
                return 0;
            }
            if (!has_body(wsi)) {
                if (!pss->reject)
                    reject(srv, pss, 400, REJ_MALFORMED, "empty body", NULL);
                else
                    finish_rum(srv, pss);
            }
            return 0;
        }
        if (strcmp(uri, "/v1/rum") == 0 && options) {
            pss->route = R_RUM_OPTIONS;
            if (pss->origin[0] && !pss->origin_ok)
                reject(srv, pss, 403, REJ_ORIGIN, "origin not allowed", NULL);
            else
                answer(pss, 204, NULL, NULL);
            return 0;
        }
        if (strcmp(uri, "/healthz") == 0 && get) {
            pss->route = R_HEALTH;
            set_body(pss, srv->draining ? "{\"status\":\"stopping\"}\n" : "{\"status\":\"ok\"}\n",
                     "application/json");
            answer(pss, srv->draining ? 503 : 200, NULL, NULL);
            return 0;
        }
        if (strcmp(uri, "/metrics") == 0 && (get || head)) {
            struct buf b;
            pss->route = R_METRICS;
            pss->head = head;
            buf_init(&b, 0);
            metrics_text(srv, &b);
            set_body(pss, b.data ? b.data : "", "text/plain; version=0.0.4");
            buf_fini(&b);
            answer(pss, 200, NULL, NULL);
            return 0;
        }
        /* The API's routes: who may call each (W_READ: anyone, or with --read-token-file
         * its holders; W_TOKEN: holders of --probe-token-file; W_PUSH: the token or a
         * signature), and for Flagger's webhooks the decisions answered 200. Flagger
         * (docs/gitbook/usage/webhooks.md) goes on at 2xx and counts anything else
         * toward the analysis' threshold: the rollout hook lets "pause" through so that
         * only "rollback" counts, and confirm-promotion holds the promotion until
         * "promote". */
        enum who { W_READ, W_TOKEN, W_PUSH };
        static const struct {
            const char *uri, *call;
            int post, body_arg;
            enum who who;
            const char *flagger;
        } calls[] = {
            {"/v1/probe-runs", "probe-run", 1, 1, W_PUSH, NULL},
            {"/v1/probe-runs", "probe-runs", 0, 0, W_READ, NULL},
            {"/v1/deployments", "deployment", 1, 2, W_TOKEN, NULL},
            {"/v1/deployments", "deployments", 0, 0, W_READ, NULL},
            {"/v1/gate", "gate", 0, 0, W_READ, NULL},
            {"/v1/verdict", "verdict", 0, 0, W_READ, NULL},
            {"/v1/verdicts", "verdicts", 0, 0, W_READ, NULL},
            {"/v1/apps", "apps", 0, 0, W_READ, NULL},
            {"/v1/versions", "versions", 0, 0, W_READ, NULL},
            {"/v1/series", "series", 0, 0, W_READ, NULL},
            {"/v1/breakdown", "breakdown", 0, 0, W_READ, NULL},
            {"/v1/errors", "errors", 0, 0, W_READ, NULL},
            {"/v1/probe-results", "probe-results", 0, 0, W_READ, NULL},
            {"/v1/hooks/flagger/pre-rollout", "gate", 1, 0, W_READ, "allow"},
            {"/v1/hooks/flagger/confirm-promotion", "verdict", 1, 0, W_READ, "promote"},
            {"/v1/hooks/flagger/rollout", "verdict", 1, 0, W_READ, "promote pause"},
        };
        int known_uri = 0;
        for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
            if (strcmp(uri, calls[i].uri) != 0)
                continue;
            known_uri = 1;
            if (calls[i].post ? !post : !get)
                continue;
            pss->route = R_CALL;
            pss->call = calls[i].call;
            pss->body_arg = calls[i].body_arg;
            pss->flagger = calls[i].flagger;
            pss->args = url_args(wsi);
            if (!post) {
                if (!may_read(srv, wsi)) {
                    reject(srv, pss, 401, REJ_UNAUTHORIZED, "reading needs the read token"
                           " (Authorization: Bearer TOKEN)", NULL);
                    return 0;
                }
                submit_call(srv, pss);
                return 0;
            }
            buf_init(&pss->body, CALL_BODY_MAX);
            if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
                pss->close = 1;
                reject(srv, pss, 411, REJ_LENGTH_REQUIRED, "a Content-Length is required", NULL);
            } else if (calls[i].who == W_PUSH ? !push_allowed(srv, pss, wsi)
                       : calls[i].who == W_TOKEN ? !authorized(srv, wsi)
                       : !may_read(srv, wsi)) {
                /* Read the body anyway, so that the connection stays in step. */
                if (!pss->reject && calls[i].who == W_READ)
                    unauthorized(pss, "reading needs the read token (Authorization: Bearer"
                                 " TOKEN)");
                else if (!pss->reject)
                    unauthorized(pss, srv->o->token
                                 ? "a valid \"Authorization: Bearer TOKEN\" header is required"
                                 : "this collector takes no deployment markers: start it with"
                                   " --probe-token-file");
                if (!has_body(wsi))
                    finish_call(srv, pss);
            } else if (!has_body(wsi)) {
                reject(srv, pss, 400, REJ_MALFORMED, "empty body", NULL);
            }
            return 0;
        }
        if (known_uri) {
            pss->close = has_body(wsi);
            reject(srv, pss, 405, REJ_METHOD, "method not allowed", NULL);
            return 0;
        }
        if (strcmp(uri, "/v1/rum") == 0 || strcmp(uri, "/healthz") == 0
            || strcmp(uri, "/metrics") == 0) {
            pss->close = has_body(wsi);
            reject(srv, pss, 405, REJ_METHOD, "method not allowed", NULL);
            return 0;
        }
        pss->head = head;
        if ((get || head) && serve_static(srv, pss, wsi, uri))
            return 0;
        pss->close = has_body(wsi);
        reject(srv, pss, 404, REJ_NOT_FOUND, "not found", NULL);
        return 0;
    }

    case LWS_CALLBACK_HTTP_BODY:
        if (pss->route != R_RUM && pss->route != R_CALL)
            return 0;
        pss->body_seen += len;
        /* Far past any limit: stop reading and close. */
        if (pss->body_seen > (pss->route == R_CALL ? 4 * (size_t)CALL_BODY_MAX : DISCARD_MAX))
            return -1;
        /* Past the buffer's cap the body is dropped; finishing answers 413. */
        if (!pss->reject && buf_append(&pss->body, in, len) < 0)
            pss->body.len = 0;
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (pss->route == R_RUM && !pss->status && !pss->waiting)
            finish_rum(srv, pss);
        else if (pss->route == R_CALL && !pss->status && !pss->waiting)
            finish_call(srv, pss);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!pss || !pss->status)
            return 0;
        return send_response(pss);

    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss)
            forget(srv, pss);
        return 0;

    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"http", callback, sizeof(struct pss), 0, 0, NULL, 0},
    {"vigil-live", live_callback, sizeof(struct live_pss), 1024, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

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
    for (int i = 0; i < PENDING_BUCKETS; i++)
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

    memset(&srv, 0, sizeof srv);
    srv.o = o;
    if (!(srv.rl = ratelimit_new(o->rate, o->burst, o->global_rate))) {
        snprintf(err, errlen, "out of memory");
        store_close(store);
        return -1;
    }
    if (listen_check(o->host, o->port, err, errlen) < 0) {
        store_close(store);
        ratelimit_free(srv.rl);
        return -1;
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
        ratelimit_free(srv.rl);
        return -1;
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
    if (readers_start(&srv.readers, o->db_path, o->readers, o->read_timeout_ms, o->queue_max,
                      wake, srv.ctx, err, errlen) < 0)
        goto out;
    struct writer_item *rebuild = watch_rebuild_item(SERVER_PROBE_SERIES_MAX);
    if (rebuild && readers_submit(srv.readers, rebuild) < 0)
        writer_item_free(rebuild);
    lws_sul_schedule(srv.ctx, 0, &srv.tick, live_tick, LWS_US_PER_SEC);
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

    /* Stop: refuse new beacons, let the writer store what it has, answer those requests. */
    srv.draining = 1;
    double deadline = clock_mono_ms() + DRAIN_SECONDS * 1000.0;
    while (clock_mono_ms() < deadline && (writer_stats(srv.writer)->queued > 0 || any_pending(&srv)))
        lws_service(srv.ctx, 0);
    fprintf(stderr, "collector: stopped\n");
    rc = 0;
out:
    signal_ctx = NULL;
    lws_sul_schedule(srv.ctx, 0, &srv.tick, live_tick, LWS_SET_TIMER_USEC_CANCEL);
    readers_stop(srv.readers);
    writer_stop(srv.writer);
    alerts_stop(srv.alerts);
    watch_free(srv.watch);
    lws_context_destroy(srv.ctx);
    ratelimit_free(srv.rl);
    free(srv.series);
    return rc;
}
