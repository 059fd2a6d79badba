/*
 * server: the collector's HTTP service on libwebsockets (API: collector/README.md).
 *
 * Everything here runs on the one lws service thread; disk work goes to the writer
 * thread (writer.h), and its results come back through lws_cancel_service.
 */
#ifndef VIGIL_SERVER_H
#define VIGIL_SERVER_H

#include <stddef.h>

#include "store.h"

#define SERVER_ORIGINS_MAX 32
#define SERVER_STATIC_MAX 8
#define SERVER_FILE_MAX (8 * 1024 * 1024)   /* largest static file served */
#define SERVER_PROXIES_MAX 32
#define SERVER_PROBE_SERIES_MAX 1024   /* (app, journey, region, version) in /metrics */
#define SERVER_ALERT_URLS_MAX 8         /* --alert-webhook URLs (alerts.h) */

struct sign_keys;

struct cidr {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
};

struct server_opts {
    const char *host;           /* address to listen on; NULL for all */
    int port;                   /* 0: an ephemeral port */
    const char *port_file;      /* if set, the bound port is written here */
    const char *origins[SERVER_ORIGINS_MAX];
    size_t norigins;            /* "*" among them allows any origin */
    struct cidr proxies[SERVER_PROXIES_MAX];
    size_t nproxies;            /* X-Forwarded-For is trusted only from these */
    const char *country_header; /* e.g. "CF-IPCountry"; NULL for none */
    double rate, burst, global_rate;
    const char *tls_cert, *tls_key;
    int max_conns;
    int idle_timeout_s;
    size_t queue_max, batch_rows;
    int batch_ms;
    const char *token;          /* bearer token for POST /v1/probe-runs and /v1/deployments */
    const char *read_token;     /* if set, needed to read the dashboard API and /v1/live */
    const struct sign_keys *keys; /* probe hosts' keys for signed POST /v1/probe-runs, or NULL */
    const char *db_path;        /* the database the store was opened on, for the readers */
    int readers;                /* reader threads (readers.h) */
    int read_timeout_ms;        /* a read's statement time limit */
    long long retain_raw_ms;    /* keep raw rows this long (0: for ever) */
    long long retain_ms;        /* keep rollups and verdicts this long */
    const char *alert_urls[SERVER_ALERT_URLS_MAX];
    size_t nalert_urls;         /* webhooks that get the alerts (watch.h); 0: none */
    long long probe_silence_ms; /* a region is silent after this; 0: 3x its usual interval */
    long long rum_refresh_ms;   /* how often vigil_rum_p75 is read from the rollups */
    const char *static_dirs[SERVER_STATIC_MAX];
    size_t nstatic;             /* GET of other paths: files under these, first match */
};

/* Parses "10.0.0.0/8", "::1" or "192.168.1.7" into c. Returns 0 or -1. */
int server_parse_cidr(const char *text, struct cidr *c);

/* Serves until SIGTERM or SIGINT, then stops accepting requests, stores and answers what
 * was accepted, and closes the store. Takes ownership of store. Returns 0 after a clean
 * stop, or -1 with err if the server could not start. */
int server_run(const struct server_opts *o, struct store *store, char *err, size_t errlen);

#endif
