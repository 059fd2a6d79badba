/*
 * spool: results waiting to be delivered, one file each in a folder, oldest first.
 *
 * A file is written whole or not at all (write to a temporary name, fsync, rename,
 * fsync the folder), so a result spooled before a crash or kill -9 is there after it.
 * Names carry a sequence number so that delivery keeps the order of the runs. When the
 * folder holds max files, the oldest is dropped (and counted) to make room.
 */
#ifndef VIGIL_SPOOL_H
#define VIGIL_SPOOL_H

#include <stddef.h>

#define SPOOL_FILE_MAX (16 * 1024 * 1024)

struct spool;

/* Opens (creating if needed) the spool folder dir holding at most max results.
 * Returns 0 with *out, or -1 with err. */
int spool_open(struct spool **out, const char *dir, size_t max, char *err, size_t errlen);

void spool_close(struct spool *s);

/* Adds a result (JSON text). Returns 0, or -1 with err (nothing added). */
int spool_add(struct spool *s, const char *text, size_t len, char *err, size_t errlen);

/* Reads the oldest result into a new buffer *text (free() it) of *len bytes, and its
 * name into name. Returns 1 if there is one, 0 if the spool is empty, -1 on error. */
int spool_oldest(struct spool *s, char *name, size_t namelen, char **text, size_t *len,
                 char *err, size_t errlen);

/* Removes a delivered result by name. */
void spool_remove(struct spool *s, const char *name);

/* Results waiting, and results dropped because the spool was full (since open). */
size_t spool_count(struct spool *s);
size_t spool_dropped(const struct spool *s);

#endif
