/* Unit tests for probe/predicate.c: each operator on JSON and on text values. */
#include <stdlib.h>

#include "check.h"
#include "predicate.h"

/* Parses spec (JSON text), evaluates it on actual (JSON text, or NULL for nothing). */
static int holds(const char *spec, const char *actual, int text)
{
    char err[256];
    struct predicate_miss why;
    json_t *s = json_loads(spec, JSON_DECODE_ANY, NULL);
    json_t *a = actual ? json_loads(actual, JSON_DECODE_ANY, NULL) : NULL;
    struct predicate *p = predicate_parse(s, err, sizeof err);
    int r = p ? predicate_eval(p, a, text, &why) : -1;
    predicate_free(p);
    json_decref(s);
    json_decref(a);
    return r;
}

/* The comparisons at and next to their bound: each operator against 5 (and the count
 * operators against 2) with a value below, equal and above, as JSON and as text. An
 * operator that confuses < with <= (or > with >=) fails at the equal value. */
static void boundaries(void)
{
    static const struct {
        const char *spec, *actual;
        int text, want;
    } cases[] = {
        {"{\"lt\": 5}", "4.9", 0, 1}, {"{\"lt\": 5}", "5", 0, 0}, {"{\"lt\": 5}", "5.1", 0, 0},
        {"{\"le\": 5}", "4.9", 0, 1}, {"{\"le\": 5}", "5", 0, 1}, {"{\"le\": 5}", "5.1", 0, 0},
        {"{\"gt\": 5}", "4.9", 0, 0}, {"{\"gt\": 5}", "5", 0, 0}, {"{\"gt\": 5}", "5.1", 0, 1},
        {"{\"ge\": 5}", "4.9", 0, 0}, {"{\"ge\": 5}", "5", 0, 1}, {"{\"ge\": 5}", "5.1", 0, 1},
        {"{\"le\": 5}", "5.0", 0, 1}, {"{\"ge\": 5}", "5.0", 0, 1},
        {"{\"le\": 0.5}", "0.5", 0, 1}, {"{\"le\": 0.5}", "0.51", 0, 0},
        {"{\"le\": 5}", "\"5\"", 1, 1}, {"{\"le\": 5}", "\"5.1\"", 1, 0},
        {"{\"lt\": 5}", "\"5\"", 1, 0}, {"{\"lt\": 5}", "\"4.9\"", 1, 1},
        {"{\"ge\": 5}", "\"5\"", 1, 1}, {"{\"ge\": 5}", "\"4.9\"", 1, 0},
        {"{\"gt\": 5}", "\"5\"", 1, 0}, {"{\"gt\": 5}", "\"5.1\"", 1, 1},
        {"{\"count_lt\": 2}", "[1]", 0, 1}, {"{\"count_lt\": 2}", "[1,2]", 0, 0},
        {"{\"count_le\": 2}", "[1,2]", 0, 1}, {"{\"count_le\": 2}", "[1,2,3]", 0, 0},
        {"{\"count_gt\": 2}", "[1,2]", 0, 0}, {"{\"count_gt\": 2}", "[1,2,3]", 0, 1},
        {"{\"count_ge\": 2}", "[1]", 0, 0}, {"{\"count_ge\": 2}", "[1,2]", 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(holds(cases[i].spec, cases[i].actual, cases[i].text) == cases[i].want,
              "boundary: %s on %s%s %s", cases[i].spec, cases[i].actual,
              cases[i].text ? " (text)" : "", cases[i].want ? "holds" : "fails");
}

int main(void)
{
    char err[256];
    struct predicate_miss why;

    boundaries();

    CHECK(holds("\"confirmed\"", "\"confirmed\"", 0) == 1, "plain value means eq");
    CHECK(holds("{\"eq\": 2}", "2.0", 0) == 1, "eq: 2 equals 2.0 as JSON numbers");
    CHECK(holds("{\"eq\": 200}", "\"200\"", 1) == 1, "eq: text \"200\" equals the number 200");
    CHECK(holds("{\"eq\": \"a\"}", "\"b\"", 0) == 0, "eq: different strings fail");
    CHECK(holds("{\"ne\": \"a\"}", "\"b\"", 0) == 1, "ne: different strings hold");
    CHECK(holds("{\"ne\": \"a\"}", NULL, 0) == 0, "ne: nothing found fails");
    CHECK(holds("{\"lt\": 10, \"ge\": 1}", "5", 0) == 1, "lt and ge together");
    CHECK(holds("{\"gt\": 5}", "5", 0) == 0, "gt: equal fails");
    CHECK(holds("{\"le\": 5}", "\"4.5\"", 1) == 1, "le: numeric text compared as number");
    CHECK(holds("{\"lt\": 5}", "\"4.5\"", 0) == 0, "lt: a JSON string is not a number");
    CHECK(holds("{\"contains\": \"json\"}", "\"application/json; charset=utf-8\"", 1) == 1,
          "contains: substring of text");
    CHECK(holds("{\"contains\": \"admin\"}", "[\"customer\",\"admin\"]", 0) == 1,
          "contains: array element");
    CHECK(holds("{\"contains\": \"root\"}", "[\"customer\"]", 0) == 0,
          "contains: missing array element fails");
    CHECK(holds("{\"matches\": \"^[0-9a-f]{8}-\"}", "\"0b3e9a1c-rest\"", 0) == 1,
          "matches: POSIX ERE with interval");
    CHECK(holds("{\"matches\": \"^x\"}", "12", 0) == 0, "matches: non-string fails");
    CHECK(holds("{\"exists\": true}", "null", 0) == 1, "exists: a null value exists");
    CHECK(holds("{\"exists\": false}", NULL, 0) == 1, "exists false: nothing found holds");
    CHECK(holds("{\"exists\": true}", NULL, 0) == 0, "exists true: nothing found fails");
    CHECK(holds("{\"type\": \"integer\"}", "3.0", 0) == 1, "type integer: 3.0 is integral");
    CHECK(holds("{\"type\": \"integer\"}", "3.5", 0) == 0, "type integer: 3.5 is not");
    CHECK(holds("{\"type\": \"array\"}", "[]", 0) == 1, "type array");
    CHECK(holds("{\"count_ge\": 1}", "[\"customer\"]", 0) == 1, "count_ge on an array");
    CHECK(holds("{\"count\": 0}", NULL, 0) == 1, "count of nothing is 0");
    CHECK(holds("{\"count_lt\": 2}", "{\"a\":1,\"b\":2}", 0) == 0, "count of an object's members");

    json_t *bad = json_loads("{\"conatins\": \"x\"}", 0, NULL);
    CHECK(predicate_parse(bad, err, sizeof err) == NULL, "unknown operator refused");
    CHECK_STR(err, "unknown predicate \"conatins\"; did you mean \"contains\"?", "unknown operator suggests");
    json_decref(bad);
    bad = json_loads("{\"matches\": \"(\"}", 0, NULL);
    CHECK(predicate_parse(bad, err, sizeof err) == NULL, "invalid regex refused at parse");
    json_decref(bad);
    bad = json_loads("{\"lt\": \"ten\"}", 0, NULL);
    CHECK(predicate_parse(bad, err, sizeof err) == NULL, "lt with a string refused");
    json_decref(bad);

    json_t *spec = json_loads("{\"eq\": \"confirmed\"}", 0, NULL);
    json_t *got = json_string("pending");
    struct predicate *p = predicate_parse(spec, err, sizeof err);
    CHECK(predicate_eval(p, got, 0, &why) == 0, "failure reported");
    CHECK_STR(why.message, "expected eq \"confirmed\", got \"pending\"", "failure message names expected and actual");
    CHECK_STR(why.expected, "eq \"confirmed\"", "failure: expected value apart");
    CHECK_STR(why.actual, "\"pending\"", "failure: actual value apart");
    predicate_free(p);
    json_decref(spec);
    json_decref(got);
    return check_done();
}
