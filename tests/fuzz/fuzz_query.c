/* Query parameters of the collector's GET routes (/v1/verdict, /v1/gate, /v1/series, ...).
 * The input is "CALL?QUERY", e.g. "verdict?app=shop&canary=1.1&warmup=5m". The server's
 * url_args (collector/server.c) only copies lws's decoded arguments into a JSON object,
 * "regions" split at commas and "min_runs" a number when it is one; it needs a live lws
 * connection and is fuzzed through fuzz_http. This harness builds the same object and
 * hands it to api_call (collector/api.h), where every value is parsed and range-checked
 * (durations, times, booleans, quantiles, names), on an in-memory store with rows in it.
 * text_duration_ms, the duration syntax itself, is fed every value too. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fuzzkit.h"
#include "store.h"
#include "text.h"

/* The calls behind GET routes: the ones that only read. */
static const char *const reads[] = {
    "apps", "versions", "series", "breakdown", "errors", "probe-results", "probe-runs",
    "deployments", "gate", "verdict", "verdicts"
};
#define NREADS (sizeof reads / sizeof *reads)

static struct store *store;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    store = fuzzkit_store(":memory:");
    return 0;
}

/* Adds one "name=value" argument as url_args would. */
static void add_arg(json_t *args, char *pair)
{
    char *eq = strchr(pair, '=');
    long long ms;
    if (!eq)
        return;
    *eq = '\0';
    const char *name = pair, *val = eq + 1;
    text_duration_ms(val, &ms);
    if (strcmp(name, "regions") == 0) {
        json_t *list = json_array();
        for (const char *p = val; *p;) {
            size_t n = strcspn(p, ",");
            if (n)
                json_array_append_new(list, json_stringn(p, n));
            p += n + (p[n] == ',');
        }
        json_object_set_new(args, name, list);
    } else if (strcmp(name, "min_runs") == 0) {
        char *end;
        long n = strtol(val, &end, 10);
        json_object_set_new(args, name, *end || end == val ? json_string(val) : json_integer(n));
    } else {
        json_object_set_new(args, name, json_string(val));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzzkit_strndup(data, size);
    char *q = strchr(text, '?');
    const char *call = reads[size ? data[0] % NREADS : 0];
    json_t *args = json_object(), *resp = NULL;

    if (q) {
        *q++ = '\0';
        for (size_t i = 0; i < NREADS; i++)
            if (strcmp(text, reads[i]) == 0)
                call = reads[i];
        for (char *save = NULL, *pair = strtok_r(q, "&", &save); pair;
             pair = strtok_r(NULL, "&", &save))
            add_arg(args, pair);
    }
    int status = api_call(store, call, args, &resp);
    if (!json_is_object(resp) && !json_is_array(resp))
        abort();    /* every answer is JSON */
    if (status >= 400 && !json_is_string(json_object_get(resp, "error")))
        abort();    /* a refusal says why */
    json_decref(resp);
    json_decref(args);
    free(text);
    return 0;
}
