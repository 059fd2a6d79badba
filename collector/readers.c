#include "readers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"

struct readers {
    pthread_t threads[READERS_MAX];
    struct store *stores[READERS_MAX];
    int n, started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct writer_list queue;               /* submitted */
    struct writer_list done[WRITER_DONE_LISTS];  /* finished, not yet taken, per tsi */
    size_t queued, queue_max;
    int timeout_ms;                         /* a statement's and a queued call's limit */
    int stopping;
    void (*wake)(void *ctx);
    void *wake_ctx;
};

struct thread_arg {
    struct readers *r;
    struct store *s;
};

static void *reader_main(void *arg)
{
    struct readers *r = ((struct thread_arg *)arg)->r;
    struct store *s = ((struct thread_arg *)arg)->s;
    free(arg);
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->queue.head && !r->stopping)
            pthread_cond_wait(&r->cond, &r->lock);
        struct writer_item *it = r->stopping ? NULL : writer_list_pop(&r->queue);
        if (!it)
            break;
        r->queued--;
        pthread_mutex_unlock(&r->lock);

        double waited = clock_mono_ms() - it->queued_ms;
        if (r->timeout_ms > 0 && waited > r->timeout_ms) {
            char why[160];
            snprintf(why, sizeof why, "the read queue is busy: this call waited %.0f ms, past"
                     " the read time limit of %d ms (--read-timeout); ask again", waited,
                     r->timeout_ms);
            it->status = 503;
            json_decref(it->response);
            it->response = json_pack("{s:s}", "error", why);
        } else {
            it->call(s, it);
        }

        pthread_mutex_lock(&r->lock);
        writer_done_append(r->done, it);
        pthread_mutex_unlock(&r->lock);
        if (r->wake)
            r->wake(r->wake_ctx);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int readers_start(struct readers **out, const struct store_opts *o, int n, int timeout_ms,
                  size_t queue_max, void (*wake)(void *ctx), void *ctx, char *err,
                  size_t errlen)
{
    struct readers *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (n < 1 || n > READERS_MAX) {
        snprintf(err, errlen, "--readers takes 1 to %d", READERS_MAX);
        free(r);
        return -1;
    }
    r->n = n;
    r->queue_max = queue_max;
    r->timeout_ms = timeout_ms;
    r->wake = wake;
    r->wake_ctx = ctx;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    struct store_opts ro = *o;
    ro.readonly = 1;
    for (int i = 0; i < n; i++) {
        if (store_open_opts(&r->stores[i], &ro, err, errlen) < 0)
            goto fail;
        store_set_timeout(r->stores[i], timeout_ms);
    }
    for (int i = 0; i < n; i++) {
        struct thread_arg *a = malloc(sizeof *a);
        if (a) {
            a->r = r;
            a->s = r->stores[i];
        }
        if (!a || pthread_create(&r->threads[i], NULL, reader_main, a) != 0) {
            free(a);
            snprintf(err, errlen, "cannot start the reader threads");
            goto fail;
        }
        r->started++;
    }
    *out = r;
    return 0;
fail:
    readers_stop(r);
    return -1;
}

int readers_submit(struct readers *r, struct writer_item *item)
{
    pthread_mutex_lock(&r->lock);
    if (r->stopping || r->queued >= r->queue_max) {
        pthread_mutex_unlock(&r->lock);
        return -1;
    }
    item->next = NULL;
    item->queued_ms = clock_mono_ms();
    writer_list_append(&r->queue, item);
    r->queued++;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

int readers_forget(struct readers *r, uint64_t id)
{
    struct writer_item *gone = NULL, *prev = NULL;
    if (!r || !id)
        return 0;
    pthread_mutex_lock(&r->lock);
    for (struct writer_item *it = r->queue.head; it; prev = it, it = it->next) {
        if (it->id != id)
            continue;
        gone = it;
        if (prev)
            prev->next = it->next;
        else
            r->queue.head = it->next;
        if (r->queue.tail == it)
            r->queue.tail = prev;
        it->next = NULL;
        r->queued--;
        break;
    }
    pthread_mutex_unlock(&r->lock);
    writer_item_free(gone);
    return gone != NULL;
}

struct writer_item *readers_take_done(struct readers *r, int tsi)
{
    pthread_mutex_lock(&r->lock);
    struct writer_item *d = writer_list_take(&r->done[tsi]);
    pthread_mutex_unlock(&r->lock);
    return d;
}

void readers_cancel(struct readers *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    int first = !r->stopping;
    r->stopping = 1;
    for (struct writer_item *it = r->queue.head; it; it = it->next) {
        it->status = 503;
        json_decref(it->response);
        it->response = json_pack("{s:s}", "error", "the collector is stopping: ask again"
                                 " once it is back");
    }
    struct writer_item *queued = writer_list_take(&r->queue);
    if (queued)
        writer_done_append(r->done, queued);
    r->queued = 0;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    /* The connections stay open until readers_stop: interrupting one is safe from here. */
    for (int i = 0; first && i < r->n; i++)
        if (r->stores[i])
            store_interrupt(r->stores[i]);
    if (queued && r->wake)
        r->wake(r->wake_ctx);
}

void readers_stop(struct readers *r)
{
    if (!r)
        return;
    readers_cancel(r);
    for (int i = 0; i < r->started; i++)
        pthread_join(r->threads[i], NULL);
    for (int i = 0; i < WRITER_DONE_LISTS; i++)
        writer_items_free(writer_list_take(&r->done[i]));
    writer_items_free(writer_list_take(&r->queue));
    for (int i = 0; i < r->n; i++)
        store_close(r->stores[i]);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r);
}
