/*
 * report: the outputs of a probe run, all drawn from the result document
 * (probe/README.md): console lines, the JSON report and JUnit XML.
 */
#ifndef VIGIL_REPORT_H
#define VIGIL_REPORT_H

#include <jansson.h>
#include <stdio.h>

struct console {
    FILE *out;
    int color;      /* ANSI colours (only on a TTY, never with NO_COLOR) */
    int quiet;      /* print failed steps only */
    int numbered;   /* name runs "journey #N" (with --repeat) */
};

/* Writes the name of a journey run into dst: "checkout", "checkout [row 3]" with --data,
 * and " #N" after it when numbered (--repeat). */
void report_run_label(const json_t *journey, int numbered, char *dst, size_t dstlen);

/* Prints one settled step: PASS, FAIL (with each failure indented below) or SKIP. */
void report_console_step(const struct console *c, const json_t *journey, const json_t *step);

/* Prints the closing summary line of a run document. */
void report_console_summary(const struct console *c, const json_t *doc);

/* Writes the document as JSON to path ("-" for stdout). Returns 0, or -1 with err. */
int report_write_json(const json_t *doc, const char *path, char *err, size_t errlen);

/* Writes JUnit XML to path ("-" for stdout): a testsuite per journey run, a testcase per
 * step. Returns 0, or -1 with err. */
int report_write_junit(const json_t *doc, const char *path, int numbered,
                       char *err, size_t errlen);

/* Writes one self-contained HTML page to path ("-" for stdout): every run, each step's
 * timings as bars on one scale, its request and response as recorded (runner_opts.record),
 * and each failure with its expected and actual values. No script, style or image is
 * fetched from anywhere: the page opens offline. Returns 0, or -1 with err. */
int report_write_html(const json_t *doc, const char *path, int numbered,
                      char *err, size_t errlen);

#endif
