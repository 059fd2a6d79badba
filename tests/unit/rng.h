/*
 * A fixed-seed generator for the unit tests, so that every run sees the same data:
 * xorshift64* (Vigna 2016), Box-Muller normals and sorted log-normal samples.
 */
#ifndef VIGIL_TEST_RNG_H
#define VIGIL_TEST_RNG_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "stats.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static inline void rng_seed(uint64_t seed)
{
    rng_state = seed;
}

static inline uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform on (0, 1). */
static inline double rng_unit(void)
{
    return ((double)(rng_next() >> 11) + 0.5) * 0x1.0p-53;
}

/* A standard normal by Box-Muller. */
static inline double rng_normal(void)
{
    double u = rng_unit(), v = rng_unit();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* n log-normal values with the given median and sigma, sorted; the caller frees them. */
static inline double *lognormal(size_t n, double median, double sigma)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = median * exp(sigma * rng_normal());
    if (v)
        stats_sort(v, n);
    return v;
}

#endif
