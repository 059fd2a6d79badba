/*
 * Regression tests for what the fuzzers (tests/fuzz/) found, each feeding the input that
 * broke a parser through the same API and asserting a clean answer. Reference values are
 * from Python's hmac module (hmac.new(secret, canonical, hashlib.sha256).hexdigest()).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sign.h"

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

int main(void)
{
    test_sign_long_path();
    return check_done();
}
