// The browser beacon (web/dist/vigil.js and vigil.mjs) in headless Chromium against real
// collectors on loopback: one serves the test pages and vigil.js (--static), one on
// another origin allows the pages' origin and stores their beacons, one refuses it.
// What arrives is read back from the collectors' SQLite databases.
//
// Run: node tests/browser/test_beacon.mjs (cwd = repo root; VIGIL_BIN = the binaries).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
    ROOT, buildWeb, check, freePort, launchChromium, note,
    prerequisites, q, sleep,
    runTest, sql, startCollector, tempDir, waitFor,
} from './lib.mjs';

const WEB = join(ROOT, 'web');

// Lines of app.js that the error checks expect as the error's line.
const APP_JS = `// The test shop's own script.
function buy() {
    const t = performance.now();
    while (performance.now() - t < 80);
    document.getElementById('status').textContent = 'bought';
}
function explode() { throw new TypeError('boom'); }
function rejectLater() { Promise.reject(new Error('async boom')); }
function throwBig() { throw new Error('big \\u00e9\\u20ac\\ud83d\\ude00\\u0000 ' + 'x\\u20ac'.repeat(1500)); }
function many(i) { throw new Error('many ' + i); }
// A late banner pushes the content down: one layout shift, with no input before it.
setTimeout(() => { document.getElementById('slot').style.height = '120px'; }, 300);
`;
const EXPLODE_LINE = 7;

// Chromium leaves images of little content per pixel (under 0.05 bits) out of LCP, so
// the hero gets a few hundred stripes: about 12 KB for 640x320 pixels.
const HERO_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="320">'
    + Array.from({ length: 320 }, (_, i) =>
        `<rect x="${(i * 37) % 640}" y="${i}" width="${40 + (i * 13) % 200}" height="1" fill="#${((0x3a7 + i * 0x91) % 0xfff).toString(16).padStart(3, '0')}"/>`)
        .join('') + '</svg>';

const SHOP_BODY = `<h1>Shop</h1>
<div id="slot"></div>
<img id="hero" src="hero.svg" width="640" height="320" alt="">
<p>Everything must go. Prices as marked; while stocks last.</p>
<button id="buy" onclick="buy()">Buy</button> <span id="status"></span>
<script src="app.js"></script>`;

function tag(data) {
    const attrs = Object.entries(data)
        .map(([k, v]) => (v === true ? `data-${k}` : `data-${k}="${v}"`)).join(' ');
    return `<script src="/vigil.js" async ${attrs}></script>`;
}

function html(head, body = SHOP_BODY) {
    return `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<link rel="icon" href="data:,">${head}</head><body>${body}</body></html>`;
}

// Loads path in page and waits until the beacon has started (window.Vigil, or the flag an
// ES module page sets), plus a moment for the first paint and the layout shift.
async function visit(page, url, ready = () => window.Vigil) {
    await page.goto(url);
    await page.waitForFunction(ready, null, { timeout: 5000 });
    await sleep(600);
}

// A real interaction for INP. Headless Chromium runs no idle callback after a long task
// until the next input arrives, and web-vitals processes interactions when idle (or when
// the page is hidden, too late for the final report), so the mouse moves afterwards.
async function interact(page) {
    await page.click('#buy');
    await page.mouse.move(5, 5);
    await sleep(300);
}

function rows(db, query) {
    try {
        return sql(db, query);
    } catch (e) {
        note(`sqlite3: ${e.message}`);
        return [];
    }
}

// Watches a page for uncaught errors and console errors (network failures apart, which
// the browser logs for a beacon to a collector that is down; they are not the page's).
function watch(page) {
    const seen = { pageErrors: [], consoleErrors: [], network: [] };
    page.on('pageerror', (e) => seen.pageErrors.push(e.message));
    page.on('console', (m) => {
        if (m.type() != 'error')
            return;
        (/Failed to load resource|net::ERR_/.test(m.text()) ? seen.network : seen.consoleErrors)
            .push(m.text());
    });
    return seen;
}

async function main() {
    if (!prerequisites(WEB, 'web-vitals', 'run scripts/setup (npm ci in web/)'))
        return;

    // The build under test: always the current source.
    const out = buildWeb(WEB);
    const gz = +(/vigil\.js\s+\d+ bytes, (\d+) bytes gzipped/.exec(out) || [])[1];
    check(`npm run build: vigil.js ${gz} bytes gzipped, within 4000`, gz > 0 && gz <= 4000, out);
    const js = readFileSync(join(WEB, 'dist', 'vigil.js'), 'utf8');
    check('vigil.js listens for no unload event', !/["'`](?:before)?unload["'`]/.test(js));

    const dir = tempDir('vigil-browser-');
    const pages = join(dir, 'pages');
    mkdirSync(pages);

    // A serves the pages and vigil.js and takes beacons from its own origin only (the
    // default endpoint); B, on another origin (localhost), allows A's origin; C allows
    // another origin only; nothing listens on DOWN.
    const aPort = await freePort();
    const A = await startCollector(dir, 'pages', {
        port: aPort, allow: [`http://127.0.0.1:${aPort}`], statics: [pages, join(WEB, 'dist')],
    });
    const B = await startCollector(dir, 'rum', { allow: [A.url] });
    const C = await startCollector(dir, 'strict', { allow: ['https://shop.example.com'] });
    const DOWN = await freePort();
    const toB = `http://localhost:${B.port}/v1/rum`;
    const toC = `http://localhost:${C.port}/v1/rum`;

    const write = (name, text) => writeFileSync(join(pages, name), text);
    write('app.js', APP_JS);
    write('hero.svg', HERO_SVG);
    write('blank.html', html('', '<p>Elsewhere.</p>'));
    write('baseline.html', html(tag({ app: 'shop', version: '1.2.3', endpoint: toB })));
    write('canary.html', html(tag({ app: 'shop', version: '1.3.0', endpoint: toB })));
    write('hidden.html', html(tag({ app: 'shop-hidden', version: '1.2.3', endpoint: toB })));
    write('attribution.html', html(tag({ app: 'shop-attr', version: '1.2.3', endpoint: toB,
                                         attribution: true })));
    write('errors.html', html(tag({ app: 'shop-err', version: '1.2.3', endpoint: toB })));
    write('sample0.html', html(tag({ app: 'shop-s0', version: '1.2.3', endpoint: toB, sample: 0 })));
    write('sample.html', html(tag({ app: 'shop-sample', version: '1.2.3', endpoint: toB,
                                    sample: 0.5 })));
    write('drop.html', html('<script>window.VigilConfig = { beforeSend: () => null };</script>'
        + tag({ app: 'shop-drop', version: '1.2.3', endpoint: toB })));
    write('hookthrows.html', html('<script>window.VigilConfig = { beforeSend() { throw new Error("hook"); } };</script>'
        + tag({ app: 'shop-hook', version: '1.2.3', endpoint: toB })));
    write('disabled.html', html(tag({ app: 'shop-off', version: '1.2.3', endpoint: toB, disabled: true })));
    write('consent.html', html(tag({ app: 'shop-consent', version: '1.2.3', endpoint: toB,
                                     disabled: true })));
    write('disable.html', html(tag({ app: 'shop-disable', version: '1.2.3', endpoint: toB })));
    write('bf.html', html('<script>addEventListener("pageshow", (e) => { if (e.persisted) '
        + 'window.restored = (window.restored || 0) + 1; });</script>'
        + tag({ app: 'shop-bf', version: '1.2.3', endpoint: toB })));
    write('strict.html', html(tag({ app: 'shop-strict', version: '1.2.3', endpoint: toC })));
    write('same.html', html(tag({ app: 'shop-same', version: '1.2.3' })));
    write('down.html', html(tag({ app: 'shop-down', version: '1.2.3',
                                  endpoint: `http://127.0.0.1:${DOWN}/v1/rum` })));
    write('esm.html', html(`<script type="module">
import { init, setPage } from '/vigil.mjs';
setPage('/product/:id');
init({ app: 'shop-esm', version: '2.0.0', endpoint: '${toB}', attribution: true,
       beforeSend(b) {
           b.events = b.events.filter((e) => !(e.type == 'error' && /secret/.test(e.message)));
           b.attrs = { tier: 'gold' };
           return b;
       } });
window.esmReady = true;
</script>`));
    // beforeSend adds events: 250 small metrics (over 200 events per beacon), or 30
    // errors of about 2 KB (over 60000 bytes per request).
    write('split.html', html(`<script>window.VigilConfig = { beforeSend(b) {
    if (window.mode == 'count')
        for (let i = 0; i < 250; i++)
            b.events.push({ type: 'metric', name: 'custom.n', value: i, id: 'count-' + i });
    if (window.mode == 'bytes')
        for (let i = 0; i < 30; i++)
            b.events.push({ type: 'error', kind: 'error', message: 'bulk ' + i + ' ' + 'x'.repeat(1000),
                            stack: 'y'.repeat(1000) });
    window.mode = '';
    return b;
} };</script>` + tag({ app: 'shop-split', version: '1.2.3', endpoint: toB })));

    const context = await launchChromium();
    const page = await context.newPage();
    const main = watch(page);

    // Core Web Vitals of two versions of the page, reported when the page is left.
    for (const name of ['baseline', 'canary']) {
        await visit(page, `${A.url}/${name}.html?utm_source=mail#top`);
        await interact(page);
    }
    const sid = await page.evaluate(() => sessionStorage.getItem('vigil.sid'));
    await page.goto(`${A.url}/blank.html`);
    const vitals = await waitFor(() => {
        const r = rows(B.db, "select version, name from metrics where app = 'shop'");
        return r.length >= 10 && r;
    });
    for (const version of ['1.2.3', '1.3.0']) {
        const file = version == '1.2.3' ? 'baseline' : 'canary';
        const pvs = rows(B.db, `select * from pageviews where app = 'shop' and version = ${q(version)}`);
        const pv = pvs[0] || {};
        check(`${file} ${version}: one page view stored under its version`, pvs.length == 1, pvs);
        check(`${file}: page is the path without query string`, pv.page == `/${file}.html`, pv.page);
        check(`${file}: nav is navigate, session and pv set`,
              pv.nav == 'navigate' && pv.session == sid && /^.{8,64}$/.test(pv.pv || ''), pv);
        check(`${file}: ctx (device desktop, viewport 1280x720, dpr 1, conn) and client ts`,
              pv.device_hint == 'desktop' && pv.viewport == '1280x720' && pv.dpr == 1
              && typeof pv.conn == 'string' && Math.abs(pv.client_ts - pv.received) < 60000, pv);
        check(`${file}: HeadlessChrome, as the collector classifies it`, pv.browser == 'HeadlessChrome', pv.browser);
        const m = {};
        for (const r of rows(B.db, `select * from metrics where pageview = ${+pv.id}`))
            m[r.name] = r;
        const v = (n) => (m[n] ? m[n].value : NaN);
        check(`${file}: LCP, FCP, TTFB, CLS and INP stored with their version`,
              ['LCP', 'FCP', 'TTFB', 'CLS', 'INP'].every((n) => m[n] && m[n].version == version),
              { metrics: m, all: vitals });
        check(`${file}: LCP plausible (${v('LCP')} ms)`, v('LCP') > 0 && v('LCP') < 10000);
        check(`${file}: FCP plausible (${v('FCP')} ms, not after LCP)`, v('FCP') > 0 && v('FCP') <= v('LCP'));
        check(`${file}: TTFB plausible (${v('TTFB')} ms, not after FCP)`, v('TTFB') >= 0 && v('TTFB') <= v('FCP'));
        check(`${file}: CLS plausible (${v('CLS')})`, v('CLS') > 0 && v('CLS') < 1);
        check(`${file}: INP plausible (${v('INP')} ms, the click handler takes 80)`,
              v('INP') >= 80 && v('INP') < 5000);
        check(`${file}: ratings and web-vitals metric ids`,
              Object.values(m).every((r) => /^(good|needs-improvement|poor)$/.test(r.rating)
                                            && /^v5-\d+-\d+$/.test(r.mid)), m);
    }
    const shopPvs = rows(B.db, "select pv from pageviews where app = 'shop'");
    check('two page views of one session have their own pv', shopPvs.length == 2
          && shopPvs[0].pv != shopPvs[1].pv, shopPvs);

    // Hidden without being left (another tab in front): visibilitychange alone sends.
    await visit(page, `${A.url}/hidden.html`);
    await page.evaluate(() => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
        document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
    });
    const hidden = await waitFor(() => rows(B.db, "select 1 from pageviews where app = 'shop-hidden'").length);
    check('a page that becomes hidden sends its beacon while still open', !!hidden);
    await page.goto(`${A.url}/blank.html`);

    // Attribution: web-vitals' attribution build, loaded on demand.
    await visit(page, `${A.url}/attribution.html`);
    await interact(page);
    await page.goto(`${A.url}/blank.html`);
    const attr = await waitFor(() => {
        const r = rows(B.db, "select name, attribution from metrics where app = 'shop-attr'");
        return r.length >= 5 && r;
    });
    const at = {};
    for (const r of attr || [])
        at[r.name] = r.attribution;
    const parsed = (n) => {
        try {
            return JSON.parse(at[n]) || {};
        } catch (e) {
            return {};
        }
    };
    check('data-attribution: LCP element', /hero/.test(parsed('LCP').target), at.LCP);
    check('data-attribution: INP target and phases', /buy/.test(parsed('INP').interactionTarget)
          && parsed('INP').processingDuration >= 70 && parsed('INP').inputDelay >= 0
          && parsed('INP').presentationDelay >= 0, at.INP);
    check('data-attribution: CLS largest shift', parsed('CLS').largestShiftValue > 0
          && typeof parsed('CLS').largestShiftTarget == 'string', at.CLS);
    check('data-attribution: every attribution under 4 KiB',
          Object.values(at).every((s) => s && Buffer.byteLength(s) < 4096), at);

    // JavaScript errors: thrown, rejected, duplicated, oversized, and more than the cap.
    await visit(page, `${A.url}/errors.html`);
    await page.evaluate(() => {
        setTimeout(explode);
        setTimeout(explode);
        setTimeout(rejectLater);
        setTimeout(() => Promise.reject('plain string'));
        setTimeout(throwBig);
    });
    // The browser reports unhandled rejections a little later; then more than the cap.
    await sleep(200);
    await page.evaluate(() => {
        for (let i = 0; i < 12; i++)
            setTimeout(() => many(i));
    });
    await sleep(200);
    await page.goto(`${A.url}/blank.html`);
    const errs = await waitFor(() => {
        const r = rows(B.db, "select * from errors where app = 'shop-err' order by id");
        return r.length >= 10 && r;
    }) || [];
    const byMsg = (re) => errs.filter((e) => re.test(e.message));
    const boom = byMsg(/TypeError: boom/);
    check('thrown error: message, source, line, column, stack, kind', boom.length >= 1
          && boom[0].source == `${A.url}/app.js` && boom[0].line == EXPLODE_LINE && boom[0].col > 0
          && /explode/.test(boom[0].stack) && boom[0].kind == 'error', boom);
    check('the same error twice is stored once', boom.length == 1, boom.length);
    const rej = byMsg(/^Error: async boom$/)[0] || {};
    check('unhandled rejection: message and source', rej.kind == 'unhandledrejection'
          && rej.source == `${A.url}/app.js` && rej.line > 0, rej);
    const plain = byMsg(/^plain string$/)[0] || {};
    check('rejection with a string: its text, no source', plain.kind == 'unhandledrejection'
          && plain.source == null, plain);
    const big = byMsg(/^Uncaught Error: big /)[0];
    check('an oversized message with NUL and non-ASCII characters is cut to 1024 bytes',
          big && Buffer.byteLength(big.message) <= 1024 && Buffer.byteLength(big.message) > 1000
          && !big.message.includes('\0') && big.message.includes('\u20ac\ud83d\ude00'), big && big.message);
    check('errors are capped at 10 per page view', errs.length == 10, errs.map((e) => e.message.slice(0, 30)));

    // An ES module page: setPage names the route, beforeSend scrubs and adds attrs.
    await visit(page, `${A.url}/esm.html?id=42`, () => window.esmReady);
    await page.evaluate(() => {
        setTimeout(() => { throw new Error('secret token 123'); });
        setTimeout(() => { throw new Error('visible error'); });
    });
    await sleep(200);
    await page.goto(`${A.url}/blank.html`);
    const esm = await waitFor(() => rows(B.db, "select * from pageviews where app = 'shop-esm'")[0]);
    await sleep(300);
    const esmErrs = rows(B.db, "select message from errors where app = 'shop-esm'").map((r) => r.message);
    check('vigil.mjs: init() from an ES module sends the page view', esm && esm.version == '2.0.0', esm);
    check('setPage names the route', esm && esm.page == '/product/:id', esm && esm.page);
    const esmFcp = rows(B.db, "select attribution from metrics where app = 'shop-esm' and name = 'FCP'")[0];
    check('vigil.mjs with attribution: true loads vigil-attribution.mjs from beside it',
          esmFcp && /timeToFirstByte/.test(esmFcp.attribution), esmFcp);
    check('beforeSend scrubs an error and adds attrs', esmErrs.some((m) => /visible error/.test(m))
          && !esmErrs.some((m) => /secret/.test(m)) && esm && esm.attrs == '{"tier":"gold"}',
          { esmErrs, attrs: esm && esm.attrs });

    // Splitting: over 200 events, then over 60000 bytes, in one flush.
    await visit(page, `${A.url}/split.html`);
    let before = await B.metric('vigil_beacon_requests_accepted_total');
    await page.evaluate(() => { window.mode = 'count'; Vigil.flush(); });
    const counted = await waitFor(() => rows(B.db,
        "select count(*) as n from metrics where app = 'shop-split' and name = 'custom.n'")[0].n == 250);
    let requests = (await B.metric('vigil_beacon_requests_accepted_total')) - before;
    check(`250 events in one flush are split into beacons of at most 200 (${requests} requests)`,
          counted && requests >= 2);
    await page.evaluate(() => { setTimeout(() => { throw new Error('trigger'); }); });
    await sleep(100);
    before = await B.metric('vigil_beacon_requests_accepted_total');
    await page.evaluate(() => { window.mode = 'bytes'; Vigil.flush(); });
    const bulk = await waitFor(() => rows(B.db,
        "select count(*) as n from errors where app = 'shop-split' and message like 'bulk %'")[0].n == 30);
    requests = (await B.metric('vigil_beacon_requests_accepted_total')) - before;
    check(`62 KB in one flush are split into requests under 60000 bytes (${requests} requests)`,
          bulk && requests >= 2);
    await page.goto(`${A.url}/blank.html`);

    // Back-forward cache: a restore is a new page view, not a duplicate.
    await visit(page, `${A.url}/bf.html`);
    await page.goto(`${A.url}/blank.html`);
    await page.goBack({ waitUntil: 'commit' });
    const restored = await waitFor(() => page.evaluate(() => window.restored == 1).catch(() => false), 5000);
    if (!check('page restored from the back-forward cache', restored)) {
        const reasons = await page.evaluate(() => JSON.stringify(
            performance.getEntriesByType('navigation')[0].notRestoredReasons)).catch((e) => e.message);
        note(`not restored: ${reasons}`);
    }
    await sleep(500);
    await page.goto(`${A.url}/blank.html`);
    const bf = await waitFor(() => {
        const r = rows(B.db, "select id, pv, nav from pageviews where app = 'shop-bf' order by id");
        return r.length >= 2 && rows(B.db, `select count(*) as n from metrics where pageview = ${+r[1].id}`)[0].n >= 3 && r;
    }) || rows(B.db, "select id, pv, nav from pageviews where app = 'shop-bf' order by id");
    check('bfcache restore: nav back-forward-cache with a new pv', bf.length == 2
          && bf[0].nav == 'navigate' && bf[1].nav == 'back-forward-cache' && bf[0].pv != bf[1].pv, bf);
    const bfMetrics = rows(B.db, "select pageview, name, mid from metrics where app = 'shop-bf'");
    const second = bf[1] ? bfMetrics.filter((r) => r.pageview == bf[1].id) : [];
    check('bfcache restore: its own metrics (TTFB, FCP, LCP), new ids',
          ['TTFB', 'FCP', 'LCP'].every((n) => second.some((r) => r.name == n))
          && new Set(bfMetrics.map((r) => r.mid)).size == bfMetrics.length, bfMetrics);

    // Reload, and the default endpoint: the collector that served vigil.js.
    await visit(page, `${A.url}/same.html`);
    await page.reload();
    await page.waitForFunction(() => window.Vigil);
    await sleep(300);
    await page.goto(`${A.url}/blank.html`);
    const same = await waitFor(() => {
        const r = rows(A.db, "select nav from pageviews where app = 'shop-same' order by id");
        return r.length >= 2 && r;
    });
    check('without data-endpoint the beacon goes to the collector that served vigil.js', !!same);
    check('a reload is reported as nav reload', same && same[1].nav == 'reload', same);

    // Pages that must send nothing; the consent page, sent last, shows the others had time.
    await visit(page, `${A.url}/sample0.html`);
    await visit(page, `${A.url}/drop.html`);
    await visit(page, `${A.url}/hookthrows.html`);
    await visit(page, `${A.url}/disabled.html`);
    await visit(page, `${A.url}/disable.html`);
    await page.evaluate(() => Vigil.disable());
    await visit(page, `${A.url}/consent.html`);
    await page.evaluate(() => Vigil.init());
    await sleep(600);
    await page.goto(`${A.url}/blank.html`);
    const consent = await waitFor(() => rows(B.db, "select 1 from pageviews where app = 'shop-consent'").length);
    check('data-disabled, then Vigil.init() after consent: sends', !!consent);
    const none = (app) => rows(B.db, `select count(*) as n from pageviews where app = ${q(app)}`)[0].n == 0;
    check('data-sample="0" sends nothing', none('shop-s0'));
    check('beforeSend returning null sends nothing', none('shop-drop'));
    check('a beforeSend that throws sends nothing', none('shop-hook'));
    check('data-disabled sends nothing', none('shop-off'));
    check('Vigil.disable() sends nothing', none('shop-disable'));

    // Sampling is decided once per session, by the number that starts the stored session id.
    for (const sidValue of ['0.25-test-in', '0.75-test-out']) {
        const tab = await context.newPage();
        await tab.goto(`${A.url}/blank.html`);
        await tab.evaluate((v) => sessionStorage.setItem('vigil.sid', v), sidValue);
        await visit(tab, `${A.url}/sample.html`);
        await visit(tab, `${A.url}/sample.html?again`);
        await tab.goto(`${A.url}/blank.html`);
        await tab.close();
    }
    const sampled = await waitFor(() => {
        const r = rows(B.db, "select session from pageviews where app = 'shop-sample'");
        return r.length >= 2 && r;
    }, 3000) || [];
    await sleep(300);
    const sessions = rows(B.db, "select session from pageviews where app = 'shop-sample'").map((r) => r.session);
    check('data-sample="0.5": a session drawn in sends all its page views, one drawn out none',
          sampled.length == 2 && sessions.length == 2 && sessions.every((s) => s == '0.25-test-in'),
          sessions);

    // Cross origin: a collector that does not allow the page's origin stores nothing.
    const refusedBefore = await C.metric('vigil_beacon_requests_rejected_total{reason="origin"}');
    await visit(page, `${A.url}/strict.html`);
    await page.goto(`${A.url}/blank.html`);
    const refused = await waitFor(async () =>
        (await C.metric('vigil_beacon_requests_rejected_total{reason="origin"}')) > refusedBefore);
    check('a collector that does not allow the origin refuses the beacon (403)', refused);
    check('... and stores nothing', rows(C.db, 'select count(*) as n from pageviews')[0].n == 0);
    check('a collector on another origin that allows it stores the beacons (all of the above)',
          rows(B.db, 'select count(*) as n from pageviews')[0].n > 0);

    // The collector is down: the page goes on, with no error of ours.
    const tab = await context.newPage();
    const downSeen = watch(tab);
    await visit(tab, `${A.url}/down.html`);
    await tab.evaluate(() => Vigil.flush());
    await interact(tab);
    await tab.evaluate(() => Vigil.flush());
    const status = await tab.textContent('#status');
    await tab.goto(`${A.url}/blank.html`);
    await sleep(300);
    check('collector down: the page keeps working', status == 'bought', status);
    check('collector down: no uncaught error and no console error',
          downSeen.pageErrors.length == 0 && downSeen.consoleErrors.length == 0, downSeen);
    if (downSeen.network.length)
        note(`network errors the browser logged (not the page's): ${downSeen.network.length}`);
    await tab.close();

    // Every page but the error page ran without an uncaught error.
    const unexpected = main.pageErrors.filter((m) => !/boom|big|many|plain string|secret|visible error|trigger/.test(m));
    check('no uncaught error from vigil in any page', unexpected.length == 0
          && main.consoleErrors.every((m) => /boom|big|many|plain string|secret|visible error|trigger/.test(m)),
          { unexpected, console: main.consoleErrors });

    // Everything vigil.js sent passed the collector's schema.
    let rejected = 0;
    for (const reason of ['malformed', 'schema', 'too_large', 'media_type'])
        rejected += await B.metric(`vigil_beacon_requests_rejected_total{reason="${reason}"}`);
    check('the collector rejected none of the beacons (malformed, schema, too large, media type)',
          rejected == 0, B.stderr());
}

await runTest('browser tests', main, 150000);
