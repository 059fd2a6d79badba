/*
 * Tests of shared/clickhouse.c and shared/chstore.c.
 *
 * Without arguments: what needs no server (URL parsing, ClickHouse's error texts made
 * safe, TabSeparated and SQL quoting). The error texts are real answers of ClickHouse
 * 18.16 (captured from Debian's clickhouse-server) and of a current release (the format
 * of https://clickhouse.com/docs/interfaces/http), not texts made by the code under test.
 *
 * With VIGIL_CLICKHOUSE_URL (and VIGIL_CLICKHOUSE_PASSWORD_FILE) set, as
 * tests/integration/test_clickhouse.py does with a real server, also:
 *  - parity: the same values through shared/rollup into SQLite (rollup_flush, the
 *    sketches read back with sketch_merge_blob) and into ClickHouse (chstore_batch_send,
 *    chstore_read_sketch) give the same buckets, the same bins and the same quantile
 *    bounds, and the counts are the number of values put in (counted here);
 *  - exactly once: a replayed batch is skipped part by part, a new batch adds, and after
 *    OPTIMIZE ... FINAL (SummingMergeTree's merge) the sums are unchanged;
 *  - a wrong password gives ClickHouse's reason without the password.
 * With "--unreachable URL": the error of a server that does not answer.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "check.h"
#include "chstore.h"
#include "clickhouse.h"
#include "cmp.h"
#include "fspool.h"
#include "rng.h"
#include "rollup.h"
#include "sketch.h"
#include "store.h"

static void test_url(void)
{
    struct clickhouse_url u;
    char err[512] = "";
    static const struct {
        const char *url, *part;
    } bad[] = {
        {"http://127.0.0.1:8123/vigil", "scheme"},
        {"clickhouse://127.0.0.1/vigil", "port"},
        {"clickhouse://127.0.0.1:80x/vigil", "port"},
        {"clickhouse://127.0.0.1:70000/vigil", "port"},
        {"clickhouse://127.0.0.1:8123", "database"},
        {"clickhouse://127.0.0.1:8123/", "database"},
        {"clickhouse://127.0.0.1:8123/vi-gil", "database"},
        {"clickhouse://:8123/vigil", "host"},
        {"clickhouse://ho st:8123/vigil", "host"},
        {"clickhouse://vigil:hunter2@127.0.0.1:8123/vigil", "password"},
        {"clickhouse://@127.0.0.1:8123/vigil", "user"},
    };

    CHECK(clickhouse_parse_url("clickhouse://ch-1.example.net:8123/vigil", &u, err, sizeof err)
              == 0 && strcmp(u.host, "ch-1.example.net") == 0 && u.port == 8123
              && strcmp(u.database, "vigil") == 0 && strcmp(u.user, "default") == 0,
          "url: host, port, database, and the user default");
    CHECK(clickhouse_parse_url("clickhouse://writer@10.0.0.7:18123/rum_1", &u, err, sizeof err)
              == 0 && strcmp(u.user, "writer") == 0 && strcmp(u.host, "10.0.0.7") == 0
              && u.port == 18123 && strcmp(u.database, "rum_1") == 0,
          "url: a user before @");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        int rc = clickhouse_parse_url(bad[i].url, &u, err, sizeof err);
        CHECK(rc == -1 && strstr(err, bad[i].part) && strstr(err, bad[i].url),
              "url %s: refused, naming the %s (%s)", bad[i].url, bad[i].part, err);
    }
    CHECK(clickhouse_parse_url("clickhouse://vigil:hunter2@127.0.0.1:8123/vigil", &u, err,
                               sizeof err) == -1 && strstr(err, "600"),
          "url: a password in the URL points to the password file");
}

static void test_reason(void)
{
    char out[CLICKHOUSE_REASON_MAX + 1];
    /* Answers of 18.16 (HTTP 404, 500, 500, 401) and of a current release. */
    static const char missing[] = "Code: 60, e.displayText() = DB::Exception: Table "
                                  "default.nope doesn't exist., e.what() = DB::Exception\n";
    static const char path[] = "Code: 291, e.displayText() = DB::Exception: Part path "
                               "/etc/passwd is not inside /tmp/vigil-ch-563qr296/user_files/, "
                               "e.what() = DB::Exception\n";
    static const char timeout[] = "Code: 159, e.displayText() = DB::Exception: Timeout exceeded:"
                                  " elapsed 3 seconds, maximum: 1, e.what() = DB::Exception\n";
    static const char current[] = "Code: 60. DB::Exception: Table default.nope does not exist."
                                  " (UNKNOWN_TABLE) (version 24.8.4.13 (official build))\n";
    static const char echoed[] = "Code: 62, e.displayText() = DB::Exception: Syntax error: "
                                 "failed at position 8: 'pw-0123456789abcdef' FROM x, e.what() "
                                 "= DB::Exception\n";

    clickhouse_reason(missing, strlen(missing), NULL, out, sizeof out);
    CHECK_STR(out, "Code: 60, Table default.nope doesn't exist", "reason: 18.16's text, "
              "without e.displayText() and e.what()");
    clickhouse_reason(path, strlen(path), NULL, out, sizeof out);
    CHECK_STR(out, "Code: 291, Part path (path) is not inside (path)",
              "reason: every absolute path is taken out");
    clickhouse_reason(timeout, strlen(timeout), NULL, out, sizeof out);
    CHECK_STR(out, "Code: 159, Timeout exceeded: elapsed 3 seconds, maximum: 1",
              "reason: a timeout keeps its numbers");
    clickhouse_reason(current, strlen(current), NULL, out, sizeof out);
    CHECK_STR(out, "Code: 60. Table default.nope does not exist. (UNKNOWN_TABLE)",
              "reason: a current release's text, without the version");
    clickhouse_reason(echoed, strlen(echoed), "pw-0123456789abcdef", out, sizeof out);
    CHECK(!strstr(out, "pw-0123456789abcdef") && strstr(out, "(password)"),
          "reason: the password is taken out (%s)", out);
    char big[4000];
    memset(big, 'x', sizeof big);
    clickhouse_reason(big, sizeof big, NULL, out, sizeof out);
    CHECK(strlen(out) == CLICKHOUSE_REASON_MAX, "reason: at most %d bytes",
          CLICKHOUSE_REASON_MAX);
}

static void test_quoting(void)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK(clickhouse_tsv_field(&b, "a\tb\\c\nd\re") == 0
              && strcmp(b.data, "a\\tb\\\\c\\nd\\re") == 0,
          "tsv: tab, backslash, newline and carriage return escaped (%s)", b.data);
    buf_reset(&b);
    CHECK(chstore_quote(&b, "it's \\ here") == 0 && strcmp(b.data, "'it\\'s \\\\ here'") == 0,
          "sql: a string literal with quote and backslash escaped (%s)", b.data);
    buf_fini(&b);
    buf_init(&b, 8);
    CHECK(clickhouse_tsv_field(&b, "0123456789") == -1 && b.len == 0,
          "tsv: past the buffer's cap, refused and the buffer left as it was");
    buf_fini(&b);
}

/* Copies s without its white space into a new string (the caller frees it). */
static char *squeeze(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    for (; out && *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\t')
            *o++ = *s;
    if (out)
        *o = '\0';
    return out;
}

/* collector/README.md shows the DDL the code runs: each statement, white space aside. */
static void test_readme(void)
{
    char path[4096];
    const char *root = getenv("VIGIL_ROOT");
    snprintf(path, sizeof path, "%s/collector/README.md", root ? root : ".");
    FILE *f = fopen(path, "r");
    static char text[1 << 20];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    char *readme = squeeze(text);
    CHECK(n > 0 && readme, "readme: %s is read", path);
    for (size_t i = 0; readme && i < chstore_ddl_n; i++) {
        char *stmt = squeeze(chstore_ddl[i]);
        CHECK(stmt && strstr(readme, stmt), "readme: shows DDL statement %zu (%.40s...)", i + 1,
              chstore_ddl[i]);
        free(stmt);
    }
    free(readme);
}

/* ---- against a real server ------------------------------------------------------- */

/* 2026-12-01 00:00 UTC (1764547200 = 20423 days of 86400 s): the values straddle it, so
 * that a batch has parts of two days. */
#define MIDNIGHT_MS 1764547200000LL
#define MINUTES 10
#define PER_MINUTE 300

struct counts {
    long long values[2][2];     /* version, metric: values put in */
    long long views[2], hits[2];
};

static const char *const versions[2] = {"v1", "v2"};
static const char *const metrics[2] = {"LCP", "CLS"};

/* Fills r with the test's values and page views for minutes [m0, m0 + MINUTES) around
 * midnight, counting what went in; each run of seed gives the same values. */
static int fill(struct rollup *r, uint64_t seed, struct counts *c)
{
    rng_seed(seed);
    for (int m = 0; m < MINUTES; m++)
        for (int i = 0; i < PER_MINUTE; i++) {
            int v = i % 2;
            static const char *const browsers[] = {"Chrome", "Firefox", "Safari"};
            static const char *const pages[] = {"/", "/cart", "/checkout", "/p/1", "/p/2"};
            struct rollup_point p = {"shop", versions[v],
                                     MIDNIGHT_MS + (m - MINUTES / 2) * ROLLUP_MINUTE_MS + i * 97,
                                     {browsers[i % 3], "Linux", "desktop", i % 3 ? "DE" : NULL,
                                      "4g", pages[i % 5]}};
            double lcp = (v ? 2600 : 2300) * exp(0.5 * rng_normal());
            /* CLS: 60% exact zeros, the rest small. */
            double cls = rng_unit() < 0.6 ? 0 : 0.3 * rng_unit();
            if (rollup_value(r, &p, "LCP", lcp, 1) < 0 || rollup_value(r, &p, "CLS", cls, 1) < 0
                || rollup_views(r, &p, 1, i % 50 == 0) < 0)
                return -1;
            /* A value replaced within the batch: in and out again. */
            if (i % 7 == 0 && (rollup_value(r, &p, "LCP", 99999, 1) < 0
                               || rollup_value(r, &p, "LCP", 99999, -1) < 0))
                return -1;
            c->values[v][0]++;
            c->values[v][1]++;
            c->views[v]++;
            c->hits[v] += i % 50 == 0;
        }
    return 0;
}

/* The whole-version sketch of one metric from SQLite's rollups over minutes [first, last]. */
static int sqlite_sketch(sqlite3 *db, const char *version, const char *metric,
                         long long first, long long last, struct sketch *out)
{
    sqlite3_stmt *q;
    char err[256] = "";
    int rc = 0;
    sketch_clear(out);
    out->n = out->zeros = 0;
    if (sqlite3_prepare_v2(db, "SELECT sketch FROM rollups WHERE app = 'shop' AND version = ?1"
                           " AND metric = ?2 AND dim = '' AND key = '' AND minute BETWEEN ?3"
                           " AND ?4", -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, version, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, metric, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, first);
    sqlite3_bind_int64(q, 4, last);
    while (rc == 0 && sqlite3_step(q) == SQLITE_ROW)
        rc = sketch_merge_blob(out, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0),
                               err, sizeof err);
    sqlite3_finalize(q);
    return rc;
}

static int same_sketch(const struct sketch *x, const struct sketch *y)
{
    if (x->zeros != y->zeros || x->n != y->n)
        return 0;
    for (int i = SKETCH_INDEX_MIN; i <= SKETCH_INDEX_MAX; i++) {
        long long a = x->len && i >= x->first && i < x->first + (int)x->len ? x->counts[i - x->first] : 0;
        long long b = y->len && i >= y->first && i < y->first + (int)y->len ? y->counts[i - y->first] : 0;
        if (a != b)
            return 0;
    }
    return 1;
}

static int same_bins(const struct sketch_bins *x, const struct sketch_bins *y)
{
    if (x->n != y->n || x->total != y->total)
        return 0;
    for (size_t i = 0; i < x->n; i++)
        if (x->bin[i].lo != y->bin[i].lo || x->bin[i].hi != y->bin[i].hi
            || x->bin[i].value != y->bin[i].value || x->bin[i].count != y->bin[i].count)
            return 0;
    return 1;
}

/* Compares one window of both stores for every version and metric; label names it. */
static void compare(struct clickhouse *ch, sqlite3 *db, long long since, long long until,
                    const long long want[2][2], const char *label)
{
    char err[512] = "";
    for (int v = 0; v < 2; v++)
        for (int k = 0; k < 2; k++) {
            struct sketch a, b;
            struct sketch_bins ba = {0}, bb = {0};
            sketch_init(&a);
            sketch_init(&b);
            int rc = chstore_read_sketch(ch, "shop", versions[v], metrics[k], since, until, &a,
                                         err, sizeof err);
            CHECK(rc == 0, "%s %s %s: ClickHouse answers (%s)", label, versions[v], metrics[k],
                  rc ? err : "ok");
            CHECK(sqlite_sketch(db, versions[v], metrics[k], since / ROLLUP_MINUTE_MS,
                                (until - 1) / ROLLUP_MINUTE_MS, &b) == 0,
                  "%s %s %s: SQLite answers", label, versions[v], metrics[k]);
            if (want)
                CHECK(a.n == want[v][k] && b.n == want[v][k], "%s %s %s: %lld values in both "
                      "(ClickHouse %lld, SQLite %lld)", label, versions[v], metrics[k],
                      want[v][k], a.n, b.n);
            CHECK(a.n > 0 && same_sketch(&a, &b), "%s %s %s: the same buckets (%lld values, %lld"
                  " zeros)", label, versions[v], metrics[k], a.n, a.zeros);
            CHECK(sketch_bins_of(&a, &ba) == 0 && sketch_bins_of(&b, &bb) == 0
                      && same_bins(&ba, &bb), "%s %s %s: the same bins (%zu)", label,
                  versions[v], metrics[k], ba.n);
            double lo1, hi1, lo2, hi2;
            cmp_quantile_bounds_bins(&ba, 0.75, 0.0125, &lo1, &hi1);
            cmp_quantile_bounds_bins(&bb, 0.75, 0.0125, &lo2, &hi2);
            CHECK(lo1 == lo2 && hi1 == hi2, "%s %s %s: the same p75 bounds [%g, %g]", label,
                  versions[v], metrics[k], lo1, hi1);
            sketch_bins_fini(&ba);
            sketch_bins_fini(&bb);
            sketch_fini(&a);
            sketch_fini(&b);
        }
}

/* 1 when both batches have the same id and the same parts, byte for byte. */
static int same_batch(const struct chstore_batch *x, const struct chstore_batch *y)
{
    if (strcmp(x->id, y->id) != 0 || x->nparts != y->nparts)
        return 0;
    for (size_t i = 0; i < x->nparts; i++)
        if (strcmp(x->part[i].table, y->part[i].table) != 0 || x->part[i].day != y->part[i].day
            || x->part[i].rows.len != y->part[i].rows.len
            || memcmp(x->part[i].rows.data, y->part[i].rows.data, x->part[i].rows.len) != 0)
            return 0;
    return 1;
}

/* The spool form of a batch: a round trip, and broken forms refused with the byte. */
static void test_batch_form(void)
{
    struct rollup *r = rollup_new();
    struct counts c = {0};
    struct chstore_batch b = {0}, d = {0};
    struct buf enc;
    char err[256] = "";
    static const char id[] = "00112233445566778899aabbccddeeff";

    buf_init(&enc, 0);
    CHECK(r && fill(r, 3, &c) == 0 && chstore_batch_build(&b, id, r, err, sizeof err) == 0
              && chstore_batch_encode(&b, &enc) == 0, "form: a batch encoded (%s)", err);
    CHECK(chstore_batch_decode(&d, enc.data, enc.len, err, sizeof err) == 0 && same_batch(&b, &d),
          "form: decoded, the same id and parts (%zu parts)", d.nparts);
    chstore_batch_fini(&d);
    CHECK(chstore_batch_decode(&d, enc.data, enc.len - 1, err, sizeof err) == -1
              && strstr(err, "byte "), "form: one byte short is refused (%s)", err);
    chstore_batch_fini(&d);
    CHECK(chstore_batch_build(&d, "0011223344556677889'aabbccddeeff", r, err, sizeof err) == -1,
          "form: an id that is not hex is refused when building");
    chstore_batch_fini(&d);
    enc.data[20] = 'X';
    CHECK(chstore_batch_decode(&d, enc.data, enc.len, err, sizeof err) == -1
              && strstr(err, "byte 0"), "form: an id that is not hex is refused when decoding "
          "(%s)", err);
    chstore_batch_fini(&d);
    enc.data[20] = '2';
    buf_puts(&enc, "x");
    CHECK(chstore_batch_decode(&d, enc.data, enc.len, err, sizeof err) == -1
              && strstr(err, "after the last part"), "form: bytes after the last part are "
          "refused (%s)", err);
    chstore_batch_fini(&d);
    chstore_batch_fini(&b);
    buf_fini(&enc);
    rollup_free(r);
}

/* Frees groups one by one (store_groups_free frees only the first group's sketch). */
static void free_groups(struct store_group *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        sketch_fini(&g[i].sk);
    free(g);
}

/* store_rollup_groups on the SQLite file against chstore_rollup_groups, for time buckets
 * and for each dimension, for a metric and for errors. */
static void compare_groups(struct clickhouse *ch, const char *dbpath, long long since,
                           long long until)
{
    static const struct {
        const char *metric, *by;
        long long step;
    } reads[] = {
        {"LCP", NULL, 0}, {"LCP", NULL, 2 * ROLLUP_MINUTE_MS}, {"CLS", NULL, ROLLUP_MINUTE_MS},
        {"LCP", "browser", 0}, {"CLS", "country", 0}, {"LCP", "page", 0},
        {"errors", NULL, 0}, {"errors", NULL, 3 * ROLLUP_MINUTE_MS}, {"errors", "browser", 0},
        {"errors", "page", 0},
    };
    struct store *st = NULL;
    char err[512] = "";
    if (store_open(&st, dbpath, 1, err, sizeof err) < 0) {
        CHECK(0, "groups: open the store (%s)", err);
        return;
    }
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
        struct store_group *a = NULL, *b = NULL;
        size_t na = 0, nb = 0, same = 0;
        int ra = chstore_rollup_groups(ch, "shop", "v2", reads[i].metric, reads[i].by,
                                       since + 30000, until, reads[i].step, &a, &na, err,
                                       sizeof err);
        CHECK(ra == 0, "groups %s by %s step %lld: ClickHouse answers (%s)", reads[i].metric,
              reads[i].by ? reads[i].by : "time", reads[i].step, ra ? err : "ok");
        int rb = store_rollup_groups(st, "shop", "v2", reads[i].metric, reads[i].by,
                                     since + 30000, until, reads[i].step, &b, &nb, err,
                                     sizeof err);
        CHECK(rb == 0, "groups %s: SQLite answers (%s)", reads[i].metric, rb ? err : "ok");
        for (size_t k = 0; k < na && k < nb; k++)
            same += a[k].t == b[k].t && strcmp(a[k].key, b[k].key) == 0 && a[k].n == b[k].n
                    && a[k].hits == b[k].hits && same_sketch(&a[k].sk, &b[k].sk);
        CHECK(na > 0 && na == nb && same == na, "groups %s by %s step %lld: the same %zu groups"
              " (SQLite %zu, equal %zu; first %s/%lld: n %lld)", reads[i].metric,
              reads[i].by ? reads[i].by : "time", reads[i].step, na, nb, same,
              na ? a[0].key : "-", na ? a[0].t : 0, na ? a[0].n : 0);
        free_groups(a, na);
        free_groups(b, nb);
    }
    store_close(st);
}

/* 150 pages in one minute, page k with 150 - k values: the breakdown by page keeps the 99
 * busiest (k < 99) and counts the other 51 pages' 1 + 2 + ... + 51 = 1326 values under
 * "(other)". */
static void test_page_cap(struct clickhouse *ch)
{
    struct rollup *r = rollup_new();
    struct chstore_batch b = {0};
    struct store_group *g = NULL;
    char err[512] = "", id[CHSTORE_BATCH_LEN + 1], page[150][8];
    size_t n = 0, right = 0;
    int ok = r != NULL;

    for (int k = 0; k < 150 && ok; k++) {
        snprintf(page[k], sizeof page[k], "/p%03d", k);
        struct rollup_point p = {"big", "v1", MIDNIGHT_MS, {"Chrome", NULL, NULL, NULL, NULL,
                                                            page[k]}};
        for (int j = 0; j < 150 - k && ok; j++)
            ok = rollup_value(r, &p, "LCP", 100, 1) == 0;
    }
    CHECK(ok && chstore_batch_id(id, err, sizeof err) == 0
              && chstore_batch_build(&b, id, r, err, sizeof err) == 0
              && chstore_batch_send(ch, &b, 0, NULL, err, sizeof err) == 0,
          "pages: 150 pages stored (%s)", err);
    CHECK(chstore_rollup_groups(ch, "big", "v1", "LCP", "page", MIDNIGHT_MS,
                                MIDNIGHT_MS + ROLLUP_MINUTE_MS, 0, &g, &n, err, sizeof err) == 0,
          "pages: read by page (%s)", err);
    for (size_t i = 0; i < n; i++) {
        int k = -1;
        if (strcmp(g[i].key, ROLLUP_OTHER) == 0)
            right += g[i].n == 1326;
        else if (sscanf(g[i].key, "/p%d", &k) == 1)
            right += k >= 0 && k < 99 && g[i].n == 150 - k;
    }
    CHECK(n == 100 && right == 100, "pages: the 99 busiest and (other) with 1326 values "
          "(%zu groups, %zu right)", n, right);
    chstore_groups_free(g, n);
    chstore_batch_fini(&b);
    rollup_free(r);
}

/* The verdict's read: both metrics and one without data in one query, each equal to
 * SQLite's sketch. */
static void compare_multi(struct clickhouse *ch, sqlite3 *db, long long since, long long until)
{
    static const char *const names[] = {"LCP", "CLS", "INP"};
    char err[512] = "";
    for (int v = 0; v < 2; v++) {
        struct sketch out[3], want;
        sketch_init(&want);
        for (int k = 0; k < 3; k++)
            sketch_init(&out[k]);
        int rc = chstore_read_sketches(ch, "shop", versions[v], names, 3, since, until, out, err,
                                       sizeof err);
        CHECK(rc == 0, "sketches %s: one query for three metrics (%s)", versions[v],
              rc ? err : "ok");
        for (int k = 0; k < 2; k++)
            CHECK(sqlite_sketch(db, versions[v], names[k], since / ROLLUP_MINUTE_MS,
                                (until - 1) / ROLLUP_MINUTE_MS, &want) == 0
                      && out[k].n > 0 && same_sketch(&out[k], &want),
                  "sketches %s %s: SQLite's buckets (%lld values)", versions[v], names[k],
                  out[k].n);
        CHECK(out[2].n == 0 && out[2].zeros == 0, "sketches %s INP: no data, an empty sketch",
              versions[v]);
        for (int k = 0; k < 3; k++)
            sketch_fini(&out[k]);
        sketch_fini(&want);
    }
}

static long long ch_count(struct clickhouse *ch, const char *sql)
{
    char err[512] = "", *out = NULL;
    long long n = -1;
    if (clickhouse_query(ch, sql, 64, &out, NULL, err, sizeof err) == 0)
        n = strtoll(out, NULL, 10);
    free(out);
    return n;
}

/* The batch through a spool and back, replayed: nothing is sent twice. */
static void replay_from_spool(struct clickhouse *ch, const struct chstore_batch *b)
{
    char dir[64], err[512] = "", name[FSPOOL_NAME_MAX], *data = NULL;
    struct fspool_opts o = {".batch", 0, 1ull << 30, 0, 1, CHSTORE_BATCH_MAX};
    struct fspool *sp = NULL;
    struct chstore_batch d = {0};
    struct buf enc;
    size_t len = 0, sent = 99;

    snprintf(dir, sizeof dir, "/tmp/vigil-chspool-%d", (int)getpid());
    buf_init(&enc, 0);
    CHECK(fspool_open(&sp, dir, &o, err, sizeof err) == 0 && chstore_batch_encode(b, &enc) == 0
              && fspool_add(sp, enc.data, enc.len, err, sizeof err) == 0,
          "spool: the batch is spooled (%s)", err);
    CHECK(sp && fspool_oldest(sp, name, &data, &len, err, sizeof err) == 1
              && chstore_batch_decode(&d, data, len, err, sizeof err) == 0
              && chstore_batch_send(ch, &d, 1, &sent, err, sizeof err) == 0 && sent == 0
              && fspool_remove(sp, name, err, sizeof err) == 0 && fspool_files(sp) == 0,
          "spool: read back, replayed (no part sent again: %zu) and removed (%s)", sent, err);
    chstore_batch_fini(&d);
    free(data);
    buf_fini(&enc);
    fspool_close(sp);
    snprintf(name, sizeof name, "%s/.lock", dir);
    unlink(name);
    rmdir(dir);
}

static void test_server(const char *url, const char *password_file)
{
    struct clickhouse *ch = NULL;
    struct rollup *r = rollup_new();
    struct chstore_batch b = {0};
    struct counts c = {0};
    sqlite3 *db = NULL;
    char err[512] = "", id[CHSTORE_BATCH_LEN + 1];
    size_t sent = 0;
    long long since = MIDNIGHT_MS - MINUTES / 2 * ROLLUP_MINUTE_MS;
    long long until = MIDNIGHT_MS + MINUTES / 2 * ROLLUP_MINUTE_MS;
    char dbpath[64];

    snprintf(dbpath, sizeof dbpath, "/tmp/vigil-chstore-%d.db", (int)getpid());
    if (clickhouse_open(&ch, url, password_file, err, sizeof err) < 0) {
        CHECK(0, "open %s (%s)", url, err);
        goto out;
    }
    CHECK(chstore_init(ch, err, sizeof err) == 0, "init: the tables are created (%s)", err);
    CHECK(chstore_init(ch, err, sizeof err) == 0, "init: again, nothing to do (%s)", err);
    CHECK(ch_count(ch, "SELECT count() FROM system.tables WHERE database = currentDatabase()")
              == (long long)chstore_ddl_n, "init: %zu tables", chstore_ddl_n);

    CHECK(r && fill(r, 42, &c) == 0, "parity: values into a rollup");
    CHECK(chstore_batch_id(id, err, sizeof err) == 0 && chstore_batch_build(&b, id, r, err,
                                                                            sizeof err) == 0,
          "parity: a batch of the rollup's deltas (%s)", err);
    CHECK(b.nparts == 4, "parity: parts for hist and counters on each side of midnight (%zu)",
          b.nparts);
    CHECK(chstore_batch_send(ch, &b, 0, &sent, err, sizeof err) == 0 && sent == b.nparts,
          "parity: the batch is acknowledged (%s)", err);

    struct store *st = NULL;
    CHECK(store_open(&st, dbpath, 0, err, sizeof err) == 0, "parity: a new store (%s)", err);
    store_close(st);
    CHECK(sqlite3_open(dbpath, &db) == SQLITE_OK
              && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK
              && rollup_flush(r, db, err, sizeof err) == 0
              && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK,
          "parity: the same rollup into SQLite");
    compare(ch, db, since, until, (const long long(*)[2])c.values, "parity, whole window");
    compare(ch, db, MIDNIGHT_MS - 2 * ROLLUP_MINUTE_MS + 5, MIDNIGHT_MS + 90 * 1000, NULL,
            "parity, minutes on both days");
    compare_multi(ch, db, since, until);

    long long views = 0, hits = 0;
    CHECK(chstore_read_errors(ch, "shop", "v2", since, until, &views, &hits, err, sizeof err)
              == 0 && views == c.views[1] && hits == c.hits[1],
          "parity: errors of v2, %lld views and %lld with an error (got %lld, %lld)",
          c.views[1], c.hits[1], views, hits);

    /* Exactly once. */
    CHECK(chstore_batch_send(ch, &b, 1, &sent, err, sizeof err) == 0 && sent == 0,
          "dedupe: a replay of an acknowledged batch sends no part (%zu)", sent);
    replay_from_spool(ch, &b);
    compare(ch, db, since, until, (const long long(*)[2])c.values, "dedupe, after the replay");
    /* A part that never arrived (the crash came before its INSERT): its rows and its
     * marker are not there. */
    CHECK(ch_count(ch, "ALTER TABLE hist DELETE WHERE minute >= toDateTime(1764547200)") == 0,
          "dedupe: the second day's hist part is taken away (as if never sent)");
    for (int i = 0; i < 100 && ch_count(ch, "SELECT count() FROM system.mutations WHERE "
                                            "is_done = 0") > 0; i++)
        usleep(100 * 1000);
    CHECK(chstore_batch_send(ch, &b, 1, &sent, err, sizeof err) == 0 && sent == 1,
          "dedupe: a replay then sends that one part only (%zu)", sent);
    compare(ch, db, since, until, (const long long(*)[2])c.values, "dedupe, after a partial replay");

    struct counts c2 = {0};
    struct chstore_batch b2 = {0};
    rollup_clear(r);
    CHECK(fill(r, 7, &c2) == 0 && chstore_batch_id(id, err, sizeof err) == 0
              && chstore_batch_build(&b2, id, r, err, sizeof err) == 0
              && chstore_batch_send(ch, &b2, 1, &sent, err, sizeof err) == 0
              && sent == b2.nparts,
          "dedupe: a new batch sent as a replay is stored (%zu parts)", sent);
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK
              && rollup_flush(r, db, err, sizeof err) == 0
              && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK,
          "dedupe: the second batch into SQLite");
    for (int v = 0; v < 2; v++)
        for (int k = 0; k < 2; k++)
            c.values[v][k] += c2.values[v][k];
    CHECK(ch_count(ch, "OPTIMIZE TABLE hist FINAL") == 0
              && ch_count(ch, "OPTIMIZE TABLE counters FINAL") == 0,
          "dedupe: ClickHouse merges the parts (OPTIMIZE FINAL)");
    compare(ch, db, since, until, (const long long(*)[2])c.values, "two batches, merged");
    CHECK(ch_count(ch, "SELECT count() FROM hist WHERE app = '' AND metric = '#batch'") == 4,
          "dedupe: one marker row per batch and day after the merge");
    chstore_batch_fini(&b2);
    compare_groups(ch, dbpath, since, until);
    test_page_cap(ch);
out:
    chstore_batch_fini(&b);
    /* The rollup's prepared statements go before the connection they were made on. */
    rollup_free(r);
    sqlite3_close(db);
    for (const char *sfx = ""; sfx; sfx = *sfx ? (sfx[1] == 'w' ? "-shm" : NULL) : "-wal") {
        char f[80];
        snprintf(f, sizeof f, "%s%s", dbpath, sfx);
        unlink(f);
    }
    clickhouse_close(ch);
}

/* A password file with a wrong password: ClickHouse's refusal, without the password. */
static void test_wrong_password(const char *url)
{
    char path[] = "/tmp/vigil-chpw-XXXXXX", err[512] = "";
    static const char pw[] = "wrong-password-0123456789";
    struct clickhouse *ch = NULL;
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, pw, sizeof pw - 1) != (ssize_t)(sizeof pw - 1)) {
        CHECK(0, "password: a temp file");
        return;
    }
    close(fd);
    int rc = clickhouse_open(&ch, url, path, err, sizeof err) == 0
             ? clickhouse_exec(ch, "SELECT 1", err, sizeof err) : -2;
    CHECK(rc == -1 && strstr(err, "refused the query") && strcasestr(err, "password"),
          "password: a wrong one is refused with ClickHouse's reason (%s)", err);
    CHECK(!strstr(err, pw), "password: the message does not carry it");
    clickhouse_close(ch);
    chmod(path, 0644);
    err[0] = '\0';
    CHECK(clickhouse_open(&ch, url, path, err, sizeof err) == -1 && strstr(err, "chmod 600"),
          "password: a file others may read is refused (%s)", err);
    unlink(path);
}

static void test_unreachable(const char *url)
{
    struct clickhouse *ch = NULL;
    char err[512] = "", want[300];
    struct clickhouse_url u;
    if (clickhouse_parse_url(url, &u, err, sizeof err) < 0
        || clickhouse_open(&ch, url, NULL, err, sizeof err) < 0) {
        CHECK(0, "unreachable: open %s (%s)", url, err);
        return;
    }
    clickhouse_set_timeouts(ch, 1000, 3000, 0);
    snprintf(want, sizeof want, "ClickHouse at %s:%d/%s does not answer", u.host, u.port,
             u.database);
    CHECK(clickhouse_exec(ch, "SELECT 1", err, sizeof err) == -1 && strstr(err, want),
          "unreachable: \"%s\"", err);
    clickhouse_close(ch);
}

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc == 3 && strcmp(argv[1], "--unreachable") == 0) {
        test_unreachable(argv[2]);
    } else {
        const char *url = getenv("VIGIL_CLICKHOUSE_URL");
        test_url();
        test_reason();
        test_quoting();
        test_readme();
        test_batch_form();
        if (url) {
            test_server(url, getenv("VIGIL_CLICKHOUSE_PASSWORD_FILE"));
            test_wrong_password(url);
        }
    }
    curl_global_cleanup();
    return check_done();
}
