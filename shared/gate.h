/*
 * gate: the pre-exposure gate. Version V of an app may be exposed only if every required
 * region's probes ran each of V's journeys recently enough and often enough, and all
 * those runs passed (a step that passed on a retry counts as passed, and is reported).
 * With require_signed, only runs the collector received with a valid signature
 * (shared/sign.h) count: a run pushed with the bearer token is then as if it never ran.
 */
#ifndef VIGIL_GATE_H
#define VIGIL_GATE_H

#include <jansson.h>
#include <stddef.h>

#include "store.h"

#define GATE_REGIONS_MAX 32

struct gate_opts {
    const char *app, *version;
    const char *regions[GATE_REGIONS_MAX];
    size_t nregions;            /* 0: the regions that reported for the app in the last day */
    long long max_age_ms;       /* default 15 minutes */
    int min_runs;               /* default 1 */
    int require_signed;         /* count only runs pushed with a valid signature */
};

/* Decides. Returns a new object {"decision": "allow"|"block", "app", "version",
 * "regions": [...], "journeys": [...], "reasons": ["..."], "max_age_s", "min_runs",
 * "require_signed"}, or NULL with err when the store could not be read. */
json_t *gate_decide(struct store *s, const struct gate_opts *o, long long now_ms,
                    char *err, size_t errlen);

/* Writes a short age ("45s", "12m", "3h", "2d") into dst. */
void gate_age(long long ms, char *dst, size_t dstlen);

#endif
