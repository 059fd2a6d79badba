#include "sign.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

void sign_request(const char *secret, const char *method, const char *path, long long ts,
                  const void *body, size_t len, char out[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0, mlen = 0;
    char body_hex[65], canonical[4096];

    EVP_Digest(body, len, digest, &dlen, EVP_sha256(), NULL);
    hex(digest, 32, body_hex);
    int n = snprintf(canonical, sizeof canonical, "%s\n%s\n%lld\n%s", method, path, ts, body_hex);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)canonical,
         (size_t)(n < 0 ? 0 : n), mac, &mlen);
    hex(mac, 32, out);
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
