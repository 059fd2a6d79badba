#include "live.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "text.h"

static const char *const change_names[LIVE_N] = {"beacons", "probes", "deployments",
                                                 "verdicts"};

/* An app some page watches. Only watched apps have an entry (a beacon of an app nobody
 * watches costs one lookup and leaves nothing behind), and an entry lives as long as a
 * page watches it: no sender can push a watched app out. There is one entry per app
 * watched, so the table is bounded by the open connections (--max-connections). */
struct live_app {
    char app[TEXT_NAME_MAX + 1];
    long long seq[LIVE_N];      /* when each kind of data last changed */
    size_t watchers;            /* pages subscribed to it */
};

/* Per connection: lws allocates it (live_pss_size). */
struct live_pss {
    struct lws *wsi;
    char app[TEXT_NAME_MAX + 1];  /* subscribed app, "" before the page said */
    long long seen[LIVE_N];     /* what the page was told */
    long long sent_ms;          /* when it was last sent an update */
    int hello;                  /* owes the page its "subscribed" answer */
    int tsi;                    /* the service thread of its connection */
    struct live_pss *next;
};

const size_t live_pss_size = sizeof(struct live_pss);

/* Shared by the service threads: every entry point takes the lock. */
struct live {
    pthread_mutex_t lock;
    struct live_app *apps;      /* the watched apps, napps of them in cap slots */
    size_t napps, cap;
    long long seq;
    struct live_pss *conns;     /* open live connections */
};

struct live *live_new(void)
{
    struct live *l = calloc(1, sizeof(struct live));
    if (l)
        pthread_mutex_init(&l->lock, NULL);
    return l;
}

void live_free(struct live *l)
{
    if (l) {
        pthread_mutex_destroy(&l->lock);
        free(l->apps);
    }
    free(l);
}

static struct live_app *live_app(struct live *l, const char *app)
{
    for (size_t i = 0; i < l->napps; i++)
        if (strcmp(l->apps[i].app, app) == 0)
            return &l->apps[i];
    return NULL;
}

/* One more page watches app: its entry, created with nothing changed yet; NULL without
 * memory. */
static struct live_app *live_watch(struct live *l, const char *app)
{
    struct live_app *a = live_app(l, app);
    if (!a) {
        if (l->napps == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 16;
            struct live_app *grown = realloc(l->apps, cap * sizeof *grown);
            if (!grown)
                return NULL;
            l->apps = grown;
            l->cap = cap;
        }
        a = &l->apps[l->napps++];
        memset(a, 0, sizeof *a);
        snprintf(a->app, sizeof a->app, "%s", app);
    }
    a->watchers++;
    return a;
}

/* One page less watches app; the last one takes its entry away. */
static void live_unwatch(struct live *l, const char *app)
{
    struct live_app *a = app[0] ? live_app(l, app) : NULL;
    if (a && --a->watchers == 0)
        *a = l->apps[--l->napps];
}

void live_changed(struct live *l, const char *app, enum live_change what)
{
    if (!app)
        return;
    pthread_mutex_lock(&l->lock);
    struct live_app *a = live_app(l, app);
    if (a)
        a->seq[what] = ++l->seq;
    pthread_mutex_unlock(&l->lock);
}

void live_tick(struct live *l, int tsi)
{
    pthread_mutex_lock(&l->lock);
    for (struct live_pss *p = l->conns; p; p = p->next) {
        if (p->tsi != tsi)
            continue;
        const struct live_app *a = p->app[0] ? live_app(l, p->app) : NULL;
        int changed = p->hello;
        for (int c = 0; a && c < LIVE_N; c++)
            changed |= a->seq[c] > p->seen[c];
        if (changed)
            lws_callback_on_writable(p->wsi);
    }
    pthread_mutex_unlock(&l->lock);
}

/* The page's next message into out (LIVE_MSG_MAX bytes): its "subscribed" answer, or
 * what changed since it was last told. Returns its length, 0 for nothing to say, or -1
 * when it does not fit. Called locked. */
static int next_message(struct live *l, struct live_pss *p, char *out)
{
    int n;
    if (p->hello) {
        p->hello = 0;
        n = snprintf(out, LIVE_MSG_MAX, "{\"type\":\"subscribed\",\"app\":\"%s\",\"seq\":%lld}",
                     p->app, l->seq);
        return n < LIVE_MSG_MAX ? n : -1;
    }
    const struct live_app *a = live_app(l, p->app);
    if (!a)
        return 0;
    n = snprintf(out, LIVE_MSG_MAX, "{\"type\":\"update\",\"app\":\"%s\",\"seq\":%lld,"
                 "\"changed\":[", p->app, l->seq);
    int first = 1;
    for (int c = 0; c < LIVE_N; c++) {
        if (a->seq[c] <= p->seen[c])
            continue;
        n += snprintf(out + n, (size_t)(LIVE_MSG_MAX - n), "%s\"%s\"", first ? "" : ",",
                      change_names[c]);
        first = 0;
        p->seen[c] = a->seq[c];
    }
    n += snprintf(out + n, (size_t)(LIVE_MSG_MAX - n), "]}");
    if (first)
        return 0;
    return n < LIVE_MSG_MAX ? n : -1;
}

int live_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct live_pss *p = user;
    struct live *l = server_pt_of(wsi)->srv->live;

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(p, 0, sizeof *p);
        p->wsi = wsi;
        p->tsi = server_pt_of(wsi)->tsi;
        pthread_mutex_lock(&l->lock);
        p->next = l->conns;
        l->conns = p;
        pthread_mutex_unlock(&l->lock);
        return 0;
    case LWS_CALLBACK_RECEIVE: {
        json_t *msg = len < 1024 ? json_loadb(in, len, 0, NULL) : NULL;
        const char *app = json_string_value(json_object_get(msg, "app"));
        int rc = 0;
        pthread_mutex_lock(&l->lock);
        if (text_name_ok(app) && strcmp(app, p->app) != 0) {
            if (live_watch(l, app)) {
                live_unwatch(l, p->app);
                snprintf(p->app, sizeof p->app, "%s", app);
            } else {
                rc = -1;                /* out of memory: close this page */
            }
        }
        if (rc == 0 && text_name_ok(app)) {
            const struct live_app *a = live_app(l, p->app);
            for (int c = 0; c < LIVE_N; c++)
                p->seen[c] = a->seq[c];
            p->hello = 1;
            lws_callback_on_writable(wsi);
        }
        pthread_mutex_unlock(&l->lock);
        json_decref(msg);
        return rc;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        unsigned char buf[LWS_PRE + LIVE_MSG_MAX];
        char *out = (char *)buf + LWS_PRE;
        pthread_mutex_lock(&l->lock);
        int n = next_message(l, p, out);
        pthread_mutex_unlock(&l->lock);
        if (n < 0 || (n > 0 && lws_write(wsi, (unsigned char *)out, (size_t)n, LWS_WRITE_TEXT) < n))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        pthread_mutex_lock(&l->lock);
        live_unwatch(l, p->app);
        p->app[0] = '\0';
        for (struct live_pss **q = &l->conns; *q; q = &(*q)->next) {
            if (*q == p) {
                *q = p->next;
                break;
            }
        }
        pthread_mutex_unlock(&l->lock);
        return 0;
    default:
        return 0;
    }
}
