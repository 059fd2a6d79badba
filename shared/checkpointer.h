/*
 * checkpointer: a thread that checkpoints one SQLite database's WAL through a connection
 * of its own, so that a checkpoint's copying and its two fsyncs (the WAL's, then the
 * database file's) do not hold up the connection that writes. shared/store.c's
 * store_checkpoint decides when to start one and finishes each with a short checkpoint of
 * its own (store.h); this module only runs them.
 *
 * A PASSIVE checkpoint (sqlite.org/c3ref/wal_checkpoint_v2.html) copies the frames that
 * were in the WAL when it began and no reader still needs; a writer on another connection
 * may keep committing meanwhile. It takes no lock a writer waits for.
 */
#ifndef VIGIL_CHECKPOINTER_H
#define VIGIL_CHECKPOINTER_H

#include <stddef.h>

struct checkpointer;

/* Opens path (a database in WAL mode) on a connection of its own and starts the thread,
 * named name (at most 15 bytes, for ps and gdb). 0, or -1 with err; the caller frees
 * *out with checkpointer_free. */
int checkpointer_new(struct checkpointer **out, const char *path, const char *name,
                     char *err, size_t errlen);

/* Starts a PASSIVE checkpoint on the thread and returns at once. Only one runs at a
 * time: a call while one runs is a no-op. */
void checkpointer_start(struct checkpointer *c);

/* The checkpoint started last: 0 while it runs (or when none was started since the last
 * result was taken); 1 once it is done, with *copied the WAL's frames now in the
 * database (sqlite3_wal_checkpoint_v2's pnCkpt); -1 when it failed, with err. A result
 * is taken once. */
int checkpointer_result(struct checkpointer *c, int *copied, char *err, size_t errlen);

/* Waits for a running checkpoint to end, stops the thread and closes its connection.
 * NULL is a no-op. */
void checkpointer_free(struct checkpointer *c);

#endif
