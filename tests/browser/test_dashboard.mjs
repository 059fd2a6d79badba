// The dashboard (web/dist/index.html, served by the collector at /) in headless Chromium
// against a real collector: beacons of two versions (the canary slower, on Safari above
// all, and with a JS error the baseline never had), two deployment markers, and probe
// results from two regions (one failing), all put in through the collector's own API.
// The page must draw both versions, the marker and the verdict, show the probe grid and
// what is different, follow new beacons live over the WebSocket without a reload, come
// back by itself after a collector restart, and log no error; a screenshot is saved.
//
// Run: node tests/browser/test_dashboard.mjs (cwd = repo root; VIGIL_BIN = the binaries;
// VIGIL_TEST_OUT = where the screenshot goes, else a new folder under /tmp;
// VIGIL_DASHBOARD_HOLD = seconds to keep the prepared collector up before the browser runs).
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
    ROOT, buildWeb, check, freePort, launchChromium, note,
    outputDir, prerequisites,
    runTest, sleep, startCollector, tempDir, waitFor,
} from './lib.mjs';

const WEB = join(ROOT, 'web');
const APP = 'shop';
const BASE = '1.4.0';
const CANARY = '1.5.0';
const NEXT = '1.6.0';
const APP2 = 'cart';
const TOKEN = 'dashboard-test-token-0123456789';

const UA = {
    chrome: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
    safari: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    android: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
};
const COUNTRIES = ['DE', 'US', 'FR'];

// A small seeded generator, so that every run sends the same values.
let seed = 12345;
function rand() {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
}
// Log-normal around median m (sigma 0.4).
function lognormal(m) {
    const u = Math.max(1e-9, rand()), v = rand();
    return m * Math.exp(0.4 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
}

let pvCounter = 0;
/* One page view's beacon. slow: LCP multiplier; error: a message or null. */
function beacon(version, browser, slow, error, app = APP) {
    const pv = `pv-${version}-${++pvCounter}-${Math.floor(rand() * 1e9)}`;
    const metric = (name, value) => ({ type: 'metric', name, value: +value.toFixed(name == 'CLS' ? 4 : 1), id: `${pv}-${name}` });
    const events = [
        metric('LCP', lognormal(2300) * slow), metric('INP', lognormal(180)), metric('CLS', lognormal(0.05)),
        metric('FCP', lognormal(1200)), metric('TTFB', lognormal(400)),
    ];
    if (error)
        events.push({ type: 'error', message: error, source: 'https://shop.example.com/app.js', line: 10, col: 4,
                      stack: `${error}\n    at buy (app.js:10:4)`, kind: 'error' });
    return {
        app, version, session: `s-${pvCounter % 97}`, pv, page: ['/', '/product/:id', '/checkout'][pvCounter % 3],
        nav: 'navigate', ts: Date.now(), events,
        ctx: { conn: pvCounter % 4 == 0 ? '3g' : '4g', device: browser == 'safari' || browser == 'android' ? 'mobile' : 'desktop' },
    };
}

/* Posts n page views of version in batches of 50, round robin over browsers and countries;
 * the canary's LCP is 20% slower everywhere and four times as slow on Safari. */
async function postViews(url, version, n, { newError = false, app = APP } = {}) {
    const browsers = Object.keys(UA);
    let sent = 0, batch = 0;
    while (sent < n) {
        const browser = browsers[batch % browsers.length];
        const country = COUNTRIES[batch % COUNTRIES.length];
        const size = Math.min(50, n - sent);
        const list = [];
        for (let i = 0; i < size; i++) {
            const slow = version == CANARY ? (browser == 'safari' ? 4 : 1.2) : 1;
            // 2% of page views with an error; in the canary half of them a new one.
            let error = null;
            if ((sent + i) % 50 == 7)
                error = newError && (sent + i) % 100 == 7 ? 'RangeError: cart total out of range in applyCoupon'
                    : 'TypeError: Cannot read properties of undefined (reading \'price\')';
            list.push(beacon(version, browser, slow, error, app));
        }
        const res = await fetch(`${url}/v1/rum`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'User-Agent': UA[browser], 'X-Country': country },
            body: JSON.stringify(list),
        });
        if (res.status != 204)
            throw new Error(`POST /v1/rum: ${res.status} ${await res.text()}`);
        sent += size;
        batch++;
    }
}

async function post(url, path, body) {
    const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status != 200 && res.status != 201)
        throw new Error(`POST ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
}

/* A probe result document (probe/README.md, vigil.probe-result/1) for one region. */
function probeRun(region, checkoutFails, version = CANARY, agoMs = 20000) {
    const trace = randomUUID().replace(/-/g, '');
    const started = new Date(Date.now() - agoMs).toISOString();
    let span = 0;
    const step = (name, method, path, status, ok, failures = []) => {
        const sid = (++span).toString(16).padStart(16, '0');
        return {
            name, index: span, result: ok === null ? 'skipped' : ok ? 'passed' : 'failed', attempts: ok === null ? 0 : 1,
            method, url: `http://shop.internal${path}`, status, http_version: '1.1', size_bytes: 48,
            span_id: sid, traceparent: `00-${trace}-${sid}-01`,
            timings_ms: { dns: 0.2, connect: 1.1, tls: 0, ttfb: 20 + span * 7, total: 22 + span * 7 },
            captures: {}, failures,
        };
    };
    const checkout = [
        step('login', 'POST', '/api/login', 200, true),
        step('add to cart', 'POST', '/api/cart', 201, true),
        checkoutFails
            ? step('check out', 'POST', '/api/checkout', 500, false, [{
                check: 'status', expected: '200', actual: '500',
                message: 'expected 200, got 500; body: {"error":"payment service unavailable"}' }])
            : step('check out', 'POST', '/api/checkout', 200, true),
    ];
    const browse = [step('home', 'GET', '/', 200, true), step('product', 'GET', '/product/A-1', 200, true)];
    const journeys = [
        { name: 'checkout', file: 'journeys/checkout.json', iteration: 1, trace_id: trace, passed: !checkoutFails,
          started_at: started, duration_ms: 80.5, steps: checkout },
        { name: 'browse', file: 'journeys/browse.json', iteration: 1, trace_id: trace, passed: true,
          started_at: started, duration_ms: 40.2, steps: browse },
    ];
    const steps = journeys.flatMap((j) => j.steps);
    return {
        schema: 'vigil.probe-result/1', run_id: randomUUID(), started_at: started, duration_ms: 120.7,
        passed: !checkoutFails, labels: { app: APP, version, region, host: `probe-${region}` }, insecure: false,
        summary: { journeys: 2, journeys_passed: checkoutFails ? 1 : 2, steps: steps.length,
                   steps_passed: steps.filter((s) => s.result == 'passed').length,
                   steps_failed: steps.filter((s) => s.result == 'failed').length, steps_skipped: 0 },
        journeys,
    };
}

// Watches a page for uncaught errors and console errors.
function watch(page) {
    const seen = { pageErrors: [], consoleErrors: [], warnings: [], down: [], collectorDown: false };
    page.on('pageerror', (e) => seen.pageErrors.push(e.message));
    page.on('console', (m) => {
        // The browser's own notes while the collector is down for the restart are expected.
        if (m.type() == 'error' && seen.collectorDown
            && /WebSocket connection to .* failed|net::ERR_CONNECTION_REFUSED|Failed to load resource/.test(m.text()))
            seen.down.push(m.text());
        else if (m.type() == 'error')
            seen.consoleErrors.push(m.text());
        else if (m.type() == 'warning')
            seen.warnings.push(m.text());
    });
    return seen;
}

const pageState = (page) => page.evaluate(() => {
    const v = window.__vigil;
    if (!v)
        return null;
    const series = {};
    for (const [m, s] of Object.entries(v.data.series))
        series[m] = { b: s.baseline.length, c: s.canary.length,
                      nb: s.baseline.reduce((a, p) => a + (p[2] || 0), 0), nc: s.canary.reduce((a, p) => a + (p[2] || 0), 0),
                      lastN: s.canary.length ? s.canary[s.canary.length - 1][2] || 0 : 0 };
    const u = v.charts.LCP;
    return {
        updates: v.updates, refreshes: v.refreshes, csp: v.cspViolations, series,
        uplot: u ? { points: u.data[0].length, xspan: u.scales.x.max - u.scales.x.min, b: u.data[1].filter((x) => x != null).length,
                     c: u.data[2].filter((x) => x != null).length, labels: u.series.slice(1).map((s) => s.label) } : null,
        live: document.getElementById('live-status').dataset.state,
        state: { app: v.state.app, baseline: v.state.baseline, canary: v.state.canary },
        errorsShown: [...document.querySelectorAll('.panel-error')].filter((e) => !e.hidden && e.textContent)
            .map((e) => e.textContent),
    };
});

async function main() {
    if (!prerequisites(WEB, 'uplot', 'run npm ci in web/'))
        return;

    const out = buildWeb(WEB);
    if (!check('npm run build writes dist/index.html and dist/dashboard.js',
               /dist\/dashboard\.js\s+\d+ bytes/.test(out) && existsSync(join(WEB, 'dist', 'index.html')), out))
        return;

    const dir = tempDir('vigil-dashboard-');
    const shotDir = outputDir('vigil-dashboard-shot-');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    chmodSync(tokenFile, 0o600);
    const port = await freePort();
    const serveArgs = { port, statics: [join(WEB, 'dist')],
                        args: ['--probe-token-file', tokenFile, '--country-header', 'X-Country'] };
    let C = await startCollector(dir, 'dash', serveArgs);
    const started = Date.now();

    // The data: the baseline first, then the canary, then the baseline again, as in a real
    // canary where both get traffic: the version with the latest beacon is the baseline.
    await postViews(C.url, BASE, 1000);
    await post(C.url, '/v1/deployments', { app: APP, version: BASE, stage: 'stable', ts: Date.now() - 40 * 60000,
                                           note: 'full rollout' });
    await sleep(1100);
    await postViews(C.url, CANARY, 800, { newError: true });
    await sleep(1100);
    await postViews(C.url, BASE, 100);
    // The canary's marker 10 minutes back, and two more close by (a long label, a short one
    // under it, and one that would land on the first): its comparison window (from the
    // latest, after the 5 min warm-up) then holds every beacon above.
    const marker = await post(C.url, '/v1/deployments', { app: APP, version: CANARY, baseline: BASE, stage: 'canary',
                                                          ts: Date.now() - 10 * 60000, note: '10% of traffic',
                                                          weight: 10 });
    check('a deployment marker is stored (POST /v1/deployments)', marker && marker.version == CANARY, marker);
    await post(C.url, '/v1/deployments', { app: APP, version: CANARY, baseline: BASE, ts: Date.now() - 9.6 * 60000 });
    await post(C.url, '/v1/deployments', { app: APP, version: CANARY, baseline: BASE, stage: '50%',
                                           ts: Date.now() - 7.5 * 60000, note: 'half of the traffic', weight: 50 });
    for (const [region, fails] of [['eu-west', false], ['us-east', true]]) {
        const r = await post(C.url, '/v1/probe-runs', probeRun(region, fails));
        check(`a probe run from ${region} is stored (POST /v1/probe-runs)`, r && r.stored === true, r);
    }
    // A newer version's pre-exposure runs (failing in eu-west) and the baseline's: the grid
    // of canary 1.5.0 shows neither as the canary's.
    await post(C.url, '/v1/probe-runs', probeRun('eu-west', true, NEXT, 5000));
    await post(C.url, '/v1/probe-runs', probeRun('eu-west', false, BASE, 60000));
    // Beacons from an origin the collector does not allow (it allows none here).
    for (let i = 0; i < 3; i++) {
        const res = await fetch(`${C.url}/v1/rum`, {
            method: 'POST', headers: { 'Content-Type': 'text/plain', Origin: 'https://elsewhere.example' },
            body: JSON.stringify([beacon(CANARY, 'chrome', 1, null)]),
        });
        await res.arrayBuffer();
    }
    const refusedN = await C.metric('vigil_beacon_requests_rejected_total{reason="origin"}');
    check('the collector counts 3 beacon requests refused for their origin', refusedN == 3, refusedN);
    // A second app, without markers, in its warm-up: the baseline first seen first, the
    // canary a second later, then the baseline again.
    await postViews(C.url, BASE, 200, { app: APP2 });
    await sleep(1100);
    await postViews(C.url, CANARY, 100, { app: APP2 });
    await sleep(1100);
    await postViews(C.url, BASE, 100, { app: APP2 });
    const api = await (await fetch(`${C.url}/v1/verdict?app=${APP}&baseline=${BASE}&canary=${CANARY}`)).json();
    note(`prepared in ${Date.now() - started} ms; the API's verdict: ${api.decision}`);
    // VIGIL_DASHBOARD_HOLD=SECONDS: keep this collector up that long first, to look at the
    // dashboard by hand (or in another browser) with the test's data.
    if (+process.env.VIGIL_DASHBOARD_HOLD > 0) {
        note(`holding ${C.url}/ for ${+process.env.VIGIL_DASHBOARD_HOLD} s (token for pushes: ${TOKEN})`);
        await sleep(+process.env.VIGIL_DASHBOARD_HOLD * 1000);
    }

    const index = await fetch(`${C.url}/`);
    const html = await index.text();
    check('the collector serves the dashboard at /', index.status == 200 && /dashboard\.js/.test(html),
          `${index.status} ${html.slice(0, 200)}`);
    check('index.html has no inline script or style', !/<script(?![^>]*\ssrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i.test(html));
    // The page carries the policy of the collector's security headers (libwebsockets'
    // best-practices option) in a meta tag, so that it is held to it under any server.
    check('index.html sets a CSP without unsafe-inline (script-src and style-src \'self\')',
          /http-equiv="Content-Security-Policy"[^>]*script-src 'self';[^>]*style-src 'self';/.test(html)
          && !/unsafe-inline/.test(html));
    const csp = index.headers.get('content-security-policy');
    note(`the collector's Content-Security-Policy header: ${csp || '(none)'}`);

    const context = await launchChromium();
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    const seen = watch(page);
    // 15 minutes in buckets of 10 s (the API's least): beacons in the next bucket make a new point.
    await page.goto(`${C.url}/#app=${APP}&since=15m&step=10`);

    // Both versions drawn.
    const drawn = await waitFor(async () => {
        const s = await pageState(page);
        return s && s.uplot && s.uplot.b > 0 && s.uplot.c > 0 && s.series.errors ? s : null;
    }, 10000);
    const s0 = drawn || await pageState(page);
    check('the pair comes from the latest deployment marker (canary 1.5.0 against 1.4.0), though 1.4.0 sent the latest beacon',
          s0 && s0.state.app == APP && s0.state.canary == CANARY && s0.state.baseline == BASE, s0 && s0.state);
    const source = await page.$eval('#pair-source', (e) => ({ kind: e.dataset.source, text: e.textContent })).catch((e) => e.message);
    check('the page says the pair comes from the deployment marker', source.kind == 'marker'
          && /canary 1\.5\.0 and baseline 1\.4\.0 from the latest deployment marker/.test(source.text), source);
    check('the LCP chart draws both versions (uPlot data: baseline and canary points)', !!drawn, s0);
    const all = s0 && ['LCP', 'INP', 'CLS', 'FCP', 'TTFB', 'errors'].every((m) => s0.series[m] && s0.series[m].b > 0 && s0.series[m].c > 0);
    check('every metric has baseline and canary series (LCP, INP, CLS, FCP, TTFB, errors)', all, s0 && s0.series);
    check('the x axis spans the 15 minutes asked for', s0 && s0.uplot && Math.abs(s0.uplot.xspan - 900) < 60,
          s0 && s0.uplot);
    check('the series are labelled with the versions', s0 && s0.uplot
          && s0.uplot.labels[0].includes(BASE) && s0.uplot.labels[1].includes(CANARY), s0 && s0.uplot);
    const canvasInk = await page.evaluate(() => {
        const c = document.querySelector('.chart[data-metric="LCP"] canvas');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0;
        for (let i = 3; i < px.length; i += 4)
            if (px[i] > 0)
                ink++;
        return ink;
    });
    check('the LCP canvas is drawn on', canvasInk > 1000, canvasInk);
    const summary0 = await page.textContent('.chart[data-metric="LCP"] .chart-summary');
    check('the LCP chart shows both versions\' latest values', summary0.includes(BASE) && summary0.includes(CANARY)
          && !summary0.includes('no data'), summary0);

    // The markers. Each panel loads on its own: wait (bounded) until it is drawn.
    await page.waitForSelector('#markers li', { timeout: 10000 }).catch(() => {});
    await page.waitForFunction(() => [...document.querySelectorAll('.chart')]
        .every((e) => e.dataset.markers !== undefined), null, { timeout: 10000 }).catch(() => {});
    const markers = await page.$$eval('#markers li', (l) => l.map((e) => ({ v: e.dataset.version, cls: e.className, text: e.textContent })));
    check('both deployment markers are listed', markers.some((m) => m.v == CANARY && /canary/.test(m.text))
          && markers.some((m) => m.v == BASE), markers);
    const drawnMarkers = await page.$$eval('.chart', (l) => l.map((e) => e.dataset.markers));
    check('the canary\'s three markers are drawn on every chart (the older one is out of the 15 min range)',
          drawnMarkers.length == 6 && drawnMarkers.every((n) => n == '3'), drawnMarkers);
    // Their labels: none on another, none outside the plot area (over the axes' ticks).
    const labelBoxes = await page.evaluate(() => Object.fromEntries(Object.entries(window.__vigil.chart)
        .map(([m, c]) => [m, { boxes: c.labelBoxes, plot: c.plotBox }])));
    const overlaps = [];
    for (const [m, { boxes, plot }] of Object.entries(labelBoxes)) {
        if (!Array.isArray(boxes) || !plot) {
            overlaps.push(`${m}: no label boxes`);
            continue;
        }
        boxes.forEach((a, i) => {
            if (a.x < plot.x - 0.5 || a.y < plot.y - 0.5 || a.x + a.w > plot.x + plot.w + 0.5 || a.y + a.h > plot.y + plot.h + 0.5)
                overlaps.push(`${m}: "${a.label}" outside the plot area`);
            for (const b of boxes.slice(i + 1))
                if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h)
                    overlaps.push(`${m}: "${a.label}" on "${b.label}"`);
        });
    }
    await page.locator('.chart[data-metric="LCP"]').screenshot({ path: join(shotDir, 'markers.png') })
        .catch(() => {});
    check('marker labels overlap neither each other nor the axes', overlaps.length == 0
          && Object.values(labelBoxes).every((c) => c.boxes.length == 3), { overlaps, labelBoxes: labelBoxes.LCP });

    // The verdict.
    await page.waitForFunction(() => document.getElementById('verdict-decision').dataset.decision, null, { timeout: 10000 })
        .catch(() => {});
    const decision = await page.$eval('#verdict-decision', (e) => ({ d: e.dataset.decision, text: e.textContent }));
    check(`the verdict is shown: "${decision.text}"`, ['promote', 'pause', 'rollback'].includes(decision.d)
          && decision.d == api.decision, { page: decision, api: api.decision });
    const reasons = await page.$$eval('#verdict-reasons li', (l) => l.map((e) => e.textContent));
    check('the verdict\'s reasons are listed', reasons.length >= 2 && reasons.some((r) => r.startsWith('LCP')), reasons);
    const lcpRow = await page.$eval('#verdict-metrics tr[data-metric="LCP"]', (e) => e.textContent).catch(() => '');
    check('the per-metric bounds are shown (LCP row with a change and bounds)', /[+-]\d+%.*…/.test(lcpRow), lcpRow);
    // CLS is judged on an absolute tolerance (0.02 in the built-in policies): its change,
    // bounds and tolerance are in CLS units, not percentages.
    const clsCells = await page.$$eval('#verdict-metrics tr[data-metric="CLS"] td', (l) => l.map((e) => e.textContent)).catch(() => []);
    check('CLS shows an absolute change, bounds and tolerance (+0.020), not percentages',
          clsCells.length >= 3 && clsCells.slice(-3).every((t) => !t.includes('%'))
          && clsCells[clsCells.length - 1] == '+0.020' && /\d\.\d{3}/.test(clsCells[clsCells.length - 3]), clsCells);
    // The traffic split per segment of the canary's markers: every beacon came after the
    // latest (weight 50), 800 canary page views of 1,900 (42.1%), a mismatch; the one before
    // has no weight, the first (weight 10) no page views.
    await page.waitForSelector('#traffic tbody tr[data-result]', { timeout: 10000 }).catch(() => {});
    const split = await page.$$eval('#traffic tbody tr[data-result]', (l) => l.map((e) => ({
        result: e.dataset.result, expected: e.querySelector('[data-testid="expected"]').textContent,
        observed: e.querySelector('[data-testid="observed"]').textContent })));
    check('the traffic split lists the canary\'s three segments, newest first: 50.0% expected,'
          + ' 42.1% observed, a mismatch; no weight; 10.0% expected without page views',
          split.length == 3 && split[0].result == 'mismatch' && split[0].expected == '50.0%'
          && split[0].observed == '42.1%' && split[1].result == 'skipped' && split[2].result == 'no data'
          && split[2].expected == '10.0%', split);
    await page.locator('#verdict-panel').screenshot({ path: join(shotDir, 'traffic.png') }).catch(() => {});
    await page.waitForSelector('#verdict-history tbody tr[data-decision]', { timeout: 10000 }).catch(() => {});
    const history = await page.$$eval('#verdict-history tbody tr[data-decision]', (l) => l.length);
    check('the verdict history lists stored verdicts', history >= 1, history);

    // The probe grid: two regions, a failing cell with its details. Panels load on their
    // own, so wait (bounded) until the grid has been drawn before reading it.
    await page.waitForSelector('#probe-grid thead th[data-region="us-east"]', { timeout: 10000 })
        .catch(() => {});
    const regions = await page.$$eval('#probe-grid thead th[data-region]', (l) => l.map((e) => e.dataset.region));
    check('the probe grid has both regions', regions.includes('eu-west') && regions.includes('us-east'), regions);
    await page.waitForFunction(() => document.querySelector('#probe-grid .cell .base'), null, { timeout: 5000 }).catch(() => {});
    const cells = await page.$$eval('#probe-grid td.cell', (l) => l.map((e) => `${e.dataset.journey}/${e.dataset.region}:${e.dataset.passed}`));
    check('the probe grid has a journey x region cell each, us-east checkout failing',
          cells.length == 4 && cells.includes('checkout/us-east:false') && cells.includes('checkout/eu-west:true'), cells);
    const grid = await page.evaluate(() => ({
        cells: [...document.querySelectorAll('#probe-grid td.cell')].map((e) => ({
            at: `${e.dataset.journey}/${e.dataset.region}`, head: (e.querySelector('.cell-head') || e).textContent,
            base: (e.querySelector('.base') || { textContent: '' }).textContent })),
        note: (document.getElementById('probe-note') || { textContent: '(no note)' }).textContent,
    }));
    check('the probe grid shows the canary\'s runs only (1.6.0\'s newer failing run in eu-west is not one of them)',
          grid.cells.every((c) => c.head.includes(CANARY) && !c.head.includes(NEXT)), grid.cells);
    check('under them the baseline\'s runs (eu-west: PASS)', grid.cells.filter((c) => c.at.endsWith('eu-west'))
        .every((c) => c.base.includes(`baseline ${BASE}: PASS`)), grid.cells);
    check('the probe panel says whose runs it shows and that 1.6.0\'s are left out',
          grid.note.includes(`canary ${CANARY}`) && grid.note.includes(`baseline ${BASE}`)
          && /other versions \(1\.6\.0\) are not shown/.test(grid.note), grid.note);
    const refused = await waitFor(() => page.$eval('#refused', (e) => !e.hidden && e.textContent).catch(() => null), 5000);
    await page.locator('#controls').screenshot({ path: join(shotDir, 'header.png') }).catch(() => {});
    check('the header says 3 beacon requests were refused for their origin',
          /^3 beacon requests were refused for their origin/.test(refused || ''), refused);
    await page.click('#probe-grid td.cell[data-journey="checkout"][data-region="us-east"]');
    const details = await page.$eval('#probe-details', (e) => ({
        hidden: e.hidden, text: e.textContent,
        expected: [...e.querySelectorAll('dd.expected')].map((d) => d.textContent),
        actual: [...e.querySelectorAll('dd.actual')].map((d) => d.textContent),
        trace: [...e.querySelectorAll('code.traceparent')].map((d) => d.textContent),
    }));
    check('clicking the failing cell shows expected 200 vs actual 500 and the traceparents',
          !details.hidden && details.expected.includes('200') && details.actual.includes('500')
          && details.trace.length == 3 && details.trace.every((t) => /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/.test(t)), details);

    // What's different: the canary is slow on Safari.
    await page.waitForFunction(() => document.querySelector('#breakdown .dim[data-by="browser"] tbody tr[data-key]'), null,
                               { timeout: 10000 }).catch(() => {});
    const bd = await page.evaluate(() => ({
        metric: document.getElementById('breakdown').dataset.metric,
        dims: [...document.querySelectorAll('#breakdown .dim')].map((d) => d.dataset.by),
        browsers: [...document.querySelectorAll('#breakdown .dim[data-by="browser"] tbody tr[data-key]')].map((r) => r.dataset.key),
    }));
    check('what\'s different: LCP (the worst ratio) by browser, device, country, conn and page',
          bd.metric == 'LCP' && ['browser', 'device', 'country', 'conn', 'page'].every((b) => bd.dims.includes(b)), bd);
    check('what\'s different: Safari contributes most', bd.browsers[0] == 'Safari', bd.browsers);
    await page.waitForSelector('#new-errors tbody tr', { timeout: 10000 }).catch(() => {});
    const newErrors = await page.textContent('#new-errors');
    check('the JS error new in the canary is listed, the one the baseline had too is not',
          newErrors.includes('RangeError: cart total out of range') && !newErrors.includes('reading \'price\''), newErrors);

    // Live: new beacons show within 3 s, without a reload.
    await waitFor(async () => (await pageState(page)).live == 'live', 5000);
    const before = await pageState(page);
    check('the WebSocket is connected', before.live == 'live', before.live);
    await page.evaluate(() => { window.__notReloaded = true; });
    const t0 = Date.now();
    await postViews(C.url, CANARY, 60);
    const after = await waitFor(async () => {
        const s = await pageState(page);
        return s.series.LCP && s.series.LCP.nc >= before.series.LCP.nc + 60 ? s : null;
    }, 3000, 50);
    const took = Date.now() - t0;
    check(`new beacons show within 3 s without a reload (${took} ms)`, !!after
          && await page.evaluate(() => window.__notReloaded === true), { before: before.series.LCP, after: after && after.series.LCP });
    check('the update came over the WebSocket', after && after.updates > before.updates, { before: before.updates, after: after && after.updates });
    // Buckets are whole minutes (the rollups'): the new beacons make a new point or go into the latest.
    check('the canary series has more points, or more page views in its latest',
          after && (after.series.LCP.c > before.series.LCP.c || after.series.LCP.lastN > before.series.LCP.lastN),
          { before: before.series.LCP, after: after && after.series.LCP });
    const counter = await page.$eval('#last-update', (e) => ({ n: +e.dataset.count, text: e.textContent }));
    check('the page shows the last update', counter.n >= 1 && /updated/.test(counter.text), counter);

    // A collector restart: the page reconnects by itself and goes on.
    seen.collectorDown = true;
    await C.stop();
    await waitFor(async () => (await pageState(page)).live != 'live', 3000);
    const down = await pageState(page);
    check('the page notices the collector is gone', down.live != 'live', down.live);
    rmSync(join(dir, 'dash.port'), { force: true });
    C = await startCollector(dir, 'dash', serveArgs);
    const back = await waitFor(async () => (await pageState(page)).live == 'live', 8000);
    await sleep(200);
    seen.collectorDown = false;
    check('the page reconnects after a collector restart', !!back);
    const before2 = await pageState(page);
    await postViews(C.url, CANARY, 30);
    const after2 = await waitFor(async () => {
        const s = await pageState(page);
        return s.series.LCP.nc >= before2.series.LCP.nc + 30 ? s : null;
    }, 3000, 50);
    check('after the restart, new beacons show within 3 s', !!after2, { before: before2.series.LCP });

    // The percentile switch.
    const p75 = await page.evaluate(() => window.__vigil.data.series.LCP.canary.map((p) => p[1]));
    await page.click('#quantile button[data-q="p95"]');
    await waitFor(() => page.evaluate(() => window.__vigil.state.q == 'p95' && window.__vigil.loads.series), 3000);
    const p95 = await waitFor(async () => {
        const v = await page.evaluate(() => window.__vigil.data.series.LCP.canary.map((p) => p[1]));
        return v.length && v.some((x, i) => x > p75[i]) ? v : null;
    }, 3000);
    check('the p95 switch draws higher values than p75', !!p95, { p75, p95 });

    const shot = join(shotDir, 'dashboard.png');
    await page.click('#quantile button[data-q="p75"]');
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await sleep(800);
    await page.screenshot({ path: shot, fullPage: true });
    note(`screenshot: ${shot}`);

    const final = await pageState(page);
    check('no error shown in any panel', final.errorsShown.length == 0, final.errorsShown);
    check('no CSP violation (no inline script or style)', final.csp.length == 0, final.csp);
    check('no console error and no uncaught exception', seen.pageErrors.length == 0 && seen.consoleErrors.length == 0,
          { pageErrors: seen.pageErrors, consoleErrors: seen.consoleErrors });
    if (seen.down.length)
        note(`the browser's errors while the collector was down (expected): ${seen.down.length}`);
    if (seen.warnings.length)
        note(`console warnings: ${seen.warnings.slice(0, 5).join(' | ')}`);

    // The second app: no marker, and in its warm-up.
    const cart = await context.newPage();
    const cartSeen = watch(cart);
    await cart.goto(`${C.url}/#app=${APP2}`);
    const cartState = await waitFor(async () => {
        const st = await pageState(cart);
        return st && st.state.canary && await cart.evaluate(() => document.getElementById('verdict-decision').dataset.decision)
            ? st : null;
    }, 8000);
    check('without a marker the canary is the version first seen last (1.5.0), though 1.4.0 sent the latest beacon',
          cartState && cartState.state.canary == CANARY && cartState.state.baseline == BASE, cartState && cartState.state);
    const cartSource = await cart.$eval('#pair-source', (e) => ({ kind: e.dataset.source, text: e.textContent })).catch((e) => e.message);
    check('the page says the pair was chosen by first-seen time', cartSource.kind == 'first-seen'
          && /no deployment marker: canary 1\.5\.0, the version first seen last/.test(cartSource.text), cartSource);
    const warm = await cart.evaluate(() => ({
        decision: document.getElementById('verdict-decision').textContent,
        window: document.getElementById('verdict-window').textContent,
        reasons: [...document.querySelectorAll('#verdict-reasons li')].map((e) => e.textContent),
        verdict: window.__vigil.data.verdict && window.__vigil.data.verdict.window,
    }));
    const until = warm.verdict && await cart.evaluate((ms) => {
        const d = new Date(ms), p = (n) => String(n).padStart(2, '0');
        return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    }, warm.verdict.from_ms);
    check('in the warm-up (the API\'s window.from after window.to) the page says "warming up until" window.from',
          !!until && warm.verdict.from_ms > warm.verdict.to_ms && warm.window.startsWith(`warming up until ${until}`)
          && /warming up/.test(warm.decision) && warm.reasons[0].startsWith(`warming up until ${until}`), { warm, until });
    const backwards = /window (\d\d:\d\d:\d\d) – (\d\d:\d\d:\d\d)/.exec(warm.window);
    check('the window is never shown backwards, nor "no metric has baseline data" with baseline page views',
          !(backwards && backwards[1] > backwards[2]) && !warm.reasons.some((r) => /no metric has baseline data/.test(r))
          && warm.reasons.some((r) => /baseline 1\.4\.0 300\b/.test(r)), warm);
    await cart.screenshot({ path: join(shotDir, 'dashboard-warmup.png'), fullPage: true });
    check('the second app\'s page logs no error', cartSeen.pageErrors.length == 0 && cartSeen.consoleErrors.length == 0, cartSeen);
    await cart.close();

    // A collector that wants a read token: the page passes #token=... on as a bearer
    // header and as ?token= on the WebSocket; without it, the page says what is missing.
    const readTokenFile = join(dir, 'read-token');
    writeFileSync(readTokenFile, 'read-token-for-the-dashboard-42\n');
    chmodSync(readTokenFile, 0o600);
    const L = await startCollector(dir, 'locked', { statics: [join(WEB, 'dist')],
                                                    args: ['--read-token-file', readTokenFile] });
    await postViews(L.url, BASE, 50);
    await sleep(1100);
    await postViews(L.url, CANARY, 50);
    const denied = await fetch(`${L.url}/v1/apps`);
    check('with --read-token-file, /v1/apps without the token is 401', denied.status == 401, denied.status);
    const locked = await context.newPage();
    const lockedSeen = watch(locked);
    await locked.goto(`${L.url}/#token=read-token-for-the-dashboard-42`);
    const lockedOk = await waitFor(async () => {
        const st = await pageState(locked);
        return st && st.live == 'live' && st.series.LCP && st.series.LCP.c > 0 ? st : null;
    }, 8000);
    check('with #token=..., the page reads the API and follows /v1/live', !!lockedOk, await pageState(locked));
    check('with #token=..., no console error', lockedSeen.pageErrors.length == 0 && lockedSeen.consoleErrors.length == 0,
          lockedSeen);
    await locked.goto('about:blank');
    await locked.goto(`${L.url}/`);
    const said = await waitFor(() => locked.evaluate(() => {
        const e = document.querySelector('#controls .panel-error');
        return !e.hidden && e.textContent;
    }), 5000);
    check('without the token, the page says that the API wants one', /401.*#token=/.test(said || ''), said);
    await locked.close();
    note(`the dashboard test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

await runTest('dashboard tests', main, 120000 + 1000 * (+process.env.VIGIL_DASHBOARD_HOLD || 0));
