/*
 * Tests of collector/readers.c: the queue in front of the reader threads.
 *  - a call whose client left before it started is dropped (readers_forget) and never
 *    runs; a running or unknown one is not touched;
 *  - a call that waited in the queue past the read time limit is answered 503 with a
 *    reason naming the limit, without running;
 *  - a call queued within the limit runs.
 * The reader's one thread is held by a call that blocks until the test lets it go, so
 * the order of events is fixed by the test, not by timing luck.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "readers.h"
#include "store.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int held, released, ran[8];

static void blocking_call(struct store *s, struct writer_item *it)
{
    (void)s;
    pthread_mutex_lock(&lock);
    held = 1;
    pthread_cond_broadcast(&cond);
    while (!released)
        pthread_cond_wait(&cond, &lock);
    ran[it->id] = 1;
    pthread_mutex_unlock(&lock);
    it->status = 200;
}

static void quick_call(struct store *s, struct writer_item *it)
{
    (void)s;
    pthread_mutex_lock(&lock);
    ran[it->id] = 1;
    pthread_mutex_unlock(&lock);
    it->status = 200;
}

static struct writer_item *item(uint64_t id, writer_call_fn fn)
{
    struct writer_item *it = calloc(1, sizeof *it);
    it->id = id;
    it->call = fn;
    return it;
}

/* Waits (bounded) until n items are done; returns them in a list of at most 8. */
static size_t take(struct readers *r, struct writer_item **out, size_t n)
{
    size_t got = 0;
    for (int tries = 0; got < n && tries < 1000; tries++) {
        for (struct writer_item *d = readers_take_done(r, 0), *next; d; d = next) {
            next = d->next;
            d->next = NULL;
            if (got < 8)
                out[got++] = d;
            else
                writer_item_free(d);
        }
        if (got < n)
            usleep(5000);
    }
    return got;
}

static void hold_and_queue(struct readers *r, int timeout_ms)
{
    readers_submit(r, item(1, blocking_call));
    pthread_mutex_lock(&lock);
    while (!held)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    readers_submit(r, item(2, quick_call));
    readers_submit(r, item(3, quick_call));
    if (timeout_ms)
        usleep((useconds_t)timeout_ms * 3000);     /* three times the limit */
}

static void release(void)
{
    pthread_mutex_lock(&lock);
    released = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void reset(void)
{
    held = released = 0;
    memset(ran, 0, sizeof ran);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/vigil-readers-XXXXXX", path[256], err[512];
    struct store *s;
    struct readers *r;
    struct writer_item *done[8];
    (void)argc;
    (void)argv;

    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/v.db", dir);
    if (store_open(&s, path, 0, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    store_close(s);
    struct store_opts so = {.db = path, .readonly = 1};

    /* A generous limit: the forgotten call is dropped, the others run. */
    reset();
    CHECK(readers_start(&r, &so, 1, 60000, 100, NULL, NULL, err, sizeof err) == 0,
          "readers start: %s", err);
    hold_and_queue(r, 0);
    CHECK(readers_forget(r, 2) == 1, "a queued call whose client left is dropped");
    CHECK(readers_forget(r, 2) == 0, "dropping it again finds nothing");
    CHECK(readers_forget(r, 1) == 0, "a running call is not dropped");
    CHECK(readers_forget(r, 77) == 0, "an unknown id is not dropped");
    release();
    size_t n = take(r, done, 2);
    CHECK(n == 2, "two calls come back (got %zu)", n);
    CHECK(ran[1] && !ran[2] && ran[3], "the dropped call never ran; the others did");
    for (size_t i = 0; i < n; i++) {
        CHECK(done[i]->id != 2, "the dropped call is not handed back");
        CHECK(done[i]->status == 200, "call %llu answered 200", (unsigned long long)done[i]->id);
        writer_item_free(done[i]);
    }
    readers_stop(r);

    /* A short limit: calls that waited three times as long are refused, not run. */
    reset();
    CHECK(readers_start(&r, &so, 1, 50, 100, NULL, NULL, err, sizeof err) == 0,
          "readers start: %s", err);
    hold_and_queue(r, 50);
    release();
    n = take(r, done, 3);
    CHECK(n == 3, "three calls come back (got %zu)", n);
    CHECK(ran[1] && !ran[2] && !ran[3], "the calls that waited past the limit never ran");
    for (size_t i = 0; i < n; i++) {
        const char *e = json_string_value(json_object_get(done[i]->response, "error"));
        if (done[i]->id == 1) {
            CHECK(done[i]->status == 200, "the running call finished");
        } else {
            CHECK(done[i]->status == 503, "a call that waited too long is 503");
            CHECK(e && strstr(e, "--read-timeout") && strstr(e, "50 ms"),
                  "its reason names the limit: %s", e ? e : "(none)");
        }
        writer_item_free(done[i]);
    }
    readers_stop(r);

    snprintf(err, sizeof err, "rm -rf %s", dir);
    if (system(err) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return check_done();
}
