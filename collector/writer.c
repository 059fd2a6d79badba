#include "writer.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "jsonarena.h"

const double writer_latency_bounds_ms[WRITER_LATENCY_BUCKETS] = {
    0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000
};

struct writer {
    struct store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct writer_list queue;              /* submitted */
    struct writer_list done[WRITER_DONE_LISTS];  /* finished, not yet taken, per tsi */
    size_t queued, queue_max, batch_rows;
    int batch_ms;
    int stopping;
    void (*wake)(void *ctx);
    void *wake_ctx;
    struct writer_stats stats;
    long long retain_raw_ms, retain_ms;     /* 0: keep everything */
    double retained_at;                     /* when the last pass ran (monotonic ms) */
    int retain_again;                       /* the last pass was full: more to delete */
    char reason[256];                       /* why the store is degraded (its thread's) */
    int replay_again;                       /* the last replay was full: more wait */
    size_t last_items;                      /* requests in the last batch of beacons */
    int checkpoint_failing;                 /* the last checkpoint failed (said once) */
};

void writer_item_free(struct writer_item *item)
{
    if (!item)
        return;
    jsonarena_drop(item->arena, item->beacons);
    json_decref(item->request);
    json_decref(item->response);
    probe_result_free(item->probe);
    free(item);
}

void writer_items_free(struct writer_item *first)
{
    for (struct writer_item *next; first; first = next) {
        next = first->next;
        writer_item_free(first);
    }
}

void writer_list_append(struct writer_list *l, struct writer_item *first)
{
    struct writer_item *last = first;
    if (!first)
        return;
    while (last->next)
        last = last->next;
    if (l->tail)
        l->tail->next = first;
    else
        l->head = first;
    l->tail = last;
}

struct writer_item *writer_list_pop(struct writer_list *l)
{
    struct writer_item *first = l->head;
    if (first) {
        l->head = first->next;
        if (!l->head)
            l->tail = NULL;
        first->next = NULL;
    }
    return first;
}

struct writer_item *writer_list_take(struct writer_list *l)
{
    struct writer_item *all = l->head;
    l->head = l->tail = NULL;
    return all;
}

void writer_done_append(struct writer_list done[WRITER_DONE_LISTS], struct writer_item *first)
{
    for (struct writer_item *next; first; first = next) {
        next = first->next;
        first->next = NULL;
        writer_list_append(&done[first->tsi >= 0 && first->tsi < WRITER_DONE_LISTS
                                 ? first->tsi : 0], first);
    }
}

/* Takes queued items up to batch_rows rows (at least one item), or one call. Called
 * locked. */
static struct writer_item *take_batch(struct writer *w)
{
    struct writer_item *first = w->queue.head, *last = NULL;
    size_t rows = 0;
    if (first->call) {
        writer_list_pop(&w->queue);
        w->queued--;
        w->stats.queued = (long long)w->queued;
        return first;
    }
    while (w->queue.head && !w->queue.head->call && (rows == 0 || rows + w->queue.head->rows <= w->batch_rows)) {
        rows += w->queue.head->rows;
        last = w->queue.head;
        w->queue.head = w->queue.head->next;
        w->queued--;
    }
    if (last)
        last->next = NULL;
    if (!w->queue.head)
        w->queue.tail = NULL;
    w->stats.queued = (long long)w->queued;
    return first;
}

static size_t queued_rows(const struct writer *w)
{
    size_t rows = 0;
    for (const struct writer_item *i = w->queue.head; i && rows < w->batch_rows; i = i->next)
        rows += i->rows;
    return rows;
}

static void spool_figures(struct writer *w);

/* Under load, lets a batch of beacons grow while requests keep coming: the writer's time
 * per beacon is mostly per transaction (BEGIN, the rollups' rows, COMMIT's WAL frames:
 * each B-tree's last leaf is written whole however few rows it gained), and without a
 * wait each batch took only what arrived during the previous commit (about 10 requests
 * with 64 connections, scripts/bench-collector). So when the last batch held several
 * requests, the writer sleeps WRITER_LINGER_GAP_US at a time, unlocked, for as long as
 * new requests arrived during the previous sleep, at most WRITER_LINGER_US in all, or
 * until batch_rows rows wait. A lone request (light load) never waits. The sleeps are
 * the writer's own: a submit does not wake it (pthread_cond_signal without a waiter costs
 * no system call), so a burst of submits costs no wake-ups. Called locked. */
static void linger(struct writer *w)
{
    double until = clock_mono_ms() + WRITER_LINGER_US / 1000.0;
    size_t seen = w->queued;
    while (!w->stopping && queued_rows(w) < w->batch_rows) {
        double left_us = (until - clock_mono_ms()) * 1000.0;
        if (left_us <= 0)
            break;
        long us = left_us < WRITER_LINGER_GAP_US ? (long)left_us : WRITER_LINGER_GAP_US;
        struct timespec d = {0, us * 1000L};
        pthread_mutex_unlock(&w->lock);
        nanosleep(&d, NULL);
        pthread_mutex_lock(&w->lock);
        if (w->queued == seen)
            break;
        seen = w->queued;
    }
}

static void store_batch(struct writer *w, struct writer_item *batch)
{
    char err[512];
    double t0 = clock_mono_ms();
    size_t rows = 0, items = 0;
    int ok = store_begin(w->store, err, sizeof err) == 0;

    for (struct writer_item *it = batch; ok && it; it = it->next) {
        size_t i;
        json_t *b;
        json_array_foreach(it->beacons, i, b) {
            int n = store_insert_beacon(w->store, b, &it->meta, err, sizeof err);
            if (n < 0) {
                ok = 0;
                break;
            }
            rows += (size_t)n;
        }
        items++;
    }
    if (ok) {
        ok = store_commit(w->store, err, sizeof err) == 0;
    } else {
        store_rollback(w->store);
    }
    if (!ok) {
        fprintf(stderr, "collector: a batch of %zu requests was not stored: %s\n", items, err);
        w->stats.failed_batches++;
        for (struct writer_item *it = batch; it; it = it->next) {
            json_decref(it->response);
            it->response = json_pack("{s:s}", "error", err);
        }
    }
    w->stats.store_failing = !ok;
    w->last_items = items;
    int was = w->stats.store_degraded;
    spool_figures(w);
    if (!was && w->stats.store_degraded)
        fprintf(stderr, "collector: the store does not take batches (%s); they go to the "
                "spool until it does\n", w->reason);
    double ms = clock_mono_ms() - t0;
    for (int i = 0; i < WRITER_LATENCY_BUCKETS; i++)
        if (ms <= writer_latency_bounds_ms[i])
            w->stats.latency_le[i]++;
    /* One writer: a load and a store (an atomic += of a double needs libatomic). */
    w->stats.latency_sum_ms = w->stats.latency_sum_ms + ms;
    w->stats.batches++;
    if (ok) {
        w->stats.rows_stored += (long long)rows;
        w->stats.committed_items += (long long)items;
    }
    /* The size is for /metrics: every 64th batch is often enough to be current. */
    if (w->stats.batches % 64 == 1)
        w->stats.db_bytes = store_bytes(w->store);
    for (struct writer_item *it = batch; it; it = it->next)
        it->status = ok ? 204 : 503;
}

/* The store's health and spool figures into the stats. */
static void spool_figures(struct writer *w)
{
    struct store_spool_stats st;
    store_spool_stats(w->store, &st);
    snprintf(w->reason, sizeof w->reason, "%s", st.reason);
    w->stats.store_degraded = st.degraded;
    w->stats.spool_batches = st.batches;
    w->stats.spool_bytes = st.bytes;
    w->stats.spooled_batches = st.spooled_total;
    w->stats.replayed_batches = st.replayed_total;
    w->stats.spool_set_aside = st.set_aside_total;
}

/* Spooled batches into ClickHouse, a few at a time, when a replay is due. A failure is
 * said once, not every second the store stays down. Called unlocked, between batches. */
static void replay(struct writer *w)
{
    char err[512];
    int was = w->stats.store_degraded;
    int n = store_replay(w->store, WRITER_REPLAY_BATCHES, err, sizeof err);
    w->replay_again = n == WRITER_REPLAY_BATCHES;
    if (n < 0 && !was)
        fprintf(stderr, "collector: spooled batches wait: %s\n", err);
    spool_figures(w);
    if (was && !w->stats.store_degraded)
        fprintf(stderr, "collector: the store answers again; %lld spooled batches wait\n",
                (long long)w->stats.spool_batches);
}

/* The WAL's checkpoint, when one is due, after the batch's answers went out
 * (store_defer_checkpoints). A failure is said once, until one works again. */
static void checkpoint(struct writer *w)
{
    char err[512];
    int rc = store_checkpoint(w->store, err, sizeof err);
    if (rc < 0 && !w->checkpoint_failing)
        fprintf(stderr, "collector: %s (the WAL grows until a checkpoint works)\n", err);
    if (rc != 0)
        w->checkpoint_failing = rc < 0;
}

/* One retention pass, when one is due. Called unlocked, between batches. */
static void retain(struct writer *w)
{
    char err[512];
    double now = clock_mono_ms();
    if ((w->retain_raw_ms <= 0 && w->retain_ms <= 0) || (!w->retain_again && now - w->retained_at < WRITER_RETAIN_EVERY_MS))
        return;
    w->retained_at = now;
    long long n = store_retain(w->store, clock_wall_ms(), w->retain_raw_ms, w->retain_ms,
                               WRITER_RETAIN_ROWS, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "collector: retention: %s\n", err);
        w->retain_again = 0;
        return;
    }
    w->retain_again = n >= WRITER_RETAIN_ROWS;
    w->stats.expired_rows += n;
    long long raw, roll;
    if (store_oldest(w->store, &raw, &roll, err, sizeof err) == 0) {
        w->stats.oldest_raw_ms = raw;
        w->stats.oldest_rollup_ms = roll;
    }
    w->stats.db_bytes = store_bytes(w->store);
}

void writer_retain(struct writer *w, long long raw_ms, long long rollup_ms)
{
    pthread_mutex_lock(&w->lock);
    w->retain_raw_ms = raw_ms;
    w->retain_ms = rollup_ms;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits for work; with retention on, batches in the spool or the store down, at most until
 * the next pass is due. */
static void wait_for_work(struct writer *w)
{
    while (!w->queue.head && !w->stopping) {
        if (w->retain_raw_ms <= 0 && w->retain_ms <= 0 && !store_spooled(w->store)
            && !w->stats.store_degraded) {
            pthread_cond_wait(&w->cond, &w->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += w->retain_again || w->replay_again ? 0 : WRITER_RETAIN_EVERY_MS / 1000;
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) != 0)
            return;
    }
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        wait_for_work(w);
        if (!w->queue.head && w->stopping)
            break;
        if (!w->queue.head) {
            pthread_mutex_unlock(&w->lock);
            replay(w);
            retain(w);
            checkpoint(w);      /* retention's deletes go through the WAL too */
            pthread_mutex_lock(&w->lock);
            continue;
        }
        /* Group commit: give more requests up to batch_ms to join, unless the batch is
         * already full or the collector is stopping. */
        if (w->batch_ms == 0 && w->last_items > 1 && !w->queue.head->call)
            linger(w);
        else if (w->batch_ms > 0 && !w->stopping && queued_rows(w) < w->batch_rows) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)w->batch_ms * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            while (!w->stopping && queued_rows(w) < w->batch_rows
                   && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
                ;
        }
        struct writer_item *batch = take_batch(w);
        int beacons = !batch->call;     /* batch is the service thread's once done */
        pthread_mutex_unlock(&w->lock);

        if (batch->call)
            batch->call(w->store, batch);
        else
            store_batch(w, batch);

        pthread_mutex_lock(&w->lock);
        writer_done_append(w->done, batch);
        pthread_mutex_unlock(&w->lock);
        if (w->wake)
            w->wake(w->wake_ctx);
        checkpoint(w);
        if (beacons)
            replay(w);
        retain(w);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* SQLite opens a statement journal for each INSERT inside the batch's transaction and
 * frees its bitmap (some 20 KiB) when the statement ends. With glibc's default trim
 * threshold (128 KiB) each of those frees gave the writer's arena back to the kernel
 * (madvise(MADV_DONTNEED)) and the next statement faulted it in again; on a process with
 * two busy threads every madvise is also a TLB shootdown of the other core. Under
 * scripts/bench-collector that was 45% of the writer's time (perf: shrink_heap <-
 * sqlite3PagerSavepoint, then sysmalloc's page faults). A trim threshold of
 * WRITER_TRIM_BYTES keeps what the writer freed for its next statement; memory held stays
 * bounded by the peak in use (mallopt(3)). The setting is the process's, for every
 * thread's arena; the collector's other threads free little at a time and lose nothing. */
#define WRITER_TRIM_BYTES (32 << 20)

static void keep_freed_memory(void)
{
#ifdef M_TRIM_THRESHOLD
    mallopt(M_TRIM_THRESHOLD, WRITER_TRIM_BYTES);
#endif
}

int writer_start(struct writer **out, struct store *s, size_t queue_max, size_t batch_rows,
                 int batch_ms, void (*wake)(void *ctx), void *ctx, char *err, size_t errlen)
{
    struct writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    keep_freed_memory();
    if (store_defer_checkpoints(s, err, errlen) < 0) {
        free(w);
        return -1;
    }
    w->store = s;
    w->queue_max = queue_max;
    w->batch_rows = batch_rows ? batch_rows : 1;
    w->batch_ms = batch_ms;
    w->wake = wake;
    w->wake_ctx = ctx;
    w->stats.db_bytes = store_bytes(s);
    w->stats.oldest_raw_ms = w->stats.oldest_rollup_ms = -1;
    spool_figures(w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int writer_submit(struct writer *w, struct writer_item *item)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping || w->queued >= w->queue_max) {
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    item->next = NULL;
    writer_list_append(&w->queue, item);
    w->queued++;
    w->stats.queued = (long long)w->queued;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

struct writer_item *writer_take_done(struct writer *w, int tsi)
{
    pthread_mutex_lock(&w->lock);
    struct writer_item *d = writer_list_take(&w->done[tsi]);
    pthread_mutex_unlock(&w->lock);
    return d;
}

void writer_stop(struct writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    for (int i = 0; i < WRITER_DONE_LISTS; i++)
        writer_items_free(writer_list_take(&w->done[i]));
    store_close(w->store);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

const struct writer_stats *writer_stats(const struct writer *w)
{
    return &w->stats;
}
