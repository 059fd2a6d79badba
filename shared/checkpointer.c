/* checkpointer: a thread of its own for a WAL database's checkpoints (checkpointer.h). */
#include "checkpointer.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { IDLE, ASKED, RUNNING, DONE };

struct checkpointer {
    sqlite3 *db;
    pthread_t thread;
    int started;                /* the thread runs */
    pthread_mutex_t lock;       /* guards what follows */
    pthread_cond_t cond;
    int state;                  /* IDLE, ASKED, RUNNING, DONE */
    int stopping;
    int rc;                     /* the last checkpoint's SQLite result code */
    int copied;                 /* ... and the frames it left in the database */
    char why[256];              /* ... and SQLite's message when it failed */
};

static void *checkpointer_main(void *arg)
{
    struct checkpointer *c = arg;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (c->state != ASKED && !c->stopping)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->stopping)
            break;
        c->state = RUNNING;
        pthread_mutex_unlock(&c->lock);

        int copied = -1;
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                           &copied);

        pthread_mutex_lock(&c->lock);
        c->rc = rc;
        c->copied = copied;
        if (rc != SQLITE_OK)
            snprintf(c->why, sizeof c->why, "%s", sqlite3_errmsg(c->db));
        c->state = DONE;
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int checkpointer_new(struct checkpointer **out, const char *path, const char *name,
                     char *err, size_t errlen)
{
    struct checkpointer *c = calloc(1, sizeof *c);
    int rc = -1;

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    /* synchronous=NORMAL, as the writer's connection: a checkpoint syncs the WAL before it
     * copies and the database file after (sqlite.org/pragma.html#pragma_synchronous). It
     * never commits, so its own automatic checkpoint never runs. */
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)
            != SQLITE_OK
        || sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "opening the database for its checkpoints: %s",
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto out;
    }
    if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) {
        snprintf(err, errlen, "cannot start the checkpoint thread");
        goto out;
    }
    c->started = 1;
    pthread_setname_np(c->thread, name);
    *out = c;
    c = NULL;
    rc = 0;
out:
    checkpointer_free(c);
    return rc;
}

void checkpointer_start(struct checkpointer *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->state == IDLE || c->state == DONE) {
        c->state = ASKED;
        pthread_cond_signal(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

int checkpointer_result(struct checkpointer *c, int *copied, char *err, size_t errlen)
{
    int r = 0;

    pthread_mutex_lock(&c->lock);
    if (c->state == DONE) {
        c->state = IDLE;
        *copied = c->copied;
        r = 1;
        if (c->rc != SQLITE_OK) {
            snprintf(err, errlen, "checkpointing the WAL: %s", c->why);
            r = -1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

void checkpointer_free(struct checkpointer *c)
{
    if (!c)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stopping = 1;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
    }
    sqlite3_close(c->db);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
