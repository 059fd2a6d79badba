/*
 * datafile: the variable files of `probe run` (probe/README.md): the rows of --data
 * (CSV or JSON Lines, one journey run per row) and the --env-file of one environment
 * (variables, and which of them are secrets).
 *
 * Errors name the file and line ("users.csv:4: ...", "staging.json:3:14: ...").
 */
#ifndef VIGIL_DATAFILE_H
#define VIGIL_DATAFILE_H

#include <jansson.h>
#include <stddef.h>

#define DATAFILE_BYTES_MAX (16 * 1024 * 1024)   /* bytes of one --data or --env-file */
#define DATAFILE_ROWS_MAX 100000                 /* rows of one --data file */
#define DATAFILE_COLUMNS_MAX 256                 /* columns of one CSV row */

/* Reads the rows of a --data file: CSV (RFC 4180, a header row naming the columns) when
 * the name ends in .csv, JSON Lines (one object per line; blank lines skipped) when it
 * ends in .jsonl or .ndjson. Returns 0 with *rows a new array of objects (CSV: of
 * strings) and *lines a new array of the line each row starts on, or -1 with
 * "FILE:LINE: what is wrong" in err. */
int datafile_rows(const char *path, json_t **rows, json_t **lines, char *err, size_t errlen);

/* Reads an --env-file: {"variables": {NAME: VALUE, ...}, "secrets": [NAME, ...]}, each
 * secret a variable whose value is a non-empty string. Returns 0 with *vars a new object
 * and *secrets a new array of the secret values, or -1 with "FILE:LINE:COL: ..." in err. */
int datafile_env(const char *path, json_t **vars, json_t **secrets, char *err, size_t errlen);

#endif
