/*
 * fspool: a folder of records waiting to be delivered, one file each, oldest first, the
 * spool of the collector's ClickHouse batches (collector/README.md, "ClickHouse") and,
 * in its drop-oldest form, what probe/spool.c does for probe results.
 *
 * A record is written whole or not at all: to a temporary name, fsync, rename, fsync of
 * the folder (the rename is atomic, POSIX rename(2); the folder's fsync makes the new name
 * durable), so a record that fspool_add acknowledged is there after a crash or kill -9.
 * Names are zero-padded sequence numbers plus a suffix, so that the oldest is the first
 * in name order and delivery keeps the order of the adds. The folder is bounded by files
 * and by bytes: past a bound, either the oldest records are dropped (and counted) to make
 * room, or the add is refused with a sentence that names the bound (a record whose
 * sender was told "stored" must never be dropped).
 *
 * With lock set, fspool_open takes an exclusive flock(2) on DIR/.lock for as long as the
 * spool is open, so that two processes never replay the same records.
 *
 * A struct fspool is used by one thread; fspool_files and fspool_bytes may be read from
 * any thread (relaxed atomics, for /metrics).
 */
#ifndef VIGIL_FSPOOL_H
#define VIGIL_FSPOOL_H

#include <stdatomic.h>
#include <stddef.h>

#define FSPOOL_NAME_MAX 64

struct fspool_opts {
    const char *suffix;                 /* e.g. ".batch"; at most 16 characters */
    size_t max_files;                   /* 0: no bound */
    unsigned long long max_bytes;       /* 0: no bound */
    int drop_oldest;                    /* past a bound: drop the oldest, else refuse */
    int lock;                           /* flock DIR/.lock while open */
    size_t record_max;                  /* bytes of one record (adds and reads) */
};

struct fspool;

/* Opens (creating with mode 700 if needed) the folder dir: counts its records and their
 * bytes, removes temporary files a crash left, and continues the sequence. Returns 0 with
 * *out, or -1 with err (the folder cannot be made or read; another process holds the
 * lock). */
int fspool_open(struct fspool **out, const char *dir, const struct fspool_opts *o,
                char *err, size_t errlen);
void fspool_close(struct fspool *s);

/* Adds a record of len bytes. Returns 0 once it is durable, or -1 with err (nothing
 * added): a bound reached with drop_oldest unset, a record over record_max, or the disk. */
int fspool_add(struct fspool *s, const void *data, size_t len, char *err, size_t errlen);

/* Reads the oldest record into a new buffer *data (free() it) of *len bytes, and its name
 * into name. Returns 1, 0 when the spool is empty, or -1 with err. */
int fspool_oldest(struct fspool *s, char name[FSPOOL_NAME_MAX], char **data, size_t *len,
                  char *err, size_t errlen);

/* Removes a delivered record by name (the name fspool_oldest gave). 0 or -1 with err. */
int fspool_remove(struct fspool *s, const char *name, char *err, size_t errlen);

/* Moves a record that cannot be delivered (its contents are broken) aside as NAME.bad,
 * so that the records after it are not held up; counted in fspool_dropped. 0 or -1. */
int fspool_set_aside(struct fspool *s, const char *name, char *err, size_t errlen);

/* Records and bytes waiting; records dropped or set aside since open. */
size_t fspool_files(const struct fspool *s);
unsigned long long fspool_bytes(const struct fspool *s);
size_t fspool_dropped(const struct fspool *s);

#endif
