/*
 * The sequential method of shared/cmp.c (CMP_SEQUENTIAL): two-sample tests within time
 * slices. Each case is built so that its answer is known by hand:
 *  - a traffic mix that shifts while the canary's share changes, identical within every
 *    slice: the pooled comparison sees a slower canary and rolls it back, the comparison
 *    within slices does not;
 *  - one slice of errors, 40 of 1,000 canary page views against 200 of 10,000: the rate
 *    ratio's estimate solves k / (m - k) = e^theta pi0 / (1 - pi0), so e^theta =
 *    (40 / 200) (10,000 / 1,000) = 2 exactly;
 *  - CLS with 80% exact zeros in both versions: p75 is 0; the reason says so and the
 *    bounds on the difference are numbers, not nulls.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cmp.h"
#include "stats.h"

/* n values evenly over [lo, hi], sorted. */
static double *ladder(size_t n, double lo, double hi)
{
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * ((double)i + 0.5) / (double)n;
    return v;
}

static const json_t *metric(const json_t *v, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(v, "metrics"), i, m)
        if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
            return m;
    return NULL;
}

static const char *decision(const json_t *v)
{
    return json_string_value(json_object_get(v, "decision"));
}

static void test_drift(void)
{
    /* Slices of (baseline, canary) page views: fast users first while the canary has 10%
     * of the traffic, slow users (3 times slower) later while it has 90%. */
    static const size_t nb[] = {900, 900, 900, 100, 100, 100}, nc[] = {100, 100, 100, 900, 900, 900};
    static const double scale[] = {1, 1, 1, 3, 3, 3};
    struct sketch_bins b[6], c[6], tb, tc;
    struct cmp_slice sl[6];
    double *all_b = malloc(3000 * sizeof(double)), *all_c = malloc(3000 * sizeof(double));
    size_t kb = 0, kc = 0;
    struct cmp_policy p;

    cmp_policy_builtin("conservative", &p);
    for (int i = 0; i < 6; i++) {
        double *vb = ladder(nb[i], 1000 * scale[i], 2000 * scale[i]);
        double *vc = ladder(nc[i], 1000 * scale[i], 2000 * scale[i]);
        sketch_bins_exact(vb, nb[i], &b[i]);
        sketch_bins_exact(vc, nc[i], &c[i]);
        memcpy(all_b + kb, vb, nb[i] * sizeof(double));
        memcpy(all_c + kc, vc, nc[i] * sizeof(double));
        kb += nb[i];
        kc += nc[i];
        sl[i] = (struct cmp_slice){.base = &b[i], .canary = &c[i]};
        free(vb);
        free(vc);
    }
    stats_sort(all_b, kb);
    stats_sort(all_c, kc);
    sketch_bins_exact(all_b, kb, &tb);
    sketch_bins_exact(all_c, kc, &tc);
    struct cmp_data d = {.name = "LCP", .base = &tb, .canary = &tc, .slices = sl, .nslices = 6};
    json_t *seq = cmp_judge(&p, &d, 1, CMP_SEQUENTIAL);
    d.slices = NULL;
    d.nslices = 0;
    json_t *pooled = cmp_judge(&p, &d, 1, CMP_POOLED);
    CHECK_STR(decision(pooled), "rollback", "drift: pooled over the window, the canary (mostly"
              " slow users) looks 3 times slower and is rolled back");
    CHECK(strcmp(decision(seq), "rollback") != 0, "drift: compared within slices, identical in"
          " each, it is not rolled back (%s)", decision(seq));
    const json_t *m = metric(seq, "LCP"), *bd = json_object_get(m, "bounds");
    double lo = json_number_value(json_array_get(bd, 0)), hi = json_number_value(json_array_get(bd, 1));
    CHECK(json_is_number(json_array_get(bd, 0)) && json_is_number(json_array_get(bd, 1))
          && lo < 1 && hi > 1, "drift: its ratio bounds %.3f..%.3f hold 1", lo, hi);
    json_decref(seq);
    json_decref(pooled);
    for (int i = 0; i < 6; i++) {
        sketch_bins_fini(&b[i]);
        sketch_bins_fini(&c[i]);
    }
    sketch_bins_fini(&tb);
    sketch_bins_fini(&tc);
    free(all_b);
    free(all_c);
}

static void test_errors(void)
{
    struct cmp_policy p;
    cmp_policy_builtin("conservative", &p);
    struct cmp_data d = {.name = "errors", .base_hits = 200, .base_views = 10000,
                         .canary_hits = 40, .canary_views = 1000};
    json_t *v = cmp_judge(&p, &d, 1, CMP_SEQUENTIAL);
    const json_t *m = metric(v, "errors");
    double ratio = json_number_value(json_object_get(m, "ratio"));
    CHECK(fabs(ratio - 2) < 1e-9, "errors 4%% vs 2%%: the rate ratio's estimate is 2 (%.12f)",
          ratio);
    CHECK_STR(decision(v), "rollback", "errors 40 of 1,000 vs 200 of 10,000: rolled back");
    const json_t *rb = json_object_get(m, "ratio_bounds");
    CHECK(json_number_value(json_array_get(rb, 0)) > 1 && json_number_value(json_array_get(rb, 1)) > 2,
          "its ratio bounds %.3f..%.3f lie above 1 and hold 2",
          json_number_value(json_array_get(rb, 0)), json_number_value(json_array_get(rb, 1)));
    json_decref(v);

    /* No errors at all, in either version: nothing is known of the ratio; pause. */
    d.base_hits = d.canary_hits = 0;
    v = cmp_judge(&p, &d, 1, CMP_SEQUENTIAL);
    CHECK_STR(decision(v), "pause", "no errors in 11,000 page views: pause (the split of no"
              " events says nothing, and 1,000 canary page views do not show its rate within"
              " the 0.3-point floor)");
    json_decref(v);

    /* No errors in 6,000 page views of each: the canary's rate bound (about 0.2%: 0 of n
     * gives roughly n q = 11 at this level) is within the 0.3-point floor. */
    d.base_views = d.canary_views = 6000;
    v = cmp_judge(&p, &d, 1, CMP_SEQUENTIAL);
    m = metric(v, "errors");
    CHECK_STR(decision(v), "promote", "no errors in 6,000 page views of each: promoted on the"
              " floor");
    CHECK(strstr(json_string_value(json_object_get(m, "reason")), "the floor") != NULL,
          "and the reason says so (%s)", json_string_value(json_object_get(m, "reason")));
    json_decref(v);
}

static void test_zero_quantile(void)
{
    /* 80% zeros, then 0.01..0.2: p75 = 0 in both. */
    double *vb = calloc(1000, sizeof(double)), *vc = calloc(500, sizeof(double));
    double *tb = ladder(200, 0.01, 0.2), *tcn = ladder(100, 0.01, 0.2);
    struct sketch_bins b, c;
    struct cmp_policy p;

    memcpy(vb + 800, tb, 200 * sizeof(double));
    memcpy(vc + 400, tcn, 100 * sizeof(double));
    sketch_bins_exact(vb, 1000, &b);
    sketch_bins_exact(vc, 500, &c);
    cmp_policy_builtin("conservative", &p);
    struct cmp_data d = {.name = "CLS", .base = &b, .canary = &c};
    json_t *v = cmp_judge(&p, &d, 1, CMP_SEQUENTIAL);
    const json_t *m = metric(v, "CLS"), *bd = json_object_get(m, "bounds");
    const char *reason = json_string_value(json_object_get(m, "reason"));
    CHECK(reason && strstr(reason, "the baseline's p75 is 0 because 80% of its values are 0")
          && strstr(reason, "the canary's p75 is 0 because 80% of its values are 0"),
          "CLS p75 = 0: the reason says why (%s)", reason);
    CHECK(json_is_number(json_array_get(bd, 0)) && json_is_number(json_array_get(bd, 1))
          && json_is_number(json_object_get(m, "difference")),
          "CLS p75 = 0: the difference and its bounds are numbers");
    CHECK_STR(json_string_value(json_object_get(m, "tolerance_kind")), "absolute",
              "CLS is judged on an absolute tolerance");
    json_decref(v);
    sketch_bins_fini(&b);
    sketch_bins_fini(&c);
    free(vb);
    free(vc);
    free(tb);
    free(tcn);
}

int main(void)
{
    test_drift();
    test_errors();
    test_zero_quantile();
    return check_done();
}
