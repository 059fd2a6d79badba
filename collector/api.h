/*
 * api: the collector's queries and writes other than beacons, one function per
 * endpoint (collector/README.md), shared by the HTTP server (which runs writes on the
 * writer thread and reads on its reader threads) and the CLI verbs (which run them on
 * their own connection). Reads come from the per-minute rollups; "exact" (verdict) reads
 * raw rows instead.
 *
 * Each takes its arguments as a JSON object and answers an HTTP status with a JSON body
 * in *resp (a new reference): the result, or {"error": ..., "field": ...}.
 */
#ifndef VIGIL_API_H
#define VIGIL_API_H

#include <jansson.h>

#include "store.h"

#define API_WARMUP_DEFAULT_MS (5 * 60 * 1000LL)
#define API_MAX_AGE_DEFAULT_MS (15 * 60 * 1000LL)

/* The calls, one per endpoint; names as the CLI and api_call know them. */
enum api_fn {
    API_PROBE_RUN,          /* "probe-run": args {"document", "signed", "key_id"} */
    API_PROBE_RUNS, API_DEPLOYMENT, API_DEPLOYMENTS, API_GATE, API_VERDICT, API_VERDICTS,
    API_APPS, API_VERSIONS, API_SERIES, API_BREAKDOWN, API_ERRORS, API_PROBE_RESULTS,
    API_VERDICT_RECORD,     /* "verdict-record": stores a verdict (the "verdict" call's answer) */
    API_TRAFFIC,            /* "traffic": the canary's share of page views per marker segment */
    API_N
};

/* Who asks: the CLI on the collector's machine may name files in its arguments (a
 * policy FILE); a client over HTTP may not. */
enum api_caller { API_HTTP, API_LOCAL };

/* Runs call fn with args for who. Returns the HTTP status. */
int api_run(struct store *s, enum api_fn fn, enum api_caller who, const json_t *args,
            json_t **resp);

/* Runs the call named name ("gate", "verdict", ...) for the CLI (API_LOCAL); 404 for an
 * unknown name. */
int api_call(struct store *s, const char *name, const json_t *args, json_t **resp);

/* The call's name. */
const char *api_name(enum api_fn fn);

struct probe_result;

/* POST /v1/probe-runs with a parsed document (probe_result.h): stores it once per run id
 * (201 {"run_id", "stored": true, "signed"}; 200 with "stored": false when it was there
 * before). is_signed and key_id are the server's, from the headers it verified. */
int api_probe_run(struct store *s, const struct probe_result *r, int is_signed,
                  const char *key_id, json_t **resp);

/* 1 when the call writes to the store (it must run on the writer's connection), 0 when
 * it only reads. */
int api_writes(enum api_fn fn);

/* 1 when a "verdict" call with these args is to be recorded (unless record=0). */
int api_records(const json_t *args);

/* Makes an error body {"error": msg, "field": field} (field may be NULL). */
json_t *api_error(const char *msg, const char *field);

#endif
