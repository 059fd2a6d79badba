/*
 * shared/seqtest.c: the mixture e-value of the split of events between two versions.
 * Reference values come from an independent Python implementation of the formula in
 * shared/seqtest.h (L(theta) = sum k_s theta - m_s log(1 - pi0_s + pi0_s e^theta), mixed
 * over a half-normal grid of 24 points of scale 0.5 on [0, 2]), computed once and kept
 * here as data.
 */
#include <math.h>

#include "check.h"
#include "seqtest.h"

static int near(double a, double b, double tol)
{
    return fabs(a - b) <= tol;
}

int main(void)
{
    static const struct seqtest_slice a[] = {{5, 20, 0.1}, {3, 10, 0.2}};
    static const struct seqtest_slice b[] = {{30, 200, 0.0909}, {25, 220, 0.0909},
                                             {40, 210, 0.0909}};
    static const struct seqtest_slice none[] = {{0, 0, 0.5}, {3, 3, 0}, {2, 2, 1}};
    double v, lo, hi;

    v = seqtest_log_e(a, 2, 0, 1, 0.5);
    CHECK(near(v, 1.2464143990215986, 1e-9), "two slices, side +1 at theta0 0: log e %.12f"
          " (reference 1.246414399022)", v);
    v = seqtest_log_e(a, 2, 0, -1, 0.5);
    CHECK(near(v, -1.181019934754215, 1e-9), "side -1: log e %.12f (reference -1.181019934754)",
          v);
    v = seqtest_log_e(a, 2, log(2), 1, 0.5);
    CHECK(near(v, -0.15457559035860946, 1e-9), "side +1 at theta0 log 2: %.12f (reference"
          " -0.154575590359)", v);
    v = seqtest_log_e(b, 3, 0, 1, 0.5);
    CHECK(near(v, 10.171248833190624, 1e-8), "95 of 630 events against a 9.09%% share: log e"
          " %.9f (reference 10.171248833)", v);
    v = seqtest_log_e(b, 3, 0, -1, 0.5);
    CHECK(near(v, -3.6080944792069944, 1e-8), "and the other side %.9f (reference"
          " -3.608094479)", v);
    v = seqtest_mle(a, 2, 20);
    CHECK(near(v, 0.8824225281954716, 1e-9), "the estimate %.12f (reference 0.882422528195)",
          v);
    CHECK(near(seqtest_log_e(none, 3, 0, 1, 0.5), 0, 1e-12) && near(seqtest_log_e(none, 3, 0, -1, 0.5), 0, 1e-12)
          && seqtest_mle(none, 3, 20) == 0, "slices without events or with a share of 0 or 1"
          " add no evidence");

    /* Bounds invert the tests: at the lower bound side +1 just stops rejecting. */
    seqtest_bounds(b, 3, 0.05, 0.05, 0.5, 0.5, log(64), &lo, &hi);
    CHECK(lo > 0 && lo < 0.5743 && hi > 0.5743, "bounds %.4f..%.4f hold the estimate 0.5743 and"
          " exclude 0 (the share is well above 9.09%%)", lo, hi);
    CHECK(seqtest_log_e(b, 3, lo - 1e-6, 1, 0.5) >= log(20) && seqtest_log_e(b, 3, lo + 1e-6, 1, 0.5)
          < log(20), "at the lower bound the side +1 e-value crosses 1/alpha");
    CHECK(seqtest_log_e(b, 3, hi + 1e-6, -1, 0.5) >= log(20) && seqtest_log_e(b, 3, hi - 1e-6, -1, 0.5)
          < log(20), "at the upper bound the side -1 e-value crosses 1/alpha");
    seqtest_bounds(none, 3, 0.05, 0.05, 0.5, 0.5, 4, &lo, &hi);
    CHECK(lo == -4 && hi == 4, "without events both bounds stay open (%g..%g)", lo, hi);
    return check_done();
}
