#include "srm.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const action_names[] = {"pause", "rollback", "off"};

void srm_policy_default(struct srm_policy *p)
{
    p->action = SRM_PAUSE;
    p->alpha = SRM_ALPHA_DEFAULT;
}

int srm_action_parse(const char *word, enum srm_action *out)
{
    for (int i = 0; word && i < 3; i++)
        if (strcmp(word, action_names[i]) == 0) {
            *out = (enum srm_action)i;
            return 0;
        }
    return -1;
}

const char *srm_action_name(enum srm_action a)
{
    return action_names[a];
}

int srm_weight_ok(double weight)
{
    return isfinite(weight) && weight > 0 && weight < 100;
}

static double lbeta(double a, double b)
{
    return lgamma(a) + lgamma(b) - lgamma(a + b);
}

double srm_log_evalue(long long canary, long long base, double expected, double k)
{
    assert(expected > 0 && expected < 1 && k > 0 && canary >= 0 && base >= 0);
    double a = k * expected, b = k * (1 - expected);
    double c = (double)canary, n0 = (double)base;
    if (canary == 0 && base == 0)
        return 0;
    return lbeta(a + c, b + n0) - lbeta(a, b) - c * log(expected) - n0 * log1p(-expected);
}

void srm_test(long long canary, long long base, double weight, double alpha,
              struct srm_result *out)
{
    assert(srm_weight_ok(weight) && alpha > 0 && alpha < 1);
    memset(out, 0, sizeof *out);
    out->base = base;
    out->canary = canary;
    out->expected = weight / 100;
    out->alpha = alpha;
    out->observed = canary + base > 0 ? (double)canary / (double)(canary + base) : NAN;
    out->log_e = srm_log_evalue(canary, base, out->expected, SRM_CONCENTRATION);
    out->mismatch = out->log_e >= log(1 / alpha);
}

/* A share as a person reads it: "21%", "2.4%", "0.31%". */
static void percent(char *buf, size_t len, double share)
{
    double pc = share * 100;
    snprintf(buf, len, pc >= 10 || pc == 0 ? "%.0f%%" : pc >= 1 ? "%.1f%%" : "%.2f%%", pc);
}

/* The verdict's decision after a shown mismatch: the stronger of the two. */
static void escalate(json_t *verdict, enum srm_action a)
{
    const char *d = json_string_value(json_object_get(verdict, "decision"));
    if (d && strcmp(d, "rollback") == 0)
        return;
    json_object_set_new(verdict, "decision",
                        json_string(a == SRM_ROLLBACK ? "rollback" : "pause"));
}

json_t *srm_split_json(const struct srm_policy *p, double weight, long long canary,
                       long long base, struct srm_result *r)
{
    json_t *t = json_object();
    const char *result = p->action == SRM_OFF ? "off" : !srm_weight_ok(weight) ? "skipped" : NULL;

    memset(r, 0, sizeof *r);
    if (!t)
        return NULL;
    json_object_set_new(t, "expected", srm_weight_ok(weight) ? json_real(weight / 100)
                                                              : json_null());
    json_object_set_new(t, "baseline_views", json_integer(base));
    json_object_set_new(t, "canary_views", json_integer(canary));
    json_object_set_new(t, "alpha", json_real(p->alpha));
    if (!result) {
        srm_test(canary, base, weight, p->alpha, r);
        json_object_set_new(t, "observed", isnan(r->observed) ? json_null() : json_real(r->observed));
        json_object_set_new(t, "log_e_value", json_real(r->log_e));
        json_object_set_new(t, "e_value", r->log_e < 700 ? json_real(exp(r->log_e)) : json_null());
        result = canary + base == 0 ? "no data" : r->mismatch ? "mismatch" : "as expected";
    }
    json_object_set_new(t, "result", json_string(result));
    return t;
}

int srm_apply(json_t *verdict, const struct srm_policy *p, double weight, long long canary,
              long long base)
{
    char line[512], obs[16], exp_s[16];
    json_t *reasons = json_object_get(verdict, "reasons");
    struct srm_result r;
    json_t *t = srm_split_json(p, weight, canary, base, &r);
    const char *result = json_string_value(json_object_get(t, "result"));
    size_t at;

    if (!t || !result || !json_is_array(reasons)) {
        json_decref(t);
        return -1;
    }
    json_object_set_new(t, "on_mismatch", json_string(srm_action_name(p->action)));
    at = json_array_size(reasons);
    snprintf(exp_s, sizeof exp_s, "%g%%", weight);
    percent(obs, sizeof obs, r.observed);
    if (strcmp(result, "off") == 0) {
        snprintf(line, sizeof line, "traffic split not checked: the policy turns the check off");
    } else if (strcmp(result, "skipped") == 0) {
        snprintf(line, sizeof line, "traffic split not checked: the canary's deployment marker"
                 " has no weight (collector mark --weight, \"weight\" in POST /v1/deployments)");
    } else if (strcmp(result, "no data") == 0) {
        snprintf(line, sizeof line, "traffic split: no page views of either version yet;"
                 " this step expects %s for the canary", exp_s);
    } else if (r.mismatch) {
        escalate(verdict, p->action);
        snprintf(line, sizeof line, "%s: the canary receives %s of page views; this step"
                 " expects %s (%lld of %lld page views; e-value %.3g, over 1/alpha = %g): the"
                 " split is wrong, so the comparisons below are suspect",
                 p->action == SRM_ROLLBACK ? "roll back" : "pause", obs, exp_s, canary,
                 canary + base, exp(fmin(r.log_e, 700)), 1 / p->alpha);
        /* First when it decides; after the summary when a rollback stands. */
        const char *d = json_string_value(json_object_get(verdict, "decision"));
        at = p->action == SRM_ROLLBACK || !d || strcmp(d, "rollback") != 0 ? 0 : 1;
    } else {
        snprintf(line, sizeof line, "traffic split: the canary receives %s of page views; this"
                 " step expects %s (%lld of %lld page views; e-value %.3g, under 1/alpha = %g):"
                 " no mismatch shown", obs, exp_s, canary, canary + base, exp(r.log_e),
                 1 / p->alpha);
    }
    json_object_set_new(t, "reason", json_string(line));
    json_object_set_new(verdict, "traffic", t);
    if (at > json_array_size(reasons))
        at = json_array_size(reasons);
    return json_array_insert_new(reasons, at, json_string(line));
}
