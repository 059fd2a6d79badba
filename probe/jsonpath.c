#include "jsonpath.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum seg_kind { SEG_MEMBER, SEG_INDEX, SEG_ALL };

struct seg {
    enum seg_kind kind;
    char *name;      /* SEG_MEMBER */
    long index;      /* SEG_INDEX; negative counts from the end */
};

struct jsonpath {
    struct seg seg[JSONPATH_MAX_SEGMENTS];
    size_t n;
    int wildcard;    /* some segment is SEG_ALL: the result is a list */
    int count;       /* ends in .count() */
};

void jsonpath_free(struct jsonpath *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->seg[i].name);
    free(p);
}

static int push(struct jsonpath *p, enum seg_kind kind, const char *name, size_t len,
                long index, char *err, size_t errlen)
{
    if (p->n == JSONPATH_MAX_SEGMENTS) {
        snprintf(err, errlen, "more than %d segments", JSONPATH_MAX_SEGMENTS);
        return -1;
    }
    struct seg *s = &p->seg[p->n];
    s->kind = kind;
    s->index = index;
    s->name = NULL;
    if (name && !(s->name = strndup(name, len)))
        return -1;
    p->n++;
    if (kind == SEG_ALL)
        p->wildcard = 1;
    return 0;
}

/* Parses a bracket segment starting at s[i] == '['; returns the index past ']' or -1. */
static long bracket(struct jsonpath *p, const char *s, long i, char *err, size_t errlen)
{
    long start = i++;
    if (s[i] == '*' && s[i + 1] == ']')
        return push(p, SEG_ALL, NULL, 0, 0, err, errlen) < 0 ? -1 : i + 2;
    if (s[i] == '\'' || s[i] == '"') {
        char q = s[i++];
        long a = i;
        while (s[i] && s[i] != q)
            i++;
        if (s[i] != q || s[i + 1] != ']') {
            snprintf(err, errlen, "unterminated quoted name at offset %ld", start);
            return -1;
        }
        if (push(p, SEG_MEMBER, s + a, (size_t)(i - a), 0, err, errlen) < 0)
            return -1;
        return i + 2;
    }
    if (s[i] == '-' || isdigit((unsigned char)s[i])) {
        char *end;
        errno = 0;
        long n = strtol(s + i, &end, 10);
        if (errno || end == s + i || *end != ']') {
            snprintf(err, errlen, "expected an index, '*' or a quoted name at offset %ld"
                     " (filters and slices are not supported)", i);
            return -1;
        }
        if (push(p, SEG_INDEX, NULL, 0, n, err, errlen) < 0)
            return -1;
        return (long)(end - s) + 1;
    }
    snprintf(err, errlen, "expected an index, '*' or a quoted name at offset %ld"
             " (filters and slices are not supported)", i);
    return -1;
}

struct jsonpath *jsonpath_compile(const char *s, char *err, size_t errlen)
{
    struct jsonpath *p;
    long i = 1;

    if (strlen(s) > JSONPATH_MAX_LEN) {
        snprintf(err, errlen, "path longer than %d characters", JSONPATH_MAX_LEN);
        return NULL;
    }
    if (s[0] != '$') {
        snprintf(err, errlen, "a path starts with '$'");
        return NULL;
    }
    if (!(p = calloc(1, sizeof *p)))
        return NULL;
    while (s[i]) {
        if (p->count) {
            snprintf(err, errlen, "nothing may follow .count() (offset %ld)", i);
            goto fail;
        }
        if (s[i] == '[') {
            if ((i = bracket(p, s, i, err, errlen)) < 0)
                goto fail;
            continue;
        }
        if (s[i] != '.') {
            snprintf(err, errlen, "unexpected '%c' at offset %ld", s[i], i);
            goto fail;
        }
        i++;
        if (s[i] == '.') {
            snprintf(err, errlen, "recursive descent '..' is not supported (offset %ld)", i - 1);
            goto fail;
        }
        if (s[i] == '*') {
            if (push(p, SEG_ALL, NULL, 0, 0, err, errlen) < 0)
                goto fail;
            i++;
            continue;
        }
        if (strcmp(s + i, "count()") == 0) {
            p->count = 1;
            i += 7;
            continue;
        }
        long a = i;
        while (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-')
            i++;
        if (i == a) {
            snprintf(err, errlen, "expected a member name at offset %ld", a);
            goto fail;
        }
        if (push(p, SEG_MEMBER, s + a, (size_t)(i - a), 0, err, errlen) < 0)
            goto fail;
    }
    return p;
fail:
    jsonpath_free(p);
    return NULL;
}

/* Appends to out every node reached from v by segments k and after. */
static void walk(const struct jsonpath *p, size_t k, json_t *v, json_t *out)
{
    if (k == p->n) {
        json_array_append(out, v);
        return;
    }
    const struct seg *s = &p->seg[k];
    if (s->kind == SEG_MEMBER) {
        json_t *m = json_is_object(v) ? json_object_get(v, s->name) : NULL;
        if (m)
            walk(p, k + 1, m, out);
    } else if (s->kind == SEG_INDEX) {
        if (!json_is_array(v))
            return;
        long n = (long)json_array_size(v);
        long i = s->index < 0 ? n + s->index : s->index;
        if (i >= 0 && i < n)
            walk(p, k + 1, json_array_get(v, (size_t)i), out);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
            walk(p, k + 1, item, out);
    } else if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item)
            walk(p, k + 1, item, out);
    }
}

json_t *jsonpath_query(const struct jsonpath *p, const json_t *root)
{
    json_t *nodes = json_array();
    json_t *result = NULL;

    walk(p, 0, (json_t *)root, nodes);
    size_t n = json_array_size(nodes);
    if (p->count) {
        if (p->wildcard)
            result = json_integer((json_int_t)n);
        else if (n == 0)
            result = json_integer(0);
        else {
            json_t *v = json_array_get(nodes, 0);
            size_t c = json_is_array(v) ? json_array_size(v)
                     : json_is_object(v) ? json_object_size(v) : 1;
            result = json_integer((json_int_t)c);
        }
    } else if (p->wildcard) {
        result = n ? json_incref(nodes) : NULL;
    } else if (n) {
        result = json_incref(json_array_get(nodes, 0));
    }
    json_decref(nodes);
    return result;
}
