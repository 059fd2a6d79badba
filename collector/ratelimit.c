#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PROBES 8    /* slots looked at for one client before evicting */

struct slot {
    char key[RATELIMIT_KEY_MAX];
    double tokens;
    double last_ms;
};

struct ratelimit {
    pthread_mutex_t lock;       /* the service threads share the buckets */
    double rate, burst;
    double global_rate, global_tokens, global_last;
    struct slot *slots;
};

struct ratelimit *ratelimit_new(double rate, double burst, double global_rate)
{
    struct ratelimit *r = calloc(1, sizeof *r);
    if (!r || !(r->slots = calloc(RATELIMIT_SLOTS, sizeof *r->slots))) {
        free(r);
        return NULL;
    }
    r->rate = rate;
    r->burst = burst < 1 ? 1 : burst;
    r->global_rate = global_rate;
    r->global_tokens = global_rate;
    r->global_last = -1;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void ratelimit_free(struct ratelimit *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r->slots);
    free(r);
}

/* FNV-1a: fast and good enough to spread addresses over the table. */
static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static int wait_secs(double missing, double rate)
{
    double s = rate > 0 ? ceil(missing / rate) : 60;
    return s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
}

/* Called locked. Service threads read the clock before taking the lock, so a time a
 * little older than the bucket's latest adds nothing (max) instead of taking tokens. */
static int take(struct ratelimit *r, const char *client, double now_ms)
{
    if (r->global_rate > 0) {
        if (r->global_last >= 0)
            r->global_tokens = fmin(r->global_rate, r->global_tokens
                                    + fmax(0, now_ms - r->global_last) / 1000.0 * r->global_rate);
        r->global_last = fmax(now_ms, r->global_last);
        if (r->global_tokens < 1)
            return wait_secs(1 - r->global_tokens, r->global_rate);
    }

    uint32_t h = hash(client);
    struct slot *found = NULL, *oldest = NULL;
    for (int i = 0; i < PROBES && !found; i++) {
        struct slot *s = &r->slots[(h + (uint32_t)i) % RATELIMIT_SLOTS];
        if (s->key[0] && strcmp(s->key, client) == 0)
            found = s;
        else if (!oldest || !s->key[0] || (oldest->key[0] && s->last_ms < oldest->last_ms))
            oldest = s;
    }
    if (!found) {
        found = oldest;
        strncpy(found->key, client, RATELIMIT_KEY_MAX - 1);
        found->key[RATELIMIT_KEY_MAX - 1] = '\0';
        found->tokens = r->burst;
        found->last_ms = now_ms;
    }
    found->tokens = fmin(r->burst, found->tokens
                         + fmax(0, now_ms - found->last_ms) / 1000.0 * r->rate);
    found->last_ms = fmax(now_ms, found->last_ms);
    if (found->tokens < 1)
        return wait_secs(1 - found->tokens, r->rate);
    found->tokens -= 1;
    if (r->global_rate > 0)
        r->global_tokens -= 1;
    return 0;
}

int ratelimit_take(struct ratelimit *r, const char *client, double now_ms)
{
    pthread_mutex_lock(&r->lock);
    int wait = take(r, client, now_ms);
    pthread_mutex_unlock(&r->lock);
    return wait;
}
