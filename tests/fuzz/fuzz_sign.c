/* Signatures (shared/sign.h). The input is a keys file (as --probe-keys reads it), a NUL
 * byte, then "KEY-ID\nMETHOD\nPATH\nTIMESTAMP\nSIGNATURE\nBODY": the keys file is loaded,
 * the key id looked up, and the signature checked against the request. Two properties
 * hold for every input: a request's own signature verifies, and the given signature
 * verifies only if it is exactly that one (the collector lowercases it first). */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzkit.h"
#include "sign.h"

/* Splits the next '\n'-terminated field off *p (of *n bytes) as a new string. */
static char *field(const uint8_t **p, size_t *n)
{
    const uint8_t *nl = memchr(*p, '\n', *n);
    size_t len = nl ? (size_t)(nl - *p) : *n;
    char *s = fuzzkit_strndup(*p, len);
    *p += len + (nl != NULL);
    *n -= len + (nl != NULL);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t klen = nul ? (size_t)(nul - data) : size;
    struct sign_keys *keys = NULL;
    char path[PATH_MAX], err[512], secret[SIGN_SECRET_MAX + 2], mine[65];

    fuzzkit_write("keys", data, klen, 0600, path, sizeof path);
    err[0] = '\0';
    fuzzkit_refused(sign_keys_load(path, &keys, err, sizeof err) < 0, err);
    sign_read_secret(path, secret, sizeof secret, err, sizeof err);

    const uint8_t *p = nul ? nul + 1 : data + size;
    size_t n = nul ? size - klen - 1 : 0;
    char *id = field(&p, &n), *method = field(&p, &n), *rpath = field(&p, &n);
    char *ts = field(&p, &n), *sig = field(&p, &n);
    const char *key = sign_keys_find(keys, id);
    if (!key)
        key = "a fuzzing secret, 16+ characters";
    long long t = strtoll(ts, NULL, 10);

    int ok = sign_verify(key, method, rpath, t, p, n, sig);
    sign_request(key, method, rpath, t, p, n, mine);
    if (!sign_verify(key, method, rpath, t, p, n, mine) || ok != (strcmp(sig, mine) == 0))
        abort();
    free(id);
    free(method);
    free(rpath);
    free(ts);
    free(sig);
    sign_keys_free(keys);
    return 0;
}
