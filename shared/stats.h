/*
 * stats: descriptive statistics shared by the collector and the comparator.
 */
#ifndef VIGIL_STATS_H
#define VIGIL_STATS_H

#include <stddef.h>

/* The p-quantile (0 <= p <= 1) of n values sorted ascending, by linear interpolation
 * between order statistics (Hyndman & Fan type 7, the default of R and NumPy).
 * n must be > 0. */
double stats_quantile(const double *sorted, size_t n, double p);

/* Sorts n values ascending in place. */
void stats_sort(double *v, size_t n);

#endif
