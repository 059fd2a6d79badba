/*
 * fuzzkit: what the libFuzzer harnesses in tests/fuzz/ share (README.md there).
 *
 * Parsers that read files (journeys, policies, key files) are fed through a private
 * temporary directory that lives as long as the fuzzing process; the store-backed
 * harnesses get an in-memory database with a little data in it.
 */
#ifndef VIGIL_FUZZKIT_H
#define VIGIL_FUZZKIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;

/* The harness's private directory (created on first use, removed with everything in it
 * at exit). Aborts if it cannot be made: a harness without it would test nothing. */
const char *fuzzkit_dir(void);

/* Writes data to name under fuzzkit_dir() with mode, replacing it, and puts the path in
 * path. Aborts on failure. */
void fuzzkit_write(const char *name, const void *data, size_t size, mode_t mode, char *path,
                   size_t pathlen);

/* The property every harness checks on a parser's refusal: when failed, err says why
 * (is not empty), else the harness aborts. Returns failed. */
int fuzzkit_refused(int failed, const char *err);

/* Returns a newly allocated NUL-terminated copy of data (the caller frees it). */
char *fuzzkit_strndup(const uint8_t *data, size_t size);

/* Opens a store on path (":memory:" for one in memory) and stores a few beacons of app
 * "shop" (versions 1.0 and 1.1) and one probe run in it, so that queries reach rows.
 * Aborts on failure. */
struct store *fuzzkit_store(const char *path);

#endif
