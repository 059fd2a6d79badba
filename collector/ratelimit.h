/*
 * ratelimit: token buckets per client address, and one for the whole server.
 *
 * A client may send `burst` requests at once and `rate` per second after that. The table
 * of clients has a fixed size: when it is full, the client seen longest ago is forgotten
 * (it gets a full bucket when it comes back), so memory stays bounded whatever the
 * number of addresses. Addresses are used here only and never stored.
 */
#ifndef VIGIL_RATELIMIT_H
#define VIGIL_RATELIMIT_H

#include <stddef.h>

#define RATELIMIT_SLOTS 65536      /* clients remembered at once */
#define RATELIMIT_KEY_MAX 48       /* an IPv6 address in text */

struct ratelimit;

/* A limiter of rate requests per second per client with the given burst, and a global
 * ceiling of global_rate per second (0: none). Returns NULL when memory ran out. */
struct ratelimit *ratelimit_new(double rate, double burst, double global_rate);

void ratelimit_free(struct ratelimit *r);

/* Takes one token for client at time now_ms. Returns 0 if allowed, else the seconds the
 * client should wait (for Retry-After, at least 1). Safe from several threads at once. */
int ratelimit_take(struct ratelimit *r, const char *client, double now_ms);

#endif
