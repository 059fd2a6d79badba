/*
 * collector: receives RUM beacons and stores them (serve), and answers questions about
 * them from the same database (stats). Reference: collector/README.md.
 */
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api.h"
#include "chmigrate.h"
#include "chstore.h"
#include "clickhouse.h"
#include "beacon.h"
#include "clickhouse.h"
#include "clock.h"
#include "readers.h"
#include "server.h"
#include "sign.h"
#include "sketch.h"
#include "store.h"
#include "text.h"
#include "uaclass.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define DAY_MS (24 * 3600 * 1000LL)
#define RETAIN_RAW_DEFAULT_DAYS 7
#define RETAIN_DEFAULT_DAYS 90

static const char usage[] =
    "usage: collector serve --db PATH [options]     receive beacons over HTTP\n"
    "       collector serve --store clickhouse://HOST:PORT/DB --spool-dir DIR [options]\n"
    "       collector stats --db PATH --app APP --version V --metric NAME [--since DUR]\n"
    "                      [--exact] [--json]\n"
    "       collector gate --db PATH --app APP --version V [--regions R1,R2] [--max-age 15m]\n"
    "                      [--min-runs N] [--require-signed] [--json]\n"
    "                                                   exit 0 allow, 1 block\n"
    "       collector compare --db PATH --app APP --baseline V1 --canary V2\n"
    "                      [--policy conservative|aggressive|FILE] [--warmup 5m]\n"
    "                      [--method sequential|pooled|mann-whitney] [--at TIME]\n"
    "                      [--exact] [--weight PCT] [--json]\n"
    "                                                   exit 0 promote, 1 roll back, 3 pause\n"
    "       collector mark --db PATH --app APP --version V [--baseline V0] [--stage S]\n"
    "                      [--note TEXT] [--ts UNIX_MS] [--weight PCT]\n"
    "                              record a deployment marker (PCT: the canary's traffic %)\n"
    "       collector import --db PATH [--retain-raw DAYS] [--retain DAYS] FILE.jsonl|-\n"
    "                                                   load beacons, one per line\n"
    "       collector migrate --db PATH --store clickhouse://HOST:PORT/DB\n"
    "                      [--store-password-file FILE] [--store-init]\n"
    "                              copy a SQLite database into ClickHouse (run again to finish)\n"
    "\n"
    "Every verb takes --db PATH (SQLite) or, for a fleet of collectors, --store URL:\n"
    "  --store clickhouse://[USER@]HOST:PORT/DB   ClickHouse's HTTP interface\n"
    "  --store-password-file FILE  its password (first line, mode 600)\n"
    "  --store-init             create the tables that are missing\n"
    "  --spool-dir DIR          (serve) batches ClickHouse did not take wait here\n"
    "  --spool-max-bytes N      (serve) the spool's bound; past it, 503 (default 1 GiB)\n"
    "\n"
    "options of serve:\n"
    "  --listen HOST:PORT       address to listen on (default 127.0.0.1:8080; port 0: any)\n"
    "  --port-file FILE         write the bound port to FILE once listening\n"
    "  --allow-origin ORIGIN    allow browsers from ORIGIN (repeatable; * for any)\n"
    "  --rate N --burst N       per-client limit: N requests/s, bursts of N (default 20, 100)\n"
    "  --global-rate N          ceiling for all clients together, requests/s (default 50000)\n"
    "  --trust-proxy CIDR       believe X-Forwarded-For from these proxies (repeatable)\n"
    "  --country-header NAME    take the client's country from this header (e.g. CF-IPCountry)\n"
    "  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
    "  --max-connections N      open connections at most (default 4096)\n"
    "  --idle-timeout SECS      close idle keep-alive connections after SECS (default 5)\n"
    "  --body-timeout SECS      a request body must arrive whole within SECS (default 10)\n"
    "  --max-per-address N      open connections from one address at most (default 256;\n"
    "                           --trust-proxy peers are exempt)\n"
    "  --queue N                requests waiting for the disk at most (default 8192)\n"
    "  --batch-rows N --batch-ms MS   group commit: up to N rows, waiting up to MS (1000, 0;\n"
    "                           with --store 10000, 200)\n"
    "  --readers N              reader threads for the API's queries (default 2, at most 16)\n"
    "  --threads N              HTTP service threads (default one per core, at most 8)\n"
    "  --read-timeout MS        a query's time limit; past it, 503 (default 5000)\n"
    "  --retain-raw DAYS        keep raw beacons this long (default 7; 0 keeps them)\n"
    "  --retain DAYS            keep per-minute rollups and verdicts this long (default 90)\n"
    "  --probe-token-file FILE  bearer token (first line) for POST /v1/probe-runs and\n"
    "                           /v1/deployments; without it those are refused (401)\n"
    "  --probe-keys FILE        probe hosts' keys (\"KEY-ID SECRET\" per line, mode 600) for\n"
    "                           signed POST /v1/probe-runs (X-Vigil-Signature)\n"
    "  --read-token-file FILE   token needed to read the dashboard API, /v1/live, /metrics\n"
    "  --metrics-token-file FILE  token for /metrics instead of the read token\n"
    "  --static DIR             serve the files under DIR at / (repeatable; default:\n"
    "                           web/dist beside the binary's folder, for /vigil.js)\n"
    "  --alert-webhook URL      POST alerts (gate blocks, rollbacks, silent probe regions)\n"
    "                           to URL as Slack-compatible JSON (repeatable, at most 8)\n"
    "  --probe-silence DUR      a probe region is silent after DUR without a run (default:\n"
    "                           3 times its usual interval)\n"
    "  --rum-refresh SECS       how often vigil_rum_p75 is read from the rollups (default 30)\n"
    "\n"
    "--exact (stats, compare) reads raw rows instead of the per-minute rollups.\n"
    "--read-timeout MS (stats, gate, compare, mark): the call's time limit (default 60000).\n"
    "--at TIME (compare) replays the verdict as it was at TIME (RFC 3339 or Unix ms), from\n"
    "the data received by then; it is not recorded. --method mann-whitney is for one look.\n"
    "durations: 500ms, 90s, 15m, 1h, 7d. Reference: collector/README.md\n";

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "collector: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(collector --help for usage)\n");
    return EXIT_USAGE;
}

/* An unknown option, with the nearest known one when it looks like a typo of it
 * (text_nearest, as probe does): "unknown option --canray; did you mean --canary?". */
static int unknown_option(const char *opt, const char *const *known)
{
    const char *near = text_nearest(opt, known);
    fprintf(stderr, "collector: unknown option %s%s%s%s\n(collector --help for usage)\n", opt,
            near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
    return EXIT_USAGE;
}

static int is_option(const char *opt, const char *const *known)
{
    for (int k = 0; known[k]; k++)
        if (strcmp(opt, known[k]) == 0)
            return 1;
    return 0;
}

static int parse_number(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    /* Plain decimals only: strtod would also take "0x10", "1e3", "inf" and "nan" (which
     * no range check refuses). */
    double d = v[strspn(v, "0123456789.")] ? NAN : strtod(v, &end);
    if (isnan(d) || errno || end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "collector: %s takes a number from %g to %g, not \"%s\"\n", opt, lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

/* Reads a token file (sign_read_secret: the first line, mode 600, 16 characters at
 * least). Returns 0, or -1 having said why. */
static int read_token(const char *path, char *out, size_t outlen)
{
    char err[512];
    if (sign_read_secret(path, out, outlen, err, sizeof err) < 0) {
        fprintf(stderr, "collector: %s\n", err);
        return -1;
    }
    return 0;
}

/* The store every verb names: --db PATH, or --store URL with its password file, --store-init
 * and (serve) its spool. */
struct store_args {
    const char *db, *url, *password_file, *spool_dir;
    int init;
    double spool_max;           /* bytes, 0 when not given */
};

#define SPOOL_MAX_DEFAULT (1024.0 * 1024 * 1024)

static const char *const store_options[] = {
    "--db", "--store", "--store-password-file", "--store-init", "--spool-dir",
    "--spool-max-bytes", NULL
};

/* Takes the store option at argv[*i] (and its value, moving *i past it): returns 1, 0
 * when argv[*i] is none, or -1 after saying what is wrong (a usage error). */
static int store_option(int argc, char **argv, int *i, struct store_args *sa)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!is_option(a, store_options))
        return 0;
    if (strcmp(a, "--store-init") == 0) {
        sa->init = 1;
        return 1;
    }
    (*i)++;
    if (!v) {
        bad_usage("%s needs a value", a);
        return -1;
    }
    if (strcmp(a, "--db") == 0)
        sa->db = v;
    else if (strcmp(a, "--store") == 0)
        sa->url = v;
    else if (strcmp(a, "--store-password-file") == 0)
        sa->password_file = v;
    else if (strcmp(a, "--spool-dir") == 0)
        sa->spool_dir = v;
    else if (parse_number(a, v, 4096, 1e13, &sa->spool_max) < 0)
        return -1;
    return 1;
}

/* Checks the store options of a verb (serve: with_spool) and fills o. Returns 0, or
 * EXIT_USAGE having said why. */
static int store_args_check(const struct store_args *sa, int with_spool, int readonly,
                            struct store_opts *o)
{
    char err[512], secret[512];
    struct clickhouse_url u;

    if (sa->db && sa->url)
        return bad_usage("--db and --store name two stores: give one%s", "");
    if (!sa->db && !sa->url)
        return bad_usage("this verb needs --db PATH or --store clickhouse://HOST:PORT/DB%s", "");
    if (sa->db && (sa->password_file || sa->init || sa->spool_dir || sa->spool_max > 0))
        return bad_usage("--store-password-file, --store-init, --spool-dir and "
                         "--spool-max-bytes go with --store, not --db%s", "");
    if (!with_spool && (sa->spool_dir || sa->spool_max > 0))
        return bad_usage("--spool-dir and --spool-max-bytes are options of serve%s", "");
    if (sa->url && with_spool && !sa->spool_dir)
        return bad_usage("serve --store needs --spool-dir DIR: the batches ClickHouse does not "
                         "take wait there, so that a 204 always means stored%s", "");
    if (sa->url && clickhouse_parse_url(sa->url, &u, err, sizeof err) < 0)
        return bad_usage("--store: %s", err);
    /* The password file is checked here (mode 600, not empty) so that a wrong one is a
     * usage error, as for the other secrets. */
    if (sa->password_file && read_token(sa->password_file, secret, sizeof secret) < 0)
        return EXIT_USAGE;
    memset(secret, 0, sizeof secret);
    memset(o, 0, sizeof *o);
    o->db = sa->url ? sa->url : sa->db;
    o->password_file = sa->password_file;
    o->init = sa->init;
    o->spool_dir = sa->spool_dir;
    o->spool_max_bytes = (unsigned long long)(sa->spool_max > 0 ? sa->spool_max
                                                                : SPOOL_MAX_DEFAULT);
    o->readonly = readonly;
    return 0;
}

/* Opens the store of a verb other than serve: a SQLite file must exist (2 when not). */
static int open_verb_store(const struct store_opts *o, struct store **s)
{
    char err[512];
    if (!store_is_url(o->db) && access(o->db, F_OK) != 0) {
        fprintf(stderr, "collector: %s does not exist (--db)\n", o->db);
        return EXIT_USAGE;
    }
    if (store_open_opts(s, o, err, sizeof err) < 0) {
        fprintf(stderr, "collector: %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* The numeric options of serve: name, range, and where the value goes. */
static int numeric_option(const char *name, const char *v, struct server_opts *o, int *rc)
{
    double d = 0;
    static const struct {
        const char *name;
        double lo, hi;
    } table[] = {
        {"--rate", 0.001, 1e6}, {"--burst", 1, 1e6}, {"--global-rate", 0, 1e7},
        {"--max-connections", 1, 100000}, {"--idle-timeout", 1, 3600}, {"--queue", 1, 1e6},
        {"--batch-rows", 1, 1e6}, {"--batch-ms", 0, 1000},
        {"--readers", 1, READERS_MAX},
        {"--read-timeout", READERS_TIMEOUT_MIN_MS, READERS_TIMEOUT_MAX_MS},
        {"--retain-raw", 0, 36500}, {"--retain", 0, 36500}, {"--rum-refresh", 1, 3600},
        {"--body-timeout", 1, 3600}, {"--max-per-address", 1, 100000},
        {"--threads", 1, SERVER_THREADS_MAX},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) != 0)
            continue;
        *rc = parse_number(name, v, table[i].lo, table[i].hi, &d);
        if (*rc)
            return 1;
        switch (i) {
        case 0: o->rate = d; break;
        case 1: o->burst = d; break;
        case 2: o->global_rate = d; break;
        case 3: o->max_conns = (int)d; break;
        case 4: o->idle_timeout_s = (int)d; break;
        case 5: o->queue_max = (size_t)d; break;
        case 6: o->batch_rows = (size_t)d; break;
        case 7: o->batch_ms = (int)d; break;
        case 8: o->readers = (int)d; break;
        case 9: o->read_timeout_ms = (int)d; break;
        case 10: o->retain_raw_ms = (long long)(d * DAY_MS); break;
        case 11: o->retain_ms = (long long)(d * DAY_MS); break;
        case 12: o->rum_refresh_ms = (long long)(d * 1000); break;
        case 13: o->body_timeout_s = (int)d; break;
        case 14: o->max_per_address = (int)d; break;
        default: o->threads = (int)d; break;
        }
        return 1;
    }
    return 0;
}

/* The options of each verb, for "did you mean" (the parsers below are the truth). */
static const char *const serve_options[] = {
    "--help", "--db", "--listen", "--port-file", "--allow-origin", "--trust-proxy", "--static",
    "--country-header", "--probe-token-file", "--probe-keys", "--read-token-file", "--tls-cert",
    "--tls-key", "--rate", "--burst", "--global-rate", "--max-connections", "--idle-timeout",
    "--queue", "--batch-rows", "--batch-ms", "--readers", "--read-timeout", "--retain-raw",
    "--retain", "--alert-webhook", "--probe-silence", "--rum-refresh", "--metrics-token-file",
    "--body-timeout", "--max-per-address", "--store", "--store-password-file", "--store-init",
    "--spool-dir", "--spool-max-bytes", "--threads", NULL
};
static const char *const stats_options[] = {
    "--help", "--db", "--app", "--version", "--metric", "--since", "--exact", "--json",
    "--store", "--store-password-file", "--store-init", "--read-timeout", NULL
};

/* The time limit of the reading verbs (stats, gate, compare, mark): --read-timeout, the
 * same option and range as serve's, over the whole call (store_set_timeout). */
#define CLI_READ_TIMEOUT_DEFAULT_MS 60000

static int cli_read_timeout(const char *v, int *ms)
{
    double d;
    if (parse_number("--read-timeout", v, READERS_TIMEOUT_MIN_MS, READERS_TIMEOUT_MAX_MS, &d) < 0)
        return -1;
    *ms = (int)d;
    return 0;
}

static void cli_time_limit(struct store *s, int ms)
{
    store_set_timeout(s, ms);
    store_start_read(s);
}
static const char *const import_options[] = {"--help", "--db", "--retain-raw", "--retain", NULL};
static const char *const migrate_options[] = {"--help", "--db", "--store", "--store-password-file",
                                              "--store-init", NULL};

/* serve, with the probe keys it loads left in *keys for cmd_serve to free. */
static int serve(int argc, char **argv, struct sign_keys **keys)
{
    struct server_opts o;
    struct store_args sa = {0};
    struct store_opts so;
    const char *listen = "127.0.0.1:8080";
    char err[512], host[256], token[512], read_tok[512], metrics_tok[512];
    int rc = 0;

    memset(&o, 0, sizeof o);
    o.rate = 20;
    o.burst = 100;
    o.global_rate = 50000;
    o.max_conns = 4096;
    o.idle_timeout_s = 5;
    o.body_timeout_s = 10;
    o.max_per_address = 256;
    o.queue_max = 8192;
    o.batch_rows = 0;           /* 0 and -1: not given, the store's default below */
    o.batch_ms = -1;
    o.readers = READERS_DEFAULT;
    o.read_timeout_ms = READERS_TIMEOUT_DEFAULT_MS;
    o.retain_raw_ms = RETAIN_RAW_DEFAULT_DAYS * DAY_MS;
    o.retain_ms = RETAIN_DEFAULT_DAYS * DAY_MS;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (!is_option(a, serve_options))
            return unknown_option(a, serve_options);
        int took = store_option(argc, argv, &i, &sa);
        if (took < 0)
            return EXIT_USAGE;
        if (took)
            continue;
        if (!v)
            return bad_usage("%s needs a value", a);
        i++;
        if (strcmp(a, "--listen") == 0) {
            listen = v;
        } else if (strcmp(a, "--port-file") == 0) {
            o.port_file = v;
        } else if (strcmp(a, "--allow-origin") == 0) {
            if (o.norigins == SERVER_ORIGINS_MAX)
                return bad_usage("at most 32 --allow-origin%s", "");
            o.origins[o.norigins++] = v;
        } else if (strcmp(a, "--trust-proxy") == 0) {
            if (o.nproxies == SERVER_PROXIES_MAX)
                return bad_usage("at most 32 --trust-proxy%s", "");
            if (cidr_parse(v, &o.proxies[o.nproxies++]) < 0)
                return bad_usage("--trust-proxy takes an address or CIDR such as 10.0.0.0/8,"
                                 " not \"%s\"", v);
        } else if (strcmp(a, "--static") == 0) {
            if (o.nstatic == SERVER_STATIC_MAX)
                return bad_usage("at most 8 --static%s", "");
            o.static_dirs[o.nstatic++] = v;
        } else if (strcmp(a, "--country-header") == 0) {
            o.country_header = v;
        } else if (strcmp(a, "--alert-webhook") == 0) {
            if (o.nalert_urls == SERVER_ALERT_URLS_MAX)
                return bad_usage("at most 8 --alert-webhook%s", "");
            if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
                return bad_usage("--alert-webhook takes an http:// or https:// URL, not \"%s\"", v);
            o.alert_urls[o.nalert_urls++] = v;
        } else if (strcmp(a, "--probe-silence") == 0) {
            if (text_duration_ms(v, &o.probe_silence_ms) < 0 || o.probe_silence_ms <= 0)
                return bad_usage("--probe-silence takes a duration above 0, "
                                 TEXT_DURATION_RULE ", not \"%s\"", v);
        } else if (strcmp(a, "--probe-token-file") == 0) {
            if (read_token(v, token, sizeof token) < 0)
                return EXIT_USAGE;
            o.token = token;
        } else if (strcmp(a, "--probe-keys") == 0) {
            sign_keys_free(*keys);
            *keys = NULL;
            if (sign_keys_load(v, keys, err, sizeof err) < 0) {
                fprintf(stderr, "collector: %s\n", err);
                return EXIT_USAGE;
            }
            o.keys = *keys;
        } else if (strcmp(a, "--read-token-file") == 0) {
            if (read_token(v, read_tok, sizeof read_tok) < 0)
                return EXIT_USAGE;
            o.read_token = read_tok;
        } else if (strcmp(a, "--metrics-token-file") == 0) {
            if (read_token(v, metrics_tok, sizeof metrics_tok) < 0)
                return EXIT_USAGE;
            o.metrics_token = metrics_tok;
        } else if (strcmp(a, "--tls-cert") == 0) {
            o.tls_cert = v;
        } else if (strcmp(a, "--tls-key") == 0) {
            o.tls_key = v;
        } else if (numeric_option(a, v, &o, &rc)) {
            if (rc)
                return EXIT_USAGE;
        } else {
            return unknown_option(a, serve_options);
        }
    }
    if ((rc = store_args_check(&sa, 1, 0, &so)) != 0)
        return rc;
    o.db_path = so.db;
    o.store_password_file = so.password_file;
    /* ClickHouse wants few large INSERTs: batches of 10,000 rows or 200 ms. */
    if (o.batch_rows == 0)
        o.batch_rows = sa.url ? 10000 : 1000;
    if (o.batch_ms < 0)
        o.batch_ms = sa.url ? 200 : 0;
    /* Without --static, serve the built beacon from the checkout the binary came from
     * (bin/collector -> web/dist), so that /vigil.js works out of the box. */
    char exe[4096], dist[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (o.nstatic == 0 && n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(dist, sizeof dist, "%s/../web/dist", exe);
            if (access(dist, R_OK) == 0)
                o.static_dirs[o.nstatic++] = dist;
            else {
                snprintf(dist, sizeof dist, "%s/../../web/dist", exe);
                if (access(dist, R_OK) == 0)
                    o.static_dirs[o.nstatic++] = dist;
            }
        }
    }
    if (!o.tls_cert != !o.tls_key)
        return bad_usage("--tls-cert and --tls-key go together%s", "");
    const char *colon = strrchr(listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == listen || *end || port < 0 || port > 65535)
        return bad_usage("--listen takes HOST:PORT, not \"%s\"", listen);
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    o.host = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0 ? NULL : host;
    o.port = (int)port;

    struct store *store;
    if (store_open_opts(&store, &so, err, sizeof err) < 0) {
        fprintf(stderr, "collector: %s\n", err);
        return sa.url ? EXIT_USAGE : EXIT_FAIL;
    }
    /* A collector that cannot store would answer 503 to every beacon: say so now. A
     * ClickHouse that does not answer yet is no reason to refuse beacons: the spool takes
     * them until it does. */
    int writable = store_check_writable(store, err, sizeof err);
    if (writable < 0) {
        fprintf(stderr, "collector: %s\n", err);
        store_close(store);
        return EXIT_USAGE;
    }
    if (writable > 0)
        fprintf(stderr, "collector: warning: %s; beacons go to the spool until it answers\n",
                err);
    if (server_run(&o, store, err, sizeof err) < 0) {
        fprintf(stderr, "collector: %s\n", err);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int cmd_serve(int argc, char **argv)
{
    struct sign_keys *keys = NULL;
    int rc = serve(argc, argv, &keys);
    sign_keys_free(keys);
    return rc;
}

/* The count and quantiles of one metric of a version over [since, until): from the
 * rollups (values within the sketch's relative accuracy), or with exact from raw rows. */
static int stats_of(struct store *s, int exact, const char *app, const char *version,
                    const char *metric, long long since, long long until, long long *count,
                    double q[4], char *err, size_t errlen)
{
    static const double ps[] = {0.5, 0.75, 0.95, 0.99};
    struct sketch_bins b;
    int rc;

    memset(&b, 0, sizeof b);
    if (exact) {
        double *v;
        size_t n;
        if (store_metric_values(s, app, version, metric, since, until, &v, &n, err, errlen) < 0)
            return -1;
        rc = sketch_bins_exact(v, n, &b);
        free(v);
    } else {
        struct store_group *g;
        size_t n;
        struct sketch empty;
        if (store_rollup_groups(s, app, version, metric, NULL, since, until, 0, &g, &n, err,
                                errlen) < 0)
            return -1;
        sketch_init(&empty);
        rc = sketch_bins_of(n ? &g[0].sk : &empty, &b);
        store_groups_free(g, n);
    }
    if (rc < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *count = b.total;
    for (int i = 0; i < 4; i++)
        q[i] = b.total ? sketch_bins_quantile(&b, ps[i]) : NAN;
    sketch_bins_fini(&b);
    return 0;
}

static int cmd_stats(int argc, char **argv)
{
    const char *app = NULL, *version = NULL, *metric = NULL;
    struct store_args sa = {0};
    struct store_opts so;
    long long since = 3600000;
    int as_json = 0, exact = 0, rc, timeout_ms = CLI_READ_TIMEOUT_DEFAULT_MS;
    char err[512];

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0 || strcmp(a, "--exact") == 0) {
            *(a[2] == 'j' ? &as_json : &exact) = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (!is_option(a, stats_options))
            return unknown_option(a, stats_options);
        int took = store_option(argc, argv, &i, &sa);
        if (took < 0)
            return EXIT_USAGE;
        if (took)
            continue;
        if (!v)
            return bad_usage("%s needs a value", a);
        i++;
        if (strcmp(a, "--app") == 0)
            app = v;
        else if (strcmp(a, "--version") == 0)
            version = v;
        else if (strcmp(a, "--metric") == 0)
            metric = v;
        else if (strcmp(a, "--read-timeout") == 0) {
            if (cli_read_timeout(v, &timeout_ms) < 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--since") == 0) {
            if (text_duration_ms(v, &since) < 0)
                return bad_usage("--since takes a duration, " TEXT_DURATION_RULE ", not \"%s\"",
                                 v);
        } else
            return unknown_option(a, stats_options);
    }
    if (!app || !version || !metric)
        return bad_usage("stats needs --app, --version and --metric%s", "");
    if ((rc = store_args_check(&sa, 0, 1, &so)) != 0)
        return rc;
    if (!beacon_metric_name_ok(metric))
        return bad_usage("unknown metric \"%s\" (LCP, INP, CLS, FCP, TTFB or a custom name)",
                         metric);

    struct store *s;
    if ((rc = open_verb_store(&so, &s)) != 0)
        return rc;
    cli_time_limit(s, timeout_ms);
    long long now = clock_wall_ms(), n;
    double q[4];
    if (stats_of(s, exact, app, version, metric, now - since, now + 1, &n, q, err,
                 sizeof err) < 0) {
        /* A store that fails or a read past its time limit: the environment's error, 2,
         * as for the other verbs. */
        fprintf(stderr, "collector: %s\n", err);
        store_close(s);
        return EXIT_USAGE;
    }
    store_close(s);
    json_t *out = json_pack("{s:s,s:s,s:s,s:I,s:s}", "app", app, "version", version,
                            "metric", metric, "count", (json_int_t)n,
                            "source", exact ? "raw" : "rollups");
    static const char *const names[] = {"p50", "p75", "p95", "p99"};
    for (int i = 0; i < 4; i++)
        json_object_set_new(out, names[i], n ? json_real(q[i]) : json_null());
    if (as_json) {
        char *text = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(10));
        printf("%s\n", text);
        free(text);
    } else if (n == 0) {
        printf("%s %s %s: no values in the window\n", app, version, metric);
    } else {
        printf("%s %s %s over the last %.0f min: count %lld  p50 %.4g  p75 %.4g  p95 %.4g"
               "  p99 %.4g%s\n", app, version, metric, (double)since / 60000.0, n, q[0], q[1],
               q[2], q[3], exact ? "" : " (from rollups, within 1%)");
    }
    json_decref(out);
    return EXIT_OK;
}

#define VERB_OPTIONS_MAX 16

/* A verb that is one api call: its options (--max-age becomes "max_age") are the call's
 * arguments, the answer is printed, and the exit code comes from its decision. */
struct verb {
    const char *name;
    enum api_fn call;
    const char *const *options;     /* accepted --options besides --db and --json */
    const char *const *required;
};

static int decision_exit(enum api_fn call, const json_t *resp)
{
    const char *d = json_string_value(json_object_get(resp, "decision"));
    if (call == API_GATE)
        return d && strcmp(d, "allow") == 0 ? 0 : 1;
    if (call == API_VERDICT)
        return !d ? 2 : strcmp(d, "promote") == 0 ? 0 : strcmp(d, "rollback") == 0 ? 1 : 3;
    return 0;
}

static int cmd_call(const struct verb *vb, int argc, char **argv)
{
    const char *known[VERB_OPTIONS_MAX + 10] = {
        "--db", "--json", "--help", "--store", "--store-password-file", "--store-init",
        "--read-timeout"};
    struct store_args sa = {0};
    struct store_opts so;
    int as_json = 0, writes = api_writes(vb->call) || vb->call == API_VERDICT;
    int timeout_ms = CLI_READ_TIMEOUT_DEFAULT_MS;
    size_t nknown = 7;

    for (int k = 0; vb->options[k]; k++) {
        assert(nknown < VERB_OPTIONS_MAX + 9);
        known[nknown++] = vb->options[k];
    }
    known[nknown] = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
    }
    json_t *args = json_object();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            as_json = 1;
            continue;
        }
        if (!is_option(a, known)) {
            json_decref(args);
            return unknown_option(a, known);
        }
        int took = store_option(argc, argv, &i, &sa);
        if (took < 0) {
            json_decref(args);
            return EXIT_USAGE;
        }
        if (took)
            continue;
        /* --require-signed and --exact are flags, or take yes/no (1/0) as the query
         * arguments do. */
        if ((strcmp(a, "--require-signed") == 0 || strcmp(a, "--exact") == 0)
            && (!v || strncmp(v, "--", 2) == 0)) {
            json_object_set_new(args, a[2] == 'r' ? "require_signed" : "exact", json_true());
            continue;
        }
        if (!v) {
            json_decref(args);
            return bad_usage("%s needs a value", a);
        }
        i++;
        if (strcmp(a, "--read-timeout") == 0) {
            if (cli_read_timeout(v, &timeout_ms) < 0) {
                json_decref(args);
                return EXIT_USAGE;
            }
            continue;
        }
        char key[64];
        snprintf(key, sizeof key, "%s", a + 2);
        for (char *c = key; *c; c++)
            if (*c == '-')
                *c = '_';
        if (strcmp(key, "regions") == 0) {
            json_t *list = json_array();
            for (const char *p = v; *p;) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t)(comma - p) : strlen(p);
                if (n)
                    json_array_append_new(list, json_stringn(p, n));
                p = comma ? comma + 1 : p + n;
            }
            json_object_set_new(args, key, list);
        } else if (strcmp(key, "min_runs") == 0 || strcmp(key, "ts") == 0) {
            char *end;
            long long n = strtoll(v, &end, 10);
            json_object_set_new(args, key, *end || end == v ? json_string(v) : json_integer(n));
        } else if (strcmp(key, "policy") == 0 && strcmp(v, "conservative") != 0
                   && strcmp(v, "aggressive") != 0) {
            json_object_set_new(args, "policy_file", json_string(v));
        } else {
            json_object_set_new(args, key, json_string(v));
        }
    }
    for (int k = 0; vb->required[k]; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s", vb->required[k] + 2);
        if (!json_object_get(args, key)) {
            json_decref(args);
            return bad_usage("this verb needs %s", vb->required[k]);
        }
    }
    int rc = store_args_check(&sa, 0, !writes, &so);
    if (rc != 0) {
        json_decref(args);
        return rc;
    }
    /* compare is a single look: it may use Mann-Whitney (with a warning in its output),
     * which the API refuses; and a replay (--at) is never recorded. */
    if (vb->call == API_VERDICT) {
        json_object_set_new(args, "one_look", json_true());
        if (json_object_get(args, "at"))
            json_object_set_new(args, "record", json_string("0"));
    }
    /* The verbs read the database a running `collector serve` writes; compare and mark
     * also write (a verdict, a marker), which WAL mode allows beside it. */
    /* An error of the environment (no database, an unknown app or version, a store
     * that fails) exits 2 like a usage error: 1 and 3 are decisions a pipeline acts on
     * (roll back, pause), and a typo must not roll back a good canary. */
    struct store *s;
    if ((rc = open_verb_store(&so, &s)) != 0) {
        json_decref(args);
        return rc;
    }
    cli_time_limit(s, timeout_ms);
    json_t *resp = NULL;
    int status = api_run(s, vb->call, API_LOCAL, args, &resp);
    /* A verdict is recorded as the server records it, by a call of its own. */
    if (status == 200 && vb->call == API_VERDICT && api_records(args)) {
        json_t *rec = NULL;
        if (api_run(s, API_VERDICT_RECORD, API_LOCAL, resp, &rec) >= 400)
            fprintf(stderr, "collector: the verdict was not recorded: %s\n",
                    json_string_value(json_object_get(rec, "error")));
        json_decref(rec);
    }
    store_close(s);
    json_decref(args);
    if (status >= 400) {
        const char *field = json_string_value(json_object_get(resp, "field"));
        if (field)
            fprintf(stderr, "collector: %s (%s)\n",
                    json_string_value(json_object_get(resp, "error")), field);
        else
            fprintf(stderr, "collector: %s\n", json_string_value(json_object_get(resp, "error")));
        rc = EXIT_USAGE;
    } else {
        rc = decision_exit(vb->call, resp);
        if (as_json) {
            char *text = json_dumps(resp, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
            printf("%s\n", text);
            free(text);
        } else if (json_object_get(resp, "decision")) {
            size_t i;
            json_t *r;
            printf("%s\n", json_string_value(json_object_get(resp, "decision")));
            if (json_object_get(resp, "warning"))
                printf("warning: %s\n", json_string_value(json_object_get(resp, "warning")));
            json_array_foreach(json_object_get(resp, "reasons"), i, r)
                printf("  %s\n", json_string_value(r));
        } else {
            printf("marked %s %s\n", json_string_value(json_object_get(resp, "app")),
                   json_string_value(json_object_get(resp, "version")));
        }
    }
    json_decref(resp);
    return rc;
}

/* import: beacons from a file, one JSON object per line, through the same validation
 * (beacon_validate) and the same store calls as the writer, in transactions of
 * IMPORT_BATCH lines. A line may add "received" (Unix ms, instead of the clock), "ua" (a
 * User-Agent, classified as the server classifies a request's) and "country" (two
 * letters). A bad line is reported as FILE:LINE: reason and skipped; a failed commit
 * stops the import with nothing of its batch stored. */
#define IMPORT_BATCH 5000
#define IMPORT_LINE_MAX (BEACON_BODY_MAX + 1024)

/* Takes the import's own fields out of a line's object into m; 0, or -1 with err. */
static int import_meta(json_t *b, struct beacon_meta *m, long long now, char *field,
                       size_t fieldlen, char *err, size_t errlen)
{
    const json_t *r = json_object_get(b, "received"), *ua = json_object_get(b, "ua");
    const json_t *c = json_object_get(b, "country");
    struct uaclass uc;

    memset(m, 0, sizeof *m);
    m->received_ms = now;
    if (r && (!json_is_integer(r) || json_integer_value(r) < 1000000000000LL
              || json_integer_value(r) > 9999999999999LL)) {
        snprintf(field, fieldlen, "received");
        snprintf(err, errlen, "must be a Unix time in milliseconds");
        return -1;
    }
    if ((ua && (!json_is_string(ua) || json_string_length(ua) > UACLASS_SCAN_MAX))
        || (c && (!json_is_string(c) || json_string_length(c) != 2))) {
        snprintf(field, fieldlen, ua && !json_is_string(ua) ? "ua" : c ? "country" : "ua");
        snprintf(err, errlen, "ua is a User-Agent string (at most %d bytes), country two"
                 " letters", UACLASS_SCAN_MAX);
        return -1;
    }
    if (r)
        m->received_ms = json_integer_value(r);
    uaclass_classify(ua ? json_string_value(ua) : NULL, &uc);
    snprintf(m->browser, sizeof m->browser, "%s", uc.browser);
    m->browser_major = uc.browser_major;
    snprintf(m->os, sizeof m->os, "%s", uc.os);
    snprintf(m->device, sizeof m->device, "%s", uc.device);
    if (c)
        snprintf(m->country, sizeof m->country, "%s", json_string_value(c));
    json_object_del(b, "received");
    json_object_del(b, "ua");
    json_object_del(b, "country");
    return 0;
}

static int cmd_import(int argc, char **argv)
{
    const char *db = NULL, *file = NULL;
    double raw_days = 0, days = 0;
    char err[512], field[128], *line = NULL;
    size_t cap = 0;
    int tty = isatty(2);

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (strncmp(a, "--", 2) != 0 || strcmp(a, "-") == 0) {
            if (file)
                return bad_usage("import takes one file, not also \"%s\"", a);
            file = a;
            continue;
        }
        if (!is_option(a, import_options))
            return unknown_option(a, import_options);
        if (!v)
            return bad_usage("%s needs a value", a);
        i++;
        if (strcmp(a, "--db") == 0)
            db = v;
        else if (strcmp(a, "--retain-raw") == 0 || strcmp(a, "--retain") == 0) {
            if (parse_number(a, v, 0, 36500, a[8] ? &raw_days : &days) < 0)
                return EXIT_USAGE;
        } else
            return unknown_option(a, import_options);
    }
    if (!db || !file)
        return bad_usage("import needs --db PATH and a FILE (- for standard input)%s", "");
    FILE *in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!in) {
        fprintf(stderr, "collector: cannot read %s: %s\n", file, strerror(errno));
        return EXIT_FAIL;
    }
    struct store *s;
    if (store_open(&s, db, 0, err, sizeof err) < 0) {
        fprintf(stderr, "collector: %s\n", err);
        if (in != stdin)
            fclose(in);
        return EXIT_FAIL;
    }
    long long lineno = 0, stored = 0, bad = 0, pending = 0, now = clock_wall_ms();
    double t0 = (double)now, shown = 0;
    int rc = EXIT_OK, open_tx = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        json_error_t je;
        struct beacon_meta m;
        json_t *b = NULL;
        if (len > IMPORT_LINE_MAX) {
            fprintf(stderr, "%s:%lld: longer than %d bytes\n", file, lineno, IMPORT_LINE_MAX);
        } else if (!(b = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je))) {
            fprintf(stderr, "%s:%lld:%d: malformed JSON: %s\n", file, lineno, je.column, je.text);
        } else if (!json_is_object(b)) {
            fprintf(stderr, "%s:%lld: a line is one beacon, a JSON object\n", file, lineno);
        } else if (import_meta(b, &m, now, field, sizeof field, err, sizeof err) < 0
                   || beacon_validate(b, "", field, sizeof field, err, sizeof err) < 0) {
            fprintf(stderr, "%s:%lld: %s: %s\n", file, lineno, field, err);
        } else {
            if (!open_tx && store_begin(s, err, sizeof err) < 0)
                goto failed;
            open_tx = 1;
            if (store_insert_beacon(s, b, &m, err, sizeof err) < 0) {
                store_rollback(s);
                open_tx = 0;
                goto failed;
            }
            json_decref(b);
            b = NULL;
            pending++;
            if (pending == IMPORT_BATCH) {
                open_tx = 0;
                if (store_commit(s, err, sizeof err) < 0)
                    goto failed;
                stored += pending;
                pending = 0;
            }
            if (tty && (double)clock_wall_ms() - shown > 500) {
                shown = (double)clock_wall_ms();
                fprintf(stderr, "\rcollector: %lld lines, %lld stored, %lld bad (%.0f/s)", lineno,
                        stored + pending, bad, (double)lineno * 1000.0 / (shown - t0 + 1));
            }
            continue;
        }
        json_decref(b);
        bad++;
    }
    if (open_tx && store_commit(s, err, sizeof err) < 0)
        goto failed;
    stored += pending;
    pending = 0;
    if (raw_days > 0 || days > 0) {
        long long n;
        while ((n = store_retain(s, clock_wall_ms(), (long long)(raw_days * DAY_MS),
                                 (long long)(days * DAY_MS), 10000, err, sizeof err)) > 0)
            ;
        if (n < 0)
            goto failed;
    }
    goto done;
failed:
    fprintf(stderr, "%scollector: %s:%lld: %s; stopped (the %lld lines of this batch were not"
            " stored)\n", tty ? "\n" : "", file, lineno, err, pending);
    rc = EXIT_FAIL;
done:
    fprintf(stderr, "%scollector: imported %lld beacons from %s; %lld bad lines skipped"
            " (%.1f s)\n", tty ? "\r" : "", stored, file, bad,
            ((double)clock_wall_ms() - t0) / 1000.0);
    store_close(s);
    free(line);
    if (in != stdin)
        fclose(in);
    return rc;
}

static const char *const gate_opts[] = {"--app", "--version", "--regions", "--max-age",
                                        "--min-runs", "--require-signed", NULL};
static const char *const gate_req[] = {"--app", "--version", NULL};
static const char *const compare_opts[] = {"--app", "--baseline", "--canary", "--policy",
                                           "--warmup", "--method", "--exact", "--weight",
                                           "--at", NULL};
static const char *const compare_req[] = {"--app", "--baseline", "--canary", NULL};
static const char *const mark_opts[] = {"--app", "--version", "--baseline", "--stage", "--note",
                                        "--ts", "--weight", NULL};
static const char *const mark_req[] = {"--app", "--version", NULL};
static const struct verb verbs[] = {
    {"gate", API_GATE, gate_opts, gate_req},
    {"compare", API_VERDICT, compare_opts, compare_req},
    {"mark", API_DEPLOYMENT, mark_opts, mark_req},
};

static void migrate_progress(const struct chmigrate_counts *c, void *arg)
{
    long long raw = 0;
    (void)arg;
    for (int t = 0; t < STORE_EXPORT_N; t++)
        raw += c->rows[t];
    fprintf(stderr, "\rcollector: migrate: %lld raw rows, %lld rollup rows in %lld batches"
            " (%lld there before)", raw, c->rollup_rows, c->batches + c->batches_skipped,
            c->batches_skipped);
}

/* migrate: a SQLite database into ClickHouse (shared/chmigrate.h). */
static int cmd_migrate(int argc, char **argv)
{
    struct store_args sa = {0};
    int rc = EXIT_FAIL;
    char err[512];
    struct store *s = NULL;
    struct clickhouse *c = NULL;
    struct chmigrate_counts counts;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (!is_option(argv[i], migrate_options))
            return unknown_option(argv[i], migrate_options);
        if (store_option(argc, argv, &i, &sa) < 0)
            return EXIT_USAGE;
    }
    const char *db = sa.db, *url = sa.url, *password = sa.password_file;
    int init = sa.init;
    if (!db || !url)
        return bad_usage("migrate needs --db PATH and --store clickhouse://HOST:PORT/DB%s", "");
    if (access(db, F_OK) != 0) {
        fprintf(stderr, "collector: %s does not exist (--db)\n", db);
        return EXIT_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (store_open(&s, db, 1, err, sizeof err) < 0 || clickhouse_open(&c, url, password, err,
                                                                       sizeof err) < 0) {
        fprintf(stderr, "collector: %s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    if (init && chstore_init(c, err, sizeof err) < 0) {
        fprintf(stderr, "collector: creating the tables: %s\n", err);
        goto out;
    }
    double t0 = clock_mono_ms();
    int ok = chmigrate_run(s, c, isatty(2) ? migrate_progress : NULL, NULL, &counts, err,
                           sizeof err) == 0;
    if (isatty(2))
        fputc('\n', stderr);
    if (!ok) {
        fprintf(stderr, "collector: migrate stopped: %s\n(what was copied stays; run the"
                " same command again to finish)\n", err);
        goto out;
    }
    fprintf(stderr, "collector: migrated %s into %s in %.1f s:", db, clickhouse_name(c),
            (clock_mono_ms() - t0) / 1000.0);
    for (int t = 0; t < STORE_EXPORT_N; t++)
        fprintf(stderr, " %lld %s,", counts.rows[t], store_export_names[t]);
    fprintf(stderr, " %lld rollup rows in %lld new batches (%lld batches were there"
            " before)\n", counts.rollup_rows, counts.batches, counts.batches_skipped);
    rc = EXIT_OK;
out:
    clickhouse_close(c);
    store_close(s);
    curl_global_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "stats") == 0)
        return cmd_stats(argc - 2, argv + 2);
    if (strcmp(argv[1], "import") == 0)
        return cmd_import(argc - 2, argv + 2);
    if (strcmp(argv[1], "migrate") == 0)
        return cmd_migrate(argc - 2, argv + 2);
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(argv[1], verbs[i].name) == 0)
            return cmd_call(&verbs[i], argc - 2, argv + 2);
    static const char *const commands[] = {"serve", "stats", "gate", "compare", "mark", "import",
                                           "migrate", NULL};
    const char *near = text_nearest(argv[1], commands);
    fprintf(stderr, "collector: unknown command \"%s\"; %s%s%s\n"
            "(collector --help for usage)\n", argv[1],
            near ? "did you mean " : "use serve, stats, gate, compare, mark, import or migrate",
            near ? near : "", near ? "?" : "");
    return EXIT_USAGE;
}
