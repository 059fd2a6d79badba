/*
 * text: small string helpers shared by the binaries: excerpts safe to print, the
 * nearest valid word for "did you mean", and masking of secret values.
 */
#ifndef VIGIL_TEXT_H
#define VIGIL_TEXT_H

#include <stddef.h>

/* Returns a newly allocated copy of the first bytes of s (len bytes) that is valid UTF-8
 * and at most about max bytes long: invalid bytes become '?', and "..." marks a cut.
 * The caller frees it with free(). NULL only when memory ran out. */
char *text_excerpt(const char *s, size_t len, size_t max);

/* Returns the candidate (from a NULL-terminated list) closest to word by edit distance
 * if it is close enough to be a likely typo (distance at most 1 + strlen(word) / 3),
 * else NULL. The result points into the list. */
const char *text_nearest(const char *word, const char *const *candidates);

/* Returns a newly allocated copy of s with every occurrence of each of the n secrets
 * (empty ones are ignored) replaced by "***". The caller frees it. NULL only when memory
 * ran out. */
char *text_mask(const char *s, const char *const *secrets, size_t n);

/* The name rule of apps, versions, regions and run ids: 1 to TEXT_NAME_MAX letters,
 * digits or . _ + - (TEXT_NAME_RULE says it in words). 1 if name follows it. */
#define TEXT_NAME_MAX 64
#define TEXT_NAME_RULE "1-64 letters, digits or . _ + -"
int text_name_ok(const char *name);

/* Writes the current UTC time, or the given Unix time in ms, as RFC 3339 with
 * milliseconds ("2026-11-28T02:16:40.123Z") into dst (at least 25 bytes). */
void text_rfc3339(char *dst, size_t dstlen, long long unix_ms);

/* Unix ms of an RFC 3339 time ("2026-11-28T02:16:40.123Z", or with an offset), or -1. */
long long text_rfc3339_ms(const char *t);

#endif
