#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GREEN "\033[32m"
#define RED "\033[31m"
#define YELLOW "\033[33m"
#define DIM "\033[2m"
#define RESET "\033[0m"

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static double num(const json_t *obj, const char *key)
{
    return json_number_value(json_object_get(obj, key));
}

static void run_label(const json_t *journey, int numbered, char *dst, size_t dstlen)
{
    if (numbered)
        snprintf(dst, dstlen, "%s #%lld", str(journey, "name"),
                 (long long)json_integer_value(json_object_get(journey, "iteration")));
    else
        snprintf(dst, dstlen, "%s", str(journey, "name"));
}

void report_console_step(const struct console *c, const json_t *journey, const json_t *step)
{
    const char *result = str(step, "result");
    int failed = strcmp(result, "failed") == 0, skipped = strcmp(result, "skipped") == 0;
    char label[512];

    if (c->quiet && !failed)
        return;
    run_label(journey, c->numbered, label, sizeof label);
    const char *tag = failed ? "FAIL" : skipped ? "SKIP" : "PASS";
    const char *col = failed ? RED : skipped ? YELLOW : GREEN;
    fprintf(c->out, "%s%s%s %s %-20s", c->color ? col : "", tag, c->color ? RESET : "",
            label, str(step, "name"));
    if (!skipped) {
        const json_t *t = json_object_get(step, "timings_ms");
        long long status = json_integer_value(json_object_get(step, "status"));
        if (t)
            fprintf(c->out, " %3lld %7.1f ms  %sdns %.1f connect %.1f tls %.1f ttfb %.1f%s",
                    status, num(t, "total"), c->color ? DIM : "", num(t, "dns"),
                    num(t, "connect"), num(t, "tls"), num(t, "ttfb"), c->color ? RESET : "");
        long long attempts = json_integer_value(json_object_get(step, "attempts"));
        if (attempts > 1)
            fprintf(c->out, " (attempt %lld)", attempts);
    }
    fputc('\n', c->out);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(step, "failures"), i, f)
        fprintf(c->out, "     %s: %s\n", str(f, "check"), str(f, "message"));
    if (failed)
        fprintf(c->out, "     %s%s %s  traceparent %s%s\n", c->color ? DIM : "",
                str(step, "method"), str(step, "url"), str(step, "traceparent"),
                c->color ? RESET : "");
    fflush(c->out);
}

void report_console_summary(const struct console *c, const json_t *doc)
{
    const json_t *s = json_object_get(doc, "summary");
    long long runs = json_integer_value(json_object_get(s, "journeys"));
    long long ok = json_integer_value(json_object_get(s, "journeys_passed"));
    long long steps = json_integer_value(json_object_get(s, "steps"));
    long long sp = json_integer_value(json_object_get(s, "steps_passed"));
    long long ss = json_integer_value(json_object_get(s, "steps_skipped"));
    double secs = num(doc, "duration_ms") / 1000.0;

    if (ok == runs)
        fprintf(c->out, "probe: %s%lld of %lld journey runs passed%s (%lld steps) in %.2f s\n",
                c->color ? GREEN : "", ok, runs, c->color ? RESET : "", steps, secs);
    else
        fprintf(c->out, "probe: %s%lld of %lld journey runs failed%s (%lld of %lld steps"
                " passed, %lld skipped) in %.2f s\n", c->color ? RED : "", runs - ok, runs,
                c->color ? RESET : "", sp, steps, ss, secs);
    fflush(c->out);
}

static FILE *open_out(const char *path, char *err, size_t errlen)
{
    if (strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path, char *err, size_t errlen)
{
    int bad = ferror(f);
    if (f == stdout)
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    if (bad) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int report_write_json(const json_t *doc, const char *path, char *err, size_t errlen)
{
    FILE *f = open_out(path, err, errlen);
    if (!f)
        return -1;
    json_dumpf(doc, f, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    fputc('\n', f);
    return close_out(f, path, err, errlen);
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        case '\n': fputs("&#10;", f); break;
        case '\t': fputs("&#9;", f); break;
        default:
            /* XML 1.0 has no way to write other control characters. */
            fputc(c < 0x20 ? '?' : c, f);
        }
    }
}

/* A step failed because no answer came ("request": connection refused, timeout, TLS):
 * JUnit readers call that an <error>, and a wrong answer a <failure>. */
static int step_errored(const json_t *st)
{
    size_t n;
    json_t *fl;
    if (strcmp(str(st, "result"), "failed") != 0)
        return 0;
    json_array_foreach(json_object_get(st, "failures"), n, fl)
        if (strcmp(str(fl, "check"), "request") == 0)
            return 1;
    return 0;
}

/* Suite names are the run labels; a label that two runs share (two journeys of the same
 * name) gets its file added, and still shared, its position ("#N" in the document). */
static json_t *suite_names(const json_t *journeys, int numbered)
{
    json_t *names = json_array(), *count = json_object();
    size_t i;
    json_t *j;
    char label[512], full[1200];

    json_array_foreach(journeys, i, j) {
        run_label(j, numbered, label, sizeof label);
        json_int_t n = json_integer_value(json_object_get(count, label));
        json_object_set_new(count, label, json_integer(n + 1));
        json_array_append_new(names, json_string(label));
    }
    json_t *again = json_object();
    json_array_foreach(journeys, i, j) {
        const char *l = json_string_value(json_array_get(names, i));
        if (json_integer_value(json_object_get(count, l)) < 2)
            continue;
        snprintf(full, sizeof full, "%s (%s)", l, str(j, "file"));
        json_int_t n = json_integer_value(json_object_get(again, full));
        json_object_set_new(again, full, json_integer(n + 1));
        json_array_set_new(names, i, json_string(full));
    }
    json_array_foreach(journeys, i, j) {
        const char *l = json_string_value(json_array_get(names, i));
        if (json_integer_value(json_object_get(again, l)) < 2)
            continue;
        snprintf(full, sizeof full, "%s #%zu", l, i + 1);
        json_array_set_new(names, i, json_string(full));
    }
    json_decref(count);
    json_decref(again);
    return names;
}

/* Writes JUnit XML as the Jenkins (xunit junit-10.xsd) and Ant schemas have it:
 * <testsuites> carries no "skipped"; the file and trace id of a run are properties. */
int report_write_junit(const json_t *doc, const char *path, int numbered,
                       char *err, size_t errlen)
{
    FILE *f = open_out(path, err, errlen);
    const json_t *journeys = json_object_get(doc, "journeys");
    size_t i, k, all_tests = 0, all_failures = 0, all_errors = 0;
    json_t *j, *st, *fl;

    if (!f)
        return -1;
    json_t *names = suite_names(journeys, numbered);
    json_array_foreach(journeys, i, j) {
        json_array_foreach(json_object_get(j, "steps"), k, st) {
            all_tests++;
            all_errors += step_errored(st);
            all_failures += strcmp(str(st, "result"), "failed") == 0 && !step_errored(st);
        }
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"vigil probe\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\""
            " time=\"%.3f\">\n", all_tests, all_failures, all_errors,
            num(doc, "duration_ms") / 1000.0);
    json_array_foreach(journeys, i, j) {
        const char *label = json_string_value(json_array_get(names, i));
        size_t tests = 0, failures = 0, errors = 0, skipped = 0;
        json_array_foreach(json_object_get(j, "steps"), k, st) {
            tests++;
            errors += step_errored(st);
            failures += strcmp(str(st, "result"), "failed") == 0 && !step_errored(st);
            skipped += strcmp(str(st, "result"), "skipped") == 0;
        }
        fputs("  <testsuite name=\"", f);
        xml_text(f, label);
        fprintf(f, "\" id=\"%zu\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\""
                " time=\"%.3f\" timestamp=\"", i, tests, failures, errors, skipped,
                num(j, "duration_ms") / 1000.0);
        xml_text(f, str(j, "started_at"));
        fputs("\">\n    <properties>\n      <property name=\"file\" value=\"", f);
        xml_text(f, str(j, "file"));
        fputs("\"/>\n      <property name=\"trace_id\" value=\"", f);
        xml_text(f, str(j, "trace_id"));
        fputs("\"/>\n    </properties>\n", f);
        json_array_foreach(json_object_get(j, "steps"), k, st) {
            const json_t *t = json_object_get(st, "timings_ms");
            fputs("    <testcase classname=\"", f);
            xml_text(f, label);
            fputs("\" name=\"", f);
            xml_text(f, str(st, "name"));
            fprintf(f, "\" time=\"%.3f\"", t ? num(t, "total") / 1000.0 : 0.0);
            if (strcmp(str(st, "result"), "skipped") == 0) {
                fputs("><skipped message=\"an earlier step failed\"/></testcase>\n", f);
            } else if (strcmp(str(st, "result"), "failed") == 0) {
                int error = step_errored(st);
                size_t n;
                fputs(error ? ">\n      <error message=\"" : ">\n      <failure message=\"", f);
                json_array_foreach(json_object_get(st, "failures"), n, fl) {
                    if (n)
                        fputs("; ", f);
                    xml_text(f, str(fl, "check"));
                    fputs(": ", f);
                    xml_text(f, str(fl, "message"));
                }
                fputs(error ? "\" type=\"request\">" : "\" type=\"assertion\">", f);
                xml_text(f, str(st, "method"));
                fputs(" ", f);
                xml_text(f, str(st, "url"));
                fputs("&#10;traceparent: ", f);
                xml_text(f, str(st, "traceparent"));
                fputs(error ? "</error>\n    </testcase>\n" : "</failure>\n    </testcase>\n", f);
            } else {
                fputs("/>\n", f);
            }
        }
        fputs("  </testsuite>\n", f);
    }
    fputs("</testsuites>\n", f);
    json_decref(names);
    return close_out(f, path, err, errlen);
}
