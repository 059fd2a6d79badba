// Helpers for the browser tests: TAP-style checks, real collectors on loopback ports,
// SQLite reads through the sqlite3 CLI, and headless Chromium through playwright-core.
// Everything started here is registered for cleanup(), which a test runs in `finally`
// and on signals, so that no collector, browser or temp folder outlives a failed run.
// A test can also end without either: playwright-core calls process.exit() itself when
// it refuses the Node it runs on, and an uncaught error ends the process. So the
// collectors are also killed, and the temp folders removed, on the process's 'exit',
// which runs in every one of those cases (only SIGKILL escapes it).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = process.env.VIGIL_ROOT || process.cwd();
export const BIN = process.env.VIGIL_BIN || join(ROOT, 'bin');
export const CHROMIUM = '/usr/bin/chromium';

let passed = 0;
let failed = 0;
const cleanups = [];
const children = new Set();   /* processes started here that have not exited yet */
const tempDirs = [];

/* The last resort: 'exit' handlers cannot wait, so this kills and removes at once. */
process.on('exit', () => {
    for (const proc of children) {
        try {
            proc.kill('SIGKILL');
        } catch (e) {
            /* already gone */
        }
    }
    for (const dir of tempDirs)
        rmSync(dir, { recursive: true, force: true });
});

/* Prints one TAP line for a check; detail goes on a comment line when it fails. */
export function check(name, ok, detail) {
    if (ok) {
        passed++;
        console.log(`ok - ${name}`);
    } else {
        failed++;
        console.log(`not ok - ${name}`);
        if (detail !== undefined)
            console.log(`# ${typeof detail == 'string' ? detail : JSON.stringify(detail)}`
                .replace(/\n/g, '\n# '));
    }
    return ok;
}

export function note(text) {
    console.log(`# ${text}`);
}

export function failures() {
    return failed;
}

export function summary() {
    note(`${passed} passed, ${failed} failed`);
}

/* Registers fn to run at cleanup(), last registered first. */
export function onCleanup(fn) {
    cleanups.push(fn);
}

export async function cleanup() {
    while (cleanups.length) {
        const fn = cleanups.pop();
        try {
            await fn();
        } catch (e) {
            note(`cleanup: ${e.message}`);
        }
    }
}

export function tempDir(prefix) {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    tempDirs.push(dir);
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Polls fn until it returns a truthy value or ms pass; returns the last value. */
export async function waitFor(fn, ms = 5000, every = 100) {
    const end = Date.now() + ms;
    let v;
    for (;;) {
        v = await fn();
        if (v || Date.now() >= end)
            return v;
        await sleep(every);
    }
}

/* A TCP port that was free a moment ago on host (for a collector that must know its own
 * origin before it starts). */
export function freePort(host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
        const s = createServer();
        s.on('error', reject);
        s.listen(0, host, () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

/*
 * Starts `collector serve` on loopback with a database in dir and returns
 * { port, url, db, metrics(), stop() }. opts: port (default: any), allow (origins),
 * statics (folders for --static), args (more arguments for serve).
 */
export async function startCollector(dir, name, opts = {}) {
    const db = join(dir, `${name}.db`);
    const portFile = join(dir, `${name}.port`);
    const args = ['serve', '--db', db, '--listen', `127.0.0.1:${opts.port || 0}`,
                  '--port-file', portFile];
    for (const o of opts.allow || [])
        args.push('--allow-origin', o);
    for (const s of opts.statics || [])
        args.push('--static', s);
    args.push(...(opts.args || []));
    const proc = spawn(join(BIN, 'collector'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    children.add(proc);
    let exited = false, stopping = false;
    // A spawn that fails (no binary, or one being relinked: EACCES) emits 'error', which
    // would end the whole test uncaught; it ends this collector only.
    proc.on('error', (e) => {
        stderr += `cannot start ${join(BIN, 'collector')}: ${e.message}\n`;
        exited = true;
        children.delete(proc);
    });
    proc.on('exit', (code, signal) => {
        exited = true;
        children.delete(proc);
        // A collector that dies during a test explains the failures that follow.
        if (!stopping)
            note(`collector ${name} exited by itself (${signal || `status ${code}`}): `
                 + (stderr.trim().split('\n').slice(-3).join(' | ') || 'no message'));
    });
    const stop = async () => {
        stopping = true;
        if (exited)
            return;
        proc.kill('SIGTERM');
        const done = await waitFor(() => exited, 5000, 50);
        if (!done)
            proc.kill('SIGKILL');
    };
    onCleanup(stop);
    const port = await waitPortFile(portFile, () => exited, 5000);
    if (!(port > 0))
        throw new Error(`collector ${name} did not start: ${stderr.trim()}`);
    const url = `http://127.0.0.1:${port}`;
    return {
        port, url, db, stop, pid: proc.pid,
        stderr: () => stderr,
        /* The value of one /metrics sample, e.g. 'vigil_beacons_accepted_total'. */
        metric: async (sample) => {
            const text = await (await fetch(`${url}/metrics`)).text();
            const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
            return line ? +line.slice(sample.length + 1) : 0;
        },
    };
}

/* The port a server wrote to portFile once it listens: > 0, or -1 when exited() says
 * it is gone, or 0 when ms passed. */
export function waitPortFile(portFile, exited, ms) {
    return waitFor(() => {
        if (exited())
            return -1;
        try {
            return +readFileSync(portFile, 'utf8').trim() || 0;
        } catch (e) {
            return 0;
        }
    }, ms, 20);
}

/* Runs a browser test's main() to the end within ms: cleanup() on a signal, a crash or
 * the time limit, then the summary line and the exit code (1 on any failure). */
export async function runTest(name, main, ms) {
    const timer = setTimeout(() => {
        console.log(`not ok - ${name} finished within ${ms / 1000} s`);
        cleanup().finally(() => process.exit(1));
    }, ms);
    let crashed = false;
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
        process.on(sig, () => cleanup().finally(() => process.exit(1)));
    try {
        await main();
    } catch (e) {
        crashed = true;
        console.log(`not ok - ${name} ran to the end`);
        note(e.stack || String(e));
    } finally {
        await cleanup();
        clearTimeout(timer);
    }
    summary();
    process.exit(crashed || failures() ? 1 : 0);
}

/* A folder for what a test leaves behind (screenshots): $VIGIL_TEST_OUT if set, else a new
 * folder under the system's temp folder; never removed by cleanup(). */
export function outputDir(prefix = 'vigil-test-out-') {
    const dir = process.env.VIGIL_TEST_OUT || mkdtempSync(join(tmpdir(), prefix));
    mkdirSync(dir, { recursive: true });
    return dir;
}

/* Rows of a query, read with the sqlite3 CLI (-json) beside the running collector. */
export function sql(db, query) {
    if (!existsSync(db))
        return [];
    const out = execFileSync('sqlite3', ['-json', db, query], { encoding: 'utf8' }).trim();
    return out ? JSON.parse(out) : [];
}

/* Quotes a string for an SQL literal. */
export const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

/* Launches headless Chromium with a fresh profile; the back-forward cache stays on
 * (playwright turns it off by default). Returns the persistent context. */
export async function launchChromium() {
    const require = createRequire(join(ROOT, 'web', 'package.json'));
    const { chromium } = require('playwright-core');
    const profile = tempDir('vigil-chromium-');
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1280, height: 720 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
               '--disable-component-update', '--no-first-run', '--disable-quic'],
        ignoreDefaultArgs: ['--disable-back-forward-cache'],
    });
    onCleanup(() => context.close());
    return context;
}

/* The checks both browser tests start with: Chromium, bin/collector and the web module
 * (node_modules/DEP) are there. Returns false (after a not-ok line) when one is missing. */
export function prerequisites(web, dep, hint) {
    return check('chromium is installed', existsSync(CHROMIUM),
                 `${CHROMIUM} is missing: apt-get install -y chromium`)
        && check('bin/collector is built', existsSync(join(BIN, 'collector')), `no ${BIN}/collector: make`)
        && check('web dependencies are installed', existsSync(join(web, 'node_modules', dep)), hint)
        && nodeFitsPlaywright(web);
}

/* Node's version against the ">=N[.N[.N]]" of playwright-core's engines, checked before
 * anything starts: playwright-core itself would print its complaint and exit the process
 * on its first import. A range of another form is left to playwright-core. */
function nodeFitsPlaywright(web) {
    let pkg;
    try {
        pkg = JSON.parse(readFileSync(join(web, 'node_modules', 'playwright-core', 'package.json'), 'utf8'));
    } catch (e) {
        return check('playwright-core is installed', false, `${e.message}: run scripts/setup (npm ci in web/)`);
    }
    const range = (pkg.engines && pkg.engines.node) || '';
    const want = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
    if (!want)
        return true;
    const have = process.versions.node.split('.').map(Number);
    let fits = true;
    for (let i = 0; i < 3; i++) {
        const w = +(want[i + 1] || 0);
        if (have[i] != w) {
            fits = have[i] > w;
            break;
        }
    }
    return check(`Node ${process.versions.node} satisfies playwright-core ${pkg.version}'s engines (node ${range})`, fits,
                 `playwright-core ${pkg.version} wants node ${range}, this is ${process.versions.node}: `
                 + 'install the version web/package.json pins (scripts/setup, npm ci in web/) or a newer Node');
}

/* Builds web/ from its current source (npm run build) and returns what it printed. */
export function buildWeb(web) {
    try {
        return execFileSync('npm', ['run', '--silent', 'build'], { cwd: web, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
        return String(e.stdout) + String(e.stderr);
    }
}
