/*
 * seqtest: an anytime-valid two-sample test of how events split between two versions
 * within time slices, the comparator's sequential method (shared/cmp.h, shared/README.md
 * "Statistics").
 *
 * In slice s (a minute of the rollups), m_s events happened in both versions together and
 * k_s of them in the canary. An event is a page view with a JS error, or a value above a
 * threshold. If the canary's events come at odds e^theta times the baseline's, given the
 * slice's exposures each event is the canary's with probability
 *     pi_s(theta) = pi0_s e^theta / (1 - pi0_s + pi0_s e^theta)
 * where pi0_s is the share under no difference (the canary's share of the slice's page
 * views or values). Conditioning on the slice's events removes whatever the common rate
 * does over time (traffic mix, time of day): the Poisson-process and multinomial tests of
 * Lindon & Malek (NeurIPS 2022, "Anytime-valid inference for multinomial count data") and
 * Lindon, Sanden & Shirikian (KDD 2022, "Rapid regression detection in software
 * deployments through sequential testing") rest on the same conditioning.
 *
 * The e-value for H0: theta <= theta0 (side +1) is the likelihood ratio of theta0 + u
 * against theta0, mixed over u >= 0 with a half-normal weight of scale tau on a
 * fixed grid (a finite mixture of likelihood ratios is itself a test martingale, so the
 * grid costs no validity); side -1 mirrors it. The likelihood ratio for a larger theta is
 * increasing in k, so it is a supermartingale under every theta <= theta0: by Ville's
 * inequality P(the e-value ever reaches 1/alpha) <= alpha under H0, however often it is
 * read (Howard, Ramdas, McAuliffe & Sekhon 2021, Ann. Statist.; Ramdas et al. 2023, "Game-
 * theoretic statistics and safe anytime-valid inference", Stat. Sci.).
 *
 * Exactness: with a page view's event as a Bernoulli draw, k_s given m_s under equal odds
 * is hypergeometric rather than binomial; its moment generating function is below the
 * binomial's (Hoeffding 1963, Theorem 4), so the e-value stays valid there.
 */
#ifndef VIGIL_SEQTEST_H
#define VIGIL_SEQTEST_H

#include <stddef.h>

#define SEQTEST_GRID 24   /* grid points of the mixture, over [0, 4 tau] */

struct seqtest_slice {
    double k;       /* the canary's events */
    double m;       /* both versions' events */
    double pi0;     /* the canary's share of them under no difference, in [0, 1] */
};

/* log of the mixture e-value of n slices against H0: theta <= theta0 (side > 0) or
 * theta >= theta0 (side < 0), mixing scale tau > 0 (the size of effect it is quickest
 * to show). Slices with m = 0 or pi0 at 0 or 1 add nothing. */
double seqtest_log_e(const struct seqtest_slice *s, size_t n, double theta0, int side,
                     double tau);

/* The maximum-likelihood theta (where the expected canary events equal the observed
 * ones), clamped to [-lim, lim]; 0 without events. */
double seqtest_mle(const struct seqtest_slice *s, size_t n, double lim);

/* The confidence sequence for theta at level alpha on each side: *lo is the smallest
 * theta0 that side +1 does not reject at alpha (so theta > *lo was shown when *lo is
 * above a tolerance), *hi the largest theta0 that side -1 does not reject; both found by
 * bisection within [-lim, lim] and left at -lim / lim (open) when that end is not
 * reached. */
void seqtest_bounds(const struct seqtest_slice *s, size_t n, double alpha_lo,
                    double alpha_hi, double tau_lo, double tau_hi, double lim, double *lo,
                    double *hi);

#endif
