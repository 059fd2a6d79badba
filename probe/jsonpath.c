/*
 * JSONPath, RFC 9535. The parser follows the ABNF of section 2 and its appendix A one
 * production at a time (the comments name them); the evaluator follows section 2's
 * semantics: a query turns a nodelist into a nodelist one segment at a time (2.1.2),
 * a descendant segment visits a node before its descendants, array elements in order
 * (2.5.2.2), and filters compare values as 2.3.5.2.2 says.
 */
#include "jsonpath.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iregexp.h"

/* Indexes and slice bounds stay within I-JSON's exact integers (RFC 9535 section 2.1). */
#define MAX_EXACT ((int64_t)9007199254740991)

enum type { T_VALUE, T_LOGICAL, T_NODES };
enum sel_kind { SEL_NAME, SEL_WILD, SEL_INDEX, SEL_SLICE, SEL_FILTER };
enum expr_kind { E_LIT, E_QUERY, E_FUNC, E_CMP, E_AND, E_OR, E_NOT, E_TEST };
enum cmp_op { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };
enum fn_id { F_LENGTH, F_COUNT, F_MATCH, F_SEARCH, F_VALUE, F_N };

/* The function extensions of RFC 9535 section 2.4.4 to 2.4.8 and their types. */
static const struct fn {
    const char *name;
    int nargs;
    enum type arg[2];
    enum type result;
} fns[F_N] = {
    [F_LENGTH] = {"length", 1, {T_VALUE, T_VALUE}, T_VALUE},
    [F_COUNT] = {"count", 1, {T_NODES, T_NODES}, T_VALUE},
    [F_MATCH] = {"match", 2, {T_VALUE, T_VALUE}, T_LOGICAL},
    [F_SEARCH] = {"search", 2, {T_VALUE, T_VALUE}, T_LOGICAL},
    [F_VALUE] = {"value", 1, {T_NODES, T_NODES}, T_VALUE},
};

struct expr;

struct sel {
    enum sel_kind kind;
    char *name;                 /* SEL_NAME: decoded UTF-8, may hold U+0000 */
    size_t namelen;
    int64_t index;              /* SEL_INDEX */
    int64_t slice[3];           /* SEL_SLICE: start, end, step */
    int has[3];                 /* which of the three were written */
    struct expr *filter;        /* SEL_FILTER */
};

struct seg {
    int descendant;             /* `..` */
    int spaced;                 /* whitespace inside its brackets */
    struct sel *sel;
    size_t nsel;
};

struct query {
    int relative;               /* starts at `@` rather than `$` */
    struct seg *seg;
    size_t nseg;
};

struct expr {
    enum expr_kind kind;
    size_t at;                  /* offset in the query, for messages */
    json_t *lit;                /* E_LIT */
    struct query q;             /* E_QUERY */
    enum fn_id fn;              /* E_FUNC */
    struct expr *arg[2];
    int nargs;
    struct iregexp *re;         /* E_FUNC match/search: a literal pattern, compiled */
    int re_invalid;             /* ... that is not an I-Regexp: always false (2.4.6) */
    enum cmp_op op;             /* E_CMP */
    struct expr *l, *r;         /* E_CMP, E_AND, E_OR; E_NOT and E_TEST use l */
};

struct jsonpath {
    struct query q;
    int count;                  /* ends in Vigil's .count() */
};

/* ---- freeing ---- */

static void expr_free(struct expr *e);

static void query_fini(struct query *q)
{
    for (size_t i = 0; i < q->nseg; i++) {
        for (size_t j = 0; j < q->seg[i].nsel; j++) {
            free(q->seg[i].sel[j].name);
            expr_free(q->seg[i].sel[j].filter);
        }
        free(q->seg[i].sel);
    }
    free(q->seg);
}

static void expr_free(struct expr *e)
{
    if (!e)
        return;
    json_decref(e->lit);
    query_fini(&e->q);
    for (int i = 0; i < 2; i++)
        expr_free(e->arg[i]);
    iregexp_free(e->re);
    expr_free(e->l);
    expr_free(e->r);
    free(e);
}

void jsonpath_free(struct jsonpath *p)
{
    if (!p)
        return;
    query_fini(&p->q);
    free(p);
}

/* ---- parsing ---- */

struct parser {
    const char *s;
    size_t len, i;
    int depth;                  /* nesting of filters, parentheses, ! and calls */
    char *err;
    size_t errlen;
    int failed;
};

/* Decodes one well-formed UTF-8 character (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF) from s[0..n). Returns its length, or 0 if it is not one. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;

    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2; c = s[0] & 0x1F; min = 0x80;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3; c = s[0] & 0x0F; min = 0x800;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4; c = s[0] & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

static int perr(struct parser *p, size_t at, const char *fmt, ...)
{
    if (!p->failed) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(p->err, p->errlen, "%s at offset %zu", msg, at);
        p->failed = 1;
    }
    return -1;
}

static int cur(const struct parser *p)
{
    return p->i < p->len ? (unsigned char)p->s[p->i] : -1;
}

static int next_is(const struct parser *p, const char *t)
{
    size_t n = strlen(t);
    return p->len - p->i >= n && memcmp(p->s + p->i, t, n) == 0;
}

/* B = %x20 / %x09 / %x0A / %x0D; S = *B (section 2.1.1). Returns whether any. */
static int skip_ws(struct parser *p)
{
    size_t a = p->i;
    while (p->i < p->len && strchr(" \t\n\r", p->s[p->i]))
        p->i++;
    return p->i > a;
}

/* Says what stands at the current position, for "unexpected ..." messages. */
static void describe(const struct parser *p, char *buf, size_t n)
{
    int c = cur(p);
    uint32_t cp;
    if (c < 0)
        snprintf(buf, n, "end of query");
    else if (c > 0x20 && c < 0x7F)
        snprintf(buf, n, "'%c'", c);
    else if (utf8_decode((const unsigned char *)p->s + p->i, p->len - p->i, &cp))
        snprintf(buf, n, "U+%04X", (unsigned)cp);
    else
        snprintf(buf, n, "byte 0x%02X (not UTF-8)", (unsigned)c);
}

static int unexpected(struct parser *p, const char *expected)
{
    char what[40];
    describe(p, what, sizeof what);
    return perr(p, p->i, "unexpected %s, expected %s", what, expected);
}

static int nest(struct parser *p)
{
    if (++p->depth > JSONPATH_MAX_NESTING)
        return perr(p, p->i, "filters, parentheses and function calls nested more than"
                    " %d deep", JSONPATH_MAX_NESTING);
    return 0;
}

/* int = "0" / (["-"] DIGIT1 *DIGIT), within +-(2^53-1) (section 2.1). */
static int parse_int(struct parser *p, int64_t *out)
{
    size_t a = p->i;
    int neg = cur(p) == '-';
    int64_t v = 0;

    if (neg)
        p->i++;
    if (cur(p) == '0') {
        p->i++;
        if (neg)
            return perr(p, a, "-0 is not an index");
        if (cur(p) >= '0' && cur(p) <= '9')
            return perr(p, a, "an integer with a leading zero");
        *out = 0;
        return 0;
    }
    if (cur(p) < '1' || cur(p) > '9')
        return unexpected(p, "a digit");
    while (cur(p) >= '0' && cur(p) <= '9') {
        v = v * 10 + (cur(p) - '0');
        if (v > MAX_EXACT)
            return perr(p, a, "integer beyond +-(2^53-1)");
        p->i++;
    }
    *out = neg ? -v : v;
    return 0;
}

static int hex4(struct parser *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int c = cur(p), d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return unexpected(p, "four hex digits after \\u");
        v = v * 16 + (uint32_t)d;
        p->i++;
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* An escape after a backslash in a string literal: escapable or the literal's own
 * quote (section 2.3.1.1); \uXXXX with surrogate pairs joined and lone ones refused. */
static int parse_escape(struct parser *p, int quote, char *o, size_t *n)
{
    static const char from[] = "bfnrt/\\", to[] = "\b\f\n\r\t/\\";
    size_t at = p->i - 1;
    int c = cur(p);
    uint32_t cp, lo;

    if (c == quote) {
        p->i++;
        o[(*n)++] = (char)c;
        return 0;
    }
    if (c > 0 && c != 'u' && strchr(from, c)) {
        p->i++;
        o[(*n)++] = to[strchr(from, c) - from];
        return 0;
    }
    if (c != 'u')
        return perr(p, at, "invalid escape in a string (\\b \\f \\n \\r \\t \\/ \\\\"
                    " \\uXXXX and the quote are the escapes)");
    p->i++;
    if (hex4(p, &cp) < 0)
        return -1;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return perr(p, at, "\\u%04X is a low surrogate with no high surrogate before it",
                    (unsigned)cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (!next_is(p, "\\u"))
            return perr(p, at, "\\u%04X is a high surrogate not followed by a \\u low"
                        " surrogate", (unsigned)cp);
        p->i += 2;
        if (hex4(p, &lo) < 0)
            return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return perr(p, at, "\\u%04X is a high surrogate not followed by a low"
                        " surrogate", (unsigned)cp);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    *n += utf8_encode(cp, o + *n);
    return 0;
}

/* string-literal (section 2.3.1.1), at its opening quote. Returns the decoded text,
 * which may contain U+0000, in a new buffer. */
static int parse_string(struct parser *p, char **out, size_t *outlen)
{
    int quote = cur(p);
    size_t at = p->i, n = 0;
    char *o = malloc(p->len - p->i + 1);

    if (!o)
        return perr(p, at, "out of memory");
    p->i++;
    for (;;) {
        int c = cur(p);
        uint32_t cp;
        size_t k;
        if (c < 0) {
            perr(p, at, "unterminated string");
            goto fail;
        }
        if (c == quote) {
            p->i++;
            break;
        }
        if (c == '\\') {
            p->i++;
            if (parse_escape(p, quote, o, &n) < 0)
                goto fail;
            continue;
        }
        if (c < 0x20) {
            perr(p, p->i, "control character U+%04X in a string: write it as \\u%04X"
                 " (or \\n, \\t ...)", (unsigned)c, (unsigned)c);
            goto fail;
        }
        if (!(k = utf8_decode((const unsigned char *)p->s + p->i, p->len - p->i, &cp))) {
            perr(p, p->i, "invalid UTF-8 in a string");
            goto fail;
        }
        memcpy(o + n, p->s + p->i, k);
        n += k;
        p->i += k;
    }
    o[n] = '\0';
    *out = o;
    *outlen = n;
    return 0;
fail:
    free(o);
    return -1;
}

/* member-name-shorthand: name-first *name-char, where name-first is ALPHA, "_" or any
 * character from U+0080 on (section 2.5.1.1). */
static int parse_shorthand(struct parser *p, struct sel *s)
{
    size_t a = p->i;
    for (;;) {
        int c = cur(p);
        uint32_t cp;
        size_t k;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
            || (c >= '0' && c <= '9' && p->i > a)) {
            p->i++;
            continue;
        }
        if (c >= 0x80 && (k = utf8_decode((const unsigned char *)p->s + p->i,
                                          p->len - p->i, &cp))) {
            p->i += k;
            continue;
        }
        break;
    }
    if (p->i == a)
        return unexpected(p, "a member name (a letter, '_' or a non-ASCII character"
                          " first), '*', or a bracket");
    s->kind = SEL_NAME;
    s->namelen = p->i - a;
    if (!(s->name = strndup(p->s + a, s->namelen)))
        return perr(p, a, "out of memory");
    return 0;
}

static struct expr *parse_or(struct parser *p);

static int is_int_start(int c)
{
    return c == '-' || (c >= '0' && c <= '9');
}

/* index-selector or slice-selector: [start S] ":" S [end S] [":" [S step]]. */
static int parse_index_or_slice(struct parser *p, struct sel *s)
{
    size_t save;
    if (cur(p) != ':') {
        if (parse_int(p, &s->slice[0]) < 0)
            return -1;
        s->has[0] = 1;
    }
    save = p->i;
    skip_ws(p);
    if (cur(p) != ':') {
        p->i = save;
        s->kind = SEL_INDEX;
        s->index = s->slice[0];
        return 0;
    }
    s->kind = SEL_SLICE;
    p->i++;
    skip_ws(p);
    if (is_int_start(cur(p))) {
        if (parse_int(p, &s->slice[1]) < 0)
            return -1;
        s->has[1] = 1;
        save = p->i;
        skip_ws(p);
        if (cur(p) != ':')
            p->i = save;
    }
    if (cur(p) == ':') {
        p->i++;
        save = p->i;
        skip_ws(p);
        if (is_int_start(cur(p))) {
            if (parse_int(p, &s->slice[2]) < 0)
                return -1;
            s->has[2] = 1;
        } else {
            p->i = save;
        }
    }
    return 0;
}

static struct expr *as_logical(struct parser *p, struct expr *e);

/* selector = name-selector / wildcard-selector / slice-selector / index-selector /
 * filter-selector (section 2.3). */
static int parse_selector(struct parser *p, struct sel *s)
{
    int c = cur(p);
    if (c == '\'' || c == '"') {
        s->kind = SEL_NAME;
        return parse_string(p, &s->name, &s->namelen);
    }
    if (c == '*') {
        s->kind = SEL_WILD;
        p->i++;
        return 0;
    }
    if (c == '?') {
        p->i++;
        if (nest(p) < 0)
            return -1;
        skip_ws(p);
        s->kind = SEL_FILTER;
        if (!(s->filter = as_logical(p, parse_or(p))))
            return -1;
        p->depth--;
        return 0;
    }
    if (c == ':' || is_int_start(c))
        return parse_index_or_slice(p, s);
    return unexpected(p, "a selector: a quoted name, '*', an index, a slice or a filter"
                      " '?'");
}

static struct sel *add_sel(struct parser *p, struct seg *g)
{
    struct sel *n = realloc(g->sel, (g->nsel + 1) * sizeof *n);
    if (!n) {
        perr(p, p->i, "out of memory");
        return NULL;
    }
    g->sel = n;
    memset(&n[g->nsel], 0, sizeof *n);
    return &n[g->nsel++];
}

/* bracketed-selection = "[" S selector *(S "," S selector) S "]". */
static int parse_brackets(struct parser *p, struct seg *g)
{
    p->i++;
    for (;;) {
        struct sel *s;
        g->spaced |= skip_ws(p);
        if (!(s = add_sel(p, g)) || parse_selector(p, s) < 0)
            return -1;
        g->spaced |= skip_ws(p);
        if (cur(p) == ']') {
            p->i++;
            return 0;
        }
        if (cur(p) != ',')
            return unexpected(p, "',' or ']'");
        p->i++;
    }
}

/* segment: child-segment or descendant-segment (sections 2.5.1 and 2.5.2), at '.'
 * or '['. */
static int parse_segment(struct parser *p, struct seg *g)
{
    struct sel *s;
    if (cur(p) == '[')
        return parse_brackets(p, g);
    p->i++;
    if (cur(p) == '.') {
        p->i++;
        g->descendant = 1;
        if (cur(p) == '[')
            return parse_brackets(p, g);
    }
    if (!(s = add_sel(p, g)))
        return -1;
    if (cur(p) == '*') {
        p->i++;
        s->kind = SEL_WILD;
        return 0;
    }
    return parse_shorthand(p, s);
}

/* jsonpath-query / rel-query: ("$" / "@") segments, segments = *(S segment). With
 * count set (the top level), a final ".count()" is Vigil's extension. */
static int parse_query(struct parser *p, struct query *q, int *count)
{
    q->relative = cur(p) == '@';
    p->i++;
    for (;;) {
        size_t save = p->i;
        struct seg *n;
        skip_ws(p);
        if (count && p->i == save && next_is(p, ".count()") && p->i + 8 == p->len) {
            *count = 1;
            p->i += 8;
            return 0;
        }
        if (cur(p) != '.' && cur(p) != '[') {
            p->i = save;
            return 0;
        }
        if (!(n = realloc(q->seg, (q->nseg + 1) * sizeof *n)))
            return perr(p, p->i, "out of memory");
        q->seg = n;
        memset(&n[q->nseg], 0, sizeof *n);
        if (parse_segment(p, &n[q->nseg++]) < 0)
            return -1;
    }
}

/* A singular query (section 2.3.5.1): child segments of one name or index selector.
 * With strict, also as the grammar writes one: no whitespace inside the brackets. */
static int query_singular(const struct query *q, int strict)
{
    for (size_t i = 0; i < q->nseg; i++) {
        const struct seg *g = &q->seg[i];
        if (g->descendant || g->nsel != 1 || (strict && g->spaced)
            || (g->sel[0].kind != SEL_NAME && g->sel[0].kind != SEL_INDEX))
            return 0;
    }
    return 1;
}

static struct expr *new_expr(struct parser *p, enum expr_kind kind, size_t at)
{
    struct expr *e = calloc(1, sizeof *e);
    if (!e) {
        perr(p, at, "out of memory");
        return NULL;
    }
    e->kind = kind;
    e->at = at;
    return e;
}

/* 1*DIGIT: one digit or more, all taken. */
static int digits(struct parser *p, const char *expected)
{
    if (cur(p) < '0' || cur(p) > '9')
        return unexpected(p, expected);
    while (cur(p) >= '0' && cur(p) <= '9')
        p->i++;
    return 0;
}

/* number = (int / "-0") [frac] [exp] (section 2.3.5.1): an integer when it is one and
 * fits, else a double. */
static struct expr *parse_number(struct parser *p)
{
    size_t a = p->i;
    int whole = 1;
    char buf[64];
    struct expr *e;

    if (cur(p) == '-')
        p->i++;
    if (cur(p) == '0') {
        p->i++;
        if (cur(p) >= '0' && cur(p) <= '9') {
            perr(p, a, "a number with a leading zero");
            return NULL;
        }
    } else if (digits(p, "a digit") < 0) {
        return NULL;
    }
    if (cur(p) == '.') {
        whole = 0;
        p->i++;
        if (digits(p, "a digit after '.'") < 0)
            return NULL;
    }
    if (cur(p) == 'e' || cur(p) == 'E') {
        whole = 0;
        p->i++;
        if (cur(p) == '+' || cur(p) == '-')
            p->i++;
        if (digits(p, "a digit in the exponent") < 0)
            return NULL;
    }
    if (p->i - a >= sizeof buf) {
        perr(p, a, "a number of more than %zu characters", sizeof buf - 1);
        return NULL;
    }
    memcpy(buf, p->s + a, p->i - a);
    buf[p->i - a] = '\0';
    if (!(e = new_expr(p, E_LIT, a)))
        return NULL;
    if (whole && strlen(buf) < 19)
        e->lit = json_integer(strtoll(buf, NULL, 10));
    else
        e->lit = json_real(strtod(buf, NULL));
    if (!e->lit) {
        perr(p, a, "number out of range");
        expr_free(e);
        return NULL;
    }
    return e;
}

static int check_arg(struct parser *p, const struct expr *f, int k, struct expr **arg);

/* function-expr = function-name "(" S [function-argument *(S "," S
 * function-argument)] S ")" (section 2.4), at the name. */
static struct expr *parse_function(struct parser *p, size_t a, size_t namelen)
{
    struct expr *e;
    int k = -1;
    for (int i = 0; i < F_N; i++)
        if (strlen(fns[i].name) == namelen && memcmp(fns[i].name, p->s + a, namelen) == 0)
            k = i;
    if (k < 0) {
        perr(p, a, "unknown function %.*s() (length, count, match, search and value are"
             " known)", (int)namelen, p->s + a);
        return NULL;
    }
    if (nest(p) < 0 || !(e = new_expr(p, E_FUNC, a)))
        return NULL;
    e->fn = (enum fn_id)k;
    p->i++;
    skip_ws(p);
    while (cur(p) != ')') {
        size_t at;
        struct expr *arg;
        if (e->nargs) {
            if (cur(p) != ',') {
                unexpected(p, "',' or ')'");
                goto fail;
            }
            p->i++;
            skip_ws(p);
        }
        at = p->i;
        if (!(arg = parse_or(p)))
            goto fail;
        if (e->nargs == fns[k].nargs) {
            expr_free(arg);
            perr(p, at, "%s() takes %d argument%s", fns[k].name, fns[k].nargs,
                 fns[k].nargs > 1 ? "s" : "");
            goto fail;
        }
        if (check_arg(p, e, e->nargs, &arg) < 0)
            goto fail;
        e->arg[e->nargs++] = arg;
        skip_ws(p);
    }
    if (e->nargs != fns[k].nargs) {
        perr(p, p->i, "%s() takes %d argument%s", fns[k].name, fns[k].nargs,
             fns[k].nargs > 1 ? "s" : "");
        goto fail;
    }
    p->i++;
    p->depth--;
    /* A literal pattern is compiled once, here. One that is not an I-Regexp makes the
     * function false on every node, as section 2.4.6 says, not the query invalid. */
    if ((k == F_MATCH || k == F_SEARCH) && e->arg[1]->kind == E_LIT
        && json_is_string(e->arg[1]->lit)) {
        char msg[160];
        int rc = iregexp_compile(&e->re, json_string_value(e->arg[1]->lit),
                                 json_string_length(e->arg[1]->lit), k == F_MATCH,
                                 msg, sizeof msg);
        if (rc == IREGEXP_LIMIT) {
            perr(p, e->arg[1]->at, "%s", msg);
            goto fail;
        }
        e->re_invalid = rc == IREGEXP_INVALID;
    }
    return e;
fail:
    expr_free(e);
    return NULL;
}

/* An operand: literal, filter-query or function-expr, untyped as yet. */
static struct expr *parse_operand(struct parser *p)
{
    size_t a = p->i;
    int c = cur(p);
    struct expr *e;

    if (c == '$' || c == '@') {
        if (!(e = new_expr(p, E_QUERY, a)))
            return NULL;
        if (parse_query(p, &e->q, NULL) < 0) {
            expr_free(e);
            return NULL;
        }
        return e;
    }
    if (c == '\'' || c == '"') {
        char *s;
        size_t n;
        if (parse_string(p, &s, &n) < 0)
            return NULL;
        if ((e = new_expr(p, E_LIT, a)))
            e->lit = json_stringn_nocheck(s, n);
        free(s);
        return e;
    }
    if (is_int_start(c))
        return parse_number(p);
    if (c >= 'a' && c <= 'z') {
        static const char *const words[] = {"true", "false", "null"};
        while ((cur(p) >= 'a' && cur(p) <= 'z') || (cur(p) >= '0' && cur(p) <= '9')
               || cur(p) == '_')
            p->i++;
        size_t n = p->i - a;
        if (cur(p) == '(')
            return parse_function(p, a, n);
        for (int k = 0; k < 3; k++)
            if (strlen(words[k]) == n && memcmp(words[k], p->s + a, n) == 0) {
                if ((e = new_expr(p, E_LIT, a)))
                    e->lit = k == 0 ? json_true() : k == 1 ? json_false() : json_null();
                return e;
            }
        perr(p, a, "unknown word %.*s (expected true, false, null or a function call)",
             (int)n, p->s + a);
        return NULL;
    }
    unexpected(p, "a query (@ or $), a literal or a function call");
    return NULL;
}

/* The type an expression has as a function argument (section 2.4.3). */
static enum type type_of(const struct expr *e)
{
    switch (e->kind) {
    case E_LIT:
        return T_VALUE;
    case E_QUERY:
        return query_singular(&e->q, 1) ? T_VALUE : T_NODES;
    case E_FUNC:
        return fns[e->fn].result;
    default:
        return T_LOGICAL;
    }
}

/* Takes e (consumed) as a logical expression, the test-expr rules of section 2.4.3:
 * a query tests for existence, a function must give LogicalType or NodesType. */
static struct expr *as_logical(struct parser *p, struct expr *e)
{
    struct expr *t;
    if (!e)
        return NULL;
    if (e->kind == E_LIT) {
        perr(p, e->at, "a literal alone is not a test: compare it, e.g. @.x == true");
    } else if (e->kind == E_FUNC && fns[e->fn].result == T_VALUE) {
        perr(p, e->at, "%s() gives a value, not a test: compare it, e.g. %s(...) > 0",
             fns[e->fn].name, fns[e->fn].name);
    } else if (e->kind != E_QUERY && e->kind != E_FUNC) {
        return e;
    } else if ((t = new_expr(p, E_TEST, e->at))) {
        t->l = e;
        return t;
    }
    expr_free(e);
    return NULL;
}

/* A comparable (section 2.3.5.1): a literal, a singular query, or a function that
 * gives a value. */
static int check_comparable(struct parser *p, const struct expr *e)
{
    if (e->kind == E_LIT || (e->kind == E_FUNC && fns[e->fn].result == T_VALUE))
        return 0;
    if (e->kind == E_QUERY && query_singular(&e->q, 1))
        return 0;
    if (e->kind == E_QUERY)
        return perr(p, e->at, "only a singular query (names and indexes, such as @.price"
                    " or @[0], no spaces inside brackets) can be compared; this one may"
                    " select several nodes");
    if (e->kind == E_FUNC)
        return perr(p, e->at, "%s() gives a logical result, which cannot be compared: use"
                    " it alone or with !", fns[e->fn].name);
    return perr(p, e->at, "a test cannot be compared");
}

/* Checks argument k of function f against its declared type (section 2.4.3). */
static int check_arg(struct parser *p, const struct expr *f, int k, struct expr **arg)
{
    const struct fn *fn = &fns[f->fn];
    enum type want = fn->arg[k], have = type_of(*arg);
    const char *which = k == 0 ? "first" : "second";

    if (want == T_LOGICAL) {
        *arg = as_logical(p, *arg);
        return *arg ? 0 : -1;
    }
    if (want == T_NODES && (*arg)->kind == E_QUERY)
        return 0;
    if (want == have)
        return 0;
    perr(p, (*arg)->at, want == T_NODES ? "the %s argument of %s() must be a query"
         : "the %s argument of %s() must be a value: a literal, a singular query (such as"
           " @.name or @[0]) or a function that gives a value", which, fn->name);
    expr_free(*arg);
    *arg = NULL;
    return -1;
}

static int cmp_op_at(const struct parser *p, size_t *n)
{
    static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">"};
    static const enum cmp_op codes[] = {C_EQ, C_NE, C_LE, C_GE, C_LT, C_GT};
    for (int k = 0; k < 6; k++)
        if (next_is(p, ops[k])) {
            *n = strlen(ops[k]);
            return (int)codes[k];
        }
    return -1;
}

static struct expr *parse_paren(struct parser *p)
{
    struct expr *e;
    if (nest(p) < 0)
        return NULL;
    p->i++;
    skip_ws(p);
    if (!(e = as_logical(p, parse_or(p))))
        return NULL;
    skip_ws(p);
    if (cur(p) != ')') {
        unexpected(p, "')'");
        expr_free(e);
        return NULL;
    }
    p->i++;
    p->depth--;
    return e;
}

/* basic-expr = paren-expr / comparison-expr / test-expr. A bare operand comes back
 * untyped, so that a function argument can be checked against its own type. */
static struct expr *parse_basic(struct parser *p)
{
    size_t a = p->i, save, n;
    struct expr *e, *r, *c;
    int op;

    if (cur(p) == '!') {
        p->i++;
        if (nest(p) < 0)
            return NULL;
        skip_ws(p);
        if (cur(p) == '(')
            e = parse_paren(p);
        else if (cur(p) == '$' || cur(p) == '@' || (cur(p) >= 'a' && cur(p) <= 'z'))
            e = as_logical(p, parse_operand(p));
        else {
            unexpected(p, "'(', a query or a function after '!'");
            e = NULL;
        }
        if (!e || !(c = new_expr(p, E_NOT, a))) {
            expr_free(e);
            return NULL;
        }
        c->l = e;
        p->depth--;
        save = p->i;
        skip_ws(p);
        if (cmp_op_at(p, &n) >= 0) {
            perr(p, a, "'!' cannot negate a comparison without parentheses: write"
                 " !(a == b)");
            expr_free(c);
            return NULL;
        }
        p->i = save;
        return c;
    }
    if (cur(p) == '(')
        return parse_paren(p);
    if (!(e = parse_operand(p)))
        return NULL;
    save = p->i;
    skip_ws(p);
    if ((op = cmp_op_at(p, &n)) < 0) {
        p->i = save;
        return e;
    }
    if (check_comparable(p, e) < 0) {
        expr_free(e);
        return NULL;
    }
    p->i += n;
    skip_ws(p);
    if (!(r = parse_operand(p)) || check_comparable(p, r) < 0
        || !(c = new_expr(p, E_CMP, a))) {
        expr_free(e);
        expr_free(r);
        return NULL;
    }
    c->op = (enum cmp_op)op;
    c->l = e;
    c->r = r;
    return c;
}

/* logical-or-expr and logical-and-expr: operands joined by "||" or "&&", which binds
 * tighter (section 2.3.5.1). */
static struct expr *parse_chain(struct parser *p, const char *tok, enum expr_kind kind)
{
    struct expr *e = kind == E_OR ? parse_chain(p, "&&", E_AND) : parse_basic(p);
    for (;;) {
        size_t save = p->i, a;
        struct expr *r, *c;
        if (!e)
            return NULL;
        skip_ws(p);
        if (!next_is(p, tok)) {
            p->i = save;
            return e;
        }
        a = p->i;
        p->i += 2;
        skip_ws(p);
        if (!(e = as_logical(p, e)))
            return NULL;
        r = as_logical(p, kind == E_OR ? parse_chain(p, "&&", E_AND) : parse_basic(p));
        if (!r || !(c = new_expr(p, kind, a))) {
            expr_free(e);
            expr_free(r);
            return NULL;
        }
        c->l = e;
        c->r = r;
        e = c;
    }
}

static struct expr *parse_or(struct parser *p)
{
    return parse_chain(p, "||", E_OR);
}

struct jsonpath *jsonpath_compilen(const char *s, size_t len, char *err, size_t errlen)
{
    struct parser p = {.s = s, .len = len, .err = err, .errlen = errlen};
    struct jsonpath *q;

    if (len > JSONPATH_MAX_LEN) {
        snprintf(err, errlen, "query longer than %d bytes", JSONPATH_MAX_LEN);
        return NULL;
    }
    if (len == 0 || s[0] != '$') {
        snprintf(err, errlen, "a query starts with '$' (at offset 0)");
        return NULL;
    }
    if (!(q = calloc(1, sizeof *q))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (parse_query(&p, &q->q, &q->count) < 0)
        goto fail;
    if (p.i < len) {
        if (skip_ws(&p) && p.i == len)
            perr(&p, len, "whitespace at the end of the query");
        else
            unexpected(&p, "'.', '..' or '[' starting a segment");
        goto fail;
    }
    return q;
fail:
    jsonpath_free(q);
    return NULL;
}

struct jsonpath *jsonpath_compile(const char *expr, char *err, size_t errlen)
{
    return jsonpath_compilen(expr, strlen(expr), err, errlen);
}

int jsonpath_singular(const struct jsonpath *p)
{
    return query_singular(&p->q, 0);
}

/* ---- evaluation ---- */

struct ctx {
    json_t *root;
    long work;
    char *err;
    size_t errlen;
};

struct list {
    json_t **v;
    size_t n, cap;
};

/* A value in a filter: a node or a computed value, or Nothing (j == NULL). */
struct val {
    json_t *j;
    int own;
};

static int charge(struct ctx *c, long n)
{
    if ((c->work += n) <= JSONPATH_MAX_WORK)
        return 0;
    snprintf(c->err, c->errlen, "the query needs more than %d steps on this document"
             " (JSONPATH_MAX_WORK); select more narrowly than '..' or '*'", JSONPATH_MAX_WORK);
    return -1;
}

static int list_push(struct ctx *c, struct list *l, json_t *v)
{
    if (charge(c, 1) < 0)
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        json_t **n = realloc(l->v, cap * sizeof *n);
        if (!n) {
            snprintf(c->err, c->errlen, "out of memory");
            return -1;
        }
        l->v = n;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

static int eval_logical(struct ctx *c, const struct expr *e, json_t *node);

/* Slice bounds (section 2.3.4.2.2): the first index and the one past the last, in the
 * direction of step. */
static void slice_bounds(const struct sel *s, int64_t len, int64_t *lo, int64_t *hi)
{
    int64_t step = s->has[2] ? s->slice[2] : 1;
    int64_t start = s->has[0] ? s->slice[0] : step >= 0 ? 0 : len - 1;
    int64_t end = s->has[1] ? s->slice[1] : step >= 0 ? len : -len - 1;
    int64_t ns = start >= 0 ? start : len + start, ne = end >= 0 ? end : len + end;
    if (step >= 0) {
        *lo = ns < 0 ? 0 : ns > len ? len : ns;
        *hi = ne < 0 ? 0 : ne > len ? len : ne;
    } else {
        *lo = ns < -1 ? -1 : ns > len - 1 ? len - 1 : ns;
        *hi = ne < -1 ? -1 : ne > len - 1 ? len - 1 : ne;
    }
}

/* Appends to out what selector s selects from node (section 2.3). */
static int apply_sel(struct ctx *c, const struct sel *s, json_t *node, struct list *out)
{
    size_t i;
    const char *key;
    json_t *v;

    switch (s->kind) {
    case SEL_NAME:
        v = json_is_object(node) ? json_object_getn(node, s->name, s->namelen) : NULL;
        return v ? list_push(c, out, v) : 0;
    case SEL_INDEX: {
        int64_t n = json_is_array(node) ? (int64_t)json_array_size(node) : 0;
        int64_t k = s->index < 0 ? n + s->index : s->index;
        return k >= 0 && k < n ? list_push(c, out, json_array_get(node, (size_t)k)) : 0;
    }
    case SEL_SLICE: {
        int64_t lo, hi, step = s->has[2] ? s->slice[2] : 1;
        if (!json_is_array(node) || step == 0)
            return 0;
        slice_bounds(s, (int64_t)json_array_size(node), &lo, &hi);
        for (int64_t k = lo; step > 0 ? k < hi : k > hi; k += step)
            if (list_push(c, out, json_array_get(node, (size_t)k)) < 0)
                return -1;
        return 0;
    }
    case SEL_WILD:
    case SEL_FILTER:
        break;
    }
    if (json_is_array(node)) {
        json_array_foreach(node, i, v) {
            int r = s->kind == SEL_WILD ? 1 : eval_logical(c, s->filter, v);
            if (r < 0 || (r && list_push(c, out, v) < 0))
                return -1;
        }
    } else if (json_is_object(node)) {
        json_object_foreach(node, key, v) {
            int r = s->kind == SEL_WILD ? 1 : eval_logical(c, s->filter, v);
            if (r < 0 || (r && list_push(c, out, v) < 0))
                return -1;
        }
    }
    return 0;
}

static int apply_seg(struct ctx *c, const struct seg *g, json_t *node, struct list *out)
{
    for (size_t k = 0; k < g->nsel; k++)
        if (apply_sel(c, &g->sel[k], node, out) < 0)
            return -1;
    return 0;
}

/* A descendant segment: the node and then its descendants, each before its own
 * descendants and array elements in order (section 2.5.2.2). An explicit stack rather
 * than recursion, so that a deep document cannot exhaust the C stack. */
static int apply_descendant(struct ctx *c, const struct seg *g, json_t *node,
                            struct list *out)
{
    struct list stack = {0};
    int rc = -1;
    const char *key;
    json_t *v;

    if (list_push(c, &stack, node) < 0)
        goto out;
    while (stack.n) {
        node = stack.v[--stack.n];
        if (apply_seg(c, g, node, out) < 0)
            goto out;
        size_t first = stack.n;
        if (json_is_array(node)) {
            for (size_t i = json_array_size(node); i-- > 0;)
                if (list_push(c, &stack, json_array_get(node, i)) < 0)
                    goto out;
        } else if (json_is_object(node)) {
            json_object_foreach(node, key, v)
                if (list_push(c, &stack, v) < 0)
                    goto out;
            for (size_t a = first, b = stack.n; a + 1 < b; a++, b--) {
                json_t *t = stack.v[a];
                stack.v[a] = stack.v[b - 1];
                stack.v[b - 1] = t;
            }
        }
    }
    rc = 0;
out:
    free(stack.v);
    return rc;
}

/* Evaluates q with node as @ (section 2.1.2: each segment maps a nodelist to the
 * concatenation of what it selects from each node). */
static int eval_query(struct ctx *c, const struct query *q, json_t *node, struct list *out)
{
    struct list in = {0};
    int rc = -1;

    if (list_push(c, &in, q->relative ? node : c->root) < 0)
        goto out;
    for (size_t i = 0; i < q->nseg; i++) {
        struct list next = {0};
        for (size_t k = 0; k < in.n; k++)
            if ((q->seg[i].descendant ? apply_descendant(c, &q->seg[i], in.v[k], &next)
                                      : apply_seg(c, &q->seg[i], in.v[k], &next)) < 0) {
                free(next.v);
                goto out;
            }
        free(in.v);
        in = next;
    }
    *out = in;
    in.v = NULL;
    rc = 0;
out:
    free(in.v);
    return rc;
}

static void val_release(struct val *v)
{
    if (v->own)
        json_decref(v->j);
    v->j = NULL;
    v->own = 0;
}

static int eval_value(struct ctx *c, const struct expr *e, json_t *node, struct val *out);

/* The number of Unicode scalar values in a (well-formed) UTF-8 string. */
static size_t utf8_count(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* match() and search() (sections 2.4.6 and 2.4.7). */
static int eval_regex(struct ctx *c, const struct expr *e, json_t *node)
{
    struct val s = {0}, pat = {0};
    struct iregexp *dyn = NULL;
    int r = -1;

    if (eval_value(c, e->arg[0], node, &s) < 0)
        goto out;
    if (!json_is_string(s.j) || e->re_invalid) {
        r = 0;
        goto out;
    }
    if (!e->re) {
        if (eval_value(c, e->arg[1], node, &pat) < 0)
            goto out;
        if (!json_is_string(pat.j)) {
            r = 0;
            goto out;
        }
        if (charge(c, 1 + (long)(json_string_length(pat.j) / 16)) < 0)
            goto out;
        int rc = iregexp_compile(&dyn, json_string_value(pat.j), json_string_length(pat.j),
                                 e->fn == F_MATCH, c->err, c->errlen);
        if (rc == IREGEXP_LIMIT)
            goto out;
        if (rc == IREGEXP_INVALID) {
            r = 0;
            goto out;
        }
    }
    if (charge(c, 1 + (long)(json_string_length(s.j) / 16)) < 0)
        goto out;
    r = iregexp_exec(e->re ? e->re : dyn, json_string_value(s.j), json_string_length(s.j),
                     c->err, c->errlen);
    if (r == IREGEXP_LIMIT)
        r = -1;
out:
    iregexp_free(dyn);
    val_release(&s);
    val_release(&pat);
    return r;
}

/* A function that gives a value: length(), count(), value(). */
static int eval_function(struct ctx *c, const struct expr *e, json_t *node, struct val *out)
{
    struct list l = {0};
    struct val v = {0};
    json_int_t n = -1;

    if (e->fn == F_LENGTH) {
        if (eval_value(c, e->arg[0], node, &v) < 0)
            return -1;
        if (json_is_string(v.j))
            n = (json_int_t)utf8_count(json_string_value(v.j), json_string_length(v.j));
        else if (json_is_array(v.j))
            n = (json_int_t)json_array_size(v.j);
        else if (json_is_object(v.j))
            n = (json_int_t)json_object_size(v.j);
        val_release(&v);
    } else {
        if (eval_query(c, &e->arg[0]->q, node, &l) < 0)
            return -1;
        if (e->fn == F_COUNT)
            n = (json_int_t)l.n;
        else if (l.n == 1)
            out->j = l.v[0];
        free(l.v);
    }
    if (n >= 0) {
        out->j = json_integer(n);
        out->own = 1;
    }
    return 0;
}

static int eval_value(struct ctx *c, const struct expr *e, json_t *node, struct val *out)
{
    struct list l = {0};

    out->j = NULL;
    out->own = 0;
    if (charge(c, 1) < 0)
        return -1;
    if (e->kind == E_LIT) {
        out->j = e->lit;
        return 0;
    }
    if (e->kind == E_FUNC)
        return eval_function(c, e, node, out);
    if (eval_query(c, &e->q, node, &l) < 0)
        return -1;
    if (l.n == 1)
        out->j = l.v[0];
    free(l.v);
    return 0;
}

/* Orders two numbers, integers exactly and others as long doubles (whose 64-bit
 * mantissa holds every json_int_t). */
static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    long double x = json_is_integer(a) ? (long double)json_integer_value(a)
                                       : (long double)json_real_value(a);
    long double y = json_is_integer(b) ? (long double)json_integer_value(b)
                                       : (long double)json_real_value(b);
    return (x > y) - (x < y);
}

/* Orders two strings by Unicode scalar values, which for UTF-8 is byte order. */
static int str_cmp(const json_t *a, const json_t *b)
{
    size_t m = json_string_length(a), n = json_string_length(b);
    int r = memcmp(json_string_value(a), json_string_value(b), m < n ? m : n);
    return r ? (r > 0) - (r < 0) : (m > n) - (m < n);
}

/* Equality of section 2.3.5.2.2: numbers by value (1 == 1.0), arrays element by
 * element, objects member by member. Returns 1, 0, or -1 past the work limit. */
static int equal(struct ctx *c, json_t *a, json_t *b)
{
    if (charge(c, 1) < 0)
        return -1;
    if (json_is_number(a) && json_is_number(b))
        return num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_string(a))
        return str_cmp(a, b) == 0;
    if (json_is_array(a)) {
        size_t i;
        json_t *v;
        if (json_array_size(a) != json_array_size(b))
            return 0;
        json_array_foreach(a, i, v) {
            int r = equal(c, v, json_array_get(b, i));
            if (r <= 0)
                return r;
        }
        return 1;
    }
    if (json_is_object(a)) {
        const char *key;
        size_t klen;
        json_t *v, *w;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_keylen_foreach(a, key, klen, v) {
            int r = (w = json_object_getn(b, key, klen)) ? equal(c, v, w) : 0;
            if (r <= 0)
                return r;
        }
        return 1;
    }
    return 1;
}

/* A comparison (section 2.3.5.2.2), where NULL is Nothing: Nothing equals only
 * Nothing, and < holds only between two numbers or two strings. */
static int compare(struct ctx *c, enum cmp_op op, json_t *a, json_t *b)
{
    int eq, lt;
    if (op == C_GT || op == C_GE) {
        json_t *t = a;
        a = b;
        b = t;
        op = op == C_GT ? C_LT : C_LE;
    }
    eq = !a || !b ? a == b : equal(c, a, b);
    if (eq < 0)
        return -1;
    if (op == C_EQ || op == C_NE)
        return op == C_EQ ? eq : !eq;
    lt = a && b && ((json_is_number(a) && json_is_number(b) && num_cmp(a, b) < 0)
                    || (json_is_string(a) && json_is_string(b) && str_cmp(a, b) < 0));
    return op == C_LT ? lt : lt || eq;
}

/* A logical expression on node as @: 1, 0, or -1 past a limit. */
static int eval_logical(struct ctx *c, const struct expr *e, json_t *node)
{
    int r;
    if (charge(c, 1) < 0)
        return -1;
    switch (e->kind) {
    case E_OR:
    case E_AND:
        r = eval_logical(c, e->l, node);
        if (r < 0 || r == (e->kind == E_OR))
            return r;
        return eval_logical(c, e->r, node);
    case E_NOT:
        r = eval_logical(c, e->l, node);
        return r < 0 ? r : !r;
    case E_CMP: {
        struct val a, b;
        if (eval_value(c, e->l, node, &a) < 0)
            return -1;
        if (eval_value(c, e->r, node, &b) < 0) {
            val_release(&a);
            return -1;
        }
        r = compare(c, e->op, a.j, b.j);
        val_release(&a);
        val_release(&b);
        return r;
    }
    case E_TEST:
        if (e->l->kind == E_FUNC)
            return eval_regex(c, e->l, node);
        struct list l = {0};
        if (eval_query(c, &e->l->q, node, &l) < 0)
            return -1;
        free(l.v);
        return l.n > 0;
    default:
        return -1;
    }
}

static int run(const struct jsonpath *p, const json_t *root, struct list *out,
               char *err, size_t errlen)
{
    struct ctx c = {.root = (json_t *)root, .err = err, .errlen = errlen};
    return eval_query(&c, &p->q, c.root, out);
}

/* A new JSON array holding a reference to each node of l. */
static json_t *array_of(const struct list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        json_array_append(a, l->v[i]);
    return a;
}

int jsonpath_nodes(const struct jsonpath *p, const json_t *root, json_t **out,
                   char *err, size_t errlen)
{
    struct list l = {0};
    *out = NULL;
    if (run(p, root, &l, err, errlen) < 0)
        return -1;
    *out = array_of(&l);
    free(l.v);
    return 0;
}

/* Subtracts from *left an estimate of v's compact JSON length; -1 once it runs out. */
static int fits(const json_t *v, long *left)
{
    size_t i;
    const char *key;
    json_t *x;

    if (json_is_string(v))
        *left -= (long)json_string_length(v) + 3;
    else if (json_is_array(v)) {
        *left -= 2;
        json_array_foreach(v, i, x)
            if (*left < 0 || fits(x, left) < 0)
                return -1;
    } else if (json_is_object(v)) {
        *left -= 2;
        json_object_foreach((json_t *)v, key, x) {
            *left -= (long)strlen(key) + 4;
            if (*left < 0 || fits(x, left) < 0)
                return -1;
        }
    } else {
        *left -= 6;
    }
    return *left < 0 ? -1 : 0;
}

int jsonpath_value(const struct jsonpath *p, const json_t *root, json_t **out,
                   char *err, size_t errlen)
{
    struct list l = {0};
    int singular = jsonpath_singular(p);
    long left = JSONPATH_MAX_RESULT;

    *out = NULL;
    if (run(p, root, &l, err, errlen) < 0)
        return -1;
    if (p->count) {
        json_int_t n = (json_int_t)l.n;
        if (singular && l.n)
            n = json_is_array(l.v[0]) ? (json_int_t)json_array_size(l.v[0])
              : json_is_object(l.v[0]) ? (json_int_t)json_object_size(l.v[0]) : 1;
        *out = json_integer(n);
    } else if (singular) {
        *out = l.n ? json_incref(l.v[0]) : NULL;
    } else if (l.n) {
        for (size_t i = 0; i < l.n; i++)
            if (fits(l.v[i], &left) < 0) {
                snprintf(err, errlen, "the %zu nodes selected add up to more than %d bytes"
                         " of JSON (JSONPATH_MAX_RESULT); select fewer or smaller nodes",
                         l.n, JSONPATH_MAX_RESULT);
                free(l.v);
                return -1;
            }
        *out = array_of(&l);
    }
    free(l.v);
    return 0;
}
