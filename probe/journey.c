#include "journey.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "jsonpos.h"
#include "template.h"
#include "text.h"

#define PTR_MAX 512

/* One journey file as read: its text parsed by jansson, and where each value stands. */
struct src {
    char *path;
    json_t *root;
    struct jsonpos *pos;
};

struct loader {
    char *err;
    size_t errlen;
    struct journey *j;
    char *stack[JOURNEY_INCLUDE_DEPTH + 1];   /* real paths of the files being loaded */
    size_t depth;
    struct use *uses;          /* every {{name}} met, checked once the whole file is in */
    size_t nuses;
    int no_uses;               /* parsing "defaults": their uses are noted per step */
};

/* One {{name}} in a journey: where it is written and the step that renders it. */
struct use {
    char *name;
    char *at;                  /* "FILE:LINE:COL" */
    size_t step;               /* index of the step that renders it */
};

/* Settings a step inherits from its file's "defaults". */
struct defaults {
    json_t *headers;
    long timeout_ms, retries, retry_interval_ms, wait_ms, max_redirects;
    double retry_backoff;
    int follow_redirects;
};

static const char *const journey_keys[] = {"name", "variables", "defaults", "steps", NULL};
static const char *const default_keys[] = {
    "headers", "timeout_ms", "retries", "retry_interval_ms", "retry_backoff",
    "follow_redirects", "max_redirects", "wait_ms", NULL
};
static const char *const step_keys[] = {
    "name", "request", "expect", "capture", "timeout_ms", "retries", "retry_interval_ms",
    "retry_backoff", "follow_redirects", "max_redirects", "wait_ms", NULL
};
static const char *const include_keys[] = {"include", "variables", NULL};
static const char *const request_keys[] = {
    "method", "url", "headers", "query", "json", "form", "body", "multipart", "graphql", NULL
};
static const char *const part_keys[] = {"name", "value", "file", "content_type", "filename", NULL};
static const char *const graphql_keys[] = {"query", "variables", "operation_name", NULL};
static const char *const expect_keys[] = {
    "status", "max_ms", "headers", "body", "json", "tls", "graphql_errors", NULL
};
static const char *const tls_keys[] = {"days_to_expiry", NULL};
static const char *const capture_keys[] = {"json", "header", "cookie", "regex", "group", "status", NULL};

/* Reports an error at the value (or, with key != 0, the key) at ptr in file f. */
__attribute__((format(printf, 5, 6)))
static int fail(struct loader *ld, const struct src *f, const char *ptr, int key,
                const char *fmt, ...)
{
    struct jsonpos_doc d = {f->path, f->pos, ld->err, ld->errlen};
    va_list ap;
    va_start(ap, fmt);
    jsonpos_vfail(&d, ptr, key, fmt, ap);
    va_end(ap);
    return -1;
}

static void child(char *dst, const char *parent, const char *key)
{
    jsonpos_child(dst, PTR_MAX, parent, key);
}

static void child_index(char *dst, const char *parent, size_t i)
{
    snprintf(dst, PTR_MAX, "%s/%zu", parent, i);
}

static int check_keys(struct loader *ld, const struct src *f, const json_t *obj,
                      const char *ptr, const char *const *allowed, const char *where)
{
    struct jsonpos_doc d = {f->path, f->pos, ld->err, ld->errlen};
    return jsonpos_check_keys(&d, obj, ptr, allowed, where);
}

static int opt_long(struct loader *ld, const struct src *f, const json_t *obj,
                    const char *ptr, const char *key, long lo, long hi, long *out)
{
    json_t *v = json_object_get(obj, key);
    char at[PTR_MAX];
    if (!v)
        return 0;
    child(at, ptr, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(ld, f, at, 0, "\"%s\" must be a whole number from %ld to %ld", key, lo, hi);
    *out = (long)json_integer_value(v);
    return 0;
}

static int opt_bool(struct loader *ld, const struct src *f, const json_t *obj,
                    const char *ptr, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    char at[PTR_MAX];
    if (!v)
        return 0;
    child(at, ptr, key);
    if (!json_is_boolean(v))
        return fail(ld, f, at, 0, "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* Writes "FILE:LINE:COL" of the value at ptr of f into dst. */
static void position(const struct src *f, const char *ptr, char *dst, size_t dstlen)
{
    int line = 0, col = 0;
    jsonpos_find(f->pos, ptr, 0, &line, &col);
    snprintf(dst, dstlen, "%s:%d:%d", f->path, line, col);
}

/* Where the names of one template string are being noted from. */
struct noting {
    struct loader *ld;
    const struct src *f;
    const char *ptr;
    size_t step;
};

static void note_secret(struct journey *j, const char *name)
{
    if (strncmp(name, "secret.", 7) != 0 || !name[7])
        return;
    for (size_t i = 0; i < j->nsecret_names; i++)
        if (strcmp(j->secret_names[i], name + 7) == 0)
            return;
    char **v = realloc(j->secret_names, (j->nsecret_names + 1) * sizeof *v);
    if (!v)
        return;
    j->secret_names = v;
    if ((v[j->nsecret_names] = strdup(name + 7)))
        j->nsecret_names++;
}

/* Notes the first place each {{env.X}} and {{secret.X}} is written, for
 * journey_check_env. */
static void note_env(struct journey *j, const char *name, const char *at)
{
    if (!((strncmp(name, "env.", 4) == 0 && name[4]) || (strncmp(name, "secret.", 7) == 0 && name[7])))
        return;
    for (size_t i = 0; i < j->nenv_refs; i++)
        if (strcmp(j->env_refs[i].name, name) == 0)
            return;
    struct journey_ref *v = realloc(j->env_refs, (j->nenv_refs + 1) * sizeof *v);
    if (!v)
        return;
    j->env_refs = v;
    v[j->nenv_refs].name = strdup(name);
    v[j->nenv_refs].at = strdup(at);
    if (v[j->nenv_refs].name && v[j->nenv_refs].at)
        j->nenv_refs++;
}

static void note_name(void *ctx, const char *name)
{
    struct noting *n = ctx;
    struct loader *ld = n->ld;
    char at[PATH_MAX + 32];

    note_secret(ld->j, name);
    if (ld->no_uses)
        return;
    position(n->f, n->ptr, at, sizeof at);
    note_env(ld->j, name, at);
    struct use *v = realloc(ld->uses, (ld->nuses + 1) * sizeof *v);
    if (!v)
        return;
    ld->uses = v;
    v[ld->nuses].name = strdup(name);
    v[ld->nuses].at = strdup(at);
    v[ld->nuses].step = n->step;
    if (v[ld->nuses].name && v[ld->nuses].at)
        ld->nuses++;
}

/* The step whose rendering a template being parsed now belongs to: the step being
 * parsed, or (for an include's variables) the first step still to come. */
static size_t current_step(const struct loader *ld, int next)
{
    return next || ld->j->nsteps == 0 ? ld->j->nsteps : ld->j->nsteps - 1;
}

/* Checks the template syntax of every string inside v and notes the names used, as
 * rendered by step `step`. */
static int check_templates_at(struct loader *ld, const struct src *f, const json_t *v,
                              const char *ptr, size_t step)
{
    char msg[256], at[PTR_MAX];
    if (json_is_string(v)) {
        struct noting n = {ld, f, ptr, step};
        if (template_names(json_string_value(v), note_name, &n, msg, sizeof msg) < 0)
            return fail(ld, f, ptr, 0, "%s", msg);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            child_index(at, ptr, i);
            if (check_templates_at(ld, f, item, at, step) < 0)
                return -1;
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item) {
            child(at, ptr, key);
            if (check_templates_at(ld, f, item, at, step) < 0)
                return -1;
        }
    }
    return 0;
}

static int check_templates(struct loader *ld, const struct src *f, const json_t *v,
                           const char *ptr)
{
    return check_templates_at(ld, f, v, ptr, current_step(ld, 0));
}

int journey_token_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

/* Parses an object of name -> text (strings; numbers and booleans are taken as text).
 * Returns a new object of strings, or NULL after reporting. header != 0 checks names. */
static json_t *string_map(struct loader *ld, const struct src *f, const json_t *v,
                          const char *ptr, const char *what, int header)
{
    const char *key;
    json_t *item;
    char at[PTR_MAX];

    if (!json_is_object(v)) {
        fail(ld, f, ptr, 0, "\"%s\" must be an object of names to strings", what);
        return NULL;
    }
    json_t *out = json_object();
    json_object_foreach((json_t *)v, key, item) {
        child(at, ptr, key);
        if (header && !journey_token_ok(key)) {
            fail(ld, f, at, 1, "\"%s\" is not a valid header name", key);
            goto fail;
        }
        if (json_is_string(item)) {
            if (check_templates(ld, f, item, at) < 0)
                goto fail;
            json_object_set(out, key, item);
        } else if (json_is_number(item) || json_is_boolean(item)) {
            char *s = template_text(item);
            json_object_set_new(out, key, json_string(s));
            free(s);
        } else {
            fail(ld, f, at, 0, "%s \"%s\" must be a string", what, key);
            goto fail;
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static int has_content_type(const json_t *headers)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)headers, key, v)
        if (strcasecmp(key, "Content-Type") == 0)
            return 1;
    return 0;
}

/* Merges headers over base, a name given in over replacing any case variant in base. */
static json_t *merge_headers(const json_t *base, const json_t *over)
{
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)base, key, v) {
        int replaced = 0;
        const char *k2;
        json_t *v2;
        json_object_foreach((json_t *)over, k2, v2)
            replaced |= strcasecmp(key, k2) == 0;
        if (!replaced)
            json_object_set(out, key, v);
    }
    json_object_update(out, (json_t *)over);
    return out;
}

static int parse_options(struct loader *ld, const struct src *f, const json_t *obj,
                         const char *ptr, struct defaults *d)
{
    char at[PTR_MAX];
    json_t *b = json_object_get(obj, "retry_backoff");
    if (opt_long(ld, f, obj, ptr, "timeout_ms", 1, 3600000, &d->timeout_ms) < 0
        || opt_long(ld, f, obj, ptr, "retries", 0, 100, &d->retries) < 0
        || opt_long(ld, f, obj, ptr, "retry_interval_ms", 0, 3600000, &d->retry_interval_ms) < 0
        || opt_long(ld, f, obj, ptr, "wait_ms", 0, 3600000, &d->wait_ms) < 0
        || opt_long(ld, f, obj, ptr, "max_redirects", 0, 100, &d->max_redirects) < 0
        || opt_bool(ld, f, obj, ptr, "follow_redirects", &d->follow_redirects) < 0)
        return -1;
    if (b) {
        child(at, ptr, "retry_backoff");
        if (!json_is_number(b) || json_number_value(b) < 1 || json_number_value(b) > 10)
            return fail(ld, f, at, 0, "\"retry_backoff\" must be a number from 1 to 10");
        d->retry_backoff = json_number_value(b);
    }
    return 0;
}

/* Parses a predicate, reporting unknown operators at their key. */
static struct predicate *predicate_at(struct loader *ld, const struct src *f,
                                      const json_t *spec, const char *ptr, const char *what)
{
    char msg[256];
    if (json_is_object(spec) && check_keys(ld, f, spec, ptr, predicate_ops, what) < 0)
        return NULL;
    struct predicate *p = predicate_parse(spec, msg, sizeof msg);
    if (!p)
        fail(ld, f, ptr, 0, "%s: %s", what, msg);
    return p;
}

static int parse_status(struct loader *ld, const struct src *f, struct step *s,
                        const json_t *v, const char *ptr)
{
    const json_t *one[1] = {v};
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    char at[PTR_MAX];

    if (json_is_array(v) && n == 0)
        return fail(ld, f, ptr, 0, "\"status\" list is empty");
    s->status = calloc(n, sizeof *s->status);
    if (!s->status)
        return fail(ld, f, ptr, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : one[0];
        const char *cls = json_string_value(e);
        if (json_is_array(v))
            child_index(at, ptr, i);
        else
            snprintf(at, sizeof at, "%s", ptr);
        if (json_is_integer(e) && json_integer_value(e) >= 100 && json_integer_value(e) <= 599) {
            s->status[i].lo = s->status[i].hi = (int)json_integer_value(e);
        } else if (cls && strlen(cls) == 3 && cls[0] >= '1' && cls[0] <= '5'
                   && tolower((unsigned char)cls[1]) == 'x' && tolower((unsigned char)cls[2]) == 'x') {
            s->status[i].lo = (cls[0] - '0') * 100;
            s->status[i].hi = s->status[i].lo + 99;
        } else {
            return fail(ld, f, at, 0, "\"status\" takes a code from 100 to 599, a class such"
                        " as \"2xx\", or a list of them");
        }
        s->nstatus++;
    }
    return 0;
}

static int parse_expect(struct loader *ld, const struct src *f, struct step *s,
                        const json_t *e, const char *ptr, const char *where)
{
    char at[PTR_MAX], at2[PTR_MAX], what[300];
    const char *key;
    json_t *v;

    s->max_ms = -1;
    if (!e) {
        s->status = calloc(1, sizeof *s->status);
        if (!s->status)
            return -1;
        s->status[0] = (struct status_range){200, 299};
        s->nstatus = 1;
        return 0;
    }
    if (!json_is_object(e))
        return fail(ld, f, ptr, 0, "\"expect\" must be an object");
    if (check_keys(ld, f, e, ptr, expect_keys, where) < 0)
        return -1;
    child(at, ptr, "status");
    json_t *any2xx = json_string("2xx");
    int rc = parse_status(ld, f, s, json_object_get(e, "status") ? json_object_get(e, "status")
                                                                 : any2xx, at);
    json_decref(any2xx);
    if (rc < 0)
        return -1;
    if ((v = json_object_get(e, "max_ms"))) {
        child(at, ptr, "max_ms");
        if (!json_is_number(v) || json_number_value(v) <= 0)
            return fail(ld, f, at, 0, "\"max_ms\" must be a number of milliseconds > 0");
        s->max_ms = json_number_value(v);
    }
    if ((v = json_object_get(e, "headers"))) {
        child(at, ptr, "headers");
        if (!json_is_object(v))
            return fail(ld, f, at, 0, "\"headers\" must be an object of header names to"
                        " predicates");
        s->header_checks = calloc(json_object_size(v) + 1, sizeof *s->header_checks);
        json_t *p;
        json_object_foreach(v, key, p) {
            child(at2, at, key);
            if (!journey_token_ok(key))
                return fail(ld, f, at2, 1, "\"%s\" is not a valid header name", key);
            snprintf(what, sizeof what, "header \"%s\"", key);
            struct check *c = &s->header_checks[s->nheader_checks];
            if (!(c->pred = predicate_at(ld, f, p, at2, what)))
                return -1;
            c->what = strdup(key);
            s->nheader_checks++;
        }
    }
    if ((v = json_object_get(e, "body"))) {
        child(at, ptr, "body");
        if (!(s->body_pred = predicate_at(ld, f, v, at, "\"body\"")))
            return -1;
    }
    if ((v = json_object_get(e, "json"))) {
        child(at, ptr, "json");
        if (!json_is_object(v))
            return fail(ld, f, at, 0, "\"json\" must be an object of JSONPaths to predicates");
        s->json_checks = calloc(json_object_size(v) + 1, sizeof *s->json_checks);
        json_t *p;
        json_object_foreach(v, key, p) {
            char msg[256];
            child(at2, at, key);
            struct check *c = &s->json_checks[s->njson_checks];
            if (!(c->path = jsonpath_compile(key, msg, sizeof msg)))
                return fail(ld, f, at2, 1, "JSONPath \"%s\": %s", key, msg);
            c->what = strdup(key);
            s->njson_checks++;
            snprintf(what, sizeof what, "JSONPath \"%s\"", key);
            if (!(c->pred = predicate_at(ld, f, p, at2, what)))
                return -1;
        }
    }
    if ((v = json_object_get(e, "graphql_errors"))) {
        child(at, ptr, "graphql_errors");
        if (s->body_kind != BODY_GRAPHQL)
            return fail(ld, f, at, 1, "\"graphql_errors\" goes only with a \"graphql\" request");
        if (opt_bool(ld, f, e, ptr, "graphql_errors", &s->graphql_errors) < 0)
            return -1;
    }
    if ((v = json_object_get(e, "tls"))) {
        child(at, ptr, "tls");
        if (!json_is_object(v))
            return fail(ld, f, at, 0, "\"tls\" must be an object such as"
                        " {\"days_to_expiry\": {\"ge\": 14}}");
        if (check_keys(ld, f, v, at, tls_keys, "\"tls\"") < 0)
            return -1;
        json_t *p = json_object_get(v, "days_to_expiry");
        if (p) {
            child(at2, at, "days_to_expiry");
            if (!(s->tls_days = predicate_at(ld, f, p, at2, "\"days_to_expiry\"")))
                return -1;
        }
    }
    return 0;
}

static int valid_var_name(const char *s)
{
    char msg[64], buf[TEMPLATE_NAME_MAX + 8];
    snprintf(buf, sizeof buf, "{{%s}}", s);
    return strlen(s) < TEMPLATE_NAME_MAX && template_names(buf, NULL, NULL, msg, sizeof msg) == 0
        && !strchr(s, ' ') && strncmp(s, "env.", 4) != 0 && strncmp(s, "secret.", 7) != 0;
}

static int parse_captures(struct loader *ld, const struct src *f, struct step *s,
                          const json_t *c, const char *ptr)
{
    char at[PTR_MAX], at2[PTR_MAX], msg[256];
    const char *name;
    json_t *src;

    if (!json_is_object(c))
        return fail(ld, f, ptr, 0, "\"capture\" must be an object of names to sources");
    s->captures = calloc(json_object_size(c) + 1, sizeof *s->captures);
    json_object_foreach((json_t *)c, name, src) {
        child(at, ptr, name);
        if (!valid_var_name(name))
            return fail(ld, f, at, 1, "\"%s\" is not a usable variable name (letters, digits,"
                        " _ . : -; not env.* or secret.*)", name);
        if (!json_is_object(src))
            return fail(ld, f, at, 0, "capture \"%s\" must be an object such as"
                        " {\"json\": \"$.token\"}", name);
        snprintf(msg, sizeof msg, "capture \"%s\"", name);
        if (check_keys(ld, f, src, at, capture_keys, msg) < 0)
            return -1;
        struct capture *cap = &s->captures[s->ncaptures];
        int kinds = 0;
        static const char *const kind_keys[] = {"json", "header", "cookie", "regex", "status"};
        for (int k = 0; k < 5; k++) {
            json_t *arg = json_object_get(src, kind_keys[k]);
            if (!arg)
                continue;
            kinds++;
            cap->kind = (enum capture_kind)k;
            child(at2, at, kind_keys[k]);
            if (k == CAP_STATUS) {
                if (!json_is_true(arg))
                    return fail(ld, f, at2, 0, "\"status\" capture takes true");
            } else if (!json_is_string(arg) || !*json_string_value(arg)) {
                return fail(ld, f, at2, 0, "\"%s\" takes a non-empty string", kind_keys[k]);
            } else {
                cap->arg = strdup(json_string_value(arg));
            }
        }
        if (kinds != 1)
            return fail(ld, f, at, 0, "capture \"%s\" needs exactly one of json, header,"
                        " cookie, regex, status", name);
        cap->name = strdup(name);
        cap->group = 1;
        s->ncaptures++;
        child(at2, at, kind_keys[cap->kind]);
        if (cap->kind == CAP_JSON && !(cap->path = jsonpath_compile(cap->arg, msg, sizeof msg)))
            return fail(ld, f, at2, 0, "JSONPath \"%s\": %s", cap->arg, msg);
        json_t *g = json_object_get(src, "group");
        if (g && cap->kind != CAP_REGEX)
            return fail(ld, f, at, 0, "\"group\" goes only with \"regex\"");
        if (g && (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > 9)) {
            child(at2, at, "group");
            return fail(ld, f, at2, 0, "\"group\" must be a whole number from 0 to 9");
        }
        if (g)
            cap->group = (int)json_integer_value(g);
        if (cap->kind == CAP_REGEX) {
            int rc = strlen(cap->arg) > PREDICATE_REGEX_MAX ? REG_ESPACE
                   : regcomp(&cap->re, cap->arg, REG_EXTENDED);
            if (rc != 0) {
                regerror(rc, &cap->re, msg, sizeof msg);
                cap->kind = CAP_HEADER;    /* nothing compiled to free */
                return fail(ld, f, at2, 0, "invalid POSIX extended regex: %s", msg);
            }
            if ((size_t)cap->group > cap->re.re_nsub) {
                if (g)
                    child(at2, at, "group");
                return fail(ld, f, at2, 0, "the regex has %zu group(s); group %d asked",
                            cap->re.re_nsub, cap->group);
            }
        }
    }
    return 0;
}

static void relative_path(const struct src *f, const char *name, char *dst, size_t dstlen);

/* An optional non-empty string member key of obj into *out (NULL when absent). */
static int opt_string(struct loader *ld, const struct src *f, const json_t *obj,
                      const char *ptr, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    char at[PTR_MAX];
    *out = NULL;
    if (!v)
        return 0;
    child(at, ptr, key);
    if (!json_is_string(v) || !*json_string_value(v))
        return fail(ld, f, at, 0, "\"%s\" must be a non-empty string", key);
    *out = json_string_value(v);
    return 0;
}

/* Parses a "multipart" list into an array of parts, each file resolved against the
 * journey file's folder and checked readable now, so that a missing file is a load error
 * rather than a failed step. */
static json_t *parse_multipart(struct loader *ld, const struct src *f, const json_t *v,
                               const char *ptr)
{
    char at[PTR_MAX], at2[PTR_MAX], where[64], path[PATH_MAX];
    json_t *out = json_array(), *part;
    size_t i;

    if (!json_is_array(v) || json_array_size(v) == 0) {
        fail(ld, f, ptr, 0, "\"multipart\" must be a non-empty array of parts such as"
             " {\"name\": \"f\", \"file\": \"a.png\"} or {\"name\": \"k\", \"value\": \"v\"}");
        goto fail;
    }
    if (json_array_size(v) > JOURNEY_PARTS_MAX) {
        fail(ld, f, ptr, 0, "more than %d multipart parts", JOURNEY_PARTS_MAX);
        goto fail;
    }
    json_array_foreach(v, i, part) {
        const char *name, *file, *type, *filename;
        json_t *value = json_object_get(part, "value");
        child_index(at, ptr, i);
        snprintf(where, sizeof where, "multipart part %zu", i + 1);
        if (!json_is_object(part)) {
            fail(ld, f, at, 0, "%s must be an object with \"name\" and \"value\" or \"file\"",
                 where);
            goto fail;
        }
        if (check_keys(ld, f, part, at, part_keys, where) < 0
            || opt_string(ld, f, part, at, "name", &name) < 0
            || opt_string(ld, f, part, at, "file", &file) < 0
            || opt_string(ld, f, part, at, "content_type", &type) < 0
            || opt_string(ld, f, part, at, "filename", &filename) < 0)
            goto fail;
        if (!name || (!value == !file)) {
            fail(ld, f, at, 0, "%s needs a \"name\" and exactly one of \"value\" and \"file\"",
                 where);
            goto fail;
        }
        json_t *o = json_pack("{s:s}", "name", name);
        json_array_append_new(out, o);
        if (type)
            json_object_set_new(o, "content_type", json_string(type));
        if (filename)
            json_object_set_new(o, "filename", json_string(filename));
        if (value) {
            child(at2, at, "value");
            if (!json_is_string(value)) {
                fail(ld, f, at2, 0, "%s \"value\" must be a string", where);
                goto fail;
            }
            if (check_templates(ld, f, value, at2) < 0)
                goto fail;
            json_object_set(o, "value", value);
            continue;
        }
        struct stat st;
        child(at2, at, "file");
        relative_path(f, file, path, sizeof path);
        if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
            fail(ld, f, at2, 0, "cannot read %s (%s): %s", file, path, strerror(errno));
            goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
            fail(ld, f, at2, 0, "%s (%s) is not a regular file", file, path);
            goto fail;
        }
        json_object_set_new(o, "file", json_string(path));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* Parses a "graphql" object into the JSON body of a GraphQL-over-HTTP POST: query,
 * variables and operationName (https://graphql.github.io/graphql-over-http/). */
static json_t *parse_graphql(struct loader *ld, const struct src *f, const json_t *v,
                             const char *ptr)
{
    char at[PTR_MAX];
    const char *query, *op;
    json_t *vars = json_object_get(v, "variables");

    if (!json_is_object(v)) {
        fail(ld, f, ptr, 0, "\"graphql\" must be an object such as {\"query\": \"{ me { id } }\","
             " \"variables\": {...}}");
        return NULL;
    }
    if (check_keys(ld, f, v, ptr, graphql_keys, "\"graphql\"") < 0
        || opt_string(ld, f, v, ptr, "query", &query) < 0
        || opt_string(ld, f, v, ptr, "operation_name", &op) < 0)
        return NULL;
    if (!query) {
        fail(ld, f, ptr, 0, "\"graphql\" needs a \"query\" (a non-empty string)");
        return NULL;
    }
    child(at, ptr, "query");
    if (check_templates(ld, f, json_object_get(v, "query"), at) < 0)
        return NULL;
    child(at, ptr, "variables");
    if (vars && !json_is_object(vars)) {
        fail(ld, f, at, 0, "graphql \"variables\" must be an object");
        return NULL;
    }
    if (vars && check_templates(ld, f, vars, at) < 0)
        return NULL;
    json_t *body = json_pack("{s:s}", "query", query);
    if (vars)
        json_object_set(body, "variables", vars);
    if (op)
        json_object_set_new(body, "operationName", json_string(op));
    return body;
}

static int parse_request(struct loader *ld, const struct src *f, struct step *s,
                         const json_t *r, const char *ptr, const struct defaults *d,
                         const char *where)
{
    char at[PTR_MAX];
    json_t *v;
    static const char *const bodies[] = {"json", "form", "body", "multipart", "graphql"};

    if (!json_is_object(r))
        return fail(ld, f, ptr, 0, "\"request\" must be an object with at least \"url\"");
    if (check_keys(ld, f, r, ptr, request_keys, where) < 0)
        return -1;
    v = json_object_get(r, "method");
    child(at, ptr, "method");
    if (v && (!json_is_string(v) || !journey_token_ok(json_string_value(v))))
        return fail(ld, f, at, 0, "\"method\" must be an HTTP method such as \"POST\"");
    s->method = strdup(v ? json_string_value(v) : "GET");
    v = json_object_get(r, "url");
    child(at, ptr, "url");
    if (!v)
        return fail(ld, f, ptr, 0, "%s: \"request\" needs a \"url\"", where);
    if (!json_is_string(v))
        return fail(ld, f, at, 0, "\"url\" must be a string");
    if (check_templates(ld, f, v, at) < 0)
        return -1;
    s->url = strdup(json_string_value(v));
    char pos[PATH_MAX + 32];
    position(f, at, pos, sizeof pos);
    s->url_at = strdup(pos);

    json_t *own = json_object();
    if ((v = json_object_get(r, "headers"))) {
        json_decref(own);
        child(at, ptr, "headers");
        if (!(own = string_map(ld, f, v, at, "header", 1)))
            return -1;
    }
    s->headers = merge_headers(d->headers, own);
    const char *key;
    json_t *dv;
    json_object_foreach(d->headers, key, dv) {
        if (json_object_get(s->headers, key) == dv) {
            child(at, "/defaults/headers", key);
            if (check_templates(ld, f, dv, at) < 0) {
                json_decref(own);
                return -1;
            }
        }
    }
    json_decref(own);
    if ((v = json_object_get(r, "query"))) {
        child(at, ptr, "query");
        if (!(s->query = string_map(ld, f, v, at, "query parameter", 0)))
            return -1;
    }
    for (int k = 0; k < 5; k++) {
        if (!(v = json_object_get(r, bodies[k])))
            continue;
        child(at, ptr, bodies[k]);
        if (s->body_kind != BODY_NONE)
            return fail(ld, f, at, 1, "give only one of \"json\", \"form\", \"body\","
                        " \"multipart\" and \"graphql\"");
        s->body_kind = (enum body_kind)(k + 1);
        if (k == 0) {
            if (check_templates(ld, f, v, at) < 0)
                return -1;
            s->body = json_incref(v);
        } else if (k == 1) {
            if (!(s->body = string_map(ld, f, v, at, "form field", 0)))
                return -1;
        } else if (k == 2) {
            if (!json_is_string(v))
                return fail(ld, f, at, 0, "\"body\" must be a string (use \"json\" for JSON)");
            if (check_templates(ld, f, v, at) < 0)
                return -1;
            s->body = json_incref(v);
        } else if (k == 3) {
            if (!(s->body = parse_multipart(ld, f, v, at)))
                return -1;
            /* As curl -F: a form upload is a POST unless the journey says otherwise. */
            if (!json_object_get(r, "method")) {
                free(s->method);
                s->method = strdup("POST");
            }
            if (has_content_type(s->headers)) {
                child(at, ptr, "headers");
                return fail(ld, f, at, 0, "a \"multipart\" request takes no Content-Type header:"
                            " libcurl writes it with the boundary");
            }
        } else {
            if (!(s->body = parse_graphql(ld, f, v, at)))
                return -1;
            json_t *m = json_object_get(r, "method");
            if (m && strcmp(s->method, "POST") != 0) {
                child(at, ptr, "method");
                return fail(ld, f, at, 0, "a \"graphql\" request is sent as a JSON POST;"
                            " leave out \"method\" or say \"POST\"");
            }
            free(s->method);
            s->method = strdup("POST");
        }
    }
    return 0;
}

static struct step *new_step(struct loader *ld, const struct src *f, const char *ptr)
{
    struct journey *j = ld->j;
    if (j->nsteps == JOURNEY_STEPS_MAX) {
        fail(ld, f, ptr, 0, "more than %d steps in one journey", JOURNEY_STEPS_MAX);
        return NULL;
    }
    struct step *v = realloc(j->steps, (j->nsteps + 1) * sizeof *v);
    if (!v)
        return NULL;
    j->steps = v;
    memset(&v[j->nsteps], 0, sizeof *v);
    return &v[j->nsteps++];
}

static int parse_step(struct loader *ld, const struct src *f, const json_t *e,
                      const char *ptr, size_t index, const struct defaults *d)
{
    char where[300], at[PTR_MAX];
    json_t *name = json_object_get(e, "name");
    struct step *s = new_step(ld, f, ptr);
    struct defaults o = *d;

    if (!s)
        return -1;
    child(at, ptr, "name");
    if (name && (!json_is_string(name) || !*json_string_value(name)))
        return fail(ld, f, at, 0, "step \"name\" must be a non-empty string");
    if (name) {
        s->name = strdup(json_string_value(name));
    } else {
        char dflt[32];
        snprintf(dflt, sizeof dflt, "step %zu", index + 1);
        s->name = strdup(dflt);
    }
    s->file = strdup(f->path);
    if (name)
        snprintf(where, sizeof where, "step %zu \"%s\"", index + 1, s->name);
    else
        snprintf(where, sizeof where, "step %zu", index + 1);
    if (check_keys(ld, f, e, ptr, step_keys, where) < 0 || parse_options(ld, f, e, ptr, &o) < 0)
        return -1;
    s->timeout_ms = o.timeout_ms;
    s->retries = o.retries;
    s->retry_interval_ms = o.retry_interval_ms;
    s->retry_backoff = o.retry_backoff;
    s->wait_ms = o.wait_ms;
    s->max_redirects = o.max_redirects;
    s->follow_redirects = o.follow_redirects;
    child(at, ptr, "request");
    if (!json_object_get(e, "request"))
        return fail(ld, f, ptr, 0, "%s has no \"request\"", where);
    if (parse_request(ld, f, s, json_object_get(e, "request"), at, d, where) < 0)
        return -1;
    child(at, ptr, "expect");
    if (parse_expect(ld, f, s, json_object_get(e, "expect"), at, where) < 0)
        return -1;
    child(at, ptr, "capture");
    if (json_object_get(e, "capture")
        && parse_captures(ld, f, s, json_object_get(e, "capture"), at) < 0)
        return -1;
    return 0;
}

static int read_src(struct loader *ld, const char *path, struct src *f)
{
    json_error_t je;
    struct buf text;
    int rc = -1;

    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    buf_init(&text, JOURNEY_FILE_MAX);
    if (buf_read_file(&text, path, ld->err, ld->errlen) < 0)
        goto out;
    f->root = json_loadb(text.data, text.len, JSON_REJECT_DUPLICATES, &je);
    if (!f->root) {
        snprintf(ld->err, ld->errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        goto out;
    }
    f->pos = jsonpos_new(text.data, text.len);
    rc = 0;
out:
    buf_fini(&text);
    return rc;
}

static void free_src(struct src *f)
{
    free(f->path);
    json_decref(f->root);
    jsonpos_free(f->pos);
}

static int load_file(struct loader *ld, const char *path, const char *as_written,
                     const struct src *from, const char *from_ptr, json_t *set_vars);

/* Writes into dst the path of name as written in file f: relative to f's folder. */
static void relative_path(const struct src *f, const char *name, char *dst, size_t dstlen)
{
    const char *slash = strrchr(f->path, '/');
    if (name[0] == '/' || !slash)
        snprintf(dst, dstlen, "%s", name);
    else
        snprintf(dst, dstlen, "%.*s/%s", (int)(slash - f->path), f->path, name);
}

/* Splices in the steps of an include entry e of file f. */
static int parse_include(struct loader *ld, const struct src *f, const json_t *e,
                         const char *ptr)
{
    char at[PTR_MAX], path[PATH_MAX];
    json_t *inc = json_object_get(e, "include");
    json_t *vars = json_object_get(e, "variables");

    if (check_keys(ld, f, e, ptr, include_keys, "an include") < 0)
        return -1;
    child(at, ptr, "include");
    if (!json_is_string(inc) || !*json_string_value(inc))
        return fail(ld, f, at, 0, "\"include\" must be a file name");
    const char *name = json_string_value(inc);
    relative_path(f, name, path, sizeof path);
    child(at, ptr, "variables");
    if (vars && !json_is_object(vars))
        return fail(ld, f, at, 0, "include \"variables\" must be an object");
    if (vars && check_templates_at(ld, f, vars, at, current_step(ld, 1)) < 0)
        return -1;
    child(at, ptr, "include");
    return load_file(ld, path, name, f, at, vars);
}

/* Loads the journey file at path (as_written: its name in the including file) and
 * appends its steps; from and from_ptr locate the include, NULL for the top file. */
static int load_file(struct loader *ld, const char *path, const char *as_written,
                     const struct src *from, const char *from_ptr, json_t *set_vars)
{
    struct src f;
    char real[PATH_MAX], at[PTR_MAX];
    struct defaults d = {NULL, 10000, 0, 1000, 0, 10, 1.0, 0};
    int rc = -1;
    size_t first = ld->j->nsteps;

    if (!realpath(path, real)) {
        if (from)
            return fail(ld, from, from_ptr, 0, "cannot include %s: %s", as_written,
                        strerror(errno));
        snprintf(ld->err, ld->errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < ld->depth; i++) {
        if (strcmp(ld->stack[i], real) == 0)
            return fail(ld, from, from_ptr, 0, "include cycle: %s is already being included",
                        as_written);
    }
    if (ld->depth > JOURNEY_INCLUDE_DEPTH)
        return fail(ld, from, from_ptr, 0, "includes nested deeper than %d",
                    JOURNEY_INCLUDE_DEPTH);
    if (read_src(ld, path, &f) < 0) {
        free_src(&f);
        return -1;
    }
    ld->stack[ld->depth++] = strdup(real);
    d.headers = json_object();

    json_t *root = f.root, *v;
    if (!json_is_object(root)) {
        fail(ld, &f, "", 0, "a journey must be a JSON object");
        goto out;
    }
    if (check_keys(ld, &f, root, "", journey_keys, "the journey") < 0)
        goto out;
    v = json_object_get(root, "name");
    if (!json_is_string(v) || !*json_string_value(v)) {
        fail(ld, &f, v ? "/name" : "", 0, "the journey needs a \"name\" (a non-empty string)");
        goto out;
    }
    if (!ld->j->name) {
        ld->j->name = strdup(json_string_value(v));
        ld->j->file = strdup(path);
    }
    if ((v = json_object_get(root, "variables"))) {
        const char *key;
        json_t *val;
        if (!json_is_object(v)) {
            fail(ld, &f, "/variables", 0, "\"variables\" must be an object");
            goto out;
        }
        json_object_foreach(v, key, val) {
            child(at, "/variables", key);
            if (!valid_var_name(key)) {
                fail(ld, &f, at, 1, "\"%s\" is not a usable variable name (letters, digits,"
                     " _ . : -; not env.* or secret.*)", key);
                goto out;
            }
        }
        json_object_update_missing(ld->j->variables, v);
    }
    if ((v = json_object_get(root, "defaults"))) {
        if (!json_is_object(v)) {
            fail(ld, &f, "/defaults", 0, "\"defaults\" must be an object");
            goto out;
        }
        if (check_keys(ld, &f, v, "/defaults", default_keys, "\"defaults\"") < 0
            || parse_options(ld, &f, v, "/defaults", &d) < 0)
            goto out;
        if (json_object_get(v, "headers")) {
            /* A default header is rendered by each step that keeps it: its names are
             * noted there (parse_request), against what that step can see. */
            json_decref(d.headers);
            ld->no_uses = 1;
            d.headers = string_map(ld, &f, json_object_get(v, "headers"), "/defaults/headers",
                                   "header", 1);
            ld->no_uses = 0;
            if (!d.headers)
                goto out;
        }
    }
    v = json_object_get(root, "steps");
    if (!json_is_array(v) || json_array_size(v) == 0) {
        fail(ld, &f, v ? "/steps" : "", 0, "the journey needs \"steps\" (a non-empty array)");
        goto out;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        child_index(at, "/steps", i);
        if (!json_is_object(e)) {
            fail(ld, &f, at, 0, "a step must be an object");
            goto out;
        }
        if (json_object_get(e, "include") ? parse_include(ld, &f, e, at) < 0
                                          : parse_step(ld, &f, e, at, i, &d) < 0)
            goto out;
    }
    if (set_vars) {
        /* The include's variables are set before its first step, ahead of any set there
         * by an include nested at its very start. */
        struct step *s = &ld->j->steps[first];
        if (!s->set_vars)
            s->set_vars = json_array();
        json_array_insert(s->set_vars, 0, set_vars);
    }
    rc = 0;
out:
    free(ld->stack[--ld->depth]);
    json_decref(d.headers);
    free_src(&f);
    return rc;
}

static const char *const builtin_names[] = {"uuid", "now_ms", "now_s", "random_int", NULL};

/* 1 if name is a built-in: env.X, secret.X, uuid, now_ms, now_s, random_int or
 * random_int:MIN:MAX with MIN <= MAX. */
static int builtin(const char *name)
{
    long long lo, hi;
    int end = 0;
    for (int i = 0; builtin_names[i]; i++)
        if (strcmp(name, builtin_names[i]) == 0)
            return 1;
    if ((strncmp(name, "env.", 4) == 0 && name[4]) || (strncmp(name, "secret.", 7) == 0 && name[7]))
        return 1;
    return strncmp(name, "random_int:", 11) == 0
        && sscanf(name + 11, "%lld:%lld%n", &lo, &hi, &end) == 2 && name[11 + end] == '\0'
        && lo <= hi;
}

/* Adds every name a template at step `step` may use to the object `names` (as keys). */
static void visible_names(const struct journey *j, size_t step, json_t *names)
{
    const char *key;
    json_t *v;
    json_object_foreach(j->variables, key, v)
        json_object_set_new(names, key, json_true());
    for (size_t k = 0; k < j->nsteps && k <= step; k++) {
        size_t i;
        json_t *obj;
        json_array_foreach(j->steps[k].set_vars, i, obj)
            json_object_foreach(obj, key, v)
                json_object_set_new(names, key, json_true());
        for (size_t c = 0; k < step && c < j->steps[k].ncaptures; c++)
            json_object_set_new(names, j->steps[k].captures[c].name, json_true());
    }
    for (int i = 0; builtin_names[i]; i++)
        json_object_set_new(names, builtin_names[i], json_true());
}

/* The nearest of the keys of names to word, copied into dst ("" if none is close). */
static void nearest_key(const json_t *names, const char *word, char *dst, size_t dstlen)
{
    const char **list = calloc(json_object_size(names) + 1, sizeof *list);
    const char *key;
    json_t *v;
    size_t n = 0;
    dst[0] = '\0';
    if (!list)
        return;
    json_object_foreach((json_t *)names, key, v)
        list[n++] = key;
    const char *near = text_nearest(word, list);
    if (near)
        snprintf(dst, dstlen, "%s", near);
    free(list);
}

static int has_scheme(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* Checks, once the whole journey is in, that every {{name}} is defined where it is
 * rendered (a variable, a capture of an earlier step, an include's variable or a
 * built-in) and that every url has its scheme. */
static int check_names(struct loader *ld)
{
    const struct journey *j = ld->j;
    char near[TEMPLATE_NAME_MAX];

    for (size_t i = 0; i < ld->nuses; i++) {
        const struct use *u = &ld->uses[i];
        if (builtin(u->name))
            continue;
        json_t *names = json_object();
        visible_names(j, u->step, names);
        int known = json_object_get(names, u->name) != NULL;
        if (!known) {
            size_t later = j->nsteps;
            for (size_t k = u->step; k < j->nsteps && later == j->nsteps; k++)
                for (size_t c = 0; c < j->steps[k].ncaptures; c++)
                    if (strcmp(j->steps[k].captures[c].name, u->name) == 0)
                        later = k;
            if (strncmp(u->name, "random_int:", 11) == 0)
                snprintf(ld->err, ld->errlen, "%s: \"%s\" takes two whole numbers, the first not"
                         " above the second: {{random_int:1:100}}", u->at, u->name);
            else if (later < j->nsteps)
                snprintf(ld->err, ld->errlen, "%s: undefined variable \"%s\": it is captured by"
                         " step %zu \"%s\", which runs %s", u->at, u->name, later + 1,
                         j->steps[later].name, later == u->step ? "after its own request"
                                                                : "later");
            else {
                nearest_key(names, u->name, near, sizeof near);
                snprintf(ld->err, ld->errlen, "%s: undefined variable \"%s\" (not in \"variables\","
                         " captured by an earlier step, or built in)%s%s%s", u->at, u->name,
                         near[0] ? "; did you mean \"" : "", near, near[0] ? "\"?" : "");
            }
        }
        json_decref(names);
        if (!known)
            return -1;
    }
    for (size_t i = 0; i < j->nsteps; i++) {
        const struct step *s = &j->steps[i];
        if (strncmp(s->url, "{{", 2) != 0 && !has_scheme(s->url)) {
            snprintf(ld->err, ld->errlen, "%s: \"url\" must start with http:// or https://"
                     " (or a variable that does), not \"%.60s\"", s->url_at, s->url);
            return -1;
        }
    }
    return 0;
}

int journey_load(const char *path, struct journey **out, char *err, size_t errlen)
{
    struct loader ld = {err, errlen, calloc(1, sizeof(struct journey)), {0}, 0, NULL, 0, 0};
    int rc = -1;

    *out = NULL;
    if (!ld.j)
        return -1;
    ld.j->variables = json_object();
    if (load_file(&ld, path, path, NULL, NULL, NULL) < 0 || check_names(&ld) < 0) {
        journey_free(ld.j);
        goto out;
    }
    *out = ld.j;
    rc = 0;
out:
    for (size_t i = 0; i < ld.nuses; i++) {
        free(ld.uses[i].name);
        free(ld.uses[i].at);
    }
    free(ld.uses);
    return rc;
}

int journey_declares(const struct journey *j, const char *name)
{
    json_t *names = json_object();
    journey_declared_names(j, names);
    int found = json_object_get(names, name) != NULL;
    json_decref(names);
    return found;
}

void journey_declared_names(const struct journey *j, json_t *names)
{
    const char *key;
    json_t *v;
    json_object_foreach(j->variables, key, v)
        json_object_set_new(names, key, json_true());
    for (size_t k = 0; k < j->nsteps; k++) {
        size_t i;
        json_t *obj;
        json_array_foreach(j->steps[k].set_vars, i, obj)
            json_object_foreach(obj, key, v)
                json_object_set_new(names, key, json_true());
        for (size_t c = 0; c < j->steps[k].ncaptures; c++)
            json_object_set_new(names, j->steps[k].captures[c].name, json_true());
    }
}

int journey_check_env(const struct journey *j, char *err, size_t errlen)
{
    for (size_t i = 0; i < j->nenv_refs; i++) {
        const char *name = j->env_refs[i].name;
        int secret = strncmp(name, "secret.", 7) == 0;
        const char *var = strchr(name, '.') + 1;
        const char *v = getenv(var);
        if (!v || (secret && !*v)) {
            snprintf(err, errlen, "%s: {{%s}} needs the environment variable %s, which is %s",
                     j->env_refs[i].at, name, var, v ? "empty" : "not set");
            return -1;
        }
    }
    return 0;
}

int journey_check_vars(const struct journey *j, const json_t *vars, char *err, size_t errlen)
{
    char name[TEMPLATE_NAME_MAX], msg[64];
    const char *key;
    json_t *val;
    json_object_foreach(j->variables, key, val) {
        if (json_is_null(val) && !json_object_get(vars, key)) {
            snprintf(err, errlen, "%s: journey \"%s\" declares the variable \"%s\" without a"
                     " value (null): give one with --var %s=VALUE", j->file, j->name, key, key);
            return -1;
        }
    }
    for (size_t i = 0; i < j->nsteps; i++) {
        const struct step *s = &j->steps[i];
        const char *end = strstr(s->url, "}}");
        if (strncmp(s->url, "{{", 2) != 0 || !end || (size_t)(end - s->url) > sizeof name)
            continue;
        snprintf(name, sizeof name, "%.*s", (int)(end - s->url - 2), s->url + 2);
        char one[TEMPLATE_NAME_MAX + 8];
        snprintf(one, sizeof one, "{{%s}}", name);
        if (template_names(one, NULL, NULL, msg, sizeof msg) < 0)
            continue;
        const json_t *v = json_object_get(vars, name);
        int given = v != NULL;
        if (!v)
            v = json_object_get(j->variables, name);
        if (!json_is_string(v) || has_scheme(json_string_value(v)))
            continue;
        snprintf(err, errlen, "%s: the url starts with {{%s}}, which %s \"%.60s\": a URL must"
                 " start with http:// or https://", s->url_at, name,
                 given ? "--var sets to" : "is", json_string_value(v));
        return -1;
    }
    return 0;
}

static void free_checks(struct check *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].what);
        jsonpath_free(c[i].path);
        predicate_free(c[i].pred);
    }
    free(c);
}

void journey_free(struct journey *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nsteps; i++) {
        struct step *s = &j->steps[i];
        free(s->name);
        free(s->file);
        free(s->method);
        free(s->url);
        free(s->url_at);
        json_decref(s->headers);
        json_decref(s->query);
        json_decref(s->body);
        json_decref(s->set_vars);
        free(s->status);
        free_checks(s->header_checks, s->nheader_checks);
        free_checks(s->json_checks, s->njson_checks);
        predicate_free(s->body_pred);
        predicate_free(s->tls_days);
        for (size_t k = 0; k < s->ncaptures; k++) {
            struct capture *c = &s->captures[k];
            free(c->name);
            free(c->arg);
            jsonpath_free(c->path);
            if (c->kind == CAP_REGEX)
                regfree(&c->re);
        }
        free(s->captures);
    }
    free(j->steps);
    for (size_t i = 0; i < j->nsecret_names; i++)
        free(j->secret_names[i]);
    for (size_t i = 0; i < j->nenv_refs; i++) {
        free(j->env_refs[i].name);
        free(j->env_refs[i].at);
    }
    free(j->env_refs);
    free(j->secret_names);
    json_decref(j->variables);
    free(j->name);
    free(j->file);
    free(j);
}

void journey_status_text(const struct step *s, char *dst, size_t dstlen)
{
    size_t o = 0;
    dst[0] = '\0';
    for (size_t i = 0; i < s->nstatus && o < dstlen; i++) {
        const struct status_range *r = &s->status[i];
        const char *sep = i == 0 ? "" : i + 1 == s->nstatus ? " or " : ", ";
        int n = r->lo == r->hi ? snprintf(dst + o, dstlen - o, "%s%d", sep, r->lo)
                               : snprintf(dst + o, dstlen - o, "%s%dxx", sep, r->lo / 100);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}
