/*
 * Unit tests for shared/uaclass.c: a table of real User-Agent strings, as browsers and
 * crawlers send them (Chrome's reduced UA format, Apple's, Mozilla's and the crawler
 * operators' published strings), each with what the string itself says about browser,
 * major version, OS, device and bot; then the edge cases of the contract.
 */
#include <string.h>

#include "check.h"
#include "uaclass.h"

struct ua_case {
    const char *name;
    const char *ua;
    const char *browser;
    int major;
    const char *os;
    const char *device;
    int bot;
};

static const struct ua_case cases[] = {
    /* Chrome, in the reduced format: only the major version is real, the rest is 0. */
    { "Chrome 131 on Windows 10/11",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36",
      "Chrome", 131, "Windows", "desktop", 0 },
    { "Chrome 109 on Windows 7",
      "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/109.0.0.0 Safari/537.36",
      "Chrome", 109, "Windows", "desktop", 0 },
    { "Chrome 131 on macOS",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36",
      "Chrome", 131, "macOS", "desktop", 0 },
    { "Chrome 131 on Linux",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36",
      "Chrome", 131, "Linux", "desktop", 0 },
    { "Chrome 131 on ChromeOS",
      "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36",
      "Chrome", 131, "ChromeOS", "desktop", 0 },
    { "Chrome 131 on an Android phone",
      "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Mobile Safari/537.36",
      "Chrome", 131, "Android", "mobile", 0 },
    { "Chrome 131 on an Android tablet",
      "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36",
      "Chrome", 131, "Android", "tablet", 0 },
    { "Chrome 131 on iPhone (CriOS)",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
      "Chrome", 131, "iOS", "mobile", 0 },
    { "Chrome 131 on iPad (CriOS)",
      "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
      "Chrome", 131, "iPadOS", "tablet", 0 },
    { "Android WebView 131 (counts as Chrome)",
      "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36",
      "Chrome", 131, "Android", "mobile", 0 },
    { "Chrome 79 on a Cubot phone is not a bot",
      "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/79.0.3945.136 Mobile Safari/537.36",
      "Chrome", 79, "Android", "mobile", 0 },
    { "Silk on a Fire HD tablet (says like Chrome/130)",
      "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Silk/130.4.1 like Chrome/130.0.6723.102 Safari/537.36",
      "Chrome", 130, "Android", "tablet", 0 },

    /* Edge: Chromium UA plus Edg/ (desktop), EdgA/ (Android), EdgiOS/ (iOS). */
    { "Edge 131 on Windows",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
      "Edge", 131, "Windows", "desktop", 0 },
    { "Edge 131 on macOS",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
      "Edge", 131, "macOS", "desktop", 0 },
    { "Edge 131 on Linux",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
      "Edge", 131, "Linux", "desktop", 0 },
    { "Edge 131 on Android (EdgA)",
      "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0",
      "Edge", 131, "Android", "mobile", 0 },
    { "Edge 131 on iPhone (EdgiOS)",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/18.0 EdgiOS/131.0.2903.68 Mobile/15E148 Safari/605.1.15",
      "Edge", 131, "iOS", "mobile", 0 },

    /* Opera: Chromium UA plus OPR/. */
    { "Opera 115 on Windows",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
      "Opera", 115, "Windows", "desktop", 0 },
    { "Opera 115 on macOS",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
      "Opera", 115, "macOS", "desktop", 0 },
    { "Opera 86 on an Android phone",
      "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0.0.0 Mobile Safari/537.36 OPR/86.0.0.0",
      "Opera", 86, "Android", "mobile", 0 },

    /* Samsung Internet: SamsungBrowser/ before its Chrome/ token. */
    { "Samsung Internet 26 on a Galaxy phone",
      "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) "
      "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
      "Samsung Internet", 26, "Android", "mobile", 0 },
    { "Samsung Internet 26 on a Galaxy Tab",
      "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
      "SamsungBrowser/26.0 Chrome/122.0.0.0 Safari/537.36",
      "Samsung Internet", 26, "Android", "tablet", 0 },
    { "Samsung Internet 27, reduced UA",
      "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
      "SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
      "Samsung Internet", 27, "Android", "mobile", 0 },

    /* Firefox: Gecko UAs on desktop and Android, FxiOS/ on iOS. */
    { "Firefox 133 on Windows",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
      "Firefox", 133, "Windows", "desktop", 0 },
    { "Firefox ESR 115 on Windows 7",
      "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0",
      "Firefox", 115, "Windows", "desktop", 0 },
    { "Firefox 133 on macOS",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
      "Firefox", 133, "macOS", "desktop", 0 },
    { "Firefox 133 on Linux",
      "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
      "Firefox", 133, "Linux", "desktop", 0 },
    { "Firefox 133 on Ubuntu",
      "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
      "Firefox", 133, "Linux", "desktop", 0 },
    { "Firefox 133 on an Android phone",
      "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
      "Firefox", 133, "Android", "mobile", 0 },
    { "Firefox 133 on an Android tablet",
      "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0",
      "Firefox", 133, "Android", "tablet", 0 },
    { "Firefox 133 on iPhone (FxiOS)",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
      "Firefox", 133, "iOS", "mobile", 0 },
    { "Firefox 133 on iPad (FxiOS)",
      "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
      "Firefox", 133, "iPadOS", "tablet", 0 },

    /* Safari: the major is the number after Version/. */
    { "Safari 18.1 on macOS",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/18.1 Safari/605.1.15",
      "Safari", 18, "macOS", "desktop", 0 },
    { "Safari 18.1 on iPhone",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
      "Safari", 18, "iOS", "mobile", 0 },
    { "Safari 26 on iPhone (OS version frozen at 18_6)",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/26.0 Mobile/15E148 Safari/604.1",
      "Safari", 26, "iOS", "mobile", 0 },
    { "Safari 18.1 on iPad (mobile site requested)",
      "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/18.1 Mobile/15E148 Safari/604.1",
      "Safari", 18, "iPadOS", "tablet", 0 },
    /* The documented limitation: iPadOS Safari's default desktop UA is the Mac one. */
    { "Safari 17.6 on iPad in desktop mode reads as macOS",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/17.6 Safari/605.1.15",
      "Safari", 17, "macOS", "desktop", 0 },
    { "Safari 15 on iPod touch",
      "Mozilla/5.0 (iPod touch; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/15.6.6 Mobile/15E148 Safari/604.1",
      "Safari", 15, "iOS", "mobile", 0 },

    /* HeadlessChrome is a browser, not a bot (see uaclass.h). */
    { "HeadlessChrome 131 on Linux",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "HeadlessChrome/131.0.0.0 Safari/537.36",
      "HeadlessChrome", 131, "Linux", "desktop", 0 },
    { "HeadlessChrome 120 on Windows",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "HeadlessChrome/120.0.6099.28 Safari/537.36",
      "HeadlessChrome", 120, "Windows", "desktop", 0 },

    /* Browsers no rule names. */
    { "Internet Explorer 11 on Windows 10",
      "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
      "Other", 0, "Windows", "desktop", 0 },
    { "Facebook in-app browser on iPhone",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Mobile/21F90 [FBAN/FBIOS;FBAV/470.0.0.38.109;FBBV/628000000;"
      "FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/5]",
      "Other", 0, "iOS", "mobile", 0 },

    /* Bots: browser Other, major 0; os and device are what the UA claims. */
    { "Googlebot (classic)",
      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
      "Other", 0, "Other", "desktop", 1 },
    { "Googlebot desktop (evergreen Chrome)",
      "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
      "+http://www.google.com/bot.html) Chrome/131.0.6778.204 Safari/537.36",
      "Other", 0, "Other", "desktop", 1 },
    { "Googlebot smartphone",
      "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; "
      "Googlebot/2.1; +http://www.google.com/bot.html)",
      "Other", 0, "Android", "mobile", 1 },
    { "bingbot (classic)",
      "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
      "Other", 0, "Other", "desktop", 1 },
    { "bingbot desktop (evergreen Edge)",
      "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
      "+http://www.bing.com/bingbot.htm) Chrome/131.0.6778.69 Safari/537.36",
      "Other", 0, "Other", "desktop", 1 },
    { "Lighthouse mobile (PageSpeed Insights)",
      "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
      "Other", 0, "Android", "mobile", 1 },
    { "Lighthouse desktop (PageSpeed Insights)",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36 Chrome-Lighthouse",
      "Other", 0, "macOS", "desktop", 1 },
    { "Google Page Speed Insights (old)",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google Page "
      "Speed Insights) Chrome/27.0.1453 Safari/537.36",
      "Other", 0, "Linux", "desktop", 1 },
    { "GPTBot",
      "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
      "+https://openai.com/gptbot)",
      "Other", 0, "Other", "desktop", 1 },
    { "ClaudeBot",
      "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
      "+claudebot@anthropic.com)",
      "Other", 0, "Other", "desktop", 1 },
    { "Applebot (Safari-like UA)",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
      "Other", 0, "macOS", "desktop", 1 },
    { "YandexBot",
      "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
      "Other", 0, "Other", "desktop", 1 },
    { "Baiduspider",
      "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
      "Other", 0, "Other", "desktop", 1 },
    { "DuckDuckBot",
      "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
      "Other", 0, "Other", "desktop", 1 },
    { "Yahoo! Slurp",
      "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
      "Other", 0, "Other", "desktop", 1 },
    { "facebookexternalhit",
      "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
      "Other", 0, "Other", "desktop", 1 },
    { "Twitterbot",
      "Twitterbot/1.0",
      "Other", 0, "Other", "desktop", 1 },
    { "LinkedInBot",
      "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
      "Other", 0, "Other", "desktop", 1 },
    { "AhrefsBot",
      "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
      "Other", 0, "Other", "desktop", 1 },
    { "SemrushBot",
      "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
      "Other", 0, "Other", "desktop", 1 },
    { "MJ12bot",
      "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
      "Other", 0, "Other", "desktop", 1 },
    { "PetalBot (mobile)",
      "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile "
      "Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
      "Other", 0, "Android", "mobile", 1 },
    { "CCBot",
      "CCBot/2.0 (https://commoncrawl.org/faq/)",
      "Other", 0, "Other", "desktop", 1 },
    { "Bytespider (mobile)",
      "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile "
      "Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
      "Other", 0, "Android", "mobile", 1 },
    { "Pingdom",
      "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
      "Other", 0, "Other", "desktop", 1 },
    { "UptimeRobot",
      "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
      "Other", 0, "Other", "desktop", 1 },
    { "Datadog Synthetics API test",
      "Datadog/Synthetics",
      "Other", 0, "Other", "desktop", 1 },
    { "curl",
      "curl/8.5.0",
      "Other", 0, "Other", "desktop", 1 },
    { "Wget",
      "Wget/1.21.4",
      "Other", 0, "Other", "desktop", 1 },
    { "python-requests",
      "python-requests/2.32.3",
      "Other", 0, "Other", "desktop", 1 },
    { "Go net/http client",
      "Go-http-client/1.1",
      "Other", 0, "Other", "desktop", 1 },
    { "OkHttp",
      "okhttp/4.12.0",
      "Other", 0, "Other", "desktop", 1 },
    { "Java HttpURLConnection",
      "Java/17.0.2",
      "Other", 0, "Other", "desktop", 1 },
    { "SeznamBot (generic \"bot\" word)",
      "Mozilla/5.0 (compatible; SeznamBot/4.0; +http://napoveda.seznam.cz/seznambot-intro/)",
      "Other", 0, "Other", "desktop", 1 },
    { "Amazonbot (generic \"bot\" word)",
      "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Amazonbot/0.1; "
      "+https://developer.amazon.com/support/amazonbot) Chrome/119.0.6045.214 Safari/537.36",
      "Other", 0, "Other", "desktop", 1 },
    { "Screaming Frog (generic \"spider\")",
      "Screaming Frog SEO Spider/20.4",
      "Other", 0, "Other", "desktop", 1 },
};

static int same(const struct uaclass *got, const struct ua_case *want)
{
    return strcmp(got->browser, want->browser) == 0 && got->browser_major == want->major
           && strcmp(got->os, want->os) == 0 && strcmp(got->device, want->device) == 0
           && got->bot == want->bot;
}

/* One CHECK per row; a failing row also prints what came out against what was wanted. */
static void check_case(const struct ua_case *c)
{
    struct uaclass got;

    uaclass_classify(c->ua, &got);
    CHECK(same(&got, c), "%s", c->name);
    if (!same(&got, c))
        printf("# got %s %d %s %s bot=%d, want %s %d %s %s bot=%d\n", got.browser,
               got.browser_major, got.os, got.device, got.bot, c->browser, c->major, c->os,
               c->device, c->bot);
}

int main(void)
{
    size_t n = sizeof cases / sizeof cases[0];
    struct uaclass u;

    for (size_t i = 0; i < n; i++)
        check_case(&cases[i]);
    CHECK(n >= 40, "table has %zu real User-Agent strings", n);

    /* The contract's edges: no input, and the bound on how much is read. */
    memset(&u, 'x', sizeof u);
    uaclass_classify(NULL, &u);
    CHECK(strcmp(u.browser, "Other") == 0 && u.browser_major == 0 && strcmp(u.os, "Other") == 0
          && strcmp(u.device, "desktop") == 0 && u.bot == 0, "NULL: Other, Other, desktop, not a bot");
    memset(&u, 'x', sizeof u);
    uaclass_classify("", &u);
    CHECK(strcmp(u.browser, "Other") == 0 && u.browser_major == 0 && strcmp(u.os, "Other") == 0
          && strcmp(u.device, "desktop") == 0 && u.bot == 0, "empty: Other, Other, desktop, not a bot");

    char big[UACLASS_SCAN_MAX + 64];
    const char *head = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                       "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const char *tail = " Googlebot/2.1";
    size_t hl = strlen(head), tl = strlen(tail);

    memcpy(big, head, hl);
    memset(big + hl, ' ', UACLASS_SCAN_MAX - hl);
    memcpy(big + UACLASS_SCAN_MAX, tail, tl + 1);
    uaclass_classify(big, &u);
    CHECK(u.bot == 0 && strcmp(u.browser, "Chrome") == 0 && u.browser_major == 131,
          "bound: a token after the first %d bytes is not seen", UACLASS_SCAN_MAX);
    memcpy(big + UACLASS_SCAN_MAX - tl, tail, tl + 1);
    uaclass_classify(big, &u);
    CHECK(u.bot == 1, "bound: a token ending at byte %d is seen", UACLASS_SCAN_MAX);

    uaclass_classify("Mozilla/5.0 (X11; Linux x86_64; rv:1.0) Gecko/20100101 Firefox/", &u);
    CHECK(strcmp(u.browser, "Firefox") == 0 && u.browser_major == 0,
          "major: a token without digits gives 0");
    uaclass_classify("Mozilla/5.0 (X11; Linux x86_64) Chrome/99999999999999999999.0 Safari/537.36",
                     &u);
    CHECK(strcmp(u.browser, "Chrome") == 0 && u.browser_major == 0,
          "major: an absurdly long number gives 0, not an overflow");
    return check_done();
}
