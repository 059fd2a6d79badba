/*
 * chwrite: the writes of shared/store.h into ClickHouse (collector/README.md,
 * "ClickHouse"): what store_begin, store_insert_beacon, store_commit, the probe results,
 * markers and verdicts, retention and the size become when the store was opened on a
 * clickhouse:// URL.
 *
 * Beacons. Between chwrite_begin and chwrite_commit, each beacon adds its raw rows
 * (pageviews, metrics, errors: TabSeparated, in chstore_raw_columns' order) and its
 * rollup deltas (shared/rollup.h) to one batch, under the rules of SQLite's writer
 * (store.c): a page view counts once, under the version, minute and slices of its first
 * beacon; a later value of the same metric id replaces the earlier one, in the rollups
 * too (out with the old value, in with the new, under the minute of the first); a page
 * view's first JS error counts it once among those with an error. SQLite reads what it
 * needs for that from its tables; here a bounded cache of recent page views
 * (CHWRITE_PAGEVIEWS_MAX, first in first out, with their metric values) stands in for
 * them, since a read of ClickHouse per beacon would cost a round trip and cannot see
 * what another collector has not yet sent. A later beacon of a page view this collector
 * does not remember (evicted, or its earlier beacons went to another collector of the
 * fleet) counts as a new page view and its values as new values; collector/README.md
 * says how a load balancer avoids that.
 *
 * chwrite_commit sends the batch (chstore_batch_send: one INSERT per table and day, the
 * rollup parts with their batch-id markers) and succeeds when ClickHouse acknowledged
 * every part, or, when it did not, once the batch is durably in the spool (fspool_add:
 * write, fsync, rename). chwrite_replay sends spooled batches, oldest first, with the
 * marker check (a replay never counts a batch twice), no sooner than
 * CLICKHOUSE_TIMEOUT_MS after a failed send (an INSERT whose answer was lost may still be
 * committing until then, and its marker must be visible to the check).
 *
 * A struct chwrite belongs to the thread of its store; it borrows the connection.
 */
#ifndef VIGIL_CHWRITE_H
#define VIGIL_CHWRITE_H

#include <jansson.h>
#include <stddef.h>

#include "clickhouse.h"

#define CHWRITE_PAGEVIEWS_MAX 100000    /* page views the cache remembers */
#define CHWRITE_PV_METRICS_MAX 64       /* metric ids remembered per page view */
#define CHWRITE_RECORD_MAX (256u << 20) /* bytes of one spooled batch */
#define CHWRITE_RETAIN_EVERY_MS (10 * 60 * 1000LL)  /* partitions looked at this often */
#define CHWRITE_BYTES_EVERY_MS (60 * 1000LL)        /* system.parts read this often */

struct chwrite_opts {
    const char *spool_dir;              /* NULL: no spool, a failed send fails the commit */
    unsigned long long spool_max_bytes; /* 0: no bound */
    int init;                           /* create missing tables before the first write */
};

struct chwrite;
struct beacon_meta;
struct probe_result;

/* Sets up the writes over c (borrowed; it must outlive the struct). With opts->init,
 * creates the missing tables now, or before the first write if ClickHouse does not
 * answer yet. With a spool folder, opens (and locks) it. 0 with *out, or -1 with err. */
int chwrite_open(struct chwrite **out, struct clickhouse *c, const struct chwrite_opts *o,
                 char *err, size_t errlen);
void chwrite_close(struct chwrite *w);

/* Whether ClickHouse takes writes now: it answers and every table is there. 0 yes; 1 it
 * does not answer but the spool takes the writes meanwhile (err says why); -1 with err. */
int chwrite_check(struct chwrite *w, char *err, size_t errlen);

/* One batch of beacons, as store_begin, store_insert_beacon (returns the rows written),
 * store_commit and store_rollback. */
int chwrite_begin(struct chwrite *w, char *err, size_t errlen);
int chwrite_beacon(struct chwrite *w, const json_t *beacon, const struct beacon_meta *m,
                   char *err, size_t errlen);
int chwrite_commit(struct chwrite *w, char *err, size_t errlen);
void chwrite_rollback(struct chwrite *w);

/* Sends at most max spooled batches, oldest first, when one is due (with none spooled
 * but ClickHouse taken for down, asks it SELECT 1 instead). Returns how many ClickHouse
 * took (0 when none was due or waiting), or -1 with err (they stay). */
int chwrite_replay(struct chwrite *w, int max, char *err, size_t errlen);

/* Whether batches wait in the spool. */
int chwrite_spooled(const struct chwrite *w);

/* store_spool_stats (shared/store.h): the health of the writes and the spool's figures. */
struct store_spool_stats;
void chwrite_stats(const struct chwrite *w, struct store_spool_stats *out);

/* store_insert_probe_result: 1 stored, 0 when a run with that run_id was there, -1. */
int chwrite_probe_result(struct chwrite *w, const struct probe_result *r, long long received_ms,
                         int is_signed, const char *key_id, char *err, size_t errlen);

/* store_insert_deployment (the marker validated by the caller). 0 or -1 with err. */
int chwrite_deployment(struct chwrite *w, const json_t *d, long long received_ms, char *err,
                       size_t errlen);

/* Stores a verdict (the repeat rule is the caller's). 0 or -1 with err. */
int chwrite_verdict(struct chwrite *w, const char *app, const char *baseline,
                    const char *canary, const json_t *verdict, long long ts,
                    long long window_start, long long nbase, long long ncanary, char *err,
                    size_t errlen);

/* store_retain: drops the partitions (whole UTC days of the raw and rollup tables, whole
 * months of probe runs and verdicts) that end before now - raw_ms (raw rows) or
 * now - rollup_ms (rollups, verdicts); 0 keeps. At most once per
 * CHWRITE_RETAIN_EVERY_MS. Returns the partitions dropped, or -1 with err. */
long long chwrite_retain(struct chwrite *w, long long now_ms, long long raw_ms,
                         long long rollup_ms, char *err, size_t errlen);

/* store_bytes: the database's parts on disk (system.parts), read at most once per
 * CHWRITE_BYTES_EVERY_MS; the last figure (0 before the first) in between or on error. */
long long chwrite_bytes(struct chwrite *w);

#endif
