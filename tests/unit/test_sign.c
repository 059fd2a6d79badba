/*
 * Unit tests for shared/sign.c against its contract in shared/sign.h. The reference
 * signatures were computed once outside this code, with the openssl command line (and
 * checked again with Python's hmac module), and are kept here as constants:
 *
 *   B='{"schema":"vigil.probe-result/1","run_id":"r-1"}'
 *   H=$(printf '%s' "$B" | openssl dgst -sha256 -r | cut -c1-64)
 *   # H = f005b6244ffdb269de93c9c3b84d9757cce4827828f089a2d90e94d11096c281
 *   printf 'POST\n/v1/probe-runs\n1764300000\n%s' "$H" \
 *       | openssl dgst -sha256 -hmac 'eu-west-1-secret-0123456789'
 *   # a85b25a8aa0e7954561664327e0a01455aca5357f92f6efcc6fb684612d9528f
 *
 * and for an empty body (H = e3b0c442...b855, SHA-256 of nothing):
 *   # 6d0db5aa46d270adc2f087d817fb99e9b8cb706e6c7e8412ebd06c28e5b17f24
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "sign.h"

#define SECRET "eu-west-1-secret-0123456789"
#define BODY "{\"schema\":\"vigil.probe-result/1\",\"run_id\":\"r-1\"}"
#define TS 1764300000LL
#define SIG_BODY "a85b25a8aa0e7954561664327e0a01455aca5357f92f6efcc6fb684612d9528f"
#define SIG_EMPTY "6d0db5aa46d270adc2f087d817fb99e9b8cb706e6c7e8412ebd06c28e5b17f24"

static char dir[64];

/* Writes text to dir/name with the given mode; returns the path in a static buffer. */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return path;
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

static void signatures(void)
{
    char sig[65];

    sign_request(SECRET, "POST", "/v1/probe-runs", TS, BODY, strlen(BODY), sig);
    CHECK_STR(sig, SIG_BODY, "sign_request matches the openssl reference");
    sign_request(SECRET, "POST", "/v1/probe-runs", TS, "", 0, sig);
    CHECK_STR(sig, SIG_EMPTY, "sign_request of an empty body matches the openssl reference");

    const char *body = BODY;
    size_t len = strlen(body);
    CHECK(sign_verify(SECRET, "POST", "/v1/probe-runs", TS, body, len, SIG_BODY) == 1,
          "sign_verify accepts the reference signature");
    CHECK(sign_verify(SECRET, "POST", "/v1/probe-runs", TS, "{\"schema\":\"vigil.probe-result/1\","
                      "\"run_id\":\"r-2\"}", len, SIG_BODY) == 0,
          "sign_verify rejects a changed body");
    CHECK(sign_verify(SECRET, "POST", "/v1/probe-runs", TS, body, len - 1, SIG_BODY) == 0,
          "sign_verify rejects a truncated body");
    CHECK(sign_verify(SECRET, "POST", "/v1/probe-runs", TS + 1, body, len, SIG_BODY) == 0,
          "sign_verify rejects a changed timestamp");
    CHECK(sign_verify(SECRET, "POST", "/v1/deployments", TS, body, len, SIG_BODY) == 0,
          "sign_verify rejects a changed path");
    CHECK(sign_verify(SECRET, "PUT", "/v1/probe-runs", TS, body, len, SIG_BODY) == 0,
          "sign_verify rejects a changed method");
    CHECK(sign_verify("another-secret-0123456789", "POST", "/v1/probe-runs", TS, body, len,
                      SIG_BODY) == 0,
          "sign_verify rejects the signature under another secret");
    CHECK(sign_verify(SECRET, "POST", "/v1/probe-runs", TS, body, len,
                      "a85b25a8aa0e7954561664327e0a01455aca5357f92f6efcc6fb684612d952") == 0,
          "sign_verify rejects a signature that is too short");
    CHECK(sign_verify(SECRET, "POST", "/v1/probe-runs", TS, body, len, "") == 0,
          "sign_verify rejects an empty signature");

    /* Every case above changes the whole HMAC. These keep a right prefix, so that a
     * comparison of fewer than all 64 digits (or one that ignores what follows them)
     * lets them through. */
    CHECK(sign_verify(SECRET, "POST", "/v1/probe-runs", TS, body, len,
                      "a85b25a8aa0e7954561664327e0a0145" "b8cb706e6c7e8412ebd06c28e5b17f24") == 0,
          "sign_verify rejects a signature whose first 32 digits are right and last 32 wrong");
    CHECK(sign_verify(SECRET, "POST", "/v1/probe-runs", TS, body, len,
                      "a85b25a8aa0e7954561664327e0a01455aca5357f92f6efcc6fb684612d9528e") == 0,
          "sign_verify rejects a signature with only its last digit wrong");
    CHECK(sign_verify(SECRET, "POST", "/v1/probe-runs", TS, body, len, SIG_BODY "0") == 0,
          "sign_verify rejects the right signature followed by one more digit");
}

static void keys(void)
{
    struct sign_keys *k = NULL;
    char err[512];
    const char *path;

    path = write_file("keys", "# probe hosts\n\neu-west-1 " SECRET "\n"
                      "  us-east-1\tus-east-1-secret-abcdefghij  \n", 0600);
    CHECK(sign_keys_load(path, &k, err, sizeof err) == 0 && k, "sign_keys_load reads a mode 600"
          " file with comments, blank lines and tabs%s%s", k ? "" : ": ", k ? "" : err);
    CHECK_STR(sign_keys_find(k, "eu-west-1"), SECRET, "sign_keys_find: the first key");
    CHECK_STR(sign_keys_find(k, "us-east-1"), "us-east-1-secret-abcdefghij",
              "sign_keys_find: the second key (indented, tab-separated)");
    CHECK(sign_keys_find(k, "eu-west-2") == NULL, "sign_keys_find: an unknown id is NULL");
    CHECK(sign_keys_find(k, "eu-west") == NULL, "sign_keys_find: a prefix of an id is NULL");
    sign_keys_free(k);
    sign_keys_free(NULL);
    CHECK(1, "sign_keys_free(NULL) is a no-op");

    k = NULL;
    path = write_file("keys-644", "eu-west-1 " SECRET "\n", 0644);
    err[0] = '\0';
    CHECK(sign_keys_load(path, &k, err, sizeof err) == -1 && !k,
          "sign_keys_load refuses a file readable by others (mode 644)");
    CHECK(strstr(err, path) && strstr(err, "chmod 600"), "... naming the file and the fix: %s",
          err);
    path = write_file("keys-640", "eu-west-1 " SECRET "\n", 0640);
    CHECK(sign_keys_load(path, &k, err, sizeof err) == -1 && !k,
          "sign_keys_load refuses a file readable by its group (mode 640)");

    char want[256];
    path = write_file("keys-short", "# one key\neu-west-1 " SECRET "\nus-east-1 short\n", 0600);
    CHECK(sign_keys_load(path, &k, err, sizeof err) == -1 && !k,
          "sign_keys_load refuses a secret under 16 characters");
    snprintf(want, sizeof want, "%s:3: ", path);
    CHECK(strncmp(err, want, strlen(want)) == 0, "... with FILE:LINE first: %s", err);

    path = write_file("keys-one", "eu-west-1\n", 0600);
    CHECK(sign_keys_load(path, &k, err, sizeof err) == -1 && !k,
          "sign_keys_load refuses a line without a secret");
    snprintf(want, sizeof want, "%s:1: ", path);
    CHECK(strncmp(err, want, strlen(want)) == 0, "... with FILE:LINE first: %s", err);

    path = write_file("keys-three", "eu-west-1 " SECRET " extra\n", 0600);
    CHECK(sign_keys_load(path, &k, err, sizeof err) == -1 && !k,
          "sign_keys_load refuses a line with a third word");

    path = write_file("keys-twice", "eu-west-1 " SECRET "\n\neu-west-1 " SECRET "x\n", 0600);
    CHECK(sign_keys_load(path, &k, err, sizeof err) == -1 && !k,
          "sign_keys_load refuses a key id given twice");
    snprintf(want, sizeof want, "%s:3: ", path);
    CHECK(strncmp(err, want, strlen(want)) == 0 && strstr(err, "eu-west-1"),
          "... with FILE:LINE and the id: %s", err);

    snprintf(want, sizeof want, "%s/missing", dir);
    CHECK(sign_keys_load(want, &k, err, sizeof err) == -1 && !k && strstr(err, want),
          "sign_keys_load of a missing file names it: %s", err);
}

static void secrets(void)
{
    char out[SIGN_SECRET_MAX + 2], err[512];
    const char *path = write_file("secret", SECRET "\nsecond line\n", 0600);
    CHECK(sign_read_secret(path, out, sizeof out, err, sizeof err) == 0,
          "sign_read_secret reads a mode 600 file");
    CHECK_STR(out, SECRET, "sign_read_secret: the first line, without its newline");
    path = write_file("secret-644", SECRET "\n", 0644);
    CHECK(sign_read_secret(path, out, sizeof out, err, sizeof err) == -1 && strstr(err, path),
          "sign_read_secret refuses mode 644: %s", err);
    path = write_file("secret-short", "short\n", 0600);
    CHECK(sign_read_secret(path, out, sizeof out, err, sizeof err) == -1,
          "sign_read_secret refuses a secret under 16 characters");
}

static void cleanup(void)
{
    static const char *const names[] = {
        "keys", "keys-644", "keys-640", "keys-short", "keys-one", "keys-three", "keys-twice",
        "secret", "secret-644", "secret-short", NULL
    };
    char path[160];
    for (int i = 0; names[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vigil-sign-XXXXXX");
    if (!mkdtemp(dir)) {
        CHECK(0, "a temporary directory");
        return check_done();
    }
    signatures();
    keys();
    secrets();
    cleanup();
    CHECK(access(dir, F_OK) != 0, "temporary directory removed");
    return check_done();
}
