#include "beacon.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

_Static_assert(BEACON_NAME_MAX == TEXT_NAME_MAX, "app and version follow the one name rule");

static const char *const top_keys[] = {
    "app", "version", "session", "pv", "page", "nav", "ts", "events", "ctx", "attrs", NULL
};
static const char *const metric_keys[] = {
    "type", "name", "value", "rating", "id", "delta", "attribution", NULL
};
static const char *const error_keys[] = {
    "type", "message", "source", "line", "col", "stack", "kind", NULL
};
static const char *const ctx_keys[] = {"conn", "device", "viewport", "dpr", NULL};
static const char *const navs[] = {
    "navigate", "reload", "back-forward", "back-forward-cache", "prerender", "restore", NULL
};
static const char *const ratings[] = {"good", "needs-improvement", "poor", NULL};
static const char *const error_kinds[] = {"error", "unhandledrejection", NULL};

/* Largest plausible value of each standard metric: ms for times, a score for CLS. */
static const struct {
    const char *name;
    double max;
} standard[] = {
    {"LCP", 600000}, {"INP", 600000}, {"FCP", 600000}, {"TTFB", 600000}, {"CLS", 100},
};
#define CUSTOM_MAX 1e9

struct ctx {
    char *field;
    size_t fieldlen;
    char *err;
    size_t errlen;
    const char *prefix;
};

__attribute__((format(printf, 3, 4)))
static int bad(struct ctx *c, const char *field, const char *fmt, ...)
{
    va_list ap;
    if (*field)
        snprintf(c->field, c->fieldlen, "%s%s", c->prefix, field);
    else    /* the beacon itself: "[1]", not "[1]." */
        snprintf(c->field, c->fieldlen, "%.*s", (int)(strlen(c->prefix) ? strlen(c->prefix) - 1 : 0),
                 c->prefix);
    va_start(ap, fmt);
    text_field_error(c->err, c->errlen, c->field, fmt, ap);
    va_end(ap);
    return -1;
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static int check_keys(struct ctx *c, const json_t *obj, const char *where,
                      const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (!in_list(key, allowed)) {
            char f[300];
            snprintf(f, sizeof f, "%s%s%s", where, *where ? "." : "", key);
            return bad(c, f, "unknown field");
        }
    }
    return 0;
}

/* A string of 1..max bytes; with token != 0 a name (text_name_ok: max is TEXT_NAME_MAX). */
static int check_string(struct ctx *c, const json_t *v, const char *field, size_t max,
                        int required, int token)
{
    if (!v)
        return required ? bad(c, field, "required") : 0;
    if (!json_is_string(v))
        return bad(c, field, "must be a string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 && required)
        return bad(c, field, "must not be empty");
    if (n > max)
        return bad(c, field, "longer than %zu bytes", max);
    if (strlen(s) != n)
        return bad(c, field, "contains a NUL character");
    /* The name rule of apps and versions is text_name_ok's, as everywhere. */
    if (token && n && !text_name_ok(s))
        return bad(c, field, "may hold only letters, digits and . _ + -");
    return 0;
}

static int check_enum(struct ctx *c, const json_t *v, const char *field,
                      const char *const *allowed, const char *shown)
{
    if (!v)
        return 0;
    if (!json_is_string(v) || !in_list(json_string_value(v), allowed))
        return bad(c, field, "must be one of %s", shown);
    return 0;
}

static int check_count(struct ctx *c, const json_t *v, const char *field)
{
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0
              || json_integer_value(v) > 100000000))
        return bad(c, field, "must be a whole number >= 0");
    return 0;
}

int beacon_metric_name_ok(const char *name)
{
    for (size_t i = 0; i < sizeof standard / sizeof standard[0]; i++)
        if (strcmp(name, standard[i].name) == 0)
            return 1;
    size_t n = strlen(name);
    /* "errors" names the JS error rate in policies and queries. */
    if (n == 0 || n > 48 || !islower((unsigned char)name[0]) || strcmp(name, "errors") == 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i])
            && name[i] != '_' && name[i] != '.')
            return 0;
    return 1;
}

static double metric_max(const char *name)
{
    for (size_t i = 0; i < sizeof standard / sizeof standard[0]; i++)
        if (strcmp(name, standard[i].name) == 0)
            return standard[i].max;
    return CUSTOM_MAX;
}

static int check_metric(struct ctx *c, const json_t *e, const char *at)
{
    char f[300];
    json_t *v;

    if (check_keys(c, e, at, metric_keys) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.name", at);
    v = json_object_get(e, "name");
    if (check_string(c, v, f, BEACON_NAME_MAX, 1, 0) < 0)
        return -1;
    const char *name = json_string_value(v);
    if (!beacon_metric_name_ok(name))
        return bad(c, f, "must be LCP, INP, CLS, FCP, TTFB or a custom name (a lowercase"
                   " letter, then up to 47 of a-z 0-9 _ .)");
    snprintf(f, sizeof f, "%s.value", at);
    v = json_object_get(e, "value");
    if (!v)
        return bad(c, f, "required");
    /* -0.0 is refused, not normalised: no measurement is negative zero, and a sender that
     * writes it is one to hear about (issue 16). */
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0
        || signbit(json_number_value(v)))
        return bad(c, f, "must be a finite number >= 0 (not -0)");
    if (json_number_value(v) > metric_max(name))
        return bad(c, f, "%s above %g is not plausible", name, metric_max(name));
    snprintf(f, sizeof f, "%s.delta", at);
    v = json_object_get(e, "delta");
    if (v && (!json_is_number(v) || !isfinite(json_number_value(v))))
        return bad(c, f, "must be a finite number");
    snprintf(f, sizeof f, "%s.rating", at);
    if (check_enum(c, json_object_get(e, "rating"), f, ratings,
                   "good, needs-improvement, poor") < 0)
        return -1;
    snprintf(f, sizeof f, "%s.id", at);
    if (check_string(c, json_object_get(e, "id"), f, BEACON_NAME_MAX, 0, 0) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.attribution", at);
    v = json_object_get(e, "attribution");
    if (v) {
        if (!json_is_object(v))
            return bad(c, f, "must be an object");
        /* Its size as JSON, written nowhere (and allocating nothing that free() would
         * have to give back: beacon_parse may run in a jsonarena). */
        size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
        if (n > BEACON_ATTRIBUTION_MAX)
            return bad(c, f, "larger than %d bytes", BEACON_ATTRIBUTION_MAX);
    }
    return 0;
}

static int check_error(struct ctx *c, const json_t *e, const char *at)
{
    char f[300];
    if (check_keys(c, e, at, error_keys) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.message", at);
    if (check_string(c, json_object_get(e, "message"), f, BEACON_MESSAGE_MAX, 1, 0) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.source", at);
    if (check_string(c, json_object_get(e, "source"), f, BEACON_PAGE_MAX, 0, 0) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.stack", at);
    if (check_string(c, json_object_get(e, "stack"), f, BEACON_STACK_MAX, 0, 0) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.line", at);
    if (check_count(c, json_object_get(e, "line"), f) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.col", at);
    if (check_count(c, json_object_get(e, "col"), f) < 0)
        return -1;
    snprintf(f, sizeof f, "%s.kind", at);
    return check_enum(c, json_object_get(e, "kind"), f, error_kinds, "error, unhandledrejection");
}

int beacon_validate(const json_t *b, const char *prefix, char *field, size_t fieldlen,
                    char *err, size_t errlen)
{
    struct ctx c = {field, fieldlen, err, errlen, prefix};
    json_t *v;

    if (!json_is_object(b))
        return bad(&c, "", "a beacon must be a JSON object");
    if (check_keys(&c, b, "", top_keys) < 0
        || check_string(&c, json_object_get(b, "app"), "app", BEACON_NAME_MAX, 1, 1) < 0
        || check_string(&c, json_object_get(b, "version"), "version", BEACON_NAME_MAX, 1, 1) < 0
        || check_string(&c, json_object_get(b, "session"), "session", BEACON_NAME_MAX, 0, 0) < 0
        || check_string(&c, json_object_get(b, "pv"), "pv", BEACON_NAME_MAX, 0, 0) < 0
        || check_string(&c, json_object_get(b, "page"), "page", BEACON_PAGE_MAX, 0, 0) < 0
        || check_enum(&c, json_object_get(b, "nav"), "nav", navs,
                      "navigate, reload, back-forward, back-forward-cache, prerender, restore") < 0)
        return -1;
    v = json_object_get(b, "ts");
    if (v && (!json_is_number(v) || json_number_value(v) < 1e12 || json_number_value(v) > 1e13))
        return bad(&c, "ts", "must be a Unix time in milliseconds");

    v = json_object_get(b, "events");
    if (!v)
        return bad(&c, "events", "required");
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad(&c, "events", "must be a non-empty array");
    if (json_array_size(v) > BEACON_EVENTS_MAX)
        return bad(&c, "events", "more than %d events", BEACON_EVENTS_MAX);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        char at[64], f[80];
        snprintf(at, sizeof at, "events[%zu]", i);
        if (!json_is_object(e))
            return bad(&c, at, "an event must be an object");
        snprintf(f, sizeof f, "%s.type", at);
        const char *type = json_string_value(json_object_get(e, "type"));
        if (!type)
            return bad(&c, f, "required: \"metric\" or \"error\"");
        if (strcmp(type, "metric") == 0) {
            if (check_metric(&c, e, at) < 0)
                return -1;
        } else if (strcmp(type, "error") == 0) {
            if (check_error(&c, e, at) < 0)
                return -1;
        } else {
            return bad(&c, f, "must be \"metric\" or \"error\"");
        }
    }

    if ((v = json_object_get(b, "ctx"))) {
        if (!json_is_object(v))
            return bad(&c, "ctx", "must be an object");
        if (check_keys(&c, v, "ctx", ctx_keys) < 0
            || check_string(&c, json_object_get(v, "conn"), "ctx.conn", 16, 0, 0) < 0
            || check_string(&c, json_object_get(v, "device"), "ctx.device", 16, 0, 0) < 0
            || check_string(&c, json_object_get(v, "viewport"), "ctx.viewport", 16, 0, 0) < 0)
            return -1;
        json_t *dpr = json_object_get(v, "dpr");
        if (dpr && (!json_is_number(dpr) || json_number_value(dpr) <= 0
                    || json_number_value(dpr) > 10))
            return bad(&c, "ctx.dpr", "must be a number above 0, at most 10");
    }
    if ((v = json_object_get(b, "attrs"))) {
        const char *key;
        json_t *a;
        if (!json_is_object(v))
            return bad(&c, "attrs", "must be an object of strings");
        if (json_object_size(v) > BEACON_ATTRS_MAX)
            return bad(&c, "attrs", "more than %d entries", BEACON_ATTRS_MAX);
        json_object_foreach(v, key, a) {
            char f[300];
            snprintf(f, sizeof f, "attrs.%s", key);
            if (strlen(key) == 0 || strlen(key) > BEACON_ATTR_KEY_MAX)
                return bad(&c, f, "keys must be 1 to %d bytes", BEACON_ATTR_KEY_MAX);
            if (check_string(&c, a, f, BEACON_ATTR_VALUE_MAX, 0, 0) < 0)
                return -1;
        }
    }
    return 0;
}

json_t *beacon_parse(const char *body, size_t len, char *field, size_t fieldlen,
                     char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc, *list;

    field[0] = '\0';
    if (len > BEACON_BODY_MAX) {
        snprintf(err, errlen, "body larger than %d bytes", BEACON_BODY_MAX);
        return NULL;
    }
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, errlen, "malformed JSON at %d:%d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (json_is_array(doc)) {
        list = doc;
        if (json_array_size(list) == 0 || json_array_size(list) > BEACON_BATCH_MAX) {
            snprintf(err, errlen, "an array must hold 1 to %d beacons", BEACON_BATCH_MAX);
            json_decref(list);
            return NULL;
        }
    } else {
        list = json_array();
        json_array_append_new(list, doc);
    }
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b) {
        char prefix[24] = "";
        if (json_is_array(doc))
            snprintf(prefix, sizeof prefix, "[%zu].", i);
        if (beacon_validate(b, prefix, field, fieldlen, err, errlen) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}
