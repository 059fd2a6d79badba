/*
 * sign: HMAC-SHA256 request signatures between regional probe hosts and the collector.
 *
 * A probe host holds one secret (--key-file: its first line) under a key id; the
 * collector holds every host's (--probe-keys: "key-id secret" per line). A push carries
 *   X-Vigil-Key-Id: eu-west-1
 *   X-Vigil-Timestamp: 1764300000          (Unix seconds)
 *   X-Vigil-Signature: <64 hex digits>
 * where the signature is HMAC-SHA256(secret, canonical) over the canonical string
 *   METHOD "\n" PATH "\n" TIMESTAMP "\n" hex(SHA-256(body))
 * The collector refuses an unknown key id, a wrong signature, or a timestamp more than
 * SIGN_WINDOW_S seconds from its clock (a replay), and stores nothing from such a request.
 */
#ifndef VIGIL_SIGN_H
#define VIGIL_SIGN_H

#include <stddef.h>

#define SIGN_WINDOW_S 300
#define SIGN_KEY_ID_MAX 64
#define SIGN_SECRET_MAX 256
#define SIGN_KEYS_MAX 1024

/* Writes the signature of a request as 64 hex digits and a NUL into out. */
void sign_request(const char *secret, const char *method, const char *path, long long ts,
                  const void *body, size_t len, char out[65]);

/* Returns 1 if sig (hex) is the request's signature, else 0; compares in constant time. */
int sign_verify(const char *secret, const char *method, const char *path, long long ts,
                const void *body, size_t len, const char *sig);

/* Reads a secret file (first line; the file must not be readable by group or others;
 * at least 16 characters). Returns 0 or -1 with err. */
int sign_read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen);

struct sign_keys;

/* Loads a keys file: "key-id secret" per line, '#' comments and blank lines allowed; the
 * file must not be readable by group or others. Returns 0 with *out (free with
 * sign_keys_free()), or -1 with "FILE:LINE: what is wrong" in err. */
int sign_keys_load(const char *path, struct sign_keys **out, char *err, size_t errlen);

void sign_keys_free(struct sign_keys *k);

/* The secret of key id, or NULL. */
const char *sign_keys_find(const struct sign_keys *k, const char *id);

#endif
