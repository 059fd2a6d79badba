#include "cmp.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "beacon.h"
#include "buf.h"
#include "jsonpos.h"
#include "seqtest.h"
#include "stats.h"
#include "text.h"

/* A policy file larger than this is refused before it is read. */
#define CMP_POLICY_FILE_MAX (64 * 1024)
/* min_sample in a policy file is at most this many page views. */
#define CMP_MIN_SAMPLE_MAX 1000000000000LL
/* The page-view estimate for a rate ("needs about N canary page views") stops here. */
#define CMP_VIEWS_NEEDED_MAX 1e12
#define PTR_MAX 256
#define REASON_MAX 512

/* --- built-in policies ------------------------------------------------------------ */

/*
 * The built-in policies, chosen with the simulation (tests/stat/sim.c, shared/README.md
 * "Statistics"): at 50 canary and 500 baseline page views a minute an identical canary is
 * promoted within the hour and a clear regression is rolled back within minutes.
 * Page-view metrics compare p75 with a relative tolerance, CLS (mostly exact zeros) an
 * absolute one; the error rate rolls back once the canary's rate is shown above the
 * baseline's by rollback_tolerance, and promotes once it is shown below tolerance: at
 * these rates ruling out a small increase takes far more than an hour's page views.
 */
struct builtin_metric {
    const char *name;
    int critical, absolute;
    double tolerance, rollback_tolerance;
    size_t min_sample;
    double floor;
};

struct builtin {
    const char *name;
    struct builtin_metric m[6];
};

static const struct builtin builtins[] = {
    {"conservative", {{"LCP", 1, 0, 0.10, 0.10, 200, 0}, {"INP", 1, 0, 0.10, 0.10, 200, 0},
                      {"CLS", 1, 1, 0.02, 0.02, 200, 0}, {"FCP", 0, 0, 0.10, 0.10, 200, 0},
                      {"TTFB", 0, 0, 0.10, 0.10, 200, 0}, {"errors", 1, 0, 0.75, 0.0, 1000, 0.003}}},
    {"aggressive", {{"LCP", 1, 0, 0.25, 0.25, 100, 0}, {"INP", 1, 0, 0.25, 0.25, 100, 0},
                    {"CLS", 1, 1, 0.05, 0.05, 100, 0}, {"FCP", 0, 0, 0.25, 0.25, 100, 0},
                    {"TTFB", 0, 0, 0.25, 0.25, 100, 0}, {"errors", 1, 0, 1.00, 0.25, 1000, 0.005}}},
};

static void metric_init(struct cmp_policy_metric *m, const char *name, enum cmp_kind kind)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->kind = kind;
    m->quantile = kind == CMP_QUANTILE ? 0.75 : 0;
    m->weight = 1;
    m->min_sample = kind == CMP_QUANTILE ? 200 : 1000;
}

int cmp_tolerance_absolute(const struct cmp_policy_metric *m)
{
    return m->tolerance_kind == CMP_TOL_DEFAULT ? m->kind == CMP_RATE
                                                : m->tolerance_kind == CMP_TOL_ABSOLUTE;
}

double cmp_rollback_tolerance(const struct cmp_policy_metric *m)
{
    return m->rollback_set ? m->rollback_tolerance : m->tolerance;
}

int cmp_policy_builtin(const char *name, struct cmp_policy *p)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        const struct builtin *b = &builtins[i];
        if (!name || strcmp(name, b->name) != 0)
            continue;
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", b->name);
        p->alpha = 0.05;
        srm_policy_default(&p->traffic);
        for (size_t k = 0; k < sizeof b->m / sizeof b->m[0]; k++) {
            const struct builtin_metric *bm = &b->m[k];
            struct cmp_policy_metric *m = &p->m[p->n++];
            metric_init(m, bm->name, strcmp(bm->name, "errors") == 0 ? CMP_RATE : CMP_QUANTILE);
            m->tolerance_kind = bm->absolute ? CMP_TOL_ABSOLUTE : CMP_TOL_RELATIVE;
            m->tolerance = bm->tolerance;
            m->rollback_tolerance = bm->rollback_tolerance;
            m->rollback_set = 1;
            m->floor = bm->floor;
            m->min_sample = bm->min_sample;
            m->critical = bm->critical;
        }
        return 0;
    }
    return -1;
}

const char *cmp_method_name(enum cmp_method m)
{
    return m == CMP_MANN_WHITNEY ? "mann-whitney" : m == CMP_POOLED ? "pooled" : "sequential";
}

int cmp_method_parse(const char *name, enum cmp_method *m)
{
    static const enum cmp_method all[] = {CMP_SEQUENTIAL, CMP_MANN_WHITNEY, CMP_POOLED};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (name && strcmp(name, cmp_method_name(all[i])) == 0) {
            *m = all[i];
            return 0;
        }
    return -1;
}

/* --- policy files ----------------------------------------------------------------- */

struct pfile {
    const char *path;
    struct jsonpos *pos;
    char *err;
    size_t errlen;
};

static const char *const policy_keys[] = {"name", "alpha", "method", "metrics", "traffic",
                                           NULL};
static const char *const traffic_keys[] = {"on_mismatch", "alpha", NULL};
static const char *const metric_keys[] = {
    "quantile", "tolerance", "rollback_tolerance", "tolerance_kind", "floor", "weight",
    "critical", "min_sample", NULL
};
static const char *const standard_metrics[] = {"LCP", "INP", "CLS", "FCP", "TTFB", "errors", NULL};

/* Reports an error at the value (or, with key != 0, the key) at ptr. */
__attribute__((format(printf, 4, 5)))
static int pfail(struct pfile *f, const char *ptr, int key, const char *fmt, ...)
{
    struct jsonpos_doc d = {f->path, f->pos, f->err, f->errlen};
    va_list ap;
    va_start(ap, fmt);
    jsonpos_vfail(&d, ptr, key, fmt, ap);
    va_end(ap);
    return -1;
}

static void child(char *dst, const char *parent, const char *key)
{
    jsonpos_child(dst, PTR_MAX, parent, key);
}

static int check_keys(struct pfile *f, const json_t *obj, const char *ptr,
                      const char *const *allowed, const char *where)
{
    struct jsonpos_doc d = {f->path, f->pos, f->err, f->errlen};
    return jsonpos_check_keys(&d, obj, ptr, allowed, where);
}

/* Reads an optional number member of obj into *out, checking lo < v (or lo <= v with
 * lo_incl) and v < hi (or v <= hi with hi_incl); "range" says it in words. */
static int opt_number(struct pfile *f, const json_t *obj, const char *ptr, const char *key,
                      double lo, int lo_incl, double hi, int hi_incl, const char *range,
                      double *out)
{
    json_t *v = json_object_get(obj, key);
    char at[PTR_MAX];
    if (!v)
        return 0;
    child(at, ptr, key);
    if (!json_is_number(v))
        return pfail(f, at, 0, "\"%s\" must be a number %s", key, range);
    double x = json_number_value(v);
    if (!isfinite(x) || (lo_incl ? x < lo : x <= lo) || (hi_incl ? x > hi : x >= hi))
        return pfail(f, at, 0, "\"%s\" must be a number %s, not %g", key, range, x);
    *out = x;
    return 0;
}

/* A metric name must be a beacon metric (LCP, INP, CLS, FCP, TTFB or a custom name) or
 * "errors"; a standard name in the wrong case is a likely typo, not a custom metric. */
static int check_metric_name(struct pfile *f, const char *name, const char *at)
{
    for (const char *const *s = standard_metrics; *s; s++)
        if (strcasecmp(name, *s) == 0 && strcmp(name, *s) != 0)
            return pfail(f, at, 1, "unknown metric \"%s\"; did you mean \"%s\"?", name, *s);
    if (strlen(name) >= CMP_NAME_MAX)
        return pfail(f, at, 1, "metric name \"%.20s...\" is longer than %d characters", name,
                     CMP_NAME_MAX - 1);
    if (strcmp(name, "errors") != 0 && !beacon_metric_name_ok(name))
        return pfail(f, at, 1, "unknown metric \"%s\": must be LCP, INP, CLS, FCP, TTFB, errors"
                     " or a custom metric (a lowercase letter, then a-z 0-9 _ .)", name);
    return 0;
}

static int parse_metric(struct pfile *f, const char *name, const json_t *v, const char *at,
                        struct cmp_policy_metric *m)
{
    int rate = strcmp(name, "errors") == 0;
    char where[CMP_NAME_MAX + 16], sub[PTR_MAX];
    json_t *x;

    if (!json_is_object(v))
        return pfail(f, at, 0, "metric \"%s\" must be an object such as {\"tolerance\": %s}",
                     name, rate ? "0.001" : "0.1");
    snprintf(where, sizeof where, "metric \"%s\"", name);
    if (check_keys(f, v, at, metric_keys, where) < 0)
        return -1;
    metric_init(m, name, rate ? CMP_RATE : CMP_QUANTILE);
    if (rate && json_object_get(v, "quantile")) {
        child(sub, at, "quantile");
        return pfail(f, sub, 1, "\"quantile\" does not apply to errors, a rate of page views");
    }
    if (!json_object_get(v, "tolerance"))
        return pfail(f, at, 0, "metric \"%s\" needs a \"tolerance\" (%s)", name,
                     rate ? "in rate units: 0.001 is +0.1 point" : "relative: 0.1 is +10%");
    if (opt_number(f, v, at, "quantile", 0, 0, 1, 0, "between 0 and 1 (exclusive)",
                   &m->quantile) < 0
        || opt_number(f, v, at, "tolerance", 0, 1, HUGE_VAL, 0, ">= 0", &m->tolerance) < 0
        || opt_number(f, v, at, "weight", 0, 1, HUGE_VAL, 0, ">= 0", &m->weight) < 0)
        return -1;
    if (opt_number(f, v, at, "rollback_tolerance", 0, 1, HUGE_VAL, 0, ">= 0",
                   &m->rollback_tolerance) < 0)
        return -1;
    m->rollback_set = json_object_get(v, "rollback_tolerance") != NULL;
    if (!rate && json_object_get(v, "floor")) {
        child(sub, at, "floor");
        return pfail(f, sub, 1, "\"floor\" applies to errors only");
    }
    if (opt_number(f, v, at, "floor", 0, 1, 1, 1, "from 0 to 1", &m->floor) < 0)
        return -1;
    if ((x = json_object_get(v, "tolerance_kind"))) {
        const char *k = json_string_value(x);
        child(sub, at, "tolerance_kind");
        if (!k || (strcmp(k, "relative") != 0 && strcmp(k, "absolute") != 0))
            return pfail(f, sub, 0, "\"tolerance_kind\" must be \"relative\" (0.1 is +10%%) or"
                         " \"absolute\" (in the metric's unit)");
        m->tolerance_kind = strcmp(k, "absolute") == 0 ? CMP_TOL_ABSOLUTE : CMP_TOL_RELATIVE;
    }
    if ((x = json_object_get(v, "critical"))) {
        child(sub, at, "critical");
        if (!json_is_boolean(x))
            return pfail(f, sub, 0, "\"critical\" must be true or false");
        m->critical = json_is_true(x);
    }
    if ((x = json_object_get(v, "min_sample"))) {
        child(sub, at, "min_sample");
        if (!json_is_integer(x) || json_integer_value(x) < 0
            || json_integer_value(x) > CMP_MIN_SAMPLE_MAX)
            return pfail(f, sub, 0, "\"min_sample\" must be a whole number of page views from 0"
                         " to %lld", CMP_MIN_SAMPLE_MAX);
        m->min_sample = (size_t)json_integer_value(x);
    }
    return 0;
}

/* "traffic": {"on_mismatch": "pause"|"rollback"|"off", "alpha": 0.001} (srm.h). */
static int parse_traffic(struct pfile *f, const json_t *v, struct srm_policy *t)
{
    const json_t *a = json_object_get(v, "on_mismatch");
    if (!json_is_object(v))
        return pfail(f, "/traffic", 0, "\"traffic\" must be an object such as"
                     " {\"on_mismatch\": \"pause\", \"alpha\": 0.001}");
    if (check_keys(f, v, "/traffic", traffic_keys, "\"traffic\"") < 0)
        return -1;
    if (a && srm_action_parse(json_string_value(a), &t->action) < 0)
        return pfail(f, "/traffic/on_mismatch", 0, "\"on_mismatch\" must be \"pause\","
                     " \"rollback\" or \"off\"");
    return opt_number(f, v, "/traffic", "alpha", 0, 0, 0.5, 1, "in (0, 0.5]", &t->alpha);
}

static int parse_policy(struct pfile *f, const json_t *root, struct cmp_policy *p)
{
    json_t *v, *metrics;
    const char *key;

    if (!json_is_object(root))
        return pfail(f, "", 0, "a policy must be an object with \"metrics\"");
    if (check_keys(f, root, "", policy_keys, "the policy") < 0)
        return -1;
    memset(p, 0, sizeof *p);
    p->alpha = 0.05;
    srm_policy_default(&p->traffic);
    if ((v = json_object_get(root, "traffic")) && parse_traffic(f, v, &p->traffic) < 0)
        return -1;
    if ((v = json_object_get(root, "name"))) {
        if (!json_is_string(v) || json_string_length(v) == 0
            || json_string_length(v) >= sizeof p->name)
            return pfail(f, "/name", 0, "\"name\" must be a string of 1 to %zu characters",
                         sizeof p->name - 1);
        snprintf(p->name, sizeof p->name, "%s", json_string_value(v));
    } else {
        const char *base = strrchr(f->path, '/');
        base = base ? base + 1 : f->path;
        size_t len = strcspn(base, ".");
        snprintf(p->name, sizeof p->name, "%.*s", (int)(len ? len : strlen(base)), base);
    }
    if (opt_number(f, root, "", "alpha", 0, 0, 0.5, 1, "in (0, 0.5]", &p->alpha) < 0)
        return -1;
    if ((v = json_object_get(root, "method"))) {
        if (cmp_method_parse(json_string_value(v), &p->method) < 0)
            return pfail(f, "/method", 0, "\"method\" must be \"sequential\", \"pooled\" or"
                         " \"mann-whitney\"");
        p->method_set = 1;
    }
    metrics = json_object_get(root, "metrics");
    if (!metrics)
        return pfail(f, "", 0, "a policy needs \"metrics\", e.g. {\"LCP\": {\"tolerance\": 0.1}}");
    if (!json_is_object(metrics) || json_object_size(metrics) == 0)
        return pfail(f, "/metrics", 0, "\"metrics\" must be an object with at least one metric");
    if (json_object_size(metrics) > CMP_METRICS_MAX)
        return pfail(f, "/metrics", 0, "at most %d metrics, not %zu", CMP_METRICS_MAX,
                     json_object_size(metrics));
    json_object_foreach(metrics, key, v) {
        char at[PTR_MAX];
        child(at, "/metrics", key);
        if (check_metric_name(f, key, at) < 0 || parse_metric(f, key, v, at, &p->m[p->n]) < 0)
            return -1;
        p->n++;
    }
    return 0;
}

int cmp_policy_load(const char *path, struct cmp_policy *p, char *err, size_t errlen)
{
    struct pfile f = {.path = path, .err = err, .errlen = errlen};
    struct cmp_policy tmp;
    json_error_t je;
    json_t *root = NULL;
    struct buf text;
    int rc = -1;

    buf_init(&text, CMP_POLICY_FILE_MAX);
    if (buf_read_file(&text, path, err, errlen) < 0)
        goto out;
    root = json_loadb(text.data, text.len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        goto out;
    }
    if (!(f.pos = jsonpos_new(text.data, text.len))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    if (parse_policy(&f, root, &tmp) < 0)
        goto out;
    *p = tmp;
    rc = 0;
out:
    jsonpos_free(f.pos);
    json_decref(root);
    buf_fini(&text);
    return rc;
}

const char *cmp_decision_name(enum cmp_decision d)
{
    switch (d) {
    case CMP_PROMOTE:
        return "promote";
    case CMP_PAUSE:
        return "pause";
    case CMP_ROLLBACK:
        return "rollback";
    }
    return "?";
}

/* --- statistics ------------------------------------------------------------------- */

static double norm_sf(double z)
{
    return 0.5 * erfc(z / sqrt(2.0));
}

/* The p-quantile of the standard normal (0 < p < 1): Acklam's rational approximation,
 * then one Halley step on erfc, which makes it accurate to about 1e-15. */
static double norm_ppf(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    double q, r, x;

    assert(p > 0 && p < 1);
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        q = sqrt(-2 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

double cmp_dkw_radius(size_t n, double alpha)
{
    assert(alpha > 0 && alpha < 1);
    if (n == 0)
        return INFINITY;
    double dn = (double)n;
    return 0.85 * sqrt((log(log(M_E * dn)) + 0.8 * log(1612.0 / alpha)) / dn);
}

/* An empty sample, for NULL. */
static const struct sketch_bins no_bins;

static const struct sketch_bins *bins_or_empty(const struct sketch_bins *b)
{
    return b ? b : &no_bins;
}

/*
 * With sup |F_n - F| <= e: every x below the order statistic X_(k), k = ceil(n (p - e)),
 * has F(x) <= (k - 1) / n + e < p, so the p-quantile is at least X_(k); and at
 * X_(j), j = ceil(n (p + e)), F >= j / n - e >= p, so the p-quantile is at most X_(j).
 * X_(k) lies in its bin, so the bin's lower edge is at most X_(k), and X_(j) at most its
 * bin's upper edge: taking those edges only widens the bounds (shared/README.md,
 * "Rollups and the comparator").
 */
void cmp_quantile_bounds_bins(const struct sketch_bins *b, double p, double alpha,
                              double *lo, double *hi)
{
    b = bins_or_empty(b);
    double e = cmp_dkw_radius((size_t)b->total, alpha);
    *lo = -INFINITY;
    *hi = INFINITY;
    if (b->total <= 0)
        return;
    double dn = (double)b->total;
    if (p - e > 0) {
        double k = ceil(dn * (p - e));
        if (k < 1)
            k = 1;
        *lo = sketch_bins_rank(b, (long long)k)->lo;
    }
    if (p + e <= 1) {
        double j = ceil(dn * (p + e));
        if (j < 1)
            j = 1;
        if (j <= dn)
            *hi = sketch_bins_rank(b, (long long)j)->hi;
    }
}

void cmp_quantile_bounds(const double *sorted, size_t n, double p, double alpha,
                         double *lo, double *hi)
{
    struct sketch_bins b;
    *lo = -INFINITY;
    *hi = INFINITY;
    if (sketch_bins_exact(sorted, n, &b) < 0)
        return;
    cmp_quantile_bounds_bins(&b, p, alpha, lo, hi);
    sketch_bins_fini(&b);
}

/* log M_n(q) for s hits out of n, less the constant part lbeta(a + s, b + n - s) - lbeta(a, b)
 * that the caller passes in as c. */
static double log_m(double c, double s, double n, double q)
{
    double v = c;
    if (s > 0)
        v -= s * log(q);
    if (n - s > 0)
        v -= (n - s) * log1p(-q);
    return v;
}

static double lbeta(double x, double y)
{
    return lgamma(x) + lgamma(y) - lgamma(x + y);
}

/*
 * M_n(q) is convex in log-space around the observed rate s / n, where the mixture is at
 * most 1 (an average of likelihoods is at most their maximum), so the set where
 * M_n(q) < 1/alpha is an interval around s / n; each end is found by bisection and
 * returned on its outer side.
 */
void cmp_rate_bounds(long long hits, long long n, double alpha, double a, double b,
                     double *lo, double *hi)
{
    assert(alpha > 0 && alpha < 1 && a > 0 && b > 0);
    *lo = 0;
    *hi = 1;
    if (n <= 0)
        return;
    assert(hits >= 0 && hits <= n);
    double s = (double)hits, dn = (double)n;
    double c = lbeta(a + s, b + dn - s) - lbeta(a, b);
    double thr = log(1 / alpha), mle = s / dn;

    if (hits > 0) {
        double out = 0, in = mle;
        for (int i = 0; i < 200 && in - out > 1e-15 * in; i++) {
            double mid = out + (in - out) / 2;
            if (log_m(c, s, dn, mid) >= thr)
                out = mid;
            else
                in = mid;
        }
        *lo = out;
    }
    if (hits < n) {
        double in = mle, out = 1;
        for (int i = 0; i < 200 && out - in > 1e-15 * out; i++) {
            double mid = in + (out - in) / 2;
            if (log_m(c, s, dn, mid) >= thr)
                out = mid;
            else
                in = mid;
        }
        *hi = out;
    }
}

static int is_sorted(const double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i] < v[i - 1])
            return 0;
    return 1;
}

/* The exact bins of n values in any order. Returns 0 or -1 (out of memory). */
static int exact_bins(const double *v, size_t n, struct sketch_bins *out)
{
    double *copy = NULL;
    int rc;
    if (!is_sorted(v, n)) {
        if (!(copy = malloc(n * sizeof *copy))) {
            memset(out, 0, sizeof *out);
            return -1;
        }
        memcpy(copy, v, n * sizeof *copy);
        stats_sort(copy, n);
        v = copy;
    }
    rc = sketch_bins_exact(v, n, out);
    free(copy);
    return rc;
}

/* Walks the two samples' bins together: the rank sum of x with mid-ranks for ties (the
 * values of bins with the same value), and sum(t^3 - t) over the tie groups of the pooled
 * sample. */
static double rank_sum(const struct sketch_bins *x, const struct sketch_bins *y, double *ties)
{
    size_t i = 0, j = 0, m = x->n, n = y->n;
    double rank = 1, rx = 0;
    *ties = 0;
    while (i < m || j < n) {
        double v = i < m && (j >= n || x->bin[i].value <= y->bin[j].value) ? x->bin[i].value
                                                                          : y->bin[j].value;
        double tx = 0, ty = 0;
        while (i < m && x->bin[i].value == v)
            tx += (double)x->bin[i++].count;
        while (j < n && y->bin[j].value == v)
            ty += (double)y->bin[j++].count;
        double t = tx + ty;
        rx += tx * (rank + (t - 1) / 2);
        *ties += t * t * t - t;
        rank += t;
    }
    return rx;
}

/* The standard deviation of U under the null, with the tie correction. */
static double u_sigma(double m, double n, double ties)
{
    double nn = m + n;
    if (nn < 2)
        return 0;
    return sqrt(m * n / 12 * ((nn + 1) - ties / (nn * (nn - 1))));
}

double cmp_mann_whitney_bins(const struct sketch_bins *x, const struct sketch_bins *y,
                             int alternative, double *p)
{
    double ties;
    x = bins_or_empty(x);
    y = bins_or_empty(y);
    double m = (double)x->total, n = (double)y->total;
    double u1 = rank_sum(x, y, &ties) - m * (m + 1) / 2;
    double s = u_sigma(m, n, ties);
    if (x->total == 0 || y->total == 0 || s == 0) {
        *p = 1;
        return u1;
    }
    double u, f = 1;
    if (alternative > 0) {
        u = u1;
    } else if (alternative < 0) {
        u = m * n - u1;
    } else {
        u = fmax(u1, m * n - u1);
        f = 2;
    }
    *p = fmin(1, f * norm_sf((u - m * n / 2 - 0.5) / s));
    return u1;
}

double cmp_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
                        int alternative, double *p)
{
    struct sketch_bins bx, by;
    double u1 = NAN;

    *p = NAN;
    if (exact_bins(x, nx, &bx) == 0 && exact_bins(y, ny, &by) == 0) {
        u1 = cmp_mann_whitney_bins(&bx, &by, alternative, p);
        sketch_bins_fini(&by);
    }
    sketch_bins_fini(&bx);
    return u1;
}

/* Counts the pairs of values with x - y <= d, each pair of bins weighted by the product
 * of their counts, and finds the largest such difference and the smallest one above d.
 * Floating-point subtraction is monotone in each argument, so one pointer over x's bins
 * serves every bin of y in turn: O(bins). */
static double count_le(const struct sketch_bins *x, const struct sketch_bins *y, double d,
                       double *max_le, double *min_gt)
{
    double count = 0, below = 0;
    size_t i = 0, m = x->n;
    *max_le = -INFINITY;
    *min_gt = INFINITY;
    for (size_t j = 0; j < y->n; j++) {
        double yj = y->bin[j].value;
        while (i < m && x->bin[i].value - yj <= d)
            below += (double)x->bin[i++].count;
        count += below * (double)y->bin[j].count;
        if (i > 0 && x->bin[i - 1].value - yj > *max_le)
            *max_le = x->bin[i - 1].value - yj;
        if (i < m && x->bin[i].value - yj < *min_gt)
            *min_gt = x->bin[i].value - yj;
    }
    return count;
}

/* The k-th smallest (1-based) of the weighted differences of two samples' bins:
 * bisection on the value, snapping each end to an actual difference, until no
 * difference lies between the ends. O(bins log(range / gap)). */
static double kth_difference(const struct sketch_bins *x, const struct sketch_bins *y, double k)
{
    double lo = x->bin[0].value - y->bin[y->n - 1].value;
    double hi = x->bin[x->n - 1].value - y->bin[0].value, max_le, next;

    if (count_le(x, y, lo, &max_le, &next) >= k)
        return lo;
    for (;;) {
        /* Invariant: count(lo) < k <= count(hi); next is the smallest difference > lo. */
        if (next >= hi)
            return hi;
        double mid = lo + (hi - lo) / 2, gt;
        if (mid <= lo || mid >= hi)
            return hi;
        if (count_le(x, y, mid, &max_le, &gt) >= k) {
            hi = max_le;
        } else {
            lo = mid;
            next = gt;
        }
    }
}

double cmp_hodges_lehmann_bins(const struct sketch_bins *x, const struct sketch_bins *y,
                               double alpha, double *lo, double *hi)
{
    double ties, est;

    assert(alpha > 0 && alpha < 1);
    x = bins_or_empty(x);
    y = bins_or_empty(y);
    *lo = -INFINITY;
    *hi = INFINITY;
    if (x->total == 0 || y->total == 0)
        return NAN;
    double m = (double)x->total, n = (double)y->total, total = m * n;
    if (fmod(total, 2) == 1)
        est = kth_difference(x, y, (total + 1) / 2);
    else
        est = (kth_difference(x, y, total / 2) + kth_difference(x, y, total / 2 + 1)) / 2;
    /* Inverting the two-sided test: the interval runs from the k-th smallest to the k-th
     * largest difference, k = floor(m n / 2 - z(1 - alpha/2) sigma_U) (Hollander & Wolfe,
     * normal approximation, tie-corrected sigma). */
    rank_sum(x, y, &ties);
    double z = -norm_ppf(alpha / 2);
    double k = floor(total / 2 - z * u_sigma(m, n, ties));
    if (k >= 1) {
        *lo = kth_difference(x, y, k);
        *hi = kth_difference(x, y, total + 1 - k);
    }
    return est;
}

double cmp_hodges_lehmann(const double *x, size_t nx, const double *y, size_t ny,
                          double alpha, double *lo, double *hi)
{
    struct sketch_bins bx, by;
    double est = NAN;

    assert(alpha > 0 && alpha < 1);
    *lo = -INFINITY;
    *hi = INFINITY;
    if (exact_bins(x, nx, &bx) == 0 && exact_bins(y, ny, &by) == 0) {
        est = cmp_hodges_lehmann_bins(&bx, &by, alpha, lo, hi);
        sketch_bins_fini(&by);
    }
    sketch_bins_fini(&bx);
    return est;
}

/* --- the judge --------------------------------------------------------------------- */

/* What one metric's judgement produced, for the overall decision. */
struct outcome {
    int compared;           /* baseline data present */
    const char *result;     /* "promote", "pause", "rollback" or "no data" */
};

struct judge {
    const struct cmp_policy *p;
    enum cmp_method method;
    double a_bound;         /* pooled: alpha per confidence sequence */
    double a_metric;        /* Mann-Whitney: one-sided alpha per metric */
    double a_rollback;      /* sequential: alpha of each metric's rollback test */
    double a_promote;       /* sequential: alpha of each metric's promote test */
    int flags;
    int oom;
};

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void jset(struct judge *j, json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v) < 0)
        j->oom = 1;
}

static int ms_metric(const char *name)
{
    return strcmp(name, "LCP") == 0 || strcmp(name, "INP") == 0 || strcmp(name, "FCP") == 0
           || strcmp(name, "TTFB") == 0;
}

/* A metric value for a person: ms metrics in ms below a second and in s above, CLS with
 * three decimals, custom metrics with four significant digits. */
static void fmt_value(char *dst, size_t len, const char *name, double v)
{
    if (!isfinite(v))
        snprintf(dst, len, "%s", v > 0 ? "+inf" : "-inf");
    else if (ms_metric(name) && fabs(v) >= 1000)
        snprintf(dst, len, "%.2f s", v / 1000);
    else if (ms_metric(name))
        snprintf(dst, len, "%.0f ms", v);
    else if (strcmp(name, "CLS") == 0)
        snprintf(dst, len, "%.3f", v);
    else
        snprintf(dst, len, "%.4g", v);
}

/* A signed number with fixed decimals, never "-0". */
static void fmt_signed(char *dst, size_t len, double v, int decimals, const char *unit)
{
    if (!isfinite(v)) {
        snprintf(dst, len, "%s", v > 0 ? "+inf" : "-inf");
        return;
    }
    double r = round(v * pow(10, decimals)) / pow(10, decimals);
    if (r == 0)
        r = 0;
    snprintf(dst, len, "%+.*f%s", decimals, r, unit);
}

/* A signed difference in a metric's unit: "+120 ms", "+0.012". */
static void fmt_diff(char *dst, size_t len, const char *name, double v)
{
    if (ms_metric(name))
        fmt_signed(dst, len, v, 0, " ms");
    else
        fmt_signed(dst, len, v, strcmp(name, "CLS") == 0 ? 3 : 4, "");
}

/* A ratio as a signed percentage change: 1.26 -> "+26%". */
static void fmt_change(char *dst, size_t len, double ratio)
{
    fmt_signed(dst, len, isfinite(ratio) ? (ratio - 1) * 100 : ratio, 0, "%");
}

/* A count with thousands separators. */
static void fmt_count(char *dst, size_t len, double v)
{
    char digits[32];
    size_t n, o = 0;
    snprintf(digits, sizeof digits, "%.0f", v);
    n = strlen(digits);
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            dst[o++] = ',';
        dst[o++] = digits[i];
    }
    dst[o] = 0;
}

/* Rounds a count to two significant digits, for "about N". */
static double round2(double v)
{
    if (v < 100)
        return ceil(v);
    double scale = pow(10, floor(log10(v)) - 1);
    return round(v / scale) * scale;
}

/* The lower end of a ratio num / den of two bounds of nonnegative metrics: 0 over an
 * unbounded denominator, -inf when the numerator is unbounded below. */
static double ratio_lo(double num, double den)
{
    if (!isfinite(num))
        return -INFINITY;
    if (!isfinite(den))
        return num >= 0 ? 0 : -INFINITY;
    if (den <= 0)
        return num > 0 ? INFINITY : -INFINITY;
    return num / den;
}

/* The upper end of a ratio: +inf when either bound leaves it open. */
static double ratio_hi(double num, double den)
{
    if (!isfinite(num) || !isfinite(den) || den <= 0)
        return INFINITY;
    return num / den;
}

/* A shift relative to a baseline value (both may be infinite). */
static double relative(double shift, double base)
{
    if (base <= 0 || !isfinite(base))
        return shift > 0 ? INFINITY : shift < 0 ? -INFINITY : 0;
    return shift / base;
}

/* The largest canary value a tolerance allows against a baseline value x: x + tol when
 * absolute, (1 + tol) x when relative. */
static double allowed(const struct cmp_policy_metric *pm, double tol, double x)
{
    return cmp_tolerance_absolute(pm) ? x + tol : (1 + tol) * x;
}

/* The pooled rule: roll back when the canary's lower bound is above what the rollback
 * tolerance allows over the baseline's upper bound; ready when the canary's upper bound
 * is within what the tolerance allows over the baseline's lower bound. */
static int shown_beyond(const struct cmp_policy_metric *pm, double lo_c, double hi_b)
{
    return isfinite(hi_b) && lo_c > allowed(pm, cmp_rollback_tolerance(pm), hi_b);
}

static int shown_within(const struct cmp_policy_metric *pm, double hi_c, double lo_b)
{
    return isfinite(hi_c) && isfinite(lo_b) && hi_c <= allowed(pm, pm->tolerance, lo_b);
}

/* A tolerance for a person: "10%", "0.1-point" (a rate), "0.02" (CLS) or "50 ms". */
static void fmt_tol(char *dst, size_t len, const struct cmp_policy_metric *pm, double tol)
{
    if (!cmp_tolerance_absolute(pm))
        snprintf(dst, len, "%g%%", tol * 100);
    else if (pm->kind == CMP_RATE)
        snprintf(dst, len, "%g-point", tol * 100);
    else if (ms_metric(pm->name))
        snprintf(dst, len, "%g ms", tol);
    else
        snprintf(dst, len, "%g", tol);
}

/* Returns a metric's result from its rollback and ready tests and the canary's sample
 * (have, of need), and writes the verdict part of its reason into dst ("beyond the 10%
 * tolerance: roll back"). within says whether the point estimate is within tolerance. */
static const char *verdict(int rollback, int ready, size_t have, size_t need, int within,
                           const char *tol, const char *rtol, char *dst, size_t len)
{
    char more[32], all[32];
    if (rollback) {
        snprintf(dst, len, "beyond the %s tolerance: roll back", rtol);
        return "rollback";
    }
    if (ready && have >= need) {
        snprintf(dst, len, "within the %s tolerance: ready to promote", tol);
        return "promote";
    }
    fmt_count(more, sizeof more, (double)(need - (have < need ? have : need)));
    fmt_count(all, sizeof all, (double)need);
    if (ready)
        snprintf(dst, len, "within the %s tolerance, but the canary needs %s more page views"
                 " (%s in all): pause", tol, more, all);
    else if (have < need)
        snprintf(dst, len, "%s the %s tolerance so far, not yet shown: pause (the canary needs"
                 " %s more page views before promoting)", within ? "within" : "above", tol,
                 more);
    else
        snprintf(dst, len, "%s the %s tolerance so far, not yet shown: pause",
                 within ? "within" : "above", tol);
    return "pause";
}

static json_t *version_obj(struct judge *j, double n, double value, double lo, double hi)
{
    json_t *o = json_object();
    if (!o) {
        j->oom = 1;
        return NULL;
    }
    jset(j, o, "n", json_integer((json_int_t)n));
    jset(j, o, "value", jnum(value));
    if (j->method == CMP_POOLED) {
        jset(j, o, "lower", jnum(lo));
        jset(j, o, "upper", jnum(hi));
    }
    return o;
}

static void set_pair(struct judge *j, json_t *obj, const char *key, double lo, double hi)
{
    json_t *a = json_array();
    if (!a || json_array_append_new(a, jnum(lo)) < 0 || json_array_append_new(a, jnum(hi)) < 0)
        j->oom = 1;
    jset(j, obj, key, a);
}

/* Judges one quantile metric with per-version confidence sequences over the pooled
 * window (CMP_POOLED). */
static const char *judge_quantile_pooled(struct judge *j, const struct cmp_policy_metric *pm,
                                      const struct cmp_data *d, json_t *o, char *reason)
{
    char vc[32], vb[32], ch[16], blo[16], bhi[16], tol[32], rtol[32], tail[REASON_MAX], label[64];
    double q = pm->quantile, lb, ub, lc = -INFINITY, uc = INFINITY, valc = NAN;
    double valb = sketch_bins_quantile(d->base, q);
    long long nb = d->base->total, nc = d->canary ? d->canary->total : 0;

    snprintf(label, sizeof label, "%s p%g", pm->name, q * 100);
    fmt_tol(tol, sizeof tol, pm, pm->tolerance);
    fmt_tol(rtol, sizeof rtol, pm, cmp_rollback_tolerance(pm));
    cmp_quantile_bounds_bins(d->base, q, j->a_bound, &lb, &ub);
    fmt_value(vb, sizeof vb, pm->name, valb);
    if (nc > 0) {
        valc = sketch_bins_quantile(d->canary, q);
        cmp_quantile_bounds_bins(d->canary, q, j->a_bound, &lc, &uc);
    }
    jset(j, o, "baseline", version_obj(j, (double)nb, valb, lb, ub));
    jset(j, o, "canary", version_obj(j, (double)nc, valc, lc, uc));
    if (nc == 0) {
        char need[32];
        fmt_count(need, sizeof need, (double)pm->min_sample);
        jset(j, o, "ratio", json_null());
        set_pair(j, o, "bounds", -INFINITY, INFINITY);
        snprintf(reason, REASON_MAX, "%s: no canary data yet (baseline %s): pause, needs %s"
                 " more page views", label, vb, need);
        return "pause";
    }
    double ratio = valb > 0 ? valc / valb : (valc > 0 ? INFINITY : 1);
    double rlo = ratio_lo(lc, ub), rhi = ratio_hi(uc, lb);
    int rollback = shown_beyond(pm, lc, ub);
    int ready = shown_within(pm, uc, lb);
    const char *res = verdict(rollback, ready, (size_t)nc, pm->min_sample,
                              valc <= allowed(pm, pm->tolerance, valb), tol, rtol, tail,
                              sizeof tail);

    jset(j, o, "ratio", jnum(ratio));
    set_pair(j, o, "bounds", rlo, rhi);
    fmt_value(vc, sizeof vc, pm->name, valc);
    fmt_change(ch, sizeof ch, ratio);
    fmt_change(blo, sizeof blo, rlo);
    fmt_change(bhi, sizeof bhi, rhi);
    snprintf(reason, REASON_MAX, "%s %s vs %s (%s; %.3g%% bounds %s..%s), %s", label, vc, vb, ch,
             (1 - j->p->alpha) * 100, blo, bhi, tail);
    return res;
}

/* U_canary - L_base at n canary page views, both versions at their observed rates and the
 * baseline growing in step with the canary. */
static double rate_width_at(double n, double rc, double rb, double ratio, double a)
{
    double lc, uc, lb, ub;
    /* The search tries fractional sample sizes: bound whole page views, so that the hits
     * (rounded) never exceed them (found by tests/fuzz/fuzz_query: rate 1 at n = 1.6 asked
     * for 2 hits in 1 view). */
    n = floor(n);
    double nb = round(n * ratio);
    cmp_rate_bounds(llround(rc * n), (long long)n, a, 0.5, 0.5, &lc, &uc);
    cmp_rate_bounds(llround(rb * nb), (long long)nb, a, 0.5, 0.5, &lb, &ub);
    return uc - lb;
}

/* Roughly how many canary page views it would take, at the observed rates, before
 * U_canary - L_base fits the tolerance: bisection over n on a log scale to 1%. Returns
 * -1 when the observed difference itself is at or over the tolerance, or when it takes
 * more than CMP_VIEWS_NEEDED_MAX page views. */
static double rate_views_needed(const struct cmp_data *d, double tol, double a)
{
    double rc = (double)d->canary_hits / (double)d->canary_views;
    double rb = (double)d->base_hits / (double)d->base_views;
    double ratio = (double)d->base_views / (double)d->canary_views;
    double lo = (double)d->canary_views, hi = CMP_VIEWS_NEEDED_MAX;

    if (rc - rb >= tol || rate_width_at(hi, rc, rb, ratio, a) > tol)
        return -1;
    if (rate_width_at(lo, rc, rb, ratio, a) <= tol)
        return lo;
    while (hi > lo * 1.01) {
        double mid = sqrt(lo * hi);
        if (rate_width_at(mid, rc, rb, ratio, a) <= tol)
            hi = mid;
        else
            lo = mid;
    }
    return ceil(hi);
}

static json_t *rate_version_obj(struct judge *j, long long hits, long long views, double lo,
                                double hi)
{
    json_t *o = version_obj(j, (double)views, views > 0 ? (double)hits / (double)views : NAN,
                            lo, hi);
    if (o)
        jset(j, o, "hits", json_integer(hits));
    return o;
}

/* A rate as a percentage of page views, two decimals. */
static void fmt_rate(char *dst, size_t len, double r)
{
    snprintf(dst, len, "%.2f%%", r * 100);
}

/* Judges the error rate with per-version confidence sequences (CMP_POOLED). */
static const char *judge_rate_pooled(struct judge *j, const struct cmp_policy_metric *pm,
                                  const struct cmp_data *d, json_t *o, char *reason)
{
    char vc[16], vb[16], df[16], blo[16], bhi[16], tol[32], rtol[32], tail[REASON_MAX];
    double lb, ub, lc = 0, uc = 1;
    double rb = (double)d->base_hits / (double)d->base_views;

    fmt_tol(tol, sizeof tol, pm, pm->tolerance);
    fmt_tol(rtol, sizeof rtol, pm, cmp_rollback_tolerance(pm));
    cmp_rate_bounds(d->base_hits, d->base_views, j->a_bound, 0.5, 0.5, &lb, &ub);
    fmt_rate(vb, sizeof vb, rb);
    if (d->canary_views > 0)
        cmp_rate_bounds(d->canary_hits, d->canary_views, j->a_bound, 0.5, 0.5, &lc, &uc);
    jset(j, o, "baseline", rate_version_obj(j, d->base_hits, d->base_views, lb, ub));
    jset(j, o, "canary", rate_version_obj(j, d->canary_hits, d->canary_views, lc, uc));
    if (d->canary_views == 0) {
        char need[32];
        fmt_count(need, sizeof need, (double)pm->min_sample);
        jset(j, o, "difference", json_null());
        set_pair(j, o, "bounds", lc - ub, uc - lb);
        snprintf(reason, REASON_MAX, "%s: no canary data yet (baseline %s of page views): pause,"
                 " needs %s more page views", pm->name, vb, need);
        return "pause";
    }
    double rc = (double)d->canary_hits / (double)d->canary_views, diff = rc - rb;
    int rollback = shown_beyond(pm, lc, ub);
    int ready = shown_within(pm, uc, lb);
    size_t views = (size_t)d->canary_views;
    double atol = allowed(pm, pm->tolerance, rb) - rb;
    const char *res = verdict(rollback, ready, views, pm->min_sample, diff <= atol,
                              tol, rtol, tail, sizeof tail);

    jset(j, o, "difference", jnum(diff));
    set_pair(j, o, "bounds", lc - ub, uc - lb);
    if (!rollback && !ready) {
        double need = rate_views_needed(d, atol, j->a_bound);
        size_t len = strlen(tail);
        char n1[32], n2[32];
        jset(j, o, "views_needed", need < 0 ? json_null() : json_integer((json_int_t)need));
        fmt_count(n1, sizeof n1, round2(need));
        fmt_count(n2, sizeof n2, (double)views);
        if (need < 0 && diff < atol)
            snprintf(tail + len, sizeof tail - len, "; ruling out +%g point would take more"
                     " than 10^12 canary page views at these rates", atol * 100);
        else if (need < 0)
            snprintf(tail + len, sizeof tail - len, "; at these rates more page views will not"
                     " bring it within the tolerance");
        else
            snprintf(tail + len, sizeof tail - len, "; ruling out +%g point needs about %s"
                     " canary page views at these rates (now %s)", atol * 100, n1, n2);
    }
    fmt_rate(vc, sizeof vc, rc);
    fmt_signed(df, sizeof df, diff * 100, 2, " points");
    fmt_signed(blo, sizeof blo, (lc - ub) * 100, 2, "");
    fmt_signed(bhi, sizeof bhi, (uc - lb) * 100, 2, "");
    snprintf(reason, REASON_MAX, "%s %s vs %s of page views (%s; %.3g%% bounds %s..%s), %s",
             pm->name, vc, vb, df, (1 - j->p->alpha) * 100, blo, bhi, tail);
    return res;
}

/* Judges one quantile metric with Mann-Whitney U (one-sided, canary larger) and the
 * Hodges-Lehmann shift relative to the baseline median. */
static const char *judge_quantile_mw(struct judge *j, const struct cmp_policy_metric *pm,
                                     const struct cmp_data *d, json_t *o, char *reason)
{
    char vc[32], vb[32], sh[32], ch[16], blo[16], bhi[16], tol[32], rtol[32], tail[REASON_MAX];
    double q = pm->quantile, valb = sketch_bins_quantile(d->base, q), valc = NAN;
    double medb = sketch_bins_quantile(d->base, 0.5), p = NAN, shift = NAN;
    long long nb = d->base->total, nc = d->canary ? d->canary->total : 0;
    double slo = -INFINITY, shi = INFINITY;

    fmt_tol(tol, sizeof tol, pm, pm->tolerance);
    fmt_tol(rtol, sizeof rtol, pm, cmp_rollback_tolerance(pm));
    fmt_value(vb, sizeof vb, pm->name, valb);
    if (nc > 0) {
        valc = sketch_bins_quantile(d->canary, q);
        cmp_mann_whitney_bins(d->canary, d->base, 1, &p);
        shift = cmp_hodges_lehmann_bins(d->canary, d->base, 2 * j->a_metric, &slo, &shi);
    }
    jset(j, o, "baseline", version_obj(j, (double)nb, valb, NAN, NAN));
    jset(j, o, "canary", version_obj(j, (double)nc, valc, NAN, NAN));
    jset(j, o, "shift", jnum(shift));
    set_pair(j, o, "shift_bounds", slo, shi);
    jset(j, o, "p_value", jnum(p));
    if (nc == 0) {
        char need[32];
        fmt_count(need, sizeof need, (double)pm->min_sample);
        jset(j, o, "ratio", json_null());
        set_pair(j, o, "bounds", -INFINITY, INFINITY);
        snprintf(reason, REASON_MAX, "%s: no canary data yet (baseline p%g %s): pause, needs %s"
                 " more page views", pm->name, q * 100, vb, need);
        return "pause";
    }
    double rel = relative(shift, medb), rlo = relative(slo, medb), rhi = relative(shi, medb);
    int rollback = p < j->a_metric && slo > allowed(pm, cmp_rollback_tolerance(pm), medb) - medb;
    int ready = shi <= allowed(pm, pm->tolerance, medb) - medb;
    const char *res = verdict(rollback, ready, (size_t)nc, pm->min_sample,
                              rel <= pm->tolerance, tol, rtol, tail, sizeof tail);

    jset(j, o, "ratio", jnum(1 + rel));
    set_pair(j, o, "bounds", 1 + rlo, 1 + rhi);
    fmt_value(vc, sizeof vc, pm->name, valc);
    if (ms_metric(pm->name))
        fmt_signed(sh, sizeof sh, shift, 0, " ms");
    else
        fmt_signed(sh, sizeof sh, shift, 3, "");
    fmt_change(ch, sizeof ch, 1 + rel);
    fmt_change(blo, sizeof blo, 1 + rlo);
    fmt_change(bhi, sizeof bhi, 1 + rhi);
    snprintf(reason, REASON_MAX, "%s p%g %s vs %s; Mann-Whitney shift %s (%s of the baseline"
             " median; %.3g%% interval %s..%s; one-sided p = %.2g), %s", pm->name, q * 100, vc, vb,
             sh, ch, (1 - 2 * j->a_metric) * 100, blo, bhi, p, tail);
    return res;
}

/* Judges the error rate with a two-proportion z-test (pooled, one-sided) and the
 * Agresti-Caffo interval for the difference (one success and one failure added to each
 * version), which behaves where the plain Wald interval does not (few or no errors). */
static const char *judge_rate_mw(struct judge *j, const struct cmp_policy_metric *pm,
                                 const struct cmp_data *d, json_t *o, char *reason)
{
    char vc[16], vb[16], df[16], blo[16], bhi[16], tol[32], rtol[32], tail[REASON_MAX];
    double nb = (double)d->base_views, nc = (double)d->canary_views;
    double rb = (double)d->base_hits / nb;

    fmt_tol(tol, sizeof tol, pm, pm->tolerance);
    fmt_tol(rtol, sizeof rtol, pm, cmp_rollback_tolerance(pm));
    fmt_rate(vb, sizeof vb, rb);
    jset(j, o, "baseline", rate_version_obj(j, d->base_hits, d->base_views, NAN, NAN));
    jset(j, o, "canary", rate_version_obj(j, d->canary_hits, d->canary_views, NAN, NAN));
    if (d->canary_views == 0) {
        char need[32];
        fmt_count(need, sizeof need, (double)pm->min_sample);
        jset(j, o, "difference", json_null());
        set_pair(j, o, "bounds", -1, 1);
        jset(j, o, "p_value", json_null());
        snprintf(reason, REASON_MAX, "%s: no canary data yet (baseline %s of page views): pause,"
                 " needs %s more page views", pm->name, vb, need);
        return "pause";
    }
    double rc = (double)d->canary_hits / nc, diff = rc - rb;
    double pool = ((double)d->canary_hits + (double)d->base_hits) / (nc + nb);
    double se0 = sqrt(pool * (1 - pool) * (1 / nc + 1 / nb));
    double p = se0 > 0 ? norm_sf(diff / se0) : (diff > 0 ? 0 : 1);
    double ac = ((double)d->canary_hits + 1) / (nc + 2), ab = ((double)d->base_hits + 1) / (nb + 2);
    double se = sqrt(ac * (1 - ac) / (nc + 2) + ab * (1 - ab) / (nb + 2));
    double z = -norm_ppf(j->a_metric);
    double lo = ac - ab - z * se, hi = ac - ab + z * se;
    int rollback = p < j->a_metric && lo > allowed(pm, cmp_rollback_tolerance(pm), rb) - rb;
    int ready = hi <= allowed(pm, pm->tolerance, rb) - rb;
    const char *res = verdict(rollback, ready, (size_t)d->canary_views, pm->min_sample,
                              diff <= pm->tolerance, tol, rtol, tail, sizeof tail);

    jset(j, o, "difference", jnum(diff));
    set_pair(j, o, "bounds", lo, hi);
    jset(j, o, "p_value", jnum(p));
    fmt_rate(vc, sizeof vc, rc);
    fmt_signed(df, sizeof df, diff * 100, 2, " points");
    fmt_signed(blo, sizeof blo, lo * 100, 2, "");
    fmt_signed(bhi, sizeof bhi, hi * 100, 2, "");
    snprintf(reason, REASON_MAX, "%s %s vs %s of page views (%s; %.3g%% interval %s..%s;"
             " one-sided p = %.2g), %s", pm->name, vc, vb, df, (1 - 2 * j->a_metric) * 100, blo,
             bhi, p, tail);
    return res;
}

/* --- the sequential method: two-sample tests within time slices --------------------- */

/* A slice's threshold is the baseline's p-quantile over the slices before it: from at
 * least CMP_THRESH_MIN values, looking back at most CMP_THRESH_BACK slices. Taking it
 * from earlier slices only keeps it fixed before the slice's data arrive, which the
 * conditional test needs (shared/README.md "Statistics"). When the slices before hold
 * fewer (the first minute), the slice's own baseline values join them: the threshold
 * then leans a little on the data it judges, an approximation the simulation checks. */
#define CMP_THRESH_MIN 100
#define CMP_THRESH_BACK 10
/* The mixing scales of the two tests (shared/seqtest.h), chosen with the simulation
 * (shared/README.md "Statistics"): a rollback is to be shown quickly for regressions
 * of tens of percent; a promotion against a tolerance a few percent away. */
#define CMP_TAU_ROLLBACK 0.5
#define CMP_TAU_PROMOTE 0.25
/* Ratio bounds are searched within [1/CMP_RATIO_MAX, CMP_RATIO_MAX], by bisection in
 * CMP_BISECT_STEPS steps: over a log-ratio range of 8.3, 24 halvings leave 5e-7. */
#define CMP_BISECT_STEPS 24
#define CMP_RATIO_MAX 64.0

/* One quantile metric's slices for the sequential tests. */
struct qsplit {
    size_t n;
    const struct sketch_bins **b, **c;  /* baseline and canary bins of each slice */
    double *x;                          /* each slice's threshold; NAN: the slice is skipped */
    struct seqtest_slice *sl;
};

/* Values above y in b: those that surely are (their whole bin is above y) or, with
 * possibly, those whose bin reaches above y. Bins are sorted and disjoint, so both are a
 * binary search. */
static long long count_above(const struct sketch_bins *b, double y, int possibly)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct sketch_bin *x = &b->bin[mid];
        int above = possibly ? x->hi > y : x->lo > y || (x->hi > x->lo && x->lo >= y);
        if (above)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo < b->n ? b->total - b->bin[lo].below : 0;
}

/* The canary's values above y, where y (the threshold times the tolerance) seldom falls
 * on a bucket edge: the values of the bucket that straddles y count in proportion, as if
 * spread evenly over the bucket in log scale (DDSketch's buckets are log-spaced; within
 * the sketch's 1% accuracy). Counting the whole bucket on one side instead would move a
 * 10% tolerance by a bucket's 2% either way. Exact bins never straddle. */
static double count_above_share(const struct sketch_bins *b, double y)
{
    long long surely = count_above(b, y, 0), possibly = count_above(b, y, 1);
    if (possibly == surely)
        return (double)surely;
    /* One bin straddles y: the first that possibly is above it. */
    const struct sketch_bin *x = &b->bin[0];
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->bin[mid].hi > y)
            hi = mid;
        else
            lo = mid + 1;
    }
    x = &b->bin[lo];
    double f = x->lo > 0 ? log(x->hi / y) / log(x->hi / x->lo) : (x->hi - y) / (x->hi - x->lo);
    return (double)surely + (double)x->count * fmin(1, fmax(0, f));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The p-quantile's bin edge over the baseline bins of slices [from, to): the smallest
 * upper edge with at least ceil(p n) values at or below it. NAN without values or memory. */
static double merged_quantile(const struct sketch_bins *const *b, size_t from, size_t to,
                              double p)
{
    long long total = 0;
    size_t cand = 0;
    for (size_t j = from; j < to; j++)
        if (b[j]) {
            total += b[j]->total;
            cand += b[j]->n;
        }
    if (total <= 0)
        return NAN;
    long long rank = (long long)ceil(p * (double)total);
    rank = rank < 1 ? 1 : rank;
    if (to - from == 1)
        return sketch_bins_rank(b[from], rank)->hi;
    double *v = malloc(cand * sizeof *v), out = NAN;
    if (!v)
        return NAN;
    size_t k = 0;
    for (size_t j = from; j < to; j++)
        for (size_t i = 0; b[j] && i < b[j]->n; i++)
            v[k++] = b[j]->bin[i].hi;
    qsort(v, k, sizeof *v, cmp_double);
    size_t lo = 0, hi = k;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        long long le = 0;
        for (size_t j = from; j < to; j++)
            if (b[j])
                le += b[j]->total - count_above(b[j], v[mid], 1);
        if (le >= rank)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo < k)
        out = v[lo];
    free(v);
    return out;
}

static void qsplit_free(struct qsplit *q)
{
    free(q->b);
    free(q->c);
    free(q->x);
    free(q->sl);
}

/* Sets up the slices of d (its totals as one slice when it has none) and their
 * thresholds. 0 or -1 (out of memory). */
static int qsplit_init(struct qsplit *q, const struct cmp_data *d, double p)
{
    size_t n = d->nslices ? d->nslices : 1;
    memset(q, 0, sizeof *q);
    q->n = n;
    q->b = calloc(n, sizeof *q->b);
    q->c = calloc(n, sizeof *q->c);
    q->x = calloc(n, sizeof *q->x);
    q->sl = calloc(n, sizeof *q->sl);
    if (!q->b || !q->c || !q->x || !q->sl) {
        qsplit_free(q);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        q->b[i] = d->nslices ? d->slices[i].base : d->base;
        q->c[i] = d->nslices ? d->slices[i].canary : d->canary;
    }
    if (!d->nslices) {
        /* One slice: the threshold can only come from the baseline itself. */
        q->x[0] = merged_quantile(q->b, 0, 1, p);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        long long have = 0;
        size_t from = i;
        while (from > 0 && i - from < CMP_THRESH_BACK && have < CMP_THRESH_MIN) {
            from--;
            have += q->b[from] ? q->b[from]->total : 0;
        }
        /* Too few before it (the first minute): the slice's own baseline joins. */
        q->x[i] = merged_quantile(q->b, from, have < CMP_THRESH_MIN ? i + 1 : i, p);
    }
    return 0;
}

/* Fills the slices' counts for a tolerance: the canary's values above what it allows over
 * the threshold against the baseline's values above the threshold. The threshold is a
 * baseline bin's edge; where a baseline bin still straddles it (exact and sketch bins of
 * other slices), side > 0 counts in the baseline's favour (for the rollback test) and
 * side < 0 in the canary's (for the promote test). */
static void qsplit_fill(struct qsplit *q, const struct cmp_policy_metric *pm, double tol,
                        int side)
{
    for (size_t i = 0; i < q->n; i++) {
        const struct sketch_bins *b = q->b[i], *c = q->c[i];
        memset(&q->sl[i], 0, sizeof q->sl[i]);
        if (isnan(q->x[i]) || !b || !c || b->total <= 0 || c->total <= 0)
            continue;
        double y = allowed(pm, tol, q->x[i]);
        double k = count_above_share(c, y);
        double e = (double)count_above(b, q->x[i], side > 0);
        q->sl[i].k = k;
        q->sl[i].m = k + e;
        q->sl[i].pi0 = (double)c->total / (double)(c->total + b->total);
    }
}

/* 1 when the side's test at tolerance tol rejects at level a. */
static int q_rejects(struct qsplit *q, const struct cmp_policy_metric *pm, double tol,
                     int side, double a)
{
    qsplit_fill(q, pm, tol, side);
    return seqtest_log_e(q->sl, q->n, 0, side, side > 0 ? CMP_TAU_ROLLBACK : CMP_TAU_PROMOTE)
           >= log(1 / a);
}

/* The tolerance (relative or absolute) where the side's test changes, by bisection over
 * [lo, hi] (log-ratio when relative): side > 0 the largest one still rejected (the canary
 * was shown beyond it), side < 0 the smallest one rejected (shown within it). Returns the
 * open end (lo or hi) when the test does not change inside. */
static double q_crossing(struct qsplit *q, const struct cmp_policy_metric *pm, double lo,
                         double hi, int side, double a)
{
    int rel = !cmp_tolerance_absolute(pm);
#define Q_TOL(v) (rel ? exp(v) - 1 : (v))
    int r_lo = q_rejects(q, pm, Q_TOL(lo), side, a), r_hi = q_rejects(q, pm, Q_TOL(hi), side, a);
    if (r_lo == r_hi)
        return side > 0 ? (r_lo ? hi : lo) : (r_lo ? lo : hi);
    for (int it = 0; it < CMP_BISECT_STEPS; it++) {
        double mid = (lo + hi) / 2;
        if (q_rejects(q, pm, Q_TOL(mid), side, a) == r_lo)
            lo = mid;
        else
            hi = mid;
    }
    return side > 0 ? lo : hi;
#undef Q_TOL
}

/* The tolerance at which the canary's share of values above it matches its expected
 * share (the estimate of the ratio or difference the tests judge); NAN when that share
 * does not change over [lo, hi]. */
static double q_estimate(struct qsplit *q, const struct cmp_policy_metric *pm, double lo,
                         double hi)
{
    int rel = !cmp_tolerance_absolute(pm);
    qsplit_fill(q, pm, rel ? exp(lo) - 1 : lo, 1);
    double m_lo = seqtest_mle(q->sl, q->n, 20);
    qsplit_fill(q, pm, rel ? exp(hi) - 1 : hi, 1);
    double m_hi = seqtest_mle(q->sl, q->n, 20);
    if (!(m_lo > 0 && m_hi < 0))
        return NAN;
    for (int it = 0; it < CMP_BISECT_STEPS; it++) {
        double mid = (lo + hi) / 2;
        qsplit_fill(q, pm, rel ? exp(mid) - 1 : mid, 1);
        if (seqtest_mle(q->sl, q->n, 20) > 0)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

/* The largest value either version's bins hold (for the range of a difference). */
static double max_value(const struct cmp_data *d)
{
    double v = 0;
    if (d->base && d->base->n)
        v = fmax(v, d->base->bin[d->base->n - 1].hi);
    if (d->canary && d->canary->n)
        v = fmax(v, d->canary->bin[d->canary->n - 1].hi);
    return v;
}

/* The share of a sample's values that are exact zeros. */
static double zero_share(const struct sketch_bins *b)
{
    if (!b || b->total <= 0 || b->n == 0 || b->bin[0].hi > 0)
        return 0;
    return (double)b->bin[0].count / (double)b->total;
}

/* The part of a reason that says what a zero quantile means, or "". */
static void zero_note(char *dst, size_t len, const struct cmp_policy_metric *pm,
                      const struct sketch_bins *b, const char *who)
{
    double z = zero_share(b);
    dst[0] = 0;
    if (z >= pm->quantile)
        snprintf(dst, len, "; the %s's p%g is 0 because %.0f%% of its values are 0", who,
                 pm->quantile * 100, z * 100);
}

/* Judges one quantile metric with the sequential two-sample test. */
static const char *judge_quantile_split(struct judge *j, const struct cmp_policy_metric *pm,
                                        const struct cmp_data *d, json_t *o, char *reason)
{
    char vc[32], vb[32], ch[32], blo[32], bhi[32], tol[32], rtol[32], tail[REASON_MAX];
    char label[64], zb[96], zc[96];
    double q = pm->quantile, valc = NAN, valb = sketch_bins_quantile(d->base, q);
    long long nb = d->base->total, nc = d->canary ? d->canary->total : 0;
    struct qsplit qs;

    snprintf(label, sizeof label, "%s p%g", pm->name, q * 100);
    fmt_tol(tol, sizeof tol, pm, pm->tolerance);
    fmt_tol(rtol, sizeof rtol, pm, cmp_rollback_tolerance(pm));
    fmt_value(vb, sizeof vb, pm->name, valb);
    zero_note(zb, sizeof zb, pm, d->base, "baseline");
    if (nc > 0)
        valc = sketch_bins_quantile(d->canary, q);
    jset(j, o, "baseline", version_obj(j, (double)nb, valb, NAN, NAN));
    jset(j, o, "canary", version_obj(j, (double)nc, valc, NAN, NAN));
    jset(j, o, "tolerance_kind", json_string(cmp_tolerance_absolute(pm) ? "absolute" : "relative"));
    if (nc == 0) {
        char need[32];
        fmt_count(need, sizeof need, (double)pm->min_sample);
        jset(j, o, cmp_tolerance_absolute(pm) ? "difference" : "ratio", json_null());
        set_pair(j, o, "bounds", NAN, NAN);
        snprintf(reason, REASON_MAX, "%s: no canary data yet (baseline %s%s): pause, needs %s"
                 " more page views", label, vb, zb, need);
        return "pause";
    }
    if (qsplit_init(&qs, d, q) < 0) {
        j->oom = 1;
        return "pause";
    }
    zero_note(zc, sizeof zc, pm, d->canary, "canary");
    int rollback = q_rejects(&qs, pm, cmp_rollback_tolerance(pm), 1, j->a_rollback);
    int ready = q_rejects(&qs, pm, pm->tolerance, -1, j->a_promote);
    double est = cmp_tolerance_absolute(pm) ? valc - valb : valb > 0 ? valc / valb : (valc > 0 ? INFINITY : 1);
    double lo = cmp_tolerance_absolute(pm) ? -INFINITY : 0, hi = INFINITY;
    if (!(j->flags & CMP_NO_BOUNDS)) {
        double top = max_value(d) * 1.000001 + 1e-9;
        double rlo = cmp_tolerance_absolute(pm) ? -top : -log(CMP_RATIO_MAX);
        double rhi = cmp_tolerance_absolute(pm) ? top : log(CMP_RATIO_MAX);
        double e = q_estimate(&qs, pm, rlo, rhi);
        lo = q_crossing(&qs, pm, rlo, rhi, 1, j->a_rollback);
        hi = q_crossing(&qs, pm, rlo, rhi, -1, j->a_promote);
        if (!cmp_tolerance_absolute(pm)) {
            /* Open ends say what is known: a ratio is at least 0 and may be unbounded. */
            lo = lo <= rlo ? 0 : exp(lo);
            hi = hi >= rhi ? INFINITY : exp(hi);
            if (!isnan(e))
                est = exp(e);
        } else {
            hi = hi >= rhi ? INFINITY : hi;
            if (!isnan(e))
                est = e;
        }
    }
    qsplit_free(&qs);
    const char *res = verdict(rollback, ready, (size_t)nc, pm->min_sample,
                              cmp_tolerance_absolute(pm) ? est <= pm->tolerance : est <= 1 + pm->tolerance,
                              tol, rtol, tail, sizeof tail);
    fmt_value(vc, sizeof vc, pm->name, valc);
    if (cmp_tolerance_absolute(pm)) {
        jset(j, o, "difference", jnum(est));
        jset(j, o, "ratio", jnum(valb > 0 ? valc / valb : NAN));
        set_pair(j, o, "bounds", lo, hi);
        fmt_diff(ch, sizeof ch, pm->name, est);
        fmt_diff(blo, sizeof blo, pm->name, lo);
        fmt_diff(bhi, sizeof bhi, pm->name, hi);
        snprintf(reason, REASON_MAX, "%s %s vs %s (difference %s; %.3g%% bounds %s..%s within"
                 " the same minutes%s%s), %s", label, vc, vb, ch, (1 - j->p->alpha) * 100,
                 blo, bhi, zb, zc, tail);
    } else {
        jset(j, o, "ratio", jnum(est));
        set_pair(j, o, "bounds", lo, hi);
        fmt_change(ch, sizeof ch, est);
        fmt_change(blo, sizeof blo, lo);
        fmt_change(bhi, sizeof bhi, hi);
        snprintf(reason, REASON_MAX, "%s %s vs %s (%s; %.3g%% bounds %s..%s within the same"
                 " minutes%s%s), %s", label, vc, vb, ch, (1 - j->p->alpha) * 100, blo, bhi,
                 zb, zc, tail);
    }
    return res;
}

/* Judges the error rate with the sequential two-sample test: within each slice, how the
 * page views with an error split between the versions given their page views. */
static const char *judge_rate_split(struct judge *j, const struct cmp_policy_metric *pm,
                                    const struct cmp_data *d, json_t *o, char *reason)
{
    char vc[16], vb[16], df[32], blo[32], bhi[32], tol[32], rtol[32], tail[REASON_MAX];
    double rb = (double)d->base_hits / (double)d->base_views;
    size_t n = d->nslices ? d->nslices : 1;
    struct seqtest_slice *sl = calloc(n, sizeof *sl);

    fmt_tol(tol, sizeof tol, pm, pm->tolerance);
    fmt_tol(rtol, sizeof rtol, pm, cmp_rollback_tolerance(pm));
    fmt_rate(vb, sizeof vb, rb);
    jset(j, o, "baseline", rate_version_obj(j, d->base_hits, d->base_views, NAN, NAN));
    jset(j, o, "canary", rate_version_obj(j, d->canary_hits, d->canary_views, NAN, NAN));
    jset(j, o, "tolerance_kind", json_string(cmp_tolerance_absolute(pm) ? "absolute" : "relative"));
    if (!sl) {
        j->oom = 1;
        return "pause";
    }
    if (d->canary_views == 0) {
        char need[32];
        fmt_count(need, sizeof need, (double)pm->min_sample);
        jset(j, o, "difference", json_null());
        set_pair(j, o, "bounds", NAN, NAN);
        snprintf(reason, REASON_MAX, "%s: no canary data yet (baseline %s of page views): pause,"
                 " needs %s more page views", pm->name, vb, need);
        free(sl);
        return "pause";
    }
    for (size_t i = 0; i < n; i++) {
        long long bh = d->nslices ? d->slices[i].base_hits : d->base_hits;
        long long bv = d->nslices ? d->slices[i].base_views : d->base_views;
        long long ch = d->nslices ? d->slices[i].canary_hits : d->canary_hits;
        long long cv = d->nslices ? d->slices[i].canary_views : d->canary_views;
        if (bv <= 0 || cv <= 0)
            continue;
        sl[i].k = (double)ch;
        sl[i].m = (double)(ch + bh);
        sl[i].pi0 = (double)cv / (double)(cv + bv);
    }
    /* The test is on the ratio of the rates; an absolute tolerance becomes a ratio through
     * the baseline's rate bounds, at half the level each. */
    double ar = j->a_rollback, ap = j->a_promote, lb = rb, ub = rb;
    double th_r = log1p(cmp_rollback_tolerance(pm)), th_p = log1p(pm->tolerance);
    if (cmp_tolerance_absolute(pm)) {
        ar /= 2;
        ap /= 2;
        cmp_rate_bounds(d->base_hits, d->base_views, ar, 0.5, 0.5, &lb, &ub);
        th_r = lb > 0 ? log1p(cmp_rollback_tolerance(pm) / lb) : INFINITY;
        th_p = log1p(pm->tolerance / ub);
    } else {
        cmp_rate_bounds(d->base_hits, d->base_views, ar, 0.5, 0.5, &lb, &ub);
    }
    /* A floor is a second way to be ready (the canary's rate bound within it of the
     * baseline's), which takes a tenth of the promote test's level: with few or no errors
     * the ratio says nothing, while the rates are plainly small. */
    double ap_floor = pm->floor > 0 ? ap / 10 : 0, lcf, ucf, lbf, ubf;
    int by_floor = 0;
    if (pm->floor > 0) {
        ap -= ap_floor;
        cmp_rate_bounds(d->canary_hits, d->canary_views, ap_floor / 2, 0.5, 0.5, &lcf, &ucf);
        cmp_rate_bounds(d->base_hits, d->base_views, ap_floor / 2, 0.5, 0.5, &lbf, &ubf);
        by_floor = ucf - lbf <= pm->floor;
    }
    int rollback = isfinite(th_r) && seqtest_log_e(sl, n, th_r, 1, CMP_TAU_ROLLBACK) >= log(1 / ar);
    int by_ratio = seqtest_log_e(sl, n, th_p, -1, CMP_TAU_PROMOTE) >= log(1 / ap);
    int ready = by_ratio || by_floor;
    double rc = (double)d->canary_hits / (double)d->canary_views, diff = rc - rb;
    double ratio = rb > 0 ? rc / rb : (rc > 0 ? INFINITY : 1);
    int within = cmp_tolerance_absolute(pm) ? diff <= pm->tolerance : ratio <= 1 + pm->tolerance;
    const char *res = verdict(rollback, ready, (size_t)d->canary_views, pm->min_sample,
                              within, tol, rtol, tail, sizeof tail);
    double rlo = 0, rhi = INFINITY, dlo = -ub, dhi = INFINITY;
    if (!(j->flags & CMP_NO_BOUNDS)) {
        double lim = log(CMP_RATIO_MAX), tlo, thi;
        seqtest_bounds(sl, n, ar, ap, CMP_TAU_ROLLBACK, CMP_TAU_PROMOTE, lim, &tlo, &thi);
        rlo = tlo <= -lim ? 0 : exp(tlo);
        rhi = thi >= lim ? INFINITY : exp(thi);
        dlo = (rlo - 1) * (rlo >= 1 ? lb : ub);
        dhi = isfinite(rhi) ? (rhi - 1) * (rhi >= 1 ? ub : lb) : INFINITY;
        ratio = exp(seqtest_mle(sl, n, 20));
    }
    free(sl);
    if (by_floor && ucf - lbf < dhi)
        dhi = ucf - lbf;
    if (!rollback && ready && !by_ratio) {
        size_t len = strlen(tail);
        snprintf(tail + len, sizeof tail - len, " (its rate is shown within %g point of the"
                 " baseline's, the floor)", pm->floor * 100);
    }
    if (!rollback && !ready && !isfinite(rhi)) {
        size_t len = strlen(tail);
        snprintf(tail + len, sizeof tail - len, "; %lld page views with an error in all are"
                 " too few to bound the ratio yet", d->base_hits + d->canary_hits);
    }
    jset(j, o, "difference", jnum(diff));
    set_pair(j, o, "bounds", dlo, dhi);
    jset(j, o, "ratio", jnum(ratio));
    set_pair(j, o, "ratio_bounds", rlo, rhi);
    fmt_rate(vc, sizeof vc, rc);
    fmt_signed(df, sizeof df, diff * 100, 2, " points");
    fmt_signed(blo, sizeof blo, dlo * 100, 2, "");
    fmt_signed(bhi, sizeof bhi, dhi * 100, 2, "");
    {
        char c1[16], c2[16], c3[16];
        fmt_change(c1, sizeof c1, ratio);
        fmt_change(c2, sizeof c2, rlo);
        fmt_change(c3, sizeof c3, rhi);
        snprintf(reason, REASON_MAX, "%s %s vs %s of page views (%s, %s; %.3g%% bounds %s..%s"
                 " points, %s..%s, within the same minutes), %s", pm->name, vc, vb, df, c1,
                 (1 - j->p->alpha) * 100, blo, bhi, c2, c3, tail);
    }
    return res;
}

/* The fields of a metric without baseline data: the same shape, with nulls. */
static void no_data(struct judge *j, const struct cmp_policy_metric *pm,
                    const struct cmp_data *d, json_t *o)
{
    long long nb = 0, nc = 0;
    if (d && pm->kind == CMP_RATE) {
        nb = d->base_views;
        nc = d->canary_views;
    } else if (d) {
        nb = d->base ? d->base->total : 0;
        nc = d->canary ? d->canary->total : 0;
    }
    jset(j, o, "baseline", version_obj(j, (double)nb, NAN, NAN, NAN));
    jset(j, o, "canary", version_obj(j, (double)nc, NAN, NAN, NAN));
    jset(j, o, pm->kind == CMP_RATE ? "difference" : "ratio", json_null());
    set_pair(j, o, "bounds", NAN, NAN);
}

static const struct cmp_data *find_data(const struct cmp_data *data, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (data[i].name && strcmp(data[i].name, name) == 0)
            return &data[i];
    return NULL;
}

static int has_base(const struct cmp_policy_metric *pm, const struct cmp_data *d)
{
    if (!d)
        return 0;
    if (pm->kind == CMP_RATE) {
        assert(d->base_hits >= 0 && d->base_hits <= d->base_views);
        assert(d->canary_hits >= 0 && d->canary_hits <= d->canary_views);
        return d->base_views > 0;
    }
    assert(!d->base || d->base->total == 0 || d->base->bin);
    assert(!d->canary || d->canary->total == 0 || d->canary->bin);
    return d->base && d->base->total > 0;
}

/* Appends "A, B and C" (the names of metrics with the given result) to dst. */
static void list_names(char *dst, size_t len, const struct cmp_policy *p,
                       const struct outcome *out, const char *result, int critical_only)
{
    size_t total = 0, k = 0;
    for (size_t i = 0; i < p->n; i++)
        total += strcmp(out[i].result, result) == 0 && (!critical_only || p->m[i].critical);
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(out[i].result, result) != 0 || (critical_only && !p->m[i].critical))
            continue;
        size_t o = strlen(dst);
        snprintf(dst + o, len - o, "%s%s", k == 0 ? "" : k + 1 == total ? " and " : ", ",
                 p->m[i].name);
        k++;
    }
}

json_t *cmp_judge(const struct cmp_policy *p, const struct cmp_data *data, size_t n,
                  enum cmp_method method)
{
    return cmp_judge_flags(p, data, n, method, 0);
}

json_t *cmp_judge_flags(const struct cmp_policy *p, const struct cmp_data *data, size_t n,
                        enum cmp_method method, int flags)
{
    struct judge j = {.p = p, .method = method, .flags = flags};
    struct outcome out[CMP_METRICS_MAX];
    char reasons[CMP_METRICS_MAX][REASON_MAX], summary[REASON_MAX] = "";
    size_t compared = 0;
    json_t *root = json_object(), *metrics = json_array(), *rs = json_array();

    assert(p->n <= CMP_METRICS_MAX && p->alpha > 0 && p->alpha < 1);
    if (!root || !metrics || !rs)
        goto oom;
    for (size_t i = 0; i < p->n; i++) {
        out[i].compared = has_base(&p->m[i], find_data(data, n, p->m[i].name));
        compared += (size_t)out[i].compared;
    }
    j.a_bound = compared ? p->alpha / (2.0 * (double)compared) : p->alpha / 2;
    j.a_metric = compared ? p->alpha / (double)compared : p->alpha;
    /* Rolling back is a union over the metrics (Bonferroni); promoting needs every metric
     * shown within, an intersection-union test, so each promote test may spend all of
     * alpha (Berger 1982, "Multiparameter hypothesis testing and acceptance sampling",
     * Technometrics 24(4)). */
    j.a_rollback = j.a_metric;
    j.a_promote = p->alpha;

    double w_total = 0, w_rollback = 0;
    int all_promote = compared > 0, critical = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct cmp_policy_metric *pm = &p->m[i];
        const struct cmp_data *d = find_data(data, n, pm->name);
        json_t *o = json_object();
        if (!o || json_array_append_new(metrics, o) < 0)
            goto oom;
        jset(&j, o, "name", json_string(pm->name));
        jset(&j, o, "kind", json_string(pm->kind == CMP_RATE ? "rate" : "quantile"));
        if (pm->kind == CMP_QUANTILE)
            jset(&j, o, "quantile", json_real(pm->quantile));
        jset(&j, o, "tolerance", json_real(pm->tolerance));
        jset(&j, o, "critical", json_boolean(pm->critical));
        jset(&j, o, "weight", json_real(pm->weight));
        if (!out[i].compared) {
            out[i].result = "no data";
            no_data(&j, pm, d, o);
            snprintf(reasons[i], REASON_MAX, "%s: no baseline data, skipped", pm->name);
        } else if (pm->kind == CMP_RATE) {
            out[i].result = method == CMP_SEQUENTIAL ? judge_rate_split(&j, pm, d, o, reasons[i])
                            : method == CMP_POOLED   ? judge_rate_pooled(&j, pm, d, o, reasons[i])
                                                     : judge_rate_mw(&j, pm, d, o, reasons[i]);
        } else {
            out[i].result = method == CMP_SEQUENTIAL
                                ? judge_quantile_split(&j, pm, d, o, reasons[i])
                            : method == CMP_POOLED ? judge_quantile_pooled(&j, pm, d, o, reasons[i])
                                                   : judge_quantile_mw(&j, pm, d, o, reasons[i]);
        }
        jset(&j, o, "result", json_string(out[i].result));
        jset(&j, o, "reason", json_string(reasons[i]));
        if (!out[i].compared)
            continue;
        w_total += pm->weight;
        if (strcmp(out[i].result, "rollback") == 0) {
            w_rollback += pm->weight;
            critical |= pm->critical;
        }
        if (strcmp(out[i].result, "promote") != 0)
            all_promote = 0;
    }

    enum cmp_decision dec;
    if (critical) {
        dec = CMP_ROLLBACK;
        snprintf(summary, sizeof summary, "roll back: ");
        list_names(summary, sizeof summary, p, out, "rollback", 1);
        size_t o = strlen(summary);
        snprintf(summary + o, sizeof summary - o, " (critical) beyond the tolerance");
    } else if (w_rollback > 0 && w_rollback >= w_total / 2) {
        dec = CMP_ROLLBACK;
        snprintf(summary, sizeof summary, "roll back: ");
        list_names(summary, sizeof summary, p, out, "rollback", 0);
        size_t o = strlen(summary);
        snprintf(summary + o, sizeof summary - o, " beyond the tolerance, weight %g of %g",
                 w_rollback, w_total);
    } else if (all_promote) {
        dec = CMP_PROMOTE;
        snprintf(summary, sizeof summary, "promote: every metric with baseline data is within"
                 " its tolerance with enough canary page views");
    } else if (compared == 0) {
        dec = CMP_PAUSE;
        snprintf(summary, sizeof summary, "pause: no metric has baseline data to compare with");
    } else {
        int any_pause = 0;
        dec = CMP_PAUSE;
        for (size_t i = 0; i < p->n; i++)
            any_pause |= strcmp(out[i].result, "pause") == 0;
        snprintf(summary, sizeof summary, "pause: %s", any_pause ? "not yet decided: " : "");
        list_names(summary, sizeof summary, p, out, "pause", 0);
        if (w_rollback > 0) {
            size_t o = strlen(summary);
            snprintf(summary + o, sizeof summary - o, "%s", any_pause ? "; " : "");
            list_names(summary, sizeof summary, p, out, "rollback", 0);
            o = strlen(summary);
            snprintf(summary + o, sizeof summary - o, " beyond the tolerance, but not critical"
                     " and weight %g of %g is less than half", w_rollback, w_total);
        }
    }
    if (json_array_append_new(rs, json_string(summary)) < 0)
        goto oom;
    for (size_t i = 0; i < p->n; i++)
        if (json_array_append_new(rs, json_string(reasons[i])) < 0)
            goto oom;
    jset(&j, root, "decision", json_string(cmp_decision_name(dec)));
    jset(&j, root, "method", json_string(cmp_method_name(method)));
    jset(&j, root, "policy", json_string(p->name));
    jset(&j, root, "alpha", json_real(p->alpha));
    if (method == CMP_POOLED) {
        jset(&j, root, "alpha_per_bound", json_real(j.a_bound));
    } else if (method == CMP_SEQUENTIAL) {
        jset(&j, root, "alpha_rollback", json_real(j.a_rollback));
        jset(&j, root, "alpha_promote", json_real(j.a_promote));
    } else
        jset(&j, root, "alpha_per_metric", json_real(j.a_metric));
    jset(&j, root, "reasons", rs);
    rs = NULL;
    jset(&j, root, "metrics", metrics);
    metrics = NULL;
    if (j.oom)
        goto oom;
    return root;
oom:
    json_decref(root);
    json_decref(metrics);
    json_decref(rs);
    return NULL;
}
