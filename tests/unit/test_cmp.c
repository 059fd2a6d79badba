/*
 * Unit tests for shared/cmp.c: the statistics against values computed outside this code,
 * then the decisions, the reasons and the policy files.
 *
 * Every reference value below was computed once with Debian 12's python3-scipy 1.10.1
 * (/usr/bin/python3) by the script quoted above its table, and pasted here.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "rng.h"
#include "cmp.h"
#include "../stat/policy_v1.h"
#include "stats.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))


static int close_rel(double got, double want, double rel)
{
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= rel * fabs(want) + 1e-300;
}

/* --- Mann-Whitney U ----------------------------------------------------------------- */

/*
 * Fixtures with ties (A, B, C, E) and without (D). References:
 *
 *   /usr/bin/python3 -c '
 *   from scipy.stats import mannwhitneyu
 *   for k, (x, y) in fixtures.items():      # the arrays below, as lists
 *       for alt in ("greater", "less", "two-sided"):
 *           r = mannwhitneyu(x, y, alternative=alt, method="asymptotic", use_continuity=True)
 *           print(k, alt, repr(float(r.statistic)), repr(float(r.pvalue)))'
 *
 * scipy's statistic is U of the first sample whatever the alternative.
 */
static const double mw_ax[] = {1, 2, 2, 3, 5, 5, 5, 8};
static const double mw_ay[] = {2, 3, 3, 4, 5, 6};
static const double mw_bx[] = {1200, 1300, 1300, 1500, 1800, 1800, 2100, 2500, 2500, 2500, 3100};
static const double mw_by[] = {1100, 1200, 1300, 1300, 1400, 1500, 1500, 1800, 2000, 2100,
                               2200, 2500};
static const double mw_cx[] = {3.5};
static const double mw_cy[] = {1, 2, 3.5, 4};
static const double mw_dx[] = {0.5, 1.7, 2.2, 3.9, 4.1, 6.0};
static const double mw_dy[] = {0.1, 0.9, 1.1, 2.5, 2.8, 3.0, 3.3};
static const double mw_ex[] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2,
                               6, 4, 3, 3, 8, 3, 2, 7};
static const double mw_ey[] = {2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5, 9, 0, 4, 5, 2, 3, 5, 3, 6, 0,
                               2, 8, 7, 4, 7, 1, 3, 5, 2, 6, 6, 2, 4, 9, 7, 7, 5, 7};

struct fixture {
    const char *name;
    const double *x, *y;
    size_t nx, ny;
};

#define FIX(n, x, y) {n, x, y, NELEM(x), NELEM(y)}
static const struct fixture fixtures[] = {
    FIX("A", mw_ax, mw_ay), FIX("B", mw_bx, mw_by), FIX("C", mw_cx, mw_cy),
    FIX("D", mw_dx, mw_dy), FIX("E", mw_ex, mw_ey),
};

static const struct {
    size_t fixture;
    int alternative;    /* 1 greater, -1 less, 0 two-sided */
    double u, p;
} mw_ref[] = {
    {0, 1, 22.5, 0.6039030649186629}, {0, -1, 22.5, 0.44759836849622375},
    {0, 0, 22.5, 0.8951967369924475},
    {1, 1, 84.5, 0.1321841056335017}, {1, -1, 84.5, 0.8806282026277517},
    {1, 0, 84.5, 0.2643682112670034},
    {2, 1, 2.5, 0.5}, {2, -1, 2.5, 0.765920045072786}, {2, 0, 2.5, 1.0},
    {3, 1, 28.0, 0.17655561725300278}, {3, -1, 28.0, 0.8580116141245442},
    {3, 0, 28.0, 0.35311123450600557},
    {4, 1, 611.0, 0.45008011671098613}, {4, -1, 611.0, 0.5546456107862767},
    {4, 0, 611.0, 0.9001602334219723},
};

static void test_mann_whitney(void)
{
    static const char *const alt[] = {"less", "two-sided", "greater"};
    for (size_t i = 0; i < NELEM(mw_ref); i++) {
        const struct fixture *f = &fixtures[mw_ref[i].fixture];
        double p;
        double u = cmp_mann_whitney(f->x, f->nx, f->y, f->ny, mw_ref[i].alternative, &p);
        CHECK(u == mw_ref[i].u && close_rel(p, mw_ref[i].p, 1e-9),
              "Mann-Whitney %s %s: U %g p %.10g (got U %g p %.10g)", f->name,
              alt[mw_ref[i].alternative + 1], mw_ref[i].u, mw_ref[i].p, u, p);
    }
    double p, one[] = {1, 1, 1};
    double u = cmp_mann_whitney(one, 3, one, 3, 1, &p);
    CHECK(u == 4.5 && p == 1, "Mann-Whitney of all-equal samples: U 4.5, p 1 (no evidence)");
    u = cmp_mann_whitney(one, 3, one, 0, 1, &p);
    CHECK(u == 0 && p == 1, "Mann-Whitney against an empty sample: p 1");
}

/* --- Hodges-Lehmann ---------------------------------------------------------------- */

/*
 *   /usr/bin/python3 -c '
 *   import itertools, math, numpy as np
 *   from scipy.stats import norm
 *   for k, (x, y) in fixtures.items():
 *       d = sorted(a - b for a, b in itertools.product(x, y))
 *       m, n = len(x), len(y)
 *       _, t = np.unique(x + y, return_counts=True)
 *       N = m + n
 *       s = math.sqrt(m*n/12*((N+1) - (t**3 - t).sum()/(N*(N-1))))
 *       for alpha in (0.05, 0.2):
 *           c = math.floor(m*n/2 - norm.isf(alpha/2)*s)
 *           print(k, alpha, repr(float(np.median(d))), c, repr(d[c-1]), repr(d[m*n-c]))'
 *
 * The estimate is numpy's median of all m n differences; the interval the c-th smallest
 * and c-th largest of them (Hollander & Wolfe's normal approximation, shared/README.md).
 */
static const struct {
    size_t fixture;
    double alpha, est, lo, hi;
} hl_ref[] = {
    {0, 0.05, 0.0, -2.0, 2.0}, {0, 0.2, 0.0, -1.0, 2.0},
    {1, 0.05, 300.0, -200.0, 900.0}, {1, 0.2, 300.0, 0.0, 600.0},
    {3, 0.05, 1.0999999999999999, -1.0999999999999999, 3.2},
    {3, 0.2, 1.0999999999999999, -0.5999999999999996, 2.8},
    {4, 0.05, 0.0, -1.0, 1.0}, {4, 0.2, 0.0, -1.0, 1.0},
};

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}


static void test_hodges_lehmann(void)
{
    for (size_t i = 0; i < NELEM(hl_ref); i++) {
        const struct fixture *f = &fixtures[hl_ref[i].fixture];
        double lo, hi;
        double est = cmp_hodges_lehmann(f->x, f->nx, f->y, f->ny, hl_ref[i].alpha, &lo, &hi);
        CHECK(close_rel(est, hl_ref[i].est, 1e-12) && close_rel(lo, hl_ref[i].lo, 1e-12)
              && close_rel(hi, hl_ref[i].hi, 1e-12),
              "Hodges-Lehmann %s at %g: %.17g [%.17g, %.17g] (got %.17g [%.17g, %.17g])",
              f->name, hl_ref[i].alpha, hl_ref[i].est, hl_ref[i].lo, hl_ref[i].hi, est, lo, hi);
    }

    /* The selection against sorting all differences, on continuous data with an odd and
     * an even number of pairs. */
    static const size_t sizes[][2] = {{151, 233}, {150, 232}, {1, 1}, {1, 40}};
    for (size_t s = 0; s < NELEM(sizes); s++) {
        size_t m = sizes[s][0], n = sizes[s][1], mn = m * n;
        double *x = lognormal(m, 2600, 0.5), *y = lognormal(n, 2300, 0.5);
        double *d = malloc(mn * sizeof *d), lo, hi;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                d[i * n + j] = x[i] - y[j];
        qsort(d, mn, sizeof *d, cmp_dbl);
        double want = mn % 2 ? d[mn / 2] : (d[mn / 2 - 1] + d[mn / 2]) / 2;
        double got = cmp_hodges_lehmann(x, m, y, n, 0.05, &lo, &hi);
        CHECK(got == want, "Hodges-Lehmann of %zu x %zu values is the median of all"
              " differences (%.17g, got %.17g)", m, n, want, got);
        int in_set = isinf(lo) || (bsearch(&lo, d, mn, sizeof *d, cmp_dbl)
                                   && bsearch(&hi, d, mn, sizeof *d, cmp_dbl));
        CHECK(in_set && lo <= got && got <= hi, "its interval [%g, %g] is made of differences",
              lo, hi);
        free(x);
        free(y);
        free(d);
    }
}

/* --- confidence sequences -------------------------------------------------------------- */

/*
 *   /usr/bin/python3 -c '
 *   import math
 *   for n in (1, 10, 1000, 123456):
 *       for a in (0.05, 0.0125, 0.001):
 *           print(n, a, repr(0.85*math.sqrt((math.log(math.log(math.e*n))
 *                                            + 0.8*math.log(1612/a))/n)))'
 */
static const struct {
    size_t n;
    double alpha, e;
} dkw_ref[] = {
    {1, 0.05, 2.4495298993167416}, {1, 0.0125, 2.607963739850304},
    {1, 0.001, 2.8742557340612813}, {10, 0.05, 0.8284546739710118},
    {10, 0.0125, 0.8754798460827897}, {10, 0.001, 0.9552235741114026},
    {1000, 0.05, 0.08656912837667055}, {1000, 0.0125, 0.09107959227304306},
    {1000, 0.001, 0.09876924260635968}, {123456, 0.05, 0.007967871326429312},
    {123456, 0.0125, 0.008365247632494223}, {123456, 0.001, 0.009044467922441745},
};

/*
 * The ends of {q : M_n(q) < 1/alpha}, Beta(0.5, 0.5) mixture, found independently with
 * scipy's betaln and brentq:
 *
 *   /usr/bin/python3 -c '
 *   import math
 *   from scipy.special import betaln
 *   from scipy.optimize import brentq
 *   def logM(q, s, n, a=0.5, b=0.5):
 *       v = betaln(a+s, b+n-s) - betaln(a, b)
 *       if s: v -= s*math.log(q)
 *       if n-s: v -= (n-s)*math.log1p(-q)
 *       return v
 *   for (s, n, al) in cases:
 *       thr = math.log(1/al); mle = s/n
 *       lo = 0.0 if s == 0 else brentq(lambda q: logM(q, s, n) - thr, 1e-300, mle,
 *                                      xtol=1e-300, rtol=1e-15)
 *       hi = 1.0 if s == n else brentq(lambda q: logM(q, s, n) - thr, mle, 1-1e-16,
 *                                      xtol=1e-300, rtol=1e-15)
 *       print(s, n, al, repr(lo), repr(hi))'
 *
 * So M_n(lo) = M_n(hi) = 1/alpha at the references (except lo = 0 for no hits, hi = 1
 * when every page view had one).
 */
static const struct {
    long long hits, n;
    double alpha, lo, hi;
} rate_ref[] = {
    {0, 100, 0.05, 0.0, 0.05702859763877186},
    {5, 1000, 0.0125, 0.0003973246449595399, 0.019852666171702556},
    {30, 6000, 0.0125, 0.002063382345253375, 0.009893082724910802},
    {100, 100, 0.05, 0.9429714023612281, 1.0},
    {1, 1, 0.05, 0.025, 1.0},
    {37, 250, 0.001, 0.06725682523922645, 0.26490386713595215},
    {3000, 6000, 0.0125, 0.4726988138568596, 0.5273011861431408},
};

static void test_bounds(void)
{
    for (size_t i = 0; i < NELEM(dkw_ref); i++) {
        double e = cmp_dkw_radius(dkw_ref[i].n, dkw_ref[i].alpha);
        CHECK(close_rel(e, dkw_ref[i].e, 1e-13), "DKW radius n=%zu alpha=%g is %.17g (got %.17g)",
              dkw_ref[i].n, dkw_ref[i].alpha, dkw_ref[i].e, e);
    }
    CHECK(isinf(cmp_dkw_radius(0, 0.05)), "DKW radius of no data is infinite");

    /* 1..1000 at p75, alpha 0.05: e = 0.08656912837667055 (above), so the bounds are the
     * order statistics ceil(1000 (0.75 - e)) = 664 and ceil(1000 (0.75 + e)) = 837. */
    double v[1000], lo, hi;
    for (size_t i = 0; i < 1000; i++)
        v[i] = (double)(i + 1);
    cmp_quantile_bounds(v, 1000, 0.75, 0.05, &lo, &hi);
    CHECK(lo == 664 && hi == 837, "p75 bounds of 1..1000 at 0.05 are [664, 837] (got [%g, %g])",
          lo, hi);
    /* e = 0.0911 at 0.0125: p95 + e > 1, so no upper bound; p05 - e < 0, no lower one. */
    cmp_quantile_bounds(v, 1000, 0.95, 0.0125, &lo, &hi);
    CHECK(lo == 859 && isinf(hi) && hi > 0, "p95 bounds of 1..1000 at 0.0125 are [859, +inf]"
          " (got [%g, %g])", lo, hi);
    cmp_quantile_bounds(v, 1000, 0.05, 0.0125, &lo, &hi);
    CHECK(isinf(lo) && lo < 0 && hi == 142, "p05 bounds of 1..1000 at 0.0125 are [-inf, 142]"
          " (got [%g, %g])", lo, hi);
    cmp_quantile_bounds(v, 10, 0.75, 0.05, &lo, &hi);
    CHECK(isinf(lo) && isinf(hi), "10 values bound nothing at 0.05 (e = 0.83)");
    cmp_quantile_bounds(v, 0, 0.75, 0.05, &lo, &hi);
    CHECK(isinf(lo) && isinf(hi), "no values bound nothing");

    for (size_t i = 0; i < NELEM(rate_ref); i++) {
        cmp_rate_bounds(rate_ref[i].hits, rate_ref[i].n, rate_ref[i].alpha, 0.5, 0.5, &lo, &hi);
        CHECK(close_rel(lo, rate_ref[i].lo, 1e-9) && close_rel(hi, rate_ref[i].hi, 1e-9),
              "rate bounds %lld/%lld at %g are [%.12g, %.12g] (got [%.12g, %.12g])",
              rate_ref[i].hits, rate_ref[i].n, rate_ref[i].alpha, rate_ref[i].lo,
              rate_ref[i].hi, lo, hi);
    }
    cmp_rate_bounds(0, 0, 0.05, 0.5, 0.5, &lo, &hi);
    CHECK(lo == 0 && hi == 1, "rate bounds of no page views are [0, 1]");
}

/* --- decisions -------------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const json_t *metric(const json_t *v, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(v, "metrics"), i, m)
        if (strcmp(jstr(m, "name"), name) == 0)
            return m;
    return NULL;
}

static const char *result(const json_t *v, const char *name)
{
    const json_t *m = metric(v, name);
    return m ? jstr(m, "result") : "(missing)";
}

static double bound(const json_t *v, const char *name, size_t i)
{
    const json_t *b = json_array_get(json_object_get(metric(v, name), "bounds"), i);
    return json_is_null(b) ? NAN : json_number_value(b);
}

static double jnum_at(const json_t *m, const char *version, const char *key)
{
    const json_t *x = json_object_get(json_object_get(m, version), key);
    return json_is_number(x) ? json_number_value(x) : NAN;
}

static int has_reason(const json_t *v, const char *needle)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(v, "reasons"), i, r)
        if (strstr(json_string_value(r), needle))
            return 1;
    return 0;
}

static void show(const json_t *v)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(v, "reasons"), i, r)
        printf("# %s\n", json_string_value(r));
}

/* The exact bins of the samples qdata() was given; freed by qdata_free(). */
static struct sketch_bins held[64];
static size_t nheld;

static const struct sketch_bins *hold(const double *v, size_t n)
{
    if (nheld == sizeof held / sizeof held[0] || sketch_bins_exact(v, n, &held[nheld]) < 0) {
        fprintf(stderr, "test_cmp: cannot make bins\n");
        exit(2);
    }
    return &held[nheld++];
}

static void qdata_free(void)
{
    for (size_t i = 0; i < nheld; i++)
        sketch_bins_fini(&held[i]);
    nheld = 0;
}

static struct cmp_data qdata(const char *name, const double *base, size_t nb, const double *can,
                             size_t nc)
{
    struct cmp_data d = {.name = name, .base = hold(base, nb), .canary = hold(can, nc)};
    return d;
}

static struct cmp_data rdata(long long bh, long long bv, long long ch, long long cv)
{
    struct cmp_data d = {.name = "errors", .base_hits = bh, .base_views = bv,
                         .canary_hits = ch, .canary_views = cv};
    return d;
}

static void test_builtin(void)
{
    struct cmp_policy c, a;
    CHECK(cmp_policy_builtin("conservative", &c) == 0 && cmp_policy_builtin("aggressive", &a) == 0,
          "built-in policies load");
    CHECK(cmp_policy_builtin("reckless", &a) < 0, "an unknown built-in policy is refused");
    CHECK(c.n == 6 && c.alpha == 0.05 && strcmp(c.m[0].name, "LCP") == 0
          && c.m[0].quantile == 0.75 && c.m[0].tolerance == 0.10 && c.m[0].min_sample == 200
          && c.m[0].critical && c.m[0].weight == 1, "conservative: LCP p75 +10%%, critical, 200");
    CHECK(strcmp(c.m[5].name, "errors") == 0 && c.m[5].kind == CMP_RATE && c.m[5].tolerance_kind == CMP_TOL_RELATIVE
          && c.m[5].tolerance == 0.75 && c.m[5].rollback_tolerance == 0
          && c.m[5].min_sample == 1000 && c.m[5].critical,
          "conservative: errors promote within +75%% (relative), roll back once shown above"
          " the baseline, critical, 1000 page views");
    CHECK(strcmp(c.m[2].name, "CLS") == 0 && c.m[2].tolerance_kind == CMP_TOL_ABSOLUTE && c.m[2].tolerance == 0.02
          && c.m[2].rollback_tolerance == 0.02, "conservative: CLS absolute, 0.02");
    CHECK(!c.m[3].critical && !c.m[4].critical && c.m[2].critical && c.m[1].critical,
          "conservative: FCP and TTFB are not critical, INP and CLS are");
    CHECK(a.m[1].tolerance == 0.25 && a.m[1].min_sample == 100 && a.m[5].tolerance == 1.0
          && a.m[5].rollback_tolerance == 0.25 && a.m[5].min_sample == 1000,
          "aggressive: +25%%, 100; errors +100%% to promote, +25%% to roll back, 1000");
}

static void test_decisions(void)
{
    struct cmp_policy cons, aggr;
    policy_v1("conservative", &cons);
    policy_v1("aggressive", &aggr);
    double *base = lognormal(6000, 2300, 0.5), *worse = lognormal(3000, 2300 * 1.3, 0.5);
    double *same = lognormal(6000, 2300, 0.5);
    struct cmp_data d[3];
    json_t *v;

    /* +30% LCP, 3,000 page views against 6,000: L_c / U_b about 1.14 > 1.10. */
    d[0] = qdata("LCP", base, 6000, worse, 3000);
    v = cmp_judge(&cons, d, 1, CMP_POOLED);
    show(v);
    CHECK_STR(jstr(v, "decision"), "rollback", "canary +30%% LCP is rolled back");
    CHECK(bound(v, "LCP", 0) > 1.10 && bound(v, "LCP", 0) < 1.2,
          "its ratio's lower bound %.3f is above 1.10", bound(v, "LCP", 0));
    CHECK(has_reason(v, "LCP p75 ") && has_reason(v, "beyond the 10% tolerance: roll back")
          && has_reason(v, "95% bounds +"), "the reason names the numbers and the tolerance");
    CHECK_STR(result(v, "INP"), "no data", "INP without data is skipped");
    CHECK(has_reason(v, "INP: no baseline data, skipped"), "and says so");
    CHECK(json_number_value(json_object_get(v, "alpha_per_bound")) == 0.025,
          "one metric compared: alpha per bound 0.05 / 2");
    json_decref(v);

    /* Identical versions of 6,000 page views: U_c / L_b about 1.12, within +50% but not
     * within +10%. */
    d[0] = qdata("LCP", base, 6000, same, 6000);
    v = cmp_judge(&aggr, d, 1, CMP_POOLED);
    show(v);
    CHECK_STR(jstr(v, "decision"), "promote", "identical versions are promoted under aggressive");
    CHECK(has_reason(v, "within the 50% tolerance: ready to promote"), "with the reason");
    json_decref(v);
    v = cmp_judge(&cons, d, 1, CMP_POOLED);
    CHECK_STR(jstr(v, "decision"), "pause", "and paused under conservative (+10%% not yet"
              " ruled out)");
    CHECK(has_reason(v, "within the 10% tolerance so far, not yet shown: pause"),
          "with the reason");
    json_decref(v);

    /* A small canary: 50 page views. */
    double *small = lognormal(50, 2300, 0.5);
    d[0] = qdata("LCP", base, 6000, small, 50);
    v = cmp_judge(&cons, d, 1, CMP_POOLED);
    show(v);
    CHECK_STR(jstr(v, "decision"), "pause", "a 50-page-view canary pauses");
    CHECK(has_reason(v, "needs 150 more page views"), "and needs 150 more page views");
    CHECK(isinf(bound(v, "LCP", 1)) || isnan(bound(v, "LCP", 1)),
          "its upper bound is open (null in JSON)");
    json_decref(v);

    /* No canary at all, and a canary with data but below a large min_sample. */
    d[0] = qdata("LCP", base, 6000, NULL, 0);
    d[1] = rdata(30, 6000, 0, 0);
    v = cmp_judge(&aggr, d, 2, CMP_POOLED);
    show(v);
    CHECK_STR(jstr(v, "decision"), "pause", "a canary without traffic pauses");
    CHECK(has_reason(v, "LCP p75: no canary data yet (baseline 3.") &&
          has_reason(v, "needs 100 more page views")
          && has_reason(v, "errors: no canary data yet (baseline 0.50% of page views): pause,"
                        " needs 500 more page views"), "and says what it needs");
    CHECK(json_number_value(json_object_get(v, "alpha_per_bound")) == 0.0125,
          "two metrics compared: alpha per bound 0.05 / 4");
    json_decref(v);
    {
        struct cmp_policy p = aggr;
        p.m[0].min_sample = 10000;
        d[0] = qdata("LCP", base, 6000, same, 6000);
        v = cmp_judge(&p, d, 1, CMP_POOLED);
        show(v);
        CHECK_STR(result(v, "LCP"), "pause", "ready but below min_sample: pause");
        CHECK(has_reason(v, "within the 50% tolerance, but the canary needs 4,000 more page"
                         " views (10,000 in all): pause"), "says how many more");
        json_decref(v);
    }

    /* Nothing with baseline data: nothing to judge. */
    v = cmp_judge(&cons, NULL, 0, CMP_POOLED);
    CHECK_STR(jstr(v, "decision"), "pause", "no data at all pauses");
    CHECK(has_reason(v, "no metric has baseline data"), "and says why");
    json_decref(v);

    /* Errors. */
    d[0] = rdata(30, 6000, 31, 6000);
    v = cmp_judge(&cons, d, 1, CMP_POOLED);
    show(v);
    CHECK_STR(jstr(v, "decision"), "pause", "0.52%% vs 0.50%% errors pauses under conservative");
    CHECK(has_reason(v, "errors 0.52% vs 0.50% of page views (+0.02 points; 95% bounds -0.")
          && has_reason(v, "), within the 0.1-point tolerance so far, not yet shown: pause;"
                        " ruling out +0.1 point needs about ")
          && has_reason(v, " canary page views at these rates (now 6,000)"),
          "the reason gives rates, points and the page views it would take");
    {
        const json_t *m = metric(v, "errors");
        double need = json_number_value(json_object_get(m, "views_needed"));
        double lc, uc, lb, ub;
        cmp_rate_bounds(llround(need * 31 / 6000), (long long)need, 0.025, 0.5, 0.5, &lc, &uc);
        cmp_rate_bounds(llround(need * 30 / 6000), (long long)need, 0.025, 0.5, 0.5, &lb, &ub);
        CHECK(need > 100000 && uc - lb <= 0.001,
              "at views_needed (%.0f) the bounds fit the 0.1-point tolerance", need);
        cmp_rate_bounds(llround(need * 0.97 * 31 / 6000), (long long)(need * 0.97), 0.025, 0.5,
                        0.5, &lc, &uc);
        cmp_rate_bounds(llround(need * 0.97 * 30 / 6000), (long long)(need * 0.97), 0.025, 0.5,
                        0.5, &lb, &ub);
        CHECK(uc - lb > 0.001, "and 3%% fewer page views would not do");
    }
    json_decref(v);
    d[0] = rdata(30, 6000, 180, 3000);
    v = cmp_judge(&cons, d, 1, CMP_POOLED);
    show(v);
    CHECK_STR(jstr(v, "decision"), "rollback", "6%% errors against 0.5%% roll back");
    CHECK(has_reason(v, "errors 6.00% vs 0.50% of page views (+5.50 points; 95% bounds +")
          && has_reason(v, "beyond the 0.1-point tolerance: roll back"), "with the numbers");
    json_decref(v);
    d[0] = rdata(0, 20000, 0, 20000);
    v = cmp_judge(&aggr, d, 1, CMP_POOLED);
    CHECK_STR(jstr(v, "decision"), "promote", "no errors on either side promotes under aggressive");
    json_decref(v);

    /* A critical metric's rollback overrides the others; a non-critical one counts by
     * weight. */
    struct cmp_policy p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "test");
    p.alpha = 0.05;
    const char *names[] = {"LCP", "FCP", "TTFB"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p.m[i].name, sizeof p.m[i].name, "%s", names[i]);
        p.m[i].kind = CMP_QUANTILE;
        p.m[i].quantile = 0.75;
        p.m[i].tolerance = 0.5;
        p.m[i].weight = 1;
        p.m[i].min_sample = 100;
    }
    p.n = 3;
    p.m[0].tolerance = 0.1;
    p.m[0].critical = 1;
    d[0] = qdata("LCP", base, 6000, worse, 3000);
    d[1] = qdata("FCP", base, 6000, same, 6000);
    d[2] = qdata("TTFB", base, 6000, same, 6000);
    v = cmp_judge(&p, d, 3, CMP_POOLED);
    show(v);
    CHECK(strcmp(jstr(v, "decision"), "rollback") == 0 && strcmp(result(v, "FCP"), "promote") == 0
          && strcmp(result(v, "TTFB"), "promote") == 0,
          "a critical rollback wins over two metrics ready to promote");
    CHECK(has_reason(v, "roll back: LCP (critical) beyond the tolerance"), "and heads the reasons");
    json_decref(v);
    p.m[0].critical = 0;
    v = cmp_judge(&p, d, 3, CMP_POOLED);
    show(v);
    CHECK_STR(jstr(v, "decision"), "pause", "a non-critical rollback with 1 of 3 weight pauses");
    json_decref(v);
    p.m[0].weight = 2;
    v = cmp_judge(&p, d, 3, CMP_POOLED);
    CHECK_STR(jstr(v, "decision"), "rollback", "with 2 of 4 weight it rolls back");
    json_decref(v);

    /* The one-shot method on the same data. */
    d[0] = qdata("LCP", base, 6000, worse, 3000);
    d[1] = rdata(30, 6000, 180, 3000);
    v = cmp_judge(&cons, d, 2, CMP_MANN_WHITNEY);
    show(v);
    CHECK(strcmp(jstr(v, "decision"), "rollback") == 0
          && strcmp(result(v, "LCP"), "rollback") == 0
          && strcmp(result(v, "errors"), "rollback") == 0,
          "Mann-Whitney: +30%% LCP and 6%% errors roll back");
    CHECK_STR(jstr(v, "method"), "mann-whitney", "the method is named");
    CHECK(has_reason(v, "Mann-Whitney shift +") && has_reason(v, "one-sided p = "),
          "its reasons give the shift and p");
    json_decref(v);
    d[0] = qdata("LCP", base, 6000, same, 6000);
    d[1] = rdata(30, 6000, 29, 6000);
    v = cmp_judge(&aggr, d, 2, CMP_MANN_WHITNEY);
    show(v);
    CHECK_STR(jstr(v, "decision"), "promote", "Mann-Whitney: identical versions promote under"
              " aggressive");
    json_decref(v);

    free(base);
    free(worse);
    free(same);
    free(small);
    qdata_free();
}

/* --- the edges of the decision rule --------------------------------------------------- */

/* scale x 1, 2, ..., n: a sample whose order statistics are known without computing. */
static double *ladder(size_t n, double scale)
{
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = scale * (double)(i + 1);
    return v;
}

/* A policy of quantile metrics at p75 with the given names, tolerance and min_sample. */
static void edge_policy(struct cmp_policy *p, const char *const *names, size_t n, double tol,
                        size_t min_sample)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "edge");
    p->alpha = 0.05;
    for (size_t i = 0; i < n; i++) {
        snprintf(p->m[i].name, sizeof p->m[i].name, "%s", names[i]);
        p->m[i].kind = strcmp(names[i], "errors") == 0 ? CMP_RATE : CMP_QUANTILE;
        p->m[i].quantile = 0.75;
        p->m[i].tolerance = tol;
        p->m[i].weight = 1;
        p->m[i].min_sample = min_sample;
    }
    p->n = n;
}

/*
 * min_sample is a minimum: a canary with exactly min_sample page views, every metric
 * ready, is promoted; one page view fewer pauses. Both for a quantile metric and for the
 * error rate.
 */
static void test_min_sample_edge(void)
{
    static const char *const names[] = {"LCP", "errors"};
    struct cmp_policy p;
    struct cmp_data d[2];
    double *base = ladder(1000, 1);
    json_t *v;

    /* 1..1000 against itself at p75 is within +50% (bounds 664..837 at most apart by
     * 837 / 664 = 1.26 at alpha 0.05, wider but under 1.5 at 0.0125); no errors in
     * 100,000 and 5,000 page views is within +0.5 point. */
    edge_policy(&p, names, 2, 0.5, 1000);
    p.m[1].tolerance = 0.005;
    p.m[1].min_sample = 5000;
    d[0] = qdata("LCP", base, 1000, base, 1000);
    d[1] = rdata(0, 100000, 0, 5000);
    v = cmp_judge(&p, d, 2, CMP_POOLED);
    show(v);
    CHECK_STR(jstr(v, "decision"), "promote", "a canary with exactly min_sample page views,"
              " every metric ready, is promoted");
    CHECK(strcmp(result(v, "LCP"), "promote") == 0 && strcmp(result(v, "errors"), "promote") == 0,
          "both metrics promote at their min_sample (1,000 and 5,000)");
    json_decref(v);

    d[0] = qdata("LCP", base, 1000, base, 999);
    v = cmp_judge(&p, d, 2, CMP_POOLED);
    show(v);
    CHECK(strcmp(jstr(v, "decision"), "pause") == 0 && strcmp(result(v, "LCP"), "pause") == 0
          && has_reason(v, "the canary needs 1 more page views (1,000 in all): pause"),
          "min_sample - 1 page views of LCP pauses, one page view short");
    json_decref(v);

    d[0] = qdata("LCP", base, 1000, base, 1000);
    d[1] = rdata(0, 100000, 0, 4999);
    v = cmp_judge(&p, d, 2, CMP_POOLED);
    CHECK(strcmp(jstr(v, "decision"), "pause") == 0 && strcmp(result(v, "errors"), "pause") == 0
          && has_reason(v, "the canary needs 1 more page views (5,000 in all): pause"),
          "min_sample - 1 page views for errors pauses too");
    json_decref(v);

    /* The one-shot method applies the same minimum. */
    d[1] = rdata(0, 100000, 0, 5000);
    v = cmp_judge(&p, d, 2, CMP_MANN_WHITNEY);
    CHECK_STR(jstr(v, "decision"), "promote", "Mann-Whitney: exactly min_sample promotes");
    json_decref(v);
    d[0] = qdata("LCP", base, 1000, base, 999);
    v = cmp_judge(&p, d, 2, CMP_MANN_WHITNEY);
    CHECK_STR(result(v, "LCP"), "pause", "Mann-Whitney: min_sample - 1 pauses");
    json_decref(v);
    free(base);
}

/*
 * alpha is split over the bounds of the metrics compared, alpha / (2 x metrics compared),
 * and a metric without baseline data is not compared. With LCP, FCP and TTFB compared (INP
 * has an entry but no baseline values), each bound is at 0.05 / 6, where the p75 bounds of
 * 1..1000 are the order statistics 658 and 843:
 *
 *   /usr/bin/python3 -c '
 *   import math
 *   a = 0.05 / 6; e = 0.85*math.sqrt((math.log(math.log(math.e*1000)) + 0.8*math.log(1612/a))/1000)
 *   print(e, math.ceil(1000*(0.75 - e)), math.ceil(1000*(0.75 + e)))'
 *   0.09235719225436795 658 843
 *
 * So identical versions are ready exactly when 843 <= (1 + d) 658: a tolerance a hair above
 * 843 / 658 - 1 promotes, a hair below pauses. Any other split (0.05 / 5, 0.05 / 3, or
 * 0.05 / 8 with INP counted) moves the edge.
 */
static void test_bonferroni_edge(void)
{
    static const char *const names[] = {"LCP", "FCP", "TTFB", "INP"};
    double *v1000 = ladder(1000, 1), edge = 843.0 / 658.0 - 1;
    struct cmp_policy p;
    struct cmp_data d[4];
    json_t *v;

    d[0] = qdata("LCP", v1000, 1000, v1000, 1000);
    d[1] = qdata("FCP", v1000, 1000, v1000, 1000);
    d[2] = qdata("TTFB", v1000, 1000, v1000, 1000);
    d[3] = qdata("INP", NULL, 0, v1000, 1000);
    edge_policy(&p, names, 4, edge + 1e-9, 1000);
    v = cmp_judge(&p, d, 4, CMP_POOLED);
    show(v);
    const json_t *m = metric(v, "LCP");
    CHECK(json_number_value(json_object_get(v, "alpha_per_bound")) == 0.05 / 6
          && jnum_at(m, "baseline", "lower") == 658 && jnum_at(m, "baseline", "upper") == 843
          && jnum_at(m, "canary", "lower") == 658 && jnum_at(m, "canary", "upper") == 843,
          "three metrics compared (INP has no baseline values): each bound at 0.05 / 6, p75"
          " bounds of 1..1000 [658, 843]");
    CHECK(strcmp(jstr(v, "decision"), "promote") == 0 && strcmp(result(v, "INP"), "no data") == 0,
          "a tolerance just above 843 / 658 - 1 promotes");
    json_decref(v);
    edge_policy(&p, names, 4, edge - 1e-9, 1000);
    v = cmp_judge(&p, d, 4, CMP_POOLED);
    CHECK(strcmp(jstr(v, "decision"), "pause") == 0 && strcmp(result(v, "LCP"), "pause") == 0,
          "and just below it pauses");
    json_decref(v);
    free(v1000);
}

/*
 * Non-critical metrics that say roll back roll the canary back when their weights reach
 * half of the total weight of the metrics compared: exactly half rolls back, a hair under
 * half pauses. LCP of the canary is twice the baseline's (p75 bounds at 0.05 / 6 are the
 * 658th and 843rd of 1000, so L_c / U_b = 2 x 658 / 843 = 1.56 > 1.1); FCP and TTFB are
 * the same (U_c / L_b = 843 / 658 = 1.28 <= 1.5).
 */
static void test_weight_edge(void)
{
    static const char *const names[] = {"LCP", "FCP", "TTFB"};
    double *base = ladder(1000, 1), *twice = ladder(1000, 2);
    struct cmp_policy p;
    struct cmp_data d[3];
    json_t *v;
    static const struct {
        double w[3];
        const char *want, *what;
    } cases[] = {
        {{2, 1, 1}, "rollback", "2 of 4: exactly half rolls back"},
        {{1.5, 0.5, 1}, "rollback", "1.5 of 3: exactly half rolls back"},
        {{2 - 0x1p-20, 1, 1}, "pause", "2 - 2^-20 of 4 - 2^-20: just under half pauses"},
        {{1, 1, 1}, "pause", "1 of 3 pauses"},
    };

    edge_policy(&p, names, 3, 0.5, 1000);
    p.m[0].tolerance = 0.1;
    d[0] = qdata("LCP", base, 1000, twice, 1000);
    d[1] = qdata("FCP", base, 1000, base, 1000);
    d[2] = qdata("TTFB", base, 1000, base, 1000);
    for (size_t i = 0; i < NELEM(cases); i++) {
        for (size_t k = 0; k < 3; k++)
            p.m[k].weight = cases[i].w[k];
        v = cmp_judge(&p, d, 3, CMP_POOLED);
        show(v);
        CHECK(strcmp(jstr(v, "decision"), cases[i].want) == 0
              && strcmp(result(v, "LCP"), "rollback") == 0
              && strcmp(result(v, "FCP"), "promote") == 0, "weights %g, %g, %g: %s",
              cases[i].w[0], cases[i].w[1], cases[i].w[2], cases[i].what);
        json_decref(v);
    }
    free(base);
    free(twice);
}

/* --- policy files (positions count from 1, in characters, as jansson's do) -------------------------------------------------------------------- */

static char dir[64];

/* Writes text to a policy file in the test directory and loads it; returns its path in
 * path and the loader's message in err. */
static int load(const char *name, const char *text, struct cmp_policy *p, char *path,
                char *err, size_t errlen)
{
    snprintf(path, 128, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    err[0] = 0;
    return cmp_policy_load(path, p, err, errlen);
}

static void expect_error(const char *name, const char *text, const char *want)
{
    struct cmp_policy p;
    char path[128], err[512], full[512];
    int rc = load(name, text, &p, path, err, sizeof err);
    snprintf(full, sizeof full, "%s:%s", path, want);
    CHECK(rc < 0, "%s is refused", name);
    CHECK_STR(err, full, "%s: message", name);
    unlink(path);
}

static void test_policy_files(void)
{
    struct cmp_policy p;
    char path[128], err[512];

    snprintf(dir, sizeof dir, "/tmp/test_cmp.XXXXXX");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    int rc = load("strict.json",
                  "{\"name\": \"strict\", \"alpha\": 0.01,\n"
                  " \"metrics\": {\n"
                  "  \"INP\": {\"quantile\": 0.9, \"tolerance\": 0.2, \"weight\": 2,"
                  " \"critical\": true, \"min_sample\": 500},\n"
                  "  \"errors\": {\"tolerance\": 0.002},\n"
                  "  \"checkout.ms\": {\"tolerance\": 0.05, \"weight\": 0}\n"
                  " }}\n", &p, path, err, sizeof err);
    CHECK(rc == 0, "a valid policy file loads (%s)", err);
    CHECK(strcmp(p.name, "strict") == 0 && p.alpha == 0.01 && p.n == 3, "name, alpha, 3 metrics");
    CHECK(strcmp(p.m[0].name, "INP") == 0 && p.m[0].kind == CMP_QUANTILE
          && p.m[0].quantile == 0.9 && p.m[0].tolerance == 0.2 && p.m[0].weight == 2
          && p.m[0].critical && p.m[0].min_sample == 500, "INP as written");
    CHECK(strcmp(p.m[1].name, "errors") == 0 && p.m[1].kind == CMP_RATE
          && p.m[1].tolerance == 0.002 && p.m[1].weight == 1 && !p.m[1].critical
          && p.m[1].min_sample == 1000, "errors with defaults (weight 1, 1000 page views)");
    CHECK(strcmp(p.m[2].name, "checkout.ms") == 0 && p.m[2].quantile == 0.75
          && p.m[2].weight == 0 && p.m[2].min_sample == 200, "a custom metric, p75 by default");
    unlink(path);
    rc = load("team-a.json", "{\"metrics\": {\"LCP\": {\"tolerance\": 0.1}}}", &p, path, err,
              sizeof err);
    CHECK(rc == 0 && strcmp(p.name, "team-a") == 0 && p.alpha == 0.05,
          "without a name the policy is named after its file; alpha defaults to 0.05");
    unlink(path);

    expect_error("typo.json",
                 "{\"metrics\": {\n"
                 "  \"LCP\": {\"tolerence\": 0.1}\n"
                 "}}\n",
                 "2:11: unknown key \"tolerence\" in metric \"LCP\"; did you mean \"tolerance\"?");
    expect_error("top.json", "{\"alfa\": 0.05, \"metrics\": {}}",
                 "1:2: unknown key \"alfa\" in the policy; did you mean \"alpha\"?");
    expect_error("syntax.json", "{\"metrics\": {\n  \"LCP\": {\"tolerance\": 0.1,}\n}}",
                 "2:28: string or '}' expected near '}'");
    expect_error("alpha.json", "{\"alpha\": 0.7, \"metrics\": {\"LCP\": {\"tolerance\": 0.1}}}",
                 "1:11: \"alpha\" must be a number in (0, 0.5], not 0.7");
    expect_error("quantile.json", "{\"metrics\": {\"LCP\": {\"quantile\": 1, \"tolerance\": 0.1}}}",
                 "1:34: \"quantile\" must be a number between 0 and 1 (exclusive), not 1");
    expect_error("tolerance.json", "{\"metrics\": {\"LCP\": {\"tolerance\": -0.1}}}",
                 "1:35: \"tolerance\" must be a number >= 0, not -0.1");
    expect_error("weight.json", "{\"metrics\": {\"LCP\": {\"tolerance\": 0.1, \"weight\": \"1\"}}}",
                 "1:50: \"weight\" must be a number >= 0");
    expect_error("rate.json", "{\"metrics\": {\"errors\": {\"quantile\": 0.5, \"tolerance\": 0.001}}}",
                 "1:25: \"quantile\" does not apply to errors, a rate of page views");
    expect_error("case.json", "{\"metrics\": {\"lcp\": {\"tolerance\": 0.1}}}",
                 "1:14: unknown metric \"lcp\"; did you mean \"LCP\"?");
    expect_error("name.json", "{\"metrics\": {\"Checkout\": {\"tolerance\": 0.1}}}",
                 "1:14: unknown metric \"Checkout\": must be LCP, INP, CLS, FCP, TTFB, errors or"
                 " a custom metric (a lowercase letter, then a-z 0-9 _ .)");
    expect_error("missing.json", "{\"metrics\": {\"LCP\": {\"weight\": 2}}}",
                 "1:21: metric \"LCP\" needs a \"tolerance\" (relative: 0.1 is +10%)");
    expect_error("empty.json", "{\"metrics\": {}}",
                 "1:13: \"metrics\" must be an object with at least one metric");
    expect_error("critical.json", "{\"metrics\": {\"LCP\": {\"tolerance\": 0.1, \"critical\": 1}}}",
                 "1:52: \"critical\" must be true or false");
    expect_error("min.json", "{\"metrics\": {\"LCP\": {\"tolerance\": 0.1, \"min_sample\": 1.5}}}",
                 "1:54: \"min_sample\" must be a whole number of page views from 0 to 1000000000000");
    expect_error("array.json", "[1]", "1:1: a policy must be an object with \"metrics\"");
    expect_error("dup.json", "{\"metrics\": {\"LCP\": {\"tolerance\": 0.1},\n"
                 " \"LCP\": {\"tolerance\": 0.2}}}",
                 "2:6: duplicate object key near '\"LCP\"'");

    rc = load("kinds.json", "{\"method\": \"pooled\", \"metrics\": {\n"
              " \"CLS\": {\"tolerance\": 0.02, \"tolerance_kind\": \"absolute\"},\n"
              " \"errors\": {\"tolerance\": 0.5, \"rollback_tolerance\": 0.1,"
              " \"tolerance_kind\": \"relative\"},\n \"LCP\": {\"tolerance\": 0.1}}}", &p, path,
              err, sizeof err);
    CHECK(rc == 0 && p.method_set && p.method == CMP_POOLED
          && cmp_tolerance_absolute(&p.m[0]) && cmp_rollback_tolerance(&p.m[0]) == 0.02
          && !cmp_tolerance_absolute(&p.m[1]) && cmp_rollback_tolerance(&p.m[1]) == 0.1
          && !cmp_tolerance_absolute(&p.m[2]) && cmp_rollback_tolerance(&p.m[2]) == 0.1,
          "method, tolerance_kind and rollback_tolerance load; rollback_tolerance defaults to"
          " the tolerance (%s)", err);
    unlink(path);
    expect_error("kind.json", "{\"metrics\": {\"CLS\": {\"tolerance\": 0.02,"
                 " \"tolerance_kind\": \"abs\"}}}",
                 "1:59: \"tolerance_kind\" must be \"relative\" (0.1 is +10%) or \"absolute\""
                 " (in the metric's unit)");
    expect_error("floor.json", "{\"metrics\": {\"LCP\": {\"tolerance\": 0.1, \"floor\": 0.01}}}",
                 "1:40: \"floor\" applies to errors only");
    expect_error("method.json", "{\"method\": \"t-test\", \"metrics\": {\"LCP\": {\"tolerance\":"
                 " 0.1}}}", "1:12: \"method\" must be \"sequential\", \"pooled\" or"
                 " \"mann-whitney\"");

    rc = cmp_policy_load("/nonexistent/policy.json", &p, err, sizeof err);
    CHECK(rc < 0 && strstr(err, "/nonexistent/policy.json: cannot open: "),
          "a missing file is named (%s)", err);
    rmdir(dir);
}

int main(void)
{
    test_mann_whitney();
    test_hodges_lehmann();
    test_bounds();
    test_builtin();
    test_decisions();
    test_min_sample_edge();
    test_bonferroni_edge();
    test_weight_edge();
    qdata_free();
    test_policy_files();
    return check_done();
}
