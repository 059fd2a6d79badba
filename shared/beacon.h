/*
 * beacon: the RUM beacon schema (collector/README.md), checked before anything is stored.
 *
 * A request body holds one beacon object or an array of them. Validation is all or
 * nothing: a body with one bad beacon is rejected whole, and the error names the field
 * ("[1].events[2].value") and what was expected.
 */
#ifndef VIGIL_BEACON_H
#define VIGIL_BEACON_H

#include <jansson.h>
#include <stddef.h>

#define BEACON_BODY_MAX (64 * 1024)   /* bytes in one request: the browser keepalive quota */
#define BEACON_BATCH_MAX 50           /* beacons in one array */
#define BEACON_EVENTS_MAX 200         /* events in one beacon */
#define BEACON_NAME_MAX 64            /* app, version, session, pv, metric id */
#define BEACON_PAGE_MAX 512           /* page, error source */
#define BEACON_MESSAGE_MAX 1024       /* error message */
#define BEACON_STACK_MAX 8192         /* error stack */
#define BEACON_ATTRIBUTION_MAX 4096   /* a metric's attribution, as compact JSON */
#define BEACON_ATTRS_MAX 16           /* entries in attrs */
#define BEACON_ATTR_KEY_MAX 32
#define BEACON_ATTR_VALUE_MAX 128

/* Parses and validates a request body. Returns a new array of beacons (one element for a
 * single object), or NULL with the offending field (or "" for the body as a whole) in
 * field and the reason in err. */
json_t *beacon_parse(const char *body, size_t len, char *field, size_t fieldlen,
                     char *err, size_t errlen);

/* Validates one beacon object; prefix is put before field names ("[1]."). Returns 0,
 * or -1 with field and err filled. */
int beacon_validate(const json_t *b, const char *prefix, char *field, size_t fieldlen,
                    char *err, size_t errlen);

/* Returns 1 if name is a standard metric (LCP, INP, CLS, FCP, TTFB) or a valid custom
 * name: a lowercase letter, then up to 47 of a-z 0-9 _ . */
int beacon_metric_name_ok(const char *name);

#endif
