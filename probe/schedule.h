/*
 * schedule: probe as a service on a regional host (probe/README.md "probe schedule").
 *
 * Every journey runs every `every_ms`, give or take a random jitter so that a fleet does
 * not fire in lockstep; runs of one journey never overlap (a run that outlasts its
 * interval is reported and the missed slots are skipped, not stacked). Each result is
 * pushed to the collector; one that cannot be delivered goes to the spool and is retried
 * in order, with a backoff doubling from 0.5 s up to 10 s, so the spool drains within
 * seconds of the collector coming back. SIGHUP reloads the journeys (an invalid file keeps
 * the old ones and says why); SIGTERM or SIGINT lets the runs in flight finish, makes a
 * last delivery attempt and returns.
 */
#ifndef VIGIL_SCHEDULE_H
#define VIGIL_SCHEDULE_H

#include <stddef.h>

#include "journey.h"
#include "push.h"
#include "runner.h"

#define SCHEDULE_RETRY_MIN_MS 500
#define SCHEDULE_RETRY_MAX_MS 10000

struct schedule_opts {
    long long every_ms;
    double jitter;              /* fraction of the interval, 0 to 0.5 */
    const char *push_url;
    struct push_auth auth;
    const char *spool_dir;
    size_t spool_max;
    int json_log;               /* JSON lines on stderr instead of text */
    const char *region;
};

/* Loads the journeys to run (called at start and on SIGHUP). Returns 0 with a new array
 * *js of *n journeys (the scheduler frees them), or -1 with err. */
typedef int (*schedule_load_fn)(void *ctx, struct journey ***js, size_t *n, char *err,
                                size_t errlen);

/* Runs until SIGTERM or SIGINT. Returns 0 after a clean stop, or -1 with err when it
 * could not start (no journeys, spool folder unusable). */
int schedule_run(const struct schedule_opts *so, const struct runner_opts *ro,
                 schedule_load_fn load, void *ctx, char *err, size_t errlen);

#endif
