/*
 * clickhouse: a client of ClickHouse's HTTP interface through libcurl, the transport of
 * the scale-out store (collector/README.md, "ClickHouse"; the schema and
 * the rollup reads and writes are shared/chstore.h).
 *
 * The interface is https://clickhouse.com/docs/interfaces/http: a query is POSTed as the
 * request body (an INSERT's query goes in the URL's `query` parameter and its rows in the
 * body), the database and every setting are URL parameters, the user and password go as
 * HTTP Basic authentication, and an error is a status other than 200 with ClickHouse's
 * exception text as the body. Only what both 18.16 (Debian 12) and current releases
 * accept is used.
 *
 * Every request is bounded: a connect timeout and a total timeout (libcurl), the setting
 * max_execution_time on every query (the server stops a long read), and a cap on the
 * bytes and rows of an answer. Error messages are sentences for an operator: they name
 * the server as host:port and carry ClickHouse's own reason with every file path and the
 * password taken out, so that one can go into an HTTP error body.
 *
 * A struct clickhouse holds one libcurl handle and belongs to one thread; a process calls
 * curl_global_init() once before opening any.
 */
#ifndef VIGIL_CLICKHOUSE_H
#define VIGIL_CLICKHOUSE_H

#include <jansson.h>
#include <stddef.h>

#define CLICKHOUSE_HOST_MAX 255             /* a DNS name */
#define CLICKHOUSE_NAME_MAX 64              /* a database or user name */
#define CLICKHOUSE_CONNECT_TIMEOUT_MS 2000L
#define CLICKHOUSE_TIMEOUT_MS 10000L        /* a whole request, INSERT body included */
#define CLICKHOUSE_EXEC_TIME_S 8            /* max_execution_time of a query */
#define CLICKHOUSE_ANSWER_MAX (16u << 20)   /* bytes of one answer */
#define CLICKHOUSE_REASON_MAX 240           /* bytes of ClickHouse's reason in a message */

/* Where a store lives: clickhouse://[USER@]HOST:PORT/DATABASE. */
struct clickhouse_url {
    char user[CLICKHOUSE_NAME_MAX + 1];     /* "default" when the URL names none */
    char host[CLICKHOUSE_HOST_MAX + 1];
    int port;
    char database[CLICKHOUSE_NAME_MAX + 1];
};

/* Parses url. The port is required (ClickHouse's HTTP port is 8123 by default, its
 * native one 9000: a guess would be wrong half the time); a password in the URL is
 * refused (it belongs in a file of mode 600). Returns 0, or -1 with a message naming the
 * part that is wrong. */
int clickhouse_parse_url(const char *url, struct clickhouse_url *out, char *err,
                         size_t errlen);

struct clickhouse;

/* Connects nothing yet: checks url, reads the password from password_file (NULL: none;
 * else the first line of a file that only its owner may read, as sign_read_secret),
 * and sets up a libcurl handle. Returns 0 with *out (free with clickhouse_close), or -1
 * with err. */
int clickhouse_open(struct clickhouse **out, const char *url, const char *password_file,
                    char *err, size_t errlen);
void clickhouse_close(struct clickhouse *c);

/* The timeouts of the next requests (0 keeps one) and the max_execution_time setting. */
void clickhouse_set_timeouts(struct clickhouse *c, long connect_ms, long total_ms,
                             int exec_time_s);

/* Whether the latest request failed without an HTTP answer (no connection, a timeout):
 * ClickHouse is unreachable, as opposed to refusing the query. */
int clickhouse_unreachable(const struct clickhouse *c);

/* From any thread: the running request of c and every later one fail at once with "the
 * collector is stopping" (libcurl's progress callback checks a flag). For the readers'
 * stop; c is only good for clickhouse_close then. */
void clickhouse_interrupt(struct clickhouse *c);

/* "host:port/database", for messages. */
const char *clickhouse_name(const struct clickhouse *c);

/* Runs a statement that answers nothing of interest (DDL). 0 or -1 with err. */
int clickhouse_exec(struct clickhouse *c, const char *sql, char *err, size_t errlen);

/* Runs a query and returns its answer as text: *out (NUL-terminated, *len bytes, the
 * caller frees it) of at most max_bytes (0: CLICKHOUSE_ANSWER_MAX). 0 or -1 with err. */
int clickhouse_query(struct clickhouse *c, const char *sql, size_t max_bytes, char **out,
                     size_t *len, char *err, size_t errlen);

/* Runs a query with FORMAT JSONEachRow appended and returns its rows as a new JSON array
 * of objects (the caller owns it); more than max_rows rows is an error, so that a read
 * never silently loses rows. Note that ClickHouse quotes 64-bit integers as strings in
 * JSON (output_format_json_quote_64bit_integers): read them with clickhouse_json_int.
 * 0 or -1 with err. */
int clickhouse_query_json(struct clickhouse *c, const char *sql, size_t max_rows,
                          json_t **rows, char *err, size_t errlen);

/* An integer field of a JSONEachRow row, whether a JSON number or a quoted one. Returns 0
 * or -1 (missing or not an integer). */
int clickhouse_json_int(const json_t *row, const char *field, long long *out);

/* Sends rows in one INSERT request: into is "table (col, ...)", format "TabSeparated" or
 * "JSONEachRow", body the rows in that format. ClickHouse writes the rows of one INSERT
 * (up to max_insert_block_size rows, 1048576) of one partition as one part, all or none.
 * 0 (acknowledged) or -1 with err. */
int clickhouse_insert(struct clickhouse *c, const char *into, const char *format,
                      const void *body, size_t len, char *err, size_t errlen);

/* Appends s as a TabSeparated field (backslash, tab, newline and carriage return escaped
 * as the format wants). Returns 0 or -1 (the buffer's cap). */
struct buf;
int clickhouse_tsv_field(struct buf *b, const char *s);

/* Turns an error body of ClickHouse into one line of at most CLICKHOUSE_REASON_MAX bytes
 * for a message: its "Code: N" and exception text, without the stack or "e.what()" part,
 * with every absolute path replaced by "(path)" and every occurrence of secret (if not
 * NULL or empty) by "(password)". */
void clickhouse_reason(const char *body, size_t len, const char *secret, char *out,
                       size_t outlen);

#endif
