#include "stats.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

double stats_quantile(const double *sorted, size_t n, double p)
{
    assert(n > 0 && p >= 0 && p <= 1);
    double h = (double)(n - 1) * p;
    size_t lo = (size_t)floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (h - (double)lo) * (sorted[hi] - sorted[lo]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void stats_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
}
