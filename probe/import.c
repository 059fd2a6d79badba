#include "import.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "import_curl.h"
#include "import_har.h"
#include "import_openapi.h"
#include "import_postman.h"
#include "journey.h"
#include "template.h"

#define SLUG_MAX 60

static const char usage[] =
    "usage: probe import postman|har|openapi|curl FILE [-o DIR] [options]\n"
    "  -o DIR, --output DIR    where the journey files go (default: the current folder)\n"
    "  --environment FILE      postman: an environment file (its values win)\n"
    "  --working-dir DIR       postman: where form-data files are (default: the collection's folder)\n"
    "  --all                   har: keep static assets (images, scripts, styles, fonts)\n"
    "  --base-url URL          openapi: the service's base URL instead of servers[0]\n"
    "  --force                 overwrite journey files that exist\n"
    "  --strict                exit 1 when anything was listed as not converted\n"
    "FILE - reads a curl command line from stdin.\n"
    "exit: 0 written (what was not converted is listed on stderr), 1 with --strict and\n"
    "      something listed, 2 usage error or invalid input (nothing written), 3 nothing\n"
    "      to convert. Reference: probe/README.md, \"Import\"\n";

/* realpath() of a folder that may not exist yet (import creates it when it writes): the
 * longest existing prefix resolved, the rest appended. Returns a malloc'd path or NULL. */
static char *realpath_made(const char *dir)
{
    char head[PATH_MAX], tail[PATH_MAX] = "";

    snprintf(head, sizeof head, "%s", dir);
    for (;;) {
        char *r = realpath(head, NULL);
        if (r) {
            char *out = NULL;
            if (asprintf(&out, "%s%s", r, tail) < 0)
                out = NULL;
            free(r);
            return out;
        }
        char *slash = strrchr(head, '/');
        char rest[PATH_MAX];
        snprintf(rest, sizeof rest, "/%s%s", slash ? slash + 1 : head, tail);
        snprintf(tail, sizeof tail, "%s", rest);
        if (!slash)
            snprintf(head, sizeof head, ".");
        else if (slash == head)
            return NULL;
        else
            *slash = 0;
    }
}

void import_relpath(const char *src, const char *dir, const char *outdir, char *out,
                    size_t outlen)
{
    char joined[PATH_MAX], *file = NULL, *to = NULL;

    snprintf(out, outlen, "%s", src);
    if (src[0] == '/')
        snprintf(joined, sizeof joined, "%s", src);
    else
        snprintf(joined, sizeof joined, "%s/%s", dir, src);
    file = realpath(joined, NULL);
    to = realpath_made(outdir);
    if (file && to) {
        /* Skip the folders both paths share, then climb out of the rest of outdir. */
        size_t common = 0, i;
        for (i = 0; file[i] && file[i] == to[i]; i++)
            if (file[i] == '/')
                common = i;
        if (!to[i] && file[i] == '/')
            common = i;
        size_t n = 0;
        for (const char *c = to + common; *c; c++)
            n += *c == '/';
        out[0] = 0;
        for (size_t k = 0; k < n; k++)
            strncat(out, "../", outlen - strlen(out) - 1);
        strncat(out, file + common + 1, outlen - strlen(out) - 1);
    }
    free(file);
    free(to);
}

json_t *import_read_json(const char *path, struct jsonpos **pos, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    char *text = NULL;
    json_t *root = NULL;
    json_error_t je;
    long size;

    if (pos)
        *pos = NULL;
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(fp, 0, SEEK_END) < 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (size > IMPORT_INPUT_MAX) {
        snprintf(err, errlen, "%s: larger than %ld bytes", path, IMPORT_INPUT_MAX);
        goto out;
    }
    if (!(text = malloc((size_t)size + 1)) || fread(text, 1, (size_t)size, fp) != (size_t)size) {
        snprintf(err, errlen, "%s: cannot read", path);
        goto out;
    }
    text[size] = '\0';
    /* A byte order mark (Postman and Windows editors write one) is not JSON; skipping it
     * moves no line and keeps columns right after the first line. */
    size_t skip = size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    if (size >= 2 && ((unsigned char)text[0] == 0xFF || (unsigned char)text[0] == 0xFE)) {
        snprintf(err, errlen, "%s: UTF-16 text; save it as UTF-8", path);
        goto out;
    }
    root = json_loadb(text + skip, (size_t)size - skip, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        goto out;
    }
    if (pos && !(*pos = jsonpos_new(text + skip, (size_t)size - skip))) {
        snprintf(err, errlen, "%s: out of memory indexing positions", path);
        json_decref(root);
        root = NULL;
    }
out:
    free(text);
    fclose(fp);
    return root;
}

static void vlist_at(struct import_ctx *c, int line, int col, const char *fmt, va_list ap)
{
    if (line > 0)
        fprintf(stderr, "%s:%d:%d: ", c->input, line, col);
    else
        fprintf(stderr, "%s: ", c->input);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void vlist(struct import_ctx *c, const char *ptr, const char *fmt, va_list ap)
{
    int line = 0, col = 0;
    if (ptr && c->pos)
        jsonpos_find(c->pos, ptr, 0, &line, &col);
    vlist_at(c, line, col, fmt, ap);
}

void import_skip_at(struct import_ctx *c, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlist_at(c, line, col, fmt, ap);
    va_end(ap);
    c->nnotes++;
}

void import_skip(struct import_ctx *c, const char *ptr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlist(c, ptr, fmt, ap);
    va_end(ap);
    c->nnotes++;
}

void import_note(struct import_ctx *c, const char *ptr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlist(c, ptr, fmt, ap);
    va_end(ap);
}

void import_note_at(struct import_ctx *c, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlist_at(c, line, col, fmt, ap);
    va_end(ap);
}

void import_add(struct import_ctx *c, json_t *journey)
{
    json_array_append_new(c->journeys, journey);
}

json_t *import_secret(struct import_ctx *c, const char *hint, const char *value,
                      const char *ptr, int line, int col, const char *where)
{
    char base[64], name[80];
    size_t n = 0;

    for (const char *p = hint; *p && n + 1 < sizeof base; p++) {
        char ch = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
        if (ch == '_' && (n == 0 || base[n - 1] == '_'))
            continue;
        base[n++] = ch;
    }
    while (n && base[n - 1] == '_')
        n--;
    base[n] = '\0';
    if (!n || isdigit((unsigned char)base[0]))
        snprintf(base, sizeof base, "SECRET%s%.40s", n ? "_" : "", n ? hint : "");
    for (int k = 1;; k++) {
        if (k == 1)
            snprintf(name, sizeof name, "%s", base);
        else
            snprintf(name, sizeof name, "%s_%d", base, k);
        json_t *had = json_object_get(c->secrets, name);
        if (had && strcmp(json_string_value(had), value) == 0)
            break;
        if (!had) {
            json_object_set_new(c->secrets, name, json_string(value));
            if (ptr)
                import_note(c, ptr, "%s replaced by {{secret.%s}}: set %s in the environment"
                            " when the journey runs", where, name, name);
            else
                import_note_at(c, line, col, "%s replaced by {{secret.%s}}: set %s in the"
                               " environment when the journey runs", where, name, name);
            break;
        }
    }
    char text[100];
    snprintf(text, sizeof text, "{{secret.%s}}", name);
    return json_string(text);
}

int import_secret_header(const char *name)
{
    static const char *const exact[] = {"authorization", "proxy-authorization", "cookie", NULL};
    static const char *const parts[] = {"token", "secret", "password", "api-key", "apikey",
                                        "api_key", "session", "csrf", "xsrf", NULL};
    char low[256];
    size_t n = 0;
    for (; name[n] && n + 1 < sizeof low; n++)
        low[n] = (char)tolower((unsigned char)name[n]);
    low[n] = '\0';
    for (int i = 0; exact[i]; i++)
        if (strcmp(low, exact[i]) == 0)
            return 1;
    for (int i = 0; parts[i]; i++)
        if (strstr(low, parts[i]))
            return 1;
    return 0;
}


int import_literal_ok(const char *s)
{
    return !strstr(s, "{{");
}

const char *import_split_origin(const char *url, char *origin, size_t originlen)
{
    size_t skip = strncasecmp(url, "http://", 7) == 0 ? 7 : strncasecmp(url, "https://", 8) == 0 ? 8 : 0;
    if (!skip)
        return NULL;
    size_t n = skip + strcspn(url + skip, "/?#");
    if (n == skip)
        return NULL;
    snprintf(origin, originlen, "%.*s", (int)n, url);
    for (size_t i = 0; i < skip && origin[i]; i++)
        origin[i] = (char)tolower((unsigned char)origin[i]);
    return url + n;
}

int import_shape_supported(const char *shape)
{
    /* Ask the loader rather than assume, so that the importers emit a shape as soon as
     * journey.c takes it. */
    static const char *const shapes[][2] = {
        {"multipart", "[{\"name\": \"f\", \"value\": \"v\"}]"},
        {"graphql", "{\"query\": \"{ a }\"}"},
    };
    static int known[2] = {-1, -1};
    int k = strcmp(shape, "graphql") == 0;
    char path[] = "/tmp/probe-import-XXXXXX", text[512];
    if (known[k] >= 0)
        return known[k];
    known[k] = 0;
    int n = snprintf(text, sizeof text, "{\"name\": \"m\", \"steps\": [{\"request\": {\"method\":"
                     " \"POST\", \"url\": \"http://127.0.0.1/\", \"%s\": %s}}]}", shapes[k][0],
                     shapes[k][1]);
    int fd = mkstemp(path);
    if (fd < 0)
        return known[k];
    if (write(fd, text, (size_t)n) == n) {
        struct journey *j;
        char err[512];
        if (journey_load(path, &j, err, sizeof err) == 0) {
            known[k] = 1;
            journey_free(j);
        }
    }
    close(fd);
    unlink(path);
    return known[k];
}

void import_set_body(json_t *request, const char *text, const char *mime)
{
    json_t *v = NULL;
    if (mime && strstr(mime, "json"))
        v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (v)
        json_object_set_new(request, "json", v);
    else
        json_object_set_new(request, "body", json_string(text));
}

char *import_basic_auth(const char *user, const char *password)
{
    size_t n = strlen(user) + 1 + strlen(password);
    char *plain = malloc(n + 1);
    char *out = malloc(6 + 4 * ((n + 2) / 3) + 1);
    if (!plain || !out) {
        free(plain);
        free(out);
        return NULL;
    }
    snprintf(plain, n + 1, "%s:%s", user, password);
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, (int)n);
    free(plain);
    return out;
}

json_t *import_journey_new(const char *name, const char *origin)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(name && *name ? name : "imported"));
    if (origin && *origin)
        json_object_set_new(j, "variables", json_pack("{s:s}", "base", origin));
    json_object_set_new(j, "steps", json_array());
    return j;
}

json_t *import_url(const json_t *journey, const char *url)
{
    char origin[2048];
    const char *base = json_string_value(json_object_get(json_object_get(journey, "variables"),
                                                         "base"));
    const char *rest = import_split_origin(url, origin, sizeof origin);
    if (base && rest && strcmp(origin, base) == 0) {
        size_t n = strlen(rest) + 16;
        char *u = malloc(n);
        if (!u)
            return json_string(url);
        snprintf(u, n, "{{base}}%s", rest);
        json_t *v = json_string(u);
        free(u);
        return v;
    }
    return json_string(url);
}

static int secret_key(const char *key)
{
    static const char *const parts[] = {"password", "passwd", "secret", "token", "api_key",
                                        "apikey", NULL};
    char low[128];
    size_t n = 0;
    for (; key[n] && n + 1 < sizeof low; n++)
        low[n] = (char)tolower((unsigned char)key[n]);
    low[n] = '\0';
    for (int i = 0; parts[i]; i++)
        if (strstr(low, parts[i]))
            return 1;
    return 0;
}

static void secret_fields_in(struct import_ctx *c, json_t *v, const char *ptr, int line, int col,
                             const char *where, int depth)
{
    const char *key;
    json_t *e;
    size_t i;
    if (depth > 32)
        return;
    if (json_is_array(v))
        json_array_foreach(v, i, e)
            secret_fields_in(c, e, ptr, line, col, where, depth + 1);
    if (!json_is_object(v))
        return;
    json_object_foreach(v, key, e) {
        const char *s = json_string_value(e);
        if (s && *s && secret_key(key) && import_literal_ok(s)) {
            char w[800];
            snprintf(w, sizeof w, "%.600s: body field \"%.100s\"", where, key);
            json_object_set_new(v, key, import_secret(c, key, s, ptr, line, col, w));
        } else {
            secret_fields_in(c, e, ptr, line, col, where, depth + 1);
        }
    }
}

void import_secret_fields(struct import_ctx *c, json_t *request, const char *ptr, int line,
                          int col, const char *where)
{
    secret_fields_in(c, json_object_get(request, "json"), ptr, line, col, where, 0);
    secret_fields_in(c, json_object_get(request, "form"), ptr, line, col, where, 0);
}

/* Collects the names used by the templates inside v into the object names. */
static void note_use(void *ctx, const char *name)
{
    json_object_set_new(ctx, name, json_true());
}

static void names_in(const json_t *v, json_t *names)
{
    char err[128];
    if (json_is_string(v)) {
        template_names(json_string_value(v), note_use, names, err, sizeof err);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            names_in(e, names);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
            names_in(e, names);
    }
}

/* The built-ins of probe/README.md ("Variables and templates"): never declared. */
static int builtin_name(const char *name)
{
    return strcmp(name, "uuid") == 0 || strcmp(name, "now_ms") == 0 || strcmp(name, "now_s") == 0
        || strcmp(name, "random_int") == 0 || strncmp(name, "random_int:", 11) == 0
        || strncmp(name, "env.", 4) == 0 || strncmp(name, "secret.", 7) == 0;
}

/* Declares, as null (no default: `probe run` then asks for --var), every name a step
 * uses that is not a variable, a capture of an earlier step or a built-in. */
static void declare_names(struct import_ctx *c, json_t *journey)
{
    json_t *vars = json_object_get(journey, "variables");
    json_t *captured = json_object();
    size_t i;
    json_t *step;

    if (!vars) {
        vars = json_object();
        json_object_set_new(journey, "variables", vars);
    }
    json_array_foreach(json_object_get(journey, "steps"), i, step) {
        json_t *used = json_object();
        const char *name;
        json_t *v;
        names_in(json_object_get(step, "request"), used);
        json_object_foreach(used, name, v) {
            if (builtin_name(name) || json_object_get(vars, name) || json_object_get(captured, name))
                continue;
            json_object_set_new(vars, name, json_null());
            import_note(c, NULL, "journey \"%s\": variable \"%s\" has no value here: give it"
                        " with --var %s=VALUE", json_string_value(json_object_get(journey, "name")),
                        name, name);
        }
        json_decref(used);
        json_object_foreach(json_object_get(step, "capture"), name, v)
            json_object_set_new(captured, name, json_true());
    }
    json_decref(captured);
    if (json_object_size(vars) == 0)
        json_object_del(journey, "variables");
}

/* A file name from a journey name: lower-case letters and digits, '-' between words. */
static void slug(const char *name, char *dst, size_t dstlen)
{
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < dstlen && n < SLUG_MAX; p++) {
        if (isalnum((unsigned char)*p))
            dst[n++] = (char)tolower((unsigned char)*p);
        else if (n && dst[n - 1] != '-')
            dst[n++] = '-';
    }
    while (n && dst[n - 1] == '-')
        n--;
    dst[n] = '\0';
    if (!n)
        snprintf(dst, dstlen, "journey");
}

/* Chooses a file name in the output folder for each journey (their slugs, made unique
 * with -2, -3...) into the array names. Returns 0, or -1 with err when one exists and
 * --force is not given: nothing is written then. */
static int choose_files(struct import_ctx *c, json_t *names, char *err, size_t errlen)
{
    size_t i;
    json_t *j;
    json_t *taken = json_object();
    int rc = 0;

    json_array_foreach(c->journeys, i, j) {
        char s[SLUG_MAX + 2], file[SLUG_MAX + 16], path[4096];
        slug(json_string_value(json_object_get(j, "name")), s, sizeof s);
        snprintf(file, sizeof file, "%s.json", s);
        for (int k = 2; json_object_get(taken, file); k++)
            snprintf(file, sizeof file, "%s-%d.json", s, k);
        json_object_set_new(taken, file, json_true());
        snprintf(path, sizeof path, "%s/%s", c->opts->outdir, file);
        json_array_append_new(names, json_string(path));
        if (!c->opts->force && access(path, F_OK) == 0 && rc == 0) {
            snprintf(err, errlen, "%s exists; nothing was written (--force overwrites, -o DIR"
                     " writes elsewhere)", path);
            rc = -1;
        }
    }
    json_decref(taken);
    return rc;
}

/* Writes every journey and loads each back with journey_load, the check `probe validate`
 * makes. Returns the number of files written. */
static size_t write_all(struct import_ctx *c, const json_t *paths)
{
    size_t i, written = 0;
    json_t *j;
    char err[1024];

    json_array_foreach(c->journeys, i, j) {
        const char *path = json_string_value(json_array_get(paths, i));
        if (json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) < 0) {
            fprintf(stderr, "probe: cannot write %s: %s\n", path, strerror(errno));
            c->nnotes++;
            continue;
        }
        FILE *fp = fopen(path, "a");
        if (fp) {
            fputc('\n', fp);
            fclose(fp);
        }
        struct journey *loaded;
        if (journey_load(path, &loaded, err, sizeof err) < 0) {
            /* A bug of the importer: never leave a file that would not validate. */
            fprintf(stderr, "probe: %s does not validate, removed (a bug of probe import:"
                    " please report it with the input): %s\n", path, err);
            unlink(path);
            c->nnotes++;
            continue;
        }
        printf("wrote %s: journey \"%s\", %zu step%s\n", path, loaded->name, loaded->nsteps,
               loaded->nsteps == 1 ? "" : "s");
        journey_free(loaded);
        written++;
    }
    return written;
}

/* Creates the folder path and its missing parents, as mkdir -p. Returns 0 or -1. */
static int make_dirs(const char *path)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (stat(p, &st) < 0 && mkdir(p, 0777) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    if (stat(p, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
    return mkdir(p, 0777) < 0 && errno != EEXIST ? -1 : 0;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "probe import: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(probe import --help for usage)\n");
    return IMPORT_INVALID;
}

/* Parses the arguments after "import". Returns 0, or an exit code to return. */
static int parse_args(struct import_opts *o, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **val = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return -1;
        }
        if (strcmp(a, "--all") == 0) {
            o->all = 1;
            continue;
        }
        if (strcmp(a, "--force") == 0) {
            o->force = 1;
            continue;
        }
        if (strcmp(a, "--strict") == 0) {
            o->strict = 1;
            continue;
        }
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
            val = &o->outdir;
        else if (strcmp(a, "--environment") == 0 || strcmp(a, "-e") == 0)
            val = &o->environment;
        else if (strcmp(a, "--base-url") == 0)
            val = &o->base_url;
        else if (strcmp(a, "--working-dir") == 0)
            val = &o->working_dir;
        if (val) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            *val = argv[++i];
            continue;
        }
        if (a[0] == '-' && a[1])
            return usage_error("unknown option %s", a);
        if (!o->format)
            o->format = a;
        else if (!o->input)
            o->input = a;
        else
            return usage_error("one input file at a time, not also \"%s\"", a);
    }
    if (!o->format || !o->input)
        return usage_error("%s", "needs a format (postman, har, openapi or curl) and a file");
    if (strcmp(o->format, "postman") && strcmp(o->format, "har") && strcmp(o->format, "openapi")
        && strcmp(o->format, "curl"))
        return usage_error("unknown format \"%s\": postman, har, openapi or curl", o->format);
    if (o->environment && strcmp(o->format, "postman"))
        return usage_error("%s", "--environment goes with postman only");
    if (o->working_dir && strcmp(o->format, "postman"))
        return usage_error("%s", "--working-dir goes with postman only");
    if (o->base_url && strcmp(o->format, "openapi"))
        return usage_error("%s", "--base-url goes with openapi only");
    if (o->all && strcmp(o->format, "har"))
        return usage_error("%s", "--all goes with har only");
    if (o->base_url && strncmp(o->base_url, "http://", 7) && strncmp(o->base_url, "https://", 8))
        return usage_error("--base-url takes an http:// or https:// URL, not \"%s\"", o->base_url);
    if (!o->outdir)
        o->outdir = ".";
    return 0;
}

int import_main(int argc, char **argv)
{
    struct import_opts o;
    struct import_ctx c;
    char err[2048] = "";
    int rc;

    memset(&o, 0, sizeof o);
    memset(&c, 0, sizeof c);
    if ((rc = parse_args(&o, argc, argv)) != 0)
        return rc < 0 ? IMPORT_OK : rc;
    c.opts = &o;
    c.input = strcmp(o.input, "-") == 0 ? "stdin" : o.input;
    c.journeys = json_array();
    c.secrets = json_object();
    json_t *paths = json_array();

    int r = strcmp(o.format, "postman") == 0 ? import_postman(&c, err, sizeof err)
          : strcmp(o.format, "har") == 0 ? import_har(&c, err, sizeof err)
          : strcmp(o.format, "openapi") == 0 ? import_openapi(&c, err, sizeof err)
          : import_curl(&c, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, "probe import: %s; nothing was written\n", err);
        rc = IMPORT_INVALID;
        goto out;
    }
    if (json_array_size(c.journeys) == 0) {
        fprintf(stderr, "probe import: %s: %s; nothing was written\n", c.input,
                c.nnotes ? "no request could be converted (listed above)" : "holds no request to convert");
        rc = IMPORT_NOTHING;
        goto out;
    }
    if (json_array_size(c.journeys) > IMPORT_JOURNEYS_MAX) {
        fprintf(stderr, "probe import: more than %d journeys; nothing was written\n",
                IMPORT_JOURNEYS_MAX);
        rc = IMPORT_INVALID;
        goto out;
    }
    size_t i;
    json_t *j;
    json_array_foreach(c.journeys, i, j)
        declare_names(&c, j);
    if (make_dirs(o.outdir) < 0) {
        fprintf(stderr, "probe import: cannot create %s: %s; nothing was written\n", o.outdir,
                strerror(errno));
        rc = IMPORT_INVALID;
        goto out;
    }
    if (choose_files(&c, paths, err, sizeof err) < 0) {
        fprintf(stderr, "probe import: %s\n", err);
        rc = IMPORT_INVALID;
        goto out;
    }
    size_t written = write_all(&c, paths);
    fprintf(stderr, "probe import: %zu journey file%s written, %zu item%s not converted%s\n",
            written, written == 1 ? "" : "s", c.nnotes, c.nnotes == 1 ? "" : "s",
            c.nnotes ? " (listed above)" : "");
    rc = written == 0 ? IMPORT_NOTHING : c.nnotes && o.strict ? IMPORT_LOSSY : IMPORT_OK;
out:
    json_decref(paths);
    json_decref(c.journeys);
    json_decref(c.secrets);
    jsonpos_free(c.pos);
    return rc;
}
