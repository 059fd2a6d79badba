/*
 * push: sends a result document to a collector (POST /v1/probe-runs, collector/README.md),
 * authenticated by a bearer token or signed with a host key (shared/sign.h), so that the
 * gate can see it.
 */
#ifndef VIGIL_PUSH_H
#define VIGIL_PUSH_H

#include <jansson.h>
#include <stddef.h>

#include "runner.h"

#define PUSH_TIMEOUT_MS 10000

struct push_auth {
    const char *token;      /* Authorization: Bearer, or NULL */
    const char *key_id;     /* with secret: sign the request instead */
    const char *secret;
};

enum push_result {
    PUSH_OK,                /* stored, or stored before (runs are idempotent by run id) */
    PUSH_RETRY,             /* not delivered, worth retrying: no answer, 5xx, 408, 429 */
    PUSH_REFUSED            /* refused for good (4xx): retrying the same bytes cannot help */
};

/* Checks, before anything is run, the labels a collector requires of a result:
 * app and version (--app, --version), and region when given, each 1 to 64 letters, digits
 * or . _ + - (the rule of POST /v1/probe-runs in collector/README.md). Returns 0, or -1
 * with the option to fix in err. */
int push_check_labels(const json_t *labels, char *err, size_t errlen);

/* Posts body (a result document as JSON text) to url (a collector's base URL, or its
 * full /v1/probe-runs URL) with the TLS settings of o. Fills note with what the collector
 * said ("stored", "already stored") or err with why it failed (connection error, or the
 * HTTP status and the collector's reason). */
enum push_result push_send(const char *body, size_t len, const char *url,
                           const struct push_auth *auth, const struct runner_opts *o,
                           char *note, size_t notelen, char *err, size_t errlen);

#endif
