#include "calls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api.h"
#include "clock.h"
#include "http.h"
#include "live.h"
#include "metrics.h"
#include "probe_result.h"
#include "routes.h"
#include "server.h"
#include "watch.h"
#include "writer.h"

#define PROBE_PATH "/v1/probe-runs"        /* the path in a push's canonical string */

/* The signature headers of a push (shared/sign.h), as lws looks up unknown headers. */
static const struct {
    const char *lws, *name;
} sig_headers[3] = {
    {"x-vigil-key-id:", "X-Vigil-Key-Id"}, {"x-vigil-timestamp:", "X-Vigil-Timestamp"},
    {"x-vigil-signature:", "X-Vigil-Signature"},
};

/* Copies the named query arguments of the request into a new object. "regions" is a
 * comma-separated list; "min_runs" a number. */
static json_t *url_args(struct lws *wsi)
{
    static const char *const names[] = {
        "app", "version", "baseline", "canary", "policy", "method", "warmup", "max_age",
        "regions", "min_runs", "require_signed", "metric", "q", "step", "since", "by", "record",
        "weight", "at", "offset", NULL
    };
    json_t *args = json_object();
    char buf[4096], key[32];    /* a whole URL: a long value is refused by its length */
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

/* Whether the request carries want as "Authorization: Bearer WANT", or, with query set,
 * as token=WANT in the query (a WebSocket from a browser and Flagger's webhooks cannot
 * set headers). Compared in constant time. */
static int carries_token(struct lws *wsi, const char *want, int query)
{
    char auth[512], q[512];
    size_t n = strlen(want);
    if (lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) > 0
        && strncmp(auth, "Bearer ", 7) == 0 && strlen(auth + 7) == n
        && CRYPTO_memcmp(auth + 7, want, n) == 0)
        return 1;
    const char *v = query ? lws_get_urlarg_by_name(wsi, "token=", q, sizeof q) : NULL;
    return v && strlen(v) == n && CRYPTO_memcmp(v, want, n) == 0;
}

/* Whether the request may read the dashboard API: always without --read-token-file,
 * else with the read token. */
int calls_may_read(const struct server *srv, struct lws *wsi)
{
    return !srv->o->read_token || carries_token(wsi, srv->o->read_token, 1);
}

/* A bearer token, compared in constant time. */
static int authorized(const struct server *srv, struct lws *wsi)
{
    return srv->o->token && carries_token(wsi, srv->o->token, 0);
}

/* Decides from its headers whether a POST /v1/probe-runs may be stored: a request with
 * any X-Vigil-* signature header is judged by its signature alone (the HMAC and the time
 * are checked on the body in calls_finish); one without, by the bearer token. Returns 1 to
 * go on, or 0 with the 401 in req->reject. */
static int push_allowed(struct server *srv, struct http_req *req)
{
    struct lws *wsi = req->wsi;
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
            http_refuse_later(req, 401, REJ_UNAUTHORIZED, "%s is longer than %d bytes", sig_headers[i].name,
                         (int)sizeof v[i] - 1);
            return 0;
        }
    }
    if (!present) {
        if (authorized(srv, wsi))
            return 1;
        if (srv->o->token || srv->o->keys)
            http_refuse_later(req, 401, REJ_UNAUTHORIZED, "a valid \"Authorization: Bearer TOKEN\" header%s is required",
                         srv->o->keys ? ", or a signature (X-Vigil-Key-Id, X-Vigil-Timestamp,"
                                        " X-Vigil-Signature)," : "");
        else
            http_refuse_later(req, 401, REJ_UNAUTHORIZED, "this collector takes no probe results: start it with"
                         " --probe-token-file or --probe-keys");
        return 0;
    }
    if (!srv->o->keys) {
        http_refuse_later(req, 401, REJ_UNAUTHORIZED, "this collector takes no signed results: start it with"
                     " --probe-keys");
        return 0;
    }
    if (missing >= 0) {
        http_refuse_later(req, 401, REJ_UNAUTHORIZED, "%s is missing: a signed push carries X-Vigil-Key-Id,"
                     " X-Vigil-Timestamp and X-Vigil-Signature", sig_headers[missing].name);
        return 0;
    }
    if (!sign_keys_find(srv->o->keys, v[0])) {
        /* Named in the answer as printable ASCII only: it came from the client. */
        for (char *c = v[0]; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
                *c = '?';
        http_refuse_later(req, 401, REJ_UNAUTHORIZED, "unknown key id \"%.64s\"", v[0]);
        return 0;
    }
    char *end;
    errno = 0;
    long long ts = strtoll(v[1], &end, 10);
    if (errno || end == v[1] || *end || !isdigit((unsigned char)v[1][0])) {
        http_refuse_later(req, 401, REJ_UNAUTHORIZED, "X-Vigil-Timestamp must be Unix seconds, not \"%.32s\"", v[1]);
        return 0;
    }
    size_t slen = strlen(v[2]);
    for (size_t i = 0; i < slen; i++)
        v[2][i] = (char)tolower((unsigned char)v[2][i]);
    if (slen != 64 || strspn(v[2], "0123456789abcdef") != 64) {
        http_refuse_later(req, 401, REJ_UNAUTHORIZED, "X-Vigil-Signature must be 64 hex digits (HMAC-SHA256)");
        return 0;
    }
    req->u.call.sig = 1;
    snprintf(req->u.call.key_id, sizeof req->u.call.key_id, "%s", v[0]);
    req->u.call.sig_ts = ts;
    memcpy(req->u.call.signature, v[2], 65);
    return 1;
}

int calls_authorize(struct server *srv, struct http_req *req)
{
    switch (req->route->auth) {
    case ROUTE_READ:
        if (calls_may_read(srv, req->wsi))
            return 1;
        http_refuse_later(req, 401, REJ_UNAUTHORIZED, "reading needs the read token"
                          " (Authorization: Bearer TOKEN)");
        return 0;
    case ROUTE_METRICS: {
        /* Its own token if there is one (a scrape job's), else the read token. */
        const char *want = srv->o->metrics_token ? srv->o->metrics_token : srv->o->read_token;
        if (!want || carries_token(req->wsi, want, 0))
            return 1;
        http_refuse_later(req, 401, REJ_UNAUTHORIZED, "/metrics needs the %s token"
                          " (Authorization: Bearer TOKEN)",
                          srv->o->metrics_token ? "metrics" : "read");
        return 0;
    }
    case ROUTE_TOKEN:
        if (authorized(srv, req->wsi))
            return 1;
        http_refuse_later(req, 401, REJ_UNAUTHORIZED, "%s", srv->o->token
                          ? "a valid \"Authorization: Bearer TOKEN\" header is required"
                          : "this collector takes no deployment markers: start it with"
                            " --probe-token-file");
        return 0;
    case ROUTE_PUSH:
        return push_allowed(srv, req);
    default:
        return 1;
    }
}

/* Checks a signed push against its body: the HMAC first, so that only a request signed
 * with the key is told about the clock, then the replay window. Returns 1 if it holds,
 * or 0 having answered 401. */
static int signature_holds(struct server *srv, struct http_req *req)
{
    const char *secret = sign_keys_find(srv->o->keys, req->u.call.key_id);
    char msg[256];

    if (!secret || !sign_verify(secret, "POST", PROBE_PATH, req->u.call.sig_ts,
                                req->body.data ? req->body.data : "", req->body.len,
                                req->u.call.signature)) {
        snprintf(msg, sizeof msg, "bad signature: X-Vigil-Signature is not the HMAC-SHA256 of"
                 " this request (POST %s, its timestamp and body) with key \"%s\"",
                 PROBE_PATH, req->u.call.key_id);
        http_reject(srv, req, 401, REJ_UNAUTHORIZED, msg, NULL);
        return 0;
    }
    long long skew = clock_wall_ms() / 1000 - req->u.call.sig_ts;
    if (skew > SIGN_WINDOW_S || skew < -SIGN_WINDOW_S) {
        snprintf(msg, sizeof msg, "timestamp %lld is %lld s from the collector's clock;"
                 " replay window is %d s", req->u.call.sig_ts, skew < 0 ? -skew : skew, SIGN_WINDOW_S);
        http_reject(srv, req, 401, REJ_UNAUTHORIZED, msg, NULL);
        return 0;
    }
    return 1;
}

/* Answers an api call: its JSON as it is, or for a Flagger webhook 200 when the decision
 * is one the route lets through and 403 else, with the reasons as text (Flagger takes any
 * status above 202 as "no"). */
static void answer_call(struct http_req *req, int status, const json_t *body)
{
    if (req->route->flagger && status == 200) {
        const char *decision = json_string_value(json_object_get(body, "decision"));
        size_t dlen = decision ? strlen(decision) : 0;
        int pass = 0;
        for (const char *p = req->route->flagger; dlen && *p;) {
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
        http_set_body(req, b.data ? b.data : "", "text/plain; charset=utf-8");
        buf_fini(&b);
        http_answer(req, pass ? 200 : 403, NULL, NULL);
        return;
    }
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    http_set_body(req, text ? text : "{}", "application/json");
    free(text);
    http_answer(req, status, NULL, NULL);
}

/* Runs on the writer thread or a reader's: the item's api call, within the connection's
 * time limit (readers have one). A probe result comes parsed (item->probe). */
static void run_call(struct store *s, struct writer_item *item)
{
    store_start_read(s);
    if (item->probe)
        item->status = api_probe_run(s, item->probe,
                                     json_is_true(json_object_get(item->request, "signed")),
                                     json_string_value(json_object_get(item->request, "key_id")),
                                     &item->response);
    else
        item->status = api_run(s, (enum api_fn)item->api, API_HTTP, item->request,
                               &item->response);
}

int calls_owns(const struct writer_item *item)
{
    return item && item->call == run_call;
}

/* A new item for call fn with args (ownership passes), or NULL without memory. */
static struct writer_item *call_item(enum api_fn fn, json_t *args)
{
    struct writer_item *item = calloc(1, sizeof *item);
    if (!item) {
        json_decref(args);
        return NULL;
    }
    item->call = run_call;
    item->api = (int)fn;
    item->request = args;
    return item;
}

/* Hands an api call to the thread that runs it: the writer for a write, a reader else. */
static void submit_call(struct server *srv, struct http_req *req)
{
    enum api_fn fn = (enum api_fn)req->route->api;
    struct writer_item *item = call_item(fn, req->u.call.args);
    req->u.call.args = NULL;
    if (item) {
        item->probe = req->u.call.probe;
        req->u.call.probe = NULL;
    }
    server_enqueue(srv, req, item, api_writes(fn));
}

void calls_start(struct server *srv, struct http_req *req)
{
    req->u.call.args = url_args(req->wsi);
    if (req->route->body == BODY_NONE) {
        submit_call(srv, req);
        return;
    }
    buf_init(&req->body, req->route->body_max);
    if (lws_hdr_total_length(req->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        req->close = 1;
        http_reject(srv, req, 411, REJ_LENGTH_REQUIRED, "a Content-Length is required", NULL);
    } else if (req->reject) {
        /* Refused already (calls_authorize); the body is read anyway, so that the
         * connection stays in step. */
        if (!http_has_body(req->wsi))
            calls_finish(srv, req);
    } else if (!http_has_body(req->wsi)) {
        http_reject(srv, req, 400, REJ_MALFORMED, "empty body", NULL);
    }
}

/* The body of a POST call is complete: parse it and submit the call. */
void calls_finish(struct server *srv, struct http_req *req)
{
    json_error_t je;
    char msg[256];
    if (http_body_refused(srv, req, req->route->body_max))
        return;
    /* The signature covers the bytes as sent, so it is checked before they are parsed. */
    if (req->u.call.sig && !signature_holds(srv, req))
        return;
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len,
                              JSON_REJECT_DUPLICATES, &je);
    if (!body) {
        snprintf(msg, sizeof msg, "malformed JSON at %d:%d: %s", je.line, je.column, je.text);
        http_reject(srv, req, 400, REJ_MALFORMED, msg, NULL);
        return;
    }
    if (req->route->body == BODY_FLAGGER) {
        /* Flagger sends {"name", "namespace", "phase", "checksum", "metadata": {...}}, the
         * metadata as strings (flagger.app/v1beta1 CanaryWebhook). A version or baseline it
         * does not name comes from the deployment markers (api.c, "from_marker"), which
         * only a reader can look up. */
        static const char *const keys[] = {
            "app", "version", "baseline", "max_age", "require_signed", "policy", "warmup",
            "method", "weight", NULL
        };
        const json_t *md = json_object_get(body, "metadata");
        if (!json_is_string(json_object_get(md, "app"))) {
            json_decref(body);
            http_reject(srv, req, 400, REJ_MALFORMED, "metadata.app is required: the webhook's"
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
                json_object_set(req->u.call.args, keys[i], json_object_get(md, keys[i]));
        if (json_array_size(regions))
            json_object_set(req->u.call.args, "regions", regions);
        json_object_set_new(req->u.call.args, "from_marker", json_true());
        json_decref(regions);
        json_decref(body);
    } else if (req->route->body == BODY_DOCUMENT) {
        /* The document is checked here, whole, before anything goes to the writer: a bad
         * one is 400 naming its field, and nothing of it is stored. */
        char field[128];
        int bad = probe_result_parse(body, &req->u.call.probe, field, sizeof field, msg, sizeof msg);
        json_decref(body);
        if (bad < 0) {
            http_reject(srv, req, 400, field[0] ? REJ_SCHEMA : REJ_MALFORMED, msg, field);
            return;
        }
        /* Whether the run was signed is the server's to say, never the client's. */
        json_object_set_new(req->u.call.args, "signed", json_boolean(req->u.call.sig));
        if (req->u.call.sig)
            json_object_set_new(req->u.call.args, "key_id", json_string(req->u.call.key_id));
        else
            json_object_del(req->u.call.args, "key_id");
    } else {
        json_decref(req->u.call.args);
        req->u.call.args = body;
    }
    submit_call(srv, req);
}

/* Records a verdict a reader computed: a write, so the writer's. Nobody waits for it. */
static void record_verdict(struct server *srv, const json_t *verdict)
{
    struct writer_item *item = call_item(API_VERDICT_RECORD, json_deep_copy(verdict));
    if (item && writer_submit(srv->writer, item) < 0) {
        fprintf(stderr, "collector: a verdict was not recorded: the write queue is full\n");
        writer_item_free(item);
    }
}

void calls_done(struct server *srv, struct writer_item *d, struct http_req *req)
{
    const json_t *args = d->request;
    int ok = d->status == 200 || d->status == 201;

    switch (ok ? (enum api_fn)d->api : API_N) {
    case API_PROBE_RUN:
        /* A probe run the writer stored (or had): the /metrics table takes it from the
         * document the request carried, already parsed. */
        if (d->probe) {
            metrics_probe_run(srv->metrics, d->probe);
            watch_probe_run(srv->watch, d->probe->app, d->probe->region);
            live_changed(srv->live, d->probe->app, LIVE_PROBES);
        }
        break;
    case API_DEPLOYMENT:
        if (d->status == 201)
            live_changed(srv->live, json_string_value(json_object_get(args, "app")),
                         LIVE_DEPLOYMENTS);
        break;
    case API_VERDICT:
        if (d->status == 200) {
            /* A replay (at=) is the past: no gauge, no alert. */
            if (!json_object_get(d->response, "at_ms"))
                watch_verdict(srv->watch, d->response);
            if (api_records(args))
                record_verdict(srv, d->response);
        }
        break;
    case API_GATE:
        if (d->status == 200)
            watch_gate(srv->watch, d->response);
        break;
    case API_VERDICT_RECORD:
        if (d->status == 201)
            live_changed(srv->live, json_string_value(json_object_get(args, "app")),
                         LIVE_VERDICTS);
        break;
    default:
        break;
    }
    if (req)
        answer_call(req, d->status, d->response);
}

void calls_req_fini(struct calls_req *c)
{
    json_decref(c->args);
    c->args = NULL;
    probe_result_free(c->probe);
    c->probe = NULL;
}
