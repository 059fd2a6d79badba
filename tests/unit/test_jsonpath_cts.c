/* Runs every case of the JSONPath Compliance Test Suite (RFC 9535's community suite,
 * tests/unit/fixtures/jsonpath-cts/, README there says where it comes from) through
 * probe/jsonpath.c's public API, black-box: a case with "invalid_selector" must be
 * refused by jsonpath_compilen(); any other must compile, and jsonpath_nodes() on its
 * document must give its "result" (or one of its "results", where member order leaves
 * the RFC's answer open). One line per case, then the count. */
#include <stdlib.h>

#include "check.h"
#include "jsonpath.h"

/* The suite's expected results are JSON from the same parser as the documents, so
 * json_equal() (which tells 1 from 1.0, as the suite's documents do) is exact here. */
static int same(const json_t *got, const json_t *want)
{
    return json_equal((json_t *)got, (json_t *)want);
}

static void run_case(const json_t *t, int *passed, int *total)
{
    const char *name = json_string_value(json_object_get(t, "name"));
    const json_t *sel = json_object_get(t, "selector");
    int invalid = json_is_true(json_object_get(t, "invalid_selector"));
    char err[300] = "";
    struct jsonpath *p = jsonpath_compilen(json_string_value(sel), json_string_length(sel),
                                           err, sizeof err);
    int ok;

    (*total)++;
    if (invalid) {
        ok = p == NULL;
        CHECK(ok, "cts: %s: refused (%s)", name, err);
    } else if (!p) {
        ok = 0;
        CHECK(ok, "cts: %s: compiles (%s)", name, err);
    } else {
        json_t *got = NULL, *want = json_object_get(t, "result");
        ok = jsonpath_nodes(p, json_object_get(t, "document"), &got, err, sizeof err) == 0;
        if (ok && want) {
            ok = same(got, want);
        } else if (ok) {
            size_t i;
            json_t *alt;
            ok = 0;
            json_array_foreach(json_object_get(t, "results"), i, alt)
                ok |= same(got, alt);
        }
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        CHECK(ok, "cts: %s (got %.200s%s)", name, g ? g : err, g && strlen(g) > 200 ? "..." : "");
        free(g);
        json_decref(got);
    }
    jsonpath_free(p);
    *passed += ok;
}

int main(void)
{
    const char *root = getenv("VIGIL_ROOT");
    char path[4096];
    json_error_t je;
    int passed = 0, total = 0;

    snprintf(path, sizeof path, "%s/tests/unit/fixtures/jsonpath-cts/cts.json",
             root ? root : ".");
    /* JSON_ALLOW_NUL: a few cases have U+0000 in a member name or a selector. */
    json_t *cts = json_load_file(path, JSON_ALLOW_NUL, &je);
    CHECK(cts != NULL, "cts.json loads (%s: %s)", path, cts ? "ok" : je.text);
    if (!cts)
        return check_done();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(cts, "tests"), i, t)
        run_case(t, &passed, &total);
    CHECK(total > 700, "the suite has its %d cases", total);
    printf("# JSONPath Compliance Test Suite: %d of %d cases pass\n", passed, total);
    json_decref(cts);
    return check_done();
}
