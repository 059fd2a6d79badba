/*
 * probe: runs journey files against a service and says whether it may be exposed.
 * Usage and exit codes are in probe/README.md; `probe --help` prints a summary.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datafile.h"
#include "import.h"
#include "journey.h"
#include "push.h"
#include "report.h"
#include "runner.h"
#include "schedule.h"
#include "sign.h"
#include "text.h"

#define EXIT_PASS 0
#define EXIT_FAILED 1
#define EXIT_INVALID 2
#define EXIT_NONE 3
#define EXIT_PUSH 4

#define PROBE_VERSION "0.1.0"
#define MAX_JOURNEYS 10000
#define MAX_PARALLEL 1024
#define MAX_REPEAT 1000000

static const char usage[] =
    "usage: probe run [options] PATH...      run journey files (or folders of *.json)\n"
    "       probe validate PATH...           check journey files without sending anything\n"
    "       probe schedule --every DUR --push URL [options] PATH...\n"
    "                                        run the journeys on a schedule, push every result\n"
    "       probe import postman|har|openapi|curl FILE [-o DIR]\n"
    "                                        turn other tools' files into journey files\n"
    "                                        (probe import --help for its options)\n"
    "\n"
    "options of run:\n"
    "  --var NAME=VALUE        set a variable (repeatable)\n"
    "  --only GLOB             run only journeys whose name matches (repeatable)\n"
    "  --repeat N              run each journey N times (default 1)\n"
    "  --parallel N            journey runs in flight at once (default 8)\n"
    "  --report json:PATH      write the result document (PATH - for stdout)\n"
    "  --report junit:PATH     write JUnit XML\n"
    "  --report html:PATH      write one self-contained HTML page\n"
    "  --data FILE             run each journey once per row (.csv with a header, .jsonl)\n"
    "  --env-file FILE         variables of one environment, and which are secrets\n"
    "  --quiet                 print only failures and the summary\n"
    "  --no-color              no colour (also with NO_COLOR set, or off a TTY)\n"
    "  --app NAME  --version V  --region R  --label K=V   labels on the results\n"
    "  --cacert FILE  --cert FILE  --key FILE  --insecure  TLS settings\n"
    "  --resolve HOST:PORT:ADDR  --connect-to HOST:PORT:HOST2:PORT2   as curl's\n"
    "  --http1.1               never negotiate HTTP/2\n"
    "  --proxy URL             send the journeys' requests through this proxy; --proxy ''\n"
    "                          for none (else http_proxy, https_proxy, ALL_PROXY, NO_PROXY)\n"
    "  --max-body BYTES        largest response body kept (default 8388608)\n"
    "  --push URL              send the results to a collector (token from VIGIL_TOKEN,\n"
    "                          or signed with --key-id ID --key-file FILE)\n"
    "\n"
    "options of schedule (and the options of run):\n"
    "  --every DUR             interval per journey: 30s, 5m, 1h (required)\n"
    "  --jitter F              random shift of each run, a fraction of it (default 0.1)\n"
    "  --spool DIR             undelivered results wait here (default ./vigil-spool)\n"
    "  --spool-max N           results kept at most; the oldest go first (default 10000)\n"
    "  --log json|text         one line per run on stderr (default text)\n"
    "\n"
    "exit: 0 all passed, 1 a journey failed, 2 invalid journey or command line,\n"
    "      3 no journey matched or ran, 4 the results could not be pushed.\n"
    "      Reference: probe/README.md\n";

static const char *const options[] = {
    "--var", "--only", "--repeat", "--parallel", "--report", "--quiet", "--no-color",
    "--app", "--version", "--region", "--label", "--cacert", "--cert", "--key", "--insecure",
    "--resolve", "--connect-to", "--http1.1", "--max-body", "--push", "--key-id", "--key-file",
    "--every", "--jitter", "--spool", "--spool-max", "--log", "--proxy", "--help", "--data",
    "--env-file", NULL
};
static const char *const flags[] = {"--quiet", "--no-color", "--insecure", "--http1.1", "--help", NULL};

struct cli {
    struct runner_opts ro;
    const char **paths;
    size_t npaths;
    const char **only;
    size_t nonly;
    const char *json_path, *junit_path, *html_path, *push_url, *key_id, *key_file;
    const char *data_path, *env_path;
    json_t *cli_vars;               /* --var alone (ro.vars has the --env-file's under it) */
    json_t *rows, *row_lines;       /* --data */
    json_t *env_vars, *env_secrets; /* --env-file: its variables, its secret values */
    const char *every, *jitter, *spool, *spool_max, *log;
    int quiet, no_color;
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "probe: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(probe --help for usage)\n");
    return -1;
}

static int parse_count(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        fprintf(stderr, "probe: %s takes a whole number from %ld to %ld, not \"%s\"\n",
                opt, lo, hi, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int is_flag(const char *opt)
{
    for (int i = 0; flags[i]; i++)
        if (strcmp(flags[i], opt) == 0)
            return 1;
    return 0;
}

/* Parses the options of `probe run` (and the paths of both commands). */
static int parse_args(struct cli *c, int argc, char **argv, int run)
{
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                c->paths[c->npaths++] = argv[i];
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            c->paths[c->npaths++] = a;
            continue;
        }
        char opt[64];
        const char *val = NULL;
        char *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof opt) {
            snprintf(opt, sizeof opt, "%.*s", (int)(eq - a), a);
            val = eq + 1;
        } else {
            snprintf(opt, sizeof opt, "%s", a);
        }
        int known = 0;
        for (int k = 0; options[k]; k++)
            known |= strcmp(options[k], opt) == 0;
        if (!known || !run) {
            const char *near = run ? text_nearest(opt, options) : NULL;
            fprintf(stderr, "probe: unknown option %s%s%s%s\n(probe --help for usage)\n", opt,
                    near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
            return -1;
        }
        if (is_flag(opt)) {
            if (val)
                return usage_error("%s takes no value", opt);
        } else if (!val) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", opt);
            val = argv[++i];
        }
        long n;
        if (strcmp(opt, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(opt, "--quiet") == 0) {
            c->quiet = 1;
        } else if (strcmp(opt, "--no-color") == 0) {
            c->no_color = 1;
        } else if (strcmp(opt, "--insecure") == 0) {
            c->ro.insecure = 1;
        } else if (strcmp(opt, "--http1.1") == 0) {
            c->ro.http11 = 1;
        } else if (strcmp(opt, "--var") == 0 || strcmp(opt, "--label") == 0) {
            const char *e = strchr(val, '=');
            if (!e || e == val)
                return usage_error("expected NAME=VALUE, not \"%s\"", val);
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(e - val), val);
            json_t *s = json_string(e + 1);
            if (!s)
                return usage_error("value of \"%s\" is not valid UTF-8", name);
            json_object_set_new(strcmp(opt, "--var") == 0 ? c->ro.vars : c->ro.labels, name, s);
        } else if (strcmp(opt, "--only") == 0) {
            c->only[c->nonly++] = val;
        } else if (strcmp(opt, "--repeat") == 0) {
            if (parse_count(opt, val, 1, MAX_REPEAT, &n) < 0)
                return -1;
            c->ro.repeat = (int)n;
        } else if (strcmp(opt, "--parallel") == 0) {
            if (parse_count(opt, val, 1, MAX_PARALLEL, &n) < 0)
                return -1;
            c->ro.parallel = (int)n;
        } else if (strcmp(opt, "--max-body") == 0) {
            if (parse_count(opt, val, 1, 1L << 30, &n) < 0)
                return -1;
            c->ro.max_body = (size_t)n;
        } else if (strcmp(opt, "--report") == 0) {
            if (strncmp(val, "json:", 5) == 0 && val[5])
                c->json_path = val + 5;
            else if (strncmp(val, "junit:", 6) == 0 && val[6])
                c->junit_path = val + 6;
            else if (strncmp(val, "html:", 5) == 0 && val[5])
                c->html_path = val + 5;
            else
                return usage_error("--report takes json:PATH, junit:PATH or html:PATH, not \"%s\"",
                                   val);
        } else if (strcmp(opt, "--data") == 0) {
            c->data_path = val;
        } else if (strcmp(opt, "--env-file") == 0) {
            c->env_path = val;
        } else if (strcmp(opt, "--app") == 0 || strcmp(opt, "--version") == 0
                   || strcmp(opt, "--region") == 0) {
            json_object_set_new(c->ro.labels, opt + 2, json_string(val));
        } else if (strcmp(opt, "--push") == 0) {
            c->push_url = val;
        } else if (strcmp(opt, "--key-id") == 0) {
            c->key_id = val;
        } else if (strcmp(opt, "--key-file") == 0) {
            c->key_file = val;
        } else if (strcmp(opt, "--every") == 0) {
            c->every = val;
        } else if (strcmp(opt, "--jitter") == 0) {
            c->jitter = val;
        } else if (strcmp(opt, "--spool") == 0) {
            c->spool = val;
        } else if (strcmp(opt, "--spool-max") == 0) {
            c->spool_max = val;
        } else if (strcmp(opt, "--log") == 0) {
            c->log = val;
        } else if (strcmp(opt, "--cacert") == 0) {
            c->ro.cacert = val;
        } else if (strcmp(opt, "--cert") == 0) {
            c->ro.cert = val;
        } else if (strcmp(opt, "--key") == 0) {
            c->ro.key = val;
        } else if (strcmp(opt, "--resolve") == 0) {
            c->ro.resolve = curl_slist_append(c->ro.resolve, val);
        } else if (strcmp(opt, "--proxy") == 0) {
            static const char *const schemes[] = {"http://", "https://", "socks4://",
                                                  "socks4a://", "socks5://", "socks5h://", NULL};
            int ok = !*val;
            for (int k = 0; schemes[k] && !ok; k++)
                ok = strncasecmp(val, schemes[k], strlen(schemes[k])) == 0 && val[strlen(schemes[k])];
            if (!ok)
                return usage_error("--proxy takes a URL with its scheme (http://HOST:PORT, https://,"
                                   " socks5h://...) or '' for none, not \"%s\"", val);
            c->ro.proxy = val;
        } else if (strcmp(opt, "--connect-to") == 0) {
            c->ro.connect_to = curl_slist_append(c->ro.connect_to, val);
        }
    }
    return 0;
}

/* Reads --env-file (its variables go under --var's) and --data. Returns 0, or -1 after
 * printing why. */
static int load_var_files(struct cli *c, int run)
{
    char err[1200];
    if (c->data_path && !run)
        return usage_error("--data goes with probe run, not \"%s\"", "schedule");
    if (c->env_path) {
        if (datafile_env(c->env_path, &c->env_vars, &c->env_secrets, err, sizeof err) < 0) {
            fprintf(stderr, "probe: %s; nothing was sent\n", err);
            return -1;
        }
        json_t *all = json_deep_copy(c->env_vars);
        json_object_update(all, c->cli_vars);
        json_decref(c->ro.vars);
        c->ro.vars = all;
        size_t n = json_array_size(c->env_secrets);
        const char **list = calloc(n + 1, sizeof *list);
        for (size_t i = 0; list && i < n; i++)
            list[i] = json_string_value(json_array_get(c->env_secrets, i));
        c->ro.secrets = list;
        c->ro.nsecrets = list ? n : 0;
    }
    if (c->data_path) {
        if (datafile_rows(c->data_path, &c->rows, &c->row_lines, err, sizeof err) < 0) {
            fprintf(stderr, "probe: %s; nothing was sent\n", err);
            return -1;
        }
        c->ro.rows = c->rows;
    }
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int json_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

/* Loads every journey named by the paths (folders: their *.json in name order). Prints
 * each error; returns the number of errors. */
static int load_all(struct cli *c, struct journey ***out, size_t *nout, int print_ok,
                    char *first, size_t firstlen)
{
    struct journey **js = calloc(MAX_JOURNEYS, sizeof *js);
    size_t n = 0;
    int errors = 0;
    char err[1024];

    for (size_t i = 0; i < c->npaths; i++) {
        struct stat st;
        char **files = NULL;
        size_t nfiles = 0;
        if (stat(c->paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            struct dirent **ents;
            int m = scandir(c->paths[i], &ents, json_file, by_name);
            if (m < 0) {
                fprintf(stderr, "%s: cannot read folder: %s\n", c->paths[i], strerror(errno));
                errors++;
                continue;
            }
            files = calloc((size_t)m + 1, sizeof *files);
            for (int k = 0; k < m; k++) {
                size_t len = strlen(c->paths[i]) + strlen(ents[k]->d_name) + 2;
                files[nfiles] = malloc(len);
                snprintf(files[nfiles++], len, "%s/%s", c->paths[i], ents[k]->d_name);
                free(ents[k]);
            }
            free(ents);
        } else {
            files = calloc(1, sizeof *files);
            files[nfiles++] = strdup(c->paths[i]);
        }
        for (size_t k = 0; k < nfiles; k++) {
            struct journey *j;
            if (n == MAX_JOURNEYS) {
                fprintf(stderr, "probe: more than %d journeys\n", MAX_JOURNEYS);
                errors++;
            } else if (journey_load(files[k], &j, err, sizeof err) < 0) {
                fprintf(stderr, "%s\n", err);
                if (!errors && first)
                    snprintf(first, firstlen, "%s", err);
                errors++;
            } else {
                if (print_ok)
                    printf("%s: ok (%s, %zu steps)\n", files[k], j->name, j->nsteps);
                js[n++] = j;
            }
            free(files[k]);
        }
        free(files);
    }
    *out = js;
    *nout = n;
    return errors;
}

static void free_all(struct journey **js, size_t n)
{
    for (size_t i = 0; i < n; i++)
        journey_free(js[i]);
    free(js);
}

static void on_step(void *ctx, const json_t *journey, const json_t *step)
{
    report_console_step(ctx, journey, step);
}

/* Every name set from outside (--var, the --env-file's variables, a --data row's
 * columns) must be a variable that one of the journeys declares: a misspelt name would
 * otherwise leave the journey's default in place (another host, say). `what` says where
 * the names come from ("--var", "staging.json: variable"), `src` who sets them. */
static int check_vars(const json_t *vars, const char *what, const char *src,
                      struct journey **js, size_t n, char *err, size_t errlen)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)vars, name, v) {
        int declared = 0;
        for (size_t i = 0; i < n && !declared; i++)
            declared = journey_declares(js[i], name);
        if (declared)
            continue;
        json_t *names = json_object();
        for (size_t i = 0; i < n; i++)
            journey_declared_names(js[i], names);
        const char **list = calloc(json_object_size(names) + 1, sizeof *list);
        const char *key, *near = NULL;
        json_t *t;
        size_t k = 0;
        if (list) {
            json_object_foreach(names, key, t)
                list[k++] = key;
            near = text_nearest(name, list);
        }
        snprintf(err, errlen, "probe: %s %s: no journey declares a variable \"%s\"%s%s%s"
                 " (%s sets only the names a journey declares in its \"variables\");"
                 " nothing was sent", what, name, name, near ? "; did you mean \"" : "",
                 near ? near : "", near ? "\"?" : "", src);
        free(list);
        json_decref(names);
        return -1;
    }
    return 0;
}

/* Checks the names of the --env-file and of every --data row as check_vars does --var. */
static int check_file_vars(struct cli *c, struct journey **js, size_t n, char *err,
                           size_t errlen)
{
    char what[1100];
    size_t i;
    json_t *row;
    if (c->env_vars) {
        snprintf(what, sizeof what, "%s: variable", c->env_path);
        if (check_vars(c->env_vars, what, "--env-file", js, n, err, errlen) < 0)
            return -1;
    }
    /* A CSV file's columns are its header's (line 1); a JSON Lines row has its own. */
    size_t len = c->data_path ? strlen(c->data_path) : 0;
    int csv = len > 4 && strcmp(c->data_path + len - 4, ".csv") == 0;
    json_array_foreach(c->rows, i, row) {
        snprintf(what, sizeof what, "%s:%lld: column", c->data_path,
                 csv ? 1LL : (long long)json_integer_value(json_array_get(c->row_lines, i)));
        if (check_vars(row, what, "--data", js, n, err, errlen) < 0)
            return -1;
        if (csv)
            break;
    }
    return 0;
}

/* journey_check_vars for every --data row (its values over the other variables), the
 * message led by the row's file and line. */
static int check_rows(struct cli *c, struct journey *j, char *err, size_t errlen)
{
    char why[1024];
    size_t i;
    json_t *row;
    json_array_foreach(c->rows, i, row) {
        json_t *all = json_deep_copy(c->ro.vars);
        json_object_update(all, row);
        int rc = journey_check_vars(j, all, why, sizeof why);
        json_decref(all);
        if (rc < 0) {
            snprintf(err, errlen, "%s:%lld: with this row, %s", c->data_path,
                     (long long)json_integer_value(json_array_get(c->row_lines, i)), why);
            return -1;
        }
    }
    return 0;
}

/* Loads every journey named on the command line and keeps those matching --only.
 * Returns 0, EXIT_INVALID or EXIT_NONE with a message in err. */
static int load_selected(struct cli *c, struct journey ***out, size_t *nout, char *err,
                         size_t errlen)
{
    struct journey **js;
    size_t n, kept = 0;

    *out = NULL;
    *nout = 0;
    char first[1024] = "";
    if (load_all(c, &js, &n, 0, first, sizeof first)) {
        free_all(js, n);
        snprintf(err, errlen, "probe: invalid journey (%s); nothing was sent",
                 first[0] ? first : "see above");
        return EXIT_INVALID;
    }
    if (check_vars(c->cli_vars, "--var", "--var", js, n, err, errlen) < 0
        || check_file_vars(c, js, n, err, errlen) < 0) {
        free_all(js, n);
        return EXIT_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        int match = c->nonly == 0;
        for (size_t k = 0; k < c->nonly; k++)
            match |= fnmatch(c->only[k], js[i]->name, 0) == 0;
        if (match)
            js[kept++] = js[i];
        else
            journey_free(js[i]);
    }
    if (kept == 0) {
        free_all(js, kept);
        snprintf(err, errlen, c->nonly ? "probe: no journey matched --only"
                                       : "probe: no journey found");
        return EXIT_NONE;
    }
    /* Everything the journeys need from outside is checked before anything is sent. */
    for (size_t i = 0; i < kept; i++) {
        char why[1024];
        if (journey_check_env(js[i], why, sizeof why) < 0
            || (c->rows ? check_rows(c, js[i], why, sizeof why)
                        : journey_check_vars(js[i], c->ro.vars, why, sizeof why)) < 0) {
            snprintf(err, errlen, "%s; nothing was sent", why);
            free_all(js, kept);
            return EXIT_INVALID;
        }
    }
    *out = js;
    *nout = kept;
    return 0;
}

/* How pushes authenticate: signed with --key-id/--key-file, else the bearer token in
 * VIGIL_TOKEN. Prints why and returns -1 when neither is usable. */
static int push_auth_setup(struct cli *c, struct push_auth *auth, char *secret, size_t len)
{
    char err[512];
    memset(auth, 0, sizeof *auth);
    if (c->key_id || c->key_file) {
        if (!c->key_id || !c->key_file) {
            fprintf(stderr, "probe: --key-id and --key-file go together; nothing was sent\n");
            return -1;
        }
        if (sign_read_secret(c->key_file, secret, len, err, sizeof err) < 0) {
            fprintf(stderr, "probe: %s; nothing was sent\n", err);
            return -1;
        }
        auth->key_id = c->key_id;
        auth->secret = secret;
        return 0;
    }
    auth->token = getenv("VIGIL_TOKEN");
    if (!auth->token || !*auth->token) {
        fprintf(stderr, "probe: --push needs the collector's token in VIGIL_TOKEN, or"
                " --key-id and --key-file; nothing was sent\n");
        return -1;
    }
    return 0;
}

/* The labels the collector requires of a pushed result, checked before anything runs:
 * found after the run, they would turn a passed canary into a lost one. */
static int push_labels_setup(struct cli *c)
{
    char err[512];
    if (push_check_labels(c->ro.labels, err, sizeof err) < 0) {
        fprintf(stderr, "probe: %s; nothing was sent\n", err);
        return -1;
    }
    return 0;
}

static int load_for_schedule(void *ctx, struct journey ***js, size_t *n, char *err,
                             size_t errlen)
{
    return load_selected(ctx, js, n, err, errlen) ? -1 : 0;
}

static int cmd_schedule(struct cli *c)
{
    struct schedule_opts so;
    char secret[SIGN_SECRET_MAX + 2], err[1024];

    memset(&so, 0, sizeof so);
    if (!c->every || !c->push_url || c->npaths == 0) {
        fprintf(stderr, "probe: schedule needs --every, --push and journey files or folders\n"
                "(probe --help for usage)\n");
        return EXIT_INVALID;
    }
    char *end;
    if (text_duration_ms(c->every, &so.every_ms) < 0 || so.every_ms < 100
        || so.every_ms > 86400000LL) {
        fprintf(stderr, "probe: --every takes a duration from 100ms to 24h such as 30s or 5m,"
                " not \"%s\"\n", c->every);
        return EXIT_INVALID;
    }
    so.jitter = 0.1;
    if (c->jitter) {
        so.jitter = strtod(c->jitter, &end);
        if (*end || end == c->jitter || so.jitter < 0 || so.jitter > 0.5) {
            fprintf(stderr, "probe: --jitter takes a fraction from 0 to 0.5\n");
            return EXIT_INVALID;
        }
    }
    so.spool_max = 10000;
    if (c->spool_max) {
        long n;
        if (parse_count("--spool-max", c->spool_max, 1, 10000000, &n) < 0)
            return EXIT_INVALID;
        so.spool_max = (size_t)n;
    }
    if (c->log && strcmp(c->log, "json") != 0 && strcmp(c->log, "text") != 0) {
        fprintf(stderr, "probe: --log takes json or text\n");
        return EXIT_INVALID;
    }
    so.json_log = c->log && strcmp(c->log, "json") == 0;
    so.push_url = c->push_url;
    so.spool_dir = c->spool ? c->spool : "vigil-spool";
    so.region = json_string_value(json_object_get(c->ro.labels, "region"));
    if (push_auth_setup(c, &so.auth, secret, sizeof secret) < 0 || push_labels_setup(c) < 0)
        return EXIT_INVALID;
    if (schedule_run(&so, &c->ro, load_for_schedule, c, err, sizeof err) < 0) {
        fprintf(stderr, "%s%s\n", strncmp(err, "probe:", 6) ? "probe: " : "", err);
        return EXIT_INVALID;
    }
    return EXIT_PASS;
}

static int cmd_validate(struct cli *c)
{
    struct journey **js;
    size_t n;
    int errors = load_all(c, &js, &n, 1, NULL, 0);
    free_all(js, n);
    if (errors)
        return EXIT_INVALID;
    if (n == 0) {
        fprintf(stderr, "probe: no journey file found\n");
        return EXIT_NONE;
    }
    return EXIT_PASS;
}

/* libcurl takes a proxy from the environment without a word; say so once on stderr, so
 * that a failure that is the proxy's is not taken for the service's. */
static void note_env_proxy(const struct cli *c)
{
    static const char *const names[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                        "ALL_PROXY", NULL};
    if (c->ro.proxy)
        return;
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) {
            char shown[512];
            runner_proxy_text(v, shown, sizeof shown);
            fprintf(stderr, "probe: %s=%s is set: requests go through that proxy unless"
                    " NO_PROXY names their host (--proxy '' sends them direct)\n", names[i],
                    shown);
            return;
        }
    }
}

static int cmd_run(struct cli *c)
{
    struct journey **js;
    size_t kept = 0;
    char err[512];

    if (c->npaths == 0) {
        fprintf(stderr, "probe: run needs at least one journey file or folder\n"
                "(probe --help for usage)\n");
        return EXIT_INVALID;
    }
    struct push_auth auth;
    char secret[SIGN_SECRET_MAX + 2];
    if (c->push_url && (push_auth_setup(c, &auth, secret, sizeof secret) < 0
                        || push_labels_setup(c) < 0))
        return EXIT_INVALID;
    int lrc = load_selected(c, &js, &kept, err, sizeof err);
    if (lrc) {
        fprintf(stderr, "%s\n", err);
        return lrc;
    }

    size_t nrows = c->rows ? json_array_size(c->rows) : 1;
    if ((double)kept * c->ro.repeat * (double)nrows > RUNNER_RUNS_MAX) {
        fprintf(stderr, "probe: %zu journeys x --repeat %d x %zu rows is more than %d journey"
                " runs; nothing was sent\n", kept, c->ro.repeat, nrows, RUNNER_RUNS_MAX);
        free_all(js, kept);
        return EXIT_INVALID;
    }
    struct console con = {stdout, 0, c->quiet, c->ro.repeat > 1};
    c->ro.record = c->html_path != NULL;
    if (c->json_path && strcmp(c->json_path, "-") == 0)
        con.out = stderr;
    if (c->junit_path && strcmp(c->junit_path, "-") == 0)
        con.out = stderr;
    if (c->html_path && strcmp(c->html_path, "-") == 0)
        con.out = stderr;
    const char *nc = getenv("NO_COLOR");
    con.color = !c->no_color && !(nc && *nc) && isatty(fileno(con.out));
    if (c->ro.insecure)
        fprintf(con.out, "probe: --insecure: server certificates are not verified\n");
    note_env_proxy(c);

    json_t *doc = runner_run(js, kept, &c->ro, on_step, &con, err, sizeof err);
    int rc = EXIT_PASS;
    if (!doc) {
        fprintf(stderr, "probe: %s\n", err);
        free_all(js, kept);
        return EXIT_NONE;
    }
    report_console_summary(&con, doc);
    if (c->json_path && report_write_json(doc, c->json_path, err, sizeof err) < 0) {
        fprintf(stderr, "probe: %s\n", err);
        rc = EXIT_FAILED;
    }
    if (c->junit_path && report_write_junit(doc, c->junit_path, con.numbered, err, sizeof err) < 0) {
        fprintf(stderr, "probe: %s\n", err);
        rc = EXIT_FAILED;
    }
    if (c->html_path && report_write_html(doc, c->html_path, con.numbered, err, sizeof err) < 0) {
        fprintf(stderr, "probe: %s\n", err);
        rc = EXIT_FAILED;
    }
    if (!json_is_true(json_object_get(doc, "passed")))
        rc = EXIT_FAILED;
    if (c->push_url) {
        char note[64];
        char *text = json_dumps(doc, JSON_COMPACT);
        enum push_result pr = text ? push_send(text, strlen(text), c->push_url, &auth, &c->ro,
                                               note, sizeof note, err, sizeof err) : PUSH_RETRY;
        free(text);
        if (pr != PUSH_OK) {
            fprintf(stderr, "probe: PUSH FAILED, the collector did not get these results: %s\n",
                    err);
            if (rc == EXIT_PASS)
                rc = EXIT_PUSH;
        } else {
            fprintf(con.out, "probe: pushed run %s to %s (%s)\n",
                    json_string_value(json_object_get(doc, "run_id")), c->push_url, note);
        }
    }
    json_decref(doc);
    free_all(js, kept);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli c;
    char host[256] = "";
    int rc;

    memset(&c, 0, sizeof c);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_INVALID : EXIT_PASS;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("probe %s (%s)\n", PROBE_VERSION, curl_version());
        return EXIT_PASS;
    }
    if (strcmp(argv[1], "import") == 0)
        return import_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "validate") != 0
        && strcmp(argv[1], "schedule") != 0) {
        fprintf(stderr, "probe: unknown command \"%s\"; use run, validate, schedule or import\n"
                "(probe --help for usage)\n", argv[1]);
        return EXIT_INVALID;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "probe: cannot initialise libcurl\n");
        return EXIT_NONE;
    }
    c.ro.parallel = 8;
    c.ro.repeat = 1;
    c.ro.max_body = 8 << 20;
    c.ro.vars = json_object();
    c.cli_vars = json_incref(c.ro.vars);
    c.ro.labels = json_object();
    c.paths = calloc((size_t)argc, sizeof *c.paths);
    c.only = calloc((size_t)argc, sizeof *c.only);
    gethostname(host, sizeof host - 1);
    json_object_set_new(c.ro.labels, "host", json_string(host));

    int run = strcmp(argv[1], "run") == 0, schedule = strcmp(argv[1], "schedule") == 0;
    if (parse_args(&c, argc - 2, argv + 2, run || schedule) < 0 || load_var_files(&c, run) < 0)
        rc = EXIT_INVALID;
    else
        rc = schedule ? cmd_schedule(&c) : run ? cmd_run(&c) : cmd_validate(&c);

    json_decref(c.ro.vars);
    json_decref(c.cli_vars);
    json_decref(c.env_vars);
    json_decref(c.env_secrets);
    json_decref(c.rows);
    json_decref(c.row_lines);
    free((void *)c.ro.secrets);
    json_decref(c.ro.labels);
    curl_slist_free_all(c.ro.resolve);
    curl_slist_free_all(c.ro.connect_to);
    free(c.paths);
    free(c.only);
    curl_global_cleanup();
    return rc;
}
