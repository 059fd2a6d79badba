#include "jsonpos.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "text.h"

/* Nesting deeper than this is refused (jansson's own default limit is 2048). */
#define JSONPOS_MAX_DEPTH 2048

struct entry {
    char *pointer;
    int key_line, key_col;   /* the key of an object member; else the value */
    int val_line, val_col;
};

struct jsonpos {
    struct entry *v;
    size_t n, cap;
};

struct scan {
    const char *s;
    size_t len, i;
    int line, col;
    struct jsonpos *out;
};

/* Advances one byte, counting lines, and columns in characters (UTF-8 continuation
 * bytes do not start a new column). */
static void step(struct scan *sc)
{
    unsigned char c = (unsigned char)sc->s[sc->i++];
    if (c == '\n') {
        sc->line++;
        sc->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        sc->col++;
    }
}

static void skip_ws(struct scan *sc)
{
    while (sc->i < sc->len && strchr(" \t\r\n", sc->s[sc->i]) && sc->s[sc->i])
        step(sc);
}

static int add(struct scan *sc, const char *ptr, int kl, int kc, int vl, int vc)
{
    struct jsonpos *p = sc->out;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct entry *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -1;
        p->v = v;
        p->cap = cap;
    }
    char *copy = strdup(ptr);
    if (!copy)
        return -1;
    p->v[p->n++] = (struct entry){copy, kl, kc, vl, vc};
    return 0;
}

/* Scans a string token, leaving its raw text (with quotes) in [*start, *end). */
static int scan_string(struct scan *sc, size_t *start, size_t *end)
{
    if (sc->i >= sc->len || sc->s[sc->i] != '"')
        return -1;
    *start = sc->i;
    step(sc);
    while (sc->i < sc->len && sc->s[sc->i] != '"') {
        if (sc->s[sc->i] == '\\' && sc->i + 1 < sc->len)
            step(sc);
        step(sc);
    }
    if (sc->i >= sc->len)
        return -1;
    step(sc);
    *end = sc->i;
    return 0;
}

static int scan_value(struct scan *sc, struct buf *ptr, int kl, int kc, int depth);

static int scan_container(struct scan *sc, struct buf *ptr, int depth, char close)
{
    size_t base = ptr->len;
    size_t index = 0;

    step(sc);
    skip_ws(sc);
    if (sc->i < sc->len && sc->s[sc->i] == close) {
        step(sc);
        return 0;
    }
    for (;;) {
        skip_ws(sc);
        int kl = sc->line, kc = sc->col;
        ptr->len = base;
        ptr->data[base] = '\0';
        if (close == '}') {
            size_t a, b;
            if (scan_string(sc, &a, &b) < 0)
                return -1;
            /* jansson decodes the key, escapes and all. */
            json_t *k = json_loadb(sc->s + a, b - a, JSON_DECODE_ANY, NULL);
            if (!json_is_string(k)) {
                json_decref(k);
                return -1;
            }
            char tok[1024];
            jsonpos_escape(tok, sizeof tok, json_string_value(k));
            json_decref(k);
            if (buf_printf(ptr, "/%s", tok) < 0)
                return -1;
            skip_ws(sc);
            if (sc->i >= sc->len || sc->s[sc->i] != ':')
                return -1;
            step(sc);
            skip_ws(sc);
        } else {
            if (buf_printf(ptr, "/%zu", index++) < 0)
                return -1;
            kl = sc->line;
            kc = sc->col;
        }
        if (scan_value(sc, ptr, kl, kc, depth + 1) < 0)
            return -1;
        skip_ws(sc);
        if (sc->i >= sc->len)
            return -1;
        char c = sc->s[sc->i];
        step(sc);
        if (c == close)
            break;
        if (c != ',')
            return -1;
    }
    ptr->len = base;
    ptr->data[base] = '\0';
    return 0;
}

static int scan_value(struct scan *sc, struct buf *ptr, int kl, int kc, int depth)
{
    if (depth > JSONPOS_MAX_DEPTH)
        return -1;
    skip_ws(sc);
    if (sc->i >= sc->len)
        return -1;
    if (add(sc, ptr->data, kl, kc, sc->line, sc->col) < 0)
        return -1;
    char c = sc->s[sc->i];
    if (c == '{')
        return scan_container(sc, ptr, depth, '}');
    if (c == '[')
        return scan_container(sc, ptr, depth, ']');
    if (c == '"') {
        size_t a, b;
        return scan_string(sc, &a, &b);
    }
    /* A number or a literal: everything up to the next delimiter. */
    while (sc->i < sc->len && !strchr(",]} \t\r\n", sc->s[sc->i]))
        step(sc);
    return 0;
}

struct jsonpos *jsonpos_new(const char *text, size_t len)
{
    struct jsonpos *p = calloc(1, sizeof *p);
    struct buf ptr;
    struct scan sc = {text, len, 0, 1, 1, p};

    buf_init(&ptr, 0);
    if (!p || buf_puts(&ptr, "") < 0 || scan_value(&sc, &ptr, 1, 1, 0) < 0) {
        jsonpos_free(p);
        p = NULL;
    }
    buf_fini(&ptr);
    return p;
}

void jsonpos_free(struct jsonpos *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].pointer);
    free(p->v);
    free(p);
}

int jsonpos_find(const struct jsonpos *p, const char *pointer, int key, int *line, int *col)
{
    *line = *col = 0;
    if (!p)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].pointer, pointer) == 0) {
            *line = key ? p->v[i].key_line : p->v[i].val_line;
            *col = key ? p->v[i].key_col : p->v[i].val_col;
            return 0;
        }
    }
    return -1;
}

void jsonpos_escape(char *dst, size_t dstlen, const char *key)
{
    size_t o = 0;
    if (!dstlen)
        return;
    for (; *key && o + 3 < dstlen; key++) {
        if (*key == '~') {
            dst[o++] = '~';
            dst[o++] = '0';
        } else if (*key == '/') {
            dst[o++] = '~';
            dst[o++] = '1';
        } else {
            dst[o++] = *key;
        }
    }
    dst[o] = '\0';
}

int jsonpos_vfail(const struct jsonpos_doc *d, const char *pointer, int key, const char *fmt,
                  va_list ap)
{
    char msg[512];
    int line, col;
    vsnprintf(msg, sizeof msg, fmt, ap);
    jsonpos_find(d->pos, pointer, key, &line, &col);
    snprintf(d->err, d->errlen, "%s:%d:%d: %s", d->path, line, col, msg);
    return -1;
}

int jsonpos_fail(const struct jsonpos_doc *d, const char *pointer, int key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jsonpos_vfail(d, pointer, key, fmt, ap);
    va_end(ap);
    return -1;
}

void jsonpos_child(char *dst, size_t dstlen, const char *parent, const char *key)
{
    char tok[1024];
    jsonpos_escape(tok, sizeof tok, key);
    snprintf(dst, dstlen, "%s/%s", parent, tok);
}

int jsonpos_check_keys(const struct jsonpos_doc *d, const json_t *obj, const char *pointer,
                       const char *const *allowed, const char *where)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(key, *a) == 0;
        if (known)
            continue;
        char at[1024];
        const char *near = text_nearest(key, allowed);
        jsonpos_child(at, sizeof at, pointer, key);
        if (near)
            return jsonpos_fail(d, at, 1, "unknown key \"%s\" in %s; did you mean \"%s\"?",
                                key, where, near);
        return jsonpos_fail(d, at, 1, "unknown key \"%s\" in %s", key, where);
    }
    return 0;
}
