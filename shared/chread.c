#include "chread.h"

#include <stdio.h>

/* Stubs until the reads are written: each says so. */
static void todo(const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s is not answered from ClickHouse yet", what);
}

int chread_metric_values(struct clickhouse *c, const char *app, const char *version,
                 const char *metric, long long since_ms, long long until_ms,
                 double **values, size_t *n, char *err, size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    (void)metric;
    (void)since_ms;
    (void)until_ms;
    (void)values;
    (void)n;
    todo("metric_values", err, errlen);
    return -1;
}

json_t *chread_probe_runs(struct clickhouse *c, const char *app, const char *version,
                  long long limit, char *err, size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    (void)limit;
    todo("probe_runs", err, errlen);
    return NULL;
}

json_t *chread_gate_rows(struct clickhouse *c, const char *app, const char *version,
                 long long since_ms, char *err, size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    (void)since_ms;
    todo("gate_rows", err, errlen);
    return NULL;
}

json_t *chread_regions(struct clickhouse *c, const char *app, long long since_ms, char *err,
               size_t errlen)
{
    (void)c;
    (void)app;
    (void)since_ms;
    todo("regions", err, errlen);
    return NULL;
}

json_t *chread_last_runs(struct clickhouse *c, const char *app, const char *version, char *err,
                 size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    todo("last_runs", err, errlen);
    return NULL;
}

json_t *chread_deployments(struct clickhouse *c, const char *app, char *err, size_t errlen)
{
    (void)c;
    (void)app;
    todo("deployments", err, errlen);
    return NULL;
}

int chread_marker_weight(struct clickhouse *c, const char *app, const char *version,
                 double *weight, char *err, size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    (void)weight;
    todo("marker_weight", err, errlen);
    return -1;
}

int chread_traffic_views(struct clickhouse *c, const char *app, const char *version,
                 long long since_ms, long long until_ms, long long *views, char *err,
                 size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    (void)since_ms;
    (void)until_ms;
    (void)views;
    todo("traffic_views", err, errlen);
    return -1;
}

long long chread_window_start(struct clickhouse *c, const char *app, const char *version,
                      char *err, size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    todo("window_start", err, errlen);
    return -2;
}

long long chread_window_start_before(struct clickhouse *c, const char *app,
                             const char *version, long long before_ms, char *err,
                             size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    (void)before_ms;
    todo("window_start_before", err, errlen);
    return -2;
}

int chread_seen(struct clickhouse *c, const char *app, const char *version, char *err,
        size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    todo("seen", err, errlen);
    return -1;
}

int chread_error_views(struct clickhouse *c, const char *app, const char *version,
               long long since_ms, long long until_ms, long long *hits,
               long long *views, char *err, size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    (void)since_ms;
    (void)until_ms;
    (void)hits;
    (void)views;
    todo("error_views", err, errlen);
    return -1;
}

json_t *chread_verdicts(struct clickhouse *c, const char *app, long long limit, char *err,
                size_t errlen)
{
    (void)c;
    (void)app;
    (void)limit;
    todo("verdicts", err, errlen);
    return NULL;
}

int chread_verdict_repeat(struct clickhouse *c, const char *app, const char *baseline,
                  const char *canary, const char *policy, const char *method,
                  const char *decision, long long ts, long long repeat_ms, char *err,
                  size_t errlen)
{
    (void)c;
    (void)app;
    (void)baseline;
    (void)canary;
    (void)policy;
    (void)method;
    (void)decision;
    (void)ts;
    (void)repeat_ms;
    todo("verdict_repeat", err, errlen);
    return -1;
}

json_t *chread_apps(struct clickhouse *c, char *err, size_t errlen)
{
    (void)c;
    todo("apps", err, errlen);
    return NULL;
}

json_t *chread_versions(struct clickhouse *c, const char *app, char *err, size_t errlen)
{
    (void)c;
    (void)app;
    todo("versions", err, errlen);
    return NULL;
}

int chread_metric_points(struct clickhouse *c, const char *app, const char *version,
                 const char *metric, long long since_ms, long long until_ms,
                 long long **times, double **values, size_t *n, char *err,
                 size_t errlen)
{
    (void)c;
    (void)app;
    (void)version;
    (void)metric;
    (void)since_ms;
    (void)until_ms;
    (void)times;
    (void)values;
    (void)n;
    todo("metric_points", err, errlen);
    return -1;
}

json_t *chread_new_errors(struct clickhouse *c, const char *app, const char *baseline,
                  const char *canary, long long since_ms, char *err, size_t errlen)
{
    (void)c;
    (void)app;
    (void)baseline;
    (void)canary;
    (void)since_ms;
    todo("new_errors", err, errlen);
    return NULL;
}

json_t *chread_probe_results(struct clickhouse *c, const char *app, long long offset,
                     char *err, size_t errlen)
{
    (void)c;
    (void)app;
    (void)offset;
    todo("probe_results", err, errlen);
    return NULL;
}

json_t *chread_probe_latest(struct clickhouse *c, size_t max_series, char *err,
                    size_t errlen)
{
    (void)c;
    (void)max_series;
    todo("probe_latest", err, errlen);
    return NULL;
}

json_t *chread_rum_quantiles(struct clickhouse *c, long long since_ms, double q,
                     size_t max_series, char *err, size_t errlen)
{
    (void)c;
    (void)since_ms;
    (void)q;
    (void)max_series;
    todo("rum_quantiles", err, errlen);
    return NULL;
}

int chread_oldest(struct clickhouse *c, long long *raw_ms, long long *rollup_ms, char *err,
          size_t errlen)
{
    (void)c;
    (void)raw_ms;
    (void)rollup_ms;
    todo("oldest", err, errlen);
    return -1;
}
