#include "sign.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct key {
    char id[SIGN_KEY_ID_MAX + 1];
    char secret[SIGN_SECRET_MAX + 1];
};

struct sign_keys {
    struct key *v;
    size_t n;
};

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The MAC is fed the canonical string's parts one by one (EVP_MAC, OpenSSL 3's
 * EVP_MAC-HMAC(7)), so that no buffer bounds how long a method or path may be: the fuzzer
 * (tests/fuzz/fuzz_sign.c) found that a path over 4 KiB made HMAC read past the end of the
 * fixed buffer this used to print into. If OpenSSL fails, out is all NULs, which no
 * signature of 64 hex digits equals. */
void sign_request(const char *secret, const char *method, const char *path, long long ts,
                  const void *body, size_t len, char out[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    size_t mlen = 0;
    char body_hex[65], stamp[32];
    char sha256[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256, 0),
        OSSL_PARAM_construct_end()
    };
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;

    memset(out, 0, 65);
    EVP_Digest(body, len, digest, &dlen, EVP_sha256(), NULL);
    hex(digest, 32, body_hex);
    snprintf(stamp, sizeof stamp, "\n%lld\n", ts);
    if (ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params)
        && EVP_MAC_update(ctx, (const unsigned char *)method, strlen(method))
        && EVP_MAC_update(ctx, (const unsigned char *)"\n", 1)
        && EVP_MAC_update(ctx, (const unsigned char *)path, strlen(path))
        && EVP_MAC_update(ctx, (const unsigned char *)stamp, strlen(stamp))
        && EVP_MAC_update(ctx, (const unsigned char *)body_hex, 64)
        && EVP_MAC_final(ctx, mac, &mlen, sizeof mac) && mlen == 32)
        hex(mac, 32, out);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
}

int sign_verify(const char *secret, const char *method, const char *path, long long ts,
                const void *body, size_t len, const char *sig)
{
    char want[65];
    sign_request(secret, method, path, ts, body, len, want);
    return strlen(sig) == 64 && CRYPTO_memcmp(want, sig, 64) == 0;
}

/* Opens path for reading if only its owner may read it. */
static FILE *open_private(const char *path, char *err, size_t errlen)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    if (!f || fstat(fileno(f), &st) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    if (st.st_mode & 0077) {
        snprintf(err, errlen, "%s is readable by others (mode %o): chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
        fclose(f);
        return NULL;
    }
    return f;
}

int sign_read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    FILE *f = open_private(path, err, errlen);
    if (!f)
        return -1;
    if (!fgets(out, (int)outlen, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if (strlen(out) < 16) {
        snprintf(err, errlen, "%s: the secret is shorter than 16 characters", path);
        return -1;
    }
    return 0;
}

int sign_keys_load(const char *path, struct sign_keys **out, char *err, size_t errlen)
{
    char line[1024];
    int lineno = 0;
    struct sign_keys *k = calloc(1, sizeof *k);
    FILE *f = k ? open_private(path, err, errlen) : NULL;

    *out = NULL;
    if (!f) {
        free(k);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char id[SIGN_KEY_ID_MAX + 2], secret[SIGN_SECRET_MAX + 2], extra[2];
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        const char *p = line + strspn(line, " \t");
        if (!*p || *p == '#')
            continue;
        int n = sscanf(p, "%65s %257s %1s", id, secret, extra);
        if (n != 2 || strlen(id) > SIGN_KEY_ID_MAX || strlen(secret) > SIGN_SECRET_MAX
            || strlen(secret) < 16) {
            snprintf(err, errlen, "%s:%d: expected \"KEY-ID SECRET\" (a secret of 16 to %d"
                     " characters)", path, lineno, SIGN_SECRET_MAX);
            goto fail;
        }
        if (sign_keys_find(k, id)) {
            snprintf(err, errlen, "%s:%d: key id \"%s\" appears twice", path, lineno, id);
            goto fail;
        }
        if (k->n == SIGN_KEYS_MAX) {
            snprintf(err, errlen, "%s:%d: more than %d keys", path, lineno, SIGN_KEYS_MAX);
            goto fail;
        }
        struct key *v = realloc(k->v, (k->n + 1) * sizeof *v);
        if (!v)
            goto fail;
        k->v = v;
        snprintf(v[k->n].id, sizeof v[k->n].id, "%s", id);
        snprintf(v[k->n].secret, sizeof v[k->n].secret, "%s", secret);
        k->n++;
    }
    fclose(f);
    *out = k;
    return 0;
fail:
    fclose(f);
    sign_keys_free(k);
    return -1;
}

void sign_keys_free(struct sign_keys *k)
{
    if (!k)
        return;
    if (k->v)
        OPENSSL_cleanse(k->v, k->n * sizeof *k->v);
    free(k->v);
    free(k);
}

const char *sign_keys_find(const struct sign_keys *k, const char *id)
{
    for (size_t i = 0; k && i < k->n; i++)
        if (strcmp(k->v[i].id, id) == 0)
            return k->v[i].secret;
    return NULL;
}
