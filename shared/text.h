/*
 * text: small string helpers shared by the binaries: excerpts safe to print, the
 * nearest valid word for "did you mean", and masking of secret values.
 */
#ifndef VIGIL_TEXT_H
#define VIGIL_TEXT_H

#include <stdarg.h>
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

/* The duration syntax of every option and query argument (probe --every, collector
 * --since, --probe-silence, max_age, warmup, since): a non-negative decimal number and a
 * unit, ms, s, m, h or d (a bare number is seconds), at most TEXT_DURATION_MAX_MS.
 * TEXT_DURATION_RULE says it in words. Returns 0 with *ms, or -1 (nothing else, no
 * sign, no exponent overflow: "1e300" and "9223372036854775807ms" are errors). */
#define TEXT_DURATION_MAX_MS (3650LL * 86400000LL)   /* ten years */
#define TEXT_DURATION_RULE "a number and a unit: ms, s, m, h or d (90s, 15m, 1h)"
int text_duration_ms(const char *text, long long *ms);

/* Writes a document's error as "field: reason" (the reason alone when field is ""),
 * the shape of every error that names a field (beacons, probe results). */
void text_field_error(char *err, size_t errlen, const char *field, const char *fmt,
                      va_list ap) __attribute__((format(printf, 4, 0)));

/* Writes the current UTC time, or the given Unix time in ms, as RFC 3339 with
 * milliseconds ("2026-11-28T02:16:40.123Z") into dst (at least 25 bytes). */
void text_rfc3339(char *dst, size_t dstlen, long long unix_ms);

/* Unix ms of an RFC 3339 date-time (RFC 3339 section 5.6: "2026-11-28T02:16:40.123Z", or
 * with an offset "+02:00"; 't' and 'z' allowed; a leap second counts as the second
 * before it), or -1 when t is not one. The one parser of RFC 3339 times. */
long long text_rfc3339_ms(const char *t);

#endif
