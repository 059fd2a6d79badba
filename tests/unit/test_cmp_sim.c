/*
 * The comparator's simulation on a small run (tests/stat/sim.c has the model and the full
 * run): 40 canaries x 60 looks per scenario, asserting what the method promises.
 *  - A/A: identical canaries are rolled back at most 5% of the time (alpha), although
 *    asked every minute; the naive fixed-horizon tests' rate is printed beside it;
 *  - LCP +25% is rolled back in at least 95% of runs (conservative, 10% tolerance);
 *  - LCP 10% better is promoted in at least 90% of runs within the hour (aggressive);
 *  - a canary without traffic is never promoted.
 * The seeds are fixed, so every run sees the same data.
 */
#define SIM_NO_MAIN
#include "../stat/sim.c"

#include "check.h"

#define CANARIES 40
#define MINUTES 60

/* Runs a scenario; index picks its seeds, as in the full run's table (tests/stat/sim.c). */
static void run(const struct sim_scenario *sc, int index, struct sim_totals *t)
{
    int rc = sim_scenario_run(sc, index, CANARIES, MINUTES, t);
    CHECK(rc == 0, "%s (%s): %d canaries x %d minutes ran", sc->name, sc->policy, CANARIES,
          MINUTES);
    printf("# %s, %s: %d rolled back, %d promoted (median minute of a decision: %.0f);"
           " naive Mann-Whitney on LCP rolled back %d, with the z-test on errors %d; %.1f s\n",
           sc->name, sc->policy, t->rollbacks, t->promotes,
           isnan(t->median_minute) ? 0 : t->median_minute, t->naive_mw_rollbacks,
           t->naive_rollbacks, t->seconds);
}

int main(void)
{
    static const struct sim_scenario aa = {"A/A (identical)", "conservative", 1.0, 1.0, 0};
    static const struct sim_scenario slow = {"LCP +25%", "conservative", 1.25, 1.0, 0};
    static const struct sim_scenario fast = {"LCP 10% better", "aggressive", 0.9, 1.0, 0};
    static const struct sim_scenario idle = {"no traffic", "aggressive", 1.0, 1.0, 1};
    static const struct sim_scenario idle2 = {"no traffic", "conservative", 1.0, 1.0, 1};
    struct sim_totals t;

    run(&aa, 0, &t);
    CHECK(t.rollbacks * 100 <= 5 * t.runs, "A/A: %d of %d identical canaries rolled back"
          " (at most 5%%; naive fixed-horizon Mann-Whitney asked every minute: %d, %.0f%%)",
          t.rollbacks, t.runs, t.naive_mw_rollbacks, 100.0 * t.naive_mw_rollbacks / t.runs);
    run(&slow, 1, &t);
    CHECK(t.rollbacks * 100 >= 95 * t.runs, "LCP +25%%: %d of %d rolled back (at least 95%%),"
          " median %.0f minutes", t.rollbacks, t.runs, t.median_minute);
    CHECK(t.promotes == 0, "LCP +25%%: none promoted");
    run(&fast, 2, &t);
    CHECK(t.promotes * 100 >= 90 * t.runs, "LCP 10%% better: %d of %d promoted within %d minutes"
          " under aggressive (at least 90%%), median %.0f minutes", t.promotes, t.runs, MINUTES,
          t.median_minute);
    CHECK(t.rollbacks == 0, "LCP 10%% better: none rolled back");
    run(&idle, 4, &t);
    CHECK(t.promotes == 0 && t.rollbacks == 0, "no traffic, aggressive: never promoted (%d) nor"
          " rolled back (%d)", t.promotes, t.rollbacks);
    run(&idle2, 5, &t);
    CHECK(t.promotes == 0 && t.rollbacks == 0, "no traffic, conservative: never promoted (%d)"
          " nor rolled back (%d)", t.promotes, t.rollbacks);
    return check_done();
}
