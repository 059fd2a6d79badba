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

#endif
