/*
 * Unit tests of shared/probe_result.c: RFC 3339 times (reference values from Python's
 * datetime.fromisoformat(...).timestamp(), RFC 3339 section 5.6 for what is not a time)
 * and the document's checks (probe/README.md "JSON report"), each naming its field.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "probe_result.h"
#include "text.h"

static void times(void)
{
    static const struct {
        const char *text;
        long long ms;
    } good[] = {
        {"2026-11-28T02:16:40.123Z", 1795832200123LL},
        {"2024-02-29T23:59:59+02:00", 1709243999000LL},
        {"1970-01-01T00:00:00.5-01:30", 5400500LL},
        {"2025-11-28t03:05:00z", 1764299100000LL},
    };
    static const char *const bad[] = {
        "garbage", "", "2026-11-28", "2026-11-28T02:16:40", "2026-13-01T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-11-28T24:00:00Z", "2026-11-28 02:16:40Z",
        "2026-11-28T02:16:40.Z", "2026-11-28T02:16:40+2:00", "+2026-11-28T02:16:40Z",
        " 2026-11-28T02:16:40Z", "2026-11-28T02:16:40Zjunk",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(text_rfc3339_ms(good[i].text) == good[i].ms, "time %s is %lld ms (got %lld)",
              good[i].text, good[i].ms, text_rfc3339_ms(good[i].text));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(text_rfc3339_ms(bad[i]) == -1, "\"%s\" is not an RFC 3339 time", bad[i]);
    CHECK(text_rfc3339_ms(NULL) == -1, "NULL is not a time");
}

#define DOC_HEAD "{\"schema\":\"vigil.probe-result/1\",\"run_id\":\"r-1\"," \
    "\"started_at\":\"2026-11-28T02:16:40.123Z\",\"passed\":false," \
    "\"labels\":{\"app\":\"shop\",\"version\":\"1.2.3\",\"region\":\"eu-west\",\"host\":\"h\"},"
#define STEP_OK "{\"name\":\"login\",\"result\":\"passed\",\"attempts\":2,\"status\":200," \
    "\"http_version\":\"1.1\",\"timings_ms\":{\"dns\":1,\"connect\":2,\"tls\":3,\"ttfb\":9," \
    "\"total\":10},\"tls\":{\"cert_expiry\":\"2027-01-01T00:00:00Z\",\"days_to_expiry\":30}}"
#define STEP_FAIL "{\"name\":\"pay\",\"result\":\"failed\",\"attempts\":1,\"status\":500," \
    "\"failures\":[{\"check\":\"status\",\"expected\":\"200\",\"actual\":\"500\"," \
    "\"message\":\"expected 200, got 500\"}]}"

static void good_document(void)
{
    const char *text = DOC_HEAD "\"journeys\":[{\"name\":\"checkout\",\"passed\":false,"
        "\"started_at\":\"2026-11-28T02:16:41Z\",\"steps\":[" STEP_OK "," STEP_FAIL
        ",{\"name\":\"end\",\"result\":\"skipped\"}]}]}";
    struct probe_result *r = NULL;
    char field[128], err[256];
    int rc = probe_result_parse_text(text, strlen(text), &r, field, sizeof field, err, sizeof err);
    CHECK(rc == 0, "a complete document parses (%s)", rc ? err : "");
    if (rc)
        return;
    CHECK_STR(r->run_id, "r-1", "run_id");
    CHECK_STR(r->app, "shop", "labels.app");
    CHECK_STR(r->region, "eu-west", "labels.region");
    CHECK(r->started_ms == 1795832200123LL, "started_at in ms");
    CHECK(r->njourneys == 1 && r->journeys[0].nsteps == 3, "one journey of three steps");
    const struct probe_result_journey *j = &r->journeys[0];
    CHECK(j->started_ms == 1795832201000LL, "the journey's started_at in ms");
    CHECK(j->failed == &j->steps[1], "the first failed step is the second");
    CHECK(j->retried == 1, "one step passed after a retry");
    CHECK_STR(j->failed->failure_check, "status", "failures[0].check");
    CHECK(j->steps[0].has_timings && j->steps[0].timings[PROBE_T_TOTAL] == 10,
          "timings_ms.total");
    CHECK(j->steps[0].cert_expiry_ms == 1798761600000LL, "tls.cert_expiry in ms");
    CHECK(j->steps[2].status == -1, "a skipped step has no status");
    probe_result_free(r);
    probe_result_free(NULL);
}

static void bad_documents(void)
{
    static const struct {
        const char *text, *field;
    } cases[] = {
        {DOC_HEAD "\"journeys\":[{\"name\":\"c\",\"passed\":true,\"started_at\":\"garbage\","
         "\"steps\":[]}]}", "journeys[0].started_at"},
        {DOC_HEAD "\"journeys\":[]}", "journeys"},
        {DOC_HEAD "\"journeys\":[{\"name\":\"c\",\"passed\":true,\"started_at\":"
         "\"2026-11-28T02:16:41Z\",\"steps\":[{\"name\":\"s\"}]}]}", "journeys[0].steps[0].result"},
        {DOC_HEAD "\"journeys\":[{\"name\":\"c\",\"passed\":true,\"started_at\":"
         "\"2026-11-28T02:16:41Z\",\"steps\":[{\"name\":\"s\",\"result\":\"passed\","
         "\"timings_ms\":{\"ttfb\":-1}}]}]}", "journeys[0].steps[0].timings_ms.ttfb"},
        {"{\"schema\":\"vigil.probe-result/2\"}", "schema"},
        {"{\"schema\":\"vigil.probe-result/1\",\"run_id\":\"r 1\"}", "run_id"},
        {"{\"schema\":\"vigil.probe-result/1\",\"run_id\":\"r1\",\"labels\":{\"app\":\"shop\"}}",
         "labels.version"},
        {"[1]", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct probe_result *r = NULL;
        char field[128], err[256], want[160];
        int rc = probe_result_parse_text(cases[i].text, strlen(cases[i].text), &r, field,
                                         sizeof field, err, sizeof err);
        CHECK(rc == -1 && r == NULL, "case %zu is refused", i);
        CHECK_STR(field, cases[i].field, "case %zu names its field", i);
        snprintf(want, sizeof want, "%s: ", cases[i].field);
        CHECK(!cases[i].field[0] || strncmp(err, want, strlen(want)) == 0,
              "case %zu's reason starts with \"%s\" (%s)", i, want, err);
    }
}

int main(void)
{
    times();
    good_document();
    bad_documents();
    return check_done();
}
