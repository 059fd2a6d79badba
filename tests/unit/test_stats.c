/*
 * Unit tests for shared/stats.c: stats_quantile against another implementation of
 * Hyndman and Fan's type 7, and stats_sort.
 *
 * The reference quantiles below were computed once with Python 3.11's statistics module,
 * whose method='inclusive' is type 7 (R's and NumPy's default):
 *
 *   python3 -c 'import statistics
 *   P = [1, 5, 10, 25, 33, 50, 67, 75, 90, 95, 99]
 *   for d in (two, even, odd, ties, same, lcp_arrived):  # the arrays below, as lists
 *       q = statistics.quantiles(d, n=100, method="inclusive")
 *       print(", ".join("{%d, %r}" % (p, q[p - 1]) for p in P))'
 *
 * statistics.quantiles only gives the cut points strictly inside (0, 1) and (in 3.11)
 * needs two values at least, so p = 0, p = 1 and n = 1 are checked against type 7's
 * definition instead: Q(0) is the smallest value, Q(1) the largest, and with one value
 * every quantile is that value.
 */
#include <math.h>
#include <stddef.h>

#include "check.h"
#include "stats.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A reference point: the percentile (p = pct / 100) and the quantile Python gave. */
struct ref {
    int pct;
    double want;
};

static int close_to(double got, double want)
{
    return fabs(got - want) <= 1e-12 * fabs(want);
}

/* Checks every reference point of one sorted data set, plus p = 0 and p = 1. */
static void check_set(const char *name, const double *v, size_t n, const struct ref *refs,
                      size_t nrefs)
{
    for (size_t i = 0; i < nrefs; i++) {
        double got = stats_quantile(v, n, refs[i].pct / 100.0);
        CHECK(close_to(got, refs[i].want), "%s (n=%zu): p%02d is %.17g (got %.17g)", name, n,
              refs[i].pct, refs[i].want, got);
    }
    CHECK(stats_quantile(v, n, 0.0) == v[0], "%s: p=0 is the smallest value", name);
    CHECK(stats_quantile(v, n, 1.0) == v[n - 1], "%s: p=1 is the largest value", name);
}

static const double two[] = {10.0, 20.0};
static const struct ref two_ref[] = {
    {1, 10.1}, {5, 10.5}, {10, 11.0}, {25, 12.5}, {33, 13.3}, {50, 15.0}, {67, 16.7},
    {75, 17.5}, {90, 19.0}, {95, 19.5}, {99, 19.9},
};

static const double even[] = {1.0, 2.75, 3.5, 4.0, 6.0, 7.25, 8.0, 9.125, 12.0, 15.5};
static const struct ref even_ref[] = {
    {1, 1.1575}, {5, 1.7875}, {10, 2.575}, {25, 3.625}, {33, 3.985}, {50, 6.625},
    {67, 8.03375}, {75, 8.84375}, {90, 12.35}, {95, 13.925}, {99, 15.185},
};

static const double odd[] = {0.5, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0};
static const struct ref odd_ref[] = {
    {1, 0.6}, {5, 1.0}, {10, 1.5}, {25, 2.5}, {33, 3.6}, {50, 8.0}, {67, 18.6},
    {75, 27.5}, {90, 55.0}, {95, 72.0}, {99, 85.6},
};

static const double ties[] = {1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0, 7.0, 9.0, 9.0, 9.0};
static const struct ref ties_ref[] = {
    {1, 1.11}, {5, 1.55}, {10, 2.0}, {25, 2.0}, {33, 2.63}, {50, 3.0}, {67, 4.48},
    {75, 7.5}, {90, 9.0}, {95, 9.0}, {99, 9.0},
};

static const double same[] = {5.0, 5.0, 5.0, 5.0};
static const struct ref same_ref[] = {
    {1, 5.0}, {5, 5.0}, {10, 5.0}, {25, 5.0}, {33, 5.0}, {50, 5.0}, {67, 5.0},
    {75, 5.0}, {90, 5.0}, {95, 5.0}, {99, 5.0},
};

/* Fifty LCP values in ms, in the order they might arrive (not sorted): drawn once from
 * a log-normal distribution (Python: random.seed(20251128);
 * round(random.lognormvariate(7.75, 0.35), 1)), the shape real LCP samples have. */
static const double lcp_arrived[] = {
    2531.1, 1039.7, 2214.9, 3300.4, 3405.0, 1518.9, 1655.3, 2914.5, 3113.8, 1898.5,
    1721.2, 2088.1, 4624.0, 1017.2, 4143.1, 1717.7, 4133.0, 1478.5, 1637.7, 6403.4,
    3558.8, 1329.2, 874.4, 3207.6, 3892.9, 1643.2, 3734.1, 2376.7, 1149.2, 1300.2,
    3536.5, 1420.1, 2872.4, 1826.6, 1516.6, 1662.2, 1793.9, 1799.4, 2669.2, 3882.4,
    1598.4, 2032.1, 2225.4, 1750.2, 2337.5, 2602.6, 2313.3, 2084.9, 3696.5, 3526.3,
};
static const struct ref lcp_ref[] = {
    {1, 944.3720000000001}, {5, 1088.975}, {10, 1326.3}, {25, 1646.225}, {33, 1726.13},
    {50, 2151.5}, {67, 2837.8559999999998}, {75, 3277.2}, {90, 3883.45}, {95, 4138.555},
    {99, 5531.493999999999},
};

int main(void)
{
    /* One value: every quantile is that value. */
    const double one[] = {42.5};
    CHECK(stats_quantile(one, 1, 0.0) == 42.5, "n=1: p=0 is the value");
    CHECK(stats_quantile(one, 1, 0.5) == 42.5, "n=1: p=0.5 is the value");
    CHECK(stats_quantile(one, 1, 0.99) == 42.5, "n=1: p=0.99 is the value");
    CHECK(stats_quantile(one, 1, 1.0) == 42.5, "n=1: p=1 is the value");

    check_set("two values", two, NELEM(two), two_ref, NELEM(two_ref));
    check_set("even n", even, NELEM(even), even_ref, NELEM(even_ref));
    check_set("odd n", odd, NELEM(odd), odd_ref, NELEM(odd_ref));
    check_set("ties", ties, NELEM(ties), ties_ref, NELEM(ties_ref));
    check_set("all equal", same, NELEM(same), same_ref, NELEM(same_ref));

    /* The LCP sample goes through stats_sort first, as the collector's values would. */
    double lcp[NELEM(lcp_arrived)];
    int ascending = 1;
    for (size_t i = 0; i < NELEM(lcp); i++)
        lcp[i] = lcp_arrived[i];
    stats_sort(lcp, NELEM(lcp));
    for (size_t i = 1; i < NELEM(lcp); i++)
        if (lcp[i - 1] > lcp[i])
            ascending = 0;
    CHECK(ascending, "stats_sort: 50 LCP values come out ascending");
    CHECK(lcp[0] == 874.4 && lcp[NELEM(lcp) - 1] == 6403.4,
          "stats_sort: smallest and largest at the ends");
    check_set("LCP sample", lcp, NELEM(lcp), lcp_ref, NELEM(lcp_ref));

    /* Type 7 never leaves [min, max] and never decreases as p grows. */
    double prev = stats_quantile(lcp, NELEM(lcp), 0.0);
    int monotone = 1;
    for (int i = 1; i <= 1000; i++) {
        double q = stats_quantile(lcp, NELEM(lcp), i / 1000.0);
        if (q < prev || q < lcp[0] || q > lcp[NELEM(lcp) - 1])
            monotone = 0;
        prev = q;
    }
    CHECK(monotone, "LCP sample: quantiles stay within [min, max] and rise with p");

    double empty_sort[1] = {3.0};
    stats_sort(empty_sort, 0);
    CHECK(empty_sort[0] == 3.0, "stats_sort of 0 values touches nothing");
    return check_done();
}
