#include "chread.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "chstore.h"
#include "rollup.h"
#include "sketch.h"
#include "stats.h"
#include "store.h"
#include "uaclass.h"

/*
 * How the raw tables are read (collector/README.md "Reads from ClickHouse"). They are
 * ReplacingMergeTree, and a part that is not merged yet may hold a row twice (a replayed
 * INSERT) or a later row of the same key (a later beacon of a page view, a later report
 * of a metric). No read relies on merges: each groups by the natural key and takes what
 * SQLite's single row holds, min(received_ms) for when a page view or a metric was first
 * stored, argMax(value, updated_ms) for a metric's latest value, one row per error event
 * (eid), journey run (run_id, idx), marker (did) and verdict (vid). Small tables (probe
 * journeys, markers, verdicts) read with FINAL where a plain ORDER BY ... LIMIT needs whole
 * rows. A text column that SQLite leaves NULL is '' here and is answered as null.
 */

/* Appends fmt to q with the arguments: %Q a string, quoted (chstore_quote), %L a long
 * long, %d an int, %s text of this file (never input). 0 or -1 (out of memory). */
static int vsql(struct buf *q, const char *fmt, va_list ap)
{
    for (const char *p = fmt; *p; p++) {
        size_t run = strcspn(p, "%");
        if (buf_append(q, p, run) < 0)
            return -1;
        p += run;
        if (!*p)
            break;
        int bad;
        switch (*++p) {
        case 'Q': bad = chstore_quote(q, va_arg(ap, const char *)); break;
        case 'L': bad = buf_printf(q, "%lld", va_arg(ap, long long)); break;
        case 'd': bad = buf_printf(q, "%d", va_arg(ap, int)); break;
        case 's': bad = buf_puts(q, va_arg(ap, const char *)); break;
        default: bad = buf_append(q, p, 1); break;
        }
        if (bad < 0)
            return -1;
    }
    return 0;
}

static int sql(struct buf *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vsql(q, fmt, ap);
    va_end(ap);
    return rc;
}

static json_t *vselect(struct clickhouse *c, size_t max_rows, const char *what, char *err,
                       size_t errlen, const char *fmt, va_list ap)
{
    struct buf q;
    json_t *rows = NULL;
    char why[512];

    buf_init(&q, 0);
    if (vsql(&q, fmt, ap) < 0)
        snprintf(err, errlen, "%s: out of memory", what);
    else if (clickhouse_query_json(c, q.data, max_rows, &rows, why, sizeof why) < 0)
        snprintf(err, errlen, "%s: %s", what, why);
    buf_fini(&q);
    return rows;
}

/* Runs the query fmt (vsql's form) and returns its rows as a new array, at most max_rows
 * (more is an error: a read never loses rows silently), or NULL with err starting with
 * what. */
static json_t *select_rows(struct clickhouse *c, size_t max_rows, const char *what, char *err,
                           size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *rows = vselect(c, max_rows, what, err, errlen, fmt, ap);
    va_end(ap);
    return rows;
}

/* The one row of a query that answers one (an aggregate without GROUP BY), or NULL. */
static json_t *select_row(struct clickhouse *c, const char *what, char *err, size_t errlen,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *rows = vselect(c, 1, what, err, errlen, fmt, ap), *row = NULL;
    va_end(ap);
    if (rows && !(row = json_incref(json_array_get(rows, 0))))
        snprintf(err, errlen, "%s: ClickHouse at %s answered no row", what, clickhouse_name(c));
    json_decref(rows);
    return row;
}

/* An integer field of a row; a missing or malformed one sets *bad. */
static long long int_of(const json_t *row, const char *field, int *bad)
{
    long long v = 0;
    if (clickhouse_json_int(row, field, &v) < 0)
        *bad = 1;
    return v;
}

static const char *str_of(const json_t *row, const char *field)
{
    const char *s = json_string_value(json_object_get(row, field));
    return s ? s : "";
}

/* A text column as SQLite answers it: '' (SQLite's NULL) as null. */
static json_t *text_or_null(const json_t *row, const char *field)
{
    const char *s = str_of(row, field);
    return *s ? json_string(s) : json_null();
}

static int malformed(struct clickhouse *c, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: ClickHouse at %s answered a row without the expected columns",
             what, clickhouse_name(c));
    return -1;
}

/* Makes one element of a list from one row of an answer (arg: what the list needs
 * besides); a missing column sets *bad. */
typedef json_t *(*row_fn)(const json_t *row, const void *arg, int *bad);

/* A read's list: each of rows (taken; NULL passes the query's error on) made an element
 * by make, in order. A new array, or NULL with err. */
static json_t *list_of(struct clickhouse *c, json_t *rows, row_fn make, const void *arg,
                       const char *what, char *err, size_t errlen)
{
    json_t *out = rows ? json_array() : NULL;
    size_t i;
    const json_t *row;
    int bad = 0;

    if (!rows)
        return NULL;
    json_array_foreach(rows, i, row)
        bad |= !out || json_array_append_new(out, make(row, arg, &bad)) < 0;
    json_decref(rows);
    if (bad) {
        json_decref(out);
        malformed(c, what, err, errlen);
        return NULL;
    }
    return out;
}

/* ms as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ', ms / 1000.0, 'unixepoch') writes it. */
static void iso_ms(long long ms, char out[40])
{
    long long s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    time_t t = (time_t)s;
    struct tm tm;
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
    snprintf(out, 40, "%s.%03dZ", day, (int)(ms - s * 1000));
}

static json_t *iso_json(long long ms)
{
    char t[40];
    iso_ms(ms, t);
    return json_string(t);
}

static int limit_ok(long long limit, const char *what, char *err, size_t errlen)
{
    if (limit < 0 || limit > CHREAD_LIST_MAX) {
        snprintf(err, errlen, "%s: a limit of %lld (0 to %d)", what, limit, CHREAD_LIST_MAX);
        return -1;
    }
    return 0;
}

/* The minute bounds of a read of the rollups over [since_ms, until_ms), as the SQLite
 * store takes them: the minute that holds since_ms, to the minute after the one that
 * holds until_ms - 1, in Unix seconds. */
static long long minute_floor_s(long long ms)
{
    return ms / ROLLUP_MINUTE_MS * 60;
}

static long long minute_ceil_s(long long ms)
{
    long long m = ms / ROLLUP_MINUTE_MS;
    return (m * ROLLUP_MINUTE_MS < ms ? m + 1 : m) * 60;
}

/* --- metric values and points: the raw rows, for --exact ------------------------------ */

int chread_metric_points(struct clickhouse *c, const char *app, const char *version,
                         const char *metric, long long since_ms, long long until_ms,
                         long long **times, double **values, size_t *n, char *err,
                         size_t errlen)
{
    struct buf q;
    char *text = NULL, why[512];
    size_t len = 0, count = 0;
    long long *t = NULL;
    double *v = NULL;
    int rc = -1, bad;

    *times = NULL;
    *values = NULL;
    *n = 0;
    buf_init(&q, 0);
    /* A page view or a metric counts at the time it was first stored (min(received_ms)
     * over its rows): rows received from until on cannot hold it, rows before since may.
     * For "errors", one point per page view, 1 when an error of it was stored. */
    if (strcmp(metric, ROLLUP_ERRORS) == 0)
        bad = sql(&q, "SELECT r, pv IN (SELECT pv FROM errors WHERE app = %Q AND version = %Q)"
                      " FROM (SELECT pv, min(received_ms) AS r FROM pageviews WHERE app = %Q"
                      " AND version = %Q AND received_ms < %L GROUP BY pv HAVING r >= %L)"
                      " ORDER BY r LIMIT %d FORMAT TabSeparated", app, version, app, version,
                  until_ms, since_ms, CHREAD_POINTS_MAX + 1);
    else
        bad = sql(&q, "SELECT min(received_ms) AS r, argMax(value, updated_ms) FROM metrics"
                      " WHERE app = %Q AND version = %Q AND name = %Q AND received_ms < %L"
                      " GROUP BY pv, mid HAVING r >= %L ORDER BY r LIMIT %d"
                      " FORMAT TabSeparated", app, version, metric, until_ms, since_ms,
                  CHREAD_POINTS_MAX + 1);
    if (bad < 0) {
        snprintf(err, errlen, "querying a series: out of memory");
        goto out;
    }
    if (clickhouse_query(c, q.data, 0, &text, &len, why, sizeof why) < 0) {
        snprintf(err, errlen, "querying a series: %s", why);
        goto out;
    }
    for (const char *p = text; p < text + len; count++) {
        if (count == CHREAD_POINTS_MAX) {
            snprintf(err, errlen, "querying a series of %s/%s: more than %d values: ask for a"
                     " shorter window", app, version, CHREAD_POINTS_MAX);
            goto out;
        }
        if (count % 4096 == 0) {
            long long *t2 = realloc(t, (count + 4096) * sizeof *t);
            double *v2 = t2 ? realloc(v, (count + 4096) * sizeof *v) : NULL;
            if (t2)
                t = t2;
            if (!v2) {
                snprintf(err, errlen, "querying a series: out of memory");
                goto out;
            }
            v = v2;
        }
        char *end;
        t[count] = strtoll(p, &end, 10);
        if (*end != '\t') {
            malformed(c, "querying a series", err, errlen);
            goto out;
        }
        v[count] = strtod(end + 1, &end);
        if (*end != '\n') {
            malformed(c, "querying a series", err, errlen);
            goto out;
        }
        p = end + 1;
    }
    *times = t;
    *values = v;
    *n = count;
    t = NULL;
    v = NULL;
    rc = 0;
out:
    free(t);
    free(v);
    free(text);
    buf_fini(&q);
    return rc;
}

int chread_metric_values(struct clickhouse *c, const char *app, const char *version,
                         const char *metric, long long since_ms, long long until_ms,
                         double **values, size_t *n, char *err, size_t errlen)
{
    long long *times;
    if (chread_metric_points(c, app, version, metric, since_ms, until_ms, &times, values, n,
                             err, errlen) < 0)
        return -1;
    free(times);
    stats_sort(*values, *n);
    return 0;
}

/* --- probe runs and the gate --------------------------------------------------------- */

/* The key_id of each run_id of rows (an object run_id -> key_id), or NULL with err. */
static json_t *key_ids(struct clickhouse *c, const json_t *rows, char *err, size_t errlen)
{
    json_t *ids = json_object(), *out = NULL, *got = NULL;
    struct buf in;
    size_t i;
    const json_t *row;
    int bad = !ids;

    buf_init(&in, 0);
    json_array_foreach(rows, i, row) {
        const char *id = str_of(row, "run_id");
        if (!bad && !json_object_get(ids, id)) {
            bad = json_object_set_new(ids, id, json_null()) < 0
                  || (in.len && buf_puts(&in, ", ") < 0) || chstore_quote(&in, id) < 0;
        }
    }
    if (bad) {
        snprintf(err, errlen, "reading probe runs: out of memory");
        goto out;
    }
    if (json_object_size(ids) == 0) {
        out = json_incref(ids);
        goto out;
    }
    got = select_rows(c, json_object_size(ids), "reading probe runs", err, errlen,
                      "SELECT run_id, any(key_id) AS k FROM probe_runs WHERE run_id IN (%s)"
                      " GROUP BY run_id", in.data);
    if (!got)
        goto out;
    json_array_foreach(got, i, row)
        json_object_set_new(ids, str_of(row, "run_id"), text_or_null(row, "k"));
    out = json_incref(ids);
out:
    json_decref(got);
    json_decref(ids);
    buf_fini(&in);
    return out;
}

/* The row of a journey run as store_probe_runs answers it; arg: key_ids' object. */
static json_t *probe_run_of(const json_t *row, const void *arg, int *bad)
{
    json_t *key = json_object_get(arg, str_of(row, "run_id"));
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:o,s:o,s:o,s:I,s:b,s:O}",
                     "run_id", str_of(row, "run_id"), "journey", str_of(row, "journey"),
                     "region", str_of(row, "region"), "version", str_of(row, "version"),
                     "passed", int_of(row, "passed", bad) != 0,
                     "started", iso_json(int_of(row, "started_ms", bad)),
                     "failed_step", text_or_null(row, "failed_step"),
                     "failure", text_or_null(row, "failure"),
                     "retried", (json_int_t)int_of(row, "retried", bad),
                     "signed", int_of(row, "signed", bad) != 0,
                     "key_id", key ? key : json_null());
}

json_t *chread_probe_runs(struct clickhouse *c, const char *app, const char *version,
                          long long limit, char *err, size_t errlen)
{
    static const char what[] = "reading probe runs";
    json_t *rows, *keys = NULL, *out = NULL;

    if (limit_ok(limit, what, err, errlen) < 0)
        return NULL;
    rows = select_rows(c, (size_t)limit, what, err, errlen,
                       "SELECT run_id, journey, region, version, passed, started_ms,"
                       " failed_step, failure, retried, signed FROM probe_journeys FINAL"
                       " WHERE app = %Q%s%Q ORDER BY started_ms DESC, run_id, idx LIMIT %L",
                       app, version ? " AND version = " : " AND '' = ",
                       version ? version : "", limit);
    if (rows && !(keys = key_ids(c, rows, err, errlen)))
        json_decref(rows);
    else
        out = list_of(c, rows, probe_run_of, keys, what, err, errlen);
    json_decref(keys);
    return out;
}

static json_t *gate_row_of(const json_t *row, const void *arg, int *bad)
{
    (void)arg;
    return json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:I,s:I}", "region", str_of(row, "region"),
                     "journey", str_of(row, "journey"),
                     "passed", (json_int_t)int_of(row, "passed", bad),
                     "started", (json_int_t)int_of(row, "started_ms", bad),
                     "failed_step", text_or_null(row, "failed_step"),
                     "failure", text_or_null(row, "failure"),
                     "retried", (json_int_t)int_of(row, "retried", bad),
                     "signed", (json_int_t)int_of(row, "signed", bad));
}

json_t *chread_gate_rows(struct clickhouse *c, const char *app, const char *version,
                         long long since_ms, char *err, size_t errlen)
{
    static const char what[] = "reading the gate's journey runs";
    return list_of(c, select_rows(c, CHREAD_JOURNEY_ROWS_MAX, what, err, errlen,
                                  "SELECT region, journey, passed, started_ms, failed_step,"
                                  " failure, retried, signed FROM probe_journeys FINAL"
                                  " WHERE app = %Q AND version = %Q AND started_ms >= %L"
                                  " ORDER BY started_ms, run_id, idx", app, version, since_ms),
                   gate_row_of, NULL, what, err, errlen);
}

static json_t *region_of(const json_t *row, const void *arg, int *bad)
{
    (void)arg;
    (void)bad;
    return json_string(str_of(row, "region"));
}

json_t *chread_regions(struct clickhouse *c, const char *app, long long since_ms, char *err,
                       size_t errlen)
{
    static const char what[] = "reading regions";
    return list_of(c, select_rows(c, CHREAD_JOURNEY_ROWS_MAX, what, err, errlen,
                                  "SELECT DISTINCT region FROM probe_journeys WHERE app = %Q"
                                  " AND started_ms >= %L ORDER BY region", app, since_ms),
                   region_of, NULL, what, err, errlen);
}

static json_t *last_run_of(const json_t *row, const void *arg, int *bad)
{
    (void)arg;
    return json_pack("{s:s,s:s,s:I}", "region", str_of(row, "region"),
                     "journey", str_of(row, "journey"),
                     "started", (json_int_t)int_of(row, "latest", bad));
}

json_t *chread_last_runs(struct clickhouse *c, const char *app, const char *version, char *err,
                         size_t errlen)
{
    static const char what[] = "reading the last runs";
    return list_of(c, select_rows(c, CHREAD_JOURNEY_ROWS_MAX, what, err, errlen,
                                  "SELECT region, journey, max(started_ms) AS latest"
                                  " FROM probe_journeys WHERE app = %Q AND version = %Q"
                                  " GROUP BY region, journey ORDER BY region, journey",
                                  app, version),
                   last_run_of, NULL, what, err, errlen);
}

/* --- markers -------------------------------------------------------------------------- */

/* A marker's weight as SQLite's REAL column answers it: a real, or null. */
static json_t *weight_of(const json_t *row)
{
    const json_t *w = json_object_get(row, "weight");
    return json_is_number(w) ? json_real(json_number_value(w)) : json_null();
}

/* Newest first, as SQLite's ts DESC, id DESC: the row id there is the order received. */
#define MARKER_ORDER " ORDER BY ts_ms DESC, received_ms DESC, did DESC"

/* A marker as store_deployments answers it; arg: the app. */
static json_t *marker_of(const json_t *row, const void *arg, int *bad)
{
    return json_pack("{s:s,s:s,s:o,s:o,s:I,s:o,s:o}", "app", (const char *)arg,
                     "version", str_of(row, "version"), "baseline", text_or_null(row, "baseline"),
                     "stage", text_or_null(row, "stage"),
                     "ts", (json_int_t)int_of(row, "ts_ms", bad), "note", text_or_null(row, "note"),
                     "weight", weight_of(row));
}

json_t *chread_deployments(struct clickhouse *c, const char *app, char *err, size_t errlen)
{
    static const char what[] = "reading markers";
    return list_of(c, select_rows(c, CHREAD_MARKERS_MAX, what, err, errlen,
                                  "SELECT version, baseline, stage, ts_ms, note, weight"
                                  " FROM deployments FINAL WHERE app = %Q" MARKER_ORDER
                                  " LIMIT %d", app, CHREAD_MARKERS_MAX),
                   marker_of, app, what, err, errlen);
}

int chread_marker_weight(struct clickhouse *c, const char *app, const char *version,
                         double *weight, char *err, size_t errlen)
{
    json_t *rows = select_rows(c, 1, "reading a marker's weight", err, errlen,
                               "SELECT weight FROM deployments FINAL WHERE app = %Q"
                               " AND version = %Q" MARKER_ORDER " LIMIT 1", app, version);
    if (!rows)
        return -1;
    const json_t *w = json_object_get(json_array_get(rows, 0), "weight");
    *weight = json_is_number(w) ? json_number_value(w) : NAN;
    json_decref(rows);
    return 0;
}

long long chread_window_start(struct clickhouse *c, const char *app, const char *version,
                              char *err, size_t errlen)
{
    return chread_window_start_before(c, app, version, LLONG_MAX, err, errlen);
}

long long chread_window_start_before(struct clickhouse *c, const char *app,
                                     const char *version, long long before_ms, char *err,
                                     size_t errlen)
{
    static const char what[] = "reading where the window starts";
    /* The latest marker, else the first beacon: the beacons are read only when there is
     * no marker (a verdict's usual case has one, and then reads no raw row). max() and
     * min() of no rows are 0 in ClickHouse, not NULL: each comes with its count. A
     * duplicate row changes neither. */
    static const char *const sql[2] = {
        "SELECT count() AS n, max(ts_ms) AS t FROM deployments WHERE app = %Q"
        " AND version = %Q AND ts_ms < %L",
        "SELECT count() AS n, min(received_ms) AS t FROM pageviews WHERE app = %Q"
        " AND version = %Q AND received_ms < %L",
    };
    for (int i = 0; i < 2; i++) {
        json_t *row = select_row(c, what, err, errlen, sql[i], app, version, before_ms);
        int bad = 0;
        if (!row)
            return -2;
        long long n = int_of(row, "n", &bad), t = int_of(row, "t", &bad);
        json_decref(row);
        if (bad) {
            malformed(c, what, err, errlen);
            return -2;
        }
        if (n > 0)
            return t;
    }
    return -1;
}

/* --- page views ------------------------------------------------------------------------ */

int chread_seen(struct clickhouse *c, const char *app, const char *version, char *err,
                size_t errlen)
{
    /* One row from each table that holds something of app (and version): a primary-key
     * range each. The rollups' batch markers (dim '#batch', app '') never count. */
    const char *v = version ? " AND version = " : " AND '' = ";
    const char *vv = version ? version : "";
    json_t *rows = select_rows(c, 5, "looking for an app", err, errlen,
                               "SELECT 1 AS x FROM (SELECT 1 FROM pageviews WHERE app = %Q%s%Q"
                               " LIMIT 1) UNION ALL SELECT 1 AS x FROM (SELECT 1 FROM counters"
                               " WHERE app = %Q%s%Q AND dim != '" CHSTORE_MARKER "' LIMIT 1)"
                               " UNION ALL SELECT 1 AS x FROM (SELECT 1 FROM hist WHERE app = %Q"
                               "%s%Q AND dim != '" CHSTORE_MARKER "' LIMIT 1) UNION ALL"
                               " SELECT 1 AS x FROM (SELECT 1 FROM deployments WHERE app = %Q"
                               "%s%Q LIMIT 1) UNION ALL SELECT 1 AS x FROM (SELECT 1"
                               " FROM probe_journeys WHERE app = %Q%s%Q LIMIT 1)",
                               app, v, vv, app, v, vv, app, v, vv, app, v, vv, app, v, vv);
    if (!rows)
        return -1;
    int seen = json_array_size(rows) > 0;
    json_decref(rows);
    return seen;
}

int chread_error_views(struct clickhouse *c, const char *app, const char *version,
                       long long since_ms, long long until_ms, long long *hits,
                       long long *views, char *err, size_t errlen)
{
    static const char what[] = "counting page views with errors";
    /* A page view counts from when it was first stored; it "has an error" when an error
     * event of it (same app, version, pv) was stored, as SQLite's has_error. */
    json_t *row = select_row(c, what, err, errlen,
                             "SELECT count() AS views, sum(pv IN (SELECT pv FROM errors"
                             " WHERE app = %Q AND version = %Q)) AS hits FROM (SELECT pv,"
                             " min(received_ms) AS r FROM pageviews WHERE app = %Q"
                             " AND version = %Q AND received_ms < %L GROUP BY pv"
                             " HAVING r >= %L)", app, version, app, version, until_ms,
                             since_ms);
    int bad = 0;
    if (!row)
        return -1;
    *views = int_of(row, "views", &bad);
    *hits = int_of(row, "hits", &bad);
    json_decref(row);
    return bad ? malformed(c, what, err, errlen) : 0;
}

/* --- rollups ----------------------------------------------------------------------------- */

int chread_traffic_views(struct clickhouse *c, const char *app, const char *version,
                         long long since_ms, long long until_ms, long long *views, char *err,
                         size_t errlen)
{
    static const char what[] = "counting page views";
    /* The whole version's page views less its HeadlessChrome slice, as store_traffic_views. */
    json_t *row = select_row(c, what, err, errlen,
                             "SELECT sumIf(views, dim = '') - sumIf(views, dim = 'browser')"
                             " AS n FROM counters WHERE app = %Q AND version = %Q"
                             " AND metric = '" ROLLUP_ERRORS "' AND ((dim = '' AND key = '')"
                             " OR (dim = 'browser' AND key = %Q)) AND minute >= toDateTime(%L)"
                             " AND minute < toDateTime(%L)", app, version, UACLASS_HEADLESS,
                             minute_floor_s(since_ms), minute_ceil_s(until_ms));
    int bad = 0;
    if (!row)
        return -1;
    long long n = int_of(row, "n", &bad);
    json_decref(row);
    if (bad)
        return malformed(c, what, err, errlen);
    /* Never below 0, whatever the rows say, as store_traffic_views. */
    *views = n > 0 ? n : 0;
    return 0;
}

/* One (app, version, metric) of chread_rum_quantiles. */
struct rum_series {
    const char *app, *version, *metric;     /* borrowed from the answer's rows */
    struct sketch sk;
};

json_t *chread_rum_quantiles(struct clickhouse *c, long long since_ms, double q,
                             size_t max_series, char *err, size_t errlen)
{
    static const char what[] = "reading rollups";
    /* The whole-version buckets of every series since the minute that holds since_ms,
     * at most STORE_RUM_ROWS_MAX (app, version, metric, bucket) rows (store.h's cap). */
    json_t *rows = select_rows(c, STORE_RUM_ROWS_MAX, what, err, errlen,
                               "SELECT app, version, metric, bucket, sum(count) AS n FROM hist"
                               " WHERE minute >= toDateTime(%L) AND dim = '' AND app != ''"
                               " AND metric != '" ROLLUP_ERRORS "'"
                               " GROUP BY app, version, metric, bucket HAVING n > 0"
                               " ORDER BY app, version, metric, bucket LIMIT %d",
                               minute_floor_s(since_ms), STORE_RUM_ROWS_MAX);
    struct rum_series *g = calloc(max_series ? max_series : 1, sizeof *g);
    json_t *out = NULL;
    size_t n = 0, i;
    const json_t *row;

    if (!rows || !g) {
        if (rows)
            snprintf(err, errlen, "%s: out of memory", what);
        goto out;
    }
    json_array_foreach(rows, i, row) {
        const char *app = str_of(row, "app"), *version = str_of(row, "version");
        const char *metric = str_of(row, "metric");
        long long b, count;
        if (clickhouse_json_int(row, "bucket", &b) < 0
            || clickhouse_json_int(row, "n", &count) < 0) {
            malformed(c, what, err, errlen);
            goto out;
        }
        /* Rows come ordered by series: a new series starts where the names change. */
        if (n == 0 || strcmp(g[n - 1].metric, metric) != 0
            || strcmp(g[n - 1].version, version) != 0 || strcmp(g[n - 1].app, app) != 0) {
            if (n == max_series)
                break;
            g[n] = (struct rum_series){app, version, metric, {0}};
            sketch_init(&g[n].sk);
            n++;
        }
        if (sketch_add_bucket(&g[n - 1].sk, (int)b, count) < 0) {
            snprintf(err, errlen, "%s: a bucket that is not the sketch's (%lld)", what, b);
            goto out;
        }
    }
    out = json_array();
    for (size_t k = 0; k < n && out; k++) {
        struct sketch_bins bins;
        if (g[k].sk.n <= 0 || sketch_bins_of(&g[k].sk, &bins) < 0)
            continue;
        if (bins.total > 0)
            json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:f,s:I}", "app", g[k].app,
                                  "version", g[k].version, "metric", g[k].metric,
                                  "value", sketch_bins_quantile(&bins, q),
                                  "n", (json_int_t)bins.total));
        sketch_bins_fini(&bins);
    }
    if (!out)
        snprintf(err, errlen, "%s: out of memory", what);
out:
    for (size_t k = 0; k < n; k++)
        sketch_fini(&g[k].sk);
    free(g);
    json_decref(rows);
    return out;
}

int chread_oldest(struct clickhouse *c, long long *raw_ms, long long *rollup_ms, char *err,
                  size_t errlen)
{
    static const char what[] = "reading the oldest rows";
    /* The oldest raw metric, and the oldest rollup minute of either table (the batch
     * markers, at their day's start, left out). */
    json_t *rows = select_rows(c, 3, what, err, errlen,
                               "SELECT 'raw' AS k, count() AS n, min(received_ms) AS t"
                               " FROM metrics UNION ALL SELECT 'hist' AS k, count() AS n,"
                               " toInt64(toUInt32(min(minute))) * 1000 AS t FROM hist"
                               " WHERE app != '' UNION ALL SELECT 'counters' AS k, count() AS n,"
                               " toInt64(toUInt32(min(minute))) * 1000 AS t FROM counters"
                               " WHERE app != ''");
    size_t i;
    const json_t *row;
    int bad = 0;

    if (!rows)
        return -1;
    *raw_ms = *rollup_ms = -1;
    json_array_foreach(rows, i, row) {
        long long n = int_of(row, "n", &bad), t = int_of(row, "t", &bad);
        if (n <= 0)
            continue;
        if (strcmp(str_of(row, "k"), "raw") == 0)
            *raw_ms = t;
        else if (*rollup_ms < 0 || t < *rollup_ms)
            *rollup_ms = t;
    }
    json_decref(rows);
    return bad ? malformed(c, what, err, errlen) : 0;
}

/* --- verdicts ---------------------------------------------------------------------------- */

/* A stored verdict as store_verdicts answers it, its reasons from the result's JSON. */
static json_t *verdict_of(const json_t *row, const void *arg, int *bad)
{
    json_t *result = json_loads(str_of(row, "result"), 0, NULL);
    json_t *reasons = json_object_get(result, "reasons");
    (void)arg;
    json_t *v = json_pack("{s:o,s:s,s:s,s:o,s:o,s:o,s:I,s:I,s:O}",
                          "ts", iso_json(int_of(row, "ts_ms", bad)),
                          "baseline", str_of(row, "baseline"), "canary", str_of(row, "canary"),
                          "policy", text_or_null(row, "policy"),
                          "method", text_or_null(row, "method"),
                          "decision", text_or_null(row, "decision"),
                          "n_baseline", (json_int_t)int_of(row, "n_baseline", bad),
                          "n_canary", (json_int_t)int_of(row, "n_canary", bad),
                          "reasons", reasons ? reasons : json_null());
    json_decref(result);
    return v;
}

json_t *chread_verdicts(struct clickhouse *c, const char *app, long long limit, char *err,
                        size_t errlen)
{
    static const char what[] = "reading verdicts";
    if (limit_ok(limit, what, err, errlen) < 0)
        return NULL;
    return list_of(c, select_rows(c, (size_t)limit, what, err, errlen,
                                  "SELECT ts_ms, baseline, canary, policy, method, decision,"
                                  " n_baseline, n_canary, result FROM verdicts FINAL"
                                  " WHERE app = %Q ORDER BY ts_ms DESC, vid DESC LIMIT %L",
                                  app, limit),
                   verdict_of, NULL, what, err, errlen);
}

int chread_verdict_repeat(struct clickhouse *c, const char *app, const char *baseline,
                          const char *canary, const char *policy, const char *method,
                          const char *decision, long long ts, long long repeat_ms, char *err,
                          size_t errlen)
{
    if (repeat_ms <= 0)
        return 0;
    json_t *rows = select_rows(c, 1, "looking for a repeated verdict", err, errlen,
                               "SELECT 1 AS x FROM verdicts WHERE app = %Q AND ts_ms > %L"
                               " AND baseline = %Q AND canary = %Q AND policy = %Q"
                               " AND method = %Q AND decision = %Q LIMIT 1",
                               app, ts - repeat_ms, baseline, canary, policy ? policy : "",
                               method ? method : "", decision ? decision : "");
    if (!rows)
        return -1;
    int repeat = json_array_size(rows) > 0;
    json_decref(rows);
    return repeat;
}

/* --- the dashboard ------------------------------------------------------------------------ */

/* Page views, each once: (app, version, pv) with when it was first stored. */
#define PAGE_VIEWS(where) \
    "(SELECT app, version, pv, min(received_ms) AS r FROM pageviews " where \
    " GROUP BY app, version, pv)"

static json_t *app_of(const json_t *row, const void *arg, int *bad)
{
    (void)arg;
    return json_pack("{s:s,s:I,s:I,s:I}", "app", str_of(row, "app"),
                     "versions", (json_int_t)int_of(row, "nv", bad),
                     "pageviews", (json_int_t)int_of(row, "n", bad),
                     "last_seen", (json_int_t)int_of(row, "ls", bad));
}

json_t *chread_apps(struct clickhouse *c, char *err, size_t errlen)
{
    static const char what[] = "listing apps";
    return list_of(c, select_rows(c, CHREAD_DASH_ROWS, what, err, errlen,
                                  "SELECT app, uniqExact(version) AS nv, count() AS n,"
                                  " intDiv(max(r), 1000) AS ls FROM "
                                  PAGE_VIEWS("WHERE app != ''")
                                  " GROUP BY app ORDER BY ls DESC, app LIMIT %d",
                                  CHREAD_DASH_ROWS),
                   app_of, NULL, what, err, errlen);
}

static json_t *version_of(const json_t *row, const void *arg, int *bad)
{
    (void)arg;
    return json_pack("{s:s,s:I,s:I,s:I}", "version", str_of(row, "version"),
                     "pageviews", (json_int_t)int_of(row, "n", bad),
                     "first_seen", (json_int_t)int_of(row, "fs", bad),
                     "last_seen", (json_int_t)int_of(row, "ls", bad));
}

json_t *chread_versions(struct clickhouse *c, const char *app, char *err, size_t errlen)
{
    static const char what[] = "listing versions";
    return list_of(c, select_rows(c, CHREAD_DASH_ROWS, what, err, errlen,
                                  "SELECT version, count() AS n, intDiv(min(r), 1000) AS fs,"
                                  " intDiv(max(r), 1000) AS ls FROM "
                                  PAGE_VIEWS("WHERE app = %Q") " GROUP BY version"
                                  " ORDER BY ls DESC, version LIMIT %d", app, CHREAD_DASH_ROWS),
                   version_of, NULL, what, err, errlen);
}

static json_t *error_group_of(const json_t *row, const void *arg, int *bad)
{
    (void)arg;
    return json_pack("{s:s,s:s,s:o,s:I,s:I}", "fingerprint", str_of(row, "fingerprint"),
                     "message", str_of(row, "message"), "source", text_or_null(row, "source"),
                     "count", (json_int_t)int_of(row, "c", bad),
                     "last_seen", (json_int_t)int_of(row, "ls", bad));
}

json_t *chread_new_errors(struct clickhouse *c, const char *app, const char *baseline,
                          const char *canary, long long since_ms, char *err, size_t errlen)
{
    static const char what[] = "reading new errors";
    /* Each error event once (eid); a group's message and source are those of its first
     * event, as SQLite's error_groups keeps them. */
    return list_of(c, select_rows(c, CHREAD_DASH_ROWS, what, err, errlen,
                                  "SELECT fingerprint, count() AS c, intDiv(max(r), 1000) AS ls,"
                                  " any(m) AS message, any(s) AS source FROM (SELECT fingerprint,"
                                  " eid, min(received_ms) AS r FROM errors WHERE app = %Q"
                                  " AND version = %Q AND received_ms >= %L AND fingerprint"
                                  " NOT IN (SELECT fingerprint FROM errors WHERE app = %Q"
                                  " AND version = %Q) GROUP BY fingerprint, eid) ANY LEFT JOIN"
                                  " (SELECT fingerprint, argMin(message, received_ms) AS m,"
                                  " argMin(source, received_ms) AS s FROM errors WHERE app = %Q"
                                  " GROUP BY fingerprint) USING fingerprint GROUP BY fingerprint"
                                  " ORDER BY c DESC, fingerprint LIMIT %d",
                                  app, canary, since_ms, app, baseline, app, CHREAD_DASH_ROWS),
                   error_group_of, NULL, what, err, errlen);
}

/* --- the latest probe results ----------------------------------------------------------- */

/* The document of run run_id, parsed, from a cache (an object run_id -> document) that
 * keeps each one read. Borrowed from cache; NULL with err. A document is at most
 * PROBE_RESULT_BODY_MAX (4 MiB), so each is its own query within CLICKHOUSE_ANSWER_MAX. */
static json_t *document_of(struct clickhouse *c, json_t *cache, const char *run_id, char *err,
                           size_t errlen)
{
    json_t *doc = json_object_get(cache, run_id);
    if (doc)
        return doc;
    json_t *rows = select_rows(c, 1, "reading a probe run", err, errlen,
                               "SELECT any(document) AS d FROM probe_runs WHERE run_id = %Q",
                               run_id);
    if (!rows)
        return NULL;
    doc = json_loads(str_of(json_array_get(rows, 0), "d"), 0, NULL);
    json_decref(rows);
    /* A run whose document is missing or not JSON answers its journeys without steps,
     * as SQLite's json_extract answers NULL. */
    if (json_object_set_new(cache, run_id, doc ? doc : json_object()) < 0) {
        snprintf(err, errlen, "reading a probe run: out of memory");
        return NULL;
    }
    return json_object_get(cache, run_id);
}

/* Journey idx of a run's document, borrowed; NULL when it has none. */
static json_t *journey_of(json_t *doc, long long idx)
{
    return idx >= 0 ? json_array_get(json_object_get(doc, "journeys"), (size_t)idx) : NULL;
}

json_t *chread_probe_results(struct clickhouse *c, const char *app, long long offset,
                             char *err, size_t errlen)
{
    static const char what[] = "reading probe results";
    json_t *total = NULL, *rows = NULL, *docs = json_object(), *results = json_array();
    json_t *out = NULL;
    size_t i;
    const json_t *row;
    int bad = 0;

    if (!docs || !results) {
        snprintf(err, errlen, "%s: out of memory", what);
        goto out;
    }
    if (offset < 0) {
        snprintf(err, errlen, "%s: an offset of %lld (0 or more)", what, offset);
        goto out;
    }
    /* The latest run of each (journey, region), its columns taken together from the row
     * of the latest start (a tuple, so that a tie cannot mix two rows). */
    total = select_row(c, what, err, errlen, "SELECT uniqExact(journey, region) AS n"
                       " FROM probe_journeys WHERE app = %Q", app);
    rows = total ? select_rows(c, STORE_PROBE_RESULTS_MAX, what, err, errlen,
                               "SELECT journey, region, max(started_ms) AS latest,"
                               " argMax(tuple(run_id, idx, version, passed, failed_step,"
                               " failure), started_ms) AS l, tupleElement(l, 1) AS l_run,"
                               " tupleElement(l, 2) AS l_idx, tupleElement(l, 3) AS l_version,"
                               " tupleElement(l, 4) AS l_passed, tupleElement(l, 5) AS l_step,"
                               " tupleElement(l, 6) AS l_failure FROM probe_journeys"
                               " WHERE app = %Q GROUP BY journey, region ORDER BY journey, region"
                               " LIMIT %L, %d", app, offset, STORE_PROBE_RESULTS_MAX) : NULL;
    if (!rows)
        goto out;
    json_array_foreach(rows, i, row) {
        long long idx = int_of(row, "l_idx", &bad);
        json_t *doc = document_of(c, docs, str_of(row, "l_run"), err, errlen);
        if (!doc)
            goto out;
        json_t *j = journey_of(doc, idx);
        json_t *duration = json_object_get(j, "duration_ms");
        json_t *steps = json_object_get(j, "steps");
        bad |= json_array_append_new(results, json_pack(
            "{s:s,s:s,s:s,s:b,s:o,s:s,s:o,s:o,s:O,s:O}",
            "journey", str_of(row, "journey"), "region", str_of(row, "region"),
            "version", str_of(row, "l_version"), "passed", int_of(row, "l_passed", &bad) != 0,
            "started_at", iso_json(int_of(row, "latest", &bad)),
            "run_id", str_of(row, "l_run"), "failed_step", text_or_null(row, "l_step"),
            "failure", text_or_null(row, "l_failure"),
            "duration_ms", duration ? duration : json_null(),
            "steps", steps ? steps : json_null())) < 0;
    }
    if (bad) {
        malformed(c, what, err, errlen);
        goto out;
    }
    out = json_pack("{s:I,s:O}", "total", (json_int_t)int_of(total, "n", &bad),
                    "results", results);
    if (bad) {
        json_decref(out);
        out = NULL;
        malformed(c, what, err, errlen);
    }
out:
    json_decref(total);
    json_decref(rows);
    json_decref(docs);
    json_decref(results);
    return out;
}

json_t *chread_probe_latest(struct clickhouse *c, size_t max_series, char *err,
                            size_t errlen)
{
    static const char what[] = "reading probe runs";
    json_t *seen = json_object(), *docs = json_object(), *out = json_array();
    json_t *rows = NULL;
    struct buf key;
    size_t i;
    const json_t *row;
    int bad = 0;

    buf_init(&key, 0);
    if (!seen || !docs || !out) {
        snprintf(err, errlen, "%s: out of memory", what);
        goto fail;
    }
    /* The newest STORE_PROBE_LATEST_ROWS journey runs, newest first: the first row of a
     * series is its latest. */
    rows = select_rows(c, STORE_PROBE_LATEST_ROWS, what, err, errlen,
                       "SELECT app, version, region, journey, passed, started_ms, run_id, idx"
                       " FROM probe_journeys FINAL ORDER BY started_ms DESC, run_id DESC, idx DESC"
                       " LIMIT %d",
                       STORE_PROBE_LATEST_ROWS);
    if (!rows)
        goto fail;
    json_array_foreach(rows, i, row) {
        if (json_array_size(out) >= max_series)
            break;
        const char *f[4] = {str_of(row, "app"), str_of(row, "version"), str_of(row, "region"),
                            str_of(row, "journey")};
        /* The four names, each with its length, are the series' key. */
        buf_reset(&key);
        for (int k = 0; k < 4; k++)
            bad |= buf_printf(&key, "%zu:%s;", strlen(f[k]), f[k]) < 0;
        if (bad || json_object_get(seen, key.data))
            continue;
        json_t *doc = document_of(c, docs, str_of(row, "run_id"), err, errlen);
        if (!doc)
            goto fail;
        json_t *steps = json_object_get(journey_of(doc, int_of(row, "idx", &bad)), "steps");
        bad |= json_object_set_new(seen, key.data, json_true()) < 0
               || json_array_append_new(out, json_pack(
                      "{s:s,s:s,s:s,s:s,s:b,s:o,s:o}", "app", f[0], "version", f[1],
                      "region", f[2], "journey", f[3], "passed", int_of(row, "passed", &bad) != 0,
                      "started_at", iso_json(int_of(row, "started_ms", &bad)),
                      "steps", steps ? json_deep_copy(steps) : json_array())) < 0;
    }
    if (bad) {
        malformed(c, what, err, errlen);
        goto fail;
    }
    json_decref(rows);
    json_decref(seen);
    json_decref(docs);
    buf_fini(&key);
    return out;
fail:
    json_decref(rows);
    json_decref(seen);
    json_decref(docs);
    json_decref(out);
    buf_fini(&key);
    return NULL;
}
