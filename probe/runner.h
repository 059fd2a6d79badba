/*
 * runner: runs journeys with libcurl's multi interface.
 *
 * Each journey run gets one easy handle for all its steps, so that its cookies persist
 * from step to step and stay its own; the multi handle shares connections and DNS
 * between runs. Up to `parallel` runs are in flight at once, the steps of one run in
 * order. The outcome is the result document of probe/README.md, built as JSON.
 */
#ifndef VIGIL_RUNNER_H
#define VIGIL_RUNNER_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

#include "journey.h"

struct runner_opts {
    int parallel;                   /* runs in flight at once, >= 1 */
    int repeat;                     /* runs of each journey, >= 1 */
    json_t *vars;                   /* --var NAME=VALUE as an object of strings */
    json_t *labels;                 /* app, version, region, host and --label pairs */
    const char *cacert, *cert, *key;
    int insecure;                   /* do not verify servers */
    int http11;                     /* never negotiate HTTP/2 */
    struct curl_slist *resolve;     /* CURLOPT_RESOLVE entries */
    struct curl_slist *connect_to;  /* CURLOPT_CONNECT_TO entries */
    size_t max_body;                /* bytes of response body kept */
    const char *proxy;              /* --proxy URL; "" for none; NULL: the environment's */
    const json_t *rows;             /* --data: array of objects, one run per row and journey
                                     * (row values win over vars); NULL for none */
    int record;                     /* keep each step's request and response (excerpts,
                                     * secrets masked) in its result, for --report html */
    const char *const *secrets;     /* more values to mask (--env-file secrets) */
    size_t nsecrets;
};

/* Writes into dst the proxy a request to url goes through, as "URL (from SOURCE)" where
 * SOURCE is --proxy or the environment variable libcurl reads (http_proxy, https_proxy,
 * HTTPS_PROXY, all_proxy, ALL_PROXY), and returns 1; returns 0 (dst "") when it goes
 * direct, also when NO_PROXY / no_proxy names its host. */
/* Writes a proxy URL into dst with any user:password replaced by "***", for printing. */
void runner_proxy_text(const char *proxy, char *dst, size_t dstlen);

int runner_proxy_for(const struct runner_opts *o, const char *url, char *dst, size_t dstlen);

/* Applies the TLS settings of o (CA, client certificate and key, --insecure) to a handle. */
void runner_tls_options(CURL *e, const struct runner_opts *o);

/* Called as each step of a run is settled (passed, failed for good, or skipped), with
 * that run's journey result and the step's result, secrets already masked. */
typedef void (*runner_step_fn)(void *ctx, const json_t *journey, const json_t *step);

/* Journey runs of one call (journeys x repeat x rows): each keeps its state until the end. */
#define RUNNER_RUNS_MAX 10000000

/* Bytes of a request or response body kept in a step's result with o->record. */
#define RUNNER_RECORD_BODY_MAX 4096

/* Runs each of the n journeys o->repeat times (for each row of o->rows, if any: the
 * journey result then has "row", the row's number from 1). Returns the new result document (the
 * caller owns it), or NULL with a message in err if libcurl could not be set up. */
json_t *runner_run(struct journey *const *journeys, size_t n, const struct runner_opts *o,
                   runner_step_fn on_step, void *ctx, char *err, size_t errlen);

#endif
