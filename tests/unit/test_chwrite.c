/*
 * Tests of shared/chwrite.c that need no server: ClickHouse is a port where nothing
 * listens, so every commit goes to the spool, and the test reads the spooled batch back
 * (chstore_batch_decode) to see the rows a beacon became. The expected rows are worked
 * out here by hand from SQLite's rules (store.c, collector/README.md "Rollups"): a page
 * view counts once, a later value of a metric id moves it (-1 under the old value's
 * bucket, +1 under the new one's), a page view's first JS error counts once; and a batch
 * rolled back leaves the page view cache as it was. A bucket is DDSketch's
 * ceil(log_gamma(v)) with gamma = (1 + 0.01) / (1 - 0.01) (Masson et al., "DDSketch",
 * VLDB 2019, section 2), computed here.
 * The real server's side (sends, replays, markers, fleet, outage) is
 * tests/integration/test_clickhouse_fleet.py.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "check.h"
#include "chstore.h"
#include "chwrite.h"
#include "clickhouse.h"
#include "fspool.h"
#include "store.h"

#define T0 1764547230000LL      /* 2025-12-01 00:00:30 UTC */

static int bucket_of(double v)
{
    return (int)ceil(log(v) / log((1 + 0.01) / (1 - 0.01)));
}

static struct beacon_meta meta(long long t)
{
    struct beacon_meta m;
    memset(&m, 0, sizeof m);
    m.received_ms = t;
    snprintf(m.browser, sizeof m.browser, "Chrome");
    m.browser_major = 120;
    snprintf(m.os, sizeof m.os, "Linux");
    snprintf(m.device, sizeof m.device, "desktop");
    return m;
}

/* One batch of beacons (JSON text of an array) through begin, beacon, commit/rollback. */
static int batch(struct chwrite *w, const char *beacons, long long t, int commit, char *err,
                 size_t errlen)
{
    json_t *arr = json_loads(beacons, 0, NULL), *b;
    struct beacon_meta m = meta(t);
    size_t i;
    int rc = chwrite_begin(w, err, errlen);
    json_array_foreach(arr, i, b)
        if (rc == 0 && chwrite_beacon(w, b, &m, err, errlen) < 0)
            rc = -1;
    json_decref(arr);
    if (rc < 0 || !commit) {
        chwrite_rollback(w);
        return rc;
    }
    return chwrite_commit(w, err, errlen);
}

/* The part of table in b, or NULL. */
static const struct chstore_part *part(const struct chstore_batch *b, const char *table)
{
    for (size_t i = 0; i < b->nparts; i++)
        if (strcmp(b->part[i].table, table) == 0)
            return &b->part[i];
    return NULL;
}

static size_t lines(const struct chstore_part *p)
{
    size_t n = 0;
    for (size_t i = 0; p && i < p->rows.len; i++)
        n += p->rows.data[i] == '\n';
    return n;
}

/* The sum of column col (0-based) of the rows of p whose first five columns are app,
 * version, metric, dim "" and key "" and whose column match_col is match (NULL: any). */
static long long sum_whole(const struct chstore_part *p, const char *metric, int col,
                           int match_col, const char *match)
{
    long long sum = 0;
    char *copy = p ? strndup(p->rows.data, p->rows.len) : NULL, *save = NULL;
    for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[10] = {0}, *s = line;
        int n = 0;
        while (n < 10) {
            f[n++] = s;
            char *tab = strchr(s, '\t');
            if (!tab)
                break;
            *tab = '\0';
            s = tab + 1;
        }
        if (n > col && strcmp(f[0], "a") == 0 && strcmp(f[2], metric) == 0 && !*f[3]
            && !*f[4] && (!match || strcmp(f[match_col], match) == 0))
            sum += strtoll(f[col], NULL, 10);
    }
    free(copy);
    return sum;
}

/* Reads the oldest spooled batch into b and removes it. 0 or -1. */
static int take(const char *dir, struct chstore_batch *b)
{
    struct fspool *s;
    struct fspool_opts o = {".batch", 0, 0, 0, 0, CHWRITE_RECORD_MAX};
    char name[FSPOOL_NAME_MAX], err[256], *data = NULL;
    size_t len;
    int rc = -1;
    memset(b, 0, sizeof *b);
    if (fspool_open(&s, dir, &o, err, sizeof err) < 0)
        return -1;
    if (fspool_oldest(s, name, &data, &len, err, sizeof err) == 1
        && chstore_batch_decode(b, data, len, err, sizeof err) == 0
        && fspool_remove(s, name, err, sizeof err) == 0)
        rc = 0;
    free(data);
    fspool_close(s);
    return rc;
}

static const char *const first =
    "[{\"app\":\"a\",\"version\":\"1\",\"pv\":\"p1\",\"page\":\"/\",\"events\":["
    "{\"type\":\"metric\",\"name\":\"LCP\",\"value\":1000,\"id\":\"m1\"}]}]";

static void test_rules(const char *dir)
{
    struct clickhouse *c = NULL;
    struct chwrite *w = NULL;
    struct chwrite_opts o = {dir, 0, 0};
    struct store_spool_stats st;
    struct chstore_batch b;
    char err[512] = "", bucket[16];

    /* Port 1: nothing listens, the connection is refused at once. */
    CHECK(clickhouse_open(&c, "clickhouse://127.0.0.1:1/vigil", NULL, err, sizeof err) == 0
              && chwrite_open(&w, c, &o, err, sizeof err) == 0, "open over a dead port (%s)",
          err);
    if (!w) {
        clickhouse_close(c);
        return;
    }
    CHECK(batch(w, first, T0, 1, err, sizeof err) == 0,
          "a commit ClickHouse does not take goes to the spool (%s)", err);
    chwrite_stats(w, &st);
    CHECK(st.degraded && st.batches == 1 && st.spooled_total == 1 && st.bytes > 0,
          "stats: degraded, 1 batch spooled (%lld, %lld bytes)", st.batches, st.bytes);
    CHECK(strstr(st.reason, "does not answer") != NULL, "stats: the reason (%s)", st.reason);
    CHECK(chwrite_replay(w, 4, err, sizeof err) == 0,
          "no replay within the request timeout after a failed send");

    /* Rolled back: an update of m1 (2000) and a new page view p2. */
    batch(w, "[{\"app\":\"a\",\"version\":\"1\",\"pv\":\"p1\",\"events\":[{\"type\":\"metric\","
             "\"name\":\"LCP\",\"value\":2000,\"id\":\"m1\"}]},"
             "{\"app\":\"a\",\"version\":\"1\",\"pv\":\"p2\",\"events\":[]}]",
          T0 + 1000, 0, err, sizeof err);
    /* Then: m1 again (3000) with p1's first error, and p2 with a value of its own. */
    CHECK(batch(w, "[{\"app\":\"a\",\"version\":\"1\",\"pv\":\"p1\",\"events\":["
                   "{\"type\":\"metric\",\"name\":\"LCP\",\"value\":3000,\"id\":\"m1\"},"
                   "{\"type\":\"error\",\"message\":\"boom 12\",\"kind\":\"error\"}]},"
                   "{\"app\":\"a\",\"version\":\"1\",\"pv\":\"p2\",\"events\":["
                   "{\"type\":\"metric\",\"name\":\"LCP\",\"value\":500,\"id\":\"m2\"},"
                   "{\"type\":\"metric\",\"name\":\"CLS\",\"value\":0.1},"
                   "{\"type\":\"metric\",\"name\":\"CLS\",\"value\":0.2}]},"
                   "{\"app\":\"a\",\"version\":\"1\",\"events\":[]}]",
                T0 + 2000, 1, err, sizeof err) == 0, "a second batch spooled (%s)", err);

    CHECK(take(dir, &b) == 0, "the first batch is read back from the spool");
    CHECK(lines(part(&b, "pageviews")) == 1 && lines(part(&b, "metrics")) == 1
              && !part(&b, "errors"), "first batch: 1 page view row, 1 metric row, no error");
    CHECK(sum_whole(part(&b, "counters"), "errors", 6, 0, NULL) == 1,
          "first batch: 1 page view in the rollups");
    snprintf(bucket, sizeof bucket, "%d", bucket_of(1000));
    CHECK(sum_whole(part(&b, "hist"), "LCP", 7, 6, bucket) == 1,
          "first batch: LCP 1000 in its bucket (%s)", bucket);
    chstore_batch_fini(&b);

    CHECK(take(dir, &b) == 0, "the second batch is read back");
    const struct chstore_part *counters = part(&b, "counters"), *hist = part(&b, "hist");
    CHECK(sum_whole(counters, "errors", 6, 0, NULL) == 2,
          "second: 2 new page views (p2 and the one without an id), p1 not again");
    CHECK(sum_whole(counters, "errors", 7, 0, NULL) == 1,
          "second: 1 page view with an error (p1's first)");
    CHECK(sum_whole(hist, "LCP", 7, 6, bucket) == -1,
          "second: LCP 1000 taken out, not 2000 (the rolled-back value)");
    snprintf(bucket, sizeof bucket, "%d", bucket_of(2000));
    CHECK(sum_whole(hist, "LCP", 7, 6, bucket) == 0, "second: nothing under 2000's bucket");
    snprintf(bucket, sizeof bucket, "%d", bucket_of(3000));
    CHECK(sum_whole(hist, "LCP", 7, 6, bucket) == 1, "second: 3000 put in");
    snprintf(bucket, sizeof bucket, "%d", bucket_of(500));
    CHECK(sum_whole(hist, "LCP", 7, 6, bucket) == 1, "second: p2's 500 put in");
    CHECK(sum_whole(hist, "CLS", 7, 0, NULL) == 2, "second: two CLS values without an id");
    CHECK(lines(part(&b, "metrics")) == 4 && lines(part(&b, "errors")) == 1
              && lines(part(&b, "pageviews")) == 3,
          "second: 4 metric rows, 1 error row, 3 page view rows");
    /* p1's row keeps its first beacon's time (T0) as received_ms (column 9). */
    const struct chstore_part *pv = part(&b, "pageviews");
    char want[64];
    snprintf(want, sizeof want, "\t%lld\t%lld\t", T0, T0 + 2000);
    CHECK(pv && strstr(pv->rows.data, want), "second: p1's row: received its first beacon's "
          "time, last_received this one's");
    snprintf(want, sizeof want, "\t#%s-", b.id);
    CHECK(strstr(part(&b, "errors")->rows.data, want) != NULL,
          "second: an error's id is the batch's id and a number");
    chstore_batch_fini(&b);
    chwrite_close(w);
    clickhouse_close(c);
}

static void test_bound(const char *dir)
{
    struct clickhouse *c = NULL;
    struct chwrite *w = NULL;
    struct chwrite_opts o = {dir, 4096, 0};
    char err[512] = "";
    int rc = 0, n = 0;

    if (clickhouse_open(&c, "clickhouse://127.0.0.1:1/vigil", NULL, err, sizeof err) < 0
        || chwrite_open(&w, c, &o, err, sizeof err) < 0) {
        CHECK(0, "bound: open (%s)", err);
        clickhouse_close(c);
        return;
    }
    while (rc == 0 && n < 100) {
        char b[256];
        snprintf(b, sizeof b, "[{\"app\":\"a\",\"version\":\"1\",\"pv\":\"q%d\",\"events\":["
                 "{\"type\":\"metric\",\"name\":\"LCP\",\"value\":%d,\"id\":\"x\"}]}]", n,
                 100 + n);
        rc = batch(w, b, T0, 1, err, sizeof err);
        n++;
    }
    CHECK(rc < 0 && n > 1 && strstr(err, "--spool-max-bytes 4096") && !strstr(err, dir),
          "bound: after %d batches, the commit fails naming the bound, not the folder (%s)",
          n - 1, err);
    chwrite_close(w);
    clickhouse_close(c);
}

int main(void)
{
    char dir[] = "/tmp/vigil-chwrite-XXXXXX", spool[64], bound[64];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(spool, sizeof spool, "%s/spool", dir);
    snprintf(bound, sizeof bound, "%s/bound", dir);
    test_rules(spool);
    test_bound(bound);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "temporary directory removed");
    curl_global_cleanup();
    return check_done();
}
