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

void report_run_label(const json_t *journey, int numbered, char *dst, size_t dstlen)
{
    long long row = json_integer_value(json_object_get(journey, "row"));
    int n = row ? snprintf(dst, dstlen, "%s [row %lld]", str(journey, "name"), row)
                : snprintf(dst, dstlen, "%s", str(journey, "name"));
    if (numbered && n >= 0 && (size_t)n < dstlen)
        snprintf(dst + n, dstlen - (size_t)n, " #%lld",
                 (long long)json_integer_value(json_object_get(journey, "iteration")));
}

void report_console_step(const struct console *c, const json_t *journey, const json_t *step)
{
    const char *result = str(step, "result");
    int failed = strcmp(result, "failed") == 0, skipped = strcmp(result, "skipped") == 0;
    char label[512];

    if (c->quiet && !failed)
        return;
    report_run_label(journey, c->numbered, label, sizeof label);
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
        report_run_label(j, numbered, label, sizeof label);
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

/* Text for HTML element content and attribute values (HTML 5.2 section 8.3, the
 * characters that must be escaped). */
static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* The page's only style. The Content-Security-Policy of the page (default-src 'none')
 * forbids every fetch, so nothing can leave the machine that opens it. */
static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"
    " style-src 'unsafe-inline'\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>probe report</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
    "h1 .passed,.badge.passed{color:#1a7f37}h1 .failed,.badge.failed{color:#cf222e}\n"
    "section.run{border:1px solid #ccc;border-radius:6px;margin:1em 0;padding:.5em 1em}\n"
    "section.run.failed{border-color:#cf222e}\n"
    "table.steps{border-collapse:collapse;width:100%}\n"
    "table.steps td{padding:2px 6px;vertical-align:top}\n"
    "td.result{font-weight:bold;width:3em}tr.passed td.result{color:#1a7f37}\n"
    "tr.failed td.result{color:#cf222e}tr.skipped td.result{color:#9a6700}\n"
    "td.ms,td.status{text-align:right;white-space:nowrap;width:5em}\n"
    "td.timing{width:45%}div.track{width:100%;background:#f3f3f3}\n"
    "div.bar{display:flex;height:14px}div.bar span{display:block;height:100%}\n"
    ".dns{background:#8250df}.connect{background:#0969da}.tls{background:#bf8700}\n"
    ".wait{background:#1a7f37}.transfer{background:#57606a}\n"
    ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}\n"
    "table.failure{border-collapse:collapse;margin:4px 0}\n"
    "table.failure td,table.failure th{border:1px solid #ddd;padding:2px 6px;text-align:left}\n"
    "td.expected{background:#dafbe1}td.actual{background:#ffebe9}\n"
    "pre{background:#f6f8fa;padding:6px;white-space:pre-wrap;word-break:break-all;margin:2px 0}\n"
    ".meta{color:#57606a}\n"
    "</style>\n</head>\n<body>\n";

static const char *const phases[] = {"dns", "connect", "tls", "wait", "transfer"};

/* The five phases of a step in ms: dns, connect and tls as recorded, wait (the server:
 * up to the first byte) and transfer (the rest), so that they add up to the total. */
static void step_phases(const json_t *t, double out[5])
{
    double total = num(t, "total"), ttfb = num(t, "ttfb");
    out[0] = num(t, "dns");
    out[1] = num(t, "connect");
    out[2] = num(t, "tls");
    out[3] = ttfb - out[0] - out[1] - out[2];
    out[4] = total - ttfb;
    for (int i = 0; i < 5; i++)
        if (out[i] < 0)
            out[i] = 0;
}

/* Writes a recorded request or response: a first line, the headers, the body. */
static void html_exchange(FILE *f, const char *what, const char *first, const json_t *x)
{
    size_t i;
    json_t *h;
    if (!x)
        return;
    fprintf(f, "<details class=\"%s\"><summary>%s</summary><pre>", what, what);
    html_text(f, first);
    fputc('\n', f);
    json_array_foreach(json_object_get(x, "headers"), i, h) {
        html_text(f, json_string_value(h) ? json_string_value(h) : "");
        fputc('\n', f);
    }
    if (json_object_get(x, "body")) {
        fputc('\n', f);
        html_text(f, str(x, "body"));
    }
    fputs("</pre></details>\n", f);
}

static void html_step(FILE *f, const json_t *st, double scale)
{
    const char *result = str(st, "result");
    const json_t *t = json_object_get(st, "timings_ms");
    size_t i;
    json_t *fl;
    char line[64];

    fprintf(f, "<tr class=\"step %s\"><td class=\"result\">%s</td><td class=\"name\">", result,
            strcmp(result, "failed") == 0 ? "FAIL" : strcmp(result, "skipped") == 0 ? "SKIP"
                                                                                  : "PASS");
    html_text(f, str(st, "name"));
    fputs("</td>", f);
    if (!t) {
        fputs("<td class=\"status\"></td><td class=\"ms\"></td><td class=\"timing\"></td></tr>\n",
              f);
        return;
    }
    double ph[5], total = num(t, "total");
    step_phases(t, ph);
    fprintf(f, "<td class=\"status\">%lld</td><td class=\"ms\">%.1f ms</td>"
            "<td class=\"timing\"><div class=\"track\"><div class=\"bar\" data-total-ms=\"%.3f\""
            " style=\"width:%.4f%%\" title=\"dns %.2f, connect %.2f, tls %.2f, wait %.2f,"
            " transfer %.2f ms\">", (long long)json_integer_value(json_object_get(st, "status")),
            total, total, scale > 0 ? 100.0 * total / scale : 0.0, ph[0], ph[1], ph[2], ph[3],
            ph[4]);
    for (int k = 0; k < 5; k++)
        fprintf(f, "<span class=\"%s\" data-ms=\"%.3f\" style=\"width:%.4f%%\"></span>", phases[k],
                ph[k], total > 0 ? 100.0 * ph[k] / total : 0.0);
    fputs("</div></div></td></tr>\n<tr class=\"detail\"><td></td><td colspan=\"3\">", f);
    if (json_array_size(json_object_get(st, "failures"))) {
        fputs("<table class=\"failure\"><tr><th>check</th><th>expected</th><th>actual</th>"
              "<th>message</th></tr>\n", f);
        json_array_foreach(json_object_get(st, "failures"), i, fl) {
            static const char *const cols[] = {"check", "expected", "actual", "message"};
            fputs("<tr>", f);
            for (int c = 0; c < 4; c++) {
                fprintf(f, "<td class=\"%s\">", cols[c]);
                html_text(f, str(fl, cols[c]));
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    char first[2200];
    snprintf(first, sizeof first, "%s %s", str(st, "method"), str(st, "url"));
    fputs("<div class=\"meta\">", f);
    html_text(f, first);
    fputs(" &middot; traceparent ", f);
    html_text(f, str(st, "traceparent"));
    fputs("</div>\n", f);
    html_exchange(f, "request", first, json_object_get(st, "request"));
    snprintf(line, sizeof line, "HTTP/%s %lld", str(st, "http_version"),
             (long long)json_integer_value(json_object_get(st, "status")));
    html_exchange(f, "response", line, json_object_get(st, "response"));
    fputs("</td></tr>\n", f);
}

int report_write_html(const json_t *doc, const char *path, int numbered,
                      char *err, size_t errlen)
{
    FILE *f = open_out(path, err, errlen);
    const json_t *journeys = json_object_get(doc, "journeys");
    const json_t *sum = json_object_get(doc, "summary");
    size_t i, k;
    json_t *j, *st, *v;
    const char *key;
    double scale = 0;
    char label[512];

    if (!f)
        return -1;
    /* One scale for every bar of the page: the longest step is the full width. */
    json_array_foreach(journeys, i, j)
        json_array_foreach(json_object_get(j, "steps"), k, st) {
            const json_t *t = json_object_get(st, "timings_ms");
            if (t && num(t, "total") > scale)
                scale = num(t, "total");
        }
    int passed = json_is_true(json_object_get(doc, "passed"));
    fputs(html_head, f);
    fprintf(f, "<h1>probe report: <span class=\"%s\">%s</span></h1>\n", passed ? "passed" : "failed",
            passed ? "passed" : "failed");
    fprintf(f, "<p class=\"summary\">%lld of %lld journey runs passed; %lld steps: %lld passed,"
            " %lld failed, %lld skipped; %.1f ms. Started ",
            (long long)json_integer_value(json_object_get(sum, "journeys_passed")),
            (long long)json_integer_value(json_object_get(sum, "journeys")),
            (long long)json_integer_value(json_object_get(sum, "steps")),
            (long long)json_integer_value(json_object_get(sum, "steps_passed")),
            (long long)json_integer_value(json_object_get(sum, "steps_failed")),
            (long long)json_integer_value(json_object_get(sum, "steps_skipped")),
            num(doc, "duration_ms"));
    html_text(f, str(doc, "started_at"));
    fputs(", run ", f);
    html_text(f, str(doc, "run_id"));
    fputs(".</p>\n<p class=\"meta labels\">", f);
    json_object_foreach((json_t *)json_object_get(doc, "labels"), key, v) {
        html_text(f, key);
        fputc('=', f);
        html_text(f, json_string_value(v) ? json_string_value(v) : "");
        fputc(' ', f);
    }
    if (json_is_true(json_object_get(doc, "insecure")))
        fputs("<strong>--insecure: server certificates were not verified</strong>", f);
    fprintf(f, "</p>\n<p class=\"legend\">Bars share one scale (the full width is %.1f ms):", scale);
    for (int p = 0; p < 5; p++)
        fprintf(f, "<span class=\"%s\"></span>%s", phases[p], phases[p]);
    fputs("</p>\n", f);
    json_array_foreach(journeys, i, j) {
        int ok = json_is_true(json_object_get(j, "passed"));
        report_run_label(j, numbered, label, sizeof label);
        fprintf(f, "<section class=\"run %s\"><h2>", ok ? "passed" : "failed");
        html_text(f, label);
        fprintf(f, " <span class=\"badge %s\">%s</span></h2>\n<p class=\"meta\">",
                ok ? "passed" : "failed", ok ? "passed" : "failed");
        html_text(f, str(j, "file"));
        fputs(" &middot; trace ", f);
        html_text(f, str(j, "trace_id"));
        fprintf(f, " &middot; %.1f ms</p>\n<table class=\"steps\">\n", num(j, "duration_ms"));
        json_array_foreach(json_object_get(j, "steps"), k, st)
            html_step(f, st, scale);
        fputs("</table></section>\n", f);
    }
    fputs("</body>\n</html>\n", f);
    return close_out(f, path, err, errlen);
}
