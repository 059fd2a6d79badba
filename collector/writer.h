/*
 * writer: the collector's one SQLite writer thread, with group commit.
 *
 * The HTTP service thread never waits on disk. It submits each accepted request body (its
 * beacons and server metadata) to a bounded queue; the writer thread takes up to
 * batch_rows rows' worth of queued items (waiting at most batch_ms for more; with a
 * batch_ms of 0, under load only, while requests keep coming, WRITER_LINGER_US at most),
 * stores them in one transaction, and hands them back as done, each with the status its client must
 * get: 204 once the transaction holding it committed, 503 (with {"error": reason} as the
 * item's response) if it failed. On ClickHouse a transaction is a batch that commits when
 * ClickHouse or the spool took it; between batches, and once a second when idle, the
 * writer replays spooled batches (store_replay, WRITER_REPLAY_BATCHES at a time). After each batch
 * it calls wake() (the collector passes lws_cancel_service) so that the service threads
 * collect the done items with writer_take_done(), each its own (writer_item.tsi), and
 * then checkpoints the WAL when one is due (store_defer_checkpoints: not inside the
 * COMMIT, where the answers would wait for it).
 */
#ifndef VIGIL_WRITER_H
#define VIGIL_WRITER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "probe_result.h"
#include "store.h"

#define WRITER_LATENCY_BUCKETS 12
#define WRITER_DONE_LISTS 8         /* service threads finished items go back to (tsi) */

struct writer_item;

/* A call runs on the writer thread with the store, one item at a time: the API's reads
 * and writes other than beacons (probe runs, markers, gate, verdicts) go this way, so
 * that the service thread never touches the disk. It sets status and response. */
typedef void (*writer_call_fn)(struct store *s, struct writer_item *item);

struct writer_item {
    uint64_t id;                /* the service thread's request id */
    int tsi;                    /* which service thread waits for it (0 to
                                   WRITER_DONE_LISTS - 1); 0 when nobody waits */
    json_t *beacons;            /* validated beacons (owned by the item), or NULL for a call */
    struct jsonarena *arena;    /* where beacons were parsed (owned; it goes with them), or
                                   NULL: beacons are then freed with json_decref */
    struct beacon_meta meta;
    size_t rows;                /* rows the item will write (page views + events) */
    writer_call_fn call;        /* instead of beacons */
    int api;                    /* the API call the item runs (api.h enum api_fn), when
                                   its call is the API's (calls.h) */
    json_t *request;            /* the call's arguments (owned) */
    struct probe_result *probe; /* a probe result to store (owned), or NULL */
    json_t *response;           /* the call's answer body (owned), set by the call */
    int status;                 /* filled by the writer: 204 or 503 for beacons */
    double queued_ms;           /* when a reader queue took it (monotonic ms) */
    struct writer_item *next;
};

/* A FIFO of items, for the threads that take them (the writer, the readers); its owner
 * locks it. */
struct writer_list {
    struct writer_item *head, *tail;
};

/* Appends first and the items chained after it. */
void writer_list_append(struct writer_list *l, struct writer_item *first);

/* Takes the oldest item (NULL when empty), or the whole list, oldest first. */
struct writer_item *writer_list_pop(struct writer_list *l);
struct writer_item *writer_list_take(struct writer_list *l);

/* Frees a chain of items. */
void writer_items_free(struct writer_item *first);

/* Figures for /metrics: the writer thread updates them, the service thread reads them
 * without locking, so each is atomic (C11 <stdatomic.h>; plain reads and updates are
 * sequentially consistent, and a statistic needs no more than that). */
struct writer_stats {
    _Atomic long long queued;           /* items waiting */
    _Atomic long long committed_items;
    _Atomic long long rows_stored;
    _Atomic long long batches;
    _Atomic long long failed_batches;
    _Atomic int store_failing;          /* the latest batch of beacons was not stored */
    _Atomic long long db_bytes;
    _Atomic long long oldest_raw_ms;        /* the oldest raw metric kept, -1 none */
    _Atomic long long oldest_rollup_ms;     /* the oldest rollup minute kept, -1 none */
    _Atomic long long expired_rows;         /* deleted by retention */
    /* ClickHouse (store_spool_stats): its state and the spool's. */
    _Atomic int store_degraded;             /* ClickHouse did not take the latest send */
    _Atomic long long spool_batches, spool_bytes;   /* waiting */
    _Atomic long long spooled_batches;      /* sent to the spool since the start */
    _Atomic long long replayed_batches;     /* replayed from it into ClickHouse */
    _Atomic long long spool_set_aside;      /* unreadable records moved aside */
    /* Commit latency histogram: counts of batches at or under each bound (ms). */
    _Atomic long long latency_le[WRITER_LATENCY_BUCKETS];
    _Atomic double latency_sum_ms;
};

extern const double writer_latency_bounds_ms[WRITER_LATENCY_BUCKETS];

struct writer;

/* Starts the writer thread on an open store (which it then owns and closes). It also sets
 * glibc's trim threshold for the process (writer.c says why). Returns 0 with *out, or -1
 * with err. */
int writer_start(struct writer **out, struct store *s, size_t queue_max, size_t batch_rows,
                 int batch_ms, void (*wake)(void *ctx), void *ctx, char *err, size_t errlen);

#define WRITER_RETAIN_ROWS 2000     /* rows per table in one retention pass */
#define WRITER_REPLAY_BATCHES 4     /* spooled batches replayed between two batches */
#define WRITER_REPLAY_EVERY_MS 1000 /* how often an idle writer looks at the spool */
#define WRITER_RETAIN_EVERY_MS 1000
#define WRITER_LINGER_US 500        /* group commit under load: the longest wait (writer.c) */
#define WRITER_LINGER_GAP_US 100    /* ... which ends when no request came within this */

/* Turns on retention before the first item is submitted: between batches, at most once
 * a second (at once again while a pass still finds a full batch to delete), the writer
 * deletes raw rows older than raw_ms and rollups older than rollup_ms (store_retain). */
void writer_retain(struct writer *w, long long raw_ms, long long rollup_ms);

/* Queues an item (ownership passes to the writer). Returns 0, or -1 when the queue is
 * full or the writer is stopping (the item then stays the caller's). */
int writer_submit(struct writer *w, struct writer_item *item);

/* Takes every item of service thread tsi (writer_item.tsi) whose batch has finished,
 * oldest first (the caller frees each with writer_item_free()). Returns NULL when there
 * are none. */
struct writer_item *writer_take_done(struct writer *w, int tsi);

/* Appends finished items to the done lists, each to its tsi's. Called locked by the
 * writer and the readers. */
void writer_done_append(struct writer_list done[WRITER_DONE_LISTS], struct writer_item *first);

/* Commits everything still queued, stops the thread and closes the store. Items done
 * but not yet taken are freed. */
void writer_stop(struct writer *w);

const struct writer_stats *writer_stats(const struct writer *w);

void writer_item_free(struct writer_item *item);

#endif
