/*
 * uaclass: a small User-Agent classifier that the RUM collector uses to enrich beacons
 * with a browser, its major version, an operating system, a device class and a bot flag.
 *
 * It is a list of ordered substring checks, not a parser: the first rule that matches
 * wins, so the order below is part of the contract. collector/README.md quotes this
 * block; keep the two in step.
 *
 * Only the first UACLASS_SCAN_MAX bytes of the User-Agent are looked at, so the work
 * per beacon is bounded whatever a client sends. A token past that point, or cut by it,
 * is not seen.
 *
 * Bots (bot = 1). Checked first, case-insensitively, anywhere in the string:
 *   search and AI crawlers   Googlebot, Mediapartners-Google, Google-InspectionTool,
 *                            GoogleOther, bingbot, Slurp, DuckDuckBot, Baiduspider,
 *                            YandexBot, facebookexternalhit, Twitterbot, LinkedInBot,
 *                            Applebot, AhrefsBot, SemrushBot, MJ12bot, PetalBot,
 *                            GPTBot, ClaudeBot, CCBot, Bytespider
 *   performance and uptime   Chrome-Lighthouse, PageSpeed, Google Page Speed Insights,
 *                            GTmetrix, Pingdom, UptimeRobot, StatusCake,
 *                            Datadog/Synthetics (API tests), DatadogSynthetics
 *                            (browser tests)
 *   HTTP libraries and tools curl/, Wget/, python-requests, Go-http-client, okhttp,
 *                            Java/
 *   generic words            "crawler", "spider", and "bot" as the end of a word (the
 *                            next character is not a letter or digit), except "cubot",
 *                            a phone brand that Android browsers name in the UA.
 * A bot gets browser "Other" and major 0, because the browser it imitates is not a
 * visitor's browser; os and device still say what the UA claims (Googlebot smartphone
 * is Android and mobile), so crawls can be told apart.
 *
 * HeadlessChrome is not a bot. Synthetic tests, Vigil's own browser tests among them,
 * drive headless Chromium against real pages, and their beacons are wanted: they are
 * the baseline that real-user numbers are compared with. They get browser
 * "HeadlessChrome" with its major version, so a dashboard can filter them out or look
 * at them alone. Scrapers built on headless Chrome land there too, which is the price.
 *
 * Browser, case-sensitive (vendors publish exact spellings), first match wins; the
 * major version is the integer right after the matched token's '/' (0 if none):
 *   1. Edge              Edg/, EdgA/ (Android), EdgiOS/ (iOS)
 *   2. Opera             OPR/
 *   3. Samsung Internet  SamsungBrowser/
 *   4. HeadlessChrome    HeadlessChrome/
 *   5. Chrome            Chrome/, CriOS/ (iOS)
 *   6. Firefox           Firefox/, FxiOS/ (iOS)
 *   7. Safari            Version/ and Safari/, with neither Chrome nor Android in the
 *                        UA; the major is the number after Version/
 *   8. Other             anything else (in-app browsers without Version/, old IE, ...)
 * Edge, Opera and Samsung Internet carry a Chrome/ token too, and HeadlessChrome/
 * contains "Chrome/", so they must come before Chrome. Chromium browsers that do not
 * mark their UA (Brave, Vivaldi, Android WebView) count as Chrome.
 *
 * OS, case-sensitive, first match wins:
 *   1. Windows    Windows NT
 *   2. iPadOS     iPad
 *   3. iOS        iPhone or iPod
 *   4. macOS      Macintosh or Mac OS X (iOS UAs say "like Mac OS X", hence after them)
 *   5. Android    Android
 *   6. ChromeOS   CrOS
 *   7. Linux      Linux
 *   8. Other
 * Limitation: Safari on iPadOS 13 and later asks for desktop sites by default and sends
 * exactly the macOS Safari UA ("Macintosh; Intel Mac OS X 10_15_7"), so those iPads are
 * classified as macOS desktop. The UA cannot tell them apart; only a signal from the page
 * (navigator.maxTouchPoints > 1) could.
 *
 * Device, case-sensitive, first match wins:
 *   1. tablet    iPad
 *   2. mobile    iPhone or iPod
 *   3. tablet    Kindle or Silk (Amazon Fire tablets), or "Tablet" (Firefox for Android
 *                on a tablet says "Android 14; Tablet")
 *   4. Android:  mobile when the UA says "Mobile", else tablet (Chrome's convention:
 *                Android phones send "Mobile", tablets do not)
 *   5. mobile    Mobi (Mozilla's advice for any other mobile browser)
 *   6. desktop   everything else
 *
 * NULL or empty: browser "Other", major 0, os "Other", device "desktop", not a bot.
 */
#ifndef VIGIL_UACLASS_H
#define VIGIL_UACLASS_H

/* The browser of synthetic tests in headless Chromium: kept, but left out of the traffic
 * split (shared/srm.h), which is about users. */
#define UACLASS_HEADLESS "HeadlessChrome"

/* Bytes of the User-Agent that are looked at; the rest is ignored. */
#define UACLASS_SCAN_MAX 1024

struct uaclass {
    char browser[24];   /* "Chrome", "Edge", "Firefox", "Safari", "Samsung Internet", "Opera", "HeadlessChrome", "Other" */
    int browser_major;  /* 0 when unknown */
    char os[16];        /* "Windows", "macOS", "iOS", "iPadOS", "Android", "Linux", "ChromeOS", "Other" */
    char device[8];     /* "desktop", "mobile", "tablet" */
    int bot;            /* 1 for known bots/crawlers/monitoring agents */
};

/* Classifies a User-Agent string by the rules above and fills every field of *out, which
 * the caller owns (ua is only read). NULL or empty: all "Other", desktop, not a bot.
 * Never fails. */
void uaclass_classify(const char *ua, struct uaclass *out);

#endif
