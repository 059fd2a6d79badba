/*
 * cmp: the comparator. Judges a canary version against its baseline from their RUM
 * samples, per metric and overall: promote, pause (a human decides) or roll back, with
 * the reasons in plain words. Statistics and policy are documented in shared/README.md.
 *
 * The default method stays valid however often a rollout controller asks (every minute,
 * for hours): confidence sequences, i.e. bounds that hold at all sample sizes at once.
 *  - quantiles: the time-uniform DKW band of Howard & Ramdas (2022, Bernoulli 28(3),
 *    Theorem 2): e_n = 0.85 sqrt((log log(e n) + 0.8 log(1612 / alpha)) / n); the
 *    p-quantile lies between the order statistics at p - e_n and p + e_n.
 *  - rates (page views with a JS error / page views): a Beta(a, b)-mixture martingale
 *    (Robbins; Howard et al. 2021), {q : M_n(q) < 1/alpha} found by bisection on log M_n.
 * Decision per metric, with L and U the bounds of each version:
 *  - relative metric, tolerance d: rollback if L_canary > (1+d) U_base;
 *    ready if U_canary <= (1+d) L_base;
 *  - rate, absolute tolerance d: rollback if L_canary - U_base > d;
 *    ready if U_canary - L_base <= d.
 * alpha is split by Bonferroni over the bounds used (alpha / (2 x metrics compared)).
 * Promote when every metric with baseline data is ready with its minimum canary sample;
 * roll back when a critical metric says so, or when the weights of the metrics that
 * say so reach half of the total weight; pause otherwise. A canary with no or too little
 * traffic only ever pauses.
 *
 * The one-shot alternative (CMP_MANN_WHITNEY) is Kayenta's: Mann-Whitney U with tie
 * correction and continuity correction, and the Hodges-Lehmann shift with its interval.
 * It is valid for one look only.
 */
#ifndef VIGIL_CMP_H
#define VIGIL_CMP_H

#include <jansson.h>
#include <stddef.h>

#include "sketch.h"
#include "srm.h"

#define CMP_METRICS_MAX 32
#define CMP_NAME_MAX 48

enum cmp_kind { CMP_QUANTILE, CMP_RATE };
/* CMP_SEQUENTIAL: two-sample tests within time slices (shared/seqtest.h), valid at every
 * look; CMP_POOLED: the first version's per-version confidence sequences over the pooled
 * window (kept for comparison in the simulation and on request); CMP_MANN_WHITNEY: one
 * look only. */
enum cmp_method { CMP_SEQUENTIAL, CMP_MANN_WHITNEY, CMP_POOLED };
enum cmp_decision { CMP_PROMOTE, CMP_PAUSE, CMP_ROLLBACK };
/* CMP_TOL_DEFAULT is relative for a quantile and absolute for a rate. */
enum cmp_tolerance_kind { CMP_TOL_DEFAULT, CMP_TOL_RELATIVE, CMP_TOL_ABSOLUTE };

struct cmp_policy_metric {
    char name[CMP_NAME_MAX];    /* LCP, INP, CLS, FCP, TTFB, errors, or a custom metric */
    enum cmp_kind kind;         /* errors is CMP_RATE; every other metric CMP_QUANTILE */
    double quantile;            /* e.g. 0.75 */
    double tolerance;           /* relative (0.10 = +10%) or absolute (metric units; for a
                                   rate 0.001 = +0.1 point): promote needs it shown */
    double rollback_tolerance;  /* with rollback_set: roll back once the canary is shown
                                   beyond this (same kind as tolerance) */
    int rollback_set;           /* else rollback uses tolerance */
    double floor;               /* errors: a difference (rate units, 0.005 = +0.5 point)
                                   that is within tolerance whatever the ratio; 0: none */
    enum cmp_tolerance_kind tolerance_kind;
    double weight;
    int critical;               /* a rollback of this metric rolls back the canary */
    size_t min_sample;          /* canary observations needed before promoting */
};

struct cmp_policy {
    char name[64];
    double alpha;               /* overall error level, e.g. 0.05 */
    int method_set;             /* the policy names a method ("method" in a file) */
    enum cmp_method method;
    struct cmp_policy_metric m[CMP_METRICS_MAX];
    size_t n;
    struct srm_policy traffic;  /* the traffic split check (srm.h): what a mismatch does */
};

/* Whether a metric's tolerances are absolute differences (else relative), and the
 * tolerance its rollback uses. */
int cmp_tolerance_absolute(const struct cmp_policy_metric *m);
double cmp_rollback_tolerance(const struct cmp_policy_metric *m);

/* Fills p with a built-in policy, "conservative" or "aggressive". Returns 0 or -1. */
int cmp_policy_builtin(const char *name, struct cmp_policy *p);

/* Loads a JSON policy file (format: shared/README.md). Returns 0, or -1 with
 * "FILE:LINE:COL: what is wrong" in err. */
int cmp_policy_load(const char *path, struct cmp_policy *p, char *err, size_t errlen);

/* One time slice (a minute of the rollups) of one metric, both versions: the sequential
 * method compares the versions within each slice. Bins as in struct cmp_data. */
struct cmp_slice {
    const struct sketch_bins *base, *canary;
    long long base_hits, base_views, canary_hits, canary_views;
};

/* One metric's data for both versions, over the same window. A quantile metric's samples
 * are sorted weighted bins (shared/sketch.h): exact ones from raw values, or a sketch's
 * from the rollups; both versions' sketch bins share the bucket mapping. The caller owns
 * them. */
struct cmp_data {
    const char *name;
    const struct sketch_bins *base, *canary;  /* CMP_QUANTILE: NULL or total 0 is no data */
    long long base_hits, base_views;      /* CMP_RATE: page views with an error, and all */
    long long canary_hits, canary_views;
    const struct cmp_slice *slices;     /* the window in time order, or NULL: then the
                                           sequential method has one slice, the totals */
    size_t nslices;
};

/* Judges the canary. data holds an entry per metric of the policy (missing ones count as
 * "no data"). Returns a new JSON object (the caller owns it):
 *   {"decision": "promote"|"pause"|"rollback", "method": ..., "policy": ..., "alpha": ...,
 *    "reasons": ["LCP p75 2.91 s vs 2.30 s (+26%; 95% bounds +14%..+39%), beyond the 10%
 *                 tolerance: roll back", ...],
 *    "metrics": [{"name", "kind", "quantile", "tolerance", "critical", "weight",
 *                 "baseline": {"n", "value", "lower", "upper"}, "canary": {...},
 *                 "ratio" or "difference", "bounds": [lo, hi], "result":
 *                 "promote"|"pause"|"rollback"|"no data", "reason"}]} */
json_t *cmp_judge(const struct cmp_policy *p, const struct cmp_data *data, size_t n,
                  enum cmp_method method);

/* cmp_judge with flags: CMP_NO_BOUNDS leaves the sequential method's bounds and estimate
 * out (decisions only; for simulations, where the bisections would dominate). */
#define CMP_NO_BOUNDS 1
json_t *cmp_judge_flags(const struct cmp_policy *p, const struct cmp_data *data, size_t n,
                        enum cmp_method method, int flags);

/* "sequential", "mann-whitney" or "pooled", and back: 0, or -1 for another name. */
const char *cmp_method_name(enum cmp_method m);
int cmp_method_parse(const char *name, enum cmp_method *m);

/* Time-uniform DKW radius e_n for n observations at level alpha. */
double cmp_dkw_radius(size_t n, double alpha);

/* Confidence-sequence bounds for the p-quantile of a sample in bins; -INFINITY / INFINITY
 * when p -/+ e_n leaves [0, 1] (or b is NULL or empty). Each bound is the outer edge of the
 * bin holding its order statistic (lo of the lower one, hi of the upper one), so that it
 * stays valid for a sketch and equals the order statistic for exact bins. */
void cmp_quantile_bounds_bins(const struct sketch_bins *b, double p, double alpha,
                              double *lo, double *hi);

/* The same for n values sorted ascending (their exact bins). If memory runs out, both
 * sides are left open. */
void cmp_quantile_bounds(const double *sorted, size_t n, double p, double alpha,
                         double *lo, double *hi);

/* Confidence-sequence bounds for a rate from hits out of n, Beta(a, b) mixture. */
void cmp_rate_bounds(long long hits, long long n, double alpha, double a, double b,
                     double *lo, double *hi);

/* Mann-Whitney U of x against y (normal approximation, tie and continuity corrected);
 * alternative: 0 two-sided, 1 "greater" (x tends larger), -1 "less". Returns U of x and
 * sets *p. Values of bins with the same value are ties (for sketches: the same bucket).
 * NULL is an empty sample. O(bins). */
double cmp_mann_whitney_bins(const struct sketch_bins *x, const struct sketch_bins *y,
                             int alternative, double *p);

/* The same on raw values (in any order); NAN and *p = NAN if memory runs out. */
double cmp_mann_whitney(const double *x, size_t nx, const double *y, size_t ny,
                        int alternative, double *p);

/* Hodges-Lehmann estimate of the shift x - y (median of the pairwise differences of the
 * bins' values, each weighted by the product of their counts) and its 1 - alpha interval
 * by inverting the Mann-Whitney test. NAN and an open interval without data. O(bins) per
 * step of a selection of a few dozen steps. */
double cmp_hodges_lehmann_bins(const struct sketch_bins *x, const struct sketch_bins *y,
                               double alpha, double *lo, double *hi);

/* The same on raw values (in any order); NAN if memory runs out. */
double cmp_hodges_lehmann(const double *x, size_t nx, const double *y, size_t ny,
                          double alpha, double *lo, double *hi);

const char *cmp_decision_name(enum cmp_decision d);

#endif
