/*
 * chstore: Vigil's tables in ClickHouse (the scale-out store; collector/README.md,
 * "ClickHouse") over the HTTP client of shared/clickhouse.h: the schema,
 * the write of a batch of per-minute rollup deltas (shared/rollup.h) and the read of one
 * version's histogram as the comparator's struct sketch_bins.
 *
 * Exactly once. A batch has an id (CHSTORE_BATCH_LEN hex digits, random) chosen when it
 * is formed and kept with it in a spool, so that a replay sends the same rows under the
 * same id. The summing tables (hist, counters) cannot tell a replayed row from a new one,
 * so each INSERT of a batch carries, among its rows, a marker row: app '' (no app has
 * that name: shared/beacon.c), version = the batch id, metric/dim '#batch', minute = the
 * start of the UTC day of its rows. ClickHouse writes the rows of one INSERT into one
 * partition as one part, all or nothing, and the tables are partitioned by UTC day; a
 * batch is sent as one INSERT per table and day. Before a replay sends a part, it asks
 * whether that part's marker is there, and skips the part if so. The raw tables are
 * ReplacingMergeTree on their natural key (a metric's mid, a page view's pv, a run's
 * run_id), so a replayed raw row is the same row again.
 *
 * A struct chstore belongs to one thread (it holds one struct clickhouse).
 */
#ifndef VIGIL_CHSTORE_H
#define VIGIL_CHSTORE_H

#include <stddef.h>

#include "buf.h"
#include "clickhouse.h"
#include "rollup.h"
#include "sketch.h"

#define CHSTORE_BATCH_LEN 32                /* hex digits of a batch id (128 bits) */
#define CHSTORE_MARKER "#batch"
#define CHSTORE_DAYS_MAX 4                  /* UTC days one batch's rows may span */
#define CHSTORE_BATCH_MAX (64u << 20)       /* bytes of one table's rows of one batch */

/* The DDL, one statement per entry, in order, each "CREATE ... IF NOT EXISTS" so that
 * chstore_init can run it on every start (--store-init). collector/README.md shows it. */
extern const char *const chstore_ddl[];
extern const size_t chstore_ddl_n;

/* Creates the tables that are missing in c's database. 0 or -1 with err. */
int chstore_init(struct clickhouse *c, char *err, size_t errlen);

/* Writes a new random batch id (CHSTORE_BATCH_LEN hex digits and a NUL). 0 or -1. */
int chstore_batch_id(char out[CHSTORE_BATCH_LEN + 1], char *err, size_t errlen);

/* One INSERT of a batch: a table, a UTC day, and the TabSeparated rows (marker included).
 * A part of a raw table (pageviews, metrics, errors) has no marker and no day (-1): its
 * rows are ReplacingMergeTree rows, the same row again when a replay sends them twice. */
struct chstore_part {
    const char *table;          /* "hist", "counters", or a raw table */
    long long day;              /* Unix day (UTC) of every row; -1 for a raw table */
    struct buf rows;
};

#define CHSTORE_RAW_TABLES 3    /* pageviews, metrics, errors */

/* The raw tables a batch carries, in the order of chstore_raw_columns. */
extern const char *const chstore_raw_tables[CHSTORE_RAW_TABLES];

/* The columns of each raw table's TabSeparated rows, as the INSERT names them:
 * "pageviews (app, pv, ...)". A writer of those rows follows this order. */
extern const char *const chstore_raw_columns[CHSTORE_RAW_TABLES];

/* A batch ready to send (and to spool: its id and parts are all it is). */
struct chstore_batch {
    char id[CHSTORE_BATCH_LEN + 1];
    struct chstore_part part[2 * CHSTORE_DAYS_MAX + CHSTORE_RAW_TABLES];
    size_t nparts;
};

/* Adds rows (TabSeparated, in chstore_raw_columns[table]'s order) as the part of raw
 * table number table (0 to CHSTORE_RAW_TABLES - 1), taking the buffer's content (rows is
 * left empty). Empty rows add nothing. 0, or -1 with err (the table is there already). */
int chstore_batch_add_raw(struct chstore_batch *b, int table, struct buf *rows, char *err,
                          size_t errlen);

/* Builds batch id's parts from every pending row of r (r is left as it is: the caller
 * flushes or clears it). A row with a zero delta is left out. Returns 0, or -1 with err
 * (rows over more than CHSTORE_DAYS_MAX days, a part over CHSTORE_BATCH_MAX bytes, out of
 * memory). Free with chstore_batch_fini, also after a failure. */
int chstore_batch_build(struct chstore_batch *b, const char *id, const struct rollup *r,
                        char *err, size_t errlen);
void chstore_batch_fini(struct chstore_batch *b);

/* The spool form of a batch (shared/fspool.h records), a header line and each part's rows
 * as they are sent:
 *   vigil-chbatch 1 ID NPARTS\n
 *   TABLE DAY LENGTH\n  then LENGTH bytes of TabSeparated rows, for each part
 * chstore_batch_encode appends it to out (0, or -1 past out's cap); chstore_batch_decode
 * fills b from it (0, or -1 with "byte N: what is wrong"; free b with chstore_batch_fini
 * either way). */
int chstore_batch_encode(const struct chstore_batch *b, struct buf *out);
int chstore_batch_decode(struct chstore_batch *b, const char *data, size_t len, char *err,
                         size_t errlen);

/* Sends every part of b as its own INSERT, the raw tables' first. With replay set, a
 * part whose marker is already in its table is skipped (it was acknowledged before, or committed just before
 * a crash), so that a replayed batch counts once. Returns 0 when every part is stored,
 * or -1 with err (the batch must then stay in the spool and be replayed). *sent (if not
 * NULL) is the number of parts inserted by this call. */
int chstore_batch_send(struct clickhouse *c, const struct chstore_batch *b, int replay,
                       size_t *sent, char *err, size_t errlen);

/* The histogram of metric of app/version over the minutes that hold [since_ms, until_ms)
 * (whole minutes, as store_rollup_groups), summed over every batch, into out (emptied
 * first; a bucket whose sum is not positive is left out). 0 or -1 with err. */
int chstore_read_sketch(struct clickhouse *c, const char *app, const char *version,
                        const char *metric, long long since_ms, long long until_ms,
                        struct sketch *out, char *err, size_t errlen);

/* The histograms of n metrics of app/version over the same minutes in one query (a
 * verdict's: one round trip instead of one per metric): out[i] (initialised by the
 * caller) gets metrics[i]'s, as chstore_read_sketch would give it. n is at most
 * CHSTORE_METRICS_MAX. 0 or -1 with err (every out[i] then empty). */
#define CHSTORE_METRICS_MAX 32
int chstore_read_sketches(struct clickhouse *c, const char *app, const char *version,
                          const char *const *metrics, size_t n, long long since_ms,
                          long long until_ms, struct sketch *out, char *err, size_t errlen);

/* The same read as store_rollup_groups (shared/store.h), same arguments and result, from
 * ClickHouse: one metric (or "errors") of app/version over the minutes that hold
 * [since_ms, until_ms), in time buckets of step_ms (by NULL; 0 for one group) or by the
 * values of dimension by, in byte order, the values past STORE_GROUPS_MAX folded into
 * "(other)" as store_rollup_groups does. A page is capped when read (SQLite caps the pages
 * of each minute when it writes): the ROLLUP_PAGES_MAX - 1 pages with the most values (or
 * page views) over the window keep their rows, the rest count under "(other)". Reads at
 * most CHSTORE_GROUP_ROWS_MAX (group, bucket) rows; past that, an error asking for a
 * shorter window. Free *out with chstore_groups_free. 0 or -1 with err. */
#define CHSTORE_GROUP_ROWS_MAX 200000
struct store_group;
int chstore_rollup_groups(struct clickhouse *c, const char *app, const char *version,
                          const char *metric, const char *by, long long since_ms,
                          long long until_ms, long long step_ms, struct store_group **out,
                          size_t *n, char *err, size_t errlen);
void chstore_groups_free(struct store_group *g, size_t n);

/* Page views and page views with an error of app/version over the same minutes. */
int chstore_read_errors(struct clickhouse *c, const char *app, const char *version,
                        long long since_ms, long long until_ms, long long *views,
                        long long *hits, char *err, size_t errlen);

/* Appends s as a quoted ClickHouse string literal ('...', backslash and quote escaped).
 * 0 or -1 (the buffer's cap). */
int chstore_quote(struct buf *b, const char *s);

#endif
