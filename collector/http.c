#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics.h"
#include "probe_result.h"
#include "routes.h"
#include "server.h"

const char *const http_reason_names[REJ_N] = {
    "malformed", "schema", "too_large", "media_type", "rate_limited", "queue_full",
    "origin", "not_found", "method", "store_failed", "shutting_down", "length_required",
    "unauthorized", "body_timeout"
};

/* An origin may send beacons if it is listed, or if "*" is. The Host header is not
 * trusted to name the collector's own origin: a name rebound to the collector's address
 * (DNS rebinding) sends Host and Origin that agree; list the collector's own origin with
 * --allow-origin for pages it serves itself. */
int http_origin_ok(const struct server *srv, const char *origin)
{
    for (size_t i = 0; i < srv->o->norigins; i++)
        if (strcmp(srv->o->origins[i], "*") == 0 || strcmp(srv->o->origins[i], origin) == 0)
            return 1;
    return 0;
}

void http_origin(struct server *srv, struct http_req *req)
{
    if (lws_hdr_copy(req->wsi, req->origin, sizeof req->origin, WSI_TOKEN_ORIGIN) > 0)
        req->origin_ok = http_origin_ok(srv, req->origin);
    else if (lws_hdr_total_length(req->wsi, WSI_TOKEN_ORIGIN) > 0)
        /* Longer than any allowed origin: refused, not taken as no Origin. */
        snprintf(req->origin, sizeof req->origin, "(an Origin over %zu bytes)",
                 sizeof req->origin - 1);
    else
        req->origin[0] = '\0';
}

void http_set_body(struct http_req *req, const char *text, const char *ctype)
{
    size_t n = strlen(text);
    free(req->resp);
    req->resp = malloc(LWS_PRE + n + 1);
    if (req->resp) {
        memcpy(req->resp + LWS_PRE, text, n + 1);
        req->resp_len = n;
    }
    req->ctype = ctype;
}

/* Decides an answer: status and, for errors, {"error": msg, "field": field}. */
void http_answer(struct http_req *req, int status, const char *msg, const char *field)
{
    req->status = status;
    if (msg) {
        json_t *j = json_pack("{s:s}", "error", msg);
        if (field && *field)
            json_object_set_new(j, "field", json_string(field));
        char *text = json_dumps(j, JSON_COMPACT);
        http_set_body(req, text ? text : "{}", "application/json");
        free(text);
        json_decref(j);
    }
    lws_callback_on_writable(req->wsi);
}

void http_reject(struct server *srv, struct http_req *req, int status, enum http_reason r,
                 const char *msg, const char *field)
{
    metrics_rejected(srv->metrics, r, req->origin);
    http_answer(req, status, msg, field);
}

void http_refuse_later(struct http_req *req, int status, enum http_reason r, const char *fmt, ...)
{
    va_list ap;
    req->reject = status;
    req->reject_reason = r;
    va_start(ap, fmt);
    vsnprintf(req->reject_msg, sizeof req->reject_msg, fmt, ap);
    va_end(ap);
}

/* A complete body that must not be used: refused before it came (its reason was kept),
 * or longer than max. Answers and returns 1 in those cases. */
int http_body_refused(struct server *srv, struct http_req *req, size_t max)
{
    char msg[96];
    if (req->reject) {
        http_reject(srv, req, req->reject, req->reject_reason, req->reject_msg, NULL);
        return 1;
    }
    if (req->body_seen > max) {
        snprintf(msg, sizeof msg, "body larger than %zu bytes", max);
        http_reject(srv, req, 413, REJ_TOO_LARGE, msg, NULL);
        return 1;
    }
    return 0;
}

int http_has_body(struct lws *wsi)
{
    char v[64];
    if (lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return 1;
    return lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 && strtoll(v, NULL, 10) > 0;
}

/* Writes the decided response in one go: it is small, and written from WRITEABLE. */
int http_send(struct http_req *req)
{
    unsigned char hdr[LWS_PRE + HTTP_HEADER_SPACE];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    char num[32];

    if (lws_add_http_header_status(req->wsi, (unsigned int)req->status, &p, end))
        return -1;
    /* 204 carries no Content-Length (RFC 9110 15.3.5), so lws's common headers, which
     * add one, are not used. */
    if (req->status != 204 && req->status != 304) {
        if (lws_add_http_header_by_token(req->wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                (const unsigned char *)(req->ctype ? req->ctype : "application/json"),
                (int)strlen(req->ctype ? req->ctype : "application/json"), &p, end)
            || lws_add_http_header_content_length(req->wsi, req->resp_len, &p, end))
            return -1;
    }
    const char *cache = req->cache ? req->cache : "no-store";
    if (lws_add_http_header_by_name(req->wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)cache, (int)strlen(cache), &p, end))
        return -1;
    if (req->etag[0] && lws_add_http_header_by_name(req->wsi, (const unsigned char *)"etag:",
                            (const unsigned char *)req->etag, (int)strlen(req->etag), &p, end))
        return -1;
    if (req->encoding && lws_add_http_header_by_name(req->wsi,
                (const unsigned char *)"content-encoding:",
                (const unsigned char *)req->encoding, (int)strlen(req->encoding), &p, end))
        return -1;
    /* One Vary header naming all that the answer depends on. */
    const char *vary = req->origin_ok && req->vary_ae ? "Origin, Accept-Encoding"
                       : req->origin_ok ? "Origin" : req->vary_ae ? "Accept-Encoding" : NULL;
    if (vary && lws_add_http_header_by_name(req->wsi, (const unsigned char *)"vary:",
                    (const unsigned char *)vary, (int)strlen(vary), &p, end))
        return -1;
    if (req->origin_ok) {
        if (lws_add_http_header_by_name(req->wsi,
                (const unsigned char *)"access-control-allow-origin:",
                (const unsigned char *)req->origin, (int)strlen(req->origin), &p, end))
            return -1;
        if (req->preflight
            && (lws_add_http_header_by_name(req->wsi,
                    (const unsigned char *)"access-control-allow-methods:",
                    (const unsigned char *)"POST, OPTIONS", 13, &p, end)
                || lws_add_http_header_by_name(req->wsi,
                    (const unsigned char *)"access-control-allow-headers:",
                    (const unsigned char *)"content-type", 12, &p, end)
                || lws_add_http_header_by_name(req->wsi,
                    (const unsigned char *)"access-control-max-age:",
                    (const unsigned char *)"86400", 5, &p, end)))
            return -1;
    }
    if (req->retry_after > 0) {
        snprintf(num, sizeof num, "%d", req->retry_after);
        if (lws_add_http_header_by_name(req->wsi, (const unsigned char *)"retry-after:",
                                        (const unsigned char *)num, (int)strlen(num), &p, end))
            return -1;
    }
    if (req->close && lws_add_http_header_by_token(req->wsi, WSI_TOKEN_CONNECTION,
                          (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (lws_finalize_http_header(req->wsi, &p, end))
        return -1;
    int final = req->status == 204 || req->status == 304 || req->resp_len == 0 || req->head;
    if (lws_write(req->wsi, start, (size_t)(p - start),
                  final ? LWS_WRITE_HTTP_HEADERS_CONTINUATION : LWS_WRITE_HTTP_HEADERS) < 0)
        return -1;
    if (!final && lws_write(req->wsi, (unsigned char *)req->resp + LWS_PRE, req->resp_len,
                            LWS_WRITE_HTTP_FINAL) < 0)
        return -1;
    req->status = 0;
    if (req->close)
        return -1;
    return lws_http_transaction_completed(req->wsi) ? -1 : 0;
}

void http_req_fini(struct http_req *req)
{
    buf_fini(&req->body);
    free(req->resp);
    req->resp = NULL;
    if (req->route && req->route->api >= 0)
        calls_req_fini(&req->u.call);
}
