/*
 * srm: the traffic gate's e-value against values computed outside this code, what it
 * does to a verdict, and a simulation of a rollout controller asking every minute for two
 * hours (the targets of shared/README.md "The traffic gate"):
 *  - share as expected (5%, 10%, 50%): a mismatch is reported in at most alpha of runs;
 *  - 10% expected, 20% observed at 550 page views a minute: reported, median <= 10 min;
 *  - 10% expected, 12% observed: reported within 2 h in at least 80% of runs.
 * A naive chi-squared test asked every minute is run on the same data for contrast.
 * The seed is fixed, so every run sees the same data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cmp.h"
#include "rng.h"
#include "srm.h"

#define RUNS 10000
#define MINUTES 120
#define VIEWS_PER_MINUTE 550

static int near(double got, double want, double tol)
{
    return fabs(got - want) <= tol * fmax(1, fabs(want));
}

/* Reference values: the e-value as the product, page view by page view, of its
 * predictive probability over its probability under the expected share, in exact
 * rational arithmetic (Python's fractions), for small counts; Python's own math.lgamma
 * in the closed form for large ones. */
static void reference_values(void)
{
    static const struct {
        long long c, b;
        double p, want;
    } ref[] = {
        {0, 0, 0.1, 0.0},
        {1, 0, 0.1, 0.0},
        {0, 1, 0.1, 0.0},
        {110, 440, 0.1, 20.04228559381398},
        {55, 495, 0.1, -0.9430279572657722},
        {5, 95, 0.05, -0.35490964745669007},
        {600, 400, 0.5, 17.0989404164511},
        {3, 0, 0.5, 0.029270382300113237},
        {1330, 5000, 0.1, 328.31109928083947},
        {132000, 868000, 0.12, 658.4187827590795},
        {120000, 880000, 0.12, -4.612275950028561},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        double got = srm_log_evalue(ref[i].c, ref[i].b, ref[i].p, SRM_CONCENTRATION);
        CHECK(near(got, ref[i].want, 1e-9), "log E for %lld canary, %lld baseline page views"
              " at %g: %.12g (reference %.12g)", ref[i].c, ref[i].b, ref[i].p, got, ref[i].want);
    }
    struct srm_result r;
    srm_test(110, 440, 10, 0.001, &r);
    CHECK(r.mismatch && near(r.observed, 0.2, 1e-12), "110 of 550 against 10%%: mismatch at"
          " alpha 0.001 (log E 20.04 >= log 1000 = 6.91)");
    srm_test(55, 495, 10, 0.001, &r);
    CHECK(!r.mismatch, "55 of 550 against 10%%: no mismatch");
    CHECK(srm_weight_ok(10) && srm_weight_ok(0.5) && !srm_weight_ok(0) && !srm_weight_ok(100)
          && !srm_weight_ok(NAN) && !srm_weight_ok(-3), "weights: 0 < weight < 100");
    enum srm_action a;
    CHECK(srm_action_parse("rollback", &a) == 0 && a == SRM_ROLLBACK
          && srm_action_parse("off", &a) == 0 && a == SRM_OFF
          && srm_action_parse("Pause", &a) < 0, "actions: pause, rollback, off");
}

/* A verdict as cmp_judge makes it, reduced to what srm_apply reads, after srm_apply with
 * c canary and b baseline page views against weight. The caller json_decref()s it. */
static json_t *applied(const struct srm_policy *p, const char *decision, double weight,
                       long long c, long long b)
{
    json_t *v = json_pack("{s:s,s:[s,s]}", "decision", decision, "reasons",
                          "summary of the metrics", "LCP p75 ...");
    CHECK(srm_apply(v, p, weight, c, b) == 0, "apply: %lld of %lld against %g%% (%s before)",
          c, c + b, weight, decision);
    return v;
}

static const char *decision_of(const json_t *v)
{
    return json_string_value(json_object_get(v, "decision"));
}

static const char *result_of(const json_t *v)
{
    return json_string_value(json_object_get(json_object_get(v, "traffic"), "result"));
}

static const char *reason(const json_t *v, size_t i)
{
    const char *r = json_string_value(json_array_get(json_object_get(v, "reasons"), i));
    return r ? r : "(none)";
}

static void apply_cases(void)
{
    struct srm_policy p;
    srm_policy_default(&p);
    CHECK(p.action == SRM_PAUSE && p.alpha == SRM_ALPHA_DEFAULT, "default: pause at 0.001");

    /* 21% of 1,000 against 10%: shown; promote becomes pause, the reason first. */
    json_t *v = applied(&p, "promote", 10, 210, 790);
    const json_t *t = json_object_get(v, "traffic");
    CHECK_STR(decision_of(v), "pause", "mismatch: pause");
    CHECK(strstr(reason(v, 0), "the canary receives 21% of page views; this step expects 10%"),
          "mismatch: the reason in words first: %s", reason(v, 0));
    CHECK_STR(result_of(v), "mismatch", "traffic.result");
    CHECK(near(json_real_value(json_object_get(t, "expected")), 0.1, 1e-12)
          && near(json_real_value(json_object_get(t, "observed")), 0.21, 1e-12)
          && json_integer_value(json_object_get(t, "canary_views")) == 210
          && json_integer_value(json_object_get(t, "baseline_views")) == 790
          && json_real_value(json_object_get(t, "e_value")) >= 1000
          && near(json_real_value(json_object_get(t, "alpha")), 0.001, 1e-12),
          "traffic: expected, observed, counts, e-value, alpha in the JSON");
    json_decref(v);

    /* Policy rollback. */
    p.action = SRM_ROLLBACK;
    v = applied(&p, "pause", 10, 210, 790);
    CHECK_STR(decision_of(v), "rollback", "on_mismatch rollback: roll back");
    CHECK(strncmp(reason(v, 0), "roll back: the canary receives 21%", 34) == 0,
          "rollback: its reason first: %s", reason(v, 0));
    json_decref(v);

    /* A rollback by the metrics stands when the policy says pause; the line comes second. */
    p.action = SRM_PAUSE;
    v = applied(&p, "rollback", 10, 210, 790);
    CHECK_STR(decision_of(v), "rollback", "a metric's rollback stays a rollback");
    CHECK_STR(reason(v, 0), "summary of the metrics", "the metrics' summary stays first");
    json_decref(v);

    /* As expected: the decision stays, one line at the end. */
    v = applied(&p, "promote", 10, 102, 898);
    CHECK_STR(decision_of(v), "promote", "10.2%% against 10%%: the decision stays");
    CHECK_STR(result_of(v), "as expected", "traffic.result as expected");
    CHECK(json_array_size(json_object_get(v, "reasons")) == 3, "one line added");
    json_decref(v);

    /* No weight: skipped, said once; off: said once, nothing tested. */
    v = applied(&p, "promote", NAN, 500, 500);
    CHECK(json_array_size(json_object_get(v, "reasons")) == 3 && strstr(reason(v, 2), "has no weight")
          && strcmp(decision_of(v), "promote") == 0,
          "no weight: skipped, one reason line: %s", reason(v, 2));
    CHECK_STR(result_of(v), "skipped", "traffic.result skipped");
    json_decref(v);
    p.action = SRM_OFF;
    v = applied(&p, "promote", 10, 500, 500);
    CHECK_STR(decision_of(v), "promote", "off: 50%% against 10%% changes nothing");
    CHECK_STR(result_of(v), "off", "traffic.result off");
    json_decref(v);
}

/* Loads a policy file holding text; the loader's message in err. */
static int load_policy(const char *text, struct cmp_policy *p, char *path, char *err,
                       size_t errlen)
{
    snprintf(path, 64, "/tmp/test_srm.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    close(fd);
    err[0] = 0;
    int rc = cmp_policy_load(path, p, err, errlen);
    unlink(path);
    return rc;
}

/* The policy's "traffic" key (shared/README.md, "Policy files"). */
static void policy_cases(void)
{
    struct cmp_policy p;
    char path[64], err[512], want[600];
    CHECK(cmp_policy_builtin("aggressive", &p) == 0 && p.traffic.action == SRM_PAUSE
          && p.traffic.alpha == SRM_ALPHA_DEFAULT, "built-in policies pause at 0.001");
    CHECK(load_policy("{\"metrics\": {\"LCP\": {\"tolerance\": 0.1}},\n"
                      " \"traffic\": {\"on_mismatch\": \"rollback\", \"alpha\": 0.01}}\n",
                      &p, path, err, sizeof err) == 0
          && p.traffic.action == SRM_ROLLBACK && p.traffic.alpha == 0.01,
          "a policy file sets on_mismatch rollback and alpha 0.01 (%s)", err);
    CHECK(load_policy("{\"metrics\": {\"LCP\": {\"tolerance\": 0.1}}}", &p, path, err,
                      sizeof err) == 0 && p.traffic.action == SRM_PAUSE
          && p.traffic.alpha == SRM_ALPHA_DEFAULT, "without \"traffic\": pause at 0.001");
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"metrics\": {\"LCP\": {\"tolerance\": 0.1}},\n \"traffic\": {\"alpha\": 0.7}}",
         ":2:23: \"alpha\" must be a number in (0, 0.5], not 0.7"},
        {"{\"metrics\": {\"LCP\": {\"tolerance\": 0.1}},\n \"traffic\": \"off\"}",
         ":2:13: \"traffic\" must be an object such as {\"on_mismatch\": \"pause\", \"alpha\": 0.001}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = load_policy(bad[i].text, &p, path, err, sizeof err);
        snprintf(want, sizeof want, "%s%s", path, bad[i].want);
        CHECK(rc < 0, "bad traffic policy %zu is refused", i);
        CHECK_STR(err, want, "bad traffic policy %zu: message", i);
    }
}

/* Binomial(n, p) by inversion: walks the probabilities from 0 (from n for p > 1/2). */
static long long binomial(int n, double p)
{
    if (p > 0.5)
        return n - binomial(n, 1 - p);
    double q = 1 - p, pmf = pow(q, n), cdf = pmf, u = rng_unit();
    int k = 0;
    while (u > cdf && k < n) {
        pmf *= (double)(n - k) / (double)(k + 1) * p / q;
        k++;
        cdf += pmf;
    }
    return k;
}

struct sim {
    const char *name;
    double weight, actual;      /* expected and true canary share, percent */
    int views;                  /* page views a minute, both versions */
};

struct sim_out {
    int shown[2];               /* runs with a mismatch reported at alpha 0.05, 0.001 */
    int naive;                  /* runs a chi-squared test at 5% rejected at some look */
    double median[2];           /* median minute of the first report (of runs reported) */
};

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static double median_of(int *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_int);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static void simulate(const struct sim *s, struct sim_out *o)
{
    static int first[2][RUNS];
    static const double alphas[2] = {0.05, SRM_ALPHA_DEFAULT};
    double p0 = s->weight / 100;
    memset(o, 0, sizeof *o);
    for (int run = 0; run < RUNS; run++) {
        long long c = 0, n = 0;
        int seen[2] = {0, 0}, naive = 0;
        for (int m = 1; m <= MINUTES; m++) {
            c += binomial(s->views, s->actual / 100);
            n += s->views;
            double le = srm_log_evalue(c, n - c, p0, SRM_CONCENTRATION);
            for (int a = 0; a < 2; a++)
                if (!seen[a] && le >= log(1 / alphas[a])) {
                    seen[a] = 1;
                    first[a][o->shown[a]++] = m;
                }
            double z = ((double)c - (double)n * p0) / sqrt((double)n * p0 * (1 - p0));
            naive |= z * z > 3.841458820694124;    /* chi-squared, 1 df, 95% */
        }
        o->naive += naive;
    }
    for (int a = 0; a < 2; a++)
        o->median[a] = median_of(first[a], o->shown[a]);
}

static void simulation(void)
{
    static const struct sim sims[] = {
        {"5% as expected", 5, 5, VIEWS_PER_MINUTE},
        {"10% as expected", 10, 10, VIEWS_PER_MINUTE},
        {"50% as expected", 50, 50, VIEWS_PER_MINUTE},
        {"10% expected, 20% observed", 10, 20, VIEWS_PER_MINUTE},
        {"10% expected, 12% observed", 10, 12, VIEWS_PER_MINUTE},
        {"10% expected, 12% observed, 55 views/min", 10, 12, 55},
    };
    struct sim_out o[sizeof sims / sizeof sims[0]];
    clock_t t0 = clock();
    rng_seed(0x5EEDF00DULL);
    printf("# %d runs x %d looks (one a minute) per scenario; page views split binomially\n",
           RUNS, MINUTES);
    printf("# | scenario | reported, alpha 0.05 | median minute | reported, alpha 0.001 |"
           " median minute | naive chi-squared at 5%% every minute |\n");
    for (size_t i = 0; i < sizeof sims / sizeof sims[0]; i++) {
        simulate(&sims[i], &o[i]);
        printf("# | %s | %d (%.2f%%) | %.0f | %d (%.2f%%) | %.0f | %d (%.1f%%) |\n", sims[i].name,
               o[i].shown[0], 100.0 * o[i].shown[0] / RUNS, o[i].median[0], o[i].shown[1],
               100.0 * o[i].shown[1] / RUNS, o[i].median[1], o[i].naive,
               100.0 * o[i].naive / RUNS);
    }
    printf("# simulation took %.1f s of CPU\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    for (int i = 0; i < 3; i++) {
        CHECK(o[i].shown[0] <= 0.05 * RUNS, "%s: mismatch reported in %d of %d runs at alpha"
              " 0.05 (at most %d)", sims[i].name, o[i].shown[0], RUNS, (int)(0.05 * RUNS));
        CHECK(o[i].shown[1] <= SRM_ALPHA_DEFAULT * RUNS, "%s: in %d of %d runs at alpha 0.001"
              " (at most %d)", sims[i].name, o[i].shown[1], RUNS, (int)(SRM_ALPHA_DEFAULT * RUNS));
    }
    CHECK(o[3].shown[1] == RUNS && o[3].median[1] <= 10, "10%% expected, 20%% observed at 550"
          " page views a minute: reported in %d of %d runs, median minute %.0f (<= 10)",
          o[3].shown[1], RUNS, o[3].median[1]);
    CHECK(o[4].shown[1] >= 0.8 * RUNS, "10%% expected, 12%% observed: reported within 2 h in"
          " %d of %d runs (>= 80%%)", o[4].shown[1], RUNS);
}

int main(void)
{
    reference_values();
    apply_cases();
    policy_cases();
    simulation();
    return check_done();
}
