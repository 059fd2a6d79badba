/*
 * probe_result: the probe result document (schema vigil.probe-result/1, probe/README.md
 * "JSON report"), parsed and checked once, into a struct, before anything is stored.
 *
 * probe/runner.c writes it (with the names below), the collector's API takes it
 * (POST /v1/probe-runs), the store files it (store_insert_probe_result) and /metrics reads
 * its journeys: all of them through this struct, none through a parser of its own.
 * Validation is all or nothing, as for beacons (shared/beacon.h): the first field at
 * fault is named ("journeys[0].started_at") with what was expected. Unknown fields are
 * kept (the document is stored whole) but every field the schema names is checked.
 */
#ifndef VIGIL_PROBE_RESULT_H
#define VIGIL_PROBE_RESULT_H

#include <jansson.h>
#include <stddef.h>

#define PROBE_RESULT_SCHEMA "vigil.probe-result/1"
#define PROBE_RESULT_BODY_MAX (4 * 1024 * 1024)  /* bytes of one document */
#define PROBE_RESULT_JOURNEYS_MAX 100000  /* journey runs in one document */
#define PROBE_RESULT_STEPS_MAX 1000       /* steps of one journey run (JOURNEY_STEPS_MAX) */
#define PROBE_RESULT_LABELS_MAX 64        /* labels of one document */
#define PROBE_RESULT_TEXT_MAX 8192        /* bytes of a label value, a name, a url, a message */

/* The phases of a step's timings_ms, in the order of probe_result_step.timings. */
enum { PROBE_T_DNS, PROBE_T_CONNECT, PROBE_T_TLS, PROBE_T_TTFB, PROBE_T_TOTAL, PROBE_T_N };
extern const char *const probe_result_timing_names[PROBE_T_N];

/* One step of a journey run. Strings point into the document (probe_result.doc). */
struct probe_result_step {
    const char *name;
    const char *result;         /* "passed", "failed" or "skipped" */
    int attempts;               /* 0 when the document does not say */
    int status;                 /* HTTP status, 0 none; -1 when the step has none (skipped) */
    const char *http_version;   /* "1.1", "2", ...; "" when not given */
    int has_timings;
    double timings[PROBE_T_N];  /* ms; dns, connect and tls are phases, ttfb and total cumulative */
    long long cert_expiry_ms;   /* tls.cert_expiry, Unix ms; -1 none */
    const char *failure_check;  /* failures[0].check, or NULL */
    const char *failure_message;
};

/* One journey run. */
struct probe_result_journey {
    const char *name;
    int passed;
    long long started_ms;       /* started_at, Unix ms */
    struct probe_result_step *steps;
    size_t nsteps;
    const struct probe_result_step *failed;  /* the first failed step, or NULL */
    int retried;                /* steps that passed after more than one attempt */
};

struct probe_result {
    json_t *doc;                /* the document (a reference of its own) */
    const char *run_id, *app, *version;
    const char *region;         /* labels.region, "" when absent */
    const char *host;           /* labels.host, or NULL */
    int passed;
    long long started_ms;
    struct probe_result_journey *journeys;
    size_t njourneys;
};

/* Parses and checks a document. Returns 0 with *out (free it with probe_result_free()),
 * or -1 with the field at fault in field ("" for the document as a whole) and
 * "field: reason" in err. The struct takes a reference to doc. */
int probe_result_parse(json_t *doc, struct probe_result **out, char *field, size_t fieldlen,
                       char *err, size_t errlen);

/* The same from the document's text (len bytes): malformed JSON is "at LINE:COL". */
int probe_result_parse_text(const char *text, size_t len, struct probe_result **out,
                            char *field, size_t fieldlen, char *err, size_t errlen);

/* Checks one journey run object (prefix names it in errors, e.g. "journeys[2]") into j,
 * whose strings point into obj. Returns 0, or -1 with field and err as above; j->steps
 * is then freed. Free a parsed journey's steps with probe_result_journey_fini(). */
int probe_result_parse_journey(const json_t *obj, const char *prefix,
                               struct probe_result_journey *j, char *field, size_t fieldlen,
                               char *err, size_t errlen);
void probe_result_journey_fini(struct probe_result_journey *j);

void probe_result_free(struct probe_result *r);

/* The failure a journey run is stored with: "check: message" of its first failed step, as
 * a new string (free() it), or NULL when it has none (or memory ran out). */
char *probe_result_failure(const struct probe_result_journey *j);


#endif
