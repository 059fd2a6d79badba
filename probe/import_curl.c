#include "import_curl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "journey.h"

/* One word of the command line after bash's quoting is undone (bash(1), QUOTING). */
struct word {
    char *text;
    int line, col;
    int literal_braces;         /* "{{" came from the input itself, not from $VAR */
    int sep;                    /* not a word: the end of a command (newline, ;, &&, |) */
};

struct words {
    struct word *v;
    size_t n;
};

static void push_word(struct words *w, struct buf *b, int line, int col, int braces, int sep)
{
    struct word *v = realloc(w->v, (w->n + 1) * sizeof *v);
    if (!v)
        return;
    w->v = v;
    v[w->n].text = buf_steal(b);
    v[w->n].line = line;
    v[w->n].col = col;
    v[w->n].literal_braces = braces;
    v[w->n].sep = sep;
    w->n++;
    buf_init(b, IMPORT_CURL_MAX);
}

static void put_utf8(struct buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, u, n);
}

/* Decodes the escape of a $'...' string at *p (just past the backslash) into b, as bash
 * does (bash(1), QUOTING: \a \b \e \f \n \r \t \v \\ \' \" \? \nnn \xHH \uHHHH
 * \UHHHHHHHH \cX); moves *p past it. */
static void ansi_escape(const char **p, struct buf *b)
{
    static const char from[] = "abefnrtv\\'\"?E";
    static const char to[] = "\a\b\x1b\f\n\r\t\v\\'\"?\x1b";
    const char *s = *p;
    const char *hit = *s ? strchr(from, *s) : NULL;
    if (hit) {
        buf_append(b, &to[hit - from], 1);
        *p = s + 1;
        return;
    }
    int max = *s == 'x' ? 2 : *s == 'u' ? 4 : *s == 'U' ? 8 : 0;
    if (max) {
        unsigned long v = 0;
        int n = 0;
        for (s++; n < max && isxdigit((unsigned char)*s); n++, s++)
            v = v * 16 + (unsigned long)(isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10);
        if (n == 0) {
            buf_append(b, "\\", 1);
            buf_append(b, s - 1, 1);
        } else if (max == 2) {
            char ch = (char)v;
            buf_append(b, &ch, 1);
        } else {
            put_utf8(b, v);
        }
        *p = s;
        return;
    }
    if (*s >= '0' && *s <= '7') {
        unsigned v = 0;
        for (int n = 0; n < 3 && *s >= '0' && *s <= '7'; n++, s++)
            v = v * 8 + (unsigned)(*s - '0');
        char ch = (char)v;
        buf_append(b, &ch, 1);
        *p = s;
        return;
    }
    if (*s == 'c' && s[1]) {
        char ch = (char)(toupper((unsigned char)s[1]) & 0x1F);
        buf_append(b, &ch, 1);
        *p = s + 2;
        return;
    }
    buf_append(b, "\\", 1);
    *p = s;
}

/* $NAME or ${NAME} at *p (on the '$'): appends {{env.NAME}} and returns 1, else 0. */
static int env_ref(const char **p, struct buf *b)
{
    const char *s = *p + 1;
    int brace = *s == '{';
    s += brace;
    const char *start = s;
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    while (isalnum((unsigned char)*s) || *s == '_')
        s++;
    if (brace && *s != '}')
        return 0;
    buf_printf(b, "{{env.%.*s}}", (int)(s - start), start);
    *p = s + brace;
    return 1;
}

/* At the end of the text inside a quote (ch == 0): says where the quote opened. */
static int unclosed(struct import_ctx *c, char ch, const char *quote, int line, int col,
                    char *err, size_t errlen)
{
    if (ch)
        return 0;
    snprintf(err, errlen, "%s:%d:%d: a %s quote that is never closed", c->input, line, col, quote);
    return 1;
}

/* Splits text into words as bash would for a simple command. Returns 0, or -1 with
 * "FILE:LINE:COL: what" in err (an unclosed quote). */
static int split(struct import_ctx *c, const char *text, struct words *w, char *err,
                 size_t errlen)
{
    struct buf b;
    const char *p = text;
    int line = 1, col = 1, wline = 0, wcol = 0, in_word = 0, braces = 0, last_brace = 0;

    buf_init(&b, IMPORT_CURL_MAX);
#define ADVANCE()                                                                         \
    do {                                                                                  \
        if (*p == '\n') {                                                                 \
            line++;                                                                       \
            col = 1;                                                                      \
        } else if (((unsigned char)*p & 0xC0) != 0x80) {                                  \
            col++;                                                                        \
        }                                                                                 \
        p++;                                                                              \
    } while (0)
#define START()                                                                           \
    do {                                                                                  \
        if (!in_word) {                                                                   \
            in_word = 1;                                                                  \
            wline = line;                                                                 \
            wcol = col;                                                                   \
            braces = last_brace = 0;                                                      \
        }                                                                                 \
    } while (0)
#define LITERAL(ch)                                                                       \
    do {                                                                                  \
        char ch_ = (ch);                                                                  \
        braces |= ch_ == '{' && last_brace;                                               \
        last_brace = ch_ == '{';                                                          \
        buf_append(&b, &ch_, 1);                                                          \
    } while (0)

    while (*p) {
        if (*p == '\\' && p[1] == '\n') {          /* a line continuation */
            ADVANCE();
            ADVANCE();
            continue;
        }
        if (*p == '\\' && p[1] == '\r' && p[2] == '\n') {
            ADVANCE();
            ADVANCE();
            ADVANCE();
            continue;
        }
        if (*p == ' ' || *p == '\t' || *p == '\r') {
            if (in_word)
                push_word(w, &b, wline, wcol, braces, 0);
            in_word = 0;
            ADVANCE();
            continue;
        }
        if (*p == '#' && !in_word) {               /* a comment to the end of the line */
            while (*p && *p != '\n')
                ADVANCE();
            continue;
        }
        if (*p == '\n' || *p == ';' || *p == '&' || *p == '|') {
            if (in_word)
                push_word(w, &b, wline, wcol, braces, 0);
            in_word = 0;
            int sl = line, sc = col;
            buf_append(&b, p, 1);
            if ((*p == '&' || *p == '|') && p[1] == *p) {
                ADVANCE();
                buf_append(&b, p, 1);
            }
            ADVANCE();
            push_word(w, &b, sl, sc, 0, 1);
            continue;
        }
        START();
        if (*p == '$' && p[1] == '\'') {           /* ANSI-C quoting */
            int ql = line, qc = col;
            ADVANCE();
            ADVANCE();
            while (*p && *p != '\'') {
                if (*p == '\\') {
                    const char *q = p + 1;
                    struct buf e;
                    buf_init(&e, 16);
                    ansi_escape(&q, &e);
                    for (size_t k = 0; k < e.len; k++)
                        LITERAL(e.data[k]);
                    buf_fini(&e);
                    while (p < q)
                        ADVANCE();
                } else {
                    LITERAL(*p);
                    ADVANCE();
                }
            }
            if (unclosed(c, *p, "$'", ql, qc, err, errlen))
                goto fail;
            ADVANCE();
            continue;
        }
        if (*p == '\'') {
            int ql = line, qc = col;
            ADVANCE();
            while (*p && *p != '\'') {
                LITERAL(*p);
                ADVANCE();
            }
            if (unclosed(c, *p, "'", ql, qc, err, errlen))
                goto fail;
            ADVANCE();
            continue;
        }
        if (*p == '"') {
            int ql = line, qc = col;
            ADVANCE();
            while (*p && *p != '"') {
                if (*p == '\\' && p[1] && strchr("$`\"\\\n", p[1])) {
                    ADVANCE();
                    if (*p != '\n')
                        LITERAL(*p);
                    ADVANCE();
                } else if (*p == '$' && env_ref(&p, &b)) {
                    last_brace = 0;
                } else {
                    LITERAL(*p);
                    ADVANCE();
                }
            }
            if (unclosed(c, *p, "\"", ql, qc, err, errlen))
                goto fail;
            ADVANCE();
            continue;
        }
        if (*p == '\\' && p[1]) {
            ADVANCE();
            LITERAL(*p);
            ADVANCE();
            continue;
        }
        if (*p == '$' && env_ref(&p, &b)) {
            last_brace = 0;
            continue;
        }
        LITERAL(*p);
        ADVANCE();
    }
    if (in_word)
        push_word(w, &b, wline, wcol, braces, 0);
    buf_fini(&b);
    return 0;
fail:
    buf_fini(&b);
    return -1;
#undef ADVANCE
#undef START
#undef LITERAL
}

/* Options that change only what curl prints or how it connects, not the request. */
static const char *const quiet_opts[] = {
    "-s", "--silent", "-S", "--show-error", "-v", "--verbose", "-i", "--include", "-f",
    "--fail", "--fail-with-body", "--compressed", "-#", "--progress-bar", "--http1.1",
    "--http2", "--http2-prior-knowledge", "--no-buffer", "-N", "--globoff", "-g", NULL
};
/* Options with a value that is nothing to the request (where curl writes, timeouts to
 * connect). */
static const char *const quiet_value_opts[] = {"-o", "--output", "-w", "--write-out",
                                               "--connect-timeout", "--retry", NULL};

static int in_list(const char *s, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

/* What one curl command says, gathered before it becomes a step. */
struct cmd {
    const char *url, *method;
    json_t *headers;            /* array of [name, value, word index] */
    struct buf data;            /* the body, parts joined with '&' as curl does */
    int has_data, get, head, follow;
    long max_time_ms;
    const char *user;
    const struct word *user_at;
    json_t *multipart;          /* -F parts */
};

static void percent_encode(struct buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || strchr("-._~", ch))
            buf_append(b, s, 1);
        else
            buf_printf(b, "%%%02X", ch);
    }
}

/* Adds the value of --data-urlencode as curl does (curl(1), --data-urlencode). Returns 0,
 * or -1 for the forms that read a file. */
static int data_urlencode(struct buf *b, const char *v)
{
    const char *eq = strchr(v, '='), *at = strchr(v, '@');
    if (at && (!eq || at < eq))
        return -1;
    if (eq) {
        buf_append(b, v, (size_t)(eq - v));
        if (eq != v)
            buf_append(b, "=", 1);
        percent_encode(b, eq + 1);
    } else {
        percent_encode(b, v);
    }
    return 0;
}

static const char *header_value(const json_t *headers, const char *name)
{
    size_t i;
    json_t *h;
    json_array_foreach(headers, i, h)
        if (strcasecmp(json_string_value(json_array_get(h, 0)), name) == 0)
            return json_string_value(json_array_get(h, 1));
    return NULL;
}

/* Reads one option at words[*i] (an option word) into cmd. Returns 0, or -1 when the
 * option is listed as not converted. */
static int take_option(struct import_ctx *c, struct cmd *m, const struct words *w, size_t *i,
                       size_t end)
{
    const struct word *o = &w->v[*i];
    char opt[64];
    const char *val = NULL;
    const char *a = o->text;

    /* --opt=value, and short options glued to their value (-XPOST, -H'a: b'). */
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    if (eq) {
        snprintf(opt, sizeof opt, "%.*s", (int)(eq - a), a);
        val = eq + 1;
    } else if (a[1] != '-' && a[2] && strchr("XHdbuAeFm", a[1])) {
        snprintf(opt, sizeof opt, "%.2s", a);
        val = a + 2;
    } else {
        snprintf(opt, sizeof opt, "%s", a);
    }
    if (in_list(opt, quiet_opts))
        return 0;
    static const char *const with_value[] = {
        "-X", "--request", "-H", "--header", "-d", "--data", "--data-raw", "--data-binary",
        "--data-ascii", "--data-urlencode", "-u", "--user", "-b", "--cookie", "-A",
        "--user-agent", "-e", "--referer", "-F", "--form", "--form-string", "--url", "-m",
        "--max-time", "--json", "-o", "--output", "-w", "--write-out", "--connect-timeout",
        "--retry", NULL
    };
    int takes = in_list(opt, with_value);
    if (takes && !val) {
        if (*i + 1 >= end) {
            import_skip_at(c, o->line, o->col, "%s has no value: not converted", opt);
            return -1;
        }
        val = w->v[++*i].text;
    }
    if (in_list(opt, quiet_value_opts))
        return 0;
    if (!strcmp(opt, "-X") || !strcmp(opt, "--request")) {
        if (!journey_token_ok(val)) {
            import_skip_at(c, o->line, o->col, "%s \"%s\" is not an HTTP method: not converted",
                           opt, val);
            return -1;
        }
        m->method = val;
    } else if (!strcmp(opt, "-H") || !strcmp(opt, "--header")) {
        const char *colon = strchr(val, ':');
        if (!colon || colon == val) {
            import_skip_at(c, o->line, o->col, "header \"%s\" (no \"Name: value\"; curl's"
                           " \"Name;\" form sends an empty header): not converted", val);
            return -1;
        }
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(colon - val), val);
        if (!journey_token_ok(name)) {
            import_skip_at(c, o->line, o->col, "header name \"%s\" is not a token: not converted", name);
            return -1;
        }
        if (*v)
            json_array_append_new(m->headers, json_pack("[s,s,I]", name, v, (json_int_t)*i));
    } else if (!strcmp(opt, "-A") || !strcmp(opt, "--user-agent")) {
        json_array_append_new(m->headers, json_pack("[s,s,I]", "User-Agent", val, (json_int_t)*i));
    } else if (!strcmp(opt, "-e") || !strcmp(opt, "--referer")) {
        json_array_append_new(m->headers, json_pack("[s,s,I]", "Referer", val, (json_int_t)*i));
    } else if (!strcmp(opt, "-b") || !strcmp(opt, "--cookie")) {
        if (!strchr(val, '=')) {
            import_skip_at(c, o->line, o->col, "%s %s reads cookies from a file: not converted"
                           " (the journey's cookie jar keeps what its responses set)", opt, val);
            return -1;
        }
        json_array_append_new(m->headers, json_pack("[s,s,I]", "Cookie", val, (json_int_t)*i));
    } else if (!strncmp(opt, "--data", 6) || !strcmp(opt, "-d") || !strcmp(opt, "--json")) {
        int raw = !strcmp(opt, "--data-raw");
        if (m->has_data)
            buf_append(&m->data, "&", 1);
        m->has_data = 1;
        if (!strcmp(opt, "--data-urlencode")) {
            if (data_urlencode(&m->data, val) < 0) {
                import_skip_at(c, o->line, o->col, "%s %s reads a file: not converted", opt, val);
                return -1;
            }
        } else if (!raw && val[0] == '@') {
            import_skip_at(c, o->line, o->col, "%s %s reads the body from a file: not"
                           " converted", opt, val);
            return -1;
        } else {
            buf_puts(&m->data, val);
        }
        if (!strcmp(opt, "--json")) {
            json_array_append_new(m->headers, json_pack("[s,s,I]", "Content-Type",
                                                        "application/json", (json_int_t)*i));
            json_array_append_new(m->headers, json_pack("[s,s,I]", "Accept", "application/json",
                                                        (json_int_t)*i));
        }
    } else if (!strcmp(opt, "-u") || !strcmp(opt, "--user")) {
        m->user = val;
        m->user_at = o;
    } else if (!strcmp(opt, "-F") || !strcmp(opt, "--form") || !strcmp(opt, "--form-string")) {
        const char *e = strchr(val, '=');
        if (!e || e == val) {
            import_skip_at(c, o->line, o->col, "%s %s: not converted (expected NAME=VALUE)", opt, val);
            return -1;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(e - val), val);
        int file = e[1] == '@' && strcmp(opt, "--form-string") != 0;
        if (!m->multipart)
            m->multipart = json_array();
        json_array_append_new(m->multipart, json_pack("{s:s,s:s}", "name", name,
                                                      file ? "file" : "value", e + 1 + file));
        m->has_data = 1;
    } else if (!strcmp(opt, "--url")) {
        m->url = val;
    } else if (!strcmp(opt, "-m") || !strcmp(opt, "--max-time")) {
        char *endp;
        double s = strtod(val, &endp);
        if (*endp || s <= 0 || s > 3600) {
            import_skip_at(c, o->line, o->col, "%s %s: not converted (seconds from 0 to 3600)",
                           opt, val);
            return -1;
        }
        m->max_time_ms = (long)(s * 1000 + 0.5);
    } else if (!strcmp(opt, "-G") || !strcmp(opt, "--get")) {
        m->get = 1;
    } else if (!strcmp(opt, "-I") || !strcmp(opt, "--head")) {
        m->head = 1;
    } else if (!strcmp(opt, "-L") || !strcmp(opt, "--location")) {
        m->follow = 1;
    } else if (!strcmp(opt, "-k") || !strcmp(opt, "--insecure")) {
        import_note_at(c, o->line, o->col, "%s is not part of a journey: give --insecure to"
                       " probe run if the service's certificate cannot be verified", opt);
    } else {
        import_skip_at(c, o->line, o->col, "option %s: not converted", opt);
        return -1;
    }
    return 0;
}

/* Turns one command (words[start..end)) into a step of journey j. */
static void command(struct import_ctx *c, json_t *j, const struct words *w, size_t start,
                    size_t end)
{
    struct cmd m;
    const struct word *first = &w->v[start];
    memset(&m, 0, sizeof m);
    m.headers = json_array();
    buf_init(&m.data, IMPORT_CURL_MAX);

    for (size_t i = start + 1; i < end; i++) {
        const struct word *x = &w->v[i];
        if (x->sep && (x->text[0] == '|')) {
            import_skip_at(c, x->line, x->col, "the pipe and what follows it: not converted");
            break;
        }
        if (x->text[0] == '-' && x->text[1])
            take_option(c, &m, w, &i, end);
        else if (!m.url)
            m.url = x->text;
        else
            import_skip_at(c, x->line, x->col, "a second URL \"%s\": not converted (one"
                           " request per command)", x->text);
    }
    if (!m.url) {
        import_skip_at(c, first->line, first->col, "a curl command without a URL: not converted");
        goto out;
    }
    char origin[2048];
    json_t *req = json_object();
    json_t *step = json_object();
    struct buf url;
    buf_init(&url, IMPORT_CURL_MAX);
    if (!import_split_origin(m.url, origin, sizeof origin) && strncmp(m.url, "{{", 2) != 0)
        buf_puts(&url, "http://");      /* curl's own guess for a URL without a scheme */
    buf_puts(&url, m.url);
    if (m.get && m.has_data) {
        buf_puts(&url, strchr(url.data, '?') ? "&" : "?");
        buf_puts(&url, m.data.data);
    }
    json_object_set_new(req, "method", json_string(m.method ? m.method : m.head ? "HEAD"
                                                   : m.has_data && !m.get ? "POST" : "GET"));
    json_object_set_new(req, "url", import_url(j, url.data));
    json_t *hdrs = json_object();
    size_t i;
    json_t *h;
    json_array_foreach(m.headers, i, h) {
        const char *name = json_string_value(json_array_get(h, 0));
        const char *value = json_string_value(json_array_get(h, 1));
        const struct word *at = &w->v[json_integer_value(json_array_get(h, 2))];
        if (strcasecmp(name, "Accept-Encoding") == 0)
            continue;   /* what probe's libcurl decodes is its own business */
        if (import_secret_header(name)) {
            char where[300];
            snprintf(where, sizeof where, "header %s", name);
            json_object_set_new(hdrs, name, import_secret(c, name, value, NULL, at->line,
                                                          at->col, where));
        } else {
            json_object_set_new(hdrs, name, json_string(value));
        }
    }
    if (m.user) {
        const char *colon = strchr(m.user, ':');
        char user[512];
        snprintf(user, sizeof user, "%.*s", colon ? (int)(colon - m.user) : (int)strlen(m.user), m.user);
        if (!colon) {
            import_skip_at(c, m.user_at->line, m.user_at->col, "-u %s without a password"
                           " (curl would ask for it): not converted", m.user);
        } else {
            char *basic = import_basic_auth(user, colon + 1);
            char where[300];
            snprintf(where, sizeof where, "-u %s:...", user);
            if (basic)
                json_object_set_new(hdrs, "Authorization",
                                    import_secret(c, "AUTHORIZATION", basic, NULL,
                                                  m.user_at->line, m.user_at->col, where));
            free(basic);
        }
    }
    const char *ct = header_value(m.headers, "Content-Type");
    if (m.has_data && !m.get && !m.multipart && !ct)
        json_object_set_new(hdrs, "Content-Type", json_string("application/x-www-form-urlencoded"));
    if (json_object_size(hdrs))
        json_object_set(req, "headers", hdrs);
    json_decref(hdrs);
    if (m.multipart) {
        if (import_shape_supported("multipart"))
            json_object_set(req, "multipart", m.multipart);
        else
            import_skip_at(c, first->line, first->col, "-F (multipart/form-data body): not"
                           " converted (this probe has no multipart bodies)");
        if (m.data.len)
            import_skip_at(c, first->line, first->col, "-d beside -F: not converted");
    } else if (m.has_data && !m.get) {
        import_set_body(req, m.data.data, ct);
        import_secret_fields(c, req, NULL, first->line, first->col, "the request");
    }
    char name[300];
    const char *rest = import_split_origin(url.data, origin, sizeof origin);
    snprintf(name, sizeof name, "%s %.200s", json_string_value(json_object_get(req, "method")),
             rest && *rest ? rest : url.data);
    json_object_set_new(step, "name", json_string(name));
    json_object_set_new(step, "request", req);
    if (m.follow)
        json_object_set_new(step, "follow_redirects", json_true());
    if (m.max_time_ms)
        json_object_set_new(step, "timeout_ms", json_integer(m.max_time_ms));
    json_array_append_new(json_object_get(j, "steps"), step);
    buf_fini(&url);
out:
    json_decref(m.headers);
    json_decref(m.multipart);
    buf_fini(&m.data);
}

static char *read_all(const char *path, char *err, size_t errlen)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct buf b;
    char chunk[8192];
    size_t n;

    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf_init(&b, IMPORT_CURL_MAX);
    buf_puts(&b, "");
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (buf_append(&b, chunk, n) < 0) {
            snprintf(err, errlen, "%s: larger than %d bytes", path, IMPORT_CURL_MAX);
            buf_fini(&b);
            b.data = NULL;
            break;
        }
    }
    if (fp != stdin)
        fclose(fp);
    return b.data ? buf_steal(&b) : NULL;
}

int import_curl(struct import_ctx *c, char *err, size_t errlen)
{
    char *text = read_all(c->opts->input, err, errlen);
    struct words w = {NULL, 0};
    int rc = -1;

    if (!text)
        return -1;
    if (strstr(text, "^\"") || strstr(text, "^\\^\"")) {
        snprintf(err, errlen, "%s: this is \"Copy as cURL (cmd)\" (Windows quoting); copy it"
                 " as cURL (bash) instead", c->input);
        goto out;
    }
    if (split(c, text, &w, err, errlen) < 0)
        goto out;
    /* The journey is named after the file; its base is the first URL's origin. */
    const char *base = strcmp(c->opts->input, "-") == 0 ? "curl" : c->opts->input;
    const char *slash = strrchr(base, '/');
    char name[256], origin[2048] = "";
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    for (size_t i = 0; i < w.n; i++) {
        if (!w.v[i].sep && w.v[i].text[0] != '-' && import_split_origin(w.v[i].text, origin,
                                                                          sizeof origin))
            break;
        origin[0] = '\0';
    }
    json_t *j = import_journey_new(name, origin);
    for (size_t i = 0; i < w.n;) {
        size_t end = i;
        while (end < w.n && !(w.v[end].sep && w.v[end].text[0] != '|'))
            end++;
        if (end > i) {
            const struct word *first = &w.v[i];
            const char *prog = strrchr(first->text, '/') ? strrchr(first->text, '/') + 1 : first->text;
            int literal_ok = 1;
            for (size_t k = i; k < end; k++)
                literal_ok &= !w.v[k].literal_braces;
            if (first->sep)
                ;
            else if (strcmp(prog, "curl") != 0 && strcmp(prog, "curl.exe") != 0)
                import_skip_at(c, first->line, first->col, "\"%s ...\" is not a curl command:"
                               " not converted", first->text);
            else if (!literal_ok)
                import_skip_at(c, first->line, first->col, "this command holds \"{{\", which a"
                               " journey reads as a variable: not converted");
            else
                command(c, j, &w, i, end);
        }
        i = end + 1;
    }
    if (json_array_size(json_object_get(j, "steps")))
        import_add(c, j);
    else
        json_decref(j);
    rc = 0;
out:
    for (size_t i = 0; i < w.n; i++)
        free(w.v[i].text);
    free(w.v);
    free(text);
    return rc;
}
