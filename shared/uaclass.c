#include "uaclass.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* A major version above this is not a version but noise; it reads as 0 (unknown). */
#define UACLASS_MAJOR_MAX 99999

/* Bot tokens, matched case-insensitively anywhere in the UA. Kept in the order the
 * header lists them so the two are easy to compare. */
static const char *const bot_tokens[] = {
    "Googlebot", "Mediapartners-Google", "Google-InspectionTool", "GoogleOther",
    "bingbot", "Slurp", "DuckDuckBot", "Baiduspider", "YandexBot", "facebookexternalhit",
    "Twitterbot", "LinkedInBot", "Applebot", "AhrefsBot", "SemrushBot", "MJ12bot",
    "PetalBot", "GPTBot", "ClaudeBot", "CCBot", "Bytespider",
    "Chrome-Lighthouse", "PageSpeed", "Google Page Speed Insights", "GTmetrix", "Pingdom",
    "UptimeRobot", "StatusCake", "Datadog/Synthetics", "DatadogSynthetics",
    "curl/", "Wget/", "python-requests", "Go-http-client", "okhttp", "Java/",
    "crawler", "spider",
    NULL
};

/* One browser rule: any of its tokens (case-sensitive) names the browser, and the major
 * version follows that token. */
struct browser_rule {
    const char *name;
    const char *tokens[4];  /* NULL-terminated */
};

/* Order matters: see the header. Safari is not here because it needs more than one
 * token to be present; it is checked after these. */
static const struct browser_rule browser_rules[] = {
    { "Edge", { "Edg/", "EdgA/", "EdgiOS/", NULL } },
    { "Opera", { "OPR/", NULL } },
    { "Samsung Internet", { "SamsungBrowser/", NULL } },
    { UACLASS_HEADLESS, { "HeadlessChrome/", NULL } },
    { "Chrome", { "Chrome/", "CriOS/", NULL } },
    { "Firefox", { "Firefox/", "FxiOS/", NULL } },
};

static void set_field(char *dst, size_t dstlen, const char *value)
{
    snprintf(dst, dstlen, "%s", value);
}

static int has(const char *ua, const char *token)
{
    return strstr(ua, token) != NULL;
}

/* True if "bot" ends a word somewhere in ua (any case), other than in "cubot". The
 * word-end test keeps "bottle" or "Botify" out; the same two exceptions are what the
 * widely used isbot list settled on. */
static int has_bot_word(const char *ua)
{
    const char *p = ua;

    while ((p = strcasestr(p, "bot")) != NULL) {
        unsigned char next = (unsigned char)p[3];
        int cubot = p - ua >= 2 && tolower((unsigned char)p[-2]) == 'c'
                    && tolower((unsigned char)p[-1]) == 'u';

        if (!isalnum(next) && !cubot)
            return 1;
        p += 3;
    }
    return 0;
}

static int is_bot(const char *ua)
{
    for (size_t i = 0; bot_tokens[i]; i++)
        if (strcasestr(ua, bot_tokens[i]))
            return 1;
    return has_bot_word(ua);
}

/* The integer at s (the text right after a token's '/'), or 0 if there is none or it
 * is implausibly large. */
static int parse_major(const char *s)
{
    int v = 0;

    if (!isdigit((unsigned char)*s))
        return 0;
    for (; isdigit((unsigned char)*s); s++) {
        v = v * 10 + (*s - '0');
        if (v > UACLASS_MAJOR_MAX)
            return 0;
    }
    return v;
}

static void classify_browser(const char *ua, struct uaclass *out)
{
    const char *hit;

    for (size_t i = 0; i < sizeof browser_rules / sizeof browser_rules[0]; i++) {
        const struct browser_rule *r = &browser_rules[i];

        for (size_t j = 0; r->tokens[j]; j++) {
            if ((hit = strstr(ua, r->tokens[j])) != NULL) {
                set_field(out->browser, sizeof out->browser, r->name);
                out->browser_major = parse_major(hit + strlen(r->tokens[j]));
                return;
            }
        }
    }
    /* Safari says "Version/X ... Safari/"; Chromium and Android browsers that carry the
     * same pair would have a Chrome token or run on Android, where Safari does not. */
    if ((hit = strstr(ua, "Version/")) != NULL && has(ua, "Safari/") && !has(ua, "Chrome")
        && !has(ua, "Android")) {
        set_field(out->browser, sizeof out->browser, "Safari");
        out->browser_major = parse_major(hit + strlen("Version/"));
    }
}

static const char *classify_os(const char *ua)
{
    if (has(ua, "Windows NT"))
        return "Windows";
    if (has(ua, "iPad"))
        return "iPadOS";
    if (has(ua, "iPhone") || has(ua, "iPod"))
        return "iOS";
    if (has(ua, "Macintosh") || has(ua, "Mac OS X"))
        return "macOS";
    if (has(ua, "Android"))
        return "Android";
    if (has(ua, "CrOS"))
        return "ChromeOS";
    if (has(ua, "Linux"))
        return "Linux";
    return "Other";
}

static const char *classify_device(const char *ua)
{
    if (has(ua, "iPad"))
        return "tablet";
    if (has(ua, "iPhone") || has(ua, "iPod"))
        return "mobile";
    if (has(ua, "Kindle") || has(ua, "Silk") || has(ua, "Tablet"))
        return "tablet";
    if (has(ua, "Android"))
        return has(ua, "Mobile") ? "mobile" : "tablet";
    if (has(ua, "Mobi"))
        return "mobile";
    return "desktop";
}

void uaclass_classify(const char *ua, struct uaclass *out)
{
    /* The checks run on a bounded, NUL-terminated copy so that no search can read past
     * UACLASS_SCAN_MAX bytes of the caller's string. */
    char buf[UACLASS_SCAN_MAX + 1];
    size_t n = ua ? strnlen(ua, UACLASS_SCAN_MAX) : 0;

    assert(out);
    if (n)
        memcpy(buf, ua, n);
    buf[n] = '\0';

    set_field(out->browser, sizeof out->browser, "Other");
    out->browser_major = 0;
    out->bot = is_bot(buf);
    if (!out->bot)
        classify_browser(buf, out);
    set_field(out->os, sizeof out->os, classify_os(buf));
    set_field(out->device, sizeof out->device, classify_device(buf));
}
