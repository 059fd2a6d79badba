#include "clickhouse.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sign.h"

struct clickhouse {
    struct clickhouse_url url;
    char name[CLICKHOUSE_HOST_MAX + CLICKHOUSE_NAME_MAX + 16];   /* host:port/database */
    char password[SIGN_SECRET_MAX + 1];
    CURL *curl;
    long connect_ms, total_ms;
    int exec_time_s;
    int unreachable;            /* the latest request got no HTTP answer */
    atomic_int interrupted;     /* clickhouse_interrupt: every request from now on fails */
};

/* Copies the n bytes at s into out (outlen bytes) if they fit and are all allowed by
 * ok(); the part's name goes into the message otherwise. */
static int url_part(const char *s, size_t n, char *out, size_t outlen, int (*ok)(int c),
                    const char *url, const char *part, char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "%s: the %s is missing (expected clickhouse://HOST:PORT/DATABASE)",
                 url, part);
        return -1;
    }
    if (n >= outlen) {
        snprintf(err, errlen, "%s: the %s is longer than %zu characters", url, part, outlen - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!ok((unsigned char)s[i])) {
            snprintf(err, errlen, "%s: the %s has a character '%c' it may not have", url, part,
                     isprint((unsigned char)s[i]) ? s[i] : '?');
            return -1;
        }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int host_char(int c)
{
    return isalnum(c) || c == '.' || c == '-';
}

/* A ClickHouse identifier without quoting: letters, digits and underscores. */
static int name_char(int c)
{
    return isalnum(c) || c == '_';
}

int clickhouse_parse_url(const char *url, struct clickhouse_url *out, char *err,
                         size_t errlen)
{
    static const char scheme[] = "clickhouse://";
    const char *p = url, *at, *colon, *slash;
    char port[8];
    char *end;

    memset(out, 0, sizeof *out);
    if (strncmp(p, scheme, sizeof scheme - 1) != 0) {
        snprintf(err, errlen, "%s: the scheme must be clickhouse:// (as in "
                 "clickhouse://127.0.0.1:8123/vigil)", url);
        return -1;
    }
    p += sizeof scheme - 1;
    slash = strchr(p, '/');
    if (!slash) {
        snprintf(err, errlen, "%s: the database is missing (expected "
                 "clickhouse://HOST:PORT/DATABASE)", url);
        return -1;
    }
    at = memchr(p, '@', (size_t)(slash - p));
    if (at) {
        if (memchr(p, ':', (size_t)(at - p))) {
            snprintf(err, errlen, "%s: a password may not be in the URL; put it in the "
                     "password file (mode 600)", url);
            return -1;
        }
        if (url_part(p, (size_t)(at - p), out->user, sizeof out->user, name_char, url, "user",
                     err, errlen) < 0)
            return -1;
        p = at + 1;
    } else {
        snprintf(out->user, sizeof out->user, "default");
    }
    colon = memchr(p, ':', (size_t)(slash - p));
    if (url_part(p, (size_t)((colon ? colon : slash) - p), out->host, sizeof out->host,
                 host_char, url, "host", err, errlen) < 0)
        return -1;
    if (!colon) {
        snprintf(err, errlen, "%s: the port is missing (ClickHouse's HTTP port, 8123 unless "
                 "configured otherwise)", url);
        return -1;
    }
    if (url_part(colon + 1, (size_t)(slash - colon - 1), port, sizeof port, isdigit, url,
                 "port", err, errlen) < 0)
        return -1;
    long v = strtol(port, &end, 10);
    if (*end || v < 1 || v > 65535) {
        snprintf(err, errlen, "%s: the port must be 1 to 65535", url);
        return -1;
    }
    out->port = (int)v;
    return url_part(slash + 1, strlen(slash + 1), out->database, sizeof out->database,
                    name_char, url, "database", err, errlen);
}

int clickhouse_open(struct clickhouse **out, const char *url, const char *password_file,
                    char *err, size_t errlen)
{
    struct clickhouse *c = calloc(1, sizeof *c);
    int rc = -1;

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (clickhouse_parse_url(url, &c->url, err, errlen) < 0)
        goto out;
    if (password_file && sign_read_secret(password_file, c->password, sizeof c->password,
                                          err, errlen) < 0)
        goto out;
    if (!(c->curl = curl_easy_init())) {
        snprintf(err, errlen, "cannot set up libcurl");
        goto out;
    }
    snprintf(c->name, sizeof c->name, "%s:%d/%s", c->url.host, c->url.port, c->url.database);
    c->connect_ms = CLICKHOUSE_CONNECT_TIMEOUT_MS;
    c->total_ms = CLICKHOUSE_TIMEOUT_MS;
    c->exec_time_s = CLICKHOUSE_EXEC_TIME_S;
    *out = c;
    c = NULL;
    rc = 0;
out:
    clickhouse_close(c);
    return rc;
}

void clickhouse_close(struct clickhouse *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    /* The password does not outlive the handle in freed memory. */
    memset(c->password, 0, sizeof c->password);
    free(c);
}

void clickhouse_set_timeouts(struct clickhouse *c, long connect_ms, long total_ms,
                             int exec_time_s)
{
    if (connect_ms > 0)
        c->connect_ms = connect_ms;
    if (total_ms > 0)
        c->total_ms = total_ms;
    if (exec_time_s > 0)
        c->exec_time_s = exec_time_s;
}

const char *clickhouse_name(const struct clickhouse *c)
{
    return c->name;
}

/* Replaces every occurrence of what in s (in place) by with, which is not longer. */
static void blank_out(char *s, const char *what, const char *with)
{
    size_t n = strlen(what), m = strlen(with);
    char *p;
    if (n == 0 || m > n)
        return;
    while ((p = strstr(s, what))) {
        memcpy(p, with, m);
        memmove(p + m, p + n, strlen(p + n) + 1);
    }
}

void clickhouse_reason(const char *body, size_t len, const char *secret, char *out,
                       size_t outlen)
{
    char *t = malloc(len + 1), *cut;
    size_t o = 0;

    if (outlen == 0)
        return;
    out[0] = '\0';
    if (!t)
        return;
    memcpy(t, body, len);
    t[len] = '\0';
    if (secret)
        blank_out(t, secret, "(password)");
    /* 18.16: "Code: 60, e.displayText() = DB::Exception: ..., e.what() = DB::Exception";
     * current releases: "Code: 60. DB::Exception: .... (UNKNOWN_TABLE) (version 24.3)". */
    static const char *const tails[] = {", e.what() = ", " (version ", "Stack trace"};
    for (size_t k = 0; k < sizeof tails / sizeof *tails; k++)
        if ((cut = strstr(t, tails[k])))
            *cut = '\0';
    blank_out(t, "e.displayText() = ", "");
    blank_out(t, "DB::Exception: ", "");
    for (size_t i = 0; t[i] && o + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)t[i];
        /* An absolute path: a '/' that starts a word, up to the next space or quote. */
        if (ch == '/' && (i == 0 || strchr(" \t'\"`(=:", t[i - 1]))) {
            const char *mark = "(path)";
            while (t[i + 1] && !strchr(" \t\r\n'\"`),", t[i + 1]))
                i++;
            for (; *mark && o + 1 < outlen; mark++)
                out[o++] = *mark;
            continue;
        }
        if (ch == '\n' || ch == '\r' || ch == '\t')
            ch = ' ';
        if (ch < 0x20 || ch == 0x7f)
            continue;
        if (ch == ' ' && (o == 0 || out[o - 1] == ' '))
            continue;
        out[o++] = (char)ch;
    }
    while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == ',' || out[o - 1] == '.'))
        o--;
    out[o] = '\0';
    if (o >= CLICKHOUSE_REASON_MAX && outlen > CLICKHOUSE_REASON_MAX)
        out[CLICKHOUSE_REASON_MAX] = '\0';
    free(t);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, p, size * n) < 0 ? 0 : size * n;
}

/* libcurl's progress callback: non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK),
 * which is how another thread's clickhouse_interrupt stops a running request. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load_explicit(&((struct clickhouse *)arg)->interrupted, memory_order_relaxed);
}

void clickhouse_interrupt(struct clickhouse *c)
{
    atomic_store(&c->interrupted, 1);
}

int clickhouse_unreachable(const struct clickhouse *c)
{
    return c->unreachable;
}

/* One request: POST body to /?database=...&max_execution_time=...[&query=query] and the
 * answer into answer (capped by its max). 0, or -1 with a message that names the server
 * and, for an answer other than 200, ClickHouse's reason. */
static int request(struct clickhouse *c, const char *query, const void *body, size_t len,
                   struct buf *answer, char *err, size_t errlen)
{
    struct buf url;
    char curlerr[CURL_ERROR_SIZE] = "";
    char *q = NULL;
    long status = 0;
    int rc = -1;
    CURLcode res;

    buf_init(&url, 0);
    c->unreachable = 0;
    if (atomic_load(&c->interrupted)) {
        snprintf(err, errlen, "ClickHouse at %s: the collector is stopping", c->name);
        goto out;
    }
    if (query && !(q = curl_easy_escape(c->curl, query, 0))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (buf_printf(&url, "http://%s:%d/?database=%s&max_execution_time=%d%s%s",
                   c->url.host, c->url.port, c->url.database, c->exec_time_s,
                   q ? "&query=" : "", q ? q : "") < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    curl_easy_reset(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->total_ms);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(c->curl, CURLOPT_USERNAME, c->url.user);
    curl_easy_setopt(c->curl, CURLOPT_PASSWORD, c->password);
    curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
    res = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (res == CURLE_WRITE_ERROR && status == 200) {
        snprintf(err, errlen, "ClickHouse at %s: the answer is longer than %zu bytes", c->name,
                 answer->max);
        goto out;
    }
    if (res == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(err, errlen, "ClickHouse at %s: the collector is stopping", c->name);
        goto out;
    }
    if (res != CURLE_OK && res != CURLE_WRITE_ERROR) {
        c->unreachable = 1;
        snprintf(err, errlen, "ClickHouse at %s does not answer: %s", c->name,
                 curlerr[0] ? curlerr : curl_easy_strerror(res));
        goto out;
    }
    if (status != 200) {
        char reason[CLICKHOUSE_REASON_MAX + 1];
        clickhouse_reason(answer->data ? answer->data : "", answer->len, c->password, reason,
                          sizeof reason);
        snprintf(err, errlen, "ClickHouse at %s refused the query (HTTP %ld): %s", c->name,
                 status, reason[0] ? reason : "no reason given");
        goto out;
    }
    rc = 0;
out:
    curl_free(q);
    buf_fini(&url);
    return rc;
}

int clickhouse_query(struct clickhouse *c, const char *sql, size_t max_bytes, char **out,
                     size_t *len, char *err, size_t errlen)
{
    struct buf answer;
    buf_init(&answer, max_bytes ? max_bytes : CLICKHOUSE_ANSWER_MAX);
    *out = NULL;
    if (len)
        *len = 0;
    if (request(c, NULL, sql, strlen(sql), &answer, err, errlen) < 0) {
        buf_fini(&answer);
        return -1;
    }
    if (len)
        *len = answer.len;
    if (!(*out = buf_steal(&answer))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int clickhouse_exec(struct clickhouse *c, const char *sql, char *err, size_t errlen)
{
    char *out = NULL;
    int rc = clickhouse_query(c, sql, 4096, &out, NULL, err, errlen);
    free(out);
    return rc;
}

int clickhouse_query_json(struct clickhouse *c, const char *sql, size_t max_rows,
                          json_t **rows, char *err, size_t errlen)
{
    struct buf q;
    char *text = NULL;
    size_t len = 0;
    int rc = -1;
    json_t *arr = NULL;

    *rows = NULL;
    buf_init(&q, 0);
    if (buf_printf(&q, "%s FORMAT JSONEachRow", sql) < 0 || !(arr = json_array())) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (clickhouse_query(c, q.data, 0, &text, &len, err, errlen) < 0)
        goto out;
    for (char *line = text, *next; line < text + len; line = next) {
        json_error_t jerr;
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        next = nl ? nl + 1 : text + len;
        if (next - line <= 1)
            continue;
        if (json_array_size(arr) >= max_rows) {
            snprintf(err, errlen, "ClickHouse at %s: the answer has more than %zu rows",
                     c->name, max_rows);
            goto out;
        }
        json_t *row = json_loadb(line, (size_t)(next - line), 0, &jerr);
        if (!json_is_object(row)) {
            json_decref(row);
            snprintf(err, errlen, "ClickHouse at %s: row %zu of the answer is not a JSON "
                     "object", c->name, json_array_size(arr) + 1);
            goto out;
        }
        json_array_append_new(arr, row);
    }
    *rows = arr;
    arr = NULL;
    rc = 0;
out:
    json_decref(arr);
    free(text);
    buf_fini(&q);
    return rc;
}

int clickhouse_json_int(const json_t *row, const char *field, long long *out)
{
    const json_t *v = json_object_get(row, field);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        char *end;
        const char *s = json_string_value(v);
        long long x = strtoll(s, &end, 10);
        if (*s && !*end) {
            *out = x;
            return 0;
        }
    }
    return -1;
}

int clickhouse_insert(struct clickhouse *c, const char *into, const char *format,
                      const void *body, size_t len, char *err, size_t errlen)
{
    struct buf q, answer;
    int rc = -1;

    buf_init(&q, 0);
    buf_init(&answer, 4096);
    if (buf_printf(&q, "INSERT INTO %s FORMAT %s", into, format) < 0)
        snprintf(err, errlen, "out of memory");
    else
        rc = request(c, q.data, body, len, &answer, err, errlen);
    buf_fini(&q);
    buf_fini(&answer);
    return rc;
}

int clickhouse_tsv_field(struct buf *b, const char *s)
{
    size_t start = b->len;
    for (const char *p = s; *p;) {
        size_t run = strcspn(p, "\\\t\n\r");
        const char *esc = p[run] == '\\' ? "\\\\" : p[run] == '\t' ? "\\t"
                        : p[run] == '\n' ? "\\n" : p[run] == '\r' ? "\\r" : "";
        if (buf_append(b, p, run) < 0 || buf_puts(b, esc) < 0) {
            b->len = start;
            if (b->data)
                b->data[start] = '\0';
            return -1;
        }
        p += run + (p[run] != '\0');
    }
    return 0;
}
