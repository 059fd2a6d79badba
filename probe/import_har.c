#include "import_har.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "journey.h"

#define PTR_MAX 512

/* Headers a journey does not send as recorded: HTTP/2 pseudo-headers and what libcurl
 * sets itself (Host, Content-Length, Connection), what would change the answer from the
 * one recorded (conditional requests, Accept-Encoding that libcurl might not decode), and
 * the browser's own fetch metadata and client hints. */
static int dropped_header(const char *name)
{
    static const char *const names[] = {
        "host", "content-length", "connection", "keep-alive", "accept-encoding", "te",
        "transfer-encoding", "upgrade", "if-none-match", "if-modified-since", "if-match",
        "if-unmodified-since", "if-range", "upgrade-insecure-requests", "priority", NULL
    };
    if (name[0] == ':' || !strncasecmp(name, "sec-", 4))
        return 1;
    for (int i = 0; names[i]; i++)
        if (!strcasecmp(name, names[i]))
            return 1;
    return 0;
}

static const char *header(const json_t *headers, const char *name)
{
    size_t i;
    json_t *h;
    json_array_foreach(headers, i, h) {
        const char *n = json_string_value(json_object_get(h, "name"));
        if (n && !strcasecmp(n, name))
            return json_string_value(json_object_get(h, "value"));
    }
    return NULL;
}

/* What kind of request an entry is: Chrome and Playwright write _resourceType; Firefox
 * does not, but its requests carry Sec-Fetch-Dest (Fetch Metadata); an older browser's
 * leave the response's media type. Returns a static string: "document", "fetch",
 * "preflight", or the kind of asset ("image", "script", ...). */
static const char *kind(const json_t *e)
{
    const json_t *req = json_object_get(e, "request");
    const char *rt = json_string_value(json_object_get(e, "_resourceType"));
    static const char *const keep[] = {"document", "xhr", "fetch", "preflight", NULL};
    static char other[32];
    if (rt) {
        for (int i = 0; keep[i]; i++)
            if (!strcasecmp(rt, keep[i]))
                return i == 1 ? "fetch" : keep[i];
        snprintf(other, sizeof other, "%.20s", rt);
        for (char *p = other; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        return other;
    }
    const char *method = json_string_value(json_object_get(req, "method"));
    if (method && !strcmp(method, "OPTIONS") && header(json_object_get(req, "headers"),
                                                         "Access-Control-Request-Method"))
        return "preflight";
    const char *dest = header(json_object_get(req, "headers"), "Sec-Fetch-Dest");
    if (dest) {
        if (!strcmp(dest, "document") || !strcmp(dest, "iframe"))
            return "document";
        if (!strcmp(dest, "empty"))
            return "fetch";
        snprintf(other, sizeof other, "%.20s", dest);
        return other;
    }
    const char *mime = json_string_value(json_object_get(json_object_get(json_object_get(e, "response"),
                                                                         "content"), "mimeType"));
    if (!mime || strstr(mime, "html"))
        return "document";
    if (strstr(mime, "json") || strstr(mime, "xml") || strstr(mime, "text/plain"))
        return "fetch";
    return strstr(mime, "image") ? "image" : strstr(mime, "css") ? "stylesheet"
         : strstr(mime, "javascript") ? "script" : strstr(mime, "font") ? "font" : "other";
}

/* Finds the string want inside v; writes its JSONPath ("$['token']", "$['data'][0]['id']")
 * into path and the last member's name into key. Returns 1 if found. */
static int find_string(const json_t *v, const char *want, char *path, size_t pathlen,
                       char *key, size_t keylen, int depth)
{
    size_t n = strlen(path);
    if (json_is_string(v))
        return strcmp(json_string_value(v), want) == 0;
    if (depth > 16 || n + 16 >= pathlen)
        return 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            if (strchr(k, '\'') || n + strlen(k) + 5 >= pathlen)
                continue;
            snprintf(path + n, pathlen - n, "['%s']", k);
            if (find_string(e, want, path, pathlen, key, keylen, depth + 1)) {
                if (!key[0])
                    snprintf(key, keylen, "%s", k);
                return 1;
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (i >= 100)
                break;
            snprintf(path + n, pathlen - n, "[%zu]", i);
            if (find_string(e, want, path, pathlen, key, keylen, depth + 1))
                return 1;
        }
    }
    path[n] = '\0';
    return 0;
}

/* A credential the page got from an earlier response (a token from the login's JSON
 * body) is captured there and used as {{name}}, so the journey logs in itself rather than
 * replaying a token that expires. bodies holds the parsed JSON body of each step so far
 * (null when none). Returns the header's new value, or NULL when no earlier step gave it. */
static json_t *correlate(struct import_ctx *c, json_t *j, const json_t *bodies, const char *value,
                         const char *ptr, const char *where)
{
    size_t skip = strncasecmp(value, "Bearer ", 7) == 0 ? 7 : 0;
    const char *token = value + skip;
    if (strlen(token) < 8)
        return NULL;
    for (size_t k = json_array_size(bodies); k-- > 0;) {
        char path[512] = "$", key[128] = "", name[160], text[300];
        if (!find_string(json_array_get(bodies, k), token, path, sizeof path, key, sizeof key, 0))
            continue;
        json_t *step = json_array_get(json_object_get(j, "steps"), k);
        json_t *cap = json_object_get(step, "capture");
        if (!cap) {
            cap = json_object();
            json_object_set_new(step, "capture", cap);
        }
        size_t n = 0;
        for (const char *p = key; *p && n + 1 < sizeof name; p++)
            name[n++] = isalnum((unsigned char)*p) || *p == '_' ? *p : '_';
        name[n] = '\0';
        if (!n || !strcmp(name, "base"))
            snprintf(name, sizeof name, "token");
        json_object_set_new(cap, name, json_pack("{s:s}", "json", path));
        import_note(c, ptr, "%s: the value step %zu's response gave (%s) is captured there as"
                    " {{%s}}", where, k + 1, path, name);
        snprintf(text, sizeof text, "%.*s{{%s}}", (int)skip, value, name);
        return json_string(text);
    }
    return NULL;
}

/* The JSON body of an entry's response, or null. */
static json_t *response_json(const json_t *e)
{
    const json_t *content = json_object_get(json_object_get(e, "response"), "content");
    const char *mime = json_string_value(json_object_get(content, "mimeType"));
    const char *text = json_string_value(json_object_get(content, "text"));
    const char *enc = json_string_value(json_object_get(content, "encoding"));
    json_t *v = mime && strstr(mime, "json") && text && !enc ? json_loads(text, JSON_DECODE_ANY, NULL)
                                                              : NULL;
    return v ? v : json_null();
}

/* One entry as a step of journey j. Returns 1 if a Cookie header was dropped. */
static int entry(struct import_ctx *c, json_t *j, json_t *bodies, const json_t *e, size_t idx,
                 const char *ptr)
{
    const json_t *req = json_object_get(e, "request");
    const char *method = json_string_value(json_object_get(req, "method"));
    const char *url = json_string_value(json_object_get(req, "url"));
    char origin[2048], where[600], at[PTR_MAX];
    int cookie = 0;

    snprintf(where, sizeof where, "entry %zu %s %.200s", idx + 1, method ? method : "?",
             url ? url : "?");
    jsonpos_child(at, sizeof at, ptr, "request");
    if (!method || !url) {
        import_skip(c, at, "entry %zu: no request method or url: not converted", idx + 1);
        return 0;
    }
    if (!journey_token_ok(method)) {
        import_skip(c, at, "%s: the method is not an HTTP method: not converted", where);
        return 0;
    }
    if (!import_split_origin(url, origin, sizeof origin)) {
        import_skip(c, at, "%s: not an http or https URL: not converted", where);
        return 0;
    }
    const char *k = kind(e);
    if (!strcmp(k, "preflight")) {
        import_note(c, at, "%s: the browser's CORS preflight, skipped", where);
        return 0;
    }
    if (strcmp(k, "document") && strcmp(k, "fetch") && !c->opts->all) {
        import_note(c, at, "%s: a static asset (%s), skipped (--all keeps it)", where, k);
        return 0;
    }
    const json_t *post = json_object_get(req, "postData");
    const char *text = json_string_value(json_object_get(post, "text"));
    int literal = import_literal_ok(url) && (!text || import_literal_ok(text));
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(req, "headers"), i, h) {
        const char *v = json_string_value(json_object_get(h, "value"));
        literal &= !v || import_literal_ok(v);
    }
    if (!literal) {
        import_skip(c, at, "%s: holds \"{{\", which a journey reads as a variable: not converted",
                    where);
        return 0;
    }

    json_t *r = json_object(), *hdrs = json_object();
    json_object_set_new(r, "method", json_string(method));
    json_object_set_new(r, "url", import_url(j, url));
    char ath[PTR_MAX], at2[PTR_MAX];
    jsonpos_child(ath, sizeof ath, at, "headers");
    json_array_foreach(json_object_get(req, "headers"), i, h) {
        const char *name = json_string_value(json_object_get(h, "name"));
        const char *v = json_string_value(json_object_get(h, "value"));
        snprintf(at2, sizeof at2, "%s/%zu", ath, i);
        if (!name || !v || dropped_header(name))
            continue;
        if (!journey_token_ok(name)) {
            import_skip(c, at2, "%s: header name \"%.60s\" is not a token: not converted", where, name);
            continue;
        }
        if (!strcasecmp(name, "Cookie")) {
            cookie = 1;
            continue;
        }
        const char *had;
        json_t *hv;
        int dup = 0;
        json_object_foreach(hdrs, had, hv)
            dup |= !strcasecmp(had, name);
        if (dup) {
            import_skip(c, at2, "%s: a second header %s: not converted", where, name);
            continue;
        }
        if (import_secret_header(name)) {
            char w[700];
            snprintf(w, sizeof w, "%s: header %s", where, name);
            json_t *cv = correlate(c, j, bodies, v, at2, w);
            json_object_set_new(hdrs, name, cv ? cv : import_secret(c, name, v, at2, 0, 0, w));
        } else {
            json_object_set_new(hdrs, name, json_string(v));
        }
    }
    if (json_object_size(hdrs))
        json_object_set(r, "headers", hdrs);
    const char *mime = json_string_value(json_object_get(post, "mimeType"));
    char atp[PTR_MAX];
    jsonpos_child(atp, sizeof atp, at, "postData");
    if (mime && strstr(mime, "multipart/form-data")) {
        import_skip(c, atp, "%s: multipart/form-data body not converted (a HAR keeps no file"
                    " contents)", where);
    } else if (text && *text) {
        import_set_body(r, text, mime);
        import_secret_fields(c, r, atp, 0, 0, where);
    } else if (post && json_array_size(json_object_get(post, "params"))) {
        import_skip(c, atp, "%s: a body of params without text: not converted", where);
    }
    json_t *step = json_object();
    const char *rest = import_split_origin(url, origin, sizeof origin);
    char name[300];
    snprintf(name, sizeof name, "%s %.200s", method, rest && *rest ? rest : "/");
    json_object_set_new(step, "name", json_string(name));
    json_object_set_new(step, "request", r);
    json_int_t status = json_integer_value(json_object_get(json_object_get(e, "response"), "status"));
    if (status >= 100 && status <= 599 && status != 304) {
        json_object_set_new(step, "expect", json_pack("{s:I}", "status", status));
    } else if (status != 304) {
        char atr[PTR_MAX];
        jsonpos_child(atr, sizeof atr, ptr, "response");
        import_note(c, atr, "%s: no response recorded: the step expects any 2xx", where);
    }
    json_array_append_new(json_object_get(j, "steps"), step);
    json_array_append_new(bodies, response_json(e));
    json_decref(hdrs);
    return cookie;
}

int import_har(struct import_ctx *c, char *err, size_t errlen)
{
    json_t *root = import_read_json(c->opts->input, &c->pos, err, errlen);
    if (!root)
        return -1;
    const json_t *entries = json_object_get(json_object_get(root, "log"), "entries");
    if (!json_is_array(entries)) {
        snprintf(err, errlen, "%s: not a HAR file (no log.entries list)", c->input);
        json_decref(root);
        return -1;
    }
    /* The journey's base is the origin of the first document (else of the first request),
     * its name the first page's title (else the file's name). */
    char origin[2048] = "", name[256];
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        const char *url = json_string_value(json_object_get(json_object_get(e, "request"), "url"));
        if (url && import_split_origin(url, origin, sizeof origin) && !strcmp(kind(e), "document"))
            break;
    }
    if (i == json_array_size(entries)) {
        const json_t *e0 = json_array_get(entries, 0);
        const char *url = json_string_value(json_object_get(json_object_get(e0, "request"), "url"));
        if (!url || !import_split_origin(url, origin, sizeof origin))
            origin[0] = '\0';
    }
    const char *title = json_string_value(json_object_get(json_array_get(json_object_get(
        json_object_get(root, "log"), "pages"), 0), "title"));
    const char *slash = strrchr(c->input, '/');
    snprintf(name, sizeof name, "%s", title && *title ? title : slash ? slash + 1 : c->input);
    char *dot = title && *title ? NULL : strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    json_t *j = import_journey_new(name, origin);
    size_t cookies = 0;
    json_t *bodies = json_array();
    json_array_foreach(entries, i, e) {
        char at[PTR_MAX];
        snprintf(at, sizeof at, "/log/entries/%zu", i);
        cookies += (size_t)entry(c, j, bodies, e, i, at);
    }
    json_decref(bodies);
    if (cookies)
        import_note(c, NULL, "the Cookie header of %zu request%s dropped: a journey's cookie jar"
                    " sends the cookies its own responses set", cookies, cookies == 1 ? "" : "s");
    if (json_array_size(json_object_get(j, "steps")))
        import_add(c, j);
    else
        json_decref(j);
    json_decref(root);
    return 0;
}
