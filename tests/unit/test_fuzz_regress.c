/*
 * Regression tests for what the fuzzers (tests/fuzz/) found, each feeding the input that
 * broke a parser through the same API and asserting a clean answer. Reference values are
 * from Python's hmac module (hmac.new(secret, canonical, hashlib.sha256).hexdigest()).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "cmp.h"
#include "sign.h"
#include "text.h"

/* fuzz_sign: a path longer than sign_request's 4096-byte canonical buffer made HMAC read
 * past the buffer (snprintf's return, the untruncated length, was passed as the length),
 * so the signature depended on stack contents and did not verify against itself. */
static void test_sign_long_path(void)
{
    char path[5002], sig[65];
    path[0] = '/';
    memset(path + 1, 'a', 5000);
    path[5001] = '\0';
    sign_request("0123456789abcdef", "POST", path, 1764300000, "{}", 2, sig);
    CHECK_STR(sig, "720aa4237400c553963b2504fc2ef2a6f009cd03c387f5eab6553b81122b6130",
              "a 5001-byte path is signed over all of it (Python hmac)");
    CHECK(sign_verify("0123456789abcdef", "POST", path, 1764300000, "{}", 2, sig),
          "the long path's signature verifies");
    path[5000] = 'b';
    CHECK(!sign_verify("0123456789abcdef", "POST", path, 1764300000, "{}", 2, sig),
          "a path differing only past 4096 bytes does not verify");
    sign_request("0123456789abcdef", "POST", "/v1/probe-runs", 1764300000, "{}", 2, sig);
    CHECK_STR(sig, "28da3ee45859fdf5bea578acdf1170bc365e1eb3f00d323b4ee6e82993a2a544",
              "a short path signs as before (Python hmac)");
}

/* fuzz_query (tests/fuzz/crashes/query/verdict-rate-assert): a canary whose every page view
 * had an error, over few page views, aborted the collector on an assert in
 * cmp_rate_bounds: the search for the sample size that would decide tried fractional
 * sizes and asked for more hits than views. Every method must answer with a decision. */
static void test_rate_all_errors(void)
{
    static const enum cmp_method methods[] = {CMP_SEQUENTIAL, CMP_POOLED, CMP_MANN_WHITNEY};
    struct cmp_policy p;
    CHECK(cmp_policy_builtin("conservative", &p) == 0, "the conservative policy");
    for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++) {
        int decided = 0, cases = 0;
        for (long long bv = 1; bv <= 4; bv++)
            for (long long bh = 0; bh <= bv; bh++)
                for (long long cv = 1; cv <= 4; cv++)
                    for (long long ch = 0; ch <= cv; ch++) {
                        struct cmp_data d[1] = {{.name = "errors", .base_hits = bh,
                                                 .base_views = bv, .canary_hits = ch,
                                                 .canary_views = cv}};
                        json_t *v = cmp_judge(&p, d, 1, methods[k]);
                        decided += json_string_value(json_object_get(v, "decision")) != NULL;
                        cases++;
                        json_decref(v);
                    }
        CHECK(decided == cases, "%s: every split of up to 4 page views per version, all"
              " with errors included, gets a decision (%d of %d)", cmp_method_name(methods[k]),
              decided, cases);
    }
}

/* fuzz_query (tests/fuzz/crashes/query/duration-overflow): warmup=9223372036854775807ms
 * overflowed the conversion to milliseconds (UBSan: float-cast-overflow). The one
 * duration parser refuses it. */
static void test_duration_overflow(void)
{
    long long ms = 0;
    CHECK(text_duration_ms("9223372036854775807ms", &ms) < 0, "9223372036854775807ms is refused");
    CHECK(text_duration_ms("1e300", &ms) < 0, "1e300 is refused");
}

int main(void)
{
    test_sign_long_path();
    test_rate_all_errors();
    test_duration_overflow();
    return check_done();
}
