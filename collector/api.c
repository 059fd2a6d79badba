#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beacon.h"
#include "clock.h"
#include "cmp.h"
#include "gate.h"
#include "probe_result.h"
#include "rollup.h"
#include "sketch.h"
#include "srm.h"
#include "stats.h"
#include "text.h"

#define LIST_LIMIT 500

json_t *api_error(const char *msg, const char *field)
{
    json_t *e = json_pack("{s:s}", "error", msg);
    if (field)
        json_object_set_new(e, "field", json_string(field));
    return e;
}

/* A required (or optional) name argument (text_name_ok). */
static const char *name_arg(const json_t *args, const char *key, int required, json_t **resp)
{
    const char *v = json_string_value(json_object_get(args, key));
    char msg[128];
    if (!v || !*v) {
        if (required) {
            snprintf(msg, sizeof msg, "%s is required", key);
            *resp = api_error(msg, key);
        }
        return NULL;
    }
    if (strlen(v) > TEXT_NAME_MAX) {
        snprintf(msg, sizeof msg, "%s is too long: %zu bytes, at most %d (" TEXT_NAME_RULE ")",
                 key, strlen(v), TEXT_NAME_MAX);
        *resp = api_error(msg, key);
        return NULL;
    }
    if (!text_name_ok(v)) {
        snprintf(msg, sizeof msg, "%s must be " TEXT_NAME_RULE, key);
        *resp = api_error(msg, key);
        return NULL;
    }
    return v;
}

static int fail_store(const char *err, json_t **resp)
{
    *resp = api_error(err, NULL);
    return 503;
}

int api_probe_run(struct store *s, const struct probe_result *r, int is_signed,
                  const char *key_id, json_t **resp)
{
    char err[512];
    *resp = NULL;
    if (is_signed && !key_id) {
        *resp = api_error("a signed run needs its key id", NULL);
        return 500;
    }
    int rc = store_insert_probe_result(s, r, clock_wall_ms(), is_signed, key_id, err,
                                       sizeof err);
    if (rc < 0)
        return fail_store(err, resp);
    *resp = json_pack("{s:s,s:b,s:b}", "run_id", r->run_id, "stored", rc == 1,
                      "signed", is_signed);
    return rc == 1 ? 201 : 200;
}

/* POST /v1/probe-runs: a probe result document, stored once per run_id. "signed" and
 * "key_id" are set by the server when it verified the request's signature; they never
 * come from the request body (that is all in "document"). */
static int probe_run(struct store *s, const json_t *args, json_t **resp)
{
    struct probe_result *r;
    char field[128], err[512];
    if (probe_result_parse(json_object_get(args, "document"), &r, field, sizeof field, err,
                           sizeof err) < 0) {
        *resp = api_error(err, field[0] ? field : NULL);
        return 400;
    }
    int status = api_probe_run(s, r, json_is_true(json_object_get(args, "signed")),
                               json_string_value(json_object_get(args, "key_id")), resp);
    probe_result_free(r);
    return status;
}

/* Whether text is a plain decimal number: digits, with one point when frac, at most 32
 * characters. strtod and strtoll alone would also take " 5", "+5", "0x10", "1e1", "inf". */
static int decimal_text(const char *t, int frac)
{
    size_t n = t ? strspn(t, frac ? "0123456789." : "0123456789") : 0;
    const char *point = n ? memchr(t, '.', n) : NULL;
    return n > 0 && n <= 32 && !t[n] && strspn(t, ".") < n
        && !(point && memchr(point + 1, '.', n - (size_t)(point - t) - 1));
}

/* "weight": the canary's percentage of the traffic (srm.h), a number or, from a query or
 * Flagger's metadata, its text; NAN when absent or empty. 0, or -1 with a 400 body in
 * *resp. */
static int weight_arg(const json_t *args, double *weight, json_t **resp)
{
    const json_t *v = json_object_get(args, "weight");
    const char *t = json_string_value(v);
    /* An empty text is no weight: an Argo template's arg left at its default "". */
    *weight = json_is_number(v) ? json_number_value(v)
        : t && decimal_text(t, 1) ? strtod(t, NULL) : NAN;
    if (!v || (t && !*t) || srm_weight_ok(*weight))
        return 0;
    *resp = api_error("weight must be a number more than 0 and less than 100: the canary's"
                      " percentage of the traffic (10 for 10%)", "weight");
    return -1;
}

/* POST /v1/deployments: a deployment marker. */
static int deployment(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    double weight;
    json_t *d = json_deep_copy(args);
    const char *stage = json_string_value(json_object_get(args, "stage"));
    const char *note = json_string_value(json_object_get(args, "note"));
    const json_t *ts = json_object_get(args, "ts");
    static const char *const keys[] = {"app", "version", "baseline", "stage", "ts", "note",
                                       "weight", NULL};
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
    if (weight_arg(args, &weight, resp) < 0) {
        json_decref(d);
        return 400;
    }
    if (!isnan(weight))
        json_object_set_new(d, "weight", json_real(weight));
    if (!ts)
        json_object_set_new(d, "ts", json_integer(clock_wall_ms()));
    if (store_insert_deployment(s, d, clock_wall_ms(), err, sizeof err) < 0) {
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
    if (json_is_integer(v) && json_integer_value(v) >= 0
        && json_integer_value(v) <= TEXT_DURATION_MAX_MS) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && text_duration_ms(json_string_value(v), out) == 0)
        return 0;
    snprintf(msg, sizeof msg, "%s takes a duration: " TEXT_DURATION_RULE, key);
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

/* Answers 404 {"error", "field"} unless app and each of the versions (NULL-terminated,
 * named by their fields) have been seen: a verdict or a gate for a version nobody ever
 * deployed is a typo, not a pause or a block. Returns 0 when all are known, else the
 * status (404, or 503 when the store failed). */
static int known(struct store *s, const char *app, const char *const *fields,
                 const char *const *versions, json_t **resp)
{
    char err[512], msg[256];
    for (int i = 0; versions[i]; i++) {
        int k = store_seen(s, app, versions[i], err, sizeof err);
        if (k < 0)
            return fail_store(err, resp);
        if (k)
            continue;
        k = store_seen(s, app, NULL, err, sizeof err);
        if (k < 0)
            return fail_store(err, resp);
        if (k)
            snprintf(msg, sizeof msg, "unknown %s \"%s\" of app \"%s\": no beacons, deployment"
                     " marker or probe runs of it", fields[i], versions[i], app);
        else
            snprintf(msg, sizeof msg, "unknown app \"%s\": no beacons, deployment markers or"
                     " probe runs of it", app);
        *resp = api_error(msg, k ? fields[i] : "app");
        return 404;
    }
    return 0;
}

/* Flagger's webhooks (the server sets "from_marker") may name only the app: the
 * version under test (key "version" for the gate, "canary" for a verdict; a verdict also
 * takes "version") defaults to the one the app's latest deployment marker names, and a
 * verdict's baseline to the one the canary's latest marker names. Returns a new object
 * with those filled in and "from_marker" gone, or NULL with the status in *status. */
static json_t *marker_args(struct store *s, const json_t *args, const char *key,
                           int with_baseline, int *status, json_t **resp)
{
    char err[512], msg[256];
    const char *app = name_arg(args, "app", 1, resp);
    if (!app) {
        *status = 400;
        return NULL;
    }
    json_t *a = json_copy((json_t *)args), *marks = NULL;
    json_object_del(a, "from_marker");
    if (!json_object_get(a, key) && json_object_get(a, "version"))
        json_object_set(a, key, json_object_get(a, "version"));
    if (json_object_get(a, key) && (!with_baseline || json_object_get(a, "baseline")))
        return a;
    if (!(marks = store_deployments(s, app, err, sizeof err))) {
        json_decref(a);
        *status = fail_store(err, resp);
        return NULL;
    }
    const json_t *latest = json_array_get(marks, 0);
    if (!json_object_get(a, key)) {
        if (!latest) {
            /* An app nobody ever saw is a typo, answered as the gate and verdict do. */
            int seen = store_seen(s, app, NULL, err, sizeof err);
            if (seen <= 0) {
                snprintf(msg, sizeof msg, "unknown app \"%s\": no beacons, deployment markers"
                         " or probe runs of it", app);
                *status = seen < 0 ? fail_store(err, resp) : 404;
                if (!seen)
                    *resp = api_error(msg, "app");
                goto fail;
            }
            snprintf(msg, sizeof msg, "metadata.version is missing and app \"%s\" has no"
                     " deployment marker to name the canary: mark it (collector mark,"
                     " POST /v1/deployments) or set metadata.version", app);
            *resp = api_error(msg, "metadata.version");
            *status = 400;
            goto fail;
        }
        json_object_set(a, key, json_object_get(latest, "version"));
    }
    if (with_baseline && !json_object_get(a, "baseline")) {
        const char *canary = json_string_value(json_object_get(a, key));
        size_t i;
        json_t *m;
        json_array_foreach(marks, i, m) {
            if (canary && json_is_string(json_object_get(m, "baseline"))
                && strcmp(json_string_value(json_object_get(m, "version")), canary) == 0) {
                json_object_set(a, "baseline", json_object_get(m, "baseline"));
                break;
            }
        }
        const char *const fields[] = {key, NULL}, *const versions[] = {canary, NULL};
        if (!json_object_get(a, "baseline") && canary
            && (*status = known(s, app, fields, versions, resp)) != 0)
            goto fail;
        if (!json_object_get(a, "baseline")) {
            snprintf(msg, sizeof msg, "metadata.baseline is missing and no deployment marker"
                     " of %s names its baseline: set metadata.baseline or mark the canary"
                     " with --baseline", canary ? canary : "the canary");
            *resp = api_error(msg, "metadata.baseline");
            *status = 400;
            goto fail;
        }
    }
    json_decref(marks);
    return a;
fail:
    json_decref(marks);
    json_decref(a);
    return NULL;
}

static int gate(struct store *s, const json_t *args, json_t **resp)
{
    struct gate_opts o;
    char err[512];
    const json_t *regions = json_object_get(args, "regions");
    const json_t *min_runs = json_object_get(args, "min_runs");

    if (json_object_get(args, "from_marker")) {
        int st = 0;
        json_t *a = marker_args(s, args, "version", 0, &st, resp);
        if (a) {
            st = gate(s, a, resp);
            json_decref(a);
        }
        return st;
    }
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
    static const char *const gate_fields[] = {"version", NULL};
    const char *gate_versions[] = {o.version, NULL};
    int st = known(s, o.app, gate_fields, gate_versions, resp);
    if (st)
        return st;
    json_t *out = gate_decide(s, &o, clock_wall_ms(), err, sizeof err);
    if (!out)
        return fail_store(err, resp);
    *resp = out;
    return 200;
}

/* A verdict compares the versions within time slices of a minute; a window longer than
 * API_SLICES_MAX minutes gets slices of as many whole minutes as keep it to that many. */
#define API_SLICES_MAX 1440

/* What a verdict read for one metric: its slices and every bin they point to. */
struct vmetric {
    struct cmp_slice *slices;
    struct sketch_bins *bins;       /* 2 per slice: baseline, canary */
    size_t nbins;
    struct sketch_bins total[2];    /* the whole window: baseline, canary */
};

static void vmetric_fini(struct vmetric *v)
{
    for (size_t i = 0; i < v->nbins; i++)
        sketch_bins_fini(&v->bins[i]);
    free(v->bins);
    free(v->slices);
    sketch_bins_fini(&v->total[0]);
    sketch_bins_fini(&v->total[1]);
    memset(v, 0, sizeof *v);
}

/* One metric of both versions over [since, until) from the rollups, per slice of step_ms
 * (in time order, a slice for every step either version has data in) and in total, into
 * d (whose pointers then point into v). Returns 0 or -1 with err. */
static int load_sliced(struct store *s, const char *app, const char *const ver[2],
                       const struct cmp_policy_metric *pm, long long since, long long until,
                       long long step, struct cmp_data *d, struct vmetric *v, char *err,
                       size_t errlen)
{
    const char *metric = pm->kind == CMP_RATE ? "errors" : pm->name;
    struct store_group *g[2] = {NULL, NULL};
    size_t n[2] = {0, 0}, slices = 0;
    struct sketch sum[2];
    int rc = -1, rate = pm->kind == CMP_RATE;

    sketch_init(&sum[0]);
    sketch_init(&sum[1]);
    for (int k = 0; k < 2; k++)
        if (store_rollup_groups(s, app, ver[k], metric, NULL, since, until, step, &g[k], &n[k],
                                err, errlen) < 0)
            goto out;
    v->slices = calloc(n[0] + n[1] + 1, sizeof *v->slices);
    v->bins = rate ? NULL : calloc(2 * (n[0] + n[1]) + 1, sizeof *v->bins);
    if (!v->slices || (!rate && !v->bins))
        goto oom;
    /* Walks both versions' groups together by their start time. */
    for (size_t i = 0, j = 0; i < n[0] || j < n[1]; slices++) {
        long long t = i < n[0] && (j >= n[1] || g[0][i].t <= g[1][j].t) ? g[0][i].t : g[1][j].t;
        struct store_group *gb = i < n[0] && g[0][i].t == t ? &g[0][i++] : NULL;
        struct store_group *gc = j < n[1] && g[1][j].t == t ? &g[1][j++] : NULL;
        struct cmp_slice *sl = &v->slices[slices];
        if (rate) {
            sl->base_views = gb ? gb->n : 0;
            sl->base_hits = gb ? gb->hits : 0;
            sl->canary_views = gc ? gc->n : 0;
            sl->canary_hits = gc ? gc->hits : 0;
            d->base_views += sl->base_views;
            d->base_hits += sl->base_hits;
            d->canary_views += sl->canary_views;
            d->canary_hits += sl->canary_hits;
            continue;
        }
        struct store_group *both[2] = {gb, gc};
        for (int k = 0; k < 2; k++) {
            struct sketch_bins *b = &v->bins[v->nbins++];
            if (both[k] && (sketch_bins_of(&both[k]->sk, b) < 0
                            || sketch_merge(&sum[k], &both[k]->sk) < 0))
                goto oom;
        }
        sl->base = &v->bins[v->nbins - 2];
        sl->canary = &v->bins[v->nbins - 1];
    }
    if (!rate) {
        if (sketch_bins_of(&sum[0], &v->total[0]) < 0 || sketch_bins_of(&sum[1], &v->total[1]) < 0)
            goto oom;
        d->base = &v->total[0];
        d->canary = &v->total[1];
    }
    d->slices = v->slices;
    d->nslices = slices;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    sketch_fini(&sum[0]);
    sketch_fini(&sum[1]);
    store_groups_free(g[0], n[0]);
    store_groups_free(g[1], n[1]);
    return rc;
}

/* One metric of both versions over [since, until) from the raw rows (--exact, for
 * checking the rollups): one slice, the window. Returns 0 or -1 with err. */
static int load_exact(struct store *s, const char *app, const char *const ver[2],
                      const struct cmp_policy_metric *pm, long long since, long long until,
                      struct cmp_data *d, struct vmetric *v, char *err, size_t errlen)
{
    if (pm->kind == CMP_RATE)
        return store_error_views(s, app, ver[0], since, until, &d->base_hits, &d->base_views,
                                 err, errlen) < 0
               || store_error_views(s, app, ver[1], since, until, &d->canary_hits,
                                    &d->canary_views, err, errlen) < 0 ? -1 : 0;
    for (int k = 0; k < 2; k++) {
        double *x;
        size_t n;
        if (store_metric_values(s, app, ver[k], pm->name, since, until, &x, &n, err, errlen) < 0)
            return -1;
        int rc = sketch_bins_exact(x, n, &v->total[k]);
        free(x);
        if (rc < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    d->base = &v->total[0];
    d->canary = &v->total[1];
    return 0;
}

static const char *time_text(char *buf, size_t len, long long ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    return buf;
}

/* The traffic split check (srm.h) on a verdict: the page views of both versions over
 * the verdict's window, from the rollups (their counts are exact) in both modes, against
 * weight (the verdict's argument) or else the canary's latest marker's. 0 or -1 with err. */
static int traffic_check(struct store *s, const char *app, const char *baseline,
                         const char *canary, long long since, long long now, double weight,
                         const struct srm_policy *p, json_t *verdict, char *err, size_t errlen)
{
    long long nb = 0, nc = 0;
    if (isnan(weight) && store_marker_weight(s, app, canary, &weight, err, errlen) < 0)
        return -1;
    if (p->action != SRM_OFF && srm_weight_ok(weight) && since < now
        && (store_traffic_views(s, app, baseline, since, now, &nb, err, errlen) < 0
            || store_traffic_views(s, app, canary, since, now, &nc, err, errlen) < 0))
        return -1;
    if (srm_apply(verdict, p, weight, nc, nb) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The "at" argument of a replayed verdict: Unix ms or RFC 3339. 0 (absent: *at = -1),
 * or -1 with a 400 answer in *resp. */
static int at_arg(const json_t *args, long long now, long long *at, json_t **resp)
{
    const json_t *v = json_object_get(args, "at");
    const char *t = json_string_value(v);
    char *end;

    *at = -1;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *at = json_integer_value(v);
    } else if (t && *t) {
        errno = 0;
        long long ms = strtoll(t, &end, 10);
        *at = !errno && !*end ? ms : text_rfc3339_ms(t);
    }
    if (*at <= 0 || *at > now) {
        *resp = api_error("at takes a time up to now, as Unix milliseconds or RFC 3339"
                          " (2026-11-28T02:16:40Z)", "at");
        return -1;
    }
    return 0;
}

/* The method of a verdict: the query's, else the policy's, else sequential. The API
 * refuses Mann-Whitney: a controller asks every minute, and a one-look test asked every
 * minute rolls back identical canaries many times more often than its level (shared/
 * README.md "Statistics"); the CLI (one_look) may ask it once. Returns 0 or -1 with a
 * 400 answer in *resp. */
static int method_arg(const json_t *args, const struct cmp_policy *p, enum cmp_method *m,
                      json_t **resp)
{
    const char *name = json_string_value(json_object_get(args, "method"));
    *m = p->method_set ? p->method : CMP_SEQUENTIAL;
    if (name && cmp_method_parse(name, m) < 0) {
        *resp = api_error("method is sequential (default), pooled or mann-whitney", "method");
        return -1;
    }
    if (*m == CMP_MANN_WHITNEY && !json_is_true(json_object_get(args, "one_look"))) {
        *resp = api_error("method mann-whitney is a one-look test: asked every minute it rolls"
                          " back 11-32% of identical canaries; use the sequential method here,"
                          " or `collector compare --method mann-whitney` for a single look",
                          name ? "method" : "policy");
        return -1;
    }
    return 0;
}

/* GET /v1/verdict: the canary against the baseline over the same window, compared within
 * each minute. It only reads: the caller records it with the "verdict-record" call (on
 * the writer's connection). With at, it is the verdict as it was at that time, from the
 * rollup minutes that ended by then and the markers before it (never recorded). */
static int verdict(struct store *s, enum api_caller who, const json_t *args, json_t **resp)
{
    struct cmp_policy policy;
    double weight;
    struct cmp_data data[CMP_METRICS_MAX];
    struct vmetric vm[CMP_METRICS_MAX];
    char err[512], from[40], to[40];
    long long warmup, now = clock_wall_ms(), at;
    const char *app, *baseline, *canary;
    const char *pname = json_string_value(json_object_get(args, "policy"));
    const char *pfile = json_string_value(json_object_get(args, "policy_file"));
    enum cmp_method m;
    int status = 200, exact;

    if (json_object_get(args, "from_marker")) {
        json_t *a = marker_args(s, args, "canary", 1, &status, resp);
        if (a) {
            status = verdict(s, who, a, resp);
            json_decref(a);
        }
        return status;
    }
    memset(vm, 0, sizeof vm);
    if (!(app = name_arg(args, "app", 1, resp)) || !(baseline = name_arg(args, "baseline", 1, resp))
        || !(canary = name_arg(args, "canary", 1, resp)))
        return 400;
    if (duration_arg(args, "warmup", API_WARMUP_DEFAULT_MS, &warmup, resp) < 0
        || bool_arg(args, "exact", &exact, resp) < 0 || weight_arg(args, &weight, resp) < 0
        || at_arg(args, now, &at, resp) < 0)
        return 400;
    if (at > 0 && api_records(args)) {
        *resp = api_error("at replays a past verdict, which is not recorded: add record=0",
                          "record");
        return 400;
    }
    /* A policy FILE is read only for the CLI on this machine: an HTTP client must not
     * make the collector open a path of its choosing. */
    if (pfile && who != API_LOCAL) {
        *resp = api_error("policy is conservative or aggressive (a FILE only from the CLI)",
                          "policy");
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
    if (method_arg(args, &policy, &m, resp) < 0)
        return 400;
    static const char *const verdict_fields[] = {"canary", "baseline", NULL};
    const char *verdict_versions[] = {canary, baseline, NULL};
    if ((status = known(s, app, verdict_fields, verdict_versions, resp)) != 0)
        return status;
    status = 200;
    /* A replay reads whole minutes that ended by at: data received later in at's minute
     * is not part of it. */
    long long until = at > 0 ? (exact ? at : at - at % ROLLUP_MINUTE_MS) : now;
    long long start = store_window_start_before(s, app, canary, at > 0 ? at : LLONG_MAX, err,
                                                sizeof err);
    if (start == -2)
        return fail_store(err, resp);
    long long since = start < 0 ? until : start + warmup;
    long long step = ROLLUP_MINUTE_MS;
    if (since < until && (until - since) / ROLLUP_MINUTE_MS > API_SLICES_MAX)
        step *= ((until - since) / ROLLUP_MINUTE_MS + API_SLICES_MAX - 1) / API_SLICES_MAX;
    memset(data, 0, sizeof data);
    long long nb = 0, nc = 0;
    const char *const ver[2] = {baseline, canary};
    for (size_t i = 0; i < policy.n; i++) {
        const struct cmp_policy_metric *pm = &policy.m[i];
        struct cmp_data *d = &data[i];
        d->name = pm->name;
        if (since >= until)
            continue;
        if ((exact ? load_exact(s, app, ver, pm, since, until, d, &vm[i], err, sizeof err)
                   : load_sliced(s, app, ver, pm, since, until, step, d, &vm[i], err,
                                 sizeof err)) < 0) {
            status = fail_store(err, resp);
            goto out;
        }
        long long b = pm->kind == CMP_RATE ? d->base_views : d->base ? d->base->total : 0;
        long long c = pm->kind == CMP_RATE ? d->canary_views : d->canary ? d->canary->total : 0;
        nb = b > nb ? b : nb;
        nc = c > nc ? c : nc;
    }
    json_t *v = cmp_judge(&policy, data, policy.n, m);
    if (!v) {
        status = fail_store("out of memory", resp);
        goto out;
    }
    json_object_set_new(v, "app", json_string(app));
    json_object_set_new(v, "baseline", json_string(baseline));
    json_object_set_new(v, "canary", json_string(canary));
    json_object_set_new(v, "source", json_string(exact ? "raw" : "rollups"));
    json_object_set_new(v, "window", json_pack("{s:s,s:s,s:I,s:b,s:I,s:I,s:I}",
                        "from", time_text(from, sizeof from, since),
                        "to", time_text(to, sizeof to, until),
                        "warmup_s", (json_int_t)(warmup / 1000), "canary_seen", start >= 0,
                        "from_ms", (json_int_t)since, "to_ms", (json_int_t)until,
                        "slice_s", (json_int_t)(exact ? 0 : step / 1000)));
    if (at > 0)
        json_object_set_new(v, "at_ms", json_integer(at));
    json_object_set_new(v, "samples", json_pack("{s:I,s:I}", "baseline", (json_int_t)nb,
                                                 "canary", (json_int_t)nc));
    if (m == CMP_MANN_WHITNEY)
        json_object_set_new(v, "warning", json_string(
            "Mann-Whitney is valid for one look: asked again as data arrive it rolls back"
            " identical canaries far more often than its level; decide with the sequential"
            " method"));
    if (start < 0) {
        json_object_set_new(v, "decision", json_string("pause"));
        json_array_insert_new(json_object_get(v, "reasons"), 0, json_string(
            "the canary has sent no beacons and has no deployment marker yet: pause"));
    }
    if (traffic_check(s, app, baseline, canary, since, until, weight, &policy.traffic, v, err,
                      sizeof err) < 0) {
        json_decref(v);
        status = fail_store(err, resp);
        goto out;
    }
    *resp = v;
out:
    for (size_t i = 0; i < CMP_METRICS_MAX; i++)
        vmetric_fini(&vm[i]);
    return status;
}

/* Over HTTP, a verdict the same as one recorded within this long (same app, versions,
 * policy, method and decision) is not recorded again: a poll (Argo's every interval, or
 * anyone's GET) asking again adds no row; a new decision always does. The CLI's compare
 * records each. */
#define VERDICT_REPEAT_MS 60000

/* Records a verdict (the "verdict" call's answer) with its window and sample sizes. */
static int verdict_record(struct store *s, enum api_caller who, const json_t *v, json_t **resp)
{
    char err[512];
    const json_t *w = json_object_get(v, "window"), *n = json_object_get(v, "samples");
    const char *app = json_string_value(json_object_get(v, "app"));
    const char *baseline = json_string_value(json_object_get(v, "baseline"));
    const char *canary = json_string_value(json_object_get(v, "canary"));
    if (!app || !baseline || !canary || !json_is_object(w) || !json_is_object(n)) {
        *resp = api_error("not a verdict", NULL);
        return 400;
    }
    int stored = store_insert_verdict(s, app, baseline, canary, v,
                                      json_integer_value(json_object_get(w, "to_ms")),
                                      json_integer_value(json_object_get(w, "from_ms")),
                                      json_integer_value(json_object_get(n, "baseline")),
                                      json_integer_value(json_object_get(n, "canary")),
                                      who == API_LOCAL ? 0 : VERDICT_REPEAT_MS, err, sizeof err);
    if (stored < 0)
        return fail_store(err, resp);
    *resp = json_pack("{s:b}", "recorded", stored);
    return 201;
}

int api_records(const json_t *args)
{
    const char *record = json_string_value(json_object_get(args, "record"));
    return !(record && strcmp(record, "0") == 0);
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
    *until = clock_wall_ms() + 1;
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

/* The value of a group: the q-quantile of its values, or for errors the share of its page
 * views that had a JS error; null when it has none. */
static json_t *group_value(const struct store_group *g, int errors, double q)
{
    struct sketch_bins b;
    if (g->n <= 0)
        return json_null();
    if (errors)
        return json_real((double)g->hits / (double)g->n);
    memset(&b, 0, sizeof b);
    json_t *v = sketch_bins_of(&g->sk, &b) == 0 && b.total > 0
        ? json_real(sketch_bins_quantile(&b, q)) : json_null();
    sketch_bins_fini(&b);
    return v;
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
        step = json_is_integer(st) ? json_integer_value(st)
            : decimal_text(text, 0) && strlen(text) <= 6 ? strtoll(text, &end, 10) : -1;
    }
    if (step < 10 || step > 3600) {
        *resp = api_error("step is a number of seconds from 10 to 3600", "step");
        return 400;
    }
    if ((until - since) / (step * 1000) > POINTS_MAX) {
        *resp = api_error("since / step would give more than 2000 points: widen step", "step");
        return 400;
    }
    /* Rollups are per minute: a step is a whole number of minutes. */
    step = (step + 59) / 60 * 60;
    struct store_group *g;
    size_t n;
    if (store_rollup_groups(s, app, version, metric, NULL, since, until, step * 1000, &g, &n,
                            err, sizeof err) < 0)
        return fail_store(err, resp);
    json_t *points = json_array();
    int errors = strcmp(metric, "errors") == 0;
    for (size_t i = 0; i < n; i++)
        if (g[i].n > 0)
            json_array_append_new(points, json_pack("[I,o,I]", (json_int_t)(g[i].t / 1000),
                                  group_value(&g[i], errors, q), (json_int_t)g[i].n));
    store_groups_free(g, n);
    *resp = json_pack("{s:s,s:s,s:s,s:f,s:I,s:I,s:I,s:o}", "app", app, "version", version,
                      "metric", metric, "q", q, "step", (json_int_t)step,
                      "from", (json_int_t)(since / 1000), "to", (json_int_t)(until / 1000),
                      "points", points);
    return 200;
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
    struct store_group *gb = NULL, *gc = NULL;
    size_t nb = 0, nc = 0;
    if (store_rollup_groups(s, app, baseline, metric, by, since, until, 0, &gb, &nb, err,
                            sizeof err) < 0
        || store_rollup_groups(s, app, canary, metric, by, since, until, 0, &gc, &nc, err,
                               sizeof err) < 0) {
        store_groups_free(gb, nb);
        return fail_store(err, resp);
    }
    /* Both lists are in order of key: walk them together. */
    json_t *rows = json_array();
    long long ncanary = 0;
    for (size_t k = 0; k < nc; k++)
        ncanary += gc[k].n;
    int errors = strcmp(metric, "errors") == 0;
    struct store_group none;
    memset(&none, 0, sizeof none);
    sketch_init(&none.sk);
    for (size_t ib = 0, ic = 0; ib < nb || ic < nc;) {
        int c = ib == nb ? 1 : ic == nc ? -1 : strcmp(gb[ib].key, gc[ic].key);
        const struct store_group *b = c <= 0 ? &gb[ib++] : &none;
        const struct store_group *x = c >= 0 ? &gc[ic++] : &none;
        json_t *vb = group_value(b, errors, q), *vc = group_value(x, errors, q);
        json_t *row = json_pack("{s:s}", "key", c <= 0 ? b->key : x->key);
        double delta = json_is_real(vb) && json_is_real(vc)
            ? json_real_value(vc) - json_real_value(vb) : 0;
        json_object_set_new(row, "delta", json_is_real(vb) && json_is_real(vc)
                            ? json_real(delta) : json_null());
        json_object_set_new(row, "baseline", json_pack("{s:I,s:o}", "n", (json_int_t)b->n,
                                                       "value", vb));
        json_object_set_new(row, "canary", json_pack("{s:I,s:o}", "n", (json_int_t)x->n,
                                                     "value", vc));
        json_object_set_new(row, "contribution", json_real(
            ncanary ? delta * (double)x->n / (double)ncanary : 0));
        json_array_append_new(rows, row);
    }
    store_groups_free(gb, nb);
    store_groups_free(gc, nc);
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

#define PROBE_RESULTS_OFFSET_MAX 1000000   /* the farthest page /v1/probe-results reads */

static int probe_results(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app = name_arg(args, "app", 1, resp);
    if (!app)
        return 400;
    /* offset: the page after the first, as next_offset gives it. */
    const json_t *o = json_object_get(args, "offset");
    const char *text = json_string_value(o);
    long long offset = !o ? 0 : json_is_integer(o) ? json_integer_value(o)
                     : decimal_text(text, 0) && strlen(text) <= 9 ? strtoll(text, NULL, 10) : -1;
    if (offset < 0 || offset > PROBE_RESULTS_OFFSET_MAX) {
        *resp = api_error("offset is a whole number from 0 to 1000000 (next_offset of the"
                          " page before)", "offset");
        return 400;
    }
    json_t *got = store_probe_results(s, app, offset, err, sizeof err);
    if (!got)
        return fail_store(err, resp);
    json_int_t total = json_integer_value(json_object_get(got, "total"));
    json_int_t next = offset + (json_int_t)json_array_size(json_object_get(got, "results"));
    *resp = json_pack("{s:s,s:O,s:I,s:I,s:b}", "app", app, "results",
                      json_object_get(got, "results"), "total", total, "offset",
                      (json_int_t)offset, "truncated", total > next);
    if (total > next)
        json_object_set_new(*resp, "next_offset", json_integer(next));
    json_decref(got);
    return 200;
}

#define SEGMENTS_MAX 20

/* GET /v1/traffic: the canary's share of page views per segment, from each of its
 * markers (the newest SEGMENTS_MAX) to its next one or now, against the marker's weight,
 * tested as the verdict tests its window (srm.h, the default alpha). */
static int traffic(struct store *s, const json_t *args, json_t **resp)
{
    char err[512];
    const char *app, *baseline, *canary;
    struct srm_policy p;
    struct srm_result r;
    size_t i;
    json_t *m, *marks, *segments = json_array();
    long long until = clock_wall_ms();

    if (!(app = name_arg(args, "app", 1, resp)) || !(baseline = name_arg(args, "baseline", 1, resp))
        || !(canary = name_arg(args, "canary", 1, resp))) {
        json_decref(segments);
        return 400;
    }
    static const char *const fields[] = {"canary", "baseline", NULL};
    const char *versions[] = {canary, baseline, NULL};
    int st = known(s, app, fields, versions, resp);
    if (st || !(marks = store_deployments(s, app, err, sizeof err))) {
        json_decref(segments);
        return st ? st : fail_store(err, resp);
    }
    srm_policy_default(&p);
    json_array_foreach(marks, i, m) {
        long long from = json_integer_value(json_object_get(m, "ts")), nb, nc;
        const json_t *w = json_object_get(m, "weight");
        if (strcmp(json_string_value(json_object_get(m, "version")), canary) != 0)
            continue;
        if (json_array_size(segments) == SEGMENTS_MAX)
            break;
        if (store_traffic_views(s, app, baseline, from, until, &nb, err, sizeof err) < 0
            || store_traffic_views(s, app, canary, from, until, &nc, err, sizeof err) < 0) {
            json_decref(marks);
            json_decref(segments);
            return fail_store(err, resp);
        }
        json_t *seg = srm_split_json(&p, json_is_number(w) ? json_number_value(w) : NAN, nc, nb, &r);
        json_object_set_new(seg, "from_ms", json_integer(from));
        json_object_set_new(seg, "to_ms", json_integer(until));
        json_object_set_new(seg, "weight", json_deep_copy(w));
        json_object_set_new(seg, "stage", json_deep_copy(json_object_get(m, "stage")));
        json_array_append_new(segments, seg);
        until = from;
    }
    json_decref(marks);
    *resp = json_pack("{s:s,s:s,s:s,s:o}", "app", app, "baseline", baseline, "canary", canary,
                      "segments", segments);
    return 200;
}

/* The calls, in enum api_fn's order. verdict and verdict-record take who: the first may
 * read a policy file, only for the CLI; the second records every verdict of the CLI's
 * but not an HTTP poll's repeats (VERDICT_REPEAT_MS). */
static const struct {
    const char *name;
    int (*fn)(struct store *, const json_t *, json_t **);
    int (*fn_who)(struct store *, enum api_caller, const json_t *, json_t **);
    int writes;                 /* runs on the writer's connection */
} calls[API_N] = {
    [API_PROBE_RUN] = {"probe-run", probe_run, NULL, 1},
    [API_PROBE_RUNS] = {"probe-runs", probe_runs, NULL, 0},
    [API_DEPLOYMENT] = {"deployment", deployment, NULL, 1},
    [API_DEPLOYMENTS] = {"deployments", deployments, NULL, 0},
    [API_GATE] = {"gate", gate, NULL, 0},
    [API_VERDICT] = {"verdict", NULL, verdict, 0},
    [API_VERDICTS] = {"verdicts", verdicts, NULL, 0},
    [API_APPS] = {"apps", apps, NULL, 0},
    [API_VERSIONS] = {"versions", versions, NULL, 0},
    [API_SERIES] = {"series", series, NULL, 0},
    [API_BREAKDOWN] = {"breakdown", breakdown, NULL, 0},
    [API_ERRORS] = {"errors", new_errors, NULL, 0},
    [API_PROBE_RESULTS] = {"probe-results", probe_results, NULL, 0},
    [API_VERDICT_RECORD] = {"verdict-record", NULL, verdict_record, 1},
    [API_TRAFFIC] = {"traffic", traffic, NULL, 0},
};

int api_writes(enum api_fn fn)
{
    return calls[fn].writes;
}

const char *api_name(enum api_fn fn)
{
    return calls[fn].name;
}

int api_run(struct store *s, enum api_fn fn, enum api_caller who, const json_t *args,
            json_t **resp)
{
    *resp = NULL;
    if ((unsigned)fn >= API_N) {
        *resp = api_error("no such call", NULL);
        return 404;
    }
    return calls[fn].fn_who ? calls[fn].fn_who(s, who, args, resp) : calls[fn].fn(s, args, resp);
}

int api_call(struct store *s, const char *name, const json_t *args, json_t **resp)
{
    for (int i = 0; i < API_N; i++)
        if (strcmp(calls[i].name, name) == 0)
            return api_run(s, (enum api_fn)i, API_LOCAL, args, resp);
    *resp = api_error("no such call", NULL);
    return 404;
}
