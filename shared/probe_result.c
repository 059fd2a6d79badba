#include "probe_result.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text.h"

const char *const probe_result_timing_names[PROBE_T_N] = {"dns", "connect", "tls", "ttfb",
                                                          "total"};

struct ctx {
    char *field;
    size_t fieldlen;
    char *err;
    size_t errlen;
};

/* Names the field (prefix and name joined with a dot, or the prefix alone) and the
 * reason, as beacon.c does: "journeys[0].started_at: must be an RFC 3339 time". */
__attribute__((format(printf, 4, 5)))
static int bad(struct ctx *c, const char *prefix, const char *name, const char *fmt, ...)
{
    va_list ap;
    snprintf(c->field, c->fieldlen, "%s%s%s", prefix, *prefix && *name ? "." : "", name);
    va_start(ap, fmt);
    text_field_error(c->err, c->errlen, c->field, fmt, ap);
    va_end(ap);
    return -1;
}

/* A string of at most max bytes (required: present and not empty). NULL stays NULL when
 * optional and absent. Returns 0 or -1. */
static int str_field(struct ctx *c, const json_t *obj, const char *prefix, const char *name,
                     int required, size_t max, const char **out)
{
    const json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v)
        return required ? bad(c, prefix, name, "required") : 0;
    if (!json_is_string(v))
        return bad(c, prefix, name, "must be a string");
    if (required && json_string_length(v) == 0)
        return bad(c, prefix, name, "must not be empty");
    if (json_string_length(v) > max)
        return bad(c, prefix, name, "longer than %zu bytes", max);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(c, prefix, name, "contains a NUL character");
    *out = json_string_value(v);
    return 0;
}

/* A name of the collector's name rule (text_name_ok). */
static int name_field(struct ctx *c, const json_t *obj, const char *prefix, const char *name,
                      int required, const char **out)
{
    if (str_field(c, obj, prefix, name, required, TEXT_NAME_MAX + 1, out) < 0)
        return -1;
    if (*out && !text_name_ok(*out))
        return bad(c, prefix, name, "must be " TEXT_NAME_RULE);
    return 0;
}

static int bool_field(struct ctx *c, const json_t *obj, const char *prefix, const char *name,
                      int required, int *out)
{
    const json_t *v = json_object_get(obj, name);
    *out = 0;
    if (!v)
        return required ? bad(c, prefix, name, "required (true or false)") : 0;
    if (!json_is_boolean(v))
        return bad(c, prefix, name, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

static int time_field(struct ctx *c, const json_t *obj, const char *prefix, const char *name,
                      int required, long long *out)
{
    const json_t *v = json_object_get(obj, name);
    *out = -1;
    if (!v)
        return required ? bad(c, prefix, name, "required (an RFC 3339 time)") : 0;
    if ((*out = text_rfc3339_ms(json_string_value(v))) < 0)
        return bad(c, prefix, name, "must be an RFC 3339 time such as"
                   " \"2026-11-28T02:16:40.123Z\"");
    return 0;
}

/* An optional number from lo to hi (a whole one with whole != 0). */
static int num_field(struct ctx *c, const json_t *obj, const char *prefix, const char *name,
                     int whole, double lo, double hi, double *out)
{
    const json_t *v = json_object_get(obj, name);
    if (out)
        *out = 0;
    if (!v)
        return 0;
    double x = json_number_value(v);
    if ((whole ? !json_is_integer(v) : !json_is_number(v)) || !isfinite(x) || x < lo || x > hi)
        return bad(c, prefix, name, "must be a %s from %g to %g", whole ? "whole number"
                   : "number", lo, hi);
    if (out)
        *out = x;
    return 0;
}

static int object_field(struct ctx *c, const json_t *obj, const char *prefix, const char *name,
                        int required, const json_t **out)
{
    const json_t *v = json_object_get(obj, name);
    *out = v;
    if (!v)
        return required ? bad(c, prefix, name, "required (an object)") : 0;
    if (!json_is_object(v))
        return bad(c, prefix, name, "must be an object");
    return 0;
}

static int step_parse(struct ctx *c, const json_t *st, const char *prefix,
                      struct probe_result_step *s)
{
    static const char *const results[] = {"passed", "failed", "skipped"};
    const json_t *t, *tls, *failures = json_object_get(st, "failures");
    const char *ignored;
    double x;
    char sub[96];

    memset(s, 0, sizeof *s);
    s->cert_expiry_ms = -1;
    s->status = -1;
    s->http_version = "";
    if (!json_is_object(st))
        return bad(c, prefix, "", "must be an object");
    if (str_field(c, st, prefix, "name", 1, PROBE_RESULT_TEXT_MAX, &s->name) < 0
        || str_field(c, st, prefix, "result", 1, 16, &s->result) < 0)
        return -1;
    if (strcmp(s->result, results[0]) != 0 && strcmp(s->result, results[1]) != 0
        && strcmp(s->result, results[2]) != 0)
        return bad(c, prefix, "result", "must be passed, failed or skipped");
    if (num_field(c, st, prefix, "attempts", 1, 0, 1e6, &x) < 0)
        return -1;
    s->attempts = (int)x;
    if (json_object_get(st, "status")) {
        if (num_field(c, st, prefix, "status", 1, 0, 999, &x) < 0)
            return -1;
        s->status = (int)x;
    }
    if (str_field(c, st, prefix, "http_version", 0, 8, &s->http_version) < 0
        || num_field(c, st, prefix, "index", 1, 0, 1e9, NULL) < 0
        || num_field(c, st, prefix, "size_bytes", 1, 0, 9e15, NULL) < 0
        || str_field(c, st, prefix, "method", 0, PROBE_RESULT_TEXT_MAX, &ignored) < 0
        || str_field(c, st, prefix, "url", 0, PROBE_RESULT_TEXT_MAX, &ignored) < 0
        || str_field(c, st, prefix, "span_id", 0, 64, &ignored) < 0
        || str_field(c, st, prefix, "traceparent", 0, 128, &ignored) < 0
        || object_field(c, st, prefix, "captures", 0, &t) < 0)
        return -1;
    if (!s->http_version)
        s->http_version = "";
    if (object_field(c, st, prefix, "timings_ms", 0, &t) < 0)
        return -1;
    if (t) {
        snprintf(sub, sizeof sub, "%s.timings_ms", prefix);
        s->has_timings = 1;
        for (int i = 0; i < PROBE_T_N; i++)
            if (num_field(c, t, sub, probe_result_timing_names[i], 0, 0, 1e12,
                          &s->timings[i]) < 0)
                return -1;
    }
    if (object_field(c, st, prefix, "tls", 0, &tls) < 0)
        return -1;
    if (tls) {
        snprintf(sub, sizeof sub, "%s.tls", prefix);
        if (time_field(c, tls, sub, "cert_expiry", 0, &s->cert_expiry_ms) < 0
            || num_field(c, tls, sub, "days_to_expiry", 0, -1e9, 1e9, NULL) < 0)
            return -1;
    }
    if (failures && !json_is_array(failures))
        return bad(c, prefix, "failures", "must be an array");
    size_t i;
    json_t *f;
    json_array_foreach(failures, i, f) {
        static const char *const keys[] = {"check", "expected", "actual", "message"};
        const char *v[4];
        snprintf(sub, sizeof sub, "%s.failures[%zu]", prefix, i);
        if (!json_is_object(f))
            return bad(c, sub, "", "must be an object");
        for (int k = 0; k < 4; k++)
            if (str_field(c, f, sub, keys[k], k == 0, PROBE_RESULT_TEXT_MAX, &v[k]) < 0)
                return -1;
        if (i == 0) {
            s->failure_check = v[0];
            s->failure_message = v[3];
        }
    }
    return 0;
}

void probe_result_journey_fini(struct probe_result_journey *j)
{
    free(j->steps);
    j->steps = NULL;
    j->nsteps = 0;
}

int probe_result_parse_journey(const json_t *obj, const char *prefix,
                               struct probe_result_journey *j, char *field, size_t fieldlen,
                               char *err, size_t errlen)
{
    struct ctx c = {field, fieldlen, err, errlen};
    const json_t *steps = json_object_get(obj, "steps");
    const char *ignored;
    char sub[64];

    memset(j, 0, sizeof *j);
    if (!json_is_object(obj))
        return bad(&c, prefix, "", "must be an object");
    if (str_field(&c, obj, prefix, "name", 1, PROBE_RESULT_TEXT_MAX, &j->name) < 0
        || bool_field(&c, obj, prefix, "passed", 1, &j->passed) < 0
        || time_field(&c, obj, prefix, "started_at", 1, &j->started_ms) < 0
        || num_field(&c, obj, prefix, "duration_ms", 0, 0, 1e12, NULL) < 0
        || num_field(&c, obj, prefix, "iteration", 1, 0, 1e9, NULL) < 0
        || str_field(&c, obj, prefix, "file", 0, PROBE_RESULT_TEXT_MAX, &ignored) < 0
        || str_field(&c, obj, prefix, "trace_id", 0, 64, &ignored) < 0)
        return -1;
    if (!json_is_array(steps))
        return bad(&c, prefix, "steps", "required (an array)");
    if (json_array_size(steps) > PROBE_RESULT_STEPS_MAX)
        return bad(&c, prefix, "steps", "more than %d steps", PROBE_RESULT_STEPS_MAX);
    j->nsteps = json_array_size(steps);
    if (j->nsteps && !(j->steps = calloc(j->nsteps, sizeof *j->steps)))
        return bad(&c, prefix, "", "out of memory");
    for (size_t i = 0; i < j->nsteps; i++) {
        struct probe_result_step *s = &j->steps[i];
        snprintf(sub, sizeof sub, "%s%ssteps[%zu]", prefix, *prefix ? "." : "", i);
        if (step_parse(&c, json_array_get(steps, i), sub, s) < 0) {
            probe_result_journey_fini(j);
            return -1;
        }
        if (!j->failed && strcmp(s->result, "failed") == 0)
            j->failed = s;
        j->retried += strcmp(s->result, "passed") == 0 && s->attempts > 1;
    }
    return 0;
}

/* labels: app and version (name rule), region (name rule, optional), the rest strings. */
static int labels_parse(struct ctx *c, const json_t *doc, struct probe_result *r)
{
    const json_t *labels;
    const char *key, *ignored;
    json_t *v;

    if (object_field(c, doc, "", "labels", 0, &labels) < 0)
        return -1;
    if (!labels)
        return bad(c, "labels", "", "required: labels.app and labels.version (probe --app"
                   " --version)");
    if (json_object_size(labels) > PROBE_RESULT_LABELS_MAX)
        return bad(c, "labels", "", "more than %d labels", PROBE_RESULT_LABELS_MAX);
    if (name_field(c, labels, "labels", "app", 1, &r->app) < 0
        || name_field(c, labels, "labels", "version", 1, &r->version) < 0
        || name_field(c, labels, "labels", "region", 0, &r->region) < 0
        || str_field(c, labels, "labels", "host", 0, 255, &r->host) < 0)
        return -1;
    if (!r->region)
        r->region = "";
    json_object_foreach((json_t *)labels, key, v)
        if (str_field(c, labels, "labels", key, 0, PROBE_RESULT_TEXT_MAX, &ignored) < 0)
            return -1;
    return 0;
}

int probe_result_parse(json_t *doc, struct probe_result **out, char *field, size_t fieldlen,
                       char *err, size_t errlen)
{
    struct ctx c = {field, fieldlen, err, errlen};
    const json_t *journeys = json_object_get(doc, "journeys"), *summary;
    const char *schema;
    struct probe_result *r = NULL;
    char prefix[32];
    int ignored;

    *out = NULL;
    field[0] = '\0';
    if (!json_is_object(doc))
        return bad(&c, "", "", "the body must be a probe result document (probe --report"
                   " json), a JSON object");
    if (str_field(&c, doc, "", "schema", 1, 64, &schema) < 0)
        return -1;
    if (strcmp(schema, PROBE_RESULT_SCHEMA) != 0)
        return bad(&c, "", "schema", "must be \"" PROBE_RESULT_SCHEMA "\"");
    if (!(r = calloc(1, sizeof *r)))
        return bad(&c, "", "", "out of memory");
    r->doc = json_incref(doc);
    if (name_field(&c, doc, "", "run_id", 1, &r->run_id) < 0
        || labels_parse(&c, doc, r) < 0
        || bool_field(&c, doc, "", "passed", 1, &r->passed) < 0
        || time_field(&c, doc, "", "started_at", 1, &r->started_ms) < 0
        || num_field(&c, doc, "", "duration_ms", 0, 0, 1e12, NULL) < 0
        || bool_field(&c, doc, "", "insecure", 0, &ignored) < 0
        || object_field(&c, doc, "", "summary", 0, &summary) < 0)
        goto fail;
    if (summary) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)summary, key, v)
            if (num_field(&c, summary, "summary", key, 1, 0, 1e15, NULL) < 0)
                goto fail;
    }
    if (!json_is_array(journeys) || json_array_size(journeys) == 0) {
        bad(&c, "", "journeys", "required (a non-empty array)");
        goto fail;
    }
    if (json_array_size(journeys) > PROBE_RESULT_JOURNEYS_MAX) {
        bad(&c, "", "journeys", "more than %d journey runs", PROBE_RESULT_JOURNEYS_MAX);
        goto fail;
    }
    if (!(r->journeys = calloc(json_array_size(journeys), sizeof *r->journeys))) {
        bad(&c, "", "", "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(journeys); i++) {
        snprintf(prefix, sizeof prefix, "journeys[%zu]", i);
        if (probe_result_parse_journey(json_array_get(journeys, i), prefix, &r->journeys[i],
                                       field, fieldlen, err, errlen) < 0)
            goto fail;
        r->njourneys++;
    }
    *out = r;
    return 0;
fail:
    probe_result_free(r);
    return -1;
}

int probe_result_parse_text(const char *text, size_t len, struct probe_result **out,
                            char *field, size_t fieldlen, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    *out = NULL;
    if (!doc) {
        snprintf(field, fieldlen, "%s", "");
        snprintf(err, errlen, "malformed JSON at %d:%d: %s", je.line, je.column, je.text);
        return -1;
    }
    int rc = probe_result_parse(doc, out, field, fieldlen, err, errlen);
    json_decref(doc);
    return rc;
}

char *probe_result_failure(const struct probe_result_journey *j)
{
    char *failure = NULL;
    if (j->failed && j->failed->failure_check && j->failed->failure_message
        && asprintf(&failure, "%s: %s", j->failed->failure_check,
                    j->failed->failure_message) < 0)
        failure = NULL;
    return failure;
}

void probe_result_free(struct probe_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->njourneys; i++)
        probe_result_journey_fini(&r->journeys[i]);
    free(r->journeys);
    json_decref(r->doc);
    free(r);
}
