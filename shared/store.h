/*
 * store: Vigil's SQLite database (schema: collector/README.md).
 *
 * One writer (the collector's writer thread) inserts beacons in transactions it groups
 * itself; any number of readers (the CLI verbs, another process) query the same file,
 * which WAL mode allows. A struct store is used by one thread at a time.
 */
#ifndef VIGIL_STORE_H
#define VIGIL_STORE_H

#include <jansson.h>
#include <stddef.h>

#define STORE_SCHEMA_VERSION 1

struct store;

/* What the server adds to a beacon it accepted. */
struct beacon_meta {
    long long received_ms;   /* server time, Unix ms */
    char browser[24];
    int browser_major;
    char os[16];
    char device[8];
    char country[8];         /* from the trusted country header, "" if none */
};

/* Opens (creating and migrating when writable) the database at path. readonly != 0 opens
 * an existing file for queries only. Returns 0 with *out (close with store_close()), or
 * -1 with a message in err. */
int store_open(struct store **out, const char *path, int readonly, char *err, size_t errlen);

void store_close(struct store *s);

/* Transactions around store_insert_beacon calls. Each returns 0 or -1 with err. */
int store_begin(struct store *s, char *err, size_t errlen);
int store_commit(struct store *s, char *err, size_t errlen);
void store_rollback(struct store *s);

/* Inserts one validated beacon (beacon_validate) with its server metadata: its page view
 * (merged with earlier beacons of the same app and pv), its metrics (a metric whose id
 * was seen before for the app replaces the earlier value) and its errors (grouped by
 * fingerprint). Returns the number of rows written, or -1 with err. */
int store_insert_beacon(struct store *s, const json_t *beacon, const struct beacon_meta *m,
                        char *err, size_t errlen);

/* Loads the values of one metric of one version of an app received in
 * [since_ms, until_ms), sorted ascending, into a new array *values (free() it) of *n.
 * Returns 0 or -1 with err. */
int store_metric_values(struct store *s, const char *app, const char *version,
                        const char *metric, long long since_ms, long long until_ms,
                        double **values, size_t *n, char *err, size_t errlen);

/* Size of the database file and its WAL, in bytes. */
long long store_bytes(struct store *s);

#endif
