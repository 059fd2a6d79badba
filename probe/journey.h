/*
 * journey: loading and checking journey files (format: probe/README.md).
 *
 * journey_load turns a file, its includes spliced in, into a flat list of steps with
 * every default applied, every JSONPath, predicate and regex compiled and every template
 * checked, so that running it can fail only on what the server does. Errors name the
 * file, line and column: "checkout.json:12:8: unknown key ...".
 */
#ifndef VIGIL_JOURNEY_H
#define VIGIL_JOURNEY_H

#include <jansson.h>
#include <regex.h>
#include <stddef.h>

#include "jsonpath.h"
#include "predicate.h"

/* Limits on what one journey may hold. */
#define JOURNEY_FILE_MAX (1024 * 1024)   /* bytes in one journey file */
#define JOURNEY_STEPS_MAX 1000           /* steps after includes are spliced in */
#define JOURNEY_INCLUDE_DEPTH 16         /* includes within includes */

#define JOURNEY_PARTS_MAX 64          /* parts of one multipart body */

enum body_kind { BODY_NONE, BODY_JSON, BODY_FORM, BODY_RAW, BODY_MULTIPART, BODY_GRAPHQL };
enum capture_kind { CAP_JSON, CAP_HEADER, CAP_COOKIE, CAP_REGEX, CAP_STATUS };

struct capture {
    char *name;
    enum capture_kind kind;
    char *arg;                  /* the path, header name, cookie name or regex */
    struct jsonpath *path;      /* CAP_JSON */
    regex_t re;                 /* CAP_REGEX */
    int group;                  /* CAP_REGEX: which group */
};

struct check {
    char *what;                 /* header name, or JSONPath text */
    struct jsonpath *path;      /* JSON checks only */
    struct predicate *pred;
};

struct status_range {
    int lo, hi;                 /* inclusive */
};

struct step {
    char *name;
    char *file;                 /* the file the step was written in */
    char *method;
    char *url;                  /* template */
    char *url_at;               /* "FILE:LINE:COL" of the url */
    json_t *headers;            /* object: name -> template string; defaults merged in */
    json_t *query;              /* object: name -> template string, or NULL */
    enum body_kind body_kind;
    json_t *body;               /* JSON value, form object, raw template string; multipart:
                                 * array of {name, value | file (path checked at load time,
                                 * relative to the journey file resolved), content_type?,
                                 * filename?}; graphql: {query, variables?, operationName?} */
    long timeout_ms, retries, retry_interval_ms, wait_ms, max_redirects;
    double retry_backoff;
    int follow_redirects;
    json_t *set_vars;           /* an include's variables, set when this step starts */

    struct status_range *status;
    size_t nstatus;
    double max_ms;              /* < 0: no limit */
    struct check *header_checks;
    size_t nheader_checks;
    struct predicate *body_pred;
    struct check *json_checks;
    size_t njson_checks;
    struct predicate *tls_days;
    int graphql_errors;         /* graphql: 1 when the response must carry "errors" */
    struct capture *captures;
    size_t ncaptures;
};

/* A name written in a journey and the first place it is written. */
struct journey_ref {
    char *name;                 /* "env.X" or "secret.X" */
    char *at;                   /* "FILE:LINE:COL" */
};

struct journey {
    char *name;
    char *file;
    json_t *variables;          /* object; included files' variables fill unset names */
    struct step *steps;
    size_t nsteps;
    char **secret_names;        /* NAME of every {{secret.NAME}} used */
    size_t nsecret_names;
    struct journey_ref *env_refs;   /* every {{env.X}} and {{secret.X}}, first use */
    size_t nenv_refs;
};

/* Loads path. Returns 0 with a new journey in *out (free with journey_free()), or -1 with
 * "FILE:LINE:COL: what is wrong" in err. Every {{name}} must be defined where it is
 * rendered: a variable of the journey (or of an included file, or of an include), a
 * capture of an earlier step, or a built-in; every url must start with http:// or
 * https:// (or a {{name}}, checked by journey_check_urls). */
int journey_load(const char *path, struct journey **out, char *err, size_t errlen);

void journey_free(struct journey *j);

/* 1 if the journey declares name: in its "variables", an included file's, an include's
 * "variables", or as a capture (the names --var may set). */
int journey_declares(const struct journey *j, const char *name);

/* 1 if s is an HTTP token (RFC 9110, 5.6.2: the characters of a method or header name),
 * the rule journey_load holds a method and a header name to; 0 for NULL or empty. */
int journey_token_ok(const char *s);

/* Adds every name the journey declares (as journey_declares) as a key of the object names. */
void journey_declared_names(const struct journey *j, json_t *names);

/* Checks that the environment variable of every {{env.X}} is set and that of every
 * {{secret.X}} set and not empty. Returns 0, or -1 with "FILE:LINE:COL: ..." in err. */
int journey_check_env(const struct journey *j, char *err, size_t errlen);

/* Checks the variables against vars (the --var object, winning over the journey's own):
 * a variable declared null (no default) must be in vars, and a url opening with {{name}},
 * name a variable, must get an http:// or https:// scheme from it. Returns 0, or -1 with
 * "FILE:..." in err. */
int journey_check_vars(const struct journey *j, const json_t *vars, char *err, size_t errlen);

/* Writes a readable form of the status expectation ("200 or 201", "2xx") into dst. */
void journey_status_text(const struct step *s, char *dst, size_t dstlen);

#endif
