// probe's HTML report (`probe run --report html:FILE`, probe/README.md) in headless
// Chromium. A journey runs against the real example shop: a login that sends a secret,
// a slow step (/slow?ms=250) and a fast one, a step that fails (503 where 200 is
// expected) and one skipped after it. The page is opened from disk with every network
// request blocked and recorded; it must show the run and its steps, draw each step's
// bar with a width proportional to its total time (as the JSON report of the same run
// has it), never show the secrets, and show the failure's expected and actual values.
// A screenshot is saved and its path printed.
//
// Run: node tests/browser/test_probe_report.mjs (cwd = repo root; VIGIL_BIN = the
// binaries; VIGIL_TEST_OUT = where the screenshot goes, else a new folder under /tmp).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
    BIN, ROOT, check, launchChromium, note, onCleanup, outputDir, prerequisites, runTest,
    tempDir, waitPortFile,
} from './lib.mjs';

const WEB = join(ROOT, 'web');
const PASSWORD = `pw-${Math.random().toString(36).slice(2)}-secret`;
const TOKEN = `tok-${Math.random().toString(36).slice(2)}-secret`;

/* Starts scripts/example-shop on an ephemeral port; returns its base URL. */
async function startShop(dir) {
    const portFile = join(dir, 'shop.port');
    const proc = spawn('python3', [join(ROOT, 'scripts', 'example-shop'), '--port', '0',
                                   '--host', '127.0.0.1', '--port-file', portFile],
                       { stdio: 'ignore', env: { ...process.env, SHOP_PASSWORD: PASSWORD } });
    let exited = false;
    proc.on('exit', () => (exited = true));
    proc.on('error', () => (exited = true));
    onCleanup(() => {
        if (!exited)
            proc.kill('SIGTERM');
    });
    const port = await waitPortFile(portFile, () => exited, 10000);
    if (!(port > 0))
        throw new Error('example-shop did not start');
    return `http://127.0.0.1:${port}`;
}

async function main() {
    if (!prerequisites(WEB, 'playwright-core', 'run npm ci in web/')
        || !check('bin/probe is built', existsSync(join(BIN, 'probe')), `no ${BIN}/probe: make`))
        return;
    const dir = tempDir('vigil-probe-report-');
    const base = await startShop(dir);
    const journey = {
        name: 'checkout-report',
        variables: { base, token: null },
        defaults: { headers: { Authorization: 'Bearer {{token}}' } },
        steps: [
            { name: 'login', request: { method: 'POST', url: '{{base}}/api/login',
                                        json: { user: 'probe@example.com', password: '{{secret.SHOP_PASSWORD}}' } },
              expect: { status: 200 } },
            { name: 'slow page', request: { url: '{{base}}/slow?ms=250' } },
            { name: 'health', request: { url: '{{base}}/healthz' } },
            { name: 'payment', request: { url: '{{base}}/status/503' }, expect: { status: 200 } },
            { name: 'receipt', request: { url: '{{base}}/healthz' } },
        ],
    };
    const jpath = join(dir, 'journey.json');
    writeFileSync(jpath, JSON.stringify(journey, null, 1));
    const envFile = join(dir, 'staging.json');
    writeFileSync(envFile, JSON.stringify({ variables: { token: TOKEN }, secrets: ['token'] }));
    const html = join(dir, 'report.html');
    const json = join(dir, 'report.json');
    const r = spawnSync(join(BIN, 'probe'), ['run', jpath, '--env-file', envFile, '--report', `html:${html}`,
                                             '--report', `json:${json}`],
                        { encoding: 'utf8', env: { ...process.env, SHOP_PASSWORD: PASSWORD }, timeout: 30000 });
    check('probe exits 1 (one step fails)', r.status === 1, `${r.status} ${r.stdout} ${r.stderr}`);
    if (!check('the HTML report is written', existsSync(html), r.stderr))
        return;
    const text = readFileSync(html, 'utf8');
    check('the file names no http(s) resource to load (no src=, href=, url(), @import)',
          !/\b(src|href)\s*=|url\(|@import/i.test(text), text.match(/\b(src|href)\s*=.{0,60}|url\(.{0,60}/i));
    check('neither secret is in the file', !text.includes(PASSWORD) && !text.includes(TOKEN));
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    const totals = doc.journeys[0].steps.map((s) => (s.timings_ms ? s.timings_ms.total : null));

    const context = await launchChromium();
    const page = await context.newPage();
    const pageUrl = pathToFileURL(html).href;
    const attempted = [];
    await context.route('**/*', (route) => {
        const url = route.request().url();
        if (url === pageUrl)
            return route.continue();
        attempted.push(url);
        return route.abort();
    });
    page.on('request', (req) => {
        if (req.url() !== pageUrl)
            attempted.push(req.url());
    });
    const errors = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(pageUrl);
    await page.waitForLoadState('load');

    const seen = await page.evaluate(() => {
        const rows = [...document.querySelectorAll('tr.step')];
        return {
            title: document.querySelector('h1').textContent,
            runs: [...document.querySelectorAll('section.run h2')].map((h) => h.textContent),
            steps: rows.map((tr) => [tr.querySelector('.result').textContent, tr.querySelector('.name').textContent]),
            bars: rows.map((tr) => {
                const bar = tr.querySelector('div.bar');
                if (!bar)
                    return null;
                const track = tr.querySelector('div.track').getBoundingClientRect().width;
                const segs = [...bar.children].reduce((a, s) => a + s.getBoundingClientRect().width, 0);
                return { width: bar.getBoundingClientRect().width, track, segs };
            }),
            failure: [...document.querySelectorAll('tr.step.failed + tr.detail table.failure tr')].slice(1)
                .map((tr) => [...tr.children].map((td) => td.textContent)),
            body: document.body.innerText + [...document.querySelectorAll('pre')].map((p) => p.textContent).join('\n'),
            login: document.querySelector('tr.step + tr.detail details.request pre')?.textContent || '',
        };
    });
    check('the page says the run failed', /failed/.test(seen.title), seen.title);
    check('one run, named after the journey', seen.runs.length === 1 && seen.runs[0].startsWith('checkout-report'), seen.runs);
    check('five steps in order with their results',
          JSON.stringify(seen.steps) === JSON.stringify([['PASS', 'login'], ['PASS', 'slow page'], ['PASS', 'health'],
                                                         ['FAIL', 'payment'], ['SKIP', 'receipt']]), seen.steps);
    check('the skipped step has no bar, the others one', seen.bars.map((b) => b !== null).join() === 'true,true,true,true,false',
          seen.bars);
    const max = Math.max(...totals.filter((t) => t !== null));
    const track = seen.bars[0] ? seen.bars[0].track : 0;
    let proportional = track > 100;
    const detail = [];
    totals.forEach((t, i) => {
        if (t === null || !seen.bars[i])
            return;
        const want = (t / max) * track;
        detail.push({ step: i + 1, total_ms: t, want: +want.toFixed(1), got: +seen.bars[i].width.toFixed(1) });
        proportional &&= Math.abs(seen.bars[i].width - want) <= 1.5;
    });
    check('each bar is as long as its step\'s total time on one scale (within 1.5 px)', proportional, detail);
    check('the slow step (250 ms) has the longest bar', totals[1] === max
          && seen.bars[1].width > 5 * seen.bars[2].width, detail);
    check('the phases of each bar add up to the bar', seen.bars.every((b) => !b || Math.abs(b.segs - b.width) <= 1.5),
          seen.bars);
    check('the failure shows expected 200 and actual 503',
          seen.failure.length === 1 && seen.failure[0][0] === 'status' && seen.failure[0][1] === '200'
          && seen.failure[0][2] === '503', seen.failure);
    check('the request of login is shown with the password masked',
          seen.login.startsWith('POST ' + base + '/api/login') && seen.login.includes('"password":"***"'), seen.login);
    check('the env-file secret is masked in the request headers', seen.login.includes('Authorization: Bearer ***'),
          seen.login);
    check('no secret anywhere on the page', !seen.body.includes(PASSWORD) && !seen.body.includes(TOKEN));
    check('the failing response body is shown', /payment[\s\S]*HTTP\/1\.1 503/.test(seen.body), seen.body.slice(-800));
    check('no network request was attempted', attempted.length === 0, attempted);
    check('no console error', errors.length === 0, errors);

    await page.evaluate(() => document.querySelectorAll('tr.step.failed + tr.detail details')
        .forEach((d) => (d.open = true)));
    const shot = join(outputDir('vigil-probe-report-'), 'probe-report.png');
    await page.screenshot({ path: shot, fullPage: true });
    check('screenshot saved', existsSync(shot), shot);
    note(`screenshot: ${shot}`);
}

await runTest('probe report test', main, 90000);
