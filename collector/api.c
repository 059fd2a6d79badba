#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beacon.h"
#include "cmp.h"
#include "gate.h"
#include "stats.h"

#define LIST_LIMIT 500

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *api_error(const char *msg, const char *field)
{
    json_t *e = json_pack("{s:s}", "error", msg);
    if (field)
        json_object_set_new(e, "field", json_string(field));
    return e;
}

int api_duration(const char *text, long long *ms)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || v < 0 || !isfinite(v))
        return -1;
    double unit = 1000;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "m") == 0)
        unit = 60000;
    else if (strcmp(end, "h") == 0)
        unit = 3600000;
    else if (strcmp(end, "d") == 0)
        unit = 86400000;
    else if (*end && strcmp(end, "s") != 0)
        return -1;
    *ms = (long long)(v * unit);
    return 0;
}

/* A required (or optional) name: 1-64 letters, digits and . _ + -; the field is named
 * with prefix ("labels.") in errors. */
static const char *name_in(const json_t *args, const char *prefix, const char *key,
                           int required, json_t **resp)
{
    const char *v = json_string_value(json_object_get(args, key));
    char msg[128], field[64];
    snprintf(field, sizeof field, "%s%s", prefix, key);
    if (!v || !*v) {
        if (required) {
            snprintf(msg, sizeof msg, "%s is required", field);
            *resp = api_error(msg, field);
        }
        return NULL;
    }
    size_t n = strlen(v);
    for (size_t i = 0; i < n; i++) {
        if (n > 64 || (!isalnum((unsigned char)v[i]) && !strchr("._+-", v[i]))) {
            snprintf(msg, sizeof msg, "%s must be 1-64 letters, digits or . _ + -", field);
            *resp = api_error(msg, field);
            return NULL;
        }
    }
    return v;
}

static const char *name_arg(const json_t *args, const char *key, int required, json_t **resp)
{
    return name_in(args, "", key, required, resp);
}

static int fail_store(const char *err, json_t **resp)
{
    *resp = api_error(err, NULL);
    return 503;
}

/* POST /v1/probe-runs: a probe result document, stored once per run_id. "signed" and
 * "key_id" are set by the server when it verified the request's signature; they never
 * come from the request body (that is all in "document"). */
static int probe_run(struct store *s, const json_t *args, json_t **resp)
{
    const json_t *doc = json_object_get(args, "document");
    int is_signed = json_is_true(json_object_get(args, "signed"));
    const char *key_id = json_string_value(json_object_get(args, "key_id"));
    const json_t *labels = json_object_get(doc, "labels");
    char err[512];

    if (!json_is_object(doc)) {
        *resp = api_error("the body must be a probe result document (probe --report json)", NULL);
        return 400;
    }
    const char *schema = json_string_value(json_object_get(doc, "schema"));
    if (!schema || strcmp(schema, "vigil.probe-result/1") != 0) {
        *resp = api_error("schema must be \"vigil.probe-result/1\"", "schema");
        return 400;
    }
    if (!name_arg(doc, "run_id", 1, resp))
        return 400;
    if (!json_is_object(labels)) {
        *resp = api_error("labels.app and labels.version are required (probe --app --version)",
                          "labels");
        return 400;
    }
    if (!name_in(labels, "labels.", "app", 1, resp) || !name_in(labels, "labels.", "version", 1, resp))
        return 400;
    if (json_object_get(labels, "region") && !name_in(labels, "labels.", "region", 1, resp))
        return 400;
    if (!json_is_boolean(json_object_get(doc, "passed"))
        || !json_is_string(json_object_get(doc, "started_at"))) {
        *resp = api_error("passed (boolean) and started_at (RFC 3339) are required", "passed");
        return 400;
    }
    const json_t *journeys = json_object_get(doc, "journeys");
    size_t i;
    json_t *j;
    if (!json_is_array(journeys) || json_array_size(journeys) == 0) {
        *resp = api_error("journeys must be a non-empty array", "journeys");
        return 400;
    }
    json_array_foreach(journeys, i, j) {
        if (!json_is_string(json_object_get(j, "name")) || !json_is_boolean(json_object_get(j, "passed"))
            || !json_is_string(json_object_get(j, "started_at"))
            || !json_is_array(json_object_get(j, "steps"))) {
            char f[64];
            snprintf(f, sizeof f, "journeys[%zu]", i);
            *resp = api_error("a journey needs name, passed, started_at and steps", f);
            return 400;
        }
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    if (is_signed && !key_id) {
        *resp = api_error("a signed run needs its key id", NULL);
        return 500;
    }
    int rc = text ? store_insert_probe_run(s, text, wall_ms(), is_signed, key_id, err, sizeof err)
                  : -1;
    free(text);
    if (rc < 0)
        return fail_store(err, resp);
    *resp = json_pack("{s:s,s:b,s:b}", "run_id", json_string_value(json_object_get(doc, "run_id")),
                      "stored", rc == 1, "signed", is_signed);
    return rc == 1 ? 201 : 200;
}

/* POST /v1/deployments: a deployment marker. */
static int deployment(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    json_t *d = json_deep_copy(args);
    const char *stage = json_string_value(json_object_get(args, "stage"));
    const char *note = json_string_value(json_object_get(args, "note"));
    const json_t *ts = json_object_get(args, "ts");
    static const char *const keys[] = {"app", "version", "baseline", "stage", "ts", "note", NULL};
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)args, key, v) {
        int known = 0;
        for (int i = 0; keys[i]; i++)
            known |= strcmp(keys[i], key) == 0;
        if (!known) {
            json_decref(d);
            *resp = api_error("unknown field", key);
            return 400;
        }
    }
    if (!name_arg(args, "app", 1, resp) || !name_arg(args, "version", 1, resp)
        || (json_object_get(args, "baseline") && !name_arg(args, "baseline", 1, resp))) {
        json_decref(d);
        return 400;
    }
    if ((stage && strlen(stage) > 32) || (note && strlen(note) > 1024)
        || (json_object_get(args, "stage") && !stage) || (json_object_get(args, "note") && !note)) {
        json_decref(d);
        *resp = api_error("stage (at most 32 bytes) and note (at most 1024) are strings",
                          stage && strlen(stage) > 32 ? "stage" : "note");
        return 400;
    }
    if (ts && (!json_is_number(ts) || json_number_value(ts) < 1e12 || json_number_value(ts) > 1e13)) {
        json_decref(d);
        *resp = api_error("ts must be a Unix time in milliseconds", "ts");
        return 400;
    }
    if (!ts)
        json_object_set_new(d, "ts", json_integer(wall_ms()));
    if (store_insert_deployment(s, d, wall_ms(), err, sizeof err) < 0) {
        json_decref(d);
        return fail_store(err, resp);
    }
    *resp = d;
    return 201;
}

static int probe_runs(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app = name_arg(args, "app", 1, resp);
    if (!app)
        return 400;
    const char *version = name_arg(args, "version", 0, resp);
    if (*resp)
        return 400;
    json_t *runs = store_probe_runs(s, app, version, LIST_LIMIT, err, sizeof err);
    if (!runs)
        return fail_store(err, resp);
    *resp = json_pack("{s:s,s:o}", "app", app, "runs", runs);
    return 200;
}

static int deployments(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app = name_arg(args, "app", 1, resp);
    if (!app)
        return 400;
    json_t *list = store_deployments(s, app, err, sizeof err);
    if (!list)
        return fail_store(err, resp);
    *resp = json_pack("{s:s,s:o}", "app", app, "deployments", list);
    return 200;
}

static int verdicts(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app = name_arg(args, "app", 1, resp);
    if (!app)
        return 400;
    json_t *list = store_verdicts(s, app, LIST_LIMIT, err, sizeof err);
    if (!list)
        return fail_store(err, resp);
    *resp = json_pack("{s:s,s:o}", "app", app, "verdicts", list);
    return 200;
}

/* A duration argument: a number of ms, or text such as "15m". */
static int duration_arg(const json_t *args, const char *key, long long dflt, long long *out,
                        json_t **resp)
{
    const json_t *v = json_object_get(args, key);
    char msg[128];
    *out = dflt;
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && api_duration(json_string_value(v), out) == 0)
        return 0;
    snprintf(msg, sizeof msg, "%s takes a duration such as 90s, 15m or 1h", key);
    *resp = api_error(msg, key);
    return -1;
}

/* A yes/no argument: true/false, 1/0, or the strings "1", "0", "yes", "no", "true",
 * "false" (query arguments and CLI options are text). */
static int bool_arg(const json_t *args, const char *key, int *out, json_t **resp)
{
    const json_t *v = json_object_get(args, key);
    const char *t = json_string_value(v);
    char msg[128];
    *out = 0;
    if (!v)
        return 0;
    if (json_is_boolean(v) || (json_is_integer(v) && json_integer_value(v) >= 0
                               && json_integer_value(v) <= 1)) {
        *out = json_is_true(v) || json_integer_value(v) == 1;
        return 0;
    }
    if (t && (strcmp(t, "1") == 0 || strcmp(t, "yes") == 0 || strcmp(t, "true") == 0)) {
        *out = 1;
        return 0;
    }
    if (t && (strcmp(t, "0") == 0 || strcmp(t, "no") == 0 || strcmp(t, "false") == 0))
        return 0;
    snprintf(msg, sizeof msg, "%s takes 1 or 0 (yes or no)", key);
    *resp = api_error(msg, key);
    return -1;
}

static int gate(struct store *s, const json_t *args, json_t **resp)
{
    struct gate_opts o;
    char err[512];
    const json_t *regions = json_object_get(args, "regions");
    const json_t *min_runs = json_object_get(args, "min_runs");

    memset(&o, 0, sizeof o);
    if (!(o.app = name_arg(args, "app", 1, resp)) || !(o.version = name_arg(args, "version", 1, resp)))
        return 400;
    if (duration_arg(args, "max_age", API_MAX_AGE_DEFAULT_MS, &o.max_age_ms, resp) < 0
        || bool_arg(args, "require_signed", &o.require_signed, resp) < 0)
        return 400;
    o.min_runs = 1;
    if (min_runs) {
        if (!json_is_integer(min_runs) || json_integer_value(min_runs) < 1
            || json_integer_value(min_runs) > 1000) {
            *resp = api_error("min_runs takes a whole number from 1 to 1000", "min_runs");
            return 400;
        }
        o.min_runs = (int)json_integer_value(min_runs);
    }
    size_t i;
    json_t *r;
    json_array_foreach(regions, i, r) {
        if (o.nregions == GATE_REGIONS_MAX || !json_is_string(r) || !*json_string_value(r)) {
            *resp = api_error("regions takes up to 32 region names", "regions");
            return 400;
        }
        o.regions[o.nregions++] = json_string_value(r);
    }
    json_t *out = gate_decide(s, &o, wall_ms(), err, sizeof err);
    if (!out)
        return fail_store(err, resp);
    *resp = out;
    return 200;
}

static int load_quantile_data(struct store *s, const char *app, const char *version,
                              const char *metric, long long since, long long until,
                              double **v, size_t *n, char *err, size_t errlen)
{
    return store_metric_values(s, app, version, metric, since, until, v, n, err, errlen);
}

/* GET /v1/verdict: the canary against the baseline over the same window, stored. */
static int verdict(struct store *s, const json_t *args, json_t **resp)
{
    struct cmp_policy policy;
    struct cmp_data data[CMP_METRICS_MAX];
    double *values[2 * CMP_METRICS_MAX];
    struct sketch_bins bins[2 * CMP_METRICS_MAX];
    size_t nvals[2];
    char err[512];
    long long warmup, now = wall_ms();
    const char *app, *baseline, *canary;
    const char *pname = json_string_value(json_object_get(args, "policy"));
    const char *pfile = json_string_value(json_object_get(args, "policy_file"));
    const char *method = json_string_value(json_object_get(args, "method"));
    enum cmp_method m = CMP_SEQUENTIAL;
    int status = 200;

    if (!(app = name_arg(args, "app", 1, resp)) || !(baseline = name_arg(args, "baseline", 1, resp))
        || !(canary = name_arg(args, "canary", 1, resp)))
        return 400;
    if (duration_arg(args, "warmup", API_WARMUP_DEFAULT_MS, &warmup, resp) < 0)
        return 400;
    if (method && strcmp(method, "mann-whitney") == 0) {
        m = CMP_MANN_WHITNEY;
    } else if (method && strcmp(method, "sequential") != 0) {
        *resp = api_error("method is sequential (default) or mann-whitney", "method");
        return 400;
    }
    if (pfile) {
        if (cmp_policy_load(pfile, &policy, err, sizeof err) < 0) {
            *resp = api_error(err, "policy");
            return 400;
        }
    } else if (cmp_policy_builtin(pname ? pname : "conservative", &policy) < 0) {
        *resp = api_error("policy is conservative or aggressive (a FILE only from the CLI)",
                          "policy");
        return 400;
    }
    long long start = store_window_start(s, app, canary, err, sizeof err);
    if (start == -2)
        return fail_store(err, resp);
    long long since = start < 0 ? now : start + warmup;
    memset(data, 0, sizeof data);
    memset(values, 0, sizeof values);
    memset(bins, 0, sizeof bins);
    long long nb = 0, nc = 0;
    for (size_t i = 0; i < policy.n; i++) {
        const struct cmp_policy_metric *pm = &policy.m[i];
        struct cmp_data *d = &data[i];
        d->name = pm->name;
        if (since >= now)
            continue;
        if (pm->kind == CMP_RATE) {
            if (store_error_views(s, app, baseline, since, now, &d->base_hits, &d->base_views,
                                  err, sizeof err) < 0
                || store_error_views(s, app, canary, since, now, &d->canary_hits,
                                     &d->canary_views, err, sizeof err) < 0) {
                status = fail_store(err, resp);
                goto out;
            }
            nb = d->base_views > nb ? d->base_views : nb;
            nc = d->canary_views > nc ? d->canary_views : nc;
        } else {
            if (load_quantile_data(s, app, baseline, pm->name, since, now, &values[2 * i],
                                   &nvals[0], err, sizeof err) < 0
                || load_quantile_data(s, app, canary, pm->name, since, now, &values[2 * i + 1],
                                      &nvals[1], err, sizeof err) < 0) {
                status = fail_store(err, resp);
                goto out;
            }
            if (sketch_bins_exact(values[2 * i], nvals[0], &bins[2 * i]) < 0
                || sketch_bins_exact(values[2 * i + 1], nvals[1], &bins[2 * i + 1]) < 0) {
                snprintf(err, sizeof err, "out of memory");
                status = fail_store(err, resp);
                goto out;
            }
            d->base = &bins[2 * i];
            d->canary = &bins[2 * i + 1];
            nb = (long long)nvals[0] > nb ? (long long)nvals[0] : nb;
            nc = (long long)nvals[1] > nc ? (long long)nvals[1] : nc;
        }
    }
    json_t *v = cmp_judge(&policy, data, policy.n, m);
    char from[40], to[40];
    time_t t0 = (time_t)(since / 1000), t1 = (time_t)(now / 1000);
    struct tm tm;
    strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t0, &tm));
    strftime(to, sizeof to, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t1, &tm));
    json_object_set_new(v, "app", json_string(app));
    json_object_set_new(v, "baseline", json_string(baseline));
    json_object_set_new(v, "canary", json_string(canary));
    json_object_set_new(v, "window", json_pack("{s:s,s:s,s:I,s:b}", "from", from, "to", to,
                        "warmup_s", (json_int_t)(warmup / 1000), "canary_seen", start >= 0));
    if (start < 0) {
        json_object_set_new(v, "decision", json_string("pause"));
        json_array_insert_new(json_object_get(v, "reasons"), 0, json_string(
            "the canary has sent no beacons and has no deployment marker yet: pause"));
    }
    /* A look that only shows the verdict (the dashboard) asks not to record it. */
    const char *record = json_string_value(json_object_get(args, "record"));
    if (!(record && strcmp(record, "0") == 0)
        && store_insert_verdict(s, app, baseline, canary, v, now, since, nb, nc, err,
                                sizeof err) < 0)
        fprintf(stderr, "collector: %s\n", err);
    *resp = v;
out:
    for (size_t i = 0; i < 2 * CMP_METRICS_MAX; i++) {
        free(values[i]);
        sketch_bins_fini(&bins[i]);
    }
    return status;
}

#define SINCE_MAX_MS (7 * 24 * 3600 * 1000LL)
#define POINTS_MAX 2000

/* The window of a dashboard query: since (default 1h, at most 7 days) until now. */
static int window_arg(const json_t *args, long long dflt, long long *since, long long *until,
                      json_t **resp)
{
    long long span;
    if (duration_arg(args, "since", dflt, &span, resp) < 0)
        return -1;
    if (span <= 0 || span > SINCE_MAX_MS) {
        *resp = api_error("since must be more than 0 and at most 7d", "since");
        return -1;
    }
    *until = wall_ms() + 1;
    *since = *until - span;
    return 0;
}

/* metric: a beacon metric name or "errors". */
static const char *metric_arg(const json_t *args, json_t **resp)
{
    const char *m = json_string_value(json_object_get(args, "metric"));
    if (!m || (strcmp(m, "errors") != 0 && !beacon_metric_name_ok(m))) {
        *resp = api_error("metric is LCP, INP, CLS, FCP, TTFB, errors or a custom metric",
                          "metric");
        return NULL;
    }
    return m;
}

/* q: p50, p75 (default), p95 or p99. */
static int q_arg(const json_t *args, double *q, json_t **resp)
{
    const char *v = json_string_value(json_object_get(args, "q"));
    static const char *const names[] = {"p50", "p75", "p95", "p99"};
    static const double values[] = {0.5, 0.75, 0.95, 0.99};
    *q = 0.75;
    if (!v)
        return 0;
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            *q = values[i];
            return 0;
        }
    *resp = api_error("q is p50, p75, p95 or p99", "q");
    return -1;
}

/* The value of a group of points: the q-quantile, or for errors the share that is 1. */
static double summary(double *v, size_t n, int errors, double q)
{
    if (errors) {
        double hits = 0;
        for (size_t i = 0; i < n; i++)
            hits += v[i];
        return hits / (double)n;
    }
    stats_sort(v, n);
    return stats_quantile(v, n, q);
}

static int apps(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    (void)args;
    json_t *list = store_apps(s, err, sizeof err);
    if (!list)
        return fail_store(err, resp);
    *resp = json_pack("{s:o}", "apps", list);
    return 200;
}

static int versions(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app = name_arg(args, "app", 1, resp);
    if (!app)
        return 400;
    json_t *list = store_versions(s, app, err, sizeof err);
    if (!list)
        return fail_store(err, resp);
    *resp = json_pack("{s:s,s:o}", "app", app, "versions", list);
    return 200;
}

/* GET /v1/series: one point per time bucket with data. */
static int series(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app, *version, *metric;
    long long since, until, step;
    double q;

    if (!(app = name_arg(args, "app", 1, resp)) || !(version = name_arg(args, "version", 1, resp))
        || !(metric = metric_arg(args, resp)) || q_arg(args, &q, resp) < 0
        || window_arg(args, 3600000, &since, &until, resp) < 0)
        return 400;
    const json_t *st = json_object_get(args, "step");
    step = 60;
    if (st) {
        char *end;
        const char *text = json_string_value(st);
        step = json_is_integer(st) ? json_integer_value(st) : text ? strtoll(text, &end, 10) : -1;
        if (!json_is_integer(st) && (!text || *end))
            step = -1;
    }
    if (step < 10 || step > 3600) {
        *resp = api_error("step is a number of seconds from 10 to 3600", "step");
        return 400;
    }
    if ((until - since) / (step * 1000) > POINTS_MAX) {
        *resp = api_error("since / step would give more than 2000 points: widen step", "step");
        return 400;
    }
    long long *t;
    double *v;
    size_t n;
    if (store_metric_points(s, app, version, metric, since, until, &t, &v, &n, err,
                            sizeof err) < 0)
        return fail_store(err, resp);
    json_t *points = json_array();
    int errors = strcmp(metric, "errors") == 0;
    for (size_t i = 0; i < n;) {
        long long bucket = t[i] / (step * 1000);
        size_t k = i;
        while (k < n && t[k] / (step * 1000) == bucket)
            k++;
        json_array_append_new(points, json_pack("[I,f,I]", (json_int_t)(bucket * step),
                              summary(v + i, k - i, errors, q), (json_int_t)(k - i)));
        i = k;
    }
    free(t);
    free(v);
    *resp = json_pack("{s:s,s:s,s:s,s:f,s:I,s:I,s:I,s:o}", "app", app, "version", version,
                      "metric", metric, "q", q, "step", (json_int_t)step,
                      "from", (json_int_t)(since / 1000), "to", (json_int_t)(until / 1000),
                      "points", points);
    return 200;
}

/* Groups [[key, value], ...] into key -> values. */
static void group_rows(const json_t *rows, json_t *into, int which)
{
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *key = json_string_value(json_array_get(r, 0));
        json_t *slot = json_object_get(into, key ? key : "(none)");
        if (!slot) {
            slot = json_pack("[[],[]]");
            json_object_set_new(into, key ? key : "(none)", slot);
        }
        json_array_append(json_array_get(slot, (size_t)which), json_array_get(r, 1));
    }
}

static double *values_of(const json_t *list, size_t *n)
{
    *n = json_array_size(list);
    double *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; v && i < *n; i++)
        v[i] = json_number_value(json_array_get(list, i));
    return v;
}

/* GET /v1/breakdown: where canary and baseline differ, ordered by contribution. */
static int breakdown(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app, *baseline, *canary, *metric;
    const char *by = json_string_value(json_object_get(args, "by"));
    long long since, until;
    double q;
    static const char *const bys[] = {"browser", "os", "device", "country", "conn", "page"};
    int by_ok = 0;

    for (int i = 0; by && i < 6; i++)
        by_ok |= strcmp(by, bys[i]) == 0;
    if (!(app = name_arg(args, "app", 1, resp)) || !(baseline = name_arg(args, "baseline", 1, resp))
        || !(canary = name_arg(args, "canary", 1, resp)) || !(metric = metric_arg(args, resp))
        || q_arg(args, &q, resp) < 0 || window_arg(args, 3600000, &since, &until, resp) < 0)
        return 400;
    if (!by_ok) {
        *resp = api_error("by is browser, os, device, country, conn or page", "by");
        return 400;
    }
    json_t *rb = store_breakdown_rows(s, app, baseline, metric, by, since, until, err, sizeof err);
    json_t *rc = rb ? store_breakdown_rows(s, app, canary, metric, by, since, until, err,
                                           sizeof err) : NULL;
    if (!rb || !rc) {
        json_decref(rb);
        return fail_store(err, resp);
    }
    json_t *groups = json_object(), *rows = json_array();
    group_rows(rb, groups, 0);
    group_rows(rc, groups, 1);
    size_t ncanary = json_array_size(rc);
    int errors = strcmp(metric, "errors") == 0;
    const char *key;
    json_t *g;
    json_object_foreach(groups, key, g) {
        size_t nb, nc;
        double *vb = values_of(json_array_get(g, 0), &nb);
        double *vc = values_of(json_array_get(g, 1), &nc);
        json_t *row = json_pack("{s:s}", "key", key);
        double b = nb ? summary(vb, nb, errors, q) : NAN, c = nc ? summary(vc, nc, errors, q) : NAN;
        json_object_set_new(row, "baseline", json_pack("{s:I,s:o}", "n", (json_int_t)nb,
                            "value", nb ? json_real(b) : json_null()));
        json_object_set_new(row, "canary", json_pack("{s:I,s:o}", "n", (json_int_t)nc,
                            "value", nc ? json_real(c) : json_null()));
        double delta = nb && nc ? c - b : 0;
        json_object_set_new(row, "delta", nb && nc ? json_real(delta) : json_null());
        json_object_set_new(row, "contribution",
                            json_real(ncanary ? delta * (double)nc / (double)ncanary : 0));
        json_array_append_new(rows, row);
        free(vb);
        free(vc);
    }
    /* Largest contribution first; at most 50 rows. */
    size_t n = json_array_size(rows);
    for (size_t i = 1; i < n; i++) {
        for (size_t k = i; k > 0; k--) {
            double a = json_real_value(json_object_get(json_array_get(rows, k - 1), "contribution"));
            double bb = json_real_value(json_object_get(json_array_get(rows, k), "contribution"));
            if (bb <= a)
                break;
            json_t *tmp = json_incref(json_array_get(rows, k - 1));
            json_array_set(rows, k - 1, json_array_get(rows, k));
            json_array_set_new(rows, k, tmp);
        }
    }
    while (json_array_size(rows) > 50)
        json_array_remove(rows, json_array_size(rows) - 1);
    json_decref(groups);
    json_decref(rb);
    json_decref(rc);
    *resp = json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:o}", "app", app, "baseline", baseline,
                      "canary", canary, "metric", metric, "by", by, "q", q, "rows", rows);
    return 200;
}

static int new_errors(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app, *baseline, *canary;
    long long since, until;
    if (!(app = name_arg(args, "app", 1, resp)) || !(baseline = name_arg(args, "baseline", 1, resp))
        || !(canary = name_arg(args, "canary", 1, resp))
        || window_arg(args, 24 * 3600000LL, &since, &until, resp) < 0)
        return 400;
    json_t *list = store_new_errors(s, app, baseline, canary, since, err, sizeof err);
    if (!list)
        return fail_store(err, resp);
    *resp = json_pack("{s:s,s:s,s:s,s:o}", "app", app, "baseline", baseline, "canary", canary,
                      "new", list);
    return 200;
}

static int probe_results(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app = name_arg(args, "app", 1, resp);
    if (!app)
        return 400;
    json_t *list = store_probe_results(s, app, err, sizeof err);
    if (!list)
        return fail_store(err, resp);
    *resp = json_pack("{s:s,s:o}", "app", app, "results", list);
    return 200;
}

static const struct {
    const char *name;
    int (*fn)(struct store *, const json_t *, json_t **);
} calls[] = {
    {"apps", apps}, {"versions", versions}, {"series", series}, {"breakdown", breakdown},
    {"errors", new_errors}, {"probe-results", probe_results},
    {"probe-run", probe_run}, {"deployment", deployment}, {"probe-runs", probe_runs},
    {"deployments", deployments}, {"gate", gate}, {"verdict", verdict}, {"verdicts", verdicts},
};

int api_call(struct store *s, const char *name, const json_t *args, json_t **resp)
{
    *resp = NULL;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (strcmp(calls[i].name, name) == 0)
            return calls[i].fn(s, args, resp);
    *resp = api_error("no such call", NULL);
    return 404;
}
