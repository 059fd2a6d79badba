#include "gate.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)

void gate_age(long long ms, char *dst, size_t dstlen)
{
    long long s = ms / 1000;
    if (s < 120)
        snprintf(dst, dstlen, "%llds", s < 0 ? 0 : s);
    else if (s < 7200)
        snprintf(dst, dstlen, "%lldm", s / 60);
    else if (s < 2 * 86400)
        snprintf(dst, dstlen, "%lldh", s / 3600);
    else
        snprintf(dst, dstlen, "%lldd", s / 86400);
}

static void reason(json_t *reasons, const char *fmt, const char *a, const char *b,
                   const char *c, const char *d)
{
    char text[1024];
    snprintf(text, sizeof text, fmt, a, b, c, d);
    json_array_append_new(reasons, json_string(text));
}

json_t *gate_decide(struct store *s, const struct gate_opts *o, long long now_ms,
                    char *err, size_t errlen)
{
    json_t *regions = NULL, *last = NULL, *rows = NULL, *journeys = json_array();
    json_t *reasons = json_array(), *out = NULL;
    int block = 0;
    size_t i, k;
    json_t *v;

    if (o->nregions) {
        regions = json_array();
        for (i = 0; i < o->nregions; i++)
            json_array_append_new(regions, json_string(o->regions[i]));
    } else if (!(regions = store_regions(s, o->app, now_ms - DAY_MS, err, errlen))) {
        goto out;
    }
    if (!(last = store_last_runs(s, o->app, o->version, err, errlen))
        || !(rows = store_gate_rows(s, o->app, o->version, now_ms - o->max_age_ms, err, errlen)))
        goto out;
    json_array_foreach(last, i, v) {
        const char *name = json_string_value(json_object_get(v, "journey"));
        int seen = 0;
        json_t *j;
        json_array_foreach(journeys, k, j)
            seen |= strcmp(json_string_value(j), name) == 0;
        if (!seen)
            json_array_append_new(journeys, json_string(name));
    }
    if (json_array_size(regions) == 0) {
        block = 1;
        reason(reasons, "no region has reported probe results for %s in the last day",
               o->app, NULL, NULL, NULL);
    }
    if (json_array_size(journeys) == 0) {
        block = 1;
        reason(reasons, "no probe results for %s %s: run its journeys first", o->app,
               o->version, NULL, NULL);
    }
    json_t *region, *journey;
    json_array_foreach(regions, i, region) {
        json_array_foreach(journeys, k, journey) {
            const char *rg = json_string_value(region), *jn = json_string_value(journey);
            int runs = 0, failed = 0, retried = 0, unsigned_runs = 0;
            long long newest = -1, last_ever = -1;
            const json_t *failure = NULL;
            size_t n;
            json_t *row;
            json_array_foreach(rows, n, row) {
                if (strcmp(json_string_value(json_object_get(row, "region")), rg) != 0
                    || strcmp(json_string_value(json_object_get(row, "journey")), jn) != 0)
                    continue;
                if (o->require_signed && !json_integer_value(json_object_get(row, "signed"))) {
                    unsigned_runs++;
                    continue;
                }
                runs++;
                newest = json_integer_value(json_object_get(row, "started"));
                retried += (int)json_integer_value(json_object_get(row, "retried"));
                if (!json_integer_value(json_object_get(row, "passed"))) {
                    failed++;
                    failure = row;
                }
            }
            json_array_foreach(last, n, row)
                if (strcmp(json_string_value(json_object_get(row, "region")), rg) == 0
                    && strcmp(json_string_value(json_object_get(row, "journey")), jn) == 0)
                    last_ever = json_integer_value(json_object_get(row, "started"));
            char ago[32], max[32], count[64];
            gate_age(o->max_age_ms, max, sizeof max);
            if (failed) {
                block = 1;
                gate_age(now_ms - json_integer_value(json_object_get(failure, "started")), ago,
                         sizeof ago);
                const char *step = json_string_value(json_object_get(failure, "failed_step"));
                const char *why = json_string_value(json_object_get(failure, "failure"));
                char where[512];
                snprintf(where, sizeof where, "%s/%s", rg, jn);
                reason(reasons, "%s failed at step \"%s\" (%s), %s ago", where,
                       step ? step : "?", why ? why : "no detail", ago);
            } else if (runs < o->min_runs) {
                block = 1;
                char where[512];
                snprintf(where, sizeof where, "%s/%s", rg, jn);
                snprintf(count, sizeof count, "%d of the %d%s run(s) needed", runs, o->min_runs,
                         o->require_signed ? " signed" : "");
                if (runs == 0 && unsigned_runs > 0) {
                    char others[32];
                    snprintf(others, sizeof others, "%d", unsigned_runs);
                    reason(reasons, "%s: no signed runs within %s (%s run(s) pushed with the"
                           " bearer token do not count: signed results are required)", where,
                           max, others, NULL);
                } else if (last_ever < 0) {
                    reason(reasons, "%s has never run for this version", where, NULL, NULL, NULL);
                } else {
                    gate_age(now_ms - last_ever, ago, sizeof ago);
                    reason(reasons, "%s: %s within %s (last ran %s ago)", where, count, max, ago);
                }
            } else {
                char where[512], note[96] = "";
                snprintf(where, sizeof where, "%s/%s", rg, jn);
                gate_age(now_ms - newest, ago, sizeof ago);
                snprintf(count, sizeof count, "%d%s run(s) passed", runs,
                         o->require_signed ? " signed" : "");
                if (retried)
                    snprintf(note, sizeof note, "; %d step(s) passed only on a retry", retried);
                reason(reasons, "%s: %s, last %s ago%s", where, count, ago, note);
            }
        }
    }
    out = json_pack("{s:s,s:s,s:s,s:O,s:O,s:O,s:I,s:i,s:b}", "decision",
                    block ? "block" : "allow", "app", o->app, "version", o->version,
                    "regions", regions, "journeys", journeys, "reasons", reasons,
                    "max_age_s", (json_int_t)(o->max_age_ms / 1000), "min_runs", o->min_runs,
                    "require_signed", o->require_signed != 0);
out:
    json_decref(regions);
    json_decref(last);
    json_decref(rows);
    json_decref(journeys);
    json_decref(reasons);
    return out;
}
