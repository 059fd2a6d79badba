#include "iregexp.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct iregexp {
    pcre2_code *code;
    pcre2_match_context *mctx;
};

/* The checker's state: the pattern, the position, and the PCRE2 text being written. */
struct rx {
    const char *s;
    size_t len, i;
    int depth;
    char *out;
    size_t n;
    char *err;
    size_t errlen;
    int rc;          /* IREGEXP_INVALID or IREGEXP_LIMIT once something failed */
};

static int bad(struct rx *r, int rc, const char *what)
{
    if (!r->rc) {
        snprintf(r->err, r->errlen, "%s at offset %zu of the regular expression", what, r->i);
        r->rc = rc;
    }
    return -1;
}

static int peek(const struct rx *r)
{
    return r->i < r->len ? (unsigned char)r->s[r->i] : -1;
}

/* Copies n bytes of the pattern from the current position to the output. The output
 * is sized for the worst case (every byte a `.`), so this never overruns. */
static void copy(struct rx *r, size_t n)
{
    memcpy(r->out + r->n, r->s + r->i, n);
    r->n += n;
    r->i += n;
}

static void emit(struct rx *r, const char *t)
{
    size_t n = strlen(t);
    memcpy(r->out + r->n, t, n);
    r->n += n;
}

/* Bytes in the UTF-8 character that starts at the current position (validity is left
 * to PCRE2_UTF, which refuses a pattern that is not UTF-8). */
static size_t char_len(const struct rx *r)
{
    unsigned char c = (unsigned char)r->s[r->i];
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return r->i + n <= r->len ? n : r->len - r->i;
}

/* SingleCharEsc's characters after the backslash (RFC 9485 section 3). */
static int single_esc(int c)
{
    return (c >= '(' && c <= '+') || c == '-' || c == '.' || c == '?'
        || (c >= '[' && c <= '^') || c == 'n' || c == 'r' || c == 't'
        || (c >= '{' && c <= '}');
}

/* catEsc / complEsc: \p{Cat} or \P{Cat}, with the categories IsCategory lists. */
static int prop_esc(struct rx *r)
{
    static const char *const cats[] = {
        "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl", "No",
        "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "Z", "Zl", "Zp", "Zs",
        "S", "Sc", "Sk", "Sm", "So", "C", "Cc", "Cf", "Cn", "Co", NULL
    };
    size_t a = r->i + 3, b = a;
    if (r->i + 2 >= r->len || r->s[r->i + 2] != '{')
        return bad(r, IREGEXP_INVALID, "expected '{' after \\p or \\P");
    while (b < r->len && r->s[b] != '}')
        b++;
    for (int k = 0; cats[k] && b < r->len; k++)
        if (strlen(cats[k]) == b - a && memcmp(cats[k], r->s + a, b - a) == 0) {
            copy(r, b + 1 - r->i);
            return 0;
        }
    return bad(r, IREGEXP_INVALID, "unknown Unicode category in \\p{...} or \\P{...}");
}

/* An escape at a backslash: SingleCharEsc or a category escape. */
static int escape(struct rx *r)
{
    int c = r->i + 1 < r->len ? (unsigned char)r->s[r->i + 1] : -1;
    if (c == 'p' || c == 'P')
        return prop_esc(r);
    if (c < 0 || !single_esc(c))
        return bad(r, IREGEXP_INVALID, "not an I-Regexp escape (only \\n \\r \\t, an"
                   " escaped metacharacter, \\p{..} and \\P{..})");
    copy(r, 2);
    return 0;
}

/* CCchar (or a SingleCharEsc) inside a class; refuses a category escape when range is
 * set, as a range's ends are single characters. */
static int class_char(struct rx *r, int range)
{
    int c = peek(r);
    if (c == '\\') {
        int d = r->i + 1 < r->len ? (unsigned char)r->s[r->i + 1] : -1;
        if (range && (d == 'p' || d == 'P'))
            return bad(r, IREGEXP_INVALID, "a category escape cannot end a range");
        return escape(r);
    }
    if (c < 0 || c == '-' || c == '[' || c == ']')
        return bad(r, IREGEXP_INVALID, "expected a character in the class");
    copy(r, char_len(r));
    return 0;
}

/* charClassExpr: "[" ["^"] ("-" / CCE1) *CCE1 ["-"] "]". */
static int char_class(struct rx *r)
{
    size_t first;
    copy(r, 1);
    if (peek(r) == '^')
        copy(r, 1);
    first = r->i;
    for (;;) {
        int c = peek(r);
        if (c < 0)
            return bad(r, IREGEXP_INVALID, "unterminated character class");
        if (c == ']') {
            if (r->i == first)
                return bad(r, IREGEXP_INVALID, "empty character class");
            copy(r, 1);
            return 0;
        }
        if (c == '-') {
            int next = r->i + 1 < r->len ? (unsigned char)r->s[r->i + 1] : -1;
            if (r->i != first && next != ']')
                return bad(r, IREGEXP_INVALID, "'-' may only open or close a class, or"
                           " join the two ends of a range");
            copy(r, 1);
            continue;
        }
        int is_prop = c == '\\' && r->i + 1 < r->len
                   && (r->s[r->i + 1] == 'p' || r->s[r->i + 1] == 'P');
        if (class_char(r, 0) < 0)
            return -1;
        if (!is_prop && peek(r) == '-' && r->i + 1 < r->len && r->s[r->i + 1] != ']') {
            copy(r, 1);
            if (class_char(r, 1) < 0)
                return -1;
        }
    }
}

/* QuantExact: digits, kept at most 65535 (PCRE2's own bound on a repeat count). */
static int quant_number(struct rx *r, long *out)
{
    size_t a = r->i;
    long v = 0;
    while (peek(r) >= '0' && peek(r) <= '9') {
        v = v * 10 + (peek(r) - '0');
        if (v > 65535)
            return bad(r, IREGEXP_LIMIT, "repeat count above 65535");
        copy(r, 1);
    }
    if (r->i == a)
        return bad(r, IREGEXP_INVALID, "expected a number in {...}");
    *out = v;
    return 0;
}

static int quantifier(struct rx *r)
{
    int c = peek(r);
    long lo, hi;
    if (c == '*' || c == '+' || c == '?') {
        copy(r, 1);
        return 0;
    }
    if (c != '{')
        return 0;
    copy(r, 1);
    if (quant_number(r, &lo) < 0)
        return -1;
    if (peek(r) == ',') {
        copy(r, 1);
        if (peek(r) != '}') {
            if (quant_number(r, &hi) < 0)
                return -1;
            if (hi < lo)
                return bad(r, IREGEXP_INVALID, "{n,m} with m below n");
        }
    }
    if (peek(r) != '}')
        return bad(r, IREGEXP_INVALID, "expected '}' closing the repeat");
    copy(r, 1);
    return 0;
}

static int regexp(struct rx *r);

/* piece = atom [quantifier]. */
static int piece(struct rx *r)
{
    int c = peek(r);
    switch (c) {
    case '(':
        if (++r->depth > IREGEXP_MAX_NESTING)
            return bad(r, IREGEXP_LIMIT, "groups nested too deep");
        copy(r, 1);
        if (regexp(r) < 0)
            return -1;
        if (peek(r) != ')')
            return bad(r, IREGEXP_INVALID, "expected ')'");
        copy(r, 1);
        r->depth--;
        break;
    case '.':
        r->i++;
        emit(r, "[^\\n\\r]");
        break;
    case '\\':
        if (escape(r) < 0)
            return -1;
        break;
    case '[':
        if (char_class(r) < 0)
            return -1;
        break;
    case '*': case '+': case '?': case '{':
        return bad(r, IREGEXP_INVALID, "a quantifier with nothing to repeat");
    case ']': case '}':
        return bad(r, IREGEXP_INVALID, "unescaped ']' or '}'");
    default:
        copy(r, char_len(r));
        break;
    }
    return quantifier(r);
}

/* i-regexp = branch *("|" branch); branch = *piece. Stops at ')' or the end. */
static int regexp(struct rx *r)
{
    for (;;) {
        int c = peek(r);
        if (c < 0 || c == ')')
            return 0;
        if (c == '|') {
            copy(r, 1);
            continue;
        }
        if (piece(r) < 0)
            return -1;
    }
}

void iregexp_free(struct iregexp *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re);
}

int iregexp_compile(struct iregexp **out, const char *pat, size_t len, int whole,
                    char *err, size_t errlen)
{
    struct rx r = {.s = pat, .len = len, .err = err, .errlen = errlen};
    struct iregexp *re = NULL;
    int rc = IREGEXP_LIMIT, ec;
    PCRE2_SIZE eoff;

    *out = NULL;
    if (len > IREGEXP_MAX_LEN) {
        snprintf(err, errlen, "regular expression longer than %d bytes", IREGEXP_MAX_LEN);
        return IREGEXP_LIMIT;
    }
    /* Worst case: every byte a '.', 7 bytes each, plus the envelope. */
    if (!(r.out = malloc(len * 7 + 16)))
        goto out;
    if (whole)
        emit(&r, "^(?:");
    if (regexp(&r) < 0 || (r.i < r.len && bad(&r, IREGEXP_INVALID, "unmatched ')'") < 0)) {
        rc = r.rc;
        goto out;
    }
    if (whole)
        emit(&r, ")$");
    if (!(re = calloc(1, sizeof *re)) || !(re->mctx = pcre2_match_context_create(NULL)))
        goto out;
    pcre2_set_match_limit(re->mctx, IREGEXP_MATCH_LIMIT);
    re->code = pcre2_compile((PCRE2_SPTR)r.out, r.n,
                             PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NO_AUTO_CAPTURE,
                             &ec, &eoff, NULL);
    if (!re->code) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errlen, "regular expression refused by PCRE2: %s", (char *)msg);
        rc = IREGEXP_INVALID;
        goto out;
    }
    *out = re;
    re = NULL;
    rc = 0;
out:
    if (rc == IREGEXP_LIMIT && !r.rc && !re)
        snprintf(err, errlen, "out of memory compiling a regular expression");
    iregexp_free(re);
    free(r.out);
    return rc;
}

int iregexp_exec(const struct iregexp *re, const char *s, size_t len, char *err,
                 size_t errlen)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc;

    if (!md) {
        snprintf(err, errlen, "out of memory matching a regular expression");
        return IREGEXP_LIMIT;
    }
    rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, re->mctx);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT
        || rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_NOMEMORY) {
        snprintf(err, errlen, "the regular expression needed more than %d steps on a"
                 " string of %zu bytes", IREGEXP_MATCH_LIMIT, len);
        return IREGEXP_LIMIT;
    }
    /* A subject that is not UTF-8 cannot come from a parsed JSON document; for any
     * other caller it simply does not match. */
    return 0;
}
