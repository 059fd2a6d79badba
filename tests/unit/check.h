/*
 * A minimal unit-test harness: each CHECK prints one TAP-style line that tests/run
 * counts ("ok - name" or "not ok - name: detail"). check_done() returns the exit code.
 */
#ifndef VIGIL_CHECK_H
#define VIGIL_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond, ...) do { \
        if (cond) { \
            printf("ok - "); printf(__VA_ARGS__); printf("\n"); \
        } else { \
            check_failures++; \
            printf("not ok - "); printf(__VA_ARGS__); \
            printf(" (%s:%d: %s)\n", __FILE__, __LINE__, #cond); \
        } \
    } while (0)

/* Compares two strings, printing both when they differ. NULL is shown as (null). */
#define CHECK_STR(got, want, ...) do { \
        const char *g_ = (got), *w_ = (want); \
        int same_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_; \
        if (same_) { \
            printf("ok - "); printf(__VA_ARGS__); printf("\n"); \
        } else { \
            check_failures++; \
            printf("not ok - "); printf(__VA_ARGS__); \
            printf(": got \"%s\", want \"%s\" (%s:%d)\n", g_ ? g_ : "(null)", \
                   w_ ? w_ : "(null)", __FILE__, __LINE__); \
        } \
    } while (0)

static inline int check_done(void)
{
    return check_failures ? 1 : 0;
}

#endif
