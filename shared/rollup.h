/*
 * rollup: the per-minute aggregates every read of the collector uses (collector/README.md
 * "Rollups"), accumulated in memory while the writer stores a transaction's raw rows and
 * written to the rollups table in the same transaction.
 *
 * One row per (app, version, metric, dim, minute, key):
 *  - metric is a beacon metric (LCP, CLS, ... or custom): n values, their sketch (sketch.h);
 *  - metric "errors": n page views and hits, the page views with a JS error;
 *  - dim "" with key "" is the whole version; dim browser, os, device, country, conn or
 *    page with its value as key (NULL is "(none)") is one slice for the breakdown. A page
 *    is a high-cardinality dimension: at most ROLLUP_PAGES_MAX pages of a minute get a row
 *    of their own, the most frequent of each transaction first, and the rest count under
 *    ROLLUP_OTHER.
 *
 * A struct rollup belongs to the thread of the store it writes to.
 */
#ifndef VIGIL_ROLLUP_H
#define VIGIL_ROLLUP_H

#include <sqlite3.h>
#include <stddef.h>

#include "sketch.h"

#define ROLLUP_MINUTE_MS 60000LL
#define ROLLUP_DIMS 6
#define ROLLUP_PAGES_MAX 100
#define ROLLUP_OTHER "(other)"
#define ROLLUP_NONE "(none)"
#define ROLLUP_ERRORS "errors"

/* The dimensions, in the order of struct rollup_point's dim: the page view's columns. */
extern const char *const rollup_dims[ROLLUP_DIMS];

/* The DDL of the rollups table (part of the store's schema migration). WITHOUT ROWID:
 * the primary key is the row's only copy and every read is a range of it ((app, version,
 * metric, dim) then minutes); the index on minute serves retention. */
#define ROLLUP_DDL                                                                          \
    "CREATE TABLE rollups ("                                                                \
    "  app TEXT NOT NULL, version TEXT NOT NULL, metric TEXT NOT NULL, dim TEXT NOT NULL,"  \
    "  minute INTEGER NOT NULL, key TEXT NOT NULL, n INTEGER NOT NULL,"                    \
    "  hits INTEGER NOT NULL, sketch BLOB,"                                                 \
    "  PRIMARY KEY (app, version, metric, dim, minute, key)) WITHOUT ROWID;"                \
    "CREATE INDEX rollups_by_minute ON rollups(minute);"

/* What one value or one page view is filed under. Strings are borrowed. */
struct rollup_point {
    const char *app, *version;
    long long received_ms;          /* its minute is received_ms / ROLLUP_MINUTE_MS */
    const char *dim[ROLLUP_DIMS];   /* browser, os, device, country, conn, page; NULL: none */
};

struct rollup;

/* A new, empty accumulator (NULL when out of memory); rollup_free(NULL) is a no-op. */
struct rollup *rollup_new(void);
void rollup_free(struct rollup *r);

/* Adds count (-1 removes a replaced value) of value v of metric to the whole version and
 * to each of its slices. Returns 0 or -1 (a value the sketch refuses, or out of memory). */
int rollup_value(struct rollup *r, const struct rollup_point *p, const char *metric,
                 double v, long long count);

/* Adds page views and page views with a JS error (metric "errors"). 0 or -1. */
int rollup_views(struct rollup *r, const struct rollup_point *p, long long views,
                 long long hits);

/* Rows waiting to be written. */
size_t rollup_pending(const struct rollup *r);

/* Writes what was accumulated into db's rollups table, adding to the rows there, inside
 * the caller's transaction, and empties r. Returns 0 or -1 with err. */
int rollup_flush(struct rollup *r, sqlite3 *db, char *err, size_t errlen);

/* One pending row as rollup_each shows it; everything is borrowed from r and valid
 * until r changes. */
struct rollup_row {
    const char *app, *version, *metric, *dim, *key;
    long long minute;           /* received_ms / ROLLUP_MINUTE_MS */
    long long n, hits;          /* deltas; for "errors", page views and those with an error */
    const struct sketch *sk;    /* the values' delta; NULL for "errors" */
};

/* Calls fn on every row with a delta since the last flush or clear, in no particular
 * order, without emptying r (another store than SQLite writes them: shared/chstore.h).
 * Stops at the first non-zero return of fn and returns it; 0 when all were visited. */
int rollup_each(const struct rollup *r, int (*fn)(const struct rollup_row *row, void *arg),
                void *arg);

/* Adds a row as another store holds it (collector migrate: SQLite's rollups into
 * ClickHouse's): its n, hits and sketch (NULL for "errors") go to the row of the same
 * key, dimension and minute as they are, with no slices derived. 0 or -1. */
int rollup_add_row(struct rollup *r, const struct rollup_row *row);

/* Forgets what was accumulated (the transaction rolled back). */
void rollup_clear(struct rollup *r);

/* --- reading: rows of the rollups merged into groups (store.h's struct store_group) --- */

/* The group that a row of time t (by NULL) or of value key of dimension by goes to, among
 * the *n groups of *g (capacity *cap, grown here; rows come in order of time or value):
 * the last group when it has the same time or value, else a new one (empty sketch). Past
 * STORE_GROUPS_MAX values of a dimension, further values count as one ROLLUP_OTHER group
 * (an existing one, else the last group renamed). The rule of store_rollup_groups and
 * chstore_rollup_groups, so that SQLite and ClickHouse fold alike. NULL when out of
 * memory. */
struct store_group;
struct store_group *rollup_group_of(struct store_group **g, size_t *n, size_t *cap,
                                    const char *by, long long t, const char *key);

#endif
