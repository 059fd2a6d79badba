/*
 * srm: the traffic gate, a sample ratio mismatch check. A rollout step promises the canary
 * a share of the traffic (its weight, 10 for "10%"); srm tests whether the page views
 * actually split that way between baseline and canary. When they do not, the load
 * balancer or the sampling is wrong and every comparison of the two versions is suspect.
 *
 * The test stays valid however often it is asked (a rollout controller asks every
 * minute): the sequential multinomial test of Lindon & Malek, "Anytime-valid inference
 * for multinomial count data" (NeurIPS 2022), whose worked example is this check. With
 * two arms it is a Beta-binomial mixture: for c canary and b baseline page views, the
 * expected canary share p0 and a Beta(k p0, k (1 - p0)) mixing distribution,
 *
 *     E_n = [B(k p0 + c, k (1 - p0) + b) / B(k p0, k (1 - p0))] / [p0^c (1 - p0)^b]
 *
 * is the Bayes factor of "some other share" against "share p0". Under p0 it is a
 * nonnegative martingale with mean 1 (the product of each page view's predictive
 * probability over its probability under p0), so by Ville's inequality P(E_n ever
 * reaches 1/alpha) <= alpha: the mismatch is shown once E_n >= 1/alpha. k (the prior's
 * concentration) sets which deviations it finds fastest; shared/README.md says why
 * SRM_CONCENTRATION. Everything here is pure: counts in, numbers and JSON out.
 */
#ifndef VIGIL_SRM_H
#define VIGIL_SRM_H

#include <jansson.h>

#define SRM_CONCENTRATION 100.0     /* k: the mixing Beta's a + b */
#define SRM_ALPHA_DEFAULT 0.001     /* false mismatch at most this often, however often asked */

/* What a shown mismatch does to the verdict (policy "traffic"."on_mismatch"). */
enum srm_action { SRM_PAUSE, SRM_ROLLBACK, SRM_OFF };

struct srm_policy {
    enum srm_action action;
    double alpha;               /* in (0, 0.5] */
};

/* The default: pause at alpha SRM_ALPHA_DEFAULT. */
void srm_policy_default(struct srm_policy *p);

/* "pause", "rollback" or "off" into *out: 0, or -1 for any other word. */
int srm_action_parse(const char *word, enum srm_action *out);
const char *srm_action_name(enum srm_action a);

/* 1 when weight is a valid marker weight: a finite number with 0 < weight < 100 (the
 * canary's percentage of the traffic). */
int srm_weight_ok(double weight);

/* The natural log of E_n for canary and base page views against the expected canary
 * share (0 < expected < 1), with a Beta(k expected, k (1 - expected)) mixture. 0 (E = 1)
 * without page views. */
double srm_log_evalue(long long canary, long long base, double expected, double k);

struct srm_result {
    long long base, canary;     /* page views counted */
    double expected;            /* the canary's share the step promises, in (0, 1) */
    double observed;            /* canary / (base + canary); NAN without page views */
    double log_e;               /* log E_n */
    double alpha;
    int mismatch;               /* 1 when log_e >= log(1 / alpha) */
};

/* Tests the split: fills *out. weight is the step's percentage (srm_weight_ok). */
void srm_test(long long canary, long long base, double weight, double alpha,
              struct srm_result *out);

/* The split as JSON: {"expected", "observed", "baseline_views", "canary_views",
 * "log_e_value", "e_value" (null past 1e304), "alpha", "result": "mismatch"|"as expected"|
 * "no data"|"skipped" (no weight)|"off"}; *r holds the test (zeros when not tested). A new
 * reference, or NULL when memory ran out. */
json_t *srm_split_json(const struct srm_policy *p, double weight, long long canary,
                       long long base, struct srm_result *r);

/* Applies the check to a verdict (cmp_judge's JSON, modified in place): adds "traffic"
 * {"result": "mismatch"|"as expected"|"no data"|"skipped"|"off", "expected",
 * "observed", "baseline_views", "canary_views", "e_value", "log_e_value", "alpha",
 * "on_mismatch", "reason"} and one line to "reasons"; a shown mismatch makes the
 * decision pause (or rollback, as the policy says; a rollback stays a rollback) and its
 * line comes first. weight is the step's percentage, or NAN when the marker has none
 * (the check is skipped and the verdict says so once). Returns 0, or -1 when memory ran
 * out (the verdict may then lack the block). */
int srm_apply(json_t *verdict, const struct srm_policy *p, double weight, long long canary,
              long long base);

#endif
