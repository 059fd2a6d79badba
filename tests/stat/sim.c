/*
 * The comparator's simulation: many canaries, each judged every simulated minute from the
 * per-minute rollups gathered so far, as a rollout controller asks. Each scenario runs
 * the sequential method (shared/seqtest.h: two-sample tests within minutes, today's
 * built-in policy) and, on the same data, the pooled method of the first version with
 * its policy values (per-version confidence sequences over the pooled window: "today").
 *
 * Model, per canary and per minute (a verdict after every minute, up to 2 hours):
 *  - page views: Poisson, 50 for the canary and 500 for the baseline unless the scenario
 *    says otherwise;
 *  - each page view is a slow user's with probability `slow` (fast: LCP, FCP and TTFB x1,
 *    INP x1, error rate x1; slow: x2, x1.5 and x2 for errors); in the drift scenario the
 *    slow share moves from 10% to 90% over 2 hours while the canary's share of 1,000 page
 *    views a minute steps from 5% to 50% at minute 60;
 *  - LCP log-normal (median 2.3 s, sigma 0.5); FCP log-normal (1.5 s, 0.5) rounded to
 *    10 ms (ties); TTFB log-normal (400 ms, 0.7) rounded to ms; INP Pareto-tailed (150 ms
 *    times a Pareto(alpha 2.5) factor: a heavy tail); CLS 0 for 78% of page views (p75 = 0)
 *    and log-normal (0.05, 1) otherwise; JS errors on 2% of page views.
 *    The "plain" variant has no zeros, no rounding and no Pareto tail.
 * Values go into per-minute sketches (shared/sketch.h) as the collector's rollups hold
 * them; the sequential method reads one slice per minute, the pooled one the merged sketch.
 *
 * `make bench-stats` builds this as bin/stat-sim and prints the full table (500 runs per
 * false-rate scenario, 200 per detection scenario). tests/unit/test_cmp_sim.c includes
 * this file with SIM_NO_MAIN defined and asserts the targets on a small run.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmp.h"
#include "policy_v1.h"
#include "sketch.h"
#include "stats.h"

#define SIM_MINUTES_MAX 240
#define SIM_METRICS 6       /* LCP INP CLS FCP TTFB errors */
#define SIM_QMETRICS 5

static const char *const sim_names[SIM_METRICS] = {"LCP", "INP", "CLS", "FCP", "TTFB", "errors"};

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

static double sim_normal(struct sim_rng *r)
{
    return sqrt(-2 * log(sim_unit(r))) * cos(2 * M_PI * sim_unit(r));
}

/* Poisson by inversion for small means, normal approximation above 200. */
static long sim_poisson(struct sim_rng *r, double mean)
{
    if (mean <= 0)
        return 0;
    if (mean > 200) {
        long v = lround(mean + sqrt(mean) * sim_normal(r));
        return v < 0 ? 0 : v;
    }
    double l = exp(-mean), p = 1;
    long k = 0;
    do {
        k++;
        p *= sim_unit(r);
    } while (p > l);
    return k - 1;
}

struct sim_scenario {
    const char *name;
    const char *policy;         /* a built-in policy */
    double lcp_factor;          /* canary LCP = baseline LCP x this */
    double error_factor;        /* canary error rate = baseline rate x this */
    double canary_views;        /* per minute (mean); 0: no traffic */
    double base_views;
    int drift;                  /* the drift-and-share-change scenario (views: the total) */
    int plain;                  /* no ties, zeros or heavy tails */
};

/* One page view's value of quantile metric k for a user (slow or not). */
static double sim_value(struct sim_rng *r, int k, int slow, double lcp_factor, int plain)
{
    double z = sim_normal(r), v;
    switch (k) {
    case 0:
        return lcp_factor * (slow ? 2 : 1) * 2300 * exp(0.5 * z);
    case 1:
        v = 150 * (slow ? 1.5 : 1) * exp(0.3 * z);
        return plain ? v : v * pow(sim_unit(r), -1 / 2.5);
    case 2:
        if (!plain && sim_unit(r) < 0.78)
            return 0;
        return 0.05 * exp(z);
    case 3:
        v = (slow ? 2 : 1) * 1500 * exp(0.5 * z);
        return plain ? v : 10 * round(v / 10);
    default:
        v = (slow ? 2 : 1) * 400 * exp(0.7 * z);
        return plain ? v : round(v);
    }
}

/* One version's rollups: per minute and metric a sketch, and page views with errors. */
struct sim_version {
    struct sketch sk[SIM_MINUTES_MAX][SIM_QMETRICS];
    struct sketch_bins bins[SIM_MINUTES_MAX][SIM_QMETRICS];
    struct sketch total[SIM_QMETRICS];
    long long views[SIM_MINUTES_MAX], hits[SIM_MINUTES_MAX], tviews, thits;
};

static void sim_version_init(struct sim_version *v)
{
    memset(v, 0, sizeof *v);
    for (int k = 0; k < SIM_QMETRICS; k++) {
        sketch_init(&v->total[k]);
        for (int t = 0; t < SIM_MINUTES_MAX; t++)
            sketch_init(&v->sk[t][k]);
    }
}

static void sim_version_fini(struct sim_version *v)
{
    for (int k = 0; k < SIM_QMETRICS; k++) {
        sketch_fini(&v->total[k]);
        for (int t = 0; t < SIM_MINUTES_MAX; t++) {
            sketch_fini(&v->sk[t][k]);
            sketch_bins_fini(&v->bins[t][k]);
        }
    }
}

/* Adds minute t's page views of a version. Returns 0 or -1 (out of memory). */
static int sim_minute(struct sim_rng *r, struct sim_version *v, int t, long views, double slow,
                      double lcp_factor, double error_factor, int plain)
{
    for (long i = 0; i < views; i++) {
        int s = sim_unit(r) < slow;
        for (int k = 0; k < SIM_QMETRICS; k++) {
            double x = sim_value(r, k, s, lcp_factor, plain);
            if (sketch_add(&v->sk[t][k], x, 1) < 0 || sketch_add(&v->total[k], x, 1) < 0)
                return -1;
        }
        v->hits[t] += sim_unit(r) < 0.02 * (s ? 2 : 1) * error_factor;
    }
    v->views[t] = views;
    v->tviews += views;
    v->thits += v->hits[t];
    for (int k = 0; k < SIM_QMETRICS; k++)
        if (sketch_bins_of(&v->sk[t][k], &v->bins[t][k]) < 0)
            return -1;
    return 0;
}

/* How one canary went under one method. */
struct sim_outcome {
    enum cmp_decision decision; /* the first promote or rollback, else pause */
    int minute;                 /* when it was reached (0 if never) */
};

/* The decision of a verdict, or -1 if memory ran out. */
static int sim_decide(json_t *v)
{
    if (!v)
        return -1;
    const char *d = json_string_value(json_object_get(v, "decision"));
    int out = strcmp(d, "promote") == 0 ? CMP_PROMOTE : strcmp(d, "rollback") == 0 ? CMP_ROLLBACK
                                                                                   : CMP_PAUSE;
    json_decref(v);
    return out;
}

/* Judges minute t (1-based: minutes 0..t-1 are in) with both methods, for those not yet
 * decided. Returns 0 or -1. */
static int sim_judge(const struct cmp_policy *now, const struct cmp_policy *today,
                     struct sim_version *b, struct sim_version *c, int t,
                     struct sim_outcome *seq, struct sim_outcome *pooled)
{
    static struct cmp_slice slices[SIM_METRICS][SIM_MINUTES_MAX];
    struct cmp_data d[SIM_METRICS];
    struct sketch_bins tb[SIM_QMETRICS], tc[SIM_QMETRICS];
    int rc = -1, dec;

    memset(d, 0, sizeof d);
    memset(tb, 0, sizeof tb);
    memset(tc, 0, sizeof tc);
    for (int k = 0; k < SIM_METRICS; k++) {
        d[k].name = sim_names[k];
        d[k].slices = slices[k];
        d[k].nslices = (size_t)t;
        for (int m = 0; m < t; m++) {
            struct cmp_slice *s = &slices[k][m];
            memset(s, 0, sizeof *s);
            if (k < SIM_QMETRICS) {
                s->base = &b->bins[m][k];
                s->canary = &c->bins[m][k];
            } else {
                s->base_hits = b->hits[m];
                s->base_views = b->views[m];
                s->canary_hits = c->hits[m];
                s->canary_views = c->views[m];
            }
        }
        if (k < SIM_QMETRICS) {
            if (sketch_bins_of(&b->total[k], &tb[k]) < 0 || sketch_bins_of(&c->total[k], &tc[k]) < 0)
                goto out;
            d[k].base = &tb[k];
            d[k].canary = &tc[k];
        } else {
            d[k].base_hits = b->thits;
            d[k].base_views = b->tviews;
            d[k].canary_hits = c->thits;
            d[k].canary_views = c->tviews;
        }
    }
    if (seq->minute == 0) {
        if ((dec = sim_decide(cmp_judge_flags(now, d, SIM_METRICS, CMP_SEQUENTIAL,
                                              CMP_NO_BOUNDS))) < 0)
            goto out;
        if (dec != CMP_PAUSE) {
            seq->decision = (enum cmp_decision)dec;
            seq->minute = t;
        }
    }
    if (pooled->minute == 0) {
        for (int k = 0; k < SIM_METRICS; k++)
            d[k].nslices = 0;
        if ((dec = sim_decide(cmp_judge(today, d, SIM_METRICS, CMP_POOLED))) < 0)
            goto out;
        if (dec != CMP_PAUSE) {
            pooled->decision = (enum cmp_decision)dec;
            pooled->minute = t;
        }
    }
    rc = 0;
out:
    for (int k = 0; k < SIM_QMETRICS; k++) {
        sketch_bins_fini(&tb[k]);
        sketch_bins_fini(&tc[k]);
    }
    return rc;
}

/* Runs one canary for the given minutes. Returns 0, or -1 if memory ran out. */
static int sim_canary(const struct sim_scenario *sc, const struct cmp_policy *now,
                      const struct cmp_policy *today, int minutes, int with_pooled,
                      uint64_t seed, struct sim_outcome *seq, struct sim_outcome *pooled)
{
    struct sim_rng rng = {sim_mix(seed) | 1};
    struct sim_version *b = malloc(sizeof *b), *c = malloc(sizeof *c);
    int rc = -1;

    memset(seq, 0, sizeof *seq);
    memset(pooled, 0, sizeof *pooled);
    seq->decision = pooled->decision = CMP_PAUSE;
    pooled->minute = with_pooled ? 0 : -1;  /* -1: not judged at all */
    if (!b || !c)
        goto fail;
    sim_version_init(b);
    sim_version_init(c);
    for (int t = 0; t < minutes && !(seq->minute && pooled->minute); t++) {
        double slow = 0.3, cv = sc->canary_views, bv = sc->base_views;
        if (sc->drift) {
            double share = t < 60 ? 0.05 : 0.5, total = sc->base_views + sc->canary_views;
            slow = 0.1 + 0.8 * t / 120.0;
            cv = share * total;
            bv = total - cv;
        }
        if (sim_minute(&rng, b, t, sim_poisson(&rng, bv), slow, 1, 1, sc->plain) < 0
            || sim_minute(&rng, c, t, sim_poisson(&rng, cv), slow, sc->lcp_factor,
                          sc->error_factor, sc->plain) < 0
            || sim_judge(now, today, b, c, t + 1, seq, pooled) < 0)
            goto fail;
    }
    if (pooled->minute < 0)
        pooled->minute = 0;
    rc = 0;
fail:
    if (b)
        sim_version_fini(b);
    if (c)
        sim_version_fini(c);
    free(b);
    free(c);
    return rc;
}

/* A method's results over a scenario's runs. */
struct sim_result {
    int runs, rollbacks, promotes;
    int rollbacks_60, promotes_60;  /* within 60 minutes */
    double median_rollback;         /* minutes, over the runs rolled back; NAN if none */
    double median_promote;
};

struct sim_totals {
    struct sim_result seq, pooled;
    double seconds;
};

static double sim_median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    stats_sort(v, n);
    return stats_quantile(v, n, 0.5);
}

static void sim_add(struct sim_result *r, const struct sim_outcome *o, double *rb, size_t *nrb,
                    double *pr, size_t *npr)
{
    r->runs++;
    if (o->decision == CMP_ROLLBACK) {
        r->rollbacks++;
        r->rollbacks_60 += o->minute <= 60;
        rb[(*nrb)++] = o->minute;
    } else if (o->decision == CMP_PROMOTE) {
        r->promotes++;
        r->promotes_60 += o->minute <= 60;
        pr[(*npr)++] = o->minute;
    }
}

/* Runs a scenario over canaries x minutes and sums it up; with_pooled also judges each
 * minute with the pooled method. Returns 0 or -1. */
static int sim_scenario_run(const struct sim_scenario *sc, int index, int canaries, int minutes,
                            int with_pooled, struct sim_totals *tot)
{
    struct cmp_policy now, today;
    struct timespec t0, t1;
    double *v = malloc(4 * (size_t)canaries * sizeof(double));
    size_t n[4] = {0, 0, 0, 0};
    int rc = -1;

    memset(tot, 0, sizeof *tot);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!v || minutes > SIM_MINUTES_MAX || cmp_policy_builtin(sc->policy, &now) < 0)
        goto out;
    policy_v1(sc->policy, &today);
    for (int k = 0; k < canaries; k++) {
        struct sim_outcome s, p;
        if (sim_canary(sc, &now, &today, minutes, with_pooled,
                       ((uint64_t)index << 32) | (uint64_t)k, &s, &p) < 0)
            goto out;
        sim_add(&tot->seq, &s, v, &n[0], v + canaries, &n[1]);
        sim_add(&tot->pooled, &p, v + 2 * canaries, &n[2], v + 3 * canaries, &n[3]);
    }
    tot->seq.median_rollback = sim_median(v, n[0]);
    tot->seq.median_promote = sim_median(v + canaries, n[1]);
    tot->pooled.median_rollback = sim_median(v + 2 * canaries, n[2]);
    tot->pooled.median_promote = sim_median(v + 3 * canaries, n[3]);
    rc = 0;
out:
    clock_gettime(CLOCK_MONOTONIC, &t1);
    tot->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    free(v);
    return rc;
}

/* The scenarios of the targets (shared/README.md "Statistics"), and whether each is a
 * false-rate one (more runs). */
static const struct sim_scenario sim_scenarios[] = {
    {"identical", "conservative", 1, 1, 50, 500, 0, 0},
    {"identical, plain", "conservative", 1, 1, 50, 500, 0, 1},
    {"identical, drift", "conservative", 1, 1, 50, 950, 1, 0},
    {"identical", "aggressive", 1, 1, 50, 500, 0, 0},
    {"LCP +10% (at tol)", "conservative", 1.10, 1, 50, 500, 0, 0},
    {"LCP +25%", "conservative", 1.25, 1, 50, 500, 0, 0},
    {"LCP +15% 500/500", "conservative", 1.15, 1, 500, 500, 0, 0},
    {"errors 2% -> 4%", "conservative", 1, 2, 50, 500, 0, 0},
    {"no traffic", "conservative", 1, 1, 0, 500, 0, 0},
    {"5 views/min", "aggressive", 1, 1, 5, 500, 0, 0},
};
static const int sim_false_rate[] = {1, 1, 1, 1, 1, 0, 0, 0, 1, 1};

#define SIM_NSCENARIOS (sizeof sim_scenarios / sizeof sim_scenarios[0])

#ifndef SIM_NO_MAIN
static void sim_cell(char *dst, size_t len, int k, int runs)
{
    snprintf(dst, len, "%d (%.1f%%)", k, 100.0 * k / runs);
}

static void sim_median_cell(char *dst, size_t len, double m)
{
    if (isnan(m))
        snprintf(dst, len, "-");
    else
        snprintf(dst, len, "%.0f", m);
}

static void sim_print_result(const char *name, const char *policy, const char *method,
                             const struct sim_result *r)
{
    char rb[32], r60[32], mr[16], pr[32], p60[32], mp[16];
    sim_cell(rb, sizeof rb, r->rollbacks, r->runs);
    sim_cell(r60, sizeof r60, r->rollbacks_60, r->runs);
    sim_cell(pr, sizeof pr, r->promotes, r->runs);
    sim_cell(p60, sizeof p60, r->promotes_60, r->runs);
    sim_median_cell(mr, sizeof mr, r->median_rollback);
    sim_median_cell(mp, sizeof mp, r->median_promote);
    printf("| %-18s | %-12s | %-10s | %4d | %13s | %13s | %6s | %13s | %13s | %6s |\n", name,
           policy, method, r->runs, rb, r60, mr, pr, p60, mp);
}

int main(int argc, char **argv)
{
    long det = 200, fals = 500, minutes = 120, first = 0, last = (long)SIM_NSCENARIOS - 1;
    double total = 0;
    char *end = NULL;

    if (argc > 1)
        det = strtol(argv[1], &end, 10);
    if (argc > 1 && (*end || det <= 0 || det > 100000))
        det = 0;
    if (argc > 2)
        fals = strtol(argv[2], &end, 10);
    if (argc > 2 && (*end || fals <= 0 || fals > 100000))
        fals = 0;
    /* A range of scenarios (FIRST-LAST, from 0), to share a full run between processes. */
    if (argc > 3 && (sscanf(argv[3], "%ld-%ld", &first, &last) != 2 || first < 0
                     || last >= (long)SIM_NSCENARIOS || first > last))
        fals = 0;
    if (det <= 0 || fals <= 0 || argc > 4) {
        fprintf(stderr, "usage: stat-sim [detection-runs [false-rate-runs [FIRST-LAST]]]\n");
        return 2;
    }
    printf("A verdict every minute for %ld minutes; %ld runs per detection scenario, %ld per"
           " false-rate scenario; sequential = today's method (two-sample tests within minutes,"
           " built-in policy), pooled = the first version's per-version bounds and policy"
           " values.\n\n", minutes, det, fals);
    printf("| %-18s | %-12s | %-10s | %4s | %13s | %13s | %6s | %13s | %13s | %6s |\n",
           "scenario", "policy", "method", "runs", "rolled back", "in 60 min", "median",
           "promoted", "in 60 min", "median");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = (size_t)first; i <= (size_t)last; i++) {
        struct sim_totals t;
        int runs = (int)(sim_false_rate[i] ? fals : det);
        if (sim_scenario_run(&sim_scenarios[i], (int)i, runs, (int)minutes, 1, &t) < 0) {
            fprintf(stderr, "stat-sim: out of memory\n");
            return 1;
        }
        sim_print_result(sim_scenarios[i].name, sim_scenarios[i].policy, "sequential", &t.seq);
        sim_print_result(sim_scenarios[i].name, sim_scenarios[i].policy, "pooled", &t.pooled);
        fflush(stdout);
        total += t.seconds;
    }
    printf("\nmedian: minutes to the decision over the runs that reached it.\n(%.0f s)\n", total);
    return 0;
}
#endif
