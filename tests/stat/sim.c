/*
 * The comparator's simulation: many canaries, each judged every simulated minute from the
 * RUM data gathered so far, as a rollout controller would ask. It measures how often the
 * sequential method rolls back an identical canary (at most alpha by construction), how
 * quickly it catches a slower one and promotes a faster one, and that a canary without
 * traffic is never promoted; beside it, the false-rollback rate of a fixed-horizon test
 * asked the same way.
 *
 * Model, per canary and per minute:
 *  - canary page views drawn uniformly in [50, 500]; the canary has 10% of the traffic,
 *    so the baseline gets 9 times as many;
 *  - LCP per page view log-normal with median 2.3 s and sigma 0.5 (times the canary's
 *    factor);
 *  - JS errors zero-inflated: 0.5% of page views have errors, the rest none; the
 *    comparator sees the page views with an error.
 * Samples are kept sorted by merging each minute's sorted batch in.
 *
 * The naive tests are what Kayenta, Argo Rollouts and Flagger do each interval: a
 * fixed-horizon test, no tolerance, and a run counts as a naive rollback if any look
 * rejects. "naive MW" is Mann-Whitney U on LCP, one-sided at alpha; "naive MW+z" is it at
 * alpha / 2 or a pooled two-proportion z-test on errors at alpha / 2.
 *
 * `make bench-stats` builds this as bin/stat-sim and prints the full table (200 canaries
 * x 120 minutes). tests/unit/test_cmp_sim.c includes this file with SIM_NO_MAIN defined
 * and asserts on a small run.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp.h"
#include "stats.h"

#define SIM_LCP_MEDIAN 2300.0
#define SIM_LCP_SIGMA 0.5
#define SIM_ERROR_RATE 0.005
#define SIM_VIEWS_MIN 50
#define SIM_VIEWS_MAX 500
#define SIM_BASE_PER_CANARY 9      /* a 10% canary traffic share */

struct sim_rng {
    uint64_t s;
};

/* splitmix64, to turn (scenario, canary) into well-spread seeds. */
static uint64_t sim_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* xorshift64* (Vigna 2016). */
static uint64_t sim_next(struct sim_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

/* Uniform in (0, 1). */
static double sim_unit(struct sim_rng *r)
{
    return ((double)(sim_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

/* Standard normals by Box-Muller, two at a time. */
static void sim_normal2(struct sim_rng *r, double *a, double *b)
{
    double rad = sqrt(-2 * log(sim_unit(r))), th = 2 * M_PI * sim_unit(r);
    *a = rad * cos(th);
    *b = rad * sin(th);
}

/* A sorted sample that grows by merging sorted batches in from the back. */
struct sim_sample {
    double *v;
    size_t n, cap;
};

static void sim_merge(struct sim_sample *s, double *batch, size_t k)
{
    stats_sort(batch, k);
    size_t i = s->n, j = k, w = s->n + k;
    while (j > 0) {
        if (i > 0 && s->v[i - 1] > batch[j - 1])
            s->v[--w] = s->v[--i];
        else
            s->v[--w] = batch[--j];
    }
    s->n += k;
}

/* Draws k LCP values (ms) into batch. */
static void sim_lcp(struct sim_rng *r, double *batch, size_t k, double factor)
{
    for (size_t i = 0; i < k; i += 2) {
        double a, b;
        sim_normal2(r, &a, &b);
        batch[i] = factor * SIM_LCP_MEDIAN * exp(SIM_LCP_SIGMA * a);
        if (i + 1 < k)
            batch[i + 1] = factor * SIM_LCP_MEDIAN * exp(SIM_LCP_SIGMA * b);
    }
}

/* Counts the page views with errors among k. Error counts per page view are
 * zero-inflated (most page views have none); the comparator's rate only asks whether a
 * page view had any, so only that part of the count is drawn. */
static long long sim_errors(struct sim_rng *r, size_t k, double rate)
{
    long long hits = 0;
    for (size_t i = 0; i < k; i++)
        hits += sim_unit(r) < rate;
    return hits;
}

struct sim_scenario {
    const char *name;
    const char *policy;         /* a built-in policy */
    double lcp_factor;          /* canary LCP = baseline LCP x this */
    double error_factor;        /* canary error rate = baseline rate x this */
    int no_traffic;             /* the canary gets no page views at all */
};

/* How one canary went. */
struct sim_run {
    enum cmp_decision decision; /* the first promote or rollback, else pause */
    int minute;                 /* when it was reached (0 if never) */
    int naive_mw_minute;        /* Mann-Whitney on LCP at alpha: first rollback (0 if never) */
    int naive_minute;           /* it at alpha / 2 or the z-test on errors at alpha / 2 */
    long long canary_views;     /* at the end */
    double views_needed;        /* the errors metric's estimate at the end, -1 if none */
};

struct sim_totals {
    int runs, rollbacks, promotes;
    int naive_mw_rollbacks;     /* runs that Mann-Whitney on LCP alone would have rolled back */
    int naive_rollbacks;        /* runs that it or the z-test on errors would have */
    double median_minute;       /* of the decided runs, NAN if none */
    double median_views;        /* canary page views at the end */
    double median_needed;       /* errors: views_needed at the end, NAN if none */
    double seconds;
};

static double sim_median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    stats_sort(v, n);
    return stats_quantile(v, n, 0.5);
}

/* The naive look: one-sided p-values of Mann-Whitney on LCP (*p_mw) and of the pooled
 * two-proportion z-test on errors (*p_z), canary worse. 1 when there is no canary data. */
static void sim_naive(const struct sim_sample *base, const struct sim_sample *can,
                      long long bh, long long bv, long long ch, long long cv, double *p_mw,
                      double *p_z)
{
    *p_mw = *p_z = 1;
    if (can->n == 0 || cv == 0)
        return;
    cmp_mann_whitney(can->v, can->n, base->v, base->n, 1, p_mw);
    double pool = (double)(bh + ch) / (double)(bv + cv);
    double se = sqrt(pool * (1 - pool) * (1 / (double)cv + 1 / (double)bv));
    double z = se > 0 ? ((double)ch / (double)cv - (double)bh / (double)bv) / se : 0;
    *p_z = 0.5 * erfc(z / sqrt(2.0));
}

/* Runs one canary for the given minutes. Returns 0, or -1 if memory ran out. */
static int sim_canary(const struct sim_scenario *sc, const struct cmp_policy *pol, int minutes,
                      uint64_t seed, struct sim_run *out)
{
    struct sim_rng rng = {sim_mix(seed) | 1};
    size_t cap_c = (size_t)minutes * SIM_VIEWS_MAX, cap_b = cap_c * SIM_BASE_PER_CANARY;
    struct sim_sample base = {malloc(cap_b * sizeof(double)), 0, cap_b};
    struct sim_sample can = {malloc(cap_c * sizeof(double)), 0, cap_c};
    double *batch = malloc((size_t)SIM_VIEWS_MAX * SIM_BASE_PER_CANARY * sizeof(double));
    long long bh = 0, bv = 0, ch = 0, cv = 0;
    int rc = -1, done = 0, naive_done = 0;

    memset(out, 0, sizeof *out);
    out->decision = CMP_PAUSE;
    out->views_needed = -1;
    if (!base.v || !can.v || !batch)
        goto fail;
    for (int t = 1; t <= minutes && !(done && naive_done); t++) {
        size_t v = SIM_VIEWS_MIN + (size_t)(sim_unit(&rng) * (SIM_VIEWS_MAX - SIM_VIEWS_MIN + 1));
        size_t nb = v * SIM_BASE_PER_CANARY, nc = sc->no_traffic ? 0 : v;

        sim_lcp(&rng, batch, nb, 1);
        sim_merge(&base, batch, nb);
        bh += sim_errors(&rng, nb, SIM_ERROR_RATE);
        bv += (long long)nb;
        sim_lcp(&rng, batch, nc, sc->lcp_factor);
        sim_merge(&can, batch, nc);
        ch += sim_errors(&rng, nc, SIM_ERROR_RATE * sc->error_factor);
        cv += (long long)nc;

        if (!naive_done) {
            double p_mw, p_z, a = pol->alpha;
            sim_naive(&base, &can, bh, bv, ch, cv, &p_mw, &p_z);
            if (!out->naive_mw_minute && p_mw < a)
                out->naive_mw_minute = t;
            if (!out->naive_minute && (p_mw < a / 2 || p_z < a / 2))
                out->naive_minute = t;
            naive_done = out->naive_mw_minute && out->naive_minute;
        }
        if (done)
            continue;
        struct sketch_bins bb, cb;
        if (sketch_bins_exact(base.v, base.n, &bb) < 0)
            goto fail;
        if (sketch_bins_exact(can.v, can.n, &cb) < 0) {
            sketch_bins_fini(&bb);
            goto fail;
        }
        struct cmp_data d[2] = {
            {.name = "LCP", .base = &bb, .canary = &cb},
            {.name = "errors", .base_hits = bh, .base_views = bv, .canary_hits = ch,
             .canary_views = cv},
        };
        json_t *verdict = cmp_judge(pol, d, 2, CMP_SEQUENTIAL);
        sketch_bins_fini(&bb);
        sketch_bins_fini(&cb);
        if (!verdict)
            goto fail;
        const char *dec = json_string_value(json_object_get(verdict, "decision"));
        if (strcmp(dec, "pause") != 0) {
            out->decision = strcmp(dec, "promote") == 0 ? CMP_PROMOTE : CMP_ROLLBACK;
            out->minute = t;
            done = 1;
        }
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(verdict, "metrics"), i, m) {
            json_t *need = json_object_get(m, "views_needed");
            if (strcmp(json_string_value(json_object_get(m, "name")), "errors") == 0)
                out->views_needed = json_is_integer(need) ? (double)json_integer_value(need)
                                                          : -1;
        }
        out->canary_views = cv;
        json_decref(verdict);
    }
    rc = 0;
fail:
    free(base.v);
    free(can.v);
    free(batch);
    return rc;
}

/* Runs a scenario over canaries x minutes and sums it up. Returns 0 or -1. */
static int sim_scenario_run(const struct sim_scenario *sc, int index, int canaries, int minutes,
                            struct sim_totals *tot)
{
    struct cmp_policy pol;
    struct timespec t0, t1;
    double *mins = malloc((size_t)canaries * sizeof(double));
    double *views = malloc((size_t)canaries * sizeof(double));
    double *needed = malloc((size_t)canaries * sizeof(double));
    size_t nmin = 0, nneed = 0;
    int rc = -1;

    memset(tot, 0, sizeof *tot);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!mins || !views || !needed || cmp_policy_builtin(sc->policy, &pol) < 0)
        goto out;
    for (int k = 0; k < canaries; k++) {
        struct sim_run r;
        if (sim_canary(sc, &pol, minutes, ((uint64_t)index << 32) | (uint64_t)k, &r) < 0)
            goto out;
        tot->runs++;
        tot->rollbacks += r.decision == CMP_ROLLBACK;
        tot->promotes += r.decision == CMP_PROMOTE;
        tot->naive_rollbacks += r.naive_minute > 0;
        tot->naive_mw_rollbacks += r.naive_mw_minute > 0;
        if (r.minute > 0)
            mins[nmin++] = r.minute;
        views[k] = (double)r.canary_views;
        if (r.decision == CMP_PAUSE && r.views_needed > 0)
            needed[nneed++] = r.views_needed;
    }
    tot->median_minute = sim_median(mins, nmin);
    tot->median_views = sim_median(views, (size_t)canaries);
    tot->median_needed = sim_median(needed, nneed);
    rc = 0;
out:
    clock_gettime(CLOCK_MONOTONIC, &t1);
    tot->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    free(mins);
    free(views);
    free(needed);
    return rc;
}

#ifndef SIM_NO_MAIN
static void sim_print_header(void)
{
    printf("%-16s %-13s %5s %12s %12s %8s %12s %12s\n", "scenario", "policy", "runs",
           "rolled back", "promoted", "median", "naive MW", "naive MW+z");
    printf("%-16s %-13s %5s %12s %12s %8s %12s %12s\n", "", "", "", "", "", "minutes",
           "rolled back", "rolled back");
}

static void sim_print_row(const struct sim_scenario *sc, const struct sim_totals *t)
{
    char rb[32], pr[32], med[16], nmw[32], nv[32];
    snprintf(rb, sizeof rb, "%d (%.1f%%)", t->rollbacks, 100.0 * t->rollbacks / t->runs);
    snprintf(pr, sizeof pr, "%d (%.1f%%)", t->promotes, 100.0 * t->promotes / t->runs);
    snprintf(nmw, sizeof nmw, "%d (%.1f%%)", t->naive_mw_rollbacks,
             100.0 * t->naive_mw_rollbacks / t->runs);
    snprintf(nv, sizeof nv, "%d (%.1f%%)", t->naive_rollbacks,
             100.0 * t->naive_rollbacks / t->runs);
    if (isnan(t->median_minute))
        snprintf(med, sizeof med, "-");
    else
        snprintf(med, sizeof med, "%.1f", t->median_minute);
    printf("%-16s %-13s %5d %12s %12s %8s %12s %12s\n", sc->name, sc->policy, t->runs, rb, pr,
           med, nmw, nv);
}

int main(int argc, char **argv)
{
    static const struct sim_scenario scenarios[] = {
        {"A/A (identical)", "conservative", 1.0, 1.0, 0},
        {"LCP +25%", "conservative", 1.25, 1.0, 0},
        {"LCP 10% better", "aggressive", 0.9, 1.0, 0},
        {"LCP 10% better", "conservative", 0.9, 1.0, 0},
        {"no traffic", "conservative", 1.0, 1.0, 1},
        {"no traffic", "aggressive", 1.0, 1.0, 1},
    };
    struct sim_totals t[sizeof scenarios / sizeof scenarios[0]];
    long canaries = 200, minutes = 120;
    double total = 0;
    char *end = NULL;

    if (argc > 1)
        canaries = strtol(argv[1], &end, 10);
    if (argc > 1 && (*end || canaries <= 0 || canaries > 100000))
        canaries = 0;
    if (argc > 2)
        minutes = strtol(argv[2], &end, 10);
    if (argc > 2 && (*end || minutes <= 0 || minutes > 10000))
        minutes = 0;
    if (canaries <= 0 || minutes <= 0 || argc > 3) {
        fprintf(stderr, "usage: stat-sim [canaries [minutes]]\n");
        return 2;
    }
    printf("%ld canaries x %ld minutes each; a verdict every minute; canary page views per minute"
           " uniform in [%d, %d], baseline %dx; LCP log-normal (median %.1f s, sigma %.1f);"
           " %.1f%% of page views with errors\n\n", canaries, minutes, SIM_VIEWS_MIN,
           SIM_VIEWS_MAX, SIM_BASE_PER_CANARY, SIM_LCP_MEDIAN / 1000, SIM_LCP_SIGMA,
           SIM_ERROR_RATE * 100);
    sim_print_header();
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (sim_scenario_run(&scenarios[i], (int)i, (int)canaries, (int)minutes, &t[i]) < 0) {
            fprintf(stderr, "stat-sim: out of memory\n");
            return 1;
        }
        sim_print_row(&scenarios[i], &t[i]);
        fflush(stdout);
        total += t[i].seconds;
    }
    printf("\nnaive MW: Mann-Whitney U on LCP, one-sided (canary slower) at 5%%, asked every"
           " minute with no tolerance: a fixed-horizon test used as Kayenta, Argo Rollouts and"
           " Flagger use one. naive MW+z: the same at 2.5%% or a pooled two-proportion z-test on"
           " errors at 2.5%%.\n");
    printf("median minutes: to the decision (rollback or promote), over the runs that"
           " decided.\n");
    if (!isnan(t[3].median_needed)) {
        double step = pow(10, floor(log10(t[3].median_needed)) - 1);
        printf("LCP 10%% better, conservative: after %ld minutes (median %.0f canary page views)"
               " the error metric still cannot rule out +0.1 point on a 0.5%% rate; at these"
               " rates it would need about %.0f canary page views (median over the paused runs),"
               " about %.0f hours at this traffic.\n", minutes, t[3].median_views,
               round(t[3].median_needed / step) * step,
               t[3].median_needed / (t[3].median_views / (double)minutes) / 60);
    }
    printf("(%.0f s)\n", total);
    return 0;
}
#endif
