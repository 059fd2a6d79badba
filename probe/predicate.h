/*
 * predicate: the checks a journey places on a response value.
 *
 * A predicate is written as a plain JSON value (meaning "eq") or an object of one or more
 * operators, all of which must hold: {"ge": 1, "lt": 10}. The value checked is either JSON
 * (from a JSONPath) or text (a header, the body), which changes what "eq" compares.
 */
#ifndef VIGIL_PREDICATE_H
#define VIGIL_PREDICATE_H

#include <jansson.h>
#include <stddef.h>

/* Largest regular expression accepted by "matches". */
#define PREDICATE_REGEX_MAX 1024

struct predicate;

/* The operator names, NULL-terminated, for validation and "did you mean". */
extern const char *const predicate_ops[];

/* Parses spec. Returns a new predicate (free with predicate_free()), or NULL with a
 * message in err naming the operator whose argument is wrong. Unknown operators are an
 * error too; callers that want a position check names against predicate_ops first. */
struct predicate *predicate_parse(const json_t *spec, char *err, size_t errlen);

void predicate_free(struct predicate *p);

/* What a predicate that did not hold expected and found, for reports. */
struct predicate_miss {
    char expected[300];     /* "eq \"confirmed\"", "count_ge 1", "to exist" */
    char actual[300];       /* "\"pending\"", "count 0 ([])", "nothing" */
    char message[640];      /* "expected eq \"confirmed\", got \"pending\"" */
};

/* Checks actual (NULL: nothing was found) against every operator. With text != 0, actual
 * is a JSON string holding text, "eq" compares the operand's text form, and numeric
 * operators parse the text as a number. Returns 1 if all hold, else 0 with the first
 * operator that failed described in *miss. */
int predicate_eval(const struct predicate *p, const json_t *actual, int text,
                   struct predicate_miss *miss);

#endif
