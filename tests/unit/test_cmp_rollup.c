/*
 * The comparator on rollups: the same samples as exact bins (every raw value) and as a
 * sketch's bins (what the per-minute rollups keep), shared/README.md "Rollups and the
 * comparator". The references are the exact computation on the raw values, which
 * tests/unit/test_cmp.c checks against scipy:
 *  - every quantile bound from the sketch lies outside the exact one by at most one
 *    bucket: X_(k) / gamma <= L_sketch <= X_(k) and X_(j) <= U_sketch <= gamma X_(j);
 *  - point estimates are within the relative accuracy a;
 *  - decisions on the comparator's scenarios (test_cmp.c's samples, regenerated with the
 *    same seed, and CLS with 75% zeros) are the same from both;
 *  - Mann-Whitney and Hodges-Lehmann on sketch bins equal the exact computation on the
 *    raw values each replaced by its bucket's representative (ties within a bucket).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "rng.h"
#include "cmp.h"
#include "../stat/policy_v1.h"
#include "sketch.h"
#include "stats.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define GAMMA ((1 + SKETCH_ACCURACY) / (1 - SKETCH_ACCURACY))
/* Slack for the last bit of a division by gamma. */
#define ULP (1 + 1e-12)


/* n log-normal values with the given median and sigma, a share of them replaced by 0,
 * sorted. */

static double *sample(size_t n, double median, double sigma, double zeros)
{
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = median * exp(sigma * rng_normal());
        if (zeros > 0 && rng_unit() < zeros)
            v[i] = 0;
    }
    stats_sort(v, n);
    return v;
}

/* A sample in both forms. */
struct both {
    const char *name;
    double *v;                  /* raw, sorted */
    size_t n;
    struct sketch_bins exact, rolled;
};

static void both_init(struct both *b, const char *name, double *v, size_t n)
{
    struct sketch s;
    b->name = name;
    b->v = v;
    b->n = n;
    sketch_init(&s);
    for (size_t i = 0; i < n; i++)
        sketch_add(&s, v[i], 1);
    if (sketch_bins_exact(v, n, &b->exact) < 0 || sketch_bins_of(&s, &b->rolled) < 0) {
        fprintf(stderr, "test_cmp_rollup: out of memory\n");
        exit(2);
    }
    sketch_fini(&s);
}

static void both_fini(struct both *b)
{
    free(b->v);
    sketch_bins_fini(&b->exact);
    sketch_bins_fini(&b->rolled);
}

/* The raw values each replaced by the representative of its bucket (0 for zeros): what
 * the sketch keeps of them, as a plain array. */
static double *rounded(const struct both *b)
{
    double *r = malloc((b->n ? b->n : 1) * sizeof *r);
    for (size_t i = 0; i < b->n; i++)
        r[i] = b->v[i] < SKETCH_MIN_VALUE ? 0 : sketch_value(sketch_index(b->v[i]));
    return r;
}

/* The lower bound from the sketch against the exact one: one bucket further out at most. */
static int lower_ok(double sk, double ex)
{
    if (isinf(ex))
        return sk == ex;
    if (ex < SKETCH_MIN_VALUE)
        return sk == 0;
    return sk <= ex && sk * ULP >= ex / GAMMA;
}

static int upper_ok(double sk, double ex)
{
    if (isinf(ex))
        return sk == ex;
    if (ex < SKETCH_MIN_VALUE)
        return sk == 0;
    return sk >= ex && sk <= ex * GAMMA * ULP;
}

static void test_bounds(struct both *s, size_t ns)
{
    static const double ps[] = {0.5, 0.75, 0.9, 0.95, 0.99};
    static const double alphas[] = {0.05, 0.0125, 0.001};
    for (size_t i = 0; i < ns; i++) {
        int bad = 0, eq = 0, cases = 0;
        double worst = 0;
        for (size_t a = 0; a < NELEM(alphas); a++) {
            for (size_t k = 0; k < NELEM(ps); k++) {
                double lr, hr, le, he, lb, hb;
                cmp_quantile_bounds(s[i].v, s[i].n, ps[k], alphas[a], &lr, &hr);
                cmp_quantile_bounds_bins(&s[i].exact, ps[k], alphas[a], &le, &he);
                cmp_quantile_bounds_bins(&s[i].rolled, ps[k], alphas[a], &lb, &hb);
                eq += le == lr && he == hr;
                bad += !lower_ok(lb, le) || !upper_ok(hb, he);
                cases++;
            }
        }
        for (int k = 0; k <= 100; k++) {
            double p = k / 100.0, e = stats_quantile(s[i].v, s[i].n, p);
            double r = sketch_bins_quantile(&s[i].rolled, p);
            worst = fmax(worst, e > 0 ? fabs(r - e) / e : fabs(r - e));
        }
        CHECK(eq == cases, "%s: exact bins give the array's bounds (%d of %d)", s[i].name, eq,
              cases);
        CHECK(bad == 0, "%s: every sketch bound is the exact one widened by at most one bucket"
              " (%d of %d not)", s[i].name, bad, cases);
        CHECK(worst <= SKETCH_ACCURACY * ULP, "%s: percentiles from the sketch within %g"
              " (worst %.5f)", s[i].name, SKETCH_ACCURACY, worst);
    }
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static double jnum_at(const json_t *m, const char *version, const char *key)
{
    const json_t *v = json_object_get(json_object_get(m, version), key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Judges one scenario from exact bins and from sketch bins and compares: the same
 * decision (want, when not NULL), or with edge set, a decision from the exact values and
 * pause from the sketch. */
static void judge_both(const char *what, const struct cmp_policy *p, const char *metric,
                       const struct both *base, const struct both *can, enum cmp_method m,
                       const char *want, int edge)
{
    struct cmp_data de = {.name = metric, .base = &base->exact, .canary = &can->exact};
    struct cmp_data dr = {.name = metric, .base = &base->rolled, .canary = &can->rolled};
    json_t *ve = cmp_judge(p, &de, 1, m), *vr = cmp_judge(p, &dr, 1, m);
    const char *me = m == CMP_POOLED ? "pooled" : "Mann-Whitney";

    if (edge) {
        CHECK(strcmp(jstr(vr, "decision"), "pause") == 0
              && strcmp(jstr(ve, "decision"), "pause") != 0, "%s, %s: at the edge the sketch"
              " pauses where the exact values decide (%s), never the reverse", what, me,
              jstr(ve, "decision"));
    } else {
        CHECK_STR(jstr(vr, "decision"), jstr(ve, "decision"), "%s, %s: the sketch decides as"
                  " the exact values do", what, me);
        if (want)
            CHECK_STR(jstr(ve, "decision"), want, "%s, %s: and that is %s", what, me, want);
    }

    size_t i;
    json_t *me_, *mr;
    json_array_foreach(json_object_get(ve, "metrics"), i, me_) {
        mr = json_array_get(json_object_get(vr, "metrics"), i);
        if (strcmp(jstr(me_, "name"), metric) != 0)
            continue;
        printf("# %s, %s: exact: %s\n# sketch: %s\n", what, me, jstr(me_, "reason"),
               jstr(mr, "reason"));
        int ok = 1;
        for (int k = 0; k < 2; k++) {
            const char *ver = k ? "canary" : "baseline";
            double ee = jnum_at(me_, ver, "value"), er = jnum_at(mr, ver, "value");
            ok &= isnan(ee) ? isnan(er) : fabs(er - ee) <= SKETCH_ACCURACY * ee * ULP;
            if (m == CMP_POOLED) {
                double le = jnum_at(me_, ver, "lower"), lr = jnum_at(mr, ver, "lower");
                double he = jnum_at(me_, ver, "upper"), hr = jnum_at(mr, ver, "upper");
                ok &= (isnan(le) ? isnan(lr) : lower_ok(lr, le))
                      && (isnan(he) ? isnan(hr) : upper_ok(hr, he));
            }
        }
        CHECK(ok, "%s, %s: its values within %g, its bounds at most a bucket wider", what, me,
              SKETCH_ACCURACY);
    }
    json_decref(ve);
    json_decref(vr);
}

/* Mann-Whitney and Hodges-Lehmann on sketch bins against the array functions on the
 * rounded raw values. */
static void test_rank_tests(const struct both *x, const struct both *y)
{
    double *rx = rounded(x), *ry = rounded(y);
    double p_bins, p_arr, lo_b, hi_b, lo_a, hi_a;
    static const int alts[] = {1, -1, 0};
    for (size_t a = 0; a < NELEM(alts); a++) {
        double u_bins = cmp_mann_whitney_bins(&x->rolled, &y->rolled, alts[a], &p_bins);
        double u_arr = cmp_mann_whitney(rx, x->n, ry, y->n, alts[a], &p_arr);
        CHECK(u_bins == u_arr && p_bins == p_arr, "%s vs %s, alternative %d: Mann-Whitney on"
              " the sketch is the test on the values rounded to their buckets (U %g p %.6g)",
              x->name, y->name, alts[a], u_bins, p_bins);
    }
    double est_b = cmp_hodges_lehmann_bins(&x->rolled, &y->rolled, 0.05, &lo_b, &hi_b);
    double est_a = cmp_hodges_lehmann(rx, x->n, ry, y->n, 0.05, &lo_a, &hi_a);
    CHECK(est_b == est_a && lo_b == lo_a && hi_b == hi_a, "%s vs %s: Hodges-Lehmann too (%g"
          " [%g, %g])", x->name, y->name, est_b, lo_b, hi_b);
    free(rx);
    free(ry);
}

/* Hodges-Lehmann stays fast on big samples: a sketch has a few hundred bins whatever the
 * number of values. */
static void test_speed(void)
{
    struct both x, y;
    both_init(&x, "x", sample(300000, 2600, 0.5, 0), 300000);
    both_init(&y, "y", sample(900000, 2300, 0.5, 0), 900000);
    struct timespec t0, t1;
    double lo, hi, p;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double est = cmp_hodges_lehmann_bins(&x.rolled, &y.rolled, 0.05, &lo, &hi);
    cmp_mann_whitney_bins(&x.rolled, &y.rolled, 1, &p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(s < 0.5 && lo < est && est < hi && est > 250 && est < 350,
          "Hodges-Lehmann and Mann-Whitney of 300,000 x 900,000 values from %zu x %zu bins"
          " in %.3f s: shift %.0f [%.0f, %.0f] (medians 300 apart)", x.rolled.n, y.rolled.n, s,
          est, lo, hi);
    both_fini(&x);
    both_fini(&y);
}

int main(void)
{
    struct cmp_policy cons, aggr, cls, cls2;
    policy_v1("conservative", &cons);
    policy_v1("aggressive", &aggr);

    /* test_cmp.c's test_decisions() draws these first, in this order, from this seed. */
    struct both s[7];
    double *base = sample(6000, 2300, 0.5, 0), *worse = sample(3000, 2300 * 1.3, 0.5, 0);
    double *same = sample(6000, 2300, 0.5, 0), *small = sample(50, 2300, 0.5, 0);
    both_init(&s[0], "LCP baseline", base, 6000);
    both_init(&s[1], "LCP +30%", worse, 3000);
    both_init(&s[2], "LCP same", same, 6000);
    both_init(&s[3], "LCP 50 page views", small, 50);
    /* CLS: 75% zeros, the rest log-normal around 0.05; the canary shifts more often. */
    both_init(&s[4], "CLS baseline", sample(8000, 0.05, 1.0, 0.75), 8000);
    both_init(&s[5], "CLS same", sample(8000, 0.05, 1.0, 0.75), 8000);
    both_init(&s[6], "CLS worse", sample(4000, 0.08, 1.0, 0.5), 4000);

    test_bounds(s, NELEM(s));

    /* A policy on CLS at p90, where its values are not zero. */
    memset(&cls, 0, sizeof cls);
    snprintf(cls.name, sizeof cls.name, "cls");
    cls.alpha = 0.05;
    cls.n = 1;
    snprintf(cls.m[0].name, sizeof cls.m[0].name, "CLS");
    cls.m[0].kind = CMP_QUANTILE;
    cls.m[0].quantile = 0.9;
    cls.m[0].tolerance = 0.5;
    cls.m[0].weight = 1;
    cls.m[0].min_sample = 200;
    cls2 = cls;
    cls2.m[0].tolerance = 0.3;

    for (int m = 0; m < 2; m++) {
        enum cmp_method me = m ? CMP_MANN_WHITNEY : CMP_POOLED;
        judge_both("LCP +30%, conservative", &cons, "LCP", &s[0], &s[1], me, "rollback", 0);
        judge_both("LCP same, aggressive", &aggr, "LCP", &s[0], &s[2], me, "promote", 0);
        judge_both("LCP same, conservative", &cons, "LCP", &s[0], &s[2], me,
                   m ? "promote" : "pause", 0);
        judge_both("LCP 50 page views, conservative", &cons, "LCP", &s[0], &s[3], me, "pause",
                   0);
        judge_both("CLS p75 same, conservative", &cons, "CLS", &s[4], &s[5], me, NULL, 0);
        /* The Hodges-Lehmann shift of samples that are mostly zeros is 0: Mann-Whitney
         * promotes what the quantile bounds roll back, from exact values and sketch alike. */
        judge_both("CLS p75 worse, conservative", &cons, "CLS", &s[4], &s[6], me,
                   m ? "promote" : "rollback", 0);
        judge_both("CLS p90 same, +50%", &cls, "CLS", &s[4], &s[5], me, NULL, 0);
        judge_both("CLS p90 worse, +30%", &cls2, "CLS", &s[4], &s[6], me,
                   m ? "promote" : "rollback", 0);
    }
    /* The exact bounds put the canary's CLS p90 at +53% or more, just past a 50% tolerance;
     * the sketch's, a bucket wider on each side, at +49%: it pauses. */
    judge_both("CLS p90 worse, +50%", &cls, "CLS", &s[4], &s[6], CMP_POOLED, NULL, 1);

    test_rank_tests(&s[1], &s[0]);
    test_rank_tests(&s[2], &s[0]);
    test_rank_tests(&s[6], &s[4]);
    test_rank_tests(&s[3], &s[0]);
    test_speed();

    for (size_t i = 0; i < NELEM(s); i++)
        both_fini(&s[i]);
    return check_done();
}
