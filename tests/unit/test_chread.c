/*
 * Tests of shared/chread.c: every read of shared/store.h answered from ClickHouse gives
 * what the SQLite store gives on the same data.
 *
 * Run with VIGIL_CLICKHOUSE_URL (and VIGIL_CLICKHOUSE_PASSWORD_FILE) set, as
 * tests/integration/test_chread.py does with a real clickhouse-server; without it, only
 * the offline checks run.
 *
 * The data: page views of two versions of two apps (one named with a quote and a
 * backslash, so that a read that does not quote its strings fails), over an hour across a
 * UTC midnight, with metrics, metric updates (web-vitals' later reports of CLS), second
 * beacons of a page view, JS errors (some only in the canary), HeadlessChrome page views,
 * probe runs of 30 journeys in two regions (more than a page of probe results), markers
 * with and without a weight, and verdicts with a repeat. It goes into a SQLite store
 * through the store's own writes (store_insert_beacon, _probe_run, _deployment,
 * _verdict), and into ClickHouse as the raw rows the DDL of shared/chstore.c describes
 * (one pageviews row per beacon, one metrics row per report, collector/README.md "Reads
 * from ClickHouse") plus the rollups through chstore_batch_build/chstore_batch_send, with
 * every raw table's rows inserted twice for part of the data (what an unmerged replay
 * leaves). Then each store_X and chread_X are compared on the same arguments (json_equal,
 * or equal values), once before and once after OPTIMIZE ... FINAL; and the counts the
 * test keeps itself (page views, values, errors) are checked against both.
 */
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api.h"
#include "buf.h"
#include "check.h"
#include "chread.h"
#include "chstore.h"
#include "clickhouse.h"
#include "clock.h"
#include "probe_result.h"
#include "rng.h"
#include "rollup.h"
#include "sketch.h"
#include "store.h"
#include "uaclass.h"

#define T0 (1764547200000LL - 30 * 60000LL)     /* 2025-11-30 23:30 UTC */
#define VIEWS 400                                /* page views per version */
#define SPAN_MS (60 * 60000LL)

static const char *const apps[2] = {"shop", "o'brien\\shop"};
static const char *const versions[2] = {"v1", "v2"};

/* What the test counts itself, per app and version. */
struct counts {
    long long views, lcp, errors_views;
};
static struct counts want[2][2];
static double cls_of[2][2][VIEWS];       /* each page view's first CLS */

/* Rows for ClickHouse's raw tables, JSONEachRow, per table. */
enum { T_PAGEVIEWS, T_METRICS, T_ERRORS, T_RUNS, T_JOURNEYS, T_MARKERS, T_VERDICTS, T_N };
/* The raw tables' columns are the write path's (chstore_raw_columns); the others here. */
static const char *tables[T_N] = {
    NULL, NULL, NULL,
    "probe_runs (run_id, app, version, region, host, passed, started_ms, received, key_id,"
    " document)",
    "probe_journeys (run_id, idx, app, version, region, journey, passed, started, started_ms,"
    " failed_step, failure, retried, signed)",
    "deployments (app, version, did, baseline, stage, ts, ts_ms, note, received_ms, weight)",
    "verdicts (app, vid, baseline, canary, policy, method, decision, ts, ts_ms,"
    " window_start_ms, n_baseline, n_canary, result)",
};
static struct buf rows[T_N];

/* Adds a row (a new reference, taken) to table t's rows; twice when dup. */
static void row(int t, json_t *r, int dup)
{
    char *text = json_dumps(r, JSON_COMPACT);
    for (int i = 0; text && i <= dup; i++)
        buf_printf(&rows[t], "%s\n", text);
    free(text);
    json_decref(r);
}

/* A metric event of a beacon (into events) and its metrics row (received: the first
 * report's receipt, updated: this one's), twice when dup. */
static void metric_event(json_t *events, int a, int v, const char *pv, const char *name,
                         const char *mid, double value, long long received, long long updated,
                         int dup)
{
    json_array_append_new(events, json_pack("{s:s,s:s,s:f,s:s}", "type", "metric", "name", name,
                                            "value", value, "id", mid));
    row(T_METRICS, json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:s,s:I,s:I,s:I,s:s}", "app", apps[a],
                             "version", versions[v], "name", name, "mid", mid, "pv", pv,
                             "value", value, "rating", "", "received", received / 1000,
                             "received_ms", received, "updated_ms", updated,
                             "attribution", ""), dup);
}

static struct store *st;
static struct clickhouse *ch;
static struct rollup *roll;

static const char *const browsers[] = {"Chrome", "Firefox", UACLASS_HEADLESS};
static const char *const pages[] = {"/", "/cart", "/checkout", "/p/1", "/p/2"};

/* One beacon into SQLite (store_insert_beacon) and its rows into ClickHouse's. */
static int beacon(int a, int v, int i, long long received, int second)
{
    char pv[32], mid[32], err[512] = "";
    const char *browser = browsers[i % 3], *page = pages[i % 5];
    const char *country = i % 4 ? "DE" : "", *conn = i % 6 ? "4g" : NULL;
    struct beacon_meta m = {received, "", 120, "Linux", "desktop", ""};
    struct rollup_point p = {apps[a], versions[v], received,
                             {browser, "Linux", "desktop", *country ? country : NULL, conn, page}};
    json_t *events = json_array();
    int dup = i < 60;
    /* A later beacon's rows carry the first one's receipt (chwrite's page view cache). */
    long long first = second ? received - 5000 : received;

    snprintf(m.browser, sizeof m.browser, "%s", browser);
    snprintf(m.country, sizeof m.country, "%s", country);
    snprintf(pv, sizeof pv, "pv-%d", i);
    if (!second) {
        double lcp = (v ? 2600 : 2300) * exp(0.4 * rng_normal());
        lcp = floor(lcp * 10) / 10;
        double cls = rng_unit() < 0.6 ? 0 : floor(300 * rng_unit()) / 1000;
        snprintf(mid, sizeof mid, "lcp-%d", i);
        metric_event(events, a, v, pv, "LCP", mid, lcp, received, received, i < 100);
        rollup_value(roll, &p, "LCP", lcp, 1);
        snprintf(mid, sizeof mid, "cls-%d", i);
        metric_event(events, a, v, pv, "CLS", mid, cls, received, received, dup);
        rollup_value(roll, &p, "CLS", cls, 1);
        cls_of[a][v][i] = cls;
        rollup_views(roll, &p, 1, 0);
        want[a][v].views++;
        want[a][v].lcp++;
    } else {
        /* A later beacon of the page view: INP, and CLS again under the same id (an
         * update, filed under the first report's minute and slices). */
        struct rollup_point p0 = p;
        p0.received_ms = first;
        double inp = 40 + 10 * (i % 17), cls2 = 0.25 + (i % 5) / 100.0;
        snprintf(mid, sizeof mid, "cls-%d", i);
        metric_event(events, a, v, pv, "INP", "inp-1", inp, received, received, dup);
        metric_event(events, a, v, pv, "CLS", mid, cls2, first, received, dup);
        rollup_value(roll, &p0, "INP", inp, 1);
        /* The old value out, in with the new. */
        double old = cls_of[a][v][i];
        rollup_value(roll, &p0, "CLS", old, -1);
        rollup_value(roll, &p0, "CLS", cls2, 1);
    }
    /* Errors: every 13th page view; "boom" in both versions, and in the canary's odd
     * ones (i = 13k, k odd) three groups only it has: "v2 only a" (k < 13: 6 page views),
     * "b" (k < 23: 5) and "c" (4). Digits would not tell groups apart (the fingerprint
     * writes every number as 0). */
    if (i % 13 == 0 && !second) {
        int k = i / 13;
        const char *msg = !v || k % 2 == 0 ? "boom"
                          : k < 13 ? "v2 only a" : k < 23 ? "v2 only b" : "v2 only c";
        json_array_append_new(events, json_pack("{s:s,s:s,s:s,s:i,s:s}", "type", "error",
                                                "message", msg,
                                                "source", i % 2 ? "app.js" : "x.js", "line", i,
                                                "stack", "at f (app.js:1:2)"));
        rollup_views(roll, &p, 0, 1);
        want[a][v].errors_views++;
    }
    json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:o}", "app", apps[a], "version",
                          versions[v], "pv", pv, "session", "s1", "page", page,
                          "ts", received - 100, "events", events);
    if (conn)
        json_object_set_new(b, "ctx", json_pack("{s:s}", "conn", conn));
    int rc = store_insert_beacon(st, b, &m, err, sizeof err);
    if (rc < 0)
        printf("# beacon: %s\n", err);
    row(T_PAGEVIEWS, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:i,s:s,s:s,s:s,"
                               "s:s,s:s,s:s,s:f,s:s}", "app", apps[a], "pv", pv,
                               "version", versions[v], "session", "s1", "page", page, "nav", "",
                               "client_ts", received - 100, "received", first / 1000,
                               "received_ms", first, "last_received_ms", received,
                               "browser", browser, "browser_major", 120, "os", "Linux",
                               "device", "desktop", "country", country, "conn", conn ? conn : "",
                               "device_hint", "", "viewport", "", "dpr", 0.0, "attrs", ""), dup);
    json_decref(b);
    return rc;
}

/* The errors' raw rows for ClickHouse from SQLite's (the fingerprint is the writer's). */
static void error_rows(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    if (sqlite3_open(path, &db) != SQLITE_OK
        || sqlite3_prepare_v2(db, "SELECT e.id, e.app, e.version, p.pv, e.fingerprint,"
                              " e.message, coalesce(e.source, ''), coalesce(e.line, 0),"
                              " e.stack, e.received FROM errors e JOIN pageviews p"
                              " ON p.id = e.pageview ORDER BY e.id", -1, &q, NULL)
               != SQLITE_OK) {
        CHECK(0, "errors: read SQLite's error rows");
        sqlite3_close(db);
        return;
    }
    while (sqlite3_step(q) == SQLITE_ROW) {
        long long received = sqlite3_column_int64(q, 9);
        row(T_ERRORS, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:i,s:s,s:s,s:I,s:I}",
                                "app", sqlite3_column_text(q, 1),
                                "version", sqlite3_column_text(q, 2),
                                "eid", sqlite3_column_text(q, 0),
                                "pv", sqlite3_column_text(q, 3),
                                "fingerprint", sqlite3_column_text(q, 4),
                                "message", sqlite3_column_text(q, 5),
                                "source", sqlite3_column_text(q, 6),
                                "line", (json_int_t)sqlite3_column_int64(q, 7), "col", 0,
                                "stack", sqlite3_column_text(q, 8), "kind", "",
                                "received", received / 1000, "received_ms", received), 1);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* A probe run of 30 journeys (some failing, one retried) into both stores. */
static void probe_run(int a, int r)
{
    char id[32], field[64], err[512] = "", started[40];
    json_t *journeys = json_array();
    long long t = T0 + r * 120000LL + a * 7;
    time_t sec = (time_t)(t / 1000);
    struct tm tm;
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&sec, &tm));
    snprintf(id, sizeof id, "run-%d-%d", a, r);
    for (int j = 0; j < 30; j++) {
        char name[16];
        int fail = (j + r) % 7 == 0;
        snprintf(name, sizeof name, "j%02d", j);
        json_t *steps = json_pack("[{s:s,s:s,s:i,s:{s:i}}]", "name", "home", "result", "passed",
                                  "attempts", j == 3 ? 2 : 1, "timings_ms", "total", 10 + j);
        if (fail)
            json_array_append_new(steps, json_pack("{s:s,s:s,s:i,s:[{s:s,s:s}]}", "name", "pay",
                                                   "result", "failed", "attempts", 1,
                                                   "failures", "check", "status", "message",
                                                   "expected 200, got 500"));
        json_array_append_new(journeys, json_pack("{s:s,s:b,s:s,s:i,s:o}", "name", name,
                                                  "passed", !fail, "started_at", started,
                                                  "duration_ms", 20 + j + r, "steps", steps));
    }
    json_t *doc = json_pack("{s:s,s:s,s:b,s:s,s:{s:s,s:s,s:s,s:s},s:o}", "schema",
                            PROBE_RESULT_SCHEMA, "run_id", id, "passed", 1, "started_at",
                            started, "labels", "app", apps[a], "version", versions[r % 2],
                            "region", r % 3 ? "eu-west" : "us-east", "host", "h1",
                            "journeys", journeys);
    char *text = json_dumps(doc, JSON_COMPACT);
    struct probe_result *p = NULL;
    int is_signed = r % 2;
    CHECK(store_insert_probe_run(st, text, t + 500, is_signed, "k1", err, sizeof err) == 1,
          "probe run %s stored in SQLite (%s)", id, err);
    if (probe_result_parse_text(text, strlen(text), &p, field, sizeof field, err, sizeof err)
        == 0) {
        row(T_RUNS, json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:s,s:s}", "run_id", p->run_id,
                              "app", p->app, "version", p->version, "region", p->region,
                              "host", p->host ? p->host : "", "passed", p->passed,
                              "started_ms", p->started_ms, "received", (t + 500) / 1000,
                              "key_id", is_signed ? "k1" : "", "document", text), r == 2);
        for (size_t i = 0; i < p->njourneys; i++) {
            const struct probe_result_journey *j = &p->journeys[i];
            char failure[256] = "";
            if (j->failed && j->failed->failure_check && j->failed->failure_message)
                snprintf(failure, sizeof failure, "%s: %s", j->failed->failure_check,
                         j->failed->failure_message);
            row(T_JOURNEYS, json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:s,s:s,s:i,s:i}",
                                      "run_id", p->run_id, "idx", (int)i, "app", p->app,
                                      "version", p->version, "region", p->region,
                                      "journey", j->name, "passed", j->passed,
                                      "started", j->started_ms / 1000, "started_ms",
                                      j->started_ms, "failed_step",
                                      j->failed ? j->failed->name : "", "failure", failure,
                                      "retried", j->retried, "signed", is_signed), r == 2);
        }
    }
    probe_result_free(p);
    free(text);
    json_decref(doc);
}

static void marker(int a, const char *version, long long ts, double weight, const char *note)
{
    char err[512] = "", did[40];
    json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:I}", "app", apps[a], "version", version,
                          "baseline", "v1", "stage", "canary", "ts", ts);
    if (!isnan(weight))
        json_object_set_new(d, "weight", json_real(weight));
    if (note)
        json_object_set_new(d, "note", json_string(note));
    CHECK(store_insert_deployment(st, d, ts + 10, err, sizeof err) == 0,
          "marker stored in SQLite (%s)", err);
    json_decref(d);
    snprintf(did, sizeof did, "d-%d-%lld", a, ts);
    json_t *r = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:I}", "app", apps[a],
                          "version", version, "did", did, "baseline", "v1", "stage", "canary",
                          "ts", ts / 1000, "ts_ms", ts, "note", note ? note : "",
                          "received_ms", ts + 10);
    json_object_set_new(r, "weight", isnan(weight) ? json_null() : json_real(weight));
    row(T_MARKERS, r, 1);
}

/* A verdict into SQLite (with its repeat rule) and, unless chread_verdict_repeat finds a
 * repeat, into ClickHouse's rows, which are sent at once (the next repeat check reads
 * them). Both must agree on whether it was a repeat. */
static void verdict(int a, const char *decision, long long ts)
{
    char err[512] = "", vid[40];
    json_t *v = json_pack("{s:s,s:s,s:s,s:[s,s]}", "decision", decision, "policy",
                          "conservative", "method", "sequential", "reasons", "LCP p75 ok",
                          "errors ok");
    int stored = store_insert_verdict(st, apps[a], "v1", "v2", v, ts, T0, 400, 400, 60000,
                                      err, sizeof err);
    int repeat = chread_verdict_repeat(ch, apps[a], "v1", "v2", "conservative", "sequential",
                                       decision, ts, 60000, err, sizeof err);
    CHECK(stored >= 0 && repeat >= 0 && stored == !repeat, "verdict %s at +%llds: SQLite %s,"
          " ClickHouse %s (%s)", decision, (ts - T0) / 1000, stored ? "stores" : "a repeat",
          repeat ? "a repeat" : "stores", err);
    if (!repeat) {
        char *text = json_dumps(v, JSON_COMPACT);
        snprintf(vid, sizeof vid, "v-%d-%lld", a, ts);
        row(T_VERDICTS, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:i,s:i,s:s}",
                                  "app", apps[a], "vid", vid, "baseline", "v1", "canary", "v2",
                                  "policy", "conservative", "method", "sequential",
                                  "decision", decision, "ts", ts / 1000, "ts_ms", ts,
                                  "window_start_ms", T0, "n_baseline", 400, "n_canary", 400,
                                  "result", text), 1);
        free(text);
        CHECK(clickhouse_insert(ch, tables[T_VERDICTS], "JSONEachRow", rows[T_VERDICTS].data,
                                rows[T_VERDICTS].len, err, sizeof err) == 0,
              "verdict rows into ClickHouse (%s)", err);
        buf_reset(&rows[T_VERDICTS]);
    }
    json_decref(v);
}

/* Loads everything; 0 or -1. */
static int load(const char *path)
{
    char err[512] = "", id[CHSTORE_BATCH_LEN + 1];
    struct chstore_batch b = {0};
    int ok = 1;

    rng_seed(11);
    CHECK(store_begin(st, err, sizeof err) == 0, "load: a SQLite transaction (%s)", err);
    for (int a = 0; a < 2; a++)
        for (int v = 0; v < 2; v++)
            for (int i = 0; i < VIEWS; i++) {
                long long t = T0 + i * (SPAN_MS / VIEWS) + v * 1234 + a * 17;
                ok &= beacon(a, v, i, t, 0) > 0;
                if (i % 10 == 0)
                    ok &= beacon(a, v, i, t + 5000, 1) > 0;
            }
    CHECK(ok && store_commit(st, err, sizeof err) == 0, "load: beacons into SQLite (%s)", err);
    error_rows(path);
    for (int a = 0; a < 2; a++) {
        /* A probe result's app is checked (shared/probe_result.c): the app with a quote
         * has no probe runs, and its probe reads answer nothing, alike. */
        for (int r = 0; r < 6 && a == 0; r++)
            probe_run(a, r);
        /* The second app's baseline has no marker: its window starts at its first beacon. */
        if (a == 0)
            marker(a, "v1", T0 - 3600000, NAN, NULL);
        marker(a, "v2", T0 + 10 * 60000, 10, NULL);
        marker(a, "v2", T0 + 40 * 60000, 25, "step 2");
        verdict(a, "promote", T0 + 20 * 60000);
        verdict(a, "promote", T0 + 20 * 60000 + 10000);
        verdict(a, "pause", T0 + 21 * 60000);
        verdict(a, "pause", T0 + 23 * 60000);
    }
    for (int t = 0; t < T_N; t++)
        if (rows[t].len)
            CHECK(clickhouse_insert(ch, tables[t], "JSONEachRow", rows[t].data, rows[t].len,
                                    err, sizeof err) == 0,
                  "load: rows into ClickHouse's %.20s (%s)", tables[t], err);
    CHECK(chstore_batch_id(id, err, sizeof err) == 0
              && chstore_batch_build(&b, id, roll, err, sizeof err) == 0
              && chstore_batch_send(ch, &b, 0, NULL, err, sizeof err) == 0,
          "load: rollups into ClickHouse, one batch of %zu parts (%s)", b.nparts, err);
    chstore_batch_fini(&b);
    return ok ? 0 : -1;
}

/* --- the comparisons ------------------------------------------------------------------- */

static void same_json(json_t *a, json_t *b, const char *what, const char *err)
{
    char *ta = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *tb = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int same = a && b && json_equal(a, b);
    /* The whole answer is printed on a difference, to find it. */
    CHECK(same, "%s: equal JSON (%zu bytes)%s%.3000s%s%.3000s%s%s", what, ta ? strlen(ta) : 0,
          same ? "" : "\n# SQLite:     ", same ? "" : (tb ? tb : "(null)"),
          same ? "" : "\n# ClickHouse: ", same ? "" : (ta ? ta : "(null)"),
          same || a ? "" : "\n# error: ", same || a ? "" : err);
    free(ta);
    free(tb);
    json_decref(a);
    json_decref(b);
}

/* rum_quantiles' list (taken) as an object by "app version metric": store.h leaves the
 * order of the series open ("the first found"). */
static json_t *by_series(json_t *list)
{
    json_t *out = list ? json_object() : NULL, *e;
    size_t i;
    json_array_foreach(list, i, e) {
        char key[256];
        snprintf(key, sizeof key, "%s %s %s", json_string_value(json_object_get(e, "app")),
                 json_string_value(json_object_get(e, "version")),
                 json_string_value(json_object_get(e, "metric")));
        json_object_set(out, key, e);
    }
    json_decref(list);
    return out;
}

static void compare_points(int a, int v, const char *metric, long long since, long long until,
                           const char *label)
{
    char err[512] = "";
    long long *t1 = NULL, *t2 = NULL;
    double *v1 = NULL, *v2 = NULL;
    size_t n1 = 0, n2 = 0, same = 0;
    int r1 = store_metric_points(st, apps[a], versions[v], metric, since, until, &t1, &v1, &n1,
                                 err, sizeof err);
    int r2 = chread_metric_points(ch, apps[a], versions[v], metric, since, until, &t2, &v2, &n2,
                                  err, sizeof err);
    /* Points of the same time may come in either order: each point is looked for among
     * those of its time. */
    for (size_t i = 0; r1 == 0 && r2 == 0 && i < n1 && n1 == n2; i++) {
        for (size_t k = i; k < n2 && t2[k] == t1[i]; k++)
            if (v2[k] == v1[i]) {
                same++;
                break;
            }
        for (size_t k = i; same < i + 1 && k-- > 0 && t2[k] == t1[i];)
            if (v2[k] == v1[i]) {
                same++;
                break;
            }
    }
    CHECK(r1 == 0 && r2 == 0 && n1 > 0 && n1 == n2 && same == n1,
          "%s points %s/%s %s: the same %zu (ClickHouse %zu, equal %zu; %s)", label, apps[a],
          versions[v], metric, n1, n2, same, r2 ? err : "ok");
    free(t1);
    free(t2);
    free(v1);
    free(v2);
}

static void compare_all(const char *label)
{
    char err[512] = "", what[160];
    for (int a = 0; a < 2; a++) {
        const char *app = apps[a];
#define WHAT(...) (snprintf(what, sizeof what, __VA_ARGS__), what)
        same_json(chread_probe_runs(ch, app, NULL, 500, err, sizeof err),
                  store_probe_runs(st, app, NULL, 500, err, sizeof err),
                  WHAT("%s probe_runs %s", label, app), err);
        same_json(chread_probe_runs(ch, app, "v2", 7, err, sizeof err),
                  store_probe_runs(st, app, "v2", 7, err, sizeof err),
                  WHAT("%s probe_runs %s v2 limit 7", label, app), err);
        for (int v = 0; v < 2; v++) {
            const char *ver = versions[v];
            same_json(chread_gate_rows(ch, app, ver, T0 + 3 * 60000, err, sizeof err),
                      store_gate_rows(st, app, ver, T0 + 3 * 60000, err, sizeof err),
                      WHAT("%s gate_rows %s %s", label, app, ver), err);
            same_json(chread_last_runs(ch, app, ver, err, sizeof err),
                      store_last_runs(st, app, ver, err, sizeof err),
                      WHAT("%s last_runs %s %s", label, app, ver), err);
            double w1 = 0, w2 = 0;
            int r1 = store_marker_weight(st, app, ver, &w1, err, sizeof err);
            int r2 = chread_marker_weight(ch, app, ver, &w2, err, sizeof err);
            CHECK(r1 == 0 && r2 == 0 && (w1 == w2 || (isnan(w1) && isnan(w2)))
                      && (v ? w1 == 25 : isnan(w1)),
                  "%s marker_weight %s %s: %g and %g", label, app, ver, w1, w2);
            long long s1 = store_window_start(st, app, ver, err, sizeof err);
            long long s2 = chread_window_start(ch, app, ver, err, sizeof err);
            CHECK(s1 == s2 && s1 >= 0, "%s window_start %s %s: %lld and %lld", label, app, ver,
                  s1, s2);
            static const long long before[] = {T0 - 7200000, T0 + 1000, T0 + 10 * 60000 + 1,
                                               T0 + 50 * 60000};
            for (size_t k = 0; k < sizeof before / sizeof *before; k++) {
                s1 = store_window_start_before(st, app, ver, before[k], err, sizeof err);
                s2 = chread_window_start_before(ch, app, ver, before[k], err, sizeof err);
                CHECK(s1 == s2 && s1 >= -1, "%s window_start_before %s %s +%llds: %lld and %lld",
                      label, app, ver, (before[k] - T0) / 1000, s1, s2);
            }
            CHECK(store_seen(st, app, ver, err, sizeof err) == 1
                      && chread_seen(ch, app, ver, err, sizeof err) == 1,
                  "%s seen %s %s: both", label, app, ver);
            static const long long win[][2] = {{T0, T0 + SPAN_MS}, {T0 + 90000, T0 + 31 * 60000},
                                               {T0 + 59 * 60000 + 1, T0 + 2 * SPAN_MS}};
            for (size_t k = 0; k < sizeof win / sizeof *win; k++) {
                long long h1 = -1, n1 = -1, h2 = -2, n2 = -2, t1 = -1, t2 = -2;
                r1 = store_error_views(st, app, ver, win[k][0], win[k][1], &h1, &n1, err,
                                       sizeof err);
                r2 = chread_error_views(ch, app, ver, win[k][0], win[k][1], &h2, &n2, err,
                                        sizeof err);
                CHECK(r1 == 0 && r2 == 0 && h1 == h2 && n1 == n2 && (k || (n1 == want[a][v].views
                      && h1 == want[a][v].errors_views)),
                      "%s error_views %s %s window %zu: %lld/%lld and %lld/%lld (%s)", label,
                      app, ver, k, h1, n1, h2, n2, r2 ? err : "ok");
                r1 = store_traffic_views(st, app, ver, win[k][0], win[k][1], &t1, err,
                                         sizeof err);
                r2 = chread_traffic_views(ch, app, ver, win[k][0], win[k][1], &t2, err,
                                          sizeof err);
                CHECK(r1 == 0 && r2 == 0 && t1 == t2 && t1 > 0,
                      "%s traffic_views %s %s window %zu: %lld and %lld (%s)", label, app, ver,
                      k, t1, t2, r2 ? err : "ok");
            }
            compare_points(a, v, "LCP", T0, T0 + SPAN_MS, label);
            compare_points(a, v, "CLS", T0 + 60000, T0 + 40 * 60000, label);
            compare_points(a, v, "errors", T0 + 60000, T0 + 40 * 60000, label);
            double *x1 = NULL, *x2 = NULL;
            size_t n1 = 0, n2 = 0;
            r1 = store_metric_values(st, app, ver, "LCP", T0, T0 + SPAN_MS, &x1, &n1, err,
                                     sizeof err);
            r2 = chread_metric_values(ch, app, ver, "LCP", T0, T0 + SPAN_MS, &x2, &n2, err,
                                      sizeof err);
            CHECK(r1 == 0 && r2 == 0 && n1 == n2 && n1 == (size_t)want[a][v].lcp
                      && memcmp(x1, x2, n1 * sizeof *x1) == 0,
                  "%s metric_values %s %s LCP: the same %zu sorted values (%lld put in)", label,
                  app, ver, n2, want[a][v].lcp);
            free(x1);
            free(x2);
        }
        same_json(chread_regions(ch, app, T0 + 3 * 60000, err, sizeof err),
                  store_regions(st, app, T0 + 3 * 60000, err, sizeof err),
                  WHAT("%s regions %s", label, app), err);
        same_json(chread_deployments(ch, app, err, sizeof err),
                  store_deployments(st, app, err, sizeof err),
                  WHAT("%s deployments %s", label, app), err);
        CHECK(store_seen(st, app, NULL, err, sizeof err) == 1
                  && chread_seen(ch, app, NULL, err, sizeof err) == 1,
              "%s seen %s: both", label, app);
        CHECK(store_seen(st, app, "v9", err, sizeof err) == 0
                  && chread_seen(ch, app, "v9", err, sizeof err) == 0,
              "%s seen %s v9: neither", label, app);
        same_json(chread_verdicts(ch, app, 500, err, sizeof err),
                  store_verdicts(st, app, 500, err, sizeof err),
                  WHAT("%s verdicts %s", label, app), err);
        same_json(chread_verdicts(ch, app, 2, err, sizeof err),
                  store_verdicts(st, app, 2, err, sizeof err),
                  WHAT("%s verdicts %s limit 2", label, app), err);
        same_json(chread_versions(ch, app, err, sizeof err),
                  store_versions(st, app, err, sizeof err),
                  WHAT("%s versions %s", label, app), err);
        same_json(chread_new_errors(ch, app, "v1", "v2", T0, err, sizeof err),
                  store_new_errors(st, app, "v1", "v2", T0, err, sizeof err),
                  WHAT("%s new_errors %s", label, app), err);
        json_t *ne = chread_new_errors(ch, app, "v1", "v2", T0, err, sizeof err);
        CHECK(json_array_size(ne) == 3
                  && json_integer_value(json_object_get(json_array_get(ne, 0), "count")) == 6
                  && json_integer_value(json_object_get(json_array_get(ne, 2), "count")) == 4,
              "%s new_errors %s: the three canary-only groups, 6, 5 and 4 times", label, app);
        json_decref(ne);
        same_json(chread_probe_results(ch, app, 0, err, sizeof err),
                  store_probe_results(st, app, 0, err, sizeof err),
                  WHAT("%s probe_results %s", label, app), err);
        same_json(chread_probe_results(ch, app, 50, err, sizeof err),
                  store_probe_results(st, app, 50, err, sizeof err),
                  WHAT("%s probe_results %s offset 50", label, app), err);
    }
    same_json(chread_apps(ch, err, sizeof err), store_apps(st, err, sizeof err),
              WHAT("%s apps", label), err);
    CHECK(chread_seen(ch, "", NULL, err, sizeof err) == 0,
          "%s seen '': the batch markers are not an app", label);
    same_json(chread_probe_latest(ch, 100, err, sizeof err),
              store_probe_latest(st, 100, err, sizeof err),
              WHAT("%s probe_latest 100", label), err);
    same_json(chread_probe_latest(ch, 3, err, sizeof err),
              store_probe_latest(st, 3, err, sizeof err),
              WHAT("%s probe_latest 3", label), err);
    same_json(by_series(chread_rum_quantiles(ch, T0 + 5 * 60000, 0.75, 100, err, sizeof err)),
              by_series(store_rum_quantiles(st, T0 + 5 * 60000, 0.75, 100, err, sizeof err)),
              WHAT("%s rum_quantiles", label), err);
    long long raw1, roll1, raw2, roll2;
    int r1 = store_oldest(st, &raw1, &roll1, err, sizeof err);
    int r2 = chread_oldest(ch, &raw2, &roll2, err, sizeof err);
    CHECK(r1 == 0 && r2 == 0 && raw1 == raw2 && roll1 == roll2 && raw1 == T0
              && roll1 == T0 - T0 % ROLLUP_MINUTE_MS,
          "%s oldest: raw %lld and %lld, rollups %lld and %lld", label, raw1, raw2, roll1, roll2);
#undef WHAT
}

/* Limits: a list past its cap is an error, never a silent cut. */
static void test_limits(void)
{
    char err[512] = "";
    CHECK(!chread_probe_runs(ch, "shop", NULL, -1, err, sizeof err) && strstr(err, "limit"),
          "limits: a negative limit is refused (%s)", err);
    CHECK(!chread_probe_results(ch, "shop", -1, err, sizeof err) && strstr(err, "offset"),
          "limits: a negative offset is refused (%s)", err);
    /* A series past CHREAD_POINTS_MAX values is an error asking for a shorter window; one
     * of exactly that many is read whole. */
    static const char big[] = "INSERT INTO metrics (app, version, name, mid, pv, value, received,"
        " received_ms, updated_ms) SELECT 'big', 'v1', 'LCP', toString(number), 'p', 1,"
        " toDateTime(1764547200), 1764547200000 + number, 1764547200000 + number"
        " FROM numbers(500001)";
    long long *t = NULL;
    double *x = NULL;
    size_t n = 0;
    err[0] = '\0';
    CHECK(CHREAD_POINTS_MAX == 500000 && clickhouse_exec(ch, big, err, sizeof err) == 0,
          "limits: %d + 1 values of one series (%s)", CHREAD_POINTS_MAX, err);
    err[0] = '\0';
    CHECK(chread_metric_points(ch, "big", "v1", "LCP", 0, LLONG_MAX, &t, &x, &n, err,
                               sizeof err) == -1 && strstr(err, "more than 500000 values")
              && strstr(err, "shorter window") && !t && n == 0,
          "limits: one more than CHREAD_POINTS_MAX is an error (%s)", err);
    CHECK(chread_metric_points(ch, "big", "v1", "LCP", 0, 1764547200000LL + CHREAD_POINTS_MAX,
                               &t, &x, &n, err, sizeof err) == 0 && n == CHREAD_POINTS_MAX
              && t[n - 1] == 1764547200000LL + CHREAD_POINTS_MAX - 1,
          "limits: exactly CHREAD_POINTS_MAX values are read whole (%zu)", n);
    free(t);
    free(x);
    json_t *p = chread_probe_results(ch, "shop", 1000000, err, sizeof err);
    CHECK(p && json_integer_value(json_object_get(p, "total")) == 60
              && json_array_size(json_object_get(p, "results")) == 0,
          "limits: an offset past the end is an empty page with the total");
    json_decref(p);
}

static const char *const all[] = {"pageviews", "metrics", "errors", "probe_runs",
                                  "probe_journeys", "deployments", "verdicts", "hist",
                                  "counters"};

/* Empty tables to start with (a server may have been used before), made by the write
 * path's DDL (shared/chstore.c). 0 or -1. */
static int fresh_tables(void)
{
    char err[512] = "";
    int rc = 0;
    for (size_t i = 0; i < sizeof all / sizeof *all && rc == 0; i++) {
        char q[64];
        snprintf(q, sizeof q, "DROP TABLE IF EXISTS %s", all[i]);
        rc = clickhouse_exec(ch, q, err, sizeof err);
    }
    if (rc == 0)
        rc = chstore_init(ch, err, sizeof err);
    CHECK(rc == 0, "empty tables (%s)", rc ? err : "ok");
    return rc;
}

static void test_server(const char *url, const char *password_file)
{
    char err[512] = "", path[80];
    snprintf(path, sizeof path, "/tmp/vigil-chread-%d.db", (int)getpid());
    if (clickhouse_open(&ch, url, password_file, err, sizeof err) < 0
        || store_open(&st, path, 0, err, sizeof err) < 0
        || !(roll = rollup_new())) {
        CHECK(0, "open both stores (%s)", err);
        goto out;
    }
    if (fresh_tables() < 0)
        goto out;
    for (int t = 0; t < T_N; t++) {
        buf_init(&rows[t], 0);
        if (t < CHSTORE_RAW_TABLES)
            tables[t] = chstore_raw_columns[t];
    }
    if (load(path) == 0) {
        compare_all("unmerged");
        test_limits();
        int ok = 1;
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
            char q[80];
            snprintf(q, sizeof q, "OPTIMIZE TABLE %s FINAL", all[i]);
            ok &= clickhouse_exec(ch, q, err, sizeof err) == 0;
        }
        CHECK(ok, "every table merged (OPTIMIZE FINAL: %s)", ok ? "ok" : err);
        compare_all("merged");
    }
    for (int t = 0; t < T_N; t++)
        buf_fini(&rows[t]);
out:
    rollup_free(roll);
    store_close(st);
    clickhouse_close(ch);
    for (const char *sfx = ""; sfx; sfx = *sfx ? (sfx[1] == 'w' ? "-shm" : NULL) : "-wal") {
        char f[100];
        snprintf(f, sizeof f, "%s%s", path, sfx);
        unlink(f);
    }
}

/* Without a server: each kind of read fails as its store_X does (NULL, -1, or -2 for the
 * window's start), with a sentence that names the read and the server. Port 1 of the
 * loopback refuses at once. */
static void test_unreachable(void)
{
    struct clickhouse *c = NULL;
    char err[512] = "";
    long long views = 0, hits = 0;
    double w = 0;
    if (clickhouse_open(&c, "clickhouse://127.0.0.1:1/vigil", NULL, err, sizeof err) < 0) {
        CHECK(0, "unreachable: open (%s)", err);
        return;
    }
    clickhouse_set_timeouts(c, 1000, 2000, 0);
    CHECK(!chread_apps(c, err, sizeof err) && strstr(err, "listing apps: ClickHouse at"
                                                       " 127.0.0.1:1/vigil does not answer"),
          "unreachable: a list read is NULL with the read and the server (%s)", err);
    CHECK(chread_seen(c, "shop", NULL, err, sizeof err) == -1, "unreachable: seen is -1");
    CHECK(chread_window_start(c, "shop", "v1", err, sizeof err) == -2,
          "unreachable: the window's start is -2, the store's error");
    CHECK(chread_error_views(c, "shop", "v1", 0, 1, &hits, &views, err, sizeof err) == -1
              && chread_marker_weight(c, "shop", "v1", &w, err, sizeof err) == -1,
          "unreachable: counts and the weight are -1 (%s)", err);
    clickhouse_close(c);
}

static int cmp_ms(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* "--bench URL APP BASELINE CANARY REPS" (scripts/bench-chread): the collector's own
 * verdict call (api_run, as GET /v1/verdict with record=0) on a store opened on URL, REPS
 * times; prints the median and the slowest in ms and the decision. A measurement, not a
 * test: it never fails on a figure. "--bench-init URL" creates the tables. */
static int bench(int argc, char **argv)
{
    /* --bench-init opens for writing, which creates the tables (store_opts.init). */
    struct store_opts o = {argv[2], getenv("VIGIL_CLICKHOUSE_PASSWORD_FILE"), 1, NULL, 0,
                           argc != 3};
    struct store *s = NULL;
    char err[512] = "";
    if (store_open_opts(&s, &o, err, sizeof err) < 0) {
        fprintf(stderr, "test_chread: %s\n", err);
        return 1;
    }
    if (argc == 3) {
        store_close(s);
        return 0;
    }
    long parsed = strtol(argv[6], NULL, 10);
    int reps = parsed > 0 && parsed <= 100000 ? (int)parsed : 1;
    double *ms = calloc(reps > 0 ? (size_t)reps : 1, sizeof *ms);
    json_t *args = json_pack("{s:s,s:s,s:s,s:b}", "app", argv[3], "baseline", argv[4],
                             "canary", argv[5], "record", 0), *resp = NULL;
    int status = 0;
    for (int i = 0; i < reps; i++) {
        json_decref(resp);
        double t = clock_mono_ms();
        status = api_run(s, API_VERDICT, API_HTTP, args, &resp);
        ms[i] = clock_mono_ms() - t;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_ms);
    printf("{\"status\": %d, \"decision\": \"%s\", \"p50_ms\": %.1f, \"max_ms\": %.1f,"
           " \"reps\": %d, \"error\": \"%s\"}\n", status,
           json_string_value(json_object_get(resp, "decision")) ?: "-",
           reps > 0 ? ms[reps / 2] : 0, reps > 0 ? ms[reps - 1] : 0, reps,
           json_string_value(json_object_get(resp, "error")) ?: "");
    json_decref(resp);
    json_decref(args);
    free(ms);
    store_close(s);
    return status == 200 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *url = getenv("VIGIL_CLICKHOUSE_URL");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if ((argc == 7 || argc == 3) && strncmp(argv[1], "--bench", 7) == 0) {
        int rc = bench(argc, argv);
        curl_global_cleanup();
        return rc;
    }
    if (url)
        test_server(url, getenv("VIGIL_CLICKHOUSE_PASSWORD_FILE"));
    else
        printf("# VIGIL_CLICKHOUSE_URL is not set: no comparison without a server\n");
    test_unreachable();
    curl_global_cleanup();
    return check_done();
}
