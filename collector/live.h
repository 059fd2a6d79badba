/*
 * live: the WebSocket /v1/live (protocol "vigil-live", collector/README.md "Live
 * updates"): pages subscribe to an app and hear, about once a second, what changed.
 * Shared by the service threads: every function may be called from any of them.
 */
#ifndef VIGIL_LIVE_H
#define VIGIL_LIVE_H

#include <libwebsockets.h>

#define LIVE_MSG_MAX 512

enum live_change { LIVE_BEACONS, LIVE_PROBES, LIVE_DEPLOYMENTS, LIVE_VERDICTS, LIVE_N };

struct live;

/* NULL without memory; live_free(NULL) is a no-op. */
struct live *live_new(void);
void live_free(struct live *l);

/* Something of app changed (app NULL: nothing to say). Only apps some page watches are
 * kept: for any other this costs a lookup and nothing else. */
void live_changed(struct live *l, const char *app, enum live_change what);

/* Once a second on each service thread: each page of that thread (tsi) whose app changed
 * since it was last told gets an update. */
void live_tick(struct live *l, int tsi);

/* The "vigil-live" protocol's callback and its per-connection size (lws_protocols). */
int live_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);
extern const size_t live_pss_size;

#endif
