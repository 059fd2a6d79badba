/*
 * Unit tests for shared/store.c against "Storage" in collector/README.md: a database in
 * a fresh temporary directory is written through the store's API and then read back
 * with plain SQL over a second, read-only SQLite connection, so that what is checked is
 * what another process (collector stats, a person with sqlite3) would see.
 */
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beacon.h"
#include "check.h"
#include "store.h"

static char dir[64];
static char db_path[128];
static sqlite3 *peek;   /* a read-only connection of the test's own */

/* The first column of the first row of sql, as an integer; -999 if there is none. */
static long long q_int(const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -999;
    if (sqlite3_prepare_v2(peek, sql, -1, &st, NULL) != SQLITE_OK)
        printf("# %s: %s\n", sql, sqlite3_errmsg(peek));
    else if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static double q_double(const char *sql)
{
    sqlite3_stmt *st = NULL;
    double v = -999;
    if (sqlite3_prepare_v2(peek, sql, -1, &st, NULL) != SQLITE_OK)
        printf("# %s: %s\n", sql, sqlite3_errmsg(peek));
    else if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The first column of the first row of sql, as text in a static buffer ("(null)" for
 * NULL, "(no row)" for no row). Use one call per expression. */
static const char *q_text(const char *sql)
{
    static char out[1024];
    sqlite3_stmt *st = NULL;
    snprintf(out, sizeof out, "(no row)");
    if (sqlite3_prepare_v2(peek, sql, -1, &st, NULL) != SQLITE_OK)
        printf("# %s: %s\n", sql, sqlite3_errmsg(peek));
    else if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, sizeof out, "%s", t ? (const char *)t : "(null)");
    }
    sqlite3_finalize(st);
    return out;
}

/* Whether table has an index on exactly these columns (comma-separated, in order). */
static int has_index(const char *table, const char *cols, int unique)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (SELECT il.name, il.\"unique\" AS u,"
             " (SELECT group_concat(name, ',') FROM"
             "   (SELECT name FROM pragma_index_info(il.name) ORDER BY seqno)) AS cols"
             " FROM pragma_index_list('%s') il) WHERE cols = '%s' AND u >= %d",
             table, cols, unique);
    return q_int(sql) > 0;
}

static struct beacon_meta meta(long long received_ms)
{
    struct beacon_meta m = {.received_ms = received_ms, .browser_major = 131};
    snprintf(m.browser, sizeof m.browser, "Chrome");
    snprintf(m.os, sizeof m.os, "Android");
    snprintf(m.device, sizeof m.device, "mobile");
    snprintf(m.country, sizeof m.country, "DE");
    return m;
}

/* Validates body (beacon_parse) and stores its beacons, received at received_ms, in one
 * transaction. Returns the rows store_insert_beacon reported, or -1. */
static int store_body(struct store *s, const char *body, long long received_ms)
{
    char field[128], err[512];
    struct beacon_meta m = meta(received_ms);
    json_t *list = beacon_parse(body, strlen(body), field, sizeof field, err, sizeof err);
    size_t i;
    json_t *b;
    int rows = 0;

    if (!list) {
        printf("# test beacon refused: %s\n", err);
        return -1;
    }
    if (store_begin(s, err, sizeof err) < 0) {
        printf("# store_begin: %s\n", err);
        json_decref(list);
        return -1;
    }
    json_array_foreach(list, i, b) {
        int n = store_insert_beacon(s, b, &m, err, sizeof err);
        if (n < 0) {
            printf("# store_insert_beacon: %s\n", err);
            store_rollback(s);
            json_decref(list);
            return -1;
        }
        rows += n;
    }
    json_decref(list);
    if (store_commit(s, err, sizeof err) < 0) {
        printf("# store_commit: %s\n", err);
        return -1;
    }
    return rows;
}

/* Removes every file in the temporary directory, then the directory. */
static void cleanup(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* A stack of six lines; only the first five count towards the fingerprint. */
#define STACK_A "f1@app.js:10:4\\nf2@app.js:20:8\\nf3@app.js:30:1\\nf4@app.js:40:2" \
                "\\nf5@app.js:50:3\\nmain@app.js:99:1"
/* STACK_A with every number changed, as after a new deploy. */
#define STACK_B "f1@app.js:11:5\\nf2@app.js:21:9\\nf3@app.js:301:12\\nf4@app.js:4:2" \
                "\\nf5@app.js:5:30\\nmain@app.js:7:7"
/* STACK_A with its sixth line changed. */
#define STACK_SIXTH "f1@app.js:10:4\\nf2@app.js:20:8\\nf3@app.js:30:1\\nf4@app.js:40:2" \
                    "\\nf5@app.js:50:3\\nother@vendor.js:1:1"
/* STACK_A with its third line changed. */
#define STACK_THIRD "f1@app.js:10:4\\nf2@app.js:20:8\\nh3@app.js:30:1\\nf4@app.js:40:2" \
                    "\\nf5@app.js:50:3\\nmain@app.js:99:1"

static const char beacon_a[] =
    "{\"app\":\"shop\",\"version\":\"1.2.3\",\"session\":\"s-1\",\"pv\":\"pv-1\","
    "\"page\":\"/checkout\",\"nav\":\"navigate\",\"ts\":1764300000123,"
    "\"events\":["
    "{\"type\":\"metric\",\"name\":\"LCP\",\"value\":2310.5,\"rating\":\"needs-improvement\","
    " \"id\":\"m-lcp-1\",\"delta\":2310.5,\"attribution\":{\"target\":\"img.hero\"}},"
    "{\"type\":\"metric\",\"name\":\"CLS\",\"value\":0.05,\"rating\":\"good\",\"id\":\"m-cls-1\"},"
    "{\"type\":\"error\",\"message\":\"TypeError: x is undefined (order 4711)\","
    " \"source\":\"a.js\",\"line\":10,\"col\":4,\"stack\":\"" STACK_A "\",\"kind\":\"error\"}],"
    "\"ctx\":{\"conn\":\"4g\",\"device\":\"mobile\",\"viewport\":\"390x844\",\"dpr\":3},"
    "\"attrs\":{\"tier\":\"gold\",\"ab\":\"b\"}}";

/* Same app and page view as beacon_a, later: an update of its LCP, a new INP and the
 * same error with other numbers in its message and stack. */
static const char beacon_b[] =
    "{\"app\":\"shop\",\"version\":\"1.2.3\",\"session\":\"s-1\",\"pv\":\"pv-1\","
    "\"events\":["
    "{\"type\":\"metric\",\"name\":\"LCP\",\"value\":2500,\"rating\":\"poor\",\"id\":\"m-lcp-1\"},"
    "{\"type\":\"metric\",\"name\":\"INP\",\"value\":120,\"rating\":\"good\",\"id\":\"m-inp-1\"},"
    "{\"type\":\"error\",\"message\":\"TypeError: x is undefined (order 98)\","
    " \"source\":\"b.js\",\"line\":12,\"col\":9,\"stack\":\"" STACK_B "\"}]}";

/* Another app reusing beacon_a's pv, metric id and error. */
static const char beacon_c[] =
    "{\"app\":\"cart\",\"version\":\"1.2.3\",\"pv\":\"pv-1\","
    "\"events\":["
    "{\"type\":\"metric\",\"name\":\"LCP\",\"value\":999,\"id\":\"m-lcp-1\"},"
    "{\"type\":\"error\",\"message\":\"TypeError: x is undefined (order 4711)\","
    " \"source\":\"c.js\",\"stack\":\"" STACK_A "\"}]}";

/* Another page view of shop: a different message, and beacon_a's error with its stack
 * changed past the fifth line and at the third. */
static const char beacon_d[] =
    "{\"app\":\"shop\",\"version\":\"1.2.3\",\"pv\":\"pv-2\","
    "\"events\":["
    "{\"type\":\"error\",\"message\":\"ReferenceError: y is not defined\",\"source\":\"d1.js\"},"
    "{\"type\":\"error\",\"message\":\"TypeError: x is undefined (order 5)\","
    " \"source\":\"d2.js\",\"stack\":\"" STACK_SIXTH "\"},"
    "{\"type\":\"error\",\"message\":\"TypeError: x is undefined (order 5)\","
    " \"source\":\"d3.js\",\"stack\":\"" STACK_THIRD "\"}]}";

static void schema(void)
{
    CHECK(q_int("PRAGMA user_version") == STORE_SCHEMA_VERSION,
          "PRAGMA user_version is STORE_SCHEMA_VERSION (%d)", STORE_SCHEMA_VERSION);
    CHECK_STR(q_text("PRAGMA journal_mode"), "wal", "the database is in WAL mode");
    CHECK(q_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                " ('pageviews', 'metrics', 'errors', 'error_groups')") == 4,
          "tables pageviews, metrics, errors, error_groups exist");
    CHECK(has_index("pageviews", "app,version,pv", 1), "pageviews: UNIQUE(app, version, pv)");
    CHECK(has_index("pageviews", "app,version,received", 0),
          "pageviews: index (app, version, received)");
    CHECK(has_index("metrics", "pageview,name,mid", 1), "metrics: UNIQUE(pageview, name, mid)");
    CHECK(has_index("metrics", "app,name,version,received", 0),
          "metrics: index (app, name, version, received)");
    CHECK(has_index("errors", "app,version,received", 0),
          "errors: index (app, version, received)");
    CHECK(has_index("error_groups", "fingerprint", 1), "error_groups: keyed by fingerprint");
}

static void beacons(struct store *s)
{
    CHECK(store_body(s, beacon_a, 1000000) == 4,
          "first beacon: 4 rows written (a page view, two metrics, an error)");
    CHECK(q_int("SELECT count(*) FROM pageviews") == 1, "first beacon: one page view");
    CHECK_STR(q_text("SELECT app || '|' || version || '|' || pv || '|' || session || '|'"
                     " || page || '|' || nav || '|' || client_ts || '|' || received || '|'"
                     " || last_received FROM pageviews"),
              "shop|1.2.3|pv-1|s-1|/checkout|navigate|1764300000123|1000000|1000000",
              "page view: beacon fields and times");
    CHECK_STR(q_text("SELECT browser || '|' || browser_major || '|' || os || '|' || device"
                     " || '|' || country FROM pageviews"),
              "Chrome|131|Android|mobile|DE", "page view: what the server added");
    CHECK_STR(q_text("SELECT conn || '|' || device_hint || '|' || viewport || '|' || dpr"
                     " FROM pageviews"),
              "4g|mobile|390x844|3.0", "page view: ctx");
    CHECK(q_int("SELECT json_extract(attrs, '$.tier') = 'gold' AND json_extract(attrs, '$.ab')"
                " = 'b' FROM pageviews") == 1, "page view: attrs stored as JSON");
    CHECK(q_int("SELECT count(*) FROM metrics") == 2, "first beacon: two metrics");
    CHECK_STR(q_text("SELECT name || '|' || value || '|' || rating || '|' || mid || '|'"
                     " || received || '|' || version FROM metrics WHERE name = 'LCP'"),
              "LCP|2310.5|needs-improvement|m-lcp-1|1000000|1.2.3", "metric row");
    CHECK_STR(q_text("SELECT json_extract(attribution, '$.target') FROM metrics"
                     " WHERE name = 'LCP'"), "img.hero", "metric attribution stored as JSON");
    CHECK(q_int("SELECT count(*) FROM metrics m JOIN pageviews p ON m.pageview = p.id"
                " WHERE p.pv = 'pv-1'") == 2, "metrics point at their page view");
    CHECK(q_int("SELECT count(*) FROM errors") == 1, "first beacon: one error");
    CHECK_STR(q_text("SELECT message || '|' || source || '|' || line || '|' || col || '|'"
                     " || kind || '|' || received FROM errors"),
              "TypeError: x is undefined (order 4711)|a.js|10|4|error|1000000", "error row");
    CHECK(q_int("SELECT count(*) FROM errors WHERE stack LIKE 'f1@app.js:10:4%main@app.js:99:1'")
          == 1, "error stack stored whole");
    CHECK(q_int("SELECT count(*) FROM error_groups") == 1
          && q_int("SELECT count FROM error_groups") == 1, "first error: one group of one");
    CHECK(q_int("SELECT length(fingerprint) >= 32 AND fingerprint NOT GLOB '*[^0-9a-f]*'"
                " FROM errors") == 1, "fingerprint is hexadecimal: %s",
          q_text("SELECT fingerprint FROM errors"));

    /* The same page view again, later. */
    CHECK(store_body(s, beacon_b, 1000500) == 4, "second beacon: 4 rows written");
    CHECK(q_int("SELECT count(*) FROM pageviews") == 1,
          "same app and pv: still one page view");
    CHECK(q_int("SELECT received FROM pageviews") == 1000000
          && q_int("SELECT last_received FROM pageviews") == 1000500,
          "merged page view: received is the first beacon's, last_received the latest");
    CHECK(q_int("SELECT count(*) FROM metrics") == 3,
          "metrics: LCP updated in place, INP added (3 rows)");
    CHECK(q_int("SELECT count(*) FROM metrics WHERE app = 'shop' AND mid = 'm-lcp-1'") == 1,
          "same app and metric id: one row");
    CHECK(q_double("SELECT value FROM metrics WHERE mid = 'm-lcp-1'") == 2500.0,
          "same app and metric id: the latest value is kept");
    CHECK_STR(q_text("SELECT rating FROM metrics WHERE mid = 'm-lcp-1'"), "poor",
              "same app and metric id: the latest rating is kept");
    CHECK(q_int("SELECT updated FROM metrics WHERE mid = 'm-lcp-1'") == 1000500,
          "same app and metric id: updated is the latest time");
    CHECK(q_int("SELECT count(*) FROM errors") == 2, "errors: both kept as rows");
    CHECK(q_int("SELECT count(DISTINCT fingerprint) FROM errors") == 1,
          "errors differing only in numbers share one fingerprint");
    CHECK(q_int("SELECT count(*) FROM error_groups") == 1
          && q_int("SELECT count FROM error_groups") == 2,
          "error_groups: one group, count 2");
    CHECK(q_int("SELECT first_seen FROM error_groups") == 1000000
          && q_int("SELECT last_seen FROM error_groups") == 1000500,
          "error_groups: first_seen and last_seen");

    /* Another app with the same pv, metric id and error. */
    CHECK(store_body(s, beacon_c, 1001000) == 3, "third beacon (another app): 3 rows");
    CHECK(q_int("SELECT count(*) FROM pageviews WHERE pv = 'pv-1'") == 2,
          "same pv in another app: a page view of its own");
    CHECK(q_int("SELECT count(*) FROM metrics WHERE mid = 'm-lcp-1'") == 2
          && q_double("SELECT value FROM metrics WHERE app = 'shop' AND mid = 'm-lcp-1'")
             == 2500.0,
          "same metric id in another app: a row of its own, shop's untouched");
    CHECK(q_int("SELECT count(DISTINCT fingerprint) FROM errors") == 2,
          "same error in another app: another fingerprint");

    CHECK(store_body(s, beacon_d, 1002000) == 4, "fourth beacon: 4 rows");
    CHECK(q_int("SELECT count(*) FROM errors e JOIN errors a ON a.source = 'a.js'"
                " WHERE e.source = 'd1.js' AND e.fingerprint <> a.fingerprint") == 1,
          "a different message: a different fingerprint");
    CHECK(q_int("SELECT count(*) FROM errors e JOIN errors a ON a.source = 'a.js'"
                " WHERE e.source = 'd2.js' AND e.fingerprint = a.fingerprint") == 1,
          "a stack differing past its fifth line: the same fingerprint");
    CHECK(q_int("SELECT count(*) FROM errors e JOIN errors a ON a.source = 'a.js'"
                " WHERE e.source = 'd3.js' AND e.fingerprint <> a.fingerprint") == 1,
          "a stack differing in its third line: another fingerprint");
    CHECK(q_int("SELECT g.count FROM error_groups g JOIN errors a"
                " ON a.fingerprint = g.fingerprint AND a.source = 'a.js'") == 3,
          "error_groups.count counts the three errors of beacon a's group");
    CHECK(q_int("SELECT count(*) FROM error_groups WHERE app = 'shop'") == 3
          && q_int("SELECT sum(count) FROM error_groups WHERE app = 'shop'") == 5,
          "shop: 3 groups holding its 5 errors");
    CHECK(q_int("SELECT count(*) FROM error_groups g WHERE count ="
                " (SELECT count(*) FROM errors e WHERE e.fingerprint = g.fingerprint)")
          == q_int("SELECT count(*) FROM error_groups"),
          "every group's count equals its rows in errors");
}

static void rollback(struct store *s)
{
    char err[512];
    long long pageviews = q_int("SELECT count(*) FROM pageviews");
    long long metrics = q_int("SELECT count(*) FROM metrics");
    long long errors = q_int("SELECT count(*) FROM errors");
    long long grouped = q_int("SELECT sum(count) FROM error_groups");
    const char *body =
        "{\"app\":\"shop\",\"version\":\"1.2.3\",\"pv\":\"pv-rb\",\"events\":["
        "{\"type\":\"metric\",\"name\":\"LCP\",\"value\":1,\"id\":\"m-rb\"},"
        "{\"type\":\"metric\",\"name\":\"LCP\",\"value\":7,\"id\":\"m-lcp-1\"},"
        "{\"type\":\"error\",\"message\":\"TypeError: x is undefined (order 1)\","
        " \"stack\":\"" STACK_A "\"}]}";
    char field[128];
    json_t *list = beacon_parse(body, strlen(body), field, sizeof field, err, sizeof err);
    struct beacon_meta m = meta(1003000);

    CHECK(list != NULL, "rollback beacon is valid");
    CHECK(store_begin(s, err, sizeof err) == 0, "store_begin");
    CHECK(store_insert_beacon(s, json_array_get(list, 0), &m, err, sizeof err) == 4,
          "insert inside the transaction");
    store_rollback(s);
    json_decref(list);
    CHECK(q_int("SELECT count(*) FROM pageviews") == pageviews
          && q_int("SELECT count(*) FROM pageviews WHERE pv = 'pv-rb'") == 0,
          "store_rollback: no page view left");
    CHECK(q_int("SELECT count(*) FROM metrics") == metrics
          && q_double("SELECT value FROM metrics WHERE app = 'shop' AND mid = 'm-lcp-1'")
             == 2500.0,
          "store_rollback: no metric added, none updated");
    CHECK(q_int("SELECT count(*) FROM errors") == errors
          && q_int("SELECT sum(count) FROM error_groups") == grouped,
          "store_rollback: no error, no group count changed");

    CHECK(store_body(s, "{\"app\":\"shop\",\"version\":\"1.2.3\",\"pv\":\"pv-after\","
                        "\"events\":[{\"type\":\"metric\",\"name\":\"TTFB\",\"value\":80}]}",
                     1003500) == 2, "the store works again after a rollback");
}

/* Metrics at the window's edges and decoys of another version, metric and app. */
static void metric_values(struct store *s)
{
    static const struct {
        const char *app, *version, *name;
        double value;
        long long received;
    } rows[] = {
        {"shop", "2.0.0", "LCP", 3000, 2000000},   /* at since: in */
        {"shop", "2.0.0", "LCP", 1500, 2000100},
        {"shop", "2.0.0", "LCP", 2200.25, 2000200},
        {"shop", "2.0.0", "LCP", 900, 2000999},    /* just before until: in */
        {"shop", "2.0.0", "LCP", 2200.25, 2000500},   /* a tie: both kept */
        {"shop", "2.0.0", "LCP", 5000, 1999999},   /* before the window */
        {"shop", "2.0.0", "LCP", 7000, 2001000},   /* at until: out */
        {"shop", "2.0.1", "LCP", 1111, 2000100},   /* another version */
        {"shop", "2.0.0", "FCP", 800, 2000100},    /* another metric */
        {"blog", "2.0.0", "LCP", 1234, 2000100},   /* another app */
    };
    const double want[] = {900, 1500, 2200.25, 2200.25, 3000};
    char body[512], err[512];
    double *v = NULL;
    size_t n = 99;
    int stored = 1;

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"app\":\"%s\",\"version\":\"%s\",\"events\":[{\"type\":\"metric\","
                 "\"name\":\"%s\",\"value\":%.17g}]}",
                 rows[i].app, rows[i].version, rows[i].name, rows[i].value);
        if (store_body(s, body, rows[i].received) != 2)
            stored = 0;
    }
    CHECK(stored, "metric_values: ten beacons stored");
    CHECK(store_metric_values(s, "shop", "2.0.0", "LCP", 2000000, 2001000, &v, &n, err,
                              sizeof err) == 0, "store_metric_values succeeds");
    int same = n == sizeof want / sizeof want[0];
    for (size_t i = 0; same && i < n; i++)
        same = v[i] == want[i];
    CHECK(same, "store_metric_values: only shop 2.0.0 LCP in [since, until), sorted"
          " (got %zu values)", n);
    free(v);

    v = NULL;
    n = 99;
    CHECK(store_metric_values(s, "shop", "2.0.0", "LCP", 3000000, 4000000, &v, &n, err,
                              sizeof err) == 0 && n == 0,
          "store_metric_values: an empty window gives no values");
    free(v);
    v = NULL;
    CHECK(store_metric_values(s, "shop", "2.0.0", "LCP", 2000000, 2000000, &v, &n, err,
                              sizeof err) == 0 && n == 0,
          "store_metric_values: since == until is empty");
    free(v);
}

static void read_only(struct store *writer)
{
    struct store *r = NULL;
    char err[512] = "", path[256];
    double *v = NULL;
    size_t n = 0;

    CHECK(store_open(&r, db_path, 1, err, sizeof err) == 0 && r,
          "read-only open beside the open writer%s%s", r ? "" : ": ", err);
    if (r) {
        CHECK(store_metric_values(r, "shop", "2.0.0", "LCP", 2000000, 2001000, &v, &n, err,
                                  sizeof err) == 0 && n == 5,
              "read-only store answers store_metric_values (%zu values)", n);
        free(v);
        store_close(r);
        r = NULL;
    }
    store_close(writer);

    CHECK(store_open(&r, db_path, 1, err, sizeof err) == 0 && r,
          "read-only reopen after the writer closed%s%s", r ? "" : ": ", err);
    if (r) {
        v = NULL;
        CHECK(store_metric_values(r, "shop", "1.2.3", "LCP", 0, 9999999, &v, &n, err,
                                  sizeof err) == 0 && n == 1 && v[0] == 2500.0,
              "read-only reopen: shop 1.2.3 LCP is the updated 2500");
        free(v);
        CHECK(store_bytes(r) > 0, "store_bytes is positive");
        store_close(r);
        r = NULL;
    }

    /* A valid SQLite database that is not Vigil's. */
    sqlite3 *other = NULL;
    snprintf(path, sizeof path, "%s/other.db", dir);
    sqlite3_open(path, &other);
    sqlite3_exec(other, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi')",
                 NULL, NULL, NULL);
    sqlite3_close(other);
    err[0] = '\0';
    r = (struct store *)1;
    CHECK(store_open(&r, path, 1, err, sizeof err) == -1 && r == NULL,
          "read-only open of a non-Vigil SQLite file is refused");
    CHECK(err[0] && strstr(err, path) != NULL,
          "non-Vigil file: the message names the file (\"%s\")", err);

    /* A file that is not SQLite at all. */
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("these are not the pages you are looking for\n", f);
        fclose(f);
    }
    err[0] = '\0';
    CHECK(store_open(&r, path, 1, err, sizeof err) == -1 && r == NULL && err[0],
          "read-only open of a text file is refused (\"%s\")", err);

    /* A file that does not exist is not created by a read-only open. */
    snprintf(path, sizeof path, "%s/missing.db", dir);
    err[0] = '\0';
    CHECK(store_open(&r, path, 1, err, sizeof err) == -1 && r == NULL && err[0],
          "read-only open of a missing file is refused (\"%s\")", err);
    CHECK(access(path, F_OK) != 0, "read-only open does not create the file");
}

int main(void)
{
    struct store *s = NULL;
    char err[512] = "";

    snprintf(dir, sizeof dir, "/tmp/vigil-test-store-XXXXXX");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return check_done();
    }
    snprintf(db_path, sizeof db_path, "%s/vigil.db", dir);

    CHECK(store_open(&s, db_path, 0, err, sizeof err) == 0 && s, "store_open creates %s%s%s",
          db_path, s ? "" : ": ", err);
    if (!s || sqlite3_open_v2(db_path, &peek, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        CHECK(0, "test connection opens");
        sqlite3_close(peek);
        store_close(s);
        cleanup();
        return check_done();
    }
    schema();
    beacons(s);
    rollback(s);
    metric_values(s);
    read_only(s);   /* closes s */

    /* Reopening for writing keeps the data and does not migrate again. */
    s = NULL;
    CHECK(store_open(&s, db_path, 0, err, sizeof err) == 0 && s, "reopen for writing");
    CHECK(q_int("PRAGMA user_version") == STORE_SCHEMA_VERSION
          && q_int("SELECT count(*) FROM metrics WHERE app = 'shop' AND mid = 'm-lcp-1'") == 1,
          "reopen: schema version and rows unchanged");
    store_close(s);

    sqlite3_close(peek);
    cleanup();
    CHECK(access(dir, F_OK) != 0, "temporary directory removed");
    return check_done();
}
