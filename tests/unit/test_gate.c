/*
 * Unit tests for shared/gate.c: the max age of the runs that count, at its bound. Runs
 * are stored through shared/store.c in a fresh temporary database, then judged with
 * max_age 15 minutes, in its unit (ms), by gate_decide() at a fixed time and by the
 * gate call of collector/api.c ("15m", "900s", "900") at the real time.
 *
 * The fixed time is 1764300000 s (2025-11-28T03:20:00Z); the start times 899, 900 and
 * 901 s before it were written with `date -u -d @$((1764300000 - N)) +%FT%TZ`:
 *   899 s -> 2025-11-28T03:05:01Z, 900 s -> 2025-11-28T03:05:00Z,
 *   901 s -> 2025-11-28T03:04:59Z.
 * A gate that takes max_age for seconds, or for microseconds, is off by a factor of 1000
 * and gets at least one of the runs on either side of the bound wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "check.h"
#include "gate.h"
#include "store.h"

#define NOW_MS 1764300000000LL
#define MAX_AGE_MS (15 * 60 * 1000LL)

static char dir[64], db_path[128];

/* Stores one passed run of journey "checkout" in eu-west for shop/version, started at
 * started_at (RFC 3339). */
static void store_run(struct store *s, const char *version, const char *started_at)
{
    char doc[1024], err[512];
    snprintf(doc, sizeof doc,
             "{\"schema\":\"vigil.probe-result/1\",\"run_id\":\"r-%s\",\"started_at\":\"%s\","
             "\"passed\":true,\"labels\":{\"app\":\"shop\",\"version\":\"%s\","
             "\"region\":\"eu-west\",\"host\":\"h-1\"},\"journeys\":[{\"name\":\"checkout\","
             "\"passed\":true,\"started_at\":\"%s\",\"steps\":[{\"name\":\"home\","
             "\"result\":\"passed\",\"attempts\":1}]}]}",
             version, started_at, version, started_at);
    if (store_insert_probe_run(s, doc, NOW_MS, 0, NULL, err, sizeof err) != 1)
        printf("# storing %s: %s\n", version, err);
}

/* The decision ("allow"/"block") for shop/version in eu-west with max_age_ms at now_ms,
 * or "(error)"; the first reason goes into why. */
static const char *decide(struct store *s, const char *version, long long max_age_ms,
                          char *why, size_t whylen, long long *max_age_s)
{
    static char decision[16];
    char err[512];
    struct gate_opts o;

    memset(&o, 0, sizeof o);
    o.app = "shop";
    o.version = version;
    o.regions[0] = "eu-west";
    o.nregions = 1;
    o.max_age_ms = max_age_ms;
    o.min_runs = 1;
    json_t *out = gate_decide(s, &o, NOW_MS, err, sizeof err);
    snprintf(decision, sizeof decision, "%s",
             out ? json_string_value(json_object_get(out, "decision")) : "(error)");
    snprintf(why, whylen, "%s", out ? json_string_value(json_array_get(json_object_get(out,
             "reasons"), 0)) : err);
    *max_age_s = out ? json_integer_value(json_object_get(out, "max_age_s")) : -1;
    json_decref(out);
    return decision;
}

static void at_fixed_time(struct store *s)
{
    char why[1024];
    long long max_age_s;

    store_run(s, "899s", "2025-11-28T03:05:01Z");
    store_run(s, "900s", "2025-11-28T03:05:00Z");
    store_run(s, "901s", "2025-11-28T03:04:59Z");

    CHECK_STR(decide(s, "899s", MAX_AGE_MS, why, sizeof why, &max_age_s), "allow",
              "gate_decide, max_age 15 min: a run 899 s old counts (%s)", why);
    CHECK_STR(why, "eu-west/checkout: 1 run(s) passed, last 14m ago",
              "... the reason says it passed 14 minutes ago");
    CHECK(max_age_s == 900, "... and the answer carries max_age_s 900 (got %lld)", max_age_s);
    CHECK_STR(decide(s, "900s", MAX_AGE_MS, why, sizeof why, &max_age_s), "allow",
              "gate_decide, max_age 15 min: a run exactly 900 s old is within it (%s)", why);
    CHECK_STR(decide(s, "901s", MAX_AGE_MS, why, sizeof why, &max_age_s), "block",
              "gate_decide, max_age 15 min: a run 901 s old does not count");
    CHECK_STR(why, "eu-west/checkout: 0 of the 1 run(s) needed within 15m (last ran 15m ago)",
              "... the reason says none within 15m");

    /* The same runs a minute further on, or with a minute more of max age. */
    CHECK_STR(decide(s, "899s", MAX_AGE_MS - 60000, why, sizeof why, &max_age_s), "block",
              "gate_decide, max_age 14 min: the 899 s old run does not count");
    CHECK_STR(decide(s, "901s", MAX_AGE_MS + 60000, why, sizeof why, &max_age_s), "allow",
              "gate_decide, max_age 16 min: the 901 s old run counts");
}

/* Stores a run started age_s seconds before the real time, as version. */
static void store_run_ago(struct store *s, const char *version, long long age_s)
{
    char when[32];
    time_t t = time(NULL) - (time_t)age_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    store_run(s, version, when);
}

/* The decision of the gate call (GET /v1/gate, collector gate) for version with the
 * max_age argument as text. */
static const char *call(struct store *s, const char *version, const char *max_age)
{
    static char decision[64];
    json_t *resp = NULL;
    json_t *args = json_pack("{s:s,s:s,s:[s],s:s}", "app", "shop", "version", version,
                             "regions", "eu-west", "max_age", max_age);
    int status = api_call(s, "gate", args, &resp);
    snprintf(decision, sizeof decision, "%d %s", status,
             json_string_value(json_object_get(resp, "decision")) ?
             json_string_value(json_object_get(resp, "decision")) : "(none)");
    json_decref(resp);
    json_decref(args);
    return decision;
}

static void through_the_api(struct store *s)
{
    static const char *const forms[] = {"15m", "900s", "900", NULL};

    /* Five seconds either side of the bound, so that the test's own time does not count. */
    store_run_ago(s, "api-895s", 895);
    store_run_ago(s, "api-905s", 905);
    for (int i = 0; forms[i]; i++) {
        CHECK_STR(call(s, "api-895s", forms[i]), "200 allow",
                  "gate call, max_age \"%s\": a run 895 s old counts", forms[i]);
        CHECK_STR(call(s, "api-905s", forms[i]), "200 block",
                  "gate call, max_age \"%s\": a run 905 s old does not count", forms[i]);
    }
}

int main(void)
{
    struct store *s = NULL;
    char err[512] = "";

    snprintf(dir, sizeof dir, "/tmp/vigil-test-gate-XXXXXX");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return check_done();
    }
    snprintf(db_path, sizeof db_path, "%s/vigil.db", dir);
    CHECK(store_open(&s, db_path, 0, err, sizeof err) == 0 && s, "store_open %s%s%s", db_path,
          s ? "" : ": ", err);
    if (s) {
        at_fixed_time(s);
        through_the_api(s);
        store_close(s);
    }

    static const char *const files[] = {"vigil.db", "vigil.db-wal", "vigil.db-shm", NULL};
    char path[160];
    for (int i = 0; files[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    CHECK(access(dir, F_OK) != 0, "temporary directory removed");
    return check_done();
}
