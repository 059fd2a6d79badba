/*
 * Vigil's browser beacon: Core Web Vitals (through Google's web-vitals library) and
 * JavaScript errors of one page view, batched and sent to the collector's POST /v1/rum
 * when the page is hidden. The payload is the beacon schema of collector/README.md; the
 * collector rejects a whole request for one bad field, so every string is cut to its
 * limit here and every number checked before it is queued.
 *
 * Nothing here may throw into the host page: every entry point and every listener runs
 * inside try/catch, and a failure only loses data.
 */
import { onCLS, onFCP, onINP, onLCP, onTTFB } from 'web-vitals';

// Bytes in one request. The collector takes 64 KiB and the browsers' keepalive quota
// (sendBeacon and fetch keepalive) is 64 KiB for all requests in flight, so stay below.
const BODY_MAX = 60000;
const EVENTS_MAX = 200;      // events in one beacon
// Distinct errors kept per page view; later ones are dropped. With the cuts below a page
// view's errors stay far below the keepalive quota, which all requests in flight share.
const ERRORS_MAX = 10;
const STACK_LINES = 20;      // an error's stack is cut to this many lines...
const STACK_BYTES = 2048;    // ...and bytes (the schema allows 8192)
const TEXT_MAX = 256;        // strings inside attribution; keeps it far below 4 KiB
const TOKEN = /^[\w.+-]{1,64}$/;

const enc = new TextEncoder();
const dec = new TextDecoder();

let cfg;        // the options of init() once it started; undefined before
let off;        // set by disable(), for good
let page;       // the page name sent with each beacon
let sid;        // session id, kept in sessionStorage
let view;       // the current page view: { pv, nav, q: queued events, seen: error keys }

// Returns s as a string of at most n bytes of UTF-8, cut on a character boundary. NUL
// characters are dropped and lone surrogates replaced (by the encoding and decoding),
// since the collector refuses both.
function cut(s, n) {
    const b = enc.encode(String(s).slice(0, n).replace(/\0/g, ''));
    let i = b.length;
    if (i > n)
        for (i = n; (b[i] & 192) == 128; i--);
    return dec.decode(b.subarray(0, i));
}

const rnd = () => Date.now().toString(36) + Math.random().toString(36).slice(1, 11);

// sessionStorage may be missing or throw (storage disabled, sandboxed frames); the
// value then lives as long as the page.
function stored(key, make) {
    try {
        return (sessionStorage[key] ??= make());
    } catch (e) {
        return make();
    }
}

// A page view takes its navigation type (web-vitals' navigationType) from its metrics.
const newView = () => (view = { pv: rnd(), q: [], seen: {} });

// The primitive fields of a web-vitals attribution object (target selectors, phases,
// load state), strings cut to TEXT_MAX: far below the collector's 4 KiB.
function attribution(a) {
    const o = {};
    for (const k in a)
        o[k] = typeof a[k] == 'string' ? cut(a[k], TEXT_MAX) : a[k] === +a[k] ? a[k] : undefined;
    return o;
}

function onMetric(m) {
    try {
        if (m.value >= 0 && m.value <= (m.name == 'CLS' ? 100 : 6e5)) {
            view.nav = m.navigationType;
            // The latest report of a measurement replaces one still queued.
            view.q = view.q.filter((e) => e.id != m.id);
            view.q.push({ type: 'metric', name: m.name, value: m.value, rating: m.rating,
                          id: m.id, delta: m.delta,
                          attribution: m.attribution && attribution(m.attribution) });
        }
    } catch (e) { /* drop this report */ }
}

// Queues one error, unless the page view has it already or has ERRORS_MAX of them. The
// first frame of the stack stands in for a missing source.
function onError(kind, err, message, source, line, col) {
    try {
        const stack = String((err && err.stack) || '');
        const at = /(\w+:\/\/\S+?):(\d+):(\d+)/.exec(stack);
        if (!source && at)
            [, source, line, col] = at;
        const e = {
            type: 'error', kind,
            message: cut(message, 1024) || 'unknown error',
            source: source ? cut(source.replace(/[?#].*/, ''), 512) : undefined,
            line: line > 0 ? +line : undefined,
            col: col > 0 ? +col : undefined,
            stack: stack ? cut(stack.split('\n', STACK_LINES).join('\n'), STACK_BYTES)
                : undefined,
        };
        const key = [kind, e.message, e.source, e.line, e.col];
        const seen = Object.keys(view.seen);
        if (!view.seen[key] && seen.length < ERRORS_MAX) {
            view.seen[key] = 1;
            view.q.push(e);
        }
    } catch (x) { /* drop this error */ }
}

function post(body) {
    try {
        navigator.sendBeacon(cfg.endpoint, body)
            || fetch(cfg.endpoint, { method: 'POST', body, keepalive: true,
                                     headers: { 'content-type': 'text/plain' } }).catch(() => 0);
    } catch (e) { /* no sendBeacon, or it refused the URL */ }
}

// Sends beacon b, halved as often as needed so that each request holds at most
// EVENTS_MAX events and BODY_MAX bytes. One event alone always fits: its strings are cut.
function send(b) {
    const s = JSON.stringify(b);
    const n = b.events.length;
    if (n < 2 || (n <= EVENTS_MAX && enc.encode(s).length <= BODY_MAX))
        return post(s);
    send({ ...b, events: b.events.slice(0, n / 2) });
    send({ ...b, events: b.events.slice(n / 2) });
}

/* Sends what the current page view has queued, now. */
export function flush() {
    try {
        if (!view || off || !view.q.length)
            return;
        const c = navigator.connection;
        const ua = navigator.userAgent;
        let b = {
            app: cfg.app, version: cfg.version, session: sid, pv: view.pv, page,
            nav: view.nav, ts: Date.now(), events: view.q,
            ctx: {
                conn: c && c.effectiveType,
                // The form factor; iPadOS presents itself as a Mac but for touch points.
                device: /iPad|Tablet|Android(?!.*Mobi)/.test(ua)
                    || (/Mac/.test(ua) && navigator.maxTouchPoints > 1) ? 'tablet'
                    : /Mobi|iPhone|Android/.test(ua) ? 'mobile' : 'desktop',
                viewport: innerWidth + 'x' + innerHeight,
                dpr: Math.min(devicePixelRatio, 10) || undefined,
            },
        };
        view.q = [];
        if (cfg.beforeSend) {
            try {
                b = cfg.beforeSend(b);
            } catch (e) {
                b = 0; // a hook that fails may have been meant to scrub: send nothing
            }
        }
        if (b && b.events && b.events.length)
            send(b);
    } catch (e) { /* never into the host page */ }
}

/* Names the page for the beacons sent from now on (an SPA's route, "/product/:id").
 * A page view keeps the name it was first stored with, so call it early. */
export function setPage(name) {
    try {
        page = cut(name, 512);
    } catch (e) { /* keep the old name */ }
}

export const setRoute = setPage;

/* Stops everything for this page: nothing queued or measured later is sent (consent). */
export function disable() {
    off = 1;
}

// Every change is reported, the latest replacing the one queued: web-vitals works out
// INP when the browser is idle, and if the page is hidden first, its final report on
// hiding misses the interaction that only reportAllChanges delivers a moment later.
function measure(wv) {
    try {
        for (const on of [wv.onLCP, wv.onINP, wv.onCLS, wv.onFCP, wv.onTTFB])
            on(onMetric, { reportAllChanges: true });
    } catch (e) { /* no metrics, errors still work */ }
}

/*
 * Starts measuring: init({app, version, endpoint, sample, attribution, beforeSend,
 * disabled}). Only the first call counts. Throws nothing; a configuration the collector
 * would refuse is reported on the console.
 *
 * With attribution (the URL of vigil-attribution.mjs; the entry points turn true into the
 * file beside them), web-vitals' attribution build is loaded from there and used instead of
 * the standard build bundled here: it is larger than this file's whole size budget, so
 * only pages that ask pay for it. If it cannot be loaded, the standard build runs.
 */
export function init(o) {
    try {
        if (cfg || off || !o || o.disabled)
            return;
        if (!TOKEN.test(o.app) || !TOKEN.test(o.version))
            return console.warn('vigil: bad app or version');
        cfg = { ...o, endpoint: o.endpoint || '/v1/rum' };
        // The session id starts with a random number in [0, 1) that decides whether the
        // session is sampled: it is kept for the session, which is wholly in or out.
        sid = stored('vigil.sid', () => Math.random() + '-' + rnd());
        if (!(parseFloat(sid) < (o.sample ?? 1)))
            return;
        page = page || cut(location.pathname, 512);
        newView();
        // Before web-vitals' own listener, so that the metrics it reports for a page
        // restored from the back-forward cache land in the new page view.
        addEventListener('pageshow', (e) => e.persisted && (flush(), newView()), true);
        const std = { onLCP, onINP, onCLS, onFCP, onTTFB };
        if (o.attribution)
            import(o.attribution).then(measure, () => measure(std));
        else
            measure(std);
        addEventListener('error', (e) => onError('error', e.error, e.message, e.filename,
                                                  e.lineno, e.colno));
        addEventListener('unhandledrejection', (e) => {
            // String() of an Error is "Name: message", as an error event has it.
            onError('unhandledrejection', e.reason, e.reason);
        });
        // On window in the bubbling phase, so that it runs after web-vitals' capturing
        // listeners have reported CLS, INP and LCP. Never on unload: it spoils the
        // back-forward cache.
        addEventListener('visibilitychange', () => document.visibilityState == 'hidden' && flush());
        addEventListener('pagehide', flush);
    } catch (e) { /* never into the host page */ }
}
