/*
 * Unit tests for the store's bounds of issue 16 (collector/README.md, "Limits"):
 * store_interrupt stops the statements that come after it (the readers' stop),
 * store_insert_verdict's repeat window (which verdicts are recorded), the cap of
 * store_probe_results, and store_check_writable on a database that takes writes.
 * The expected values are the README's rules applied by hand to the rows written here.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "probe_result.h"
#include "store.h"

static char dir[64];
static char db_path[128];

static json_t *verdict(const char *decision)
{
    return json_pack("{s:s,s:s,s:s,s:[]}", "decision", decision, "policy", "conservative",
                     "method", "sequential", "reasons");
}

/* Stores a verdict of shop 1.0 vs 2.0 at ts; what store_insert_verdict returns. */
static int record(struct store *s, const char *decision, long long ts, long long repeat_ms)
{
    char err[256];
    json_t *v = verdict(decision);
    int rc = store_insert_verdict(s, "shop", "1.0", "2.0", v, ts, ts - 60000, 10, 10,
                                  repeat_ms, err, sizeof err);
    if (rc < 0)
        printf("# %s\n", err);
    json_decref(v);
    return rc;
}

static void test_verdict_repeats(struct store *s)
{
    const long long t = 1764300000000LL;
    CHECK(record(s, "pause", t, 60000) == 1, "the first verdict of a pair is recorded");
    CHECK(record(s, "pause", t + 1000, 60000) == 0,
          "the same decision 1 s later is a repeat: not recorded");
    CHECK(record(s, "pause", t + 59999, 60000) == 0, "... nor 59.999 s later");
    CHECK(record(s, "rollback", t + 2000, 60000) == 1, "a new decision is recorded at once");
    CHECK(record(s, "pause", t + 60001, 60000) == 1,
          "the same decision 60.001 s after the first is recorded again");
    CHECK(record(s, "pause", t + 60002, 0) == 1, "repeat_ms 0 (the CLI) records every one");
    char err[256];
    json_t *list = store_verdicts(s, "shop", 100, err, sizeof err);
    CHECK(json_array_size(list) == 4, "4 verdicts listed (got %zu)", json_array_size(list));
    json_decref(list);
}

static void test_probe_results_cap(struct store *s)
{
    char field[64], err[256];
    json_t *journeys = json_array();
    /* Names in reverse order, so that the answer's order is the store's doing. */
    for (int i = 59; i >= 0; i--) {
        char name[32];
        snprintf(name, sizeof name, "j%02d", i);
        json_array_append_new(journeys, json_pack(
            "{s:s,s:b,s:s,s:i,s:i,s:[{s:s,s:s,s:{s:i}}]}", "name", name, "passed", 1,
            "started_at", "2026-12-01T10:00:00Z", "iteration", 0, "duration_ms", 3, "steps",
            "name", "s", "result", "passed", "timings_ms", "total", 1));
    }
    json_t *doc = json_pack("{s:s,s:s,s:b,s:s,s:{s:s,s:s,s:s},s:o}", "schema",
                            PROBE_RESULT_SCHEMA, "run_id", "run-cap-1", "passed", 1,
                            "started_at", "2026-12-01T10:00:00Z", "labels", "app", "shop",
                            "version", "1.0", "region", "eu-west", "journeys", journeys);
    struct probe_result *r = NULL;
    int parsed = probe_result_parse(doc, &r, field, sizeof field, err, sizeof err);
    CHECK(parsed == 0, "a run of 60 journeys parses (%s)", parsed ? err : "ok");
    if (parsed == 0)
        CHECK(store_insert_probe_result(s, r, 1764580000000LL, 0, NULL, err, sizeof err) == 1,
              "... and is stored");
    probe_result_free(r);
    json_decref(doc);

    json_t *got = store_probe_results(s, "shop", 0, err, sizeof err);
    const json_t *res = json_object_get(got, "results");
    CHECK(json_integer_value(json_object_get(got, "total")) == 60,
          "store_probe_results: total counts all 60 (journey, region) pairs");
    CHECK(json_array_size(res) == STORE_PROBE_RESULTS_MAX && STORE_PROBE_RESULTS_MAX == 50,
          "... and lists 50 (got %zu)", json_array_size(res));
    CHECK_STR(json_string_value(json_object_get(json_array_get(res, 0), "journey")), "j00",
              "... the first by journey name");
    CHECK_STR(json_string_value(json_object_get(json_array_get(res, 49), "journey")), "j49",
              "... the 50th is j49");
    json_decref(got);
}

static void test_interrupt(void)
{
    char err[256];
    struct store *r = NULL;
    if (store_open(&r, db_path, 1, err, sizeof err) < 0) {
        CHECK(0, "opening the database read-only: %s", err);
        return;
    }
    store_set_timeout(r, 0);
    store_start_read(r);
    json_t *before = store_probe_results(r, "shop", 0, err, sizeof err);
    CHECK(before != NULL, "a read before store_interrupt answers");
    json_decref(before);
    store_interrupt(r);
    /* The statement starts after the interrupt: sqlite3_interrupt alone would let it run;
     * the progress handler's flag stops it. */
    err[0] = '\0';
    json_t *after = store_probe_results(r, "shop", 0, err, sizeof err);
    CHECK(after == NULL && strstr(err, "the collector is stopping"),
          "a read after store_interrupt fails with \"the collector is stopping\" (%s)", err);
    json_decref(after);
    store_close(r);
}

int main(void)
{
    char err[256];
    struct store *s = NULL;
    snprintf(dir, sizeof dir, "/tmp/vigil-store-life-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(db_path, sizeof db_path, "%s/v.db", dir);
    if (store_open(&s, db_path, 0, err, sizeof err) < 0) {
        printf("not ok - store_open: %s\n", err);
        return 1;
    }
    CHECK(store_check_writable(s, err, sizeof err) == 0,
          "store_check_writable: a new database takes a write");
    test_verdict_repeats(s);
    test_probe_results_cap(s);
    test_interrupt();
    store_close(s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return check_done();
}
