#include "push.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "sign.h"
#include "text.h"

#define RESPONSE_MAX (64 * 1024)

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    return buf_append(ctx, p, size * n) < 0 ? 0 : size * n;
}

int push_check_labels(const json_t *labels, char *err, size_t errlen)
{
    static const char *const keys[] = {"app", "version", "region"};
    for (int i = 0; i < 3; i++) {
        const json_t *v = json_object_get(labels, keys[i]);
        const char *s = json_string_value(v);
        if (!v && i == 2)
            continue;
        if (!s || !*s) {
            snprintf(err, errlen, "--push needs --%s: the collector files every result under"
                     " its app and version", keys[i]);
            return -1;
        }
        if (!text_name_ok(s)) {
            snprintf(err, errlen, "--%s \"%.80s\": the collector takes " TEXT_NAME_RULE,
                     keys[i], s);
            return -1;
        }
    }
    return 0;
}

enum push_result push_send(const char *body, size_t len, const char *url,
                           const struct push_auth *auth, const struct runner_opts *o,
                           char *note, size_t notelen, char *err, size_t errlen)
{
    char endpoint[2048], line[1024], curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    struct buf resp;
    long status = 0;
    enum push_result rc = PUSH_RETRY;
    size_t n = strlen(url);
    const char *suffix = "/v1/probe-runs";

    if (n >= strlen(suffix) && strcmp(url + n - strlen(suffix), suffix) == 0)
        snprintf(endpoint, sizeof endpoint, "%s", url);
    else
        snprintf(endpoint, sizeof endpoint, "%.*s%s", (int)(n && url[n - 1] == '/' ? n - 1 : n),
                 url, suffix);
    CURL *e = curl_easy_init();
    buf_init(&resp, RESPONSE_MAX);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (auth->key_id && auth->secret) {
        char sig[65];
        long long ts = clock_wall_ms() / 1000;   /* a peer compares it: wall time */
        sign_request(auth->secret, "POST", suffix, ts, body, len, sig);
        snprintf(line, sizeof line, "X-Vigil-Key-Id: %s", auth->key_id);
        hdrs = curl_slist_append(hdrs, line);
        snprintf(line, sizeof line, "X-Vigil-Timestamp: %lld", ts);
        hdrs = curl_slist_append(hdrs, line);
        snprintf(line, sizeof line, "X-Vigil-Signature: %s", sig);
        hdrs = curl_slist_append(hdrs, line);
    } else {
        snprintf(line, sizeof line, "Authorization: Bearer %s", auth->token ? auth->token : "");
        hdrs = curl_slist_append(hdrs, line);
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, endpoint);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)PUSH_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil-probe/1");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_err);
    runner_tls_options(e, o);
    CURLcode cc = curl_easy_perform(e);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", endpoint, curl_err[0] ? curl_err : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 || status == 201) {
        snprintf(note, notelen, "%s", status == 201 ? "stored" : "already stored");
        rc = PUSH_OK;
    } else {
        rc = status >= 500 || status == 408 || status == 429 ? PUSH_RETRY : PUSH_REFUSED;
        json_t *j = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "error"));
        snprintf(err, errlen, "%s answered HTTP %ld: %s", endpoint, status,
                 msg ? msg : "(no reason given)");
        json_decref(j);
    }
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(e);
    buf_fini(&resp);
    return rc;
}
