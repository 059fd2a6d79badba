#include "live.h"

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
    struct live_pss *next;
};

const size_t live_pss_size = sizeof(struct live_pss);

struct live {
    struct live_app *apps;      /* the watched apps, napps of them in cap slots */
    size_t napps, cap;
    long long seq;
    struct live_pss *conns;     /* open live connections */
};

struct live *live_new(void)
{
    return calloc(1, sizeof(struct live));
}

void live_free(struct live *l)
{
    if (l)
        free(l->apps);
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
    struct live_app *a = app ? live_app(l, app) : NULL;
    if (a)
        a->seq[what] = ++l->seq;
}

void live_tick(struct live *l)
{
    for (struct live_pss *p = l->conns; p; p = p->next) {
        const struct live_app *a = p->app[0] ? live_app(l, p->app) : NULL;
        int changed = p->hello;
        for (int c = 0; a && c < LIVE_N; c++)
            changed |= a->seq[c] > p->seen[c];
        if (changed)
            lws_callback_on_writable(p->wsi);
    }
}

int live_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct live_pss *p = user;
    struct live *l = ((struct server *)lws_context_user(lws_get_context(wsi)))->live;

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(p, 0, sizeof *p);
        p->wsi = wsi;
        p->next = l->conns;
        l->conns = p;
        return 0;
    case LWS_CALLBACK_RECEIVE: {
        json_t *msg = len < 1024 ? json_loadb(in, len, 0, NULL) : NULL;
        const char *app = json_string_value(json_object_get(msg, "app"));
        if (text_name_ok(app)) {
            if (strcmp(app, p->app) != 0) {
                if (!live_watch(l, app)) {
                    json_decref(msg);
                    return -1;          /* out of memory: close this page */
                }
                live_unwatch(l, p->app);
                snprintf(p->app, sizeof p->app, "%s", app);
            }
            const struct live_app *a = live_app(l, p->app);
            for (int c = 0; c < LIVE_N; c++)
                p->seen[c] = a->seq[c];
            p->hello = 1;
            lws_callback_on_writable(wsi);
        }
        json_decref(msg);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        unsigned char buf[LWS_PRE + LIVE_MSG_MAX];
        char *out = (char *)buf + LWS_PRE;
        int n;
        if (p->hello) {
            p->hello = 0;
            n = snprintf(out, LIVE_MSG_MAX, "{\"type\":\"subscribed\",\"app\":\"%s\",\"seq\":%lld}",
                         p->app, l->seq);
        } else {
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
        }
        if (n >= LIVE_MSG_MAX || lws_write(wsi, (unsigned char *)out, (size_t)n, LWS_WRITE_TEXT) < n)
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        live_unwatch(l, p->app);
        p->app[0] = '\0';
        for (struct live_pss **q = &l->conns; *q; q = &(*q)->next) {
            if (*q == p) {
                *q = p->next;
                break;
            }
        }
        return 0;
    default:
        return 0;
    }
}
