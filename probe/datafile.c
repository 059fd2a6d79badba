#include "datafile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonpos.h"

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* Reads the whole file into a new NUL-terminated buffer (*len bytes). */
static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    struct buf b;
    char chunk[65536];
    size_t n;

    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf_init(&b, DATAFILE_BYTES_MAX);
    buf_puts(&b, "");
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (buf_append(&b, chunk, n) < 0) {
            snprintf(err, errlen, "%s: larger than %d bytes", path, DATAFILE_BYTES_MAX);
            goto fail;
        }
    }
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    fclose(fp);
    *len = b.len;
    return buf_steal(&b);
fail:
    fclose(fp);
    buf_fini(&b);
    return NULL;
}

/* One CSV field at *p (RFC 4180 section 2, rules 5-7): quoted, with "" for a quote and
 * line breaks allowed inside, or unquoted, without quotes. Advances *p past it and *line
 * past the line breaks inside; returns a new string, or NULL with err. */
static json_t *csv_field(const char *path, const char **p, const char *end, int *line,
                         char *err, size_t errlen)
{
    struct buf b;
    const char *s = *p;
    int start = *line;
    json_t *v = NULL;

    buf_init(&b, 0);
    buf_puts(&b, "");
    if (s < end && *s == '"') {
        for (s++;; s++) {
            if (s >= end) {
                snprintf(err, errlen, "%s:%d: a quoted field is not closed", path, start);
                goto out;
            }
            if (*s == '"' && s + 1 < end && s[1] == '"') {
                buf_append(&b, "\"", 1);
                s++;
            } else if (*s == '"') {
                s++;
                break;
            } else {
                *line += *s == '\n';
                buf_append(&b, s, 1);
            }
        }
        if (s < end && *s != ',' && *s != '\r' && *s != '\n') {
            snprintf(err, errlen, "%s:%d: after a closing quote comes a comma or the end of"
                     " the line, not '%c'", path, *line, *s);
            goto out;
        }
    } else {
        for (; s < end && *s != ',' && *s != '\r' && *s != '\n'; s++) {
            if (*s == '"') {
                snprintf(err, errlen, "%s:%d: a quote inside an unquoted field: quote the whole"
                         " field and double the quote (\"a \"\"b\"\"\")", path, *line);
                goto out;
            }
            buf_append(&b, s, 1);
        }
    }
    if (!(v = json_stringn(b.data, b.len)))
        snprintf(err, errlen, "%s:%d: a field is not valid UTF-8", path, start);
out:
    buf_fini(&b);
    *p = s;
    return v;
}

/* One CSV record into a new array of strings; *p moves past its line break. */
static json_t *csv_record(const char *path, const char **p, const char *end, int *line,
                          char *err, size_t errlen)
{
    json_t *rec = json_array();
    for (;;) {
        if (json_array_size(rec) == DATAFILE_COLUMNS_MAX) {
            snprintf(err, errlen, "%s:%d: more than %d fields", path, *line, DATAFILE_COLUMNS_MAX);
            goto fail;
        }
        json_t *f = csv_field(path, p, end, line, err, errlen);
        if (!f)
            goto fail;
        json_array_append_new(rec, f);
        if (*p < end && **p == ',') {
            (*p)++;
            continue;
        }
        break;
    }
    if (*p < end && **p == '\r')
        (*p)++;
    if (*p < end && **p == '\n') {
        (*p)++;
        (*line)++;
    }
    return rec;
fail:
    json_decref(rec);
    return NULL;
}

static int csv_rows(const char *path, const char *text, size_t len, json_t *rows,
                    json_t *lines, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    int line = 1, rc = -1;
    json_t *header;

    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;   /* the byte order mark spreadsheets write */
    if (p == end) {
        snprintf(err, errlen, "%s:1: empty: a CSV file needs a header row naming the columns",
                 path);
        return -1;
    }
    if (!(header = csv_record(path, &p, end, &line, err, errlen)))
        return -1;
    size_t i;
    json_t *h;
    json_array_foreach(header, i, h) {
        const char *name = json_string_value(h);
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_array_get(header, k)), name) == 0) {
                snprintf(err, errlen, "%s:1: column \"%s\" named twice in the header", path, name);
                goto out;
            }
        if (!*name) {
            snprintf(err, errlen, "%s:1: column %zu has no name in the header row", path, i + 1);
            goto out;
        }
    }
    while (p < end) {
        int at = line;
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
            p += *p == '\r' ? 2 : 1;   /* a blank line is no record */
            line++;
            continue;
        }
        if (json_array_size(rows) == DATAFILE_ROWS_MAX) {
            snprintf(err, errlen, "%s:%d: more than %d rows", path, at, DATAFILE_ROWS_MAX);
            goto out;
        }
        json_t *rec = csv_record(path, &p, end, &line, err, errlen);
        if (!rec)
            goto out;
        if (json_array_size(rec) != json_array_size(header)) {
            snprintf(err, errlen, "%s:%d: %zu fields where the header has %zu columns", path, at,
                     json_array_size(rec), json_array_size(header));
            json_decref(rec);
            goto out;
        }
        json_t *row = json_object(), *v;
        json_array_foreach(rec, i, v)
            json_object_set(row, json_string_value(json_array_get(header, i)), v);
        json_decref(rec);
        json_array_append_new(rows, row);
        json_array_append_new(lines, json_integer(at));
    }
    rc = 0;
out:
    json_decref(header);
    return rc;
}

static int jsonl_rows(const char *path, const char *text, size_t len, json_t *rows,
                      json_t *lines, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t n = (size_t)(stop - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (strspn(p, " \t") < n) {
            json_error_t je;
            if (json_array_size(rows) == DATAFILE_ROWS_MAX) {
                snprintf(err, errlen, "%s:%d: more than %d rows", path, line, DATAFILE_ROWS_MAX);
                return -1;
            }
            json_t *row = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
            if (!row) {
                snprintf(err, errlen, "%s:%d:%d: %s", path, line, je.column, je.text);
                return -1;
            }
            if (!json_is_object(row)) {
                json_decref(row);
                snprintf(err, errlen, "%s:%d: each line must be a JSON object of variable"
                         " names to values", path, line);
                return -1;
            }
            json_array_append_new(rows, row);
            json_array_append_new(lines, json_integer(line));
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int datafile_rows(const char *path, json_t **rows, json_t **lines, char *err, size_t errlen)
{
    size_t len;
    int csv = ends_with(path, ".csv");
    char *text;
    int rc;

    *rows = *lines = NULL;
    if (!csv && !ends_with(path, ".jsonl") && !ends_with(path, ".ndjson")) {
        snprintf(err, errlen, "%s: --data takes a .csv or a .jsonl (JSON Lines) file", path);
        return -1;
    }
    if (!(text = read_all(path, &len, err, errlen)))
        return -1;
    *rows = json_array();
    *lines = json_array();
    rc = csv ? csv_rows(path, text, len, *rows, *lines, err, errlen)
             : jsonl_rows(path, text, len, *rows, *lines, err, errlen);
    if (rc == 0 && json_array_size(*rows) == 0) {
        snprintf(err, errlen, "%s: no rows", path);
        rc = -1;
    }
    free(text);
    if (rc < 0) {
        json_decref(*rows);
        json_decref(*lines);
        *rows = *lines = NULL;
    }
    return rc;
}

int datafile_env(const char *path, json_t **vars, json_t **secrets, char *err, size_t errlen)
{
    static const char *const keys[] = {"variables", "secrets", NULL};
    size_t len, i;
    json_error_t je;
    json_t *root = NULL, *v, *list;
    struct jsonpos *pos = NULL;
    char *text;
    char at[512];
    const char *key;
    int rc = -1;

    *vars = *secrets = NULL;
    if (!(text = read_all(path, &len, err, errlen)))
        return -1;
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je))) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        goto out;
    }
    pos = jsonpos_new(text, len);
    struct jsonpos_doc d = {path, pos, err, errlen};
    if (!json_is_object(root)) {
        jsonpos_fail(&d, "", 0, "an environment file is an object: {\"variables\": {...},"
                     " \"secrets\": [...]}");
        goto out;
    }
    if (jsonpos_check_keys(&d, root, "", keys, "the environment file") < 0)
        goto out;
    v = json_object_get(root, "variables");
    if (!json_is_object(v)) {
        jsonpos_fail(&d, v ? "/variables" : "", 0, "\"variables\" must be an object of"
                     " names to values");
        goto out;
    }
    json_object_foreach(v, key, list) {
        jsonpos_child(at, sizeof at, "/variables", key);
        if (json_is_object(list) || json_is_array(list) || json_is_null(list)) {
            jsonpos_fail(&d, at, 0, "variable \"%s\" must be a string, number or boolean", key);
            goto out;
        }
    }
    list = json_object_get(root, "secrets");
    if (list && !json_is_array(list)) {
        jsonpos_fail(&d, "/secrets", 0, "\"secrets\" must be a list of variable names");
        goto out;
    }
    *secrets = json_array();
    json_t *name;
    json_array_foreach(list, i, name) {
        snprintf(at, sizeof at, "/secrets/%zu", i);
        json_t *val = json_object_get(v, json_string_value(name) ? json_string_value(name) : "");
        if (!json_is_string(name) || !val) {
            jsonpos_fail(&d, at, 0, "a secret must name one of the \"variables\"");
            goto out;
        }
        if (!json_is_string(val) || !*json_string_value(val)) {
            jsonpos_fail(&d, at, 0, "secret \"%s\" must have a non-empty string value",
                         json_string_value(name));
            goto out;
        }
        json_array_append(*secrets, val);
    }
    *vars = json_incref(v);
    rc = 0;
out:
    if (rc < 0) {
        json_decref(*secrets);
        *secrets = NULL;
    }
    jsonpos_free(pos);
    json_decref(root);
    free(text);
    return rc;
}
