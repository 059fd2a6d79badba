/* Unit tests for probe/datafile.c: the CSV rules of RFC 4180 section 2, rules 1-7, on
 * examples in the shape of the RFC's (CRLF and LF line breaks, quoted fields with commas,
 * line breaks and doubled quotes), JSON Lines rows, the errors with their line, and
 * --env-file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "datafile.h"

static char dir[] = "/tmp/vigil-datafile-XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static const char *cell(const json_t *rows, size_t i, const char *col)
{
    return json_string_value(json_object_get(json_array_get(rows, i), col));
}

/* Loads text as name; returns the error ("" when it loaded) into err. */
static int load(const char *name, const char *text, json_t **rows, json_t **lines, char *err,
                size_t errlen)
{
    err[0] = '\0';
    return datafile_rows(write_tmp(name, text), rows, lines, err, errlen);
}

static void expect_error(const char *name, const char *text, const char *want)
{
    json_t *rows, *lines;
    char err[512];
    int rc = load(name, text, &rows, &lines, err, sizeof err);
    CHECK(rc < 0 && strstr(err, want) != NULL, "%s: error contains \"%s\" (got \"%s\")", name,
          want, err);
}

int main(void)
{
    json_t *rows, *lines;
    char err[512];

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* RFC 4180 section 2, rules 1-7: a header, CRLF records, the last without a break,
     * a quoted field holding a comma, a line break and a doubled quote. */
    int rc = load("rfc.csv", "field_name,field_name2,field_name3\r\n"
                  "aaa,bbb,ccc\r\n"
                  "\"aaa\",\"b\r\nbb\",\"ccc\"\r\n"
                  "zzz,\"y, \"\"x\"\"\",\r\n"
                  "\"\",x,\"\"", &rows, &lines, err, sizeof err);
    CHECK(rc == 0 && json_array_size(rows) == 4, "RFC 4180 example loads 4 rows (%s)", err);
    CHECK_STR(cell(rows, 0, "field_name2"), "bbb", "plain field");
    CHECK_STR(cell(rows, 1, "field_name2"), "b\r\nbb", "quoted field keeps its CRLF");
    CHECK_STR(cell(rows, 2, "field_name2"), "y, \"x\"", "comma and doubled quotes");
    CHECK_STR(cell(rows, 2, "field_name3"), "", "empty last field");
    CHECK_STR(cell(rows, 3, "field_name"), "", "empty quoted field");
    CHECK(json_integer_value(json_array_get(lines, 2)) == 5,
          "a row's line counts the line break inside the quoted field before it");
    json_decref(rows);
    json_decref(lines);

    rc = load("lf.csv", "\xEF\xBB\xBFuser,n\nalice,1\n\nbob,2", &rows, &lines, err, sizeof err);
    CHECK(rc == 0 && json_array_size(rows) == 2 && json_integer_value(json_array_get(lines, 1)) == 4,
          "LF breaks, a byte order mark, a blank line skipped, no final break");
    CHECK_STR(cell(rows, 0, "user"), "alice", "the BOM is not part of the first column's name");
    json_decref(rows);
    json_decref(lines);

    expect_error("count.csv", "a,b\n1,2\n3\n", "count.csv:3: 1 fields where the header has 2");
    expect_error("open.csv", "a\n\"x\n", "open.csv:2: a quoted field is not closed");
    expect_error("after.csv", "a,b\n\"x\"y,2\n", "after.csv:2: after a closing quote");
    expect_error("inner.csv", "a\nx\"y\n", "inner.csv:2: a quote inside an unquoted field");
    expect_error("dup.csv", "a,a\n1,2\n", "dup.csv:1: column \"a\" named twice");
    expect_error("noname.csv", "a,\n1,2\n", "noname.csv:1: column 2 has no name");
    expect_error("empty.csv", "", "empty.csv:1: empty");
    expect_error("header.csv", "a,b\n", "header.csv: no rows");
    expect_error("utf8.csv", "a\n\xff\n", "utf8.csv:2: a field is not valid UTF-8");

    rc = load("rows.jsonl", "{\"a\": 1, \"b\": \"x\"}\r\n\n  \n{\"a\": [1]}\n", &rows, &lines, err,
              sizeof err);
    CHECK(rc == 0 && json_array_size(rows) == 2 && json_integer_value(json_array_get(lines, 1)) == 4,
          "JSON Lines: two rows, CRLF and blank lines allowed, the second on line 4 (%s)", err);
    CHECK(json_integer_value(json_object_get(json_array_get(rows, 0), "a")) == 1,
          "JSON Lines keep their JSON types");
    json_decref(rows);
    json_decref(lines);
    expect_error("bad.jsonl", "{}\n{\"a\" 1}\n", "bad.jsonl:2:6:");
    expect_error("arr.jsonl", "[1]\n", "arr.jsonl:1: each line must be a JSON object");
    expect_error("rows.tsv", "a\n1\n", "--data takes a .csv or a .jsonl");

    json_t *vars, *secrets;
    rc = datafile_env(write_tmp("env.json", "{\"variables\": {\"base\": \"http://x\", \"pw\": \"s3\","
                                " \"n\": 3}, \"secrets\": [\"pw\"]}"), &vars, &secrets, err, sizeof err);
    CHECK(rc == 0 && json_object_size(vars) == 3 && json_array_size(secrets) == 1
          && strcmp(json_string_value(json_array_get(secrets, 0)), "s3") == 0,
          "env file: variables and the secret's value (%s)", err);
    json_decref(vars);
    json_decref(secrets);
    rc = datafile_env(write_tmp("env2.json", "{\"variables\": {\"a\": \"x\"},\n \"secrets\": [\"b\"]}"),
                      &vars, &secrets, err, sizeof err);
    CHECK(rc < 0 && strstr(err, "env2.json:2:14: a secret must name one of the \"variables\""),
          "env file: a secret that is no variable, at its line and column (%s)", err);
    rc = datafile_env(write_tmp("env3.json", "{\"variables\": {\"a\": {}}}"), &vars, &secrets, err,
                      sizeof err);
    CHECK(rc < 0 && strstr(err, "env3.json:1:21: variable \"a\" must be a string"),
          "env file: an object value is refused (%s)", err);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
