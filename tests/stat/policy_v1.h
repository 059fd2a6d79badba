/*
 * The built-in policies as the first version of the comparator had them: relative
 * tolerances for quantiles (conservative +10%, aggressive +50%), absolute ones for the
 * error rate (+0.1 and +0.5 point), rollback at the same tolerance, min_sample 200 / 1,000
 * (aggressive 100 / 500). The simulation judges the pooled method with them ("today"),
 * and the pooled method's unit tests were written against them.
 */
#ifndef VIGIL_POLICY_V1_H
#define VIGIL_POLICY_V1_H

#include <string.h>

#include "cmp.h"

static void policy_v1(const char *name, struct cmp_policy *p)
{
    int aggr = strcmp(name, "aggressive") == 0;
    cmp_policy_builtin(name, p);
    for (size_t i = 0; i < p->n; i++) {
        struct cmp_policy_metric *m = &p->m[i];
        int rate = m->kind == CMP_RATE;
        m->tolerance_kind = CMP_TOL_DEFAULT;
        m->rollback_set = 0;
        m->tolerance = rate ? (aggr ? 0.005 : 0.001) : (aggr ? 0.5 : 0.1);
        m->min_sample = rate ? (aggr ? 500 : 1000) : (aggr ? 100 : 200);
    }
}

#endif
