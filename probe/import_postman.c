#include "import_postman.h"

#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "journey.h"
#include "template.h"

#define PTR_MAX 1024
#define TEXT_MAX (8 * 1024 * 1024)

struct pm {
    struct import_ctx *c;
    json_t *vars;               /* name (as Postman writes it) -> value text */
    json_t *secret_vars;        /* names of environment values of type "secret" */
    const char *dir;            /* where form-data files are read from */
};

/* What the test script of one request says, gathered line by line. */
struct tests {
    json_t *status;             /* the expected status, or NULL */
    json_t *json;               /* JSONPath -> predicate */
    json_t *headers;            /* header -> predicate */
    json_t *body;               /* predicate on the body, or NULL */
    json_t *capture;            /* name -> source */
    double max_ms;
    json_t *aliases;            /* JavaScript variable -> JSONPath ("jsonData" -> "$") */
};

static void child(char *dst, const char *parent, const char *key)
{
    jsonpos_child(dst, PTR_MAX, parent, key);
}

static void child_index(char *dst, const char *parent, size_t i)
{
    snprintf(dst, PTR_MAX, "%s/%zu", parent, i);
}

/* A Postman value as text: strings as they are, numbers and booleans in JSON. */
static char *value_text(const json_t *v)
{
    if (!v || json_is_null(v))
        return strdup("");
    return template_text(v);
}

/* A Postman variable name as a journey's: Postman's dynamic variables that probe has
 * ($guid, $timestamp, $randomInt) become its built-ins, a secret of the environment
 * {{secret.NAME}}, any other character than letters, digits and _ . : - an '_'. Returns
 * 0, or 1 when the name stands for something probe does not have (a $dynamic), which
 * the caller lists. */
static int journey_name(struct pm *p, const char *name, char *dst, size_t dstlen)
{
    static const char *const dyn[][2] = {
        {"$guid", "uuid"}, {"$randomUUID", "uuid"}, {"$timestamp", "now_s"},
        {"$randomInt", "random_int:0:1000"}, {NULL, NULL}
    };
    for (int i = 0; dyn[i][0]; i++) {
        if (strcmp(name, dyn[i][0]) == 0) {
            snprintf(dst, dstlen, "%s", dyn[i][1]);
            return 0;
        }
    }
    int secret = json_object_get(p->secret_vars, name) != NULL;
    size_t n = (size_t)snprintf(dst, dstlen, "%s", secret ? "secret." : "");
    const char *s = name[0] == '$' ? name + 1 : name;
    for (; *s && n + 1 < dstlen && n < TEMPLATE_NAME_MAX - 1; s++)
        dst[n++] = isalnum((unsigned char)*s) || strchr(secret ? "_" : "_.:-", *s) ? *s : '_';
    dst[n] = '\0';
    if (!secret && (strncmp(dst, "env.", 4) == 0 || strncmp(dst, "secret.", 7) == 0))
        dst[3 + (dst[0] == 's') * 3] = '_';
    return name[0] == '$';
}

/* Rewrites the {{names}} of a Postman string as journey names. Returns a new string, or
 * NULL after listing why at ptr ("{{" never closed). */
static json_t *pm_text(struct pm *p, const char *s, const char *ptr, const char *where)
{
    struct buf b;
    buf_init(&b, TEXT_MAX);
    buf_puts(&b, "");
    for (;;) {
        const char *open = strstr(s, "{{");
        if (!open) {
            buf_puts(&b, s);
            break;
        }
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            import_skip(p->c, ptr, "%s: \"{{\" without \"}}\": not converted", where);
            buf_fini(&b);
            return NULL;
        }
        buf_append(&b, s, (size_t)(open - s));
        char name[TEMPLATE_NAME_MAX * 2], jname[TEMPLATE_NAME_MAX + 8];
        const char *a = open + 2, *z = close;
        while (a < z && isspace((unsigned char)*a))
            a++;
        while (z > a && isspace((unsigned char)z[-1]))
            z--;
        snprintf(name, sizeof name, "%.*s", (int)(z - a), a);
        if (!name[0]) {
            import_skip(p->c, ptr, "%s: empty \"{{}}\": not converted", where);
            buf_fini(&b);
            return NULL;
        }
        if (journey_name(p, name, jname, sizeof jname))
            import_skip(p->c, ptr, "%s: Postman's dynamic variable {{%s}} not converted: it is"
                        " the variable \"%s\" here, give it with --var", where, name, jname);
        buf_printf(&b, "{{%s}}", jname);
        s = close + 2;
    }
    json_t *v = json_string(b.data);
    buf_fini(&b);
    if (!v)
        import_skip(p->c, ptr, "%s: not valid UTF-8: not converted", where);
    return v;
}

/* pm_text over every string inside a JSON value (a parsed raw JSON body). */
static json_t *pm_json(struct pm *p, const json_t *v, const char *ptr, const char *where)
{
    if (json_is_string(v))
        return pm_text(p, json_string_value(v), ptr, where);
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            json_t *x = pm_json(p, e, ptr, where);
            if (!x) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, x);
        }
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            json_t *x = pm_json(p, e, ptr, where);
            if (!x) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, k, x);
        }
        return out;
    }
    return json_deep_copy(v);
}

/* ------------------------------------------------------------------ test scripts */

static const char *skip_ws(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* The ')' that closes the '(' at s (quotes and nesting respected), or NULL. */
static const char *closing(const char *s)
{
    int depth = 0;
    char q = 0;
    for (; *s; s++) {
        if (q) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == q)
                q = 0;
        } else if (*s == '\'' || *s == '"' || *s == '`') {
            q = *s;
        } else if (*s == '(' || *s == '[' || *s == '{') {
            depth++;
        } else if (*s == ')' || *s == ']' || *s == '}') {
            if (--depth == 0)
                return s;
        }
    }
    return NULL;
}

/* A JavaScript literal as JSON: numbers, 'single' or "double" quoted strings, true,
 * false, null, and JSON arrays and objects. NULL if it is none of these. */
static json_t *js_literal(const char *s, size_t n)
{
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
        struct buf b;
        buf_init(&b, n);
        buf_puts(&b, "");
        for (size_t i = 1; i + 1 < n; i++) {
            if (s[i] == '\\' && i + 2 < n)
                i++;
            else if (s[i] == '\'')
                goto bad;
            buf_append(&b, &s[i], 1);
        }
        json_t *v = json_string(b.data);
        buf_fini(&b);
        return v;
bad:
        buf_fini(&b);
        return NULL;
    }
    return json_loadb(s, n, JSON_DECODE_ANY, NULL);
}

enum expr_kind { EXPR_NONE, EXPR_STATUS, EXPR_JSON, EXPR_TIME, EXPR_BODY, EXPR_HEADER };

/* What a JavaScript expression of a test reads: the status code, a JSONPath into the
 * body (written into dst), the response time, the body text, or a header (name in dst). */
static enum expr_kind expr(const struct tests *t, const char *s, size_t n, char *dst, size_t dstlen)
{
    char e[1024];
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    s = skip_ws(s);
    if (n >= sizeof e)
        return EXPR_NONE;
    snprintf(e, sizeof e, "%.*s", (int)n, s);
    if (!strcmp(e, "pm.response.code") || !strcmp(e, "responseCode.code"))
        return EXPR_STATUS;
    if (!strcmp(e, "pm.response.responseTime") || !strcmp(e, "responseTime"))
        return EXPR_TIME;
    if (!strcmp(e, "pm.response.text()") || !strcmp(e, "responseBody"))
        return EXPR_BODY;
    if (!strncmp(e, "pm.response.headers.get(", 24) || !strncmp(e, "postman.getResponseHeader(", 26)) {
        const char *a = strchr(e, '(') + 1;
        const char *z = closing(a - 1);
        json_t *name = z && z[1] == '\0' ? js_literal(a, (size_t)(z - a)) : NULL;
        int ok = json_is_string(name);
        if (ok)
            snprintf(dst, dstlen, "%s", json_string_value(name));
        json_decref(name);
        return ok ? EXPR_HEADER : EXPR_NONE;
    }
    const char *rest = NULL;
    const char *root = NULL;
    static const char *const roots[] = {"pm.response.json()", "JSON.parse(responseBody)", NULL};
    for (int i = 0; roots[i] && !rest; i++)
        if (!strncmp(e, roots[i], strlen(roots[i]))) {
            rest = e + strlen(roots[i]);
            root = "$";
        }
    if (!rest) {
        size_t k = 0;
        while (isalnum((unsigned char)e[k]) || e[k] == '_' || e[k] == '$')
            k++;
        char alias[128];
        snprintf(alias, sizeof alias, "%.*s", (int)k, e);
        root = json_string_value(json_object_get(t->aliases, alias));
        if (!root || !k)
            return EXPR_NONE;
        rest = e + k;
    }
    size_t o = (size_t)snprintf(dst, dstlen, "%s", root);
    while (*rest && o < dstlen) {
        if (*rest == '.') {
            size_t k = 1;
            while (isalnum((unsigned char)rest[k]) || rest[k] == '_' || rest[k] == '$')
                k++;
            if (k == 1)
                return EXPR_NONE;
            if (k == 7 && !strncmp(rest, ".length", 7) && !rest[7])
                o += (size_t)snprintf(dst + o, dstlen - o, ".count()");
            else
                o += (size_t)snprintf(dst + o, dstlen - o, "['%.*s']", (int)(k - 1), rest + 1);
            rest += k;
        } else if (*rest == '[') {
            const char *z = strchr(rest, ']');
            if (!z)
                return EXPR_NONE;
            json_t *key = js_literal(rest + 1, (size_t)(z - rest - 1));
            if (json_is_integer(key))
                o += (size_t)snprintf(dst + o, dstlen - o, "[%lld]", (long long)json_integer_value(key));
            else if (json_is_string(key) && !strchr(json_string_value(key), '\''))
                o += (size_t)snprintf(dst + o, dstlen - o, "['%s']", json_string_value(key));
            else {
                json_decref(key);
                return EXPR_NONE;
            }
            json_decref(key);
            rest = z + 1;
        } else {
            return EXPR_NONE;
        }
    }
    return o < dstlen ? EXPR_JSON : EXPR_NONE;
}

/* Status classes of Postman's response assertions (chai-postman: pm.response.to.be.X). */
static const char *status_class(const char *word)
{
    static const char *const map[][2] = {
        {"ok", "200"}, {"success", "2xx"}, {"accepted", "202"}, {"badRequest", "400"},
        {"unauthorized", "401"}, {"unauthorised", "401"}, {"forbidden", "403"},
        {"notFound", "404"}, {"rateLimited", "429"}, {"clientError", "4xx"},
        {"serverError", "5xx"}, {"error", "4xx"}, {"redirection", "3xx"}, {"info", "1xx"},
        {NULL, NULL}
    };
    for (int i = 0; map[i][0]; i++)
        if (!strcmp(word, map[i][0]))
            return map[i][1];
    return NULL;
}

static json_t *status_value(const char *text)
{
    return isdigit((unsigned char)text[1]) ? json_integer(strtol(text, NULL, 10)) : json_string(text);
}

/* Adds predicate pred (stolen) for key of the object checks, merging operators. Returns
 * 0, or -1 when the same operator is already there with another operand. */
static int add_check(json_t *checks, const char *key, json_t *pred)
{
    json_t *had = json_object_get(checks, key);
    if (!had) {
        json_object_set_new(checks, key, pred);
        return 0;
    }
    if (!json_is_object(had) || !json_is_object(pred)) {
        int same = json_equal(had, pred);
        json_decref(pred);
        return same ? 0 : -1;
    }
    const char *op;
    json_t *v;
    int rc = 0;
    json_object_foreach(pred, op, v) {
        json_t *h = json_object_get(had, op);
        if (h && !json_equal(h, v))
            rc = -1;
        else
            json_object_set(had, op, v);
    }
    json_decref(pred);
    return rc;
}

static int set_status(struct tests *t, json_t *v)
{
    if (t->status && !json_equal(t->status, v)) {
        json_decref(v);
        return -1;
    }
    json_decref(t->status);
    t->status = v;
    return 0;
}

/* The words after pm.expect(...): .to.be.equal(5) -> method "equal", args "5"; chai's
 * language chains (to, be, have, deep...) are skipped; "not" is noted. */
struct chain {
    char method[32];
    const char *args;
    size_t nargs;
    int negated;
};

static int read_chain(const char *s, struct chain *ch)
{
    static const char *const filler[] = {"to", "be", "been", "is", "that", "which", "and",
                                         "has", "have", "with", "at", "of", "same", "does",
                                         "deep", "still", "but", NULL};
    memset(ch, 0, sizeof *ch);
    while (*s == '.') {
        size_t k = 1;
        while (isalnum((unsigned char)s[k]) || s[k] == '_')
            k++;
        char w[32];
        snprintf(w, sizeof w, "%.*s", (int)(k - 1), s + 1);
        s += k;
        int fill = 0;
        for (int i = 0; filler[i]; i++)
            fill |= !strcmp(w, filler[i]);
        if (!strcmp(w, "not")) {
            ch->negated = 1;
            continue;
        }
        if (fill && *s != '(')
            continue;
        if (ch->method[0])
            return -1;          /* two assertions in one chain (.and.equal...) */
        snprintf(ch->method, sizeof ch->method, "%s", w);
        if (*s == '(') {
            const char *z = closing(s);
            if (!z)
                return -1;
            ch->args = s + 1;
            ch->nargs = (size_t)(z - s - 1);
            s = z + 1;
        }
    }
    s = skip_ws(s);
    return *s == '\0' && ch->method[0] ? 0 : -1;
}

/* pm.expect(EXPR).CHAIN into t. Returns 0, or -1 when it is not one of the shapes. */
static int expect_line(struct tests *t, const char *line)
{
    const char *a = line + strlen("pm.expect");
    const char *z = closing(a);
    char path[1024];
    struct chain ch;
    if (!z || read_chain(z + 1, &ch) < 0)
        return -1;
    enum expr_kind k = expr(t, a + 1, (size_t)(z - a - 1), path, sizeof path);
    const char *m = ch.method;
    json_t *arg = ch.args ? js_literal(ch.args, ch.nargs) : NULL;
    json_t *pred = NULL;
    int rc = -1;

    int eq = !strcmp(m, "eql") || !strcmp(m, "equal") || !strcmp(m, "eq") || !strcmp(m, "equals");
    if (k == EXPR_STATUS && eq && json_is_integer(arg) && !ch.negated) {
        rc = set_status(t, json_incref(arg));
    } else if (k == EXPR_STATUS && !strcmp(m, "oneOf") && json_is_array(arg) && !ch.negated) {
        rc = set_status(t, json_incref(arg));
    } else if (k == EXPR_TIME && (!strcmp(m, "below") || !strcmp(m, "lessThan") || !strcmp(m, "lt"))
               && json_is_number(arg) && !ch.negated) {
        t->max_ms = json_number_value(arg);
        rc = 0;
    } else if (k == EXPR_BODY && (!strcmp(m, "include") || !strcmp(m, "contain"))
               && json_is_string(arg)) {
        pred = json_pack("{s:O}", ch.negated ? "matches" : "contains", arg);
        if (ch.negated) {
            json_decref(pred);
            pred = NULL;
        } else {
            json_decref(t->body);
            t->body = pred;
            pred = NULL;
            rc = 0;
        }
    } else if (k == EXPR_JSON || k == EXPR_HEADER) {
        static const char *const ops[][2] = {
            {"above", "gt"}, {"gt", "gt"}, {"greaterThan", "gt"}, {"below", "lt"}, {"lt", "lt"},
            {"lessThan", "lt"}, {"least", "ge"}, {"gte", "ge"}, {"most", "le"}, {"lte", "le"},
            {"include", "contains"}, {"contain", "contains"}, {"includes", "contains"},
            {"contains", "contains"}, {"match", "matches"}, {NULL, NULL}
        };
        if (eq && arg)
            pred = json_pack("{s:O}", ch.negated ? "ne" : "eq", arg);
        else if ((!strcmp(m, "exist") || !strcmp(m, "ok")) && !arg && !ch.args)
            pred = json_pack("{s:b}", "exists", !ch.negated);
        else if (!strcmp(m, "undefined") && !ch.args)
            pred = json_pack("{s:b}", "exists", ch.negated);
        else if ((!strcmp(m, "true") || !strcmp(m, "false") || !strcmp(m, "null")) && !ch.args
                 && !ch.negated)
            pred = json_pack("{s:O}", "eq", !strcmp(m, "true") ? json_true()
                                            : !strcmp(m, "false") ? json_false() : json_null());
        else if ((!strcmp(m, "a") || !strcmp(m, "an")) && json_is_string(arg) && !ch.negated)
            pred = json_pack("{s:O}", "type", arg);
        else if (!strcmp(m, "property") && json_is_string(arg) && k == EXPR_JSON
                 && !strchr(json_string_value(arg), '\'')) {
            size_t o = strlen(path);
            snprintf(path + o, sizeof path - o, "['%s']", json_string_value(arg));
            pred = json_pack("{s:b}", "exists", !ch.negated);
        } else if ((!strcmp(m, "lengthOf") || !strcmp(m, "length")) && json_is_integer(arg)
                   && !ch.negated && k == EXPR_JSON) {
            pred = json_pack("{s:O}", "count", arg);
        } else if (!ch.negated && arg) {
            for (int i = 0; ops[i][0] && !pred; i++)
                if (!strcmp(m, ops[i][0]))
                    pred = json_pack("{s:O}", ops[i][1], arg);
        }
        if (pred && k == EXPR_JSON) {
            /* A type check on the whole body ($ alone) says nothing a JSONPath can. */
            rc = add_check(t->json, path, pred);
            pred = NULL;
        } else if (pred) {
            rc = add_check(t->headers, path, pred);
            pred = NULL;
        }
    }
    json_decref(pred);
    json_decref(arg);
    return rc;
}

/* pm.response.to.have.status(N), pm.response.to.be.ok and their kin. */
static int response_line(struct tests *t, const char *line)
{
    struct chain ch;
    if (read_chain(line + strlen("pm.response"), &ch) < 0 || ch.negated)
        return -1;
    json_t *arg = ch.args ? js_literal(ch.args, ch.nargs) : NULL;
    int rc = -1;
    const char *cls = status_class(ch.method);
    if (!strcmp(ch.method, "status") && json_is_integer(arg)) {
        rc = set_status(t, json_incref(arg));
    } else if (cls && !ch.args) {
        rc = set_status(t, status_value(cls));
    } else if (!strcmp(ch.method, "header") && ch.args) {
        /* header('Name') or header('Name', 'value') */
        char text[1024];
        snprintf(text, sizeof text, "[%.*s]", (int)ch.nargs, ch.args);
        for (char *q = text; *q; q++)
            if (*q == '\'')
                *q = '"';
        json_t *list = json_loads(text, 0, NULL);
        const char *name = json_string_value(json_array_get(list, 0));
        json_t *val = json_array_get(list, 1);
        if (name && json_array_size(list) <= 2 && (!val || json_is_string(val)))
            rc = add_check(t->headers, name, val ? json_pack("{s:O}", "eq", val)
                                                 : json_pack("{s:b}", "exists", 1));
        json_decref(list);
    } else if (!strcmp(ch.method, "json") && !ch.args) {
        rc = add_check(t->headers, "Content-Type", json_pack("{s:s}", "contains", "json"));
    }
    json_decref(arg);
    return rc;
}

/* pm.environment.set("v", EXPR) and its kin: a capture. */
static int set_line(struct pm *p, struct tests *t, const char *line, const char *open)
{
    const char *z = closing(open);
    char path[1024];
    if (!z || *skip_ws(z + 1))
        return -1;
    const char *comma = NULL;
    for (const char *q = open + 1; q < z && !comma; q++) {
        if (*q == '\'' || *q == '"') {
            const char *end = strchr(q + 1, *q);
            if (!end)
                return -1;
            q = end;
        } else if (*q == ',') {
            comma = q;
        }
    }
    if (!comma)
        return -1;
    json_t *name = js_literal(open + 1, (size_t)(comma - open - 1));
    enum expr_kind k = expr(t, comma + 1, (size_t)(z - comma - 1), path, sizeof path);
    json_t *src = k == EXPR_JSON ? json_pack("{s:s}", "json", path)
                : k == EXPR_HEADER ? json_pack("{s:s}", "header", path)
                : k == EXPR_STATUS ? json_pack("{s:b}", "status", 1) : NULL;
    char jname[TEMPLATE_NAME_MAX + 8];
    int rc = -1;
    if (json_is_string(name) && src && json_string_value(name)[0] != '$'
        && journey_name(p, json_string_value(name), jname, sizeof jname) == 0
        && strncmp(jname, "secret.", 7) != 0) {
        json_object_set(t->capture, jname, src);
        rc = 0;
    }
    (void)line;
    json_decref(src);
    json_decref(name);
    return rc;
}

/* One statement of a test script into t. Returns 1 when it carries nothing (structure,
 * comments, the alias of the body), 0 when converted, -1 when not. */
static int statement(struct pm *p, struct tests *t, const char *s)
{
    char line[2048];
    size_t n = strlen(s);
    s = skip_ws(s);
    n = strlen(s);
    while (n && (isspace((unsigned char)s[n - 1]) || s[n - 1] == ';'))
        n--;
    if (n >= sizeof line)
        return -1;
    snprintf(line, sizeof line, "%.*s", (int)n, s);
    if (!n || !strncmp(line, "//", 2) || !strcmp(line, "}") || !strcmp(line, "})")
        || !strcmp(line, "{") || !strcmp(line, "*/") || !strncmp(line, "/*", 2)
        || !strncmp(line, "* ", 2) || !strcmp(line, "*"))
        return 1;
    /* pm.test("name", function () {  and  pm.test("name", () => { */
    if (!strncmp(line, "pm.test(", 8) && (strstr(line, "function") || strstr(line, "=>"))
        && line[n - 1] == '{')
        return 1;
    /* var jsonData = pm.response.json();  (or JSON.parse(responseBody), or a path of it) */
    static const char *const decl[] = {"var ", "let ", "const ", NULL};
    for (int i = 0; decl[i]; i++) {
        if (strncmp(line, decl[i], strlen(decl[i])))
            continue;
        const char *nm = line + strlen(decl[i]);
        const char *eq = strchr(nm, '=');
        char alias[128], path[1024];
        if (!eq || eq == nm || (size_t)(eq - nm) >= sizeof alias)
            return -1;
        snprintf(alias, sizeof alias, "%.*s", (int)(eq - nm), nm);
        for (size_t k = strlen(alias); k && isspace((unsigned char)alias[k - 1]); k--)
            alias[k - 1] = '\0';
        if (expr(t, eq + 1, strlen(eq + 1), path, sizeof path) != EXPR_JSON)
            return -1;
        json_object_set_new(t->aliases, alias, json_string(path));
        return 1;
    }
    /* tests["..."] = responseCode.code === 200 */
    if (!strncmp(line, "tests[", 6)) {
        const char *eq = strstr(line, "responseCode.code");
        if (eq && (eq = strstr(eq, "==="))) {
            json_t *v = js_literal(eq + 3, strlen(eq + 3));
            if (json_is_integer(v))
                return set_status(t, v);
            json_decref(v);
        }
        return -1;
    }
    if (!strncmp(line, "pm.expect(", 10))
        return expect_line(t, line);
    if (!strncmp(line, "pm.response.to.", 15))
        return response_line(t, line);
    static const char *const setters[] = {
        "pm.environment.set(", "pm.collectionVariables.set(", "pm.globals.set(",
        "pm.variables.set(", "postman.setEnvironmentVariable(", "postman.setGlobalVariable(", NULL
    };
    for (int i = 0; setters[i]; i++)
        if (!strncmp(line, setters[i], strlen(setters[i])))
            return set_line(p, t, line, line + strlen(setters[i]) - 1);
    return -1;
}

/* The lines of a script (exec: an array of lines, or one string). */
static json_t *script_lines(const json_t *exec)
{
    if (json_is_array(exec))
        return json_incref((json_t *)exec);
    json_t *lines = json_array();
    const char *s = json_string_value(exec);
    while (s && *s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        json_array_append_new(lines, json_stringn(s, n));
        s += n + (nl != NULL);
    }
    return lines;
}

/* Converts the test script (and lists the pre-request script) of one item. */
static void scripts(struct pm *p, struct tests *t, const json_t *events, const char *ptr,
                    const char *where)
{
    size_t i;
    json_t *ev;
    char at[PTR_MAX], at2[PTR_MAX], at3[PTR_MAX];

    json_array_foreach(events, i, ev) {
        const char *listen = json_string_value(json_object_get(ev, "listen"));
        json_t *script = json_object_get(ev, "script");
        if (json_is_true(json_object_get(ev, "disabled")))
            continue;
        child_index(at, ptr, i);
        char atscript[PTR_MAX];
        child(atscript, at, "script");
        child(at2, atscript, "exec");
        json_t *lines = script_lines(json_object_get(script, "exec"));
        int test = listen && !strcmp(listen, "test");
        size_t k;
        json_t *l;
        json_array_foreach(lines, k, l) {
            const char *text = json_string_value(l);
            if (!text)
                continue;
            int r = test ? statement(p, t, text) : 1;
            if (!test) {
                const char *s = skip_ws(text);
                r = !*s || !strncmp(s, "//", 2) ? 1 : -1;
            }
            if (r < 0) {
                child_index(at3, at2, k);
                import_skip(p->c, json_is_array(json_object_get(script, "exec")) ? at3 : at2,
                            "%s > %s script line %zu: \"%.120s\" not converted", where,
                            listen ? listen : "?", k + 1, skip_ws(text));
            }
        }
        json_decref(lines);
    }
}

/* ------------------------------------------------------------------ requests */

/* A parameter of an auth object: v2.1 writes [{key, value}], v2.0 {key: value}. */
static const json_t *auth_param(const json_t *auth, const char *type, const char *key)
{
    const json_t *params = json_object_get(auth, type);
    if (json_is_object(params))
        return json_object_get(params, key);
    size_t i;
    json_t *e;
    json_array_foreach(params, i, e)
        if (!strcmp(json_string_value(json_object_get(e, "key")) ? json_string_value(json_object_get(e, "key")) : "", key))
            return json_object_get(e, "value");
    return NULL;
}

static void set_header(struct pm *p, json_t *hdrs, const char *name, json_t *value,
                       const char *ptr, const char *where)
{
    const char *k;
    json_t *v;
    if (!journey_token_ok(name)) {
        import_skip(p->c, ptr, "%s: header name \"%.60s\" is not a token: not converted", where,
                    name);
        json_decref(value);
        return;
    }
    json_object_foreach(hdrs, k, v) {
        if (!strcasecmp(k, name)) {
            import_skip(p->c, ptr, "%s: a second header %s: not converted", where, name);
            json_decref(value);
            return;
        }
    }
    json_object_set_new(hdrs, name, value);
}

/* The auth of a request (or the one it inherits) as a header or query parameter. */
static void auth(struct pm *p, const json_t *a, const char *ptr, const char *where,
                 json_t *hdrs, json_t *query)
{
    const char *type = json_string_value(json_object_get(a, "type"));
    char buf[4096];
    if (!a || !type || !strcmp(type, "noauth"))
        return;
    if (!strcmp(type, "bearer")) {
        char *tok = value_text(auth_param(a, "bearer", "token"));
        snprintf(buf, sizeof buf, "Bearer %s", tok);
        free(tok);
        json_t *v = pm_text(p, buf, ptr, where);
        if (v)
            set_header(p, hdrs, "Authorization", v, ptr, where);
    } else if (!strcmp(type, "basic")) {
        char *u = value_text(auth_param(a, "basic", "username"));
        char *pw = value_text(auth_param(a, "basic", "password"));
        if (!import_literal_ok(u) || !import_literal_ok(pw)) {
            import_skip(p->c, ptr, "%s: basic auth with {{variables}} not converted (probe"
                        " cannot base64 a variable): set the Authorization header as"
                        " \"Basic {{secret.NAME}}\"", where);
        } else {
            char *basic = import_basic_auth(u, pw);
            char w[300];
            snprintf(w, sizeof w, "%s: basic auth", where);
            if (basic)
                set_header(p, hdrs, "Authorization",
                           import_secret(p->c, "AUTHORIZATION", basic, ptr, 0, 0, w), ptr, where);
            free(basic);
        }
        free(u);
        free(pw);
    } else if (!strcmp(type, "apikey")) {
        char *key = value_text(auth_param(a, "apikey", "key"));
        char *val = value_text(auth_param(a, "apikey", "value"));
        const char *in = json_string_value(auth_param(a, "apikey", "in"));
        json_t *v = pm_text(p, val, ptr, where);
        if (!*key) {
            import_skip(p->c, ptr, "%s: API key auth without a key name: not converted", where);
            json_decref(v);
        } else if (v && in && !strcmp(in, "query")) {
            json_object_set_new(query, key, v);
        } else if (v) {
            set_header(p, hdrs, key, v, ptr, where);
        }
        free(key);
        free(val);
    } else {
        import_skip(p->c, ptr, "%s: auth \"%s\" not converted (bearer, basic and apikey are)",
                    where, type);
    }
}

/* The url of a request: its raw text, or one built from its parts, with :path variables
 * replaced by their values. Returns a new string, or NULL after listing why. */
static char *request_url(struct pm *p, const json_t *url, const char *ptr, const char *where)
{
    struct buf b;
    buf_init(&b, TEXT_MAX);
    buf_puts(&b, "");
    if (json_is_string(url)) {
        buf_puts(&b, json_string_value(url));
    } else if (json_is_string(json_object_get(url, "raw"))) {
        buf_puts(&b, json_string_value(json_object_get(url, "raw")));
    } else if (json_is_object(url)) {
        const json_t *proto = json_object_get(url, "protocol"), *host = json_object_get(url, "host");
        const json_t *path = json_object_get(url, "path");
        size_t i;
        json_t *e;
        if (json_is_string(proto))
            buf_printf(&b, "%s://", json_string_value(proto));
        if (json_is_string(host))
            buf_puts(&b, json_string_value(host));
        json_array_foreach(host, i, e)
            buf_printf(&b, "%s%s", i ? "." : "", json_string_value(e) ? json_string_value(e) : "");
        if (json_is_string(path))
            buf_printf(&b, "/%s", json_string_value(path));
        json_array_foreach(path, i, e)
            buf_printf(&b, "/%s", json_string_value(e) ? json_string_value(e) : "");
        json_array_foreach(json_object_get(url, "query"), i, e) {
            if (json_is_true(json_object_get(e, "disabled")))
                continue;
            char *k = value_text(json_object_get(e, "key")), *v = value_text(json_object_get(e, "value"));
            buf_printf(&b, "%s%s=%s", strchr(b.data, '?') ? "&" : "?", k, v);
            free(k);
            free(v);
        }
    }
    if (!b.len) {
        import_skip(p->c, ptr, "%s: no url: not converted", where);
        buf_fini(&b);
        return NULL;
    }
    /* :name path variables (url.variable) take their values. */
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(url, "variable"), i, e) {
        const char *key = json_string_value(json_object_get(e, "key"));
        char pat[256];
        if (!key)
            continue;
        snprintf(pat, sizeof pat, "/:%s", key);
        char *hit = strstr(b.data, pat);
        size_t plen = strlen(pat);
        if (!hit || (hit[plen] && !strchr("/?#", hit[plen])))
            continue;
        char *v = value_text(json_object_get(e, "value"));
        struct buf nb;
        buf_init(&nb, TEXT_MAX);
        buf_printf(&nb, "%.*s/%s%s", (int)(hit - b.data), b.data, v, hit + plen);
        free(v);
        buf_fini(&b);
        b = nb;
    }
    if (strstr(b.data, "/:"))
        import_note(p->c, ptr, "%s: the url keeps a \":name\" path segment without a value", where);
    char *out;
    /* Postman sends a url without a scheme over http. */
    if (strncasecmp(b.data, "http://", 7) && strncasecmp(b.data, "https://", 8)
        && strncmp(b.data, "{{", 2)) {
        size_t n = b.len + 8;
        out = malloc(n);
        if (out)
            snprintf(out, n, "http://%s", b.data);
    } else {
        out = strdup(b.data);
    }
    buf_fini(&b);
    return out;
}

/* The body of a request. */
static void body(struct pm *p, const json_t *bd, const char *ptr, const char *where,
                 json_t *req, json_t *hdrs)
{
    const char *mode = json_string_value(json_object_get(bd, "mode"));
    char at[PTR_MAX];
    if (!bd || !mode || json_is_true(json_object_get(bd, "disabled")))
        return;
    child(at, ptr, mode);
    if (!strcmp(mode, "raw")) {
        const char *raw = json_string_value(json_object_get(bd, mode));
        const char *lang = json_string_value(json_object_get(json_object_get(
            json_object_get(bd, "options"), "raw"), "language"));
        const char *ct = NULL;
        const char *k;
        json_t *v;
        if (!raw || !*raw)
            return;
        json_object_foreach(hdrs, k, v)
            if (!strcasecmp(k, "Content-Type"))
                ct = json_string_value(v);
        json_t *parsed = (ct && strstr(ct, "json")) || (lang && !strcmp(lang, "json"))
                       ? json_loads(raw, JSON_DECODE_ANY, NULL) : NULL;
        if (parsed) {
            json_t *x = pm_json(p, parsed, at, where);
            if (x)
                json_object_set_new(req, "json", x);
            json_decref(parsed);
            return;
        }
        json_t *x = pm_text(p, raw, at, where);
        if (!x)
            return;
        json_object_set_new(req, "body", x);
        if (!ct) {
            static const char *const types[][2] = {
                {"json", "application/json"}, {"xml", "application/xml"}, {"html", "text/html"},
                {"javascript", "application/javascript"}, {NULL, NULL}
            };
            const char *t = "text/plain";
            for (int i = 0; lang && types[i][0]; i++)
                if (!strcmp(lang, types[i][0]))
                    t = types[i][1];
            json_object_set_new(hdrs, "Content-Type", json_string(t));
        }
    } else if (!strcmp(mode, "urlencoded") || !strcmp(mode, "formdata")) {
        int form = !strcmp(mode, "urlencoded");
        int multipart = !form && import_shape_supported("multipart");
        json_t *out = multipart ? json_array() : json_object();
        size_t i;
        json_t *e;
        char at2[PTR_MAX];
        json_array_foreach(json_object_get(bd, mode), i, e) {
            child_index(at2, at, i);
            if (json_is_true(json_object_get(e, "disabled")))
                continue;
            const char *key = json_string_value(json_object_get(e, "key"));
            const char *type = json_string_value(json_object_get(e, "type"));
            int file = type && !strcmp(type, "file");
            if (!key) {
                import_skip(p->c, at2, "%s: a %s field without a key: not converted", where, mode);
                continue;
            }
            if (!form && !multipart) {
                import_skip(p->c, at2, "%s: form-data field \"%s\" not converted (this probe has"
                            " no multipart bodies)", where, key);
                continue;
            }
            char *val = value_text(json_object_get(e, file ? "src" : "value"));
            json_t *v = pm_text(p, val, at2, where);
            free(val);
            if (!v)
                continue;
            if (multipart && file && json_is_string(v)) {
                /* newman reads a file part from its working folder; the journey names it
                 * relative to itself. */
                char rel[PATH_MAX];
                import_relpath(json_string_value(v), p->dir, p->c->opts->outdir, rel,
                               sizeof rel);
                json_decref(v);
                v = json_string(rel);
            }
            if (multipart) {
                json_array_append_new(out, json_pack("{s:s,s:o}", "name", key, file ? "file" : "value", v));
                if (file)
                    import_note(p->c, at2, "%s: file \"%s\" is read relative to the journey file",
                                where, json_string_value(v));
            } else if (json_object_get(out, key)) {
                import_skip(p->c, at2, "%s: a second urlencoded field \"%s\": not converted",
                            where, key);
                json_decref(v);
            } else {
                json_object_set_new(out, key, v);
            }
        }
        if ((multipart ? json_array_size(out) : json_object_size(out)) > 0)
            json_object_set(req, form ? "form" : "multipart", out);
        json_decref(out);
    } else if (!strcmp(mode, "graphql") && import_shape_supported("graphql")) {
        const json_t *g = json_object_get(bd, "graphql");
        const char *q = json_string_value(json_object_get(g, "query"));
        const char *vars = json_string_value(json_object_get(g, "variables"));
        json_t *pv = vars && *skip_ws(vars) ? json_loads(vars, 0, NULL) : json_object();
        json_t *qv = q ? pm_text(p, q, at, where) : NULL;
        json_t *vv = json_is_object(pv) ? pm_json(p, pv, at, where) : NULL;
        if (qv && vv)
            json_object_set_new(req, "graphql", json_pack("{s:O,s:O}", "query", qv, "variables", vv));
        else
            import_skip(p->c, at, "%s: a GraphQL body without a query or with variables that are"
                        " not a JSON object: not converted", where);
        json_decref(qv);
        json_decref(vv);
        json_decref(pv);
    } else {
        import_skip(p->c, at, "%s: %s body not converted (raw, urlencoded, form-data%s are)",
                    where, mode, import_shape_supported("graphql") ? " and graphql" : "");
    }
}

/* One request item as a step of journey j. */
static void request_item(struct pm *p, const json_t *item, const char *ptr, const char *where,
                         const json_t *inherited_auth, json_t *j, const char *prefix)
{
    const json_t *r = json_object_get(item, "request");
    char at[PTR_MAX];
    json_t *req = json_object(), *hdrs = json_object(), *query = json_object();
    struct tests t = {NULL, json_object(), json_object(), NULL, json_object(), -1, json_object()};
    json_t *step = json_object();

    child(at, ptr, "request");
    if (json_is_string(r))
        r = json_pack("{s:O}", "url", r);
    else
        json_incref((json_t *)r);
    const char *method = json_string_value(json_object_get(r, "method"));
    if (method && *method && !journey_token_ok(method)) {
        import_skip(p->c, at, "%s: method \"%.40s\" is not an HTTP method: not converted", where,
                    method);
        goto out;
    }
    char aturl[PTR_MAX];
    child(aturl, at, "url");
    char *url = request_url(p, json_object_get(r, "url"), aturl, where);
    json_t *u = url ? pm_text(p, url, aturl, where) : NULL;
    free(url);
    if (!u)
        goto out;
    json_object_set_new(req, "method", json_string(method && *method ? method : "GET"));
    json_object_set_new(req, "url", u);
    size_t i;
    json_t *h;
    char ath[PTR_MAX], at2[PTR_MAX];
    child(ath, at, "header");
    json_array_foreach(json_object_get(r, "header"), i, h) {
        child_index(at2, ath, i);
        const char *k = json_string_value(json_object_get(h, "key"));
        if (json_is_true(json_object_get(h, "disabled")) || !k || !*k)
            continue;
        char *v = value_text(json_object_get(h, "value"));
        json_t *x = pm_text(p, v, at2, where);
        free(v);
        if (x)
            set_header(p, hdrs, k, x, at2, where);
    }
    const json_t *a = json_object_get(r, "auth");
    char ata[PTR_MAX];
    child(ata, at, a ? "auth" : "");
    if (!a || (json_is_string(json_object_get(a, "type")) && !strcmp(json_string_value(json_object_get(a, "type")), "inherit")))
        a = inherited_auth;
    auth(p, a, a == json_object_get(r, "auth") ? ata : ptr, where, hdrs, query);
    char atb[PTR_MAX];
    child(atb, at, "body");
    body(p, json_object_get(r, "body"), atb, where, req, hdrs);
    if (json_object_size(hdrs))
        json_object_set(req, "headers", hdrs);
    if (json_object_size(query))
        json_object_set(req, "query", query);
    /* Keep the body after the headers, as a person writes a request. */
    json_t *bodyv;
    static const char *const bodies[] = {"json", "form", "multipart", "graphql", "body"};
    for (int k = 0; k < 5; k++)
        if ((bodyv = json_object_get(req, bodies[k]))) {
            json_incref(bodyv);
            json_object_del(req, bodies[k]);
            json_object_set_new(req, bodies[k], bodyv);
        }
    char ate[PTR_MAX];
    child(ate, ptr, "event");
    scripts(p, &t, json_object_get(item, "event"), ate, where);

    const char *name = json_string_value(json_object_get(item, "name"));
    char sname[600];
    snprintf(sname, sizeof sname, "%s%s", prefix, name && *name ? name : "request");
    json_object_set_new(step, "name", json_string(sname));
    json_object_set(step, "request", req);
    json_t *expect = json_object();
    if (t.status)
        json_object_set(expect, "status", t.status);
    if (t.max_ms > 0)
        json_object_set_new(expect, "max_ms", json_real(t.max_ms));
    if (json_object_size(t.headers))
        json_object_set(expect, "headers", t.headers);
    if (t.body)
        json_object_set(expect, "body", t.body);
    if (json_object_size(t.json))
        json_object_set(expect, "json", t.json);
    if (json_object_size(expect))
        json_object_set(step, "expect", expect);
    json_decref(expect);
    if (json_object_size(t.capture))
        json_object_set(step, "capture", t.capture);
    /* newman follows redirects unless the item says otherwise. */
    json_t *ppb = json_object_get(item, "protocolProfileBehavior");
    if (!json_is_false(json_object_get(ppb, "followRedirects")))
        json_object_set_new(step, "follow_redirects", json_true());
    json_array_append(json_object_get(j, "steps"), step);
out:
    json_decref((json_t *)r);
    json_decref(step);
    json_decref(req);
    json_decref(hdrs);
    json_decref(query);
    json_decref(t.status);
    json_decref(t.json);
    json_decref(t.headers);
    json_decref(t.body);
    json_decref(t.capture);
    json_decref(t.aliases);
}

/* Lists the scripts of a folder or of the collection, which run around every request. */
static void folder_events(struct pm *p, const json_t *events, const char *ptr, const char *where)
{
    size_t i;
    json_t *ev;
    char at[PTR_MAX];
    json_array_foreach(events, i, ev) {
        json_t *lines = script_lines(json_object_get(json_object_get(ev, "script"), "exec"));
        int empty = 1;
        size_t k;
        json_t *l;
        json_array_foreach(lines, k, l)
            empty &= !json_string_value(l) || !*skip_ws(json_string_value(l));
        json_decref(lines);
        child_index(at, ptr, i);
        if (!empty)
            import_skip(p->c, at, "%s: %s script (runs around every request) not converted",
                        where, json_string_value(json_object_get(ev, "listen"))
                                   ? json_string_value(json_object_get(ev, "listen")) : "?");
    }
}

/* Converts the items of a folder. j is the journey of the top-level folder being walked,
 * NULL at the top level, whose requests go into top. */
static void walk(struct pm *p, const json_t *items, const char *ptr, const char *where,
                 const char *prefix, const json_t *inherited, json_t *j, json_t *top,
                 const char *coll, int depth)
{
    size_t i;
    json_t *it;
    char at[PTR_MAX], at2[PTR_MAX];

    json_array_foreach(items, i, it) {
        child_index(at, ptr, i);
        const char *name = json_string_value(json_object_get(it, "name"));
        char w[600], pre[600];
        snprintf(w, sizeof w, "%s%sitem \"%s\"", where, *where ? " > " : "", name ? name : "");
        const json_t *a = json_object_get(it, "auth");
        if (!a || (json_is_string(json_object_get(a, "type"))
                   && !strcmp(json_string_value(json_object_get(a, "type")), "inherit")))
            a = inherited;
        if (!json_is_object(it)) {
            import_skip(p->c, at, "%s: not an item object: not converted", w);
        } else if (json_is_array(json_object_get(it, "item"))) {
            child(at2, at, "event");
            folder_events(p, json_object_get(it, "event"), at2, w);
            child(at2, at, "item");
            if (depth >= IMPORT_POSTMAN_DEPTH) {
                import_skip(p->c, at, "%s: folders nested deeper than %d: not converted", w,
                            IMPORT_POSTMAN_DEPTH);
            } else if (!j) {
                /* A top-level folder: a journey of its own. */
                char jname[600];
                snprintf(jname, sizeof jname, "%s / %s", coll, name ? name : "folder");
                json_t *fj = import_journey_new(jname, NULL);
                json_object_set(fj, "variables", json_object_get(p->vars, "\x01journey"));
                walk(p, json_object_get(it, "item"), at2, w, "", a, fj, top, coll, depth + 1);
                if (json_array_size(json_object_get(fj, "steps")))
                    import_add(p->c, fj);
                else
                    json_decref(fj);
            } else {
                snprintf(pre, sizeof pre, "%s%s / ", prefix, name ? name : "folder");
                walk(p, json_object_get(it, "item"), at2, w, pre, a, j, top, coll, depth + 1);
            }
        } else if (json_object_get(it, "request")) {
            request_item(p, it, at, w, a, j ? j : top, prefix);
        } else {
            import_skip(p->c, at, "%s: neither a request nor a folder: not converted", w);
        }
    }
}

/* Reads key/value entries (collection "variable", environment "values") into vars;
 * returns 0. Environment entries of type "secret" are noted in p->secret_vars. */
static void read_vars(struct pm *p, const json_t *list, const char *onoff, int env)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *k = json_string_value(json_object_get(e, "key"));
        if (!k)
            k = json_string_value(json_object_get(e, "id"));
        json_t *flag = json_object_get(e, onoff);
        if (!k || (env ? json_is_false(flag) : json_is_true(flag)))
            continue;
        char *v = value_text(json_object_get(e, "value"));
        json_object_set_new(p->vars, k, json_string(v));
        free(v);
        const char *type = json_string_value(json_object_get(e, "type"));
        if (env && type && !strcmp(type, "secret"))
            json_object_set_new(p->secret_vars, k, json_true());
    }
}

/* The journeys' variables: Postman's, {{references}} between them resolved (a journey's
 * variables are not rendered), secrets left out (they come from the environment). */
static json_t *journey_vars(struct pm *p)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(p->vars, k, v) {
        char jname[TEMPLATE_NAME_MAX + 8];
        if (json_object_get(p->secret_vars, k) || journey_name(p, k, jname, sizeof jname))
            continue;
        char *text = strdup(json_string_value(v));
        for (int round = 0; text && strstr(text, "{{") && round < 8; round++) {
            const char *open = strstr(text, "{{"), *close = strstr(open, "}}");
            if (!close)
                break;
            char ref[TEMPLATE_NAME_MAX * 2];
            snprintf(ref, sizeof ref, "%.*s", (int)(close - open - 2), open + 2);
            const char *val = json_string_value(json_object_get(p->vars, ref));
            if (!val)
                break;
            size_t n = strlen(text) + strlen(val) + 1;
            char *next = malloc(n);
            if (next)
                snprintf(next, n, "%.*s%s%s", (int)(open - text), text, val, close + 2);
            free(text);
            text = next;
        }
        if (text && strstr(text, "{{")) {
            import_skip(p->c, NULL, "variable \"%s\": its value \"%.80s\" refers to a variable"
                        " without a value: not converted, give it with --var %s=VALUE",
                        k, text, jname);
            json_object_set_new(out, jname, json_null());
        } else if (text) {
            json_object_set_new(out, jname, json_string(text));
        }
        free(text);
    }
    return out;
}

int import_postman(struct import_ctx *c, char *err, size_t errlen)
{
    char *input_copy = strdup(c->opts->input);
    struct pm p = {c, json_object(), json_object(),
                   c->opts->working_dir ? c->opts->working_dir
                                        : input_copy ? dirname(input_copy) : "."};
    json_t *root = import_read_json(c->opts->input, &c->pos, err, errlen);
    json_t *env = NULL;
    int rc = -1;

    if (!root)
        goto out;
    const json_t *info = json_object_get(root, "info");
    const char *schema = json_string_value(json_object_get(info, "schema"));
    if (!json_is_object(root) || (!json_is_array(json_object_get(root, "item"))
                                  && !json_is_array(json_object_get(root, "requests")))) {
        snprintf(err, errlen, "%s: not a Postman collection (no \"item\" list); export it from"
                 " Postman as Collection v2.1", c->input);
        goto out;
    }
    if (json_object_get(root, "requests") || (schema && strstr(schema, "/v1."))) {
        snprintf(err, errlen, "%s: a Postman collection v1, which is not read: export it from"
                 " Postman as Collection v2.1", c->input);
        goto out;
    }
    read_vars(&p, json_object_get(root, "variable"), "disabled", 0);
    if (c->opts->environment) {
        if (!(env = import_read_json(c->opts->environment, NULL, err, errlen)))
            goto out;
        if (!json_is_array(json_object_get(env, "values"))) {
            snprintf(err, errlen, "%s: not a Postman environment (no \"values\" list)",
                     c->opts->environment);
            goto out;
        }
        read_vars(&p, json_object_get(env, "values"), "enabled", 1);
    }
    const char *coll = json_string_value(json_object_get(info, "name"));
    if (!coll || !*coll)
        coll = "collection";
    json_t *vars = journey_vars(&p);
    /* Folders' journeys take the same variables (walk finds them under this key). */
    json_object_set_new(p.vars, "\x01journey", vars);
    folder_events(&p, json_object_get(root, "event"), "/event", "collection");
    json_t *top = import_journey_new(coll, NULL);
    json_object_set(top, "variables", vars);
    /* Requests at the top level go into the collection's journey, each top-level folder
     * into its own; top goes first so that it keeps the collection's file name. */
    size_t before = json_array_size(c->journeys);
    walk(&p, json_object_get(root, "item"), "/item", "", "", json_object_get(root, "auth"), NULL,
         top, coll, 0);
    if (json_array_size(json_object_get(top, "steps")))
        json_array_insert_new(c->journeys, before, top);
    else
        json_decref(top);
    rc = 0;
out:
    json_decref(root);
    json_decref(env);
    json_decref(p.vars);
    json_decref(p.secret_vars);
    free(input_copy);
    return rc;
}
