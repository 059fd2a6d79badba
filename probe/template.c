#include "template.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Finds the next {{name}} at or after s. On success sets *open to the "{{", copies the
 * trimmed name and returns a pointer past the "}}"; returns NULL when there is none
 * (with *open NULL) or on a syntax error (with *open set and err filled). */
static const char *next_name(const char *s, const char **open, char *name, char *err,
                             size_t errlen)
{
    const char *a = strstr(s, "{{");
    *open = a;
    if (!a)
        return NULL;
    const char *b = strstr(a + 2, "}}");
    if (!b) {
        snprintf(err, errlen, "\"{{\" without a closing \"}}\"");
        return NULL;
    }
    const char *p = a + 2, *q = b;
    while (p < q && isspace((unsigned char)*p))
        p++;
    while (q > p && isspace((unsigned char)q[-1]))
        q--;
    size_t n = (size_t)(q - p);
    if (n == 0 || n >= TEMPLATE_NAME_MAX) {
        snprintf(err, errlen, n ? "variable name longer than %d characters"
                                : "empty variable name in \"{{}}\"", TEMPLATE_NAME_MAX - 1);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!isalnum(c) && !strchr("_.:-", c)) {
            snprintf(err, errlen, "invalid character '%c' in variable name \"%.*s\"",
                     c, (int)n, p);
            return NULL;
        }
    }
    memcpy(name, p, n);
    name[n] = '\0';
    return b + 2;
}

int template_names(const char *s, void (*fn)(void *ctx, const char *name), void *ctx,
                   char *err, size_t errlen)
{
    char name[TEMPLATE_NAME_MAX];
    const char *open;

    for (;;) {
        const char *next = next_name(s, &open, name, err, errlen);
        if (!next)
            return open ? -1 : 0;
        if (fn)
            fn(ctx, name);
        s = next;
    }
}

char *template_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
}

char *template_render(const char *s, template_lookup_fn lookup, void *ctx,
                      char *err, size_t errlen)
{
    char name[TEMPLATE_NAME_MAX];
    const char *open;
    struct buf b;

    buf_init(&b, 0);
    buf_puts(&b, "");
    for (;;) {
        const char *next = next_name(s, &open, name, err, errlen);
        if (!next) {
            if (open) {
                buf_fini(&b);
                return NULL;
            }
            break;
        }
        json_t *v = lookup(ctx, name);
        if (!v) {
            snprintf(err, errlen, "undefined variable \"%s\"", name);
            buf_fini(&b);
            return NULL;
        }
        char *text = template_text(v);
        json_decref(v);
        buf_append(&b, s, (size_t)(open - s));
        if (text)
            buf_puts(&b, text);
        free(text);
        s = next;
    }
    buf_puts(&b, s);
    return buf_steal(&b);
}

/* If s is exactly one {{name}} (spaces allowed inside), copies the name and returns 1. */
static int whole_name(const char *s, char *name)
{
    char err[64];
    const char *open;
    const char *next = next_name(s, &open, name, err, sizeof err);
    return next && open == s && *next == '\0';
}

json_t *template_render_json(const json_t *v, template_lookup_fn lookup, void *ctx,
                             char *err, size_t errlen)
{
    char name[TEMPLATE_NAME_MAX];

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (whole_name(s, name)) {
            json_t *val = lookup(ctx, name);
            if (!val)
                snprintf(err, errlen, "undefined variable \"%s\"", name);
            return val;
        }
        char *text = template_render(s, lookup, ctx, err, errlen);
        if (!text)
            return NULL;
        json_t *out = json_string(text);
        free(text);
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            json_t *r = template_render_json(item, lookup, ctx, err, errlen);
            if (!r) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, r);
        }
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item) {
            json_t *r = template_render_json(item, lookup, ctx, err, errlen);
            if (!r) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, key, r);
        }
        return out;
    }
    return json_deep_copy(v);
}
