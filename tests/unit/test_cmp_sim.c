/*
 * The comparator's simulation on a small run (tests/stat/sim.c has the model and the
 * full run, `make bench-stats`): the targets of shared/README.md "Statistics" for the
 * sequential method, each asserted with a margin for its run count. A rate target
 * "at most 5%" fails only when the count is beyond what a true 5% gives with
 * probability 0.001 (the binomial's upper 0.1% point), and "at least 80%" / "95%" only
 * below the lower 0.1% point; medians are asserted as they are. The seeds are fixed, so
 * every run sees the same data; the pooled method is left out to keep this short.
 */
#define SIM_NO_MAIN
#include "../stat/sim.c"

#include "check.h"

#define FALSE_RUNS 50
#define DETECT_RUNS 25
#define MINUTES 120

/* P(X <= k) for X ~ Binomial(n, p). */
static double binom_cdf(int k, int n, double p)
{
    double sum = 0;
    for (int i = 0; i <= k; i++)
        sum += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) + i * log(p)
                   + (n - i) * log1p(-p));
    return sum;
}

/* The largest count a true rate p exceeds with probability below 0.001. */
static int upper_point(int n, double p)
{
    int k = 0;
    while (k < n && 1 - binom_cdf(k, n, p) >= 0.001)
        k++;
    return k;
}

/* The smallest count a true rate p falls below with probability below 0.001. */
static int lower_point(int n, double p)
{
    int k = 0;
    while (k < n && binom_cdf(k, n, p) < 0.001)
        k++;
    return k;
}

/* Runs scenario i of the full run's table with its seeds. */
static const struct sim_result *run(size_t i, struct sim_totals *t)
{
    const struct sim_scenario *sc = &sim_scenarios[i];
    int runs = sim_false_rate[i] ? FALSE_RUNS : DETECT_RUNS;
    int rc = sim_scenario_run(sc, (int)i, runs, MINUTES, 0, t);
    CHECK(rc == 0, "%s (%s): %d canaries x %d minutes ran", sc->name, sc->policy, runs, MINUTES);
    printf("# %s, %s: %d rolled back (median minute %.0f), %d promoted (%d within 60 minutes,"
           " median minute %.0f); %.1f s\n", sc->name, sc->policy, t->seq.rollbacks,
           isnan(t->seq.median_rollback) ? 0 : t->seq.median_rollback, t->seq.promotes,
           t->seq.promotes_60, isnan(t->seq.median_promote) ? 0 : t->seq.median_promote,
           t->seconds);
    return &t->seq;
}

static size_t scenario(const char *name, const char *policy)
{
    for (size_t i = 0; i < SIM_NSCENARIOS; i++)
        if (strcmp(sim_scenarios[i].name, name) == 0 && strcmp(sim_scenarios[i].policy, policy) == 0)
            return i;
    fprintf(stderr, "no scenario %s (%s)\n", name, policy);
    exit(1);
}

int main(void)
{
    static const char *const identical[][2] = {
        {"identical", "conservative"}, {"identical, plain", "conservative"},
        {"identical, drift", "conservative"}, {"identical", "aggressive"},
    };
    int up = upper_point(FALSE_RUNS, 0.05), low80 = lower_point(FALSE_RUNS, 0.8);
    int low95 = lower_point(DETECT_RUNS, 0.95);
    struct sim_totals t;
    const struct sim_result *r;

    for (size_t k = 0; k < sizeof identical / sizeof identical[0]; k++) {
        r = run(scenario(identical[k][0], identical[k][1]), &t);
        CHECK(r->rollbacks <= up, "%s, %s: %d of %d identical canaries rolled back (target at"
              " most 5%%: at most %d of %d)", identical[k][0], identical[k][1], r->rollbacks,
              r->runs, up, r->runs);
        CHECK(r->promotes_60 >= low80, "%s, %s: %d of %d promoted within 60 minutes (target at"
              " least 80%%: at least %d)", identical[k][0], identical[k][1], r->promotes_60,
              r->runs, low80);
    }
    r = run(scenario("LCP +10% (at tol)", "conservative"), &t);
    CHECK(r->promotes <= up, "LCP +10%% at the 10%% tolerance: %d of %d promoted (target at most"
          " 5%%: at most %d)", r->promotes, r->runs, up);
    r = run(scenario("LCP +25%", "conservative"), &t);
    CHECK(r->rollbacks_60 >= low95, "LCP +25%%: %d of %d rolled back within 60 minutes (target"
          " at least 95%%: at least %d)", r->rollbacks_60, r->runs, low95);
    CHECK(r->median_rollback <= 20, "LCP +25%%: median %.0f minutes to the rollback (at most 20)",
          r->median_rollback);
    CHECK(r->promotes == 0, "LCP +25%%: none promoted (%d)", r->promotes);
    r = run(scenario("errors 2% -> 4%", "conservative"), &t);
    CHECK(r->rollbacks_60 >= low95, "errors 2%% -> 4%%: %d of %d rolled back within 60 minutes"
          " (at least %d)", r->rollbacks_60, r->runs, low95);
    CHECK(r->median_rollback <= 20, "errors 2%% -> 4%%: median %.0f minutes to the rollback (at"
          " most 20)", r->median_rollback);
    r = run(scenario("no traffic", "conservative"), &t);
    CHECK(r->promotes == 0 && r->rollbacks == 0, "no traffic: never promoted (%d) nor rolled"
          " back (%d)", r->promotes, r->rollbacks);
    r = run(scenario("5 views/min", "aggressive"), &t);
    CHECK(r->promotes == 0, "5 page views a minute, aggressive: never promoted in 2 hours (%d)",
          r->promotes);
    return check_done();
}
