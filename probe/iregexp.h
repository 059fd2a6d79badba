/*
 * iregexp: I-Regexp (RFC 9485), the interoperable regular expressions that JSONPath's
 * match() and search() take (RFC 9535 section 2.4.6 and 2.4.7).
 *
 * A pattern is first checked against the I-Regexp grammar (RFC 9485 section 3), then
 * translated as RFC 9485 section 5.3 maps I-Regexp to PCRE: `.` outside a character
 * class becomes `[^\n\r]`, and a whole-string match is enveloped in `^(?:` and `)$`
 * (with PCRE2_DOLLAR_ENDONLY, so `$` is the end of the string, never before a final
 * newline). Everything else passes through unchanged: I-Regexp is a subset of PCRE's
 * syntax, so `^` and `$` written in a pattern keep PCRE's anchor meaning, as the RFC's
 * mapping and the JSONPath Compliance Test Suite have them. The result is compiled with
 * PCRE2_UTF, so `.` and classes work on Unicode scalar values.
 */
#ifndef VIGIL_IREGEXP_H
#define VIGIL_IREGEXP_H

#include <stddef.h>

/* Longest pattern accepted, in bytes, and most nested groups in one. */
#define IREGEXP_MAX_LEN 1024
#define IREGEXP_MAX_NESTING 32
/* PCRE2's match limit per match (its count of backtracking steps): a pattern such as
 * (a*)*b on a long subject stops with an error rather than running for minutes. */
#define IREGEXP_MATCH_LIMIT 1000000

/* What iregexp_compile() and iregexp_exec() return besides 0 and 1. */
#define IREGEXP_INVALID (-1)   /* not an I-Regexp */
#define IREGEXP_LIMIT (-2)     /* beyond one of the limits above, or out of memory */

struct iregexp;

/* Checks that pat (len bytes of UTF-8) is an I-Regexp and compiles it, for a match of
 * the whole subject (whole != 0, as match()) or of a substring (as search()). Returns 0
 * and a new regexp in *out that the caller frees with iregexp_free(), or IREGEXP_INVALID
 * or IREGEXP_LIMIT with a sentence in err that names the offset. */
int iregexp_compile(struct iregexp **out, const char *pat, size_t len, int whole,
                    char *err, size_t errlen);

void iregexp_free(struct iregexp *re);

/* Matches s (len bytes of UTF-8). Returns 1 on a match, 0 on none, or IREGEXP_LIMIT with
 * a sentence in err when the match limit was reached. Safe to call from several threads
 * on one regexp. */
int iregexp_exec(const struct iregexp *re, const char *s, size_t len, char *err,
                 size_t errlen);

#endif
