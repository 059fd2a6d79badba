#include "seqtest.h"

#include <assert.h>
#include <math.h>

/* Bisection steps for a bound or the estimate: the interval of width 2 lim halves each
 * time, so 36 steps leave it far below any digit a verdict prints. */
#define SEQTEST_STEPS 36

static int counts(const struct seqtest_slice *s)
{
    return s->m > 0 && s->pi0 > 0 && s->pi0 < 1;
}

/* L(theta) up to a constant: sum k_s theta - m_s log(1 - pi0_s + pi0_s e^theta). */
static double loglik(const struct seqtest_slice *s, size_t n, double theta)
{
    double v = 0, em1 = expm1(theta);
    for (size_t i = 0; i < n; i++)
        if (counts(&s[i]))
            v += s[i].k * theta - s[i].m * log1p(s[i].pi0 * em1);
    return v;
}

double seqtest_log_e(const struct seqtest_slice *s, size_t n, double theta0, int side,
                     double tau)
{
    double terms[SEQTEST_GRID], wsum = 0, top = -INFINITY, step = 4 * tau / SEQTEST_GRID;
    double l0 = loglik(s, n, theta0);

    assert(side != 0 && tau > 0);
    for (int j = 0; j < SEQTEST_GRID; j++) {
        double u = (j + 0.5) * step, w = exp(-u * u / (2 * tau * tau));
        wsum += w;
        terms[j] = log(w) + loglik(s, n, theta0 + (side > 0 ? u : -u)) - l0;
        if (terms[j] > top)
            top = terms[j];
    }
    double sum = 0;
    for (int j = 0; j < SEQTEST_GRID; j++)
        sum += exp(terms[j] - top);
    return top + log(sum) - log(wsum);
}

double seqtest_mle(const struct seqtest_slice *s, size_t n, double lim)
{
    double k = 0, lo = -lim, hi = lim;
    int any = 0;
    for (size_t i = 0; i < n; i++)
        if (counts(&s[i])) {
            k += s[i].k;
            any = 1;
        }
    if (!any)
        return 0;
    /* The score k - sum m_s pi_s(theta) falls as theta grows. */
    for (int it = 0; it < SEQTEST_STEPS; it++) {
        double mid = (lo + hi) / 2, e = 0, t = exp(mid);
        for (size_t i = 0; i < n; i++)
            if (counts(&s[i]))
                e += s[i].m * s[i].pi0 * t / (1 - s[i].pi0 + s[i].pi0 * t);
        if (e < k)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

/* The theta0 in [-lim, lim] where side's test at alpha stops (side +1) or starts
 * (side -1) rejecting, as theta0 grows; the open end when it never changes. */
static double crossing(const struct seqtest_slice *s, size_t n, double alpha, double tau,
                       double lim, int side)
{
    double thr = log(1 / alpha), lo = -lim, hi = lim;
    int rej_lo = seqtest_log_e(s, n, lo, side, tau) >= thr;
    int rej_hi = seqtest_log_e(s, n, hi, side, tau) >= thr;
    if (rej_lo == rej_hi)
        return side > 0 ? (rej_lo ? lim : -lim) : (rej_lo ? -lim : lim);
    for (int it = 0; it < SEQTEST_STEPS; it++) {
        double mid = (lo + hi) / 2;
        if ((seqtest_log_e(s, n, mid, side, tau) >= thr) == rej_lo)
            lo = mid;
        else
            hi = mid;
    }
    /* The outer side of the crossing, so that the bound never claims more than shown. */
    return side > 0 ? lo : hi;
}

void seqtest_bounds(const struct seqtest_slice *s, size_t n, double alpha_lo,
                    double alpha_hi, double tau_lo, double tau_hi, double lim, double *lo,
                    double *hi)
{
    assert(alpha_lo > 0 && alpha_lo < 1 && alpha_hi > 0 && alpha_hi < 1 && lim > 0);
    *lo = crossing(s, n, alpha_lo, tau_lo, lim, 1);
    *hi = crossing(s, n, alpha_hi, tau_hi, lim, -1);
}
