/* JSONPath expressions (probe/jsonpath.h, through its header only): the first line is the
 * expression, compiled and evaluated on a fixed document and, when the rest of the input
 * is JSON, on that too. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzkit.h"
#include "jsonpath.h"

static json_t *fixed;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fixed = json_loads("{\"order\": {\"id\": \"o-1\", \"total\": 42.5, \"items\": ["
                       "{\"sku\": \"a\", \"qty\": 1, \"tags\": [\"x\", \"y\"]},"
                       "{\"sku\": \"b\", \"qty\": 3, \"price\": null}]},"
                       " \"a b\": {\"c'd\": [true, false, [1, [2, [3]]]]}, \"\": 0,"
                       " \"status\": \"ok\", \"n\": -1e308}", 0, NULL);
    return fixed ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t elen = nl ? (size_t)(nl - data) : size;
    char *expr = fuzzkit_strndup(data, elen);
    char err[256];

    err[0] = '\0';
    struct jsonpath *p = jsonpath_compilen(expr, elen, err, sizeof err);
    fuzzkit_refused(!p, err);
    if (p) {
        json_t *out = NULL;
        /* Both results: the RFC's nodelist and the journeys' value. */
        if (jsonpath_nodes(p, fixed, &out, err, sizeof err) == 0)
            json_decref(out);
        if (jsonpath_value(p, fixed, &out, err, sizeof err) == 0)
            json_decref(out);
        if (nl) {
            json_t *doc = json_loadb((const char *)nl + 1, size - elen - 1,
                                     JSON_DECODE_ANY, NULL);
            if (doc && jsonpath_value(p, doc, &out, err, sizeof err) == 0)
                json_decref(out);
            json_decref(doc);
        }
    }
    jsonpath_free(p);
    free(expr);
    return 0;
}
