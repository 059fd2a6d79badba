#include "predicate.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

enum op {
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_CONTAINS, OP_MATCHES, OP_EXISTS, OP_TYPE,
    OP_COUNT, OP_COUNT_EQ, OP_COUNT_NE, OP_COUNT_LT, OP_COUNT_LE, OP_COUNT_GT, OP_COUNT_GE,
    OP_N
};

const char *const predicate_ops[] = {
    "eq", "ne", "lt", "le", "gt", "ge", "contains", "matches", "exists", "type",
    "count", "count_eq", "count_ne", "count_lt", "count_le", "count_gt", "count_ge", NULL
};

static const char *const type_names[] = {
    "string", "number", "integer", "boolean", "null", "array", "object", NULL
};

struct term {
    enum op op;
    json_t *arg;
    regex_t re;      /* OP_MATCHES */
};

struct predicate {
    struct term t[OP_N];
    size_t n;
};

void predicate_free(struct predicate *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->t[i].op == OP_MATCHES)
            regfree(&p->t[i].re);
        json_decref(p->t[i].arg);
    }
    free(p);
}

static int op_of(const char *name)
{
    for (int i = 0; predicate_ops[i]; i++)
        if (strcmp(predicate_ops[i], name) == 0)
            return i;
    return -1;
}

/* Checks an operator's argument type and prepares it. */
static int add_term(struct predicate *p, enum op op, json_t *arg, char *err, size_t errlen)
{
    const char *name = predicate_ops[op];
    struct term *t = &p->t[p->n];

    switch (op) {
    case OP_LT: case OP_LE: case OP_GT: case OP_GE:
        if (!json_is_number(arg)) {
            snprintf(err, errlen, "\"%s\" takes a number", name);
            return -1;
        }
        break;
    case OP_COUNT: case OP_COUNT_EQ: case OP_COUNT_NE: case OP_COUNT_LT:
    case OP_COUNT_LE: case OP_COUNT_GT: case OP_COUNT_GE:
        if (!json_is_integer(arg) || json_integer_value(arg) < 0) {
            snprintf(err, errlen, "\"%s\" takes a whole number >= 0", name);
            return -1;
        }
        if (op == OP_COUNT)
            op = OP_COUNT_EQ;
        break;
    case OP_EXISTS:
        if (!json_is_boolean(arg)) {
            snprintf(err, errlen, "\"exists\" takes true or false");
            return -1;
        }
        break;
    case OP_TYPE: {
        const char *s = json_string_value(arg);
        int ok = 0;
        for (int i = 0; s && type_names[i]; i++)
            ok |= strcmp(s, type_names[i]) == 0;
        if (!ok) {
            snprintf(err, errlen, "\"type\" takes one of string, number, integer, boolean,"
                     " null, array, object");
            return -1;
        }
        break;
    }
    case OP_MATCHES: {
        const char *s = json_string_value(arg);
        if (!s || strlen(s) > PREDICATE_REGEX_MAX) {
            snprintf(err, errlen, "\"matches\" takes a regular expression string of at"
                     " most %d characters", PREDICATE_REGEX_MAX);
            return -1;
        }
        int rc = regcomp(&t->re, s, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &t->re, msg, sizeof msg);
            snprintf(err, errlen, "\"matches\": invalid POSIX extended regex: %s", msg);
            return -1;
        }
        break;
    }
    default:
        break;
    }
    t->op = op;
    t->arg = json_incref(arg);
    p->n++;
    return 0;
}

struct predicate *predicate_parse(const json_t *spec, char *err, size_t errlen)
{
    struct predicate *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (!json_is_object(spec)) {
        add_term(p, OP_EQ, (json_t *)spec, err, errlen);
        return p;
    }
    if (json_object_size(spec) == 0) {
        snprintf(err, errlen, "empty predicate: give a value or operators such as"
                 " {\"eq\": ...}");
        goto fail;
    }
    const char *key;
    json_t *arg;
    json_object_foreach((json_t *)spec, key, arg) {
        int op = op_of(key);
        if (op < 0) {
            const char *near = text_nearest(key, predicate_ops);
            snprintf(err, errlen, "unknown predicate \"%s\"%s%s%s", key,
                     near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "");
            goto fail;
        }
        if (add_term(p, (enum op)op, arg, err, errlen) < 0)
            goto fail;
    }
    return p;
fail:
    predicate_free(p);
    return NULL;
}

/* A short printable form of a value for messages: text as a quoted string, else JSON. */
static void show(const json_t *v, char *dst, size_t dstlen)
{
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15))
                : strdup("nothing");
    char *e = s ? text_excerpt(s, strlen(s), 200) : NULL;
    snprintf(dst, dstlen, "%s", e ? e : "?");
    free(e);
    free(s);
}

/* The number in v: a JSON number, or with text a string that is entirely a number. */
static int number_of(const json_t *v, int text, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (text && json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        *out = strtod(s, &end);
        return (errno || end == s || *end) ? -1 : 0;
    }
    return -1;
}

static size_t count_of(const json_t *v)
{
    if (!v)
        return 0;
    if (json_is_array(v))
        return json_array_size(v);
    if (json_is_object(v))
        return json_object_size(v);
    return 1;
}

static int equal(const json_t *actual, const json_t *arg, int text)
{
    double a, b;
    if (!actual)
        return 0;
    if (text) {
        char *s = json_is_string(arg) ? strdup(json_string_value(arg))
                : json_dumps(arg, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
        int same = s && strcmp(s, json_string_value(actual)) == 0;
        free(s);
        if (!same && json_is_number(arg) && number_of(actual, 1, &a) == 0)
            same = a == json_number_value(arg);
        return same;
    }
    if (json_is_number(actual) && json_is_number(arg)) {
        a = json_number_value(actual);
        b = json_number_value(arg);
        return a == b;
    }
    return json_equal((json_t *)actual, (json_t *)arg);
}

static int holds(const struct term *t, const json_t *actual, int text)
{
    double a, b = json_is_number(t->arg) ? json_number_value(t->arg) : 0;
    long long c = json_is_integer(t->arg) ? json_integer_value(t->arg) : 0;
    long long n = (long long)count_of(actual);

    switch (t->op) {
    case OP_EQ:
        return equal(actual, t->arg, text);
    case OP_NE:
        return actual && !equal(actual, t->arg, text);
    case OP_LT:
        return number_of(actual, text, &a) == 0 && a < b;
    case OP_LE:
        return number_of(actual, text, &a) == 0 && a <= b;
    case OP_GT:
        return number_of(actual, text, &a) == 0 && a > b;
    case OP_GE:
        return number_of(actual, text, &a) == 0 && a >= b;
    case OP_CONTAINS:
        if (json_is_string(actual) && json_is_string(t->arg))
            return strstr(json_string_value(actual), json_string_value(t->arg)) != NULL;
        if (json_is_array(actual)) {
            size_t i;
            json_t *item;
            json_array_foreach(actual, i, item)
                if (equal(item, t->arg, 0))
                    return 1;
        }
        return 0;
    case OP_MATCHES:
        return json_is_string(actual)
            && regexec(&t->re, json_string_value(actual), 0, NULL, 0) == 0;
    case OP_EXISTS:
        return json_is_true(t->arg) ? actual != NULL : actual == NULL;
    case OP_TYPE: {
        const char *want = json_string_value(t->arg);
        if (!actual)
            return 0;
        if (strcmp(want, "string") == 0)  return json_is_string(actual);
        if (strcmp(want, "number") == 0)  return json_is_number(actual);
        if (strcmp(want, "boolean") == 0) return json_is_boolean(actual);
        if (strcmp(want, "null") == 0)    return json_is_null(actual);
        if (strcmp(want, "array") == 0)   return json_is_array(actual);
        if (strcmp(want, "object") == 0)  return json_is_object(actual);
        return json_is_integer(actual)
            || (json_is_real(actual) && floor(json_real_value(actual)) == json_real_value(actual));
    }
    case OP_COUNT_EQ: return n == c;
    case OP_COUNT_NE: return n != c;
    case OP_COUNT_LT: return n < c;
    case OP_COUNT_LE: return n <= c;
    case OP_COUNT_GT: return n > c;
    case OP_COUNT_GE: return n >= c;
    default:
        return 0;
    }
}

int predicate_eval(const struct predicate *p, const json_t *actual, int text,
                   struct predicate_miss *miss)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct term *t = &p->t[i];
        if (holds(t, actual, text))
            continue;
        char want[256], got[256];
        show(t->arg, want, sizeof want);
        show(actual, got, sizeof got);
        if (t->op == OP_EXISTS) {
            snprintf(miss->expected, sizeof miss->expected, json_is_true(t->arg) ? "to exist"
                     : "nothing");
            snprintf(miss->actual, sizeof miss->actual, "%s", got);
        } else if (t->op >= OP_COUNT_EQ) {
            snprintf(miss->expected, sizeof miss->expected, "%s %s", predicate_ops[t->op], want);
            snprintf(miss->actual, sizeof miss->actual, "count %zu (%s)", count_of(actual), got);
        } else {
            snprintf(miss->expected, sizeof miss->expected, "%s %s", predicate_ops[t->op], want);
            snprintf(miss->actual, sizeof miss->actual, "%s", got);
        }
        if (t->op == OP_EXISTS && json_is_true(t->arg))
            snprintf(miss->message, sizeof miss->message, "expected to exist, found nothing");
        else if (t->op == OP_EXISTS)
            snprintf(miss->message, sizeof miss->message, "expected nothing, found %s", got);
        else
            snprintf(miss->message, sizeof miss->message, "expected %s, got %s",
                     miss->expected, miss->actual);
        return 0;
    }
    return 1;
}
