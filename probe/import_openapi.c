#include "import_openapi.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

#define PTR_MAX 1024

/* Follows a local reference ("#/components/schemas/Pet", RFC 6901 pointer after the '#')
 * from v, as often as it takes. Returns the value, or NULL for a reference that is not
 * local or leads nowhere (then *why names it). */
static const json_t *deref(const json_t *root, const json_t *v, const char **why)
{
    for (int depth = 0; json_is_object(v) && json_object_get(v, "$ref"); depth++) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        if (!ref || strncmp(ref, "#/", 2) != 0 || depth >= IMPORT_OPENAPI_REF_DEPTH) {
            *why = ref ? ref : "$ref";
            return NULL;
        }
        const json_t *at = root;
        const char *p = ref + 1;
        while (*p == '/' && at) {
            const char *end = strchr(p + 1, '/');
            size_t n = end ? (size_t)(end - p - 1) : strlen(p + 1);
            char key[256];
            size_t k = 0;
            for (size_t i = 0; i < n && k + 1 < sizeof key; i++) {
                if (p[1 + i] == '~' && i + 1 < n && (p[2 + i] == '0' || p[2 + i] == '1')) {
                    key[k++] = p[2 + i] == '0' ? '~' : '/';
                    i++;
                } else {
                    key[k++] = p[1 + i];
                }
            }
            key[k] = '\0';
            at = json_is_array(at) ? json_array_get(at, strtoul(key, NULL, 10)) : json_object_get(at, key);
            p = end ? end : p + 1 + n;
        }
        if (!at) {
            *why = ref;
            return NULL;
        }
        v = at;
    }
    return v;
}

/* Adds the required properties of schema (allOf parts included) to the object req. */
static int required_of(const json_t *root, const json_t *schema, json_t *req, const char **why,
                       int depth)
{
    schema = deref(root, schema, why);
    if (!schema)
        return -1;
    if (depth > IMPORT_OPENAPI_REF_DEPTH)
        return 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(schema, "required"), i, e)
        if (json_is_string(e))
            json_object_set_new(req, json_string_value(e), json_true());
    json_array_foreach(json_object_get(schema, "allOf"), i, e)
        if (required_of(root, e, req, why, depth + 1) < 0)
            return -1;
    return 0;
}

/* The type of a schema ("array", "object"...), 3.1's lists ["array", "null"] read as
 * their first non-null type; NULL when not said. */
static const char *schema_type(const json_t *schema)
{
    const json_t *t = json_object_get(schema, "type");
    if (json_is_string(t))
        return json_string_value(t);
    size_t i;
    json_t *e;
    json_array_foreach(t, i, e)
        if (json_is_string(e) && strcmp(json_string_value(e), "null"))
            return json_string_value(e);
    return NULL;
}

/* The JSON schema of a response: its application/json (or +json) content's. */
static const json_t *json_schema(const json_t *response)
{
    const char *mt;
    json_t *v;
    json_object_foreach(json_object_get(response, "content"), mt, v)
        if (strstr(mt, "json"))
            return json_object_get(v, "schema");
    return NULL;
}

/* The headers an operation's security asks for (its own "security", else the
 * document's), as {{secret.NAME}} placeholders: apiKey in a header, http bearer and
 * basic, oauth2 and openIdConnect as a bearer token. */
static void security(struct import_ctx *c, const json_t *root, const json_t *op, json_t *hdrs,
                     json_t *query, const char *ptr, const char *where)
{
    const json_t *sec = json_object_get(op, "security");
    if (!sec)
        sec = json_object_get(root, "security");
    if (!json_array_size(sec))
        return;
    /* Any one requirement of the list satisfies the operation: the first is taken. */
    const json_t *req = json_array_get(sec, 0);
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)req, name, v) {
        const char *why = NULL;
        const json_t *s = deref(root, json_object_get(json_object_get(json_object_get(root,
                                "components"), "securitySchemes"), name), &why);
        const char *type = json_string_value(json_object_get(s, "type"));
        const char *scheme = json_string_value(json_object_get(s, "scheme"));
        const char *in = json_string_value(json_object_get(s, "in"));
        const char *pname = json_string_value(json_object_get(s, "name"));
        char env[128], value[256];
        size_t n = 0;
        for (const char *p = name; *p && n + 1 < sizeof env; p++)
            env[n++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
        env[n] = '\0';
        if (type && !strcmp(type, "apiKey") && pname && in && (!strcmp(in, "header") || !strcmp(in, "query"))) {
            snprintf(value, sizeof value, "{{secret.%s}}", env);
            json_object_set_new(!strcmp(in, "header") ? hdrs : query, pname, json_string(value));
        } else if (type && ((!strcmp(type, "http") && scheme && !strcasecmp(scheme, "bearer"))
                            || !strcmp(type, "oauth2") || !strcmp(type, "openIdConnect"))) {
            snprintf(value, sizeof value, "Bearer {{secret.%s}}", env);
            json_object_set_new(hdrs, "Authorization", json_string(value));
        } else if (type && !strcmp(type, "http") && scheme && !strcasecmp(scheme, "basic")) {
            snprintf(value, sizeof value, "{{secret.%s}}", env);
            json_object_set_new(hdrs, "Authorization", json_string(value));
            import_note(c, ptr, "%s: set %s to \"Basic \" and the base64 of user:password", where, env);
            continue;
        } else {
            import_skip(c, ptr, "%s: security scheme \"%s\" (%s) not converted", where, name,
                        type ? type : why ? why : "not found");
            continue;
        }
        import_note(c, ptr, "%s: security \"%s\" sent as {{secret.%s}}: set %s in the"
                    " environment when the journey runs", where, name, env, env);
    }
}

/* One GET operation as a step, in the journey of its first tag. */
static void operation(struct import_ctx *c, const json_t *root, const char *path,
                      const json_t *item, const json_t *op, const char *ptr, json_t *byname,
                      const char *title)
{
    char where[600];
    const char *id = json_string_value(json_object_get(op, "operationId"));
    snprintf(where, sizeof where, "GET %s%s%s%s", path, id ? " (" : "", id ? id : "", id ? ")" : "");

    /* Parameters: the path item's and the operation's (by name and place); a required
     * one (every path parameter is) leaves nothing to send without inventing a value. */
    const json_t *lists[2] = {json_object_get(item, "parameters"), json_object_get(op, "parameters")};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *e;
        json_array_foreach(lists[l], i, e) {
            const char *why = NULL;
            const json_t *prm = deref(root, e, &why);
            if (!prm) {
                import_skip(c, ptr, "%s: parameter %s cannot be followed: not converted", where, why);
                return;
            }
            if (json_is_true(json_object_get(prm, "required"))) {
                import_skip(c, ptr, "%s: needs the %s parameter \"%s\": not converted (smoke steps"
                            " take operations without required parameters)", where,
                            json_string_value(json_object_get(prm, "in")) ? json_string_value(json_object_get(prm, "in")) : "?",
                            json_string_value(json_object_get(prm, "name")) ? json_string_value(json_object_get(prm, "name")) : "?");
                return;
            }
        }
    }
    if (strchr(path, '{')) {
        import_skip(c, ptr, "%s: the path has a {parameter} it does not declare: not converted", where);
        return;
    }
    /* The status: the lowest documented 2xx, else a 2XX range, else any 2xx. */
    const json_t *responses = json_object_get(op, "responses");
    const char *code;
    json_t *resp, *best = NULL;
    const char *best_code = NULL;
    json_object_foreach((json_t *)responses, code, resp) {
        if (code[0] != '2' || strlen(code) != 3)
            continue;
        int exact = isdigit((unsigned char)code[1]) && isdigit((unsigned char)code[2]);
        int best_exact = best_code && isdigit((unsigned char)best_code[1]);
        if (!best_code || (exact && !best_exact) || (exact == best_exact && strcmp(code, best_code) < 0)) {
            best_code = code;
            best = resp;
        }
    }
    json_t *expect = json_object();
    json_t *status;
    if (!best_code) {
        status = json_string("2xx");
        import_note(c, ptr, "%s: no 2xx response documented: the step expects any 2xx", where);
    } else if (isdigit((unsigned char)best_code[1])) {
        status = json_integer(strtol(best_code, NULL, 10));
    } else {
        status = json_string("2xx");
    }
    json_object_set_new(expect, "status", status);
    const char *why = NULL;
    const json_t *r = best ? deref(root, best, &why) : NULL;
    const json_t *schema = r ? json_schema(r) : NULL;
    const json_t *s = schema ? deref(root, schema, &why) : NULL;
    json_t *checks = json_object();
    if (schema && !s) {
        import_skip(c, ptr, "%s: response schema %s cannot be followed: its required properties"
                    " are not checked", where, why);
    } else if (s) {
        const char *type = schema_type(s);
        json_t *req = json_object();
        if (type && !strcmp(type, "array")) {
            json_object_set_new(checks, "$", json_pack("{s:s}", "type", "array"));
            if (required_of(root, json_object_get(s, "items"), req, &why, 0) == 0 && json_object_size(req))
                import_note(c, ptr, "%s: the required properties of the list's items are not"
                            " checked (the list may be empty)", where);
        } else if (required_of(root, s, req, &why, 0) < 0) {
            import_skip(c, ptr, "%s: response schema %s cannot be followed: its required"
                        " properties are not checked", where, why);
        } else {
            const char *prop;
            json_t *t;
            json_object_foreach(req, prop, t) {
                char jp[300];
                if (strchr(prop, '\'') || strlen(prop) > 200) {
                    import_skip(c, ptr, "%s: required property \"%.80s\" not checked (its name"
                                " has no JSONPath here)", where, prop);
                    continue;
                }
                snprintf(jp, sizeof jp, "$['%s']", prop);
                json_object_set_new(checks, jp, json_pack("{s:b}", "exists", 1));
            }
        }
        json_decref(req);
    }
    if (json_object_size(checks))
        json_object_set(expect, "json", checks);
    json_decref(checks);

    json_t *hdrs = json_object(), *query = json_object(), *request = json_object();
    security(c, root, op, hdrs, query, ptr, where);
    char url[2048];
    snprintf(url, sizeof url, "{{base}}%s", path);
    json_object_set_new(request, "method", json_string("GET"));
    json_object_set_new(request, "url", json_string(url));
    if (json_object_size(hdrs))
        json_object_set(request, "headers", hdrs);
    if (json_object_size(query))
        json_object_set(request, "query", query);
    json_decref(hdrs);
    json_decref(query);
    const char *summary = json_string_value(json_object_get(op, "summary"));
    char name[300];
    snprintf(name, sizeof name, "%.200s", id ? id : summary ? summary : where);
    json_t *step = json_pack("{s:s,s:o,s:o}", "name", name, "request", request, "expect", expect);

    const char *tag = json_string_value(json_array_get(json_object_get(op, "tags"), 0));
    if (!tag)
        tag = title;
    json_t *j = json_object_get(byname, tag);
    if (!j) {
        j = import_journey_new(tag, NULL);
        json_object_set_new(byname, tag, j);
    }
    json_array_append_new(json_object_get(j, "steps"), step);
}

/* The base URL: --base-url, else servers[0] with its variables' defaults. */
static void base_url(struct import_ctx *c, const json_t *root, char *dst, size_t dstlen)
{
    const json_t *server = json_array_get(json_object_get(root, "servers"), 0);
    const char *url = json_string_value(json_object_get(server, "url"));
    dst[0] = '\0';
    if (c->opts->base_url) {
        snprintf(dst, dstlen, "%s", c->opts->base_url);
    } else if (url) {
        struct buf b;
        buf_init(&b, 4096);
        buf_puts(&b, "");
        for (const char *p = url; *p;) {
            const char *close = *p == '{' ? strchr(p, '}') : NULL;
            if (close) {
                char var[128];
                snprintf(var, sizeof var, "%.*s", (int)(close - p - 1), p + 1);
                const char *dflt = json_string_value(json_object_get(json_object_get(
                    json_object_get(server, "variables"), var), "default"));
                buf_puts(&b, dflt ? dflt : "");
                p = close + 1;
            } else {
                buf_append(&b, p++, 1);
            }
        }
        if (b.data && (!strncasecmp(b.data, "http://", 7) || !strncasecmp(b.data, "https://", 8)))
            snprintf(dst, dstlen, "%s", b.data);
        else
            import_note(c, "/servers/0/url", "servers[0] is \"%s\", not an absolute URL: give"
                        " the service's with --var base=URL", b.data ? b.data : url);
        buf_fini(&b);
    } else {
        import_note(c, NULL, "no servers: give the service's base URL with --var base=URL");
    }
    size_t n = strlen(dst);
    while (n && dst[n - 1] == '/')
        dst[--n] = '\0';
}

static int looks_yaml(const char *path)
{
    FILE *fp = fopen(path, "rb");
    int ch;
    if (!fp)
        return 0;
    while ((ch = fgetc(fp)) != EOF && (isspace(ch) || ch == 0xEF || ch == 0xBB || ch == 0xBF))
        ;
    fclose(fp);
    return ch != EOF && ch != '{';
}

int import_openapi(struct import_ctx *c, char *err, size_t errlen)
{
    if (looks_yaml(c->opts->input)) {
        snprintf(err, errlen, "%s is not JSON (YAML?): probe reads OpenAPI as JSON only;"
                 " convert it first, e.g. python3 -c 'import json,sys,yaml;"
                 " json.dump(yaml.safe_load(sys.stdin), sys.stdout)' < %s > openapi.json",
                 c->input, c->input);
        return -1;
    }
    json_t *root = import_read_json(c->opts->input, &c->pos, err, errlen);
    if (!root)
        return -1;
    const char *version = json_string_value(json_object_get(root, "openapi"));
    if (!version || strncmp(version, "3.", 2) != 0) {
        if (json_object_get(root, "swagger"))
            snprintf(err, errlen, "%s: Swagger 2.0, which is not read: convert it to OpenAPI 3"
                     " first", c->input);
        else
            snprintf(err, errlen, "%s: not an OpenAPI 3.0 or 3.1 document (no \"openapi\":"
                     " \"3.x\")", c->input);
        json_decref(root);
        return -1;
    }
    char base[2048];
    base_url(c, root, base, sizeof base);
    const char *title = json_string_value(json_object_get(json_object_get(root, "info"), "title"));
    if (!title || !*title)
        title = "api";
    json_t *byname = json_object();
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(root, "paths"), path, item) {
        char at[PTR_MAX], atop[PTR_MAX];
        jsonpos_child(at, sizeof at, "/paths", path);
        const char *why = NULL;
        const json_t *it = deref(root, item, &why);
        const char *m;
        json_t *op;
        json_object_foreach((json_t *)it, m, op) {
            static const char *const methods[] = {"put", "post", "delete", "options", "head",
                                                  "patch", "trace", NULL};
            jsonpos_child(atop, sizeof atop, at, m);
            if (!strcmp(m, "get")) {
                operation(c, root, path, it, op, atop, byname, title);
                continue;
            }
            for (int k = 0; methods[k]; k++)
                if (!strcmp(m, methods[k]))
                    import_skip(c, atop, "%s %s: not a GET: not converted (smoke steps only read)",
                                m, path);
        }
    }
    const char *tag;
    json_t *j;
    json_object_foreach(byname, tag, j) {
        json_object_set_new(j, "variables", json_pack("{s:s?}", "base", base[0] ? base : NULL));
        import_add(c, json_incref(j));
    }
    json_decref(byname);
    json_decref(root);
    return 0;
}
