/*
 * readers: the collector's reader threads. Every API call that only reads (api_writes()
 * says which) runs here, on one of N threads that each hold their own read-only
 * connection to the database (WAL lets them read beside the writer), so that no read
 * ever waits behind ingest or holds it up. Each statement has a time limit
 * (store_set_timeout); past it the call fails with 503 and a JSON reason. So has the wait
 * in the queue: a call still queued after the same time limit is answered 503 without
 * running, and a call whose client left before it started is dropped (readers_forget),
 * so that work nobody waits for never piles up in front of the next client.
 *
 * Items are the writer's (writer.h: a call with its request and response); finished ones
 * are handed back like the writer's, through wake() and readers_take_done().
 */
#ifndef VIGIL_READERS_H
#define VIGIL_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "writer.h"

#define READERS_MAX 16
#define READERS_DEFAULT 2
#define READERS_TIMEOUT_DEFAULT_MS 5000
#define READERS_TIMEOUT_MIN_MS 10        /* the range of --read-timeout */
#define READERS_TIMEOUT_MAX_MS 600000

struct readers;

/* Opens n read-only connections to the store o names (o->readonly is taken as set; on
 * ClickHouse each is a connection of its own, with the time limit as the queries'
 * max_execution_time) and starts a thread for each. Returns 0 with *out, or -1 with err. */
int readers_start(struct readers **out, const struct store_opts *o, int n, int timeout_ms,
                  size_t queue_max, void (*wake)(void *ctx), void *ctx, char *err,
                  size_t errlen);

/* Queues a call (ownership passes on). Returns 0, or -1 when the queue is full or the
 * readers are stopping (the item then stays the caller's). */
int readers_submit(struct readers *r, struct writer_item *item);

/* Drops the queued call with this id, when it has not started (its client left). Returns
 * 1 when one was dropped, else 0 (running, done, or not a reader's). */
int readers_forget(struct readers *r, uint64_t id);

/* Takes every finished item of service thread tsi (writer_item.tsi), oldest first; NULL
 * when there are none. */
struct writer_item *readers_take_done(struct readers *r, int tsi);

/* The stop's first step, at once: takes no more calls, hands every queued one back as
 * finished with 503 {"error": "the collector is stopping..."}, and interrupts the
 * running statements (store_interrupt), so that a stop never waits for a long read
 * (collector/README.md, SIGTERM). readers_cancel(NULL) is a no-op. */
void readers_cancel(struct readers *r);

/* readers_cancel, then waits for the threads (each ends its interrupted call), stops them
 * and closes their connections; items not yet taken are freed. readers_stop(NULL) is a
 * no-op. */
void readers_stop(struct readers *r);

#endif
