#include "runner.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "probe_result.h"
#include "template.h"
#include "text.h"

#define TLS_CACHE_MAX 64       /* hosts whose certificate expiry is remembered */
#define EXCERPT_MAX 300        /* bytes of a response shown in a failure */

/* curl reports a certificate only when a connection is made, not when one is reused, so
 * the expiry seen at the handshake is kept per host:port for later steps. */
struct tls_seen {
    char hostport[300];
    long long expiry;          /* Unix seconds */
};

struct runner;

struct run {
    struct runner *r;
    const struct journey *j;
    int iteration;
    size_t row;                /* 1-based row of o->rows, 0 without rows */
    CURL *easy;
    curl_mime *mime;           /* a multipart body of the step in progress */
    json_t *request;           /* with o->record: what was sent, as the result shows it */
    json_t *vars;              /* variables and captures of this run */
    size_t step;               /* index of the step in progress */
    long attempt;              /* attempts already made of this step */
    int64_t ready_at;          /* monotonic us when the next attempt may start */
    int in_flight, done;
    struct buf body;
    struct curl_slist *hdrs;
    char *url, *payload;
    size_t payload_len;
    int body_overflow;
    json_t *result;            /* the journey result */
    json_t *steps;             /* its "steps" array (borrowed from result) */
    char trace_id[33], span_id[17];
    char errbuf[CURL_ERROR_SIZE];
    int64_t started;
    long long started_ms;
};

struct runner {
    const struct runner_opts *o;
    CURLM *multi;
    CURL **pool;               /* idle easy handles */
    size_t npool;
    char **secrets;            /* values of every {{secret.NAME}} used */
    size_t nsecrets;
    struct tls_seen tls[TLS_CACHE_MAX];
    size_t ntls;
    runner_step_fn on_step;
    void *ctx;
};

/* Monotonic microseconds, for a run's timings and waits (clock.h). */
static int64_t now_us(void)
{
    return (int64_t)(clock_mono_ms() * 1000.0);
}

static void random_hex(char *dst, size_t nbytes)
{
    unsigned char b[32];
    if (RAND_bytes(b, (int)nbytes) != 1) {
        for (size_t i = 0; i < nbytes; i++)
            b[i] = (unsigned char)rand();
    }
    for (size_t i = 0; i < nbytes; i++)
        snprintf(dst + 2 * i, 3, "%02x", b[i]);
}

static void new_uuid(char *dst)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(dst, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
}

static long long random_between(long long lo, long long hi)
{
    uint64_t r;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint64_t)rand();
    return lo + (long long)(r % (uint64_t)(hi - lo + 1));
}

/* The template lookup of a run: built-ins first, then the run's variables. */
static json_t *lookup(void *ctx, const char *name)
{
    struct run *run = ctx;
    if (strncmp(name, "env.", 4) == 0 || strncmp(name, "secret.", 7) == 0) {
        const char *v = getenv(strchr(name, '.') + 1);
        return v ? json_string(v) : NULL;
    }
    if (strcmp(name, "uuid") == 0) {
        char u[37];
        new_uuid(u);
        return json_string(u);
    }
    if (strcmp(name, "now_ms") == 0)
        return json_integer(clock_wall_ms());
    if (strcmp(name, "now_s") == 0)
        return json_integer(clock_wall_ms() / 1000);
    if (strcmp(name, "random_int") == 0)
        return json_integer(random_between(0, INT_MAX));
    if (strncmp(name, "random_int:", 11) == 0) {
        long long lo, hi;
        char tail;
        if (sscanf(name + 11, "%lld:%lld%c", &lo, &hi, &tail) == 2 && lo <= hi)
            return json_integer(random_between(lo, hi));
        return NULL;
    }
    json_t *v = json_object_get(run->vars, name);
    return v ? json_incref(v) : NULL;
}

/* A new string: the first RUNNER_RECORD_BODY_MAX bytes of s (len bytes), secrets masked
 * before the cut so that no part of one is left at the edge. */
static json_t *recorded_text(const struct runner *r, const char *s, size_t len)
{
    char *m = r->nsecrets ? text_mask(s, (const char *const *)r->secrets, r->nsecrets) : NULL;
    char *e = m ? text_excerpt(m, strlen(m), RUNNER_RECORD_BODY_MAX)
                : text_excerpt(s, len, RUNNER_RECORD_BODY_MAX);
    json_t *v = json_string(e ? e : "");
    free(m);
    free(e);
    return v;
}

/* Masks every secret inside v (strings in objects and arrays), in place. */
static void mask_json(struct runner *r, json_t *v)
{
    if (!r->nsecrets)
        return;
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            if (json_is_string(item)) {
                char *m = text_mask(json_string_value(item), (const char *const *)r->secrets,
                                    r->nsecrets);
                json_array_set_new(v, i, json_string(m ? m : "***"));
                free(m);
            } else {
                mask_json(r, item);
            }
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item) {
            if (json_is_string(item)) {
                char *m = text_mask(json_string_value(item), (const char *const *)r->secrets,
                                    r->nsecrets);
                json_object_set_new(v, key, json_string(m ? m : "***"));
                free(m);
            } else {
                mask_json(r, item);
            }
        }
    }
}

static void add_failure(json_t *failures, const char *check, const char *expected,
                        const char *actual, const char *message)
{
    json_t *f = json_object();
    json_object_set_new(f, "check", json_string(check));
    if (expected)
        json_object_set_new(f, "expected", json_string(expected));
    if (actual)
        json_object_set_new(f, "actual", json_string(actual));
    json_object_set_new(f, "message", json_string(message));
    json_array_append_new(failures, f);
}

static void add_miss(json_t *failures, const char *check, const struct predicate_miss *m)
{
    add_failure(failures, check, m->expected, m->actual, m->message);
}

static json_t *excerpt_json(const char *s, size_t len)
{
    char *e = text_excerpt(s, len, EXCERPT_MAX);
    json_t *v = json_string(e ? e : "");
    free(e);
    return v;
}

/* Reports a check that needed a JSON body and got something else. */
static void add_not_json(const struct run *run, json_t *failures, const char *check,
                         const char *why)
{
    json_t *ex = excerpt_json(run->body.data ? run->body.data : "", run->body.len);
    add_failure(failures, check, "a JSON body", json_string_value(ex), why);
    json_decref(ex);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct run *run = ctx;
    if (buf_append(&run->body, p, size * n) < 0) {
        run->body_overflow = 1;
        return 0;
    }
    return size * n;
}

static int has_header(const json_t *headers, const char *name)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)headers, key, v)
        if (strcasecmp(key, name) == 0)
            return 1;
    return 0;
}

/* Renders a form or query object as name=value pairs joined by '&', URL-encoded. */
static char *encode_pairs(struct run *run, const json_t *obj, const char *what,
                          char *err, size_t errlen)
{
    struct buf b;
    const char *key;
    json_t *v;

    buf_init(&b, 0);
    buf_puts(&b, "");
    json_object_foreach((json_t *)obj, key, v) {
        char msg[256];
        char *val = template_render(json_string_value(v), lookup, run, msg, sizeof msg);
        if (!val) {
            snprintf(err, errlen, "%s in request.%s.%s", msg, what, key);
            buf_fini(&b);
            return NULL;
        }
        char *k = curl_easy_escape(run->easy, key, 0);
        char *e = curl_easy_escape(run->easy, val, 0);
        buf_printf(&b, "%s%s=%s", b.len ? "&" : "", k ? k : "", e ? e : "");
        curl_free(k);
        curl_free(e);
        free(val);
    }
    return buf_steal(&b);
}

/* Builds the multipart body of step s with libcurl's mime API (curl_mime_init(3)): a
 * file part streams the file, named after it unless "filename" says otherwise. With
 * o->record, run->payload gets a readable summary of the parts (never sent). */
static int render_multipart(struct run *run, const struct step *s, char *err, size_t errlen)
{
    struct buf sum;
    size_t i;
    json_t *p;
    int rc = -1;

    buf_init(&sum, 0);
    buf_puts(&sum, "");
    if (!(run->mime = curl_mime_init(run->easy))) {
        snprintf(err, errlen, "cannot build the multipart body (out of memory)");
        goto out;
    }
    json_array_foreach(s->body, i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *file = json_string_value(json_object_get(p, "file"));
        const char *type = json_string_value(json_object_get(p, "content_type"));
        const char *fname = json_string_value(json_object_get(p, "filename"));
        curl_mimepart *part = curl_mime_addpart(run->mime);
        CURLcode cc = part ? curl_mime_name(part, name) : CURLE_OUT_OF_MEMORY;
        if (cc == CURLE_OK && file) {
            cc = curl_mime_filedata(part, file);
            buf_printf(&sum, "%s=@%s", name, file);
        } else if (cc == CURLE_OK) {
            char msg[256];
            char *val = template_render(json_string_value(json_object_get(p, "value")), lookup,
                                        run, msg, sizeof msg);
            if (!val) {
                snprintf(err, errlen, "%s in request.multipart[%zu].value", msg, i);
                goto out;
            }
            cc = curl_mime_data(part, val, CURL_ZERO_TERMINATED);
            buf_printf(&sum, "%s=%s", name, val);
            free(val);
        }
        if (cc == CURLE_OK && fname)
            cc = curl_mime_filename(part, fname);
        if (cc == CURLE_OK && type)
            cc = curl_mime_type(part, type);
        if (cc != CURLE_OK) {
            snprintf(err, errlen, "multipart part \"%s\": %s", name, curl_easy_strerror(cc));
            goto out;
        }
        buf_printf(&sum, "%s%s%s\n", type ? " (" : "", type ? type : "", type ? ")" : "");
    }
    if (run->r->o->record)
        run->payload = buf_steal(&sum);
    rc = 0;
out:
    buf_fini(&sum);
    return rc;
}

/* Keeps what is about to be sent (headers and body excerpt) for the step's result. */
static void record_request(struct run *run)
{
    json_t *hdrs = json_array();
    /* "Name:" with nothing after it tells curl not to send that header: not shown. */
    for (struct curl_slist *l = run->hdrs; l; l = l->next) {
        size_t n = strlen(l->data);
        if (n && l->data[n - 1] != ':')
            json_array_append_new(hdrs, json_string(l->data));
    }
    run->request = json_pack("{s:o}", "headers", hdrs);
    if (run->payload)
        json_object_set_new(run->request, "body",
                            recorded_text(run->r, run->payload, strlen(run->payload)));
}

/* Applies an include's variables and renders the request of the current step into the
 * run (url, headers, payload). Returns 0, or -1 with the reason in err. */
static int render_request(struct run *run, const struct step *s, char *err, size_t errlen)
{
    char msg[256];
    const char *key;
    json_t *v;

    if (run->attempt == 0 && s->set_vars) {
        size_t i;
        json_t *obj;
        json_array_foreach(s->set_vars, i, obj) {
            json_object_foreach(obj, key, v) {
                json_t *val = template_render_json(v, lookup, run, msg, sizeof msg);
                if (!val) {
                    snprintf(err, errlen, "%s in include variable \"%s\"", msg, key);
                    return -1;
                }
                json_object_set_new(run->vars, key, val);
            }
        }
    }
    if (!(run->url = template_render(s->url, lookup, run, msg, sizeof msg))) {
        snprintf(err, errlen, "%s in request.url", msg);
        return -1;
    }
    /* libcurl would guess a scheme (http) for "host:port/path"; a journey says which. */
    if (strncasecmp(run->url, "http://", 7) != 0 && strncasecmp(run->url, "https://", 8) != 0) {
        snprintf(err, errlen, "the url \"%.200s\" does not start with http:// or https://",
                 run->url);
        return -1;
    }
    if (s->query && json_object_size(s->query)) {
        char *q = encode_pairs(run, s->query, "query", err, errlen);
        if (!q)
            return -1;
        struct buf u;
        buf_init(&u, 0);
        buf_printf(&u, "%s%s%s", run->url, strchr(run->url, '?') ? "&" : "?", q);
        free(q);
        free(run->url);
        run->url = buf_steal(&u);
    }
    json_object_foreach(s->headers, key, v) {
        char *val = template_render(json_string_value(v), lookup, run, msg, sizeof msg);
        char line[8192];
        if (!val) {
            snprintf(err, errlen, "%s in request.headers.%s", msg, key);
            return -1;
        }
        /* "Name;" is how curl is told to send a header with an empty value. */
        if (*val)
            snprintf(line, sizeof line, "%s: %s", key, val);
        else
            snprintf(line, sizeof line, "%s;", key);
        free(val);
        run->hdrs = curl_slist_append(run->hdrs, line);
    }
    if (s->body_kind == BODY_JSON || s->body_kind == BODY_GRAPHQL) {
        json_t *body = template_render_json(s->body, lookup, run, msg, sizeof msg);
        if (!body) {
            snprintf(err, errlen, "%s in request.%s", msg,
                     s->body_kind == BODY_JSON ? "json" : "graphql");
            return -1;
        }
        run->payload = json_dumps(body, JSON_ENCODE_ANY | JSON_COMPACT);
        json_decref(body);
        if (!has_header(s->headers, "Content-Type"))
            run->hdrs = curl_slist_append(run->hdrs, "Content-Type: application/json");
        /* GraphQL over HTTP, section "Accept": the new media type first, then JSON. */
        if (s->body_kind == BODY_GRAPHQL && !has_header(s->headers, "Accept"))
            run->hdrs = curl_slist_append(run->hdrs, "Accept: application/graphql-response+json,"
                                          " application/json");
    } else if (s->body_kind == BODY_MULTIPART) {
        if (render_multipart(run, s, err, errlen) < 0)
            return -1;
    } else if (s->body_kind == BODY_FORM) {
        if (!(run->payload = encode_pairs(run, s->body, "form", err, errlen)))
            return -1;
        if (!has_header(s->headers, "Content-Type"))
            run->hdrs = curl_slist_append(run->hdrs,
                                          "Content-Type: application/x-www-form-urlencoded");
    } else if (s->body_kind == BODY_RAW) {
        run->payload = template_render(json_string_value(s->body), lookup, run, msg, sizeof msg);
        if (!run->payload) {
            snprintf(err, errlen, "%s in request.body", msg);
            return -1;
        }
    }
    run->payload_len = run->payload ? strlen(run->payload) : 0;
    return 0;
}

/* The host of url, lower-cased, into dst (without port, user or brackets). */
static void url_host(const char *url, char *dst, size_t dstlen)
{
    CURLU *u = curl_url();
    char *host = NULL;
    dst[0] = '\0';
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        size_t n = strlen(host), o = 0;
        for (size_t i = 0; i < n && o + 1 < dstlen; i++)
            if (host[i] != '[' && host[i] != ']')
                dst[o++] = (char)tolower((unsigned char)host[i]);
        dst[o] = '\0';
    }
    curl_free(host);
    curl_url_cleanup(u);
}

/* 1 if the no_proxy list (libcurl's rule: "*", or names matched whole or as a domain
 * suffix, a leading dot ignored) excludes host. libcurl also takes CIDR ranges there
 * since 7.86; those are not matched here, so such a host is named as proxied. */
static int no_proxy_excludes(const char *list, const char *host)
{
    char entry[256];
    while (list && *list) {
        size_t n = strcspn(list, ", ");
        if (n > 0 && n < sizeof entry) {
            snprintf(entry, sizeof entry, "%.*s", (int)n, list);
            const char *e = entry[0] == '.' ? entry + 1 : entry;
            size_t el = strlen(e), hl = strlen(host);
            if (strcmp(entry, "*") == 0 || strcasecmp(e, host) == 0
                || (hl > el && host[hl - el - 1] == '.' && strcasecmp(host + hl - el, e) == 0))
                return 1;
        }
        list += n;
        list += strspn(list, ", ");
    }
    return 0;
}

void runner_proxy_text(const char *proxy, char *dst, size_t dstlen)
{
    const char *sep = strstr(proxy, "://");
    const char *start = sep ? sep + 3 : proxy;
    const char *at = strchr(start, '@');
    if (at && (size_t)(at - start) < strcspn(start, "/"))
        snprintf(dst, dstlen, "%.*s***%s", (int)(start - proxy), proxy, at);
    else
        snprintf(dst, dstlen, "%s", proxy);
}

int runner_proxy_for(const struct runner_opts *o, const char *url, char *dst, size_t dstlen)
{
    /* libcurl reads http_proxy only in lower case (HTTP_PROXY can be set by a CGI
     * client's Proxy header), the others in either. */
    static const char *const http_env[] = {"http_proxy", "all_proxy", "ALL_PROXY", NULL};
    static const char *const https_env[] = {"https_proxy", "HTTPS_PROXY", "all_proxy",
                                            "ALL_PROXY", NULL};
    const char *proxy = o->proxy, *from = "--proxy";
    char host[256];

    dst[0] = '\0';
    if (!proxy) {
        const char *const *names = strncasecmp(url, "https:", 6) == 0 ? https_env : http_env;
        for (int i = 0; names[i] && !proxy; i++) {
            const char *v = getenv(names[i]);
            if (v && *v) {
                proxy = v;
                from = names[i];
            }
        }
    }
    if (!proxy || !*proxy)
        return 0;
    const char *np = getenv("no_proxy");
    if (!np || !*np)
        np = getenv("NO_PROXY");
    url_host(url, host, sizeof host);
    if (np && no_proxy_excludes(np, host))
        return 0;
    char shown[512];
    runner_proxy_text(proxy, shown, sizeof shown);
    snprintf(dst, dstlen, "%s (from %s)", shown, from);
    return 1;
}

void runner_tls_options(CURL *e, const struct runner_opts *o)
{
    if (o->cacert)
        curl_easy_setopt(e, CURLOPT_CAINFO, o->cacert);
    if (o->cert)
        curl_easy_setopt(e, CURLOPT_SSLCERT, o->cert);
    if (o->key)
        curl_easy_setopt(e, CURLOPT_SSLKEY, o->key);
    if (o->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/* Sets what stays the same for every step of every run on a new easy handle. The handle
 * is never curl_easy_reset: that would drop the cookie engine turned on here. */
static void setup_handle(CURL *e, const struct runner_opts *o)
{
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil-probe/1");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     o->http11 ? (long)CURL_HTTP_VERSION_1_1 : (long)CURL_HTTP_VERSION_2TLS);
    runner_tls_options(e, o);
    if (o->resolve)
        curl_easy_setopt(e, CURLOPT_RESOLVE, o->resolve);
    if (o->connect_to)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, o->connect_to);
    if (o->proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, o->proxy);
}

/* Sets the options of one step; each is set every time, so nothing of the previous step
 * carries over but the cookies and the connections. */
static void configure(struct run *run, const struct step *s)
{
    CURL *e = run->easy;
    char tp[80];

    snprintf(tp, sizeof tp, "traceparent: 00-%s-%s-01", run->trace_id, run->span_id);
    run->hdrs = curl_slist_append(run->hdrs, tp);
    run->hdrs = curl_slist_append(run->hdrs, "Expect:");
    run->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, run->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, run->hdrs);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, (long)s->follow_redirects);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, s->max_redirects);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    if (s->body_kind == BODY_MULTIPART) {
        curl_easy_setopt(e, CURLOPT_MIMEPOST, run->mime);
        if (strcmp(s->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->method);
    } else if (s->body_kind != BODY_NONE || strcmp(s->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)run->payload_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, run->payload ? run->payload : "");
        if (strcmp(s->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->method);
    } else if (strcmp(s->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(s->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->method);
    }
}

static void clear_request(struct run *run)
{
    curl_slist_free_all(run->hdrs);
    run->hdrs = NULL;
    free(run->url);
    run->url = NULL;
    free(run->payload);
    run->payload = NULL;
    if (run->mime) {
        /* The handle keeps a reference to the mime tree: drop it before the tree. */
        if (run->easy)
            curl_easy_setopt(run->easy, CURLOPT_MIMEPOST, NULL);
        curl_mime_free(run->mime);
        run->mime = NULL;
    }
    json_decref(run->request);
    run->request = NULL;
    buf_reset(&run->body);
    run->body_overflow = 0;
}

static json_t *new_step_result(const struct run *run, const struct step *s, const char *result)
{
    json_t *r = json_object();
    json_object_set_new(r, "name", json_string(s->name));
    json_object_set_new(r, "index", json_integer((json_int_t)(run->step + 1)));
    json_object_set_new(r, "result", json_string(result));
    return r;
}

static void settle_step(struct run *run, json_t *res);

/* Starts the current step of run: renders it and hands it to curl, or settles it as
 * failed when it cannot be sent. */
static void start_step(struct run *run)
{
    const struct step *s = &run->j->steps[run->step];
    char err[512];

    random_hex(run->span_id, 8);
    if (render_request(run, s, err, sizeof err) < 0) {
        json_t *res = new_step_result(run, s, "failed");
        json_t *failures = json_array();
        json_object_set_new(res, "attempts", json_integer(run->attempt + 1));
        json_object_set_new(res, "method", json_string(s->method));
        if (run->url)
            json_object_set_new(res, "url", json_string(run->url));
        json_object_set_new(res, "status", json_integer(0));
        add_failure(failures, "request", NULL, NULL, err);
        json_object_set_new(res, "failures", failures);
        clear_request(run);
        settle_step(run, res);
        return;
    }
    configure(run, s);
    if (run->r->o->record)
        record_request(run);
    curl_multi_add_handle(run->r->multi, run->easy);
    run->in_flight = 1;
}

/* Parses curl's certificate "Expire date" ("Nov 28 02:16:40 2027 GMT"). */
static int parse_expiry(const char *s, long long *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%b %d %H:%M:%S %Y", &tm);
    if (!end)
        return -1;
    *out = (long long)timegm(&tm);
    return 0;
}

/* Finds the server certificate's expiry for this transfer: from curl's certinfo when the
 * connection was new, else as remembered for the host. Returns 0 or -1. */
static int cert_expiry(struct run *run, long long *expiry)
{
    struct runner *r = run->r;
    struct curl_certinfo *ci = NULL;
    char *eff = NULL, hostport[300];
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;

    curl_easy_getinfo(run->easy, CURLINFO_EFFECTIVE_URL, &eff);
    if (!u || !eff || curl_url_set(u, CURLUPART_URL, eff, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        curl_url_cleanup(u);
        return -1;
    }
    snprintf(hostport, sizeof hostport, "%s:%s", host, port);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);

    if (curl_easy_getinfo(run->easy, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci
        && ci->num_of_certs > 0) {
        for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
            if (strncmp(l->data, "Expire date:", 12) == 0 && parse_expiry(l->data + 12, expiry) == 0) {
                size_t i;
                for (i = 0; i < r->ntls && strcmp(r->tls[i].hostport, hostport); i++)
                    ;
                if (i == r->ntls && r->ntls < TLS_CACHE_MAX)
                    r->ntls++;
                if (i < TLS_CACHE_MAX) {
                    snprintf(r->tls[i].hostport, sizeof r->tls[i].hostport, "%s", hostport);
                    r->tls[i].expiry = *expiry;
                }
                return 0;
            }
        }
    }
    for (size_t i = 0; i < r->ntls; i++) {
        if (strcmp(r->tls[i].hostport, hostport) == 0) {
            *expiry = r->tls[i].expiry;
            return 0;
        }
    }
    return -1;
}

/* The value of a response header (the last one of that name), or NULL. */
static json_t *header_value(CURL *e, const char *name)
{
    struct curl_header *h;
    size_t amount;
    if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return NULL;
    amount = h->amount;
    if (amount > 1 && curl_easy_header(e, name, amount - 1, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return NULL;
    return json_string(h->value);
}

/* The value of a cookie in the run's jar, or NULL. Lines are Netscape format:
 * domain, flag, path, secure, expiry, name, value separated by tabs. */
static json_t *cookie_value(CURL *e, const char *name)
{
    struct curl_slist *list = NULL;
    json_t *out = NULL;
    if (curl_easy_getinfo(e, CURLINFO_COOKIELIST, &list) != CURLE_OK)
        return NULL;
    for (struct curl_slist *l = list; l; l = l->next) {
        const char *f = l->data;
        for (int i = 0; i < 5 && f; i++) {
            f = strchr(f, '\t');
            if (f)
                f++;
        }
        const char *tab = f ? strchr(f, '\t') : NULL;
        if (tab && (size_t)(tab - f) == strlen(name) && strncmp(f, name, strlen(name)) == 0)
            out = json_string(tab + 1);
    }
    curl_slist_free_all(list);
    return out;
}

static json_t *regex_value(const struct capture *c, const char *body)
{
    regmatch_t m[10];
    if (regexec(&c->re, body, 10, m, 0) != 0 || m[c->group].rm_so < 0)
        return NULL;
    return json_stringn(body + m[c->group].rm_so,
                        (size_t)(m[c->group].rm_eo - m[c->group].rm_so));
}

/* Parses the body as JSON once, on first need. On failure fills why and returns NULL. */
static const json_t *body_json(struct run *run, json_t **cache, int *tried, char *why,
                               size_t whylen)
{
    if (!*tried) {
        json_error_t je;
        *tried = 1;
        *cache = json_loadb(run->body.data ? run->body.data : "", run->body.len,
                            JSON_DECODE_ANY, &je);
        if (!*cache)
            snprintf(why, whylen, "the response is not JSON (%d:%d: %s)", je.line, je.column,
                     je.text);
    }
    return *cache;
}

static double ms(curl_off_t us)
{
    return (double)us / 1000.0;
}

/* Appends "; through proxy URL (from SOURCE)" to a failure message when the request went
 * through a proxy: the error (or the answer) may be the proxy's, not the server's. */
static void add_proxy_note(const struct run *run, char *why, size_t whylen)
{
    char proxy[600];
    size_t n = strlen(why);
    if (runner_proxy_for(run->r->o, run->url, proxy, sizeof proxy) && n < whylen)
        snprintf(why + n, whylen - n, "; through proxy %s", proxy);
}

/* A GraphQL response with a non-empty "errors" array failed (GraphQL spec, section
 * "Response": errors is present and non-empty when something went wrong) unless the step
 * expects errors, in which case a response without them fails. */
static void check_graphql(struct run *run, const struct step *s, json_t *failures,
                          json_t **parsed, int *tried)
{
    char why[600];
    const json_t *doc = body_json(run, parsed, tried, why, sizeof why);
    if (!doc) {
        add_not_json(run, failures, "graphql errors", why);
        return;
    }
    const json_t *errs = json_object_get(doc, "errors");
    size_t n = json_is_array(errs) ? json_array_size(errs) : 0;
    if (n && !s->graphql_errors) {
        const json_t *first = json_array_get(errs, 0);
        const char *m = json_string_value(json_object_get(first, "message"));
        char *text = m ? NULL : json_dumps(first, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(why, sizeof why, "the GraphQL response has %zu error(s), the first: %.400s",
                 n, m ? m : text ? text : "?");
        add_failure(failures, "graphql errors", "no errors", m ? m : text ? text : "?", why);
        free(text);
    } else if (!n && s->graphql_errors) {
        add_failure(failures, "graphql errors", "errors", "none",
                    "the step expects GraphQL errors (\"graphql_errors\": true) and the"
                    " response has none");
    }
}

/* Adds what was sent and what came back (headers, body excerpts) to a step result. */
static void record_exchange(struct run *run, json_t *res)
{
    struct curl_header *h, *prev = NULL;
    json_t *hdrs = json_array();
    char line[8300];
    if (run->request)
        json_object_set(res, "request", run->request);
    while ((h = curl_easy_nextheader(run->easy, CURLH_HEADER, -1, prev))) {
        snprintf(line, sizeof line, "%s: %s", h->name, h->value);
        json_array_append_new(hdrs, json_string(line));
        prev = h;
    }
    json_object_set_new(res, "response", json_pack("{s:o,s:o}", "headers", hdrs, "body",
        recorded_text(run->r, run->body.data ? run->body.data : "", run->body.len)));
}

/* Checks the finished transfer of the current step and settles or retries it. */
static void finish_step(struct run *run, CURLcode rc)
{
    const struct step *s = &run->j->steps[run->step];
    CURL *e = run->easy;
    json_t *res = new_step_result(run, s, "passed");
    json_t *failures = json_array();
    json_t *parsed = NULL, *captured = json_object();
    int tried = 0, https = strncasecmp(run->url, "https:", 6) == 0;
    long status = 0, version = 0;
    curl_off_t t_dns = 0, t_conn = 0, t_tls = 0, t_ttfb = 0, t_total = 0, size = 0;
    char why[600], want[64], got[64];
    struct predicate_miss miss;

    curl_multi_remove_handle(run->r->multi, e);
    run->in_flight = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &t_dns);
    curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t_conn);
    curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &t_tls);
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t_ttfb);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t_total);
    curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &size);

    json_object_set_new(res, "attempts", json_integer(run->attempt + 1));
    json_object_set_new(res, "method", json_string(s->method));
    json_object_set_new(res, "url", json_string(run->url));
    json_object_set_new(res, "status", json_integer(status));
    json_object_set_new(res, "http_version", json_string(
        version == CURL_HTTP_VERSION_1_0 ? "1.0" : version == CURL_HTTP_VERSION_1_1 ? "1.1"
        : version == CURL_HTTP_VERSION_2_0 ? "2" : version == CURL_HTTP_VERSION_3 ? "3" : ""));
    json_object_set_new(res, "size_bytes", json_integer((json_int_t)size));
    json_object_set_new(res, "span_id", json_string(run->span_id));
    snprintf(why, sizeof why, "00-%s-%s-01", run->trace_id, run->span_id);
    json_object_set_new(res, "traceparent", json_string(why));
    /* curl's times are cumulative from the start; the phases are their differences. */
    json_object_set_new(res, "timings_ms", json_pack("{s:f,s:f,s:f,s:f,s:f}",
        "dns", ms(t_dns),
        "connect", t_conn > t_dns ? ms(t_conn - t_dns) : 0.0,
        "tls", t_tls > t_conn ? ms(t_tls - t_conn) : 0.0,
        "ttfb", ms(t_ttfb),
        "total", ms(t_total)));

    long long expiry = 0;
    int have_expiry = https && rc == CURLE_OK && cert_expiry(run, &expiry) == 0;
    double days = have_expiry ? (double)(expiry - clock_wall_ms() / 1000) / 86400.0 : 0;
    if (have_expiry) {
        char when[32];
        time_t t = (time_t)expiry;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(res, "tls", json_pack("{s:s,s:f}", "cert_expiry", when,
                                                  "days_to_expiry", floor(days * 10) / 10));
    }

    if (rc != CURLE_OK) {
        snprintf(why, sizeof why, "%s%s%s", curl_easy_strerror(rc), run->errbuf[0] ? ": " : "",
                 run->errbuf);
        if (run->body_overflow)
            snprintf(why, sizeof why, "response body larger than %zu bytes (--max-body)",
                     run->r->o->max_body);
        else
            add_proxy_note(run, why, sizeof why);
        add_failure(failures, "request", NULL, NULL, why);
        goto settle;
    }

    int status_ok = 0;
    for (size_t i = 0; i < s->nstatus; i++)
        status_ok |= status >= s->status[i].lo && status <= s->status[i].hi;
    if (!status_ok) {
        char exp[128];
        journey_status_text(s, exp, sizeof exp);
        snprintf(got, sizeof got, "%ld", status);
        json_t *ex = excerpt_json(run->body.data ? run->body.data : "", run->body.len);
        snprintf(why, sizeof why, "expected %s, got %ld; body: %s", exp, status,
                 json_string_value(ex));
        json_decref(ex);
        add_proxy_note(run, why, sizeof why);
        add_failure(failures, "status", exp, got, why);
    }
    if (s->max_ms >= 0 && ms(t_total) > s->max_ms) {
        snprintf(want, sizeof want, "<= %g ms", s->max_ms);
        snprintf(got, sizeof got, "%.1f ms", ms(t_total));
        snprintf(why, sizeof why, "took %.1f ms, over the %g ms limit", ms(t_total), s->max_ms);
        add_failure(failures, "max_ms", want, got, why);
    }
    for (size_t i = 0; i < s->nheader_checks; i++) {
        const struct check *c = &s->header_checks[i];
        json_t *v = header_value(e, c->what);
        if (!predicate_eval(c->pred, v, 1, &miss)) {
            char check[300];
            snprintf(check, sizeof check, "header %s", c->what);
            add_miss(failures, check, &miss);
        }
        json_decref(v);
    }
    if (s->body_pred) {
        json_t *v = json_stringn_nocheck(run->body.data ? run->body.data : "", run->body.len);
        if (!predicate_eval(s->body_pred, v, 1, &miss))
            add_miss(failures, "body", &miss);
        json_decref(v);
    }
    for (size_t i = 0; i < s->njson_checks; i++) {
        const struct check *c = &s->json_checks[i];
        char check[300];
        snprintf(check, sizeof check, "json %s", c->what);
        const json_t *doc = body_json(run, &parsed, &tried, why, sizeof why);
        if (!doc) {
            add_not_json(run, failures, check, why);
            continue;
        }
        json_t *v;
        if (jsonpath_value(c->path, doc, &v, why, sizeof why) < 0) {
            add_failure(failures, check, "a result", "none", why);
            continue;
        }
        if (!predicate_eval(c->pred, v, 0, &miss))
            add_miss(failures, check, &miss);
        json_decref(v);
    }
    if (s->body_kind == BODY_GRAPHQL)
        check_graphql(run, s, failures, &parsed, &tried);
    if (s->tls_days) {
        if (!https || !have_expiry) {
            add_failure(failures, "tls.days_to_expiry", "a server certificate", "none",
                        https ? "no server certificate was seen" : "not an https request");
        } else {
            json_t *v = json_real(floor(days * 10) / 10);
            if (!predicate_eval(s->tls_days, v, 0, &miss))
                add_miss(failures, "tls.days_to_expiry", &miss);
            json_decref(v);
        }
    }
    /* Captures are taken only from a response that met every expectation. */
    for (size_t i = 0; json_array_size(failures) == 0 && i < s->ncaptures; i++) {
        const struct capture *c = &s->captures[i];
        json_t *v = NULL;
        char check[300];
        snprintf(check, sizeof check, "capture %s", c->name);
        switch (c->kind) {
        case CAP_JSON: {
            const json_t *doc = body_json(run, &parsed, &tried, why, sizeof why);
            if (!doc) {
                add_not_json(run, failures, check, why);
                continue;
            }
            if (jsonpath_value(c->path, doc, &v, why, sizeof why) < 0) {
                add_failure(failures, check, "a value", "none", why);
                continue;
            }
            break;
        }
        case CAP_HEADER:
            v = header_value(e, c->arg);
            break;
        case CAP_COOKIE:
            v = cookie_value(e, c->arg);
            break;
        case CAP_REGEX:
            v = regex_value(c, run->body.data ? run->body.data : "");
            break;
        case CAP_STATUS:
            v = json_integer(status);
            break;
        }
        if (!v) {
            snprintf(why, sizeof why, "capture \"%s\": %s %s matched nothing", c->name,
                     c->kind == CAP_JSON ? "JSONPath" : c->kind == CAP_HEADER ? "header"
                     : c->kind == CAP_COOKIE ? "cookie" : "regex", c->arg);
            add_failure(failures, check, "a value", "nothing", why);
            continue;
        }
        json_object_set_new(captured, c->name, v);
    }
settle:
    if (run->r->o->record)
        record_exchange(run, res);
    json_decref(parsed);
    if (json_array_size(failures) == 0) {
        json_object_update(run->vars, captured);
        if (json_object_size(captured))
            json_object_set(res, "captures", captured);
    } else {
        json_object_set_new(res, "result", json_string("failed"));
    }
    json_decref(captured);
    json_object_set_new(res, "failures", failures);
    clear_request(run);
    settle_step(run, res);
}

static void finish_run(struct run *run)
{
    int64_t dur = now_us() - run->started;
    size_t i;
    json_t *st;
    int passed = 1;
    json_array_foreach(run->steps, i, st)
        passed &= strcmp(json_string_value(json_object_get(st, "result")), "passed") == 0;
    json_object_set_new(run->result, "passed", json_boolean(passed));
    json_object_set_new(run->result, "duration_ms", json_real((double)dur / 1000.0));
    run->done = 1;
    /* The handle goes back to the pool with this run's cookies erased. */
    curl_easy_setopt(run->easy, CURLOPT_COOKIELIST, "ALL");
    run->r->pool[run->r->npool++] = run->easy;
    run->easy = NULL;
    json_decref(run->vars);
    run->vars = NULL;
    buf_fini(&run->body);
}

/* Records the outcome of one attempt at the current step: retries a failure while
 * attempts remain; otherwise reports the step and moves on (or ends the run). */
static void settle_step(struct run *run, json_t *res)
{
    const struct journey *j = run->j;
    const struct step *s = &j->steps[run->step];
    int failed = strcmp(json_string_value(json_object_get(res, "result")), "passed") != 0;

    if (failed && run->attempt < s->retries) {
        double wait = (double)s->retry_interval_ms * pow(s->retry_backoff, (double)run->attempt);
        run->attempt++;
        run->ready_at = now_us() + (int64_t)(wait * 1000.0);
        json_decref(res);
        return;
    }
    mask_json(run->r, res);
    json_array_append_new(run->steps, res);
    run->r->on_step(run->r->ctx, run->result, res);
    run->step++;
    run->attempt = 0;
    if (failed) {
        for (; run->step < j->nsteps; run->step++) {
            json_t *skip = new_step_result(run, &j->steps[run->step], "skipped");
            json_array_append_new(run->steps, skip);
            run->r->on_step(run->r->ctx, run->result, skip);
        }
    }
    if (run->step >= j->nsteps) {
        finish_run(run);
        return;
    }
    run->ready_at = now_us() + (int64_t)j->steps[run->step].wait_ms * 1000;
}

static int start_run(struct runner *r, struct run *run)
{
    char when[40];
    if (r->npool) {
        run->easy = r->pool[--r->npool];
    } else {
        if (!(run->easy = curl_easy_init()))
            return -1;
        setup_handle(run->easy, r->o);
    }
    curl_easy_setopt(run->easy, CURLOPT_PRIVATE, run);
    curl_easy_setopt(run->easy, CURLOPT_WRITEDATA, run);
    curl_easy_setopt(run->easy, CURLOPT_ERRORBUFFER, run->errbuf);
    run->vars = json_deep_copy(run->j->variables);
    json_object_update(run->vars, r->o->vars);
    if (run->row)
        json_object_update(run->vars, json_array_get(r->o->rows, run->row - 1));
    buf_init(&run->body, r->o->max_body);
    random_hex(run->trace_id, 16);
    run->started = now_us();
    run->started_ms = clock_wall_ms();
    run->ready_at = run->started + (int64_t)run->j->steps[0].wait_ms * 1000;
    text_rfc3339(when, sizeof when, run->started_ms);
    run->result = json_pack("{s:s,s:s,s:i,s:s,s:s,s:b,s:[]}",
                            "name", run->j->name, "file", run->j->file,
                            "iteration", run->iteration, "trace_id", run->trace_id,
                            "started_at", when, "passed", 0, "steps");
    run->steps = json_object_get(run->result, "steps");
    if (run->row)
        json_object_set_new(run->result, "row", json_integer((json_int_t)run->row));
    return 0;
}

static void collect_secrets(struct runner *r, struct journey *const *js, size_t n)
{
    for (size_t i = 0; i < r->o->nsecrets; i++) {
        char **list = realloc(r->secrets, (r->nsecrets + 1) * sizeof *list);
        if (!list)
            return;
        r->secrets = list;
        if (*r->o->secrets[i] && (list[r->nsecrets] = strdup(r->o->secrets[i])))
            r->nsecrets++;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < js[i]->nsecret_names; k++) {
            const char *v = getenv(js[i]->secret_names[k]);
            if (!v || !*v)
                continue;
            char **list = realloc(r->secrets, (r->nsecrets + 1) * sizeof *list);
            if (!list)
                return;
            r->secrets = list;
            if ((list[r->nsecrets] = strdup(v)))
                r->nsecrets++;
        }
    }
}

/* Builds the document around the journey results, in the order the runs were made. */
static json_t *document(struct runner *r, struct run *runs, size_t nruns, long long started_ms,
                        int64_t started)
{
    char id[37], when[40];
    size_t steps = 0, sp = 0, sf = 0, ss = 0, jp = 0;
    json_t *journeys = json_array();

    for (size_t i = 0; i < nruns; i++) {
        size_t k;
        json_t *st;
        json_array_foreach(runs[i].steps, k, st) {
            const char *res = json_string_value(json_object_get(st, "result"));
            steps++;
            sp += strcmp(res, "passed") == 0;
            sf += strcmp(res, "failed") == 0;
            ss += strcmp(res, "skipped") == 0;
        }
        jp += json_is_true(json_object_get(runs[i].result, "passed"));
        json_array_append(journeys, runs[i].result);
    }
    new_uuid(id);
    text_rfc3339(when, sizeof when, started_ms);
    return json_pack("{s:s,s:s,s:s,s:f,s:b,s:O,s:b,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:o}",
        "schema", PROBE_RESULT_SCHEMA, "run_id", id, "started_at", when,
        "duration_ms", (double)(now_us() - started) / 1000.0,
        "passed", nruns > 0 && jp == nruns, "labels", r->o->labels,
        "insecure", r->o->insecure,
        "summary", "journeys", (json_int_t)nruns, "journeys_passed", (json_int_t)jp,
        "steps", (json_int_t)steps, "steps_passed", (json_int_t)sp,
        "steps_failed", (json_int_t)sf, "steps_skipped", (json_int_t)ss,
        "journeys", journeys);
}

json_t *runner_run(struct journey *const *js, size_t n, const struct runner_opts *o,
                   runner_step_fn on_step, void *ctx, char *err, size_t errlen)
{
    struct runner r = {.o = o, .on_step = on_step, .ctx = ctx};
    size_t nrows = o->rows ? json_array_size(o->rows) : 0;
    size_t per = (size_t)o->repeat * (nrows ? nrows : 1);
    size_t nruns = n * per, next = 0, active = 0;
    struct run *runs = nruns <= RUNNER_RUNS_MAX ? calloc(nruns ? nruns : 1, sizeof *runs) : NULL;
    long long started_ms = clock_wall_ms();
    int64_t started = now_us();
    json_t *doc = NULL;

    if (nruns > RUNNER_RUNS_MAX) {
        snprintf(err, errlen, "%zu journey runs (journeys x --repeat x --data rows) is more than"
                 " %d", nruns, RUNNER_RUNS_MAX);
        free(runs);
        return NULL;
    }
    r.multi = curl_multi_init();
    r.pool = calloc((size_t)o->parallel, sizeof *r.pool);
    if (!runs || !r.multi || !r.pool) {
        snprintf(err, errlen, "cannot set up libcurl");
        goto out;
    }
    collect_secrets(&r, js, n);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < per; k++) {
            struct run *run = &runs[i * per + k];
            run->r = &r;
            run->j = js[i];
            run->row = nrows ? k / (size_t)o->repeat + 1 : 0;
            run->iteration = (int)(k % (size_t)o->repeat) + 1;
        }
    }

    for (;;) {
        while (active < (size_t)o->parallel && next < nruns) {
            if (start_run(&r, &runs[next]) < 0) {
                snprintf(err, errlen, "cannot set up libcurl");
                goto out;
            }
            next++;
            active++;
        }
        /* Start every step that is due; one that fails at once may make the next due. */
        int64_t now = now_us(), wake = now + 1000000;
        for (size_t i = 0; i < next; i++) {
            struct run *run = &runs[i];
            while (!run->done && !run->in_flight && run->ready_at <= now) {
                start_step(run);
                if (run->done)
                    active--;
            }
            if (!run->done && !run->in_flight && run->ready_at < wake)
                wake = run->ready_at;
        }
        if (active == 0 && next == nruns)
            break;
        int running;
        curl_multi_perform(r.multi, &running);
        CURLMsg *m;
        int left, settled = 0;
        while ((m = curl_multi_info_read(r.multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct run *run;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&run);
            finish_step(run, m->data.result);
            settled = 1;
            if (run->done)
                active--;
        }
        if (active == 0 && next == nruns)
            break;
        /* A settled step may have made its run's next step due at once. */
        if (settled)
            continue;
        now = now_us();
        int timeout = wake > now ? (int)((wake - now + 999) / 1000) : 0;
        curl_multi_poll(r.multi, NULL, 0, timeout, NULL);
    }
    doc = document(&r, runs, nruns, started_ms, started);
out:
    for (size_t i = 0; runs && i < nruns; i++) {
        if (runs[i].in_flight)
            curl_multi_remove_handle(r.multi, runs[i].easy);
        json_decref(runs[i].result);
        json_decref(runs[i].vars);
        if (runs[i].easy)
            curl_easy_cleanup(runs[i].easy);
        buf_fini(&runs[i].body);
        clear_request(&runs[i]);
    }
    for (size_t i = 0; i < r.npool; i++)
        curl_easy_cleanup(r.pool[i]);
    free(r.pool);
    curl_multi_cleanup(r.multi);
    for (size_t i = 0; i < r.nsecrets; i++)
        free(r.secrets[i]);
    free(r.secrets);
    free(runs);
    return doc;
}
