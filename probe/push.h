/*
 * push: sends a result document to a collector (POST /v1/probe-runs, collector/README.md)
 * with a bearer token, so that the gate can see it.
 */
#ifndef VIGIL_PUSH_H
#define VIGIL_PUSH_H

#include <jansson.h>
#include <stddef.h>

#include "runner.h"

#define PUSH_TIMEOUT_MS 10000

/* Posts doc to url (a collector's base URL, or its full /v1/probe-runs URL) with
 * "Authorization: Bearer token", using the TLS settings of o. Returns 0 with what the
 * collector said in note ("stored" or "already stored"), or -1 with the reason in err
 * (connection error, or the HTTP status and the collector's error message). */
int push_result(const json_t *doc, const char *url, const char *token,
                const struct runner_opts *o, char *note, size_t notelen,
                char *err, size_t errlen);

#endif
