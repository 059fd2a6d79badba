// Vigil's dashboard: one app's canary against its baseline, live. Served by the collector
// at / (web/README.md); reads the collector's dashboard query API and follows /v1/live.
//
// State lives in the page's fragment (#app=shop&baseline=1.2.2&canary=1.2.3&q=p95&since=6h,
// plus token=... for a collector with --read-token-file), so a view can be shared as a link.
import { ApiError, Live, get, getText, setToken } from './api.js';
import { Chart } from './charts.js';
import { METRICS, METRIC_TITLE, durationSeconds, fill, fmtCount, fmtTime, h, toMs } from './format.js';
import {
    BREAKDOWN_BY, panelError, renderBreakdown, renderErrors, renderHistory, renderMarkers,
    renderProbeDetails, renderProbeGrid, renderTraffic, renderVerdict, worstMetric,
} from './panels.js';

const QUANTILES = ['p50', 'p75', 'p95', 'p99'];
const RANGES = { '15m': 15, '1h': 60, '6h': 300, '24h': 900, '7d': 3600 };  // since -> step (s)
const REFUSED_EVERY_MS = 30000;  // how often /metrics is read for beacons refused for their origin
const VERDICT_MIN_MS = 10000;  // a verdict reads every sample: live refetches at most this often
const LIVE_DEBOUNCE_MS = 250;

const $ = (id) => document.getElementById(id);

const state = {
    token: '', app: '', baseline: '', canary: '', q: 'p75', since: '1h', step: null,
    policy: '', warmup: '', metric: '',  // metric: the breakdown's, '' = the worst in the verdict
    pinned: false,                        // versions chosen by hand (or in the link), not defaults
    pairSource: '', pairKind: '',         // how the default pair was chosen, for the page
};

const data = {
    apps: [], versions: [], markers: [], verdict: null, verdicts: [], probes: [],
    series: {}, breakdown: {}, errors: [], probeRuns: { canary: [], baseline: [] },
};

const charts = {};
const vigil = {
    charts: {}, chart: charts, data, state,
    updates: 0, lastUpdate: 0, lastMessage: null, refreshes: 0, loads: {}, cspViolations: [],
    live: null,
};
window.__vigil = vigil;

document.addEventListener('securitypolicyviolation', (e) =>
    vigil.cspViolations.push(`${e.violatedDirective}: ${e.blockedURI || 'inline'}`));

// ---- the fragment ---------------------------------------------------------------------------

function readHash() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ''));
    state.token = p.get('token') || '';
    state.app = p.get('app') || '';
    state.baseline = p.get('baseline') || '';
    state.canary = p.get('canary') || '';
    state.pinned = !!(state.baseline || state.canary);
    state.q = QUANTILES.includes(p.get('q')) ? p.get('q') : 'p75';
    state.since = durationSeconds(p.get('since')) ? p.get('since') : '1h';
    state.step = +p.get('step') > 0 ? +p.get('step') : null;
    state.policy = p.get('policy') || '';
    state.warmup = p.get('warmup') || '';
    state.metric = METRICS.includes(p.get('metric')) ? p.get('metric') : '';
    setToken(state.token);
}

let writtenHash = '';
function writeHash() {
    const p = new URLSearchParams();
    const put = (k, v, dflt = '') => { if (v && v != dflt) p.set(k, v); };
    put('app', state.app);
    if (state.pinned) {
        put('baseline', state.baseline);
        put('canary', state.canary);
    }
    put('q', state.q, 'p75');
    put('since', state.since, '1h');
    put('step', state.step ? String(state.step) : '');
    put('policy', state.policy);
    put('warmup', state.warmup);
    put('metric', state.metric);
    put('token', state.token);
    writtenHash = p.toString() ? `#${p}` : '';
    if (writtenHash != location.hash)
        history.replaceState(null, '', writtenHash || location.pathname + location.search);
}

// Buckets of 10 s to an hour (the API's bounds), at most 2,000 of them.
const step = () => Math.min(3600, Math.max(10, state.step || RANGES[state.since]
    || Math.ceil(durationSeconds(state.since) / 240), Math.ceil(durationSeconds(state.since) / 2000)));

// ---- loading --------------------------------------------------------------------------------

// What each load depends on: an answer that comes back after these changed is dropped.
const selection = (scope) => (scope == 'app' ? state.app
    : scope == 'pair' ? [state.app, state.baseline, state.canary].join('\n')
    : [state.app, state.baseline, state.canary, state.q, state.since, step(), state.policy, state.warmup].join('\n'));
const labels = () => [`baseline ${state.baseline || '–'}`, `canary ${state.canary || '–'}`];
const bothVersions = () => state.app && state.baseline && state.canary;

// Errors by panel and by load, so that one load's success does not hide another's error.
const errors = {};
function showError(panel, name, message) {
    errors[panel] = { ...errors[panel], [name]: message };
    panelError(panel, Object.values(errors[panel]).filter(Boolean).join('\n'));
}

/* Runs one panel's load: errors go to that panel (and console.warn), never uncaught. */
async function guarded(panel, name, scope, fn) {
    const sel = selection(scope);
    const current = () => sel == selection(scope);
    try {
        await fn(current);
        if (current())
            showError(panel, name, null);
        vigil.loads[name] = (vigil.loads[name] || 0) + 1;
    } catch (e) {
        if (!current())
            return;
        showError(panel, name, e.message);
        console.warn(`vigil dashboard: ${e.message}`);
        if (!(e instanceof ApiError))
            console.warn(e);
    }
}

const loaders = {
    versions: () => guarded('controls', 'versions', 'app', async (current) => {
        if (!state.app)
            return;
        const a = await get('/v1/versions', { app: state.app });
        if (!current())
            return;
        data.versions = a.versions || [];
        if (!state.pinned && markersLoaded && chooseDefaults())
            request(['series', 'verdict', 'verdicts', 'breakdown', 'errors', 'probes']);
        fillVersionSelects();
    }),

    series: () => guarded('charts-panel', 'series', 'all', async (current) => {
        if (!state.app || !state.canary)
            return;
        // With one version only (nothing to compare yet), its series alone.
        const args = (version, metric) => ({ app: state.app, version, metric, q: state.q, step: step(), since: state.since });
        const one = (version, m) => (version ? get('/v1/series', args(version, m)) : Promise.resolve({ points: [] }));
        const answers = await Promise.all(METRICS.flatMap((m) => [one(state.baseline, m), one(state.canary, m)]));
        if (!current())
            return;
        METRICS.forEach((m, i) => {
            const [b, c] = [answers[2 * i], answers[2 * i + 1]];
            data.series[m] = { baseline: b.points || [], canary: c.points || [], from: c.from, to: c.to };
            charts[m].set(b, c, labels());
        });
        renderMarkers(data.markers, charts.LCP.range);
    }),

    deployments: () => guarded('charts-panel', 'deployments', 'app', async (current) => {
        const a = await get('/v1/deployments', { app: state.app });
        if (!current())
            return;
        data.markers = (a.deployments || []).map((m) => ({ ...m, tsMs: toMs(m.ts) }));
        markersLoaded = true;
        // A new marker may name a new pair.
        if (!state.pinned && data.versions.length && chooseDefaults()) {
            request(['series', 'verdict', 'verdicts', 'breakdown', 'errors', 'probes']);
            fillVersionSelects();
        }
        renderMarkers(data.markers, charts.LCP.range);
        for (const m of METRICS)
            charts[m].redraw();
    }),

    verdict: () => guarded('verdict-panel', 'verdict', 'all', async (current) => {
        if (!bothVersions()) {
            if (state.app && state.canary)
                fill('verdict-reasons', h('li', { class: 'summary' },
                     `Only ${state.canary} has sent beacons: a verdict needs a baseline to compare with.`));
            return;
        }
        lastVerdictAt = Date.now();
        // record=0: looking at the verdict does not add to the history of those asked for.
        const v = await get('/v1/verdict', { app: state.app, baseline: state.baseline, canary: state.canary,
                                            policy: state.policy, warmup: state.warmup, record: '0' });
        if (!current())
            return;
        data.verdict = v;
        renderVerdict(v, new Map(data.versions.map((x) => [x.version, x.pageviews])));
        // The canary's share of page views per segment (from each of its markers on).
        const t = await get('/v1/traffic', { app: state.app, baseline: state.baseline, canary: state.canary });
        if (!current())
            return;
        data.traffic = t.segments || [];
        renderTraffic(data.traffic);
        if (!state.metric) {
            const worst = worstMetric(v) || 'LCP';
            if (worst != $('breakdown-metric').value) {
                $('breakdown-metric').value = worst;
                request(['breakdown']);
            }
        }
    }),

    verdicts: () => guarded('history-panel', 'verdicts', 'app', async (current) => {
        const a = await get('/v1/verdicts', { app: state.app });
        if (!current())
            return;
        data.verdicts = a.verdicts || [];
        renderHistory(data.verdicts.slice(0, 20), state.baseline, state.canary);
    }),

    // The latest run per journey and region of any version (with its steps), and the
    // runs of the canary and the baseline: the grid shows only theirs.
    probes: () => guarded('probes-panel', 'probes', 'pair', async (current) => {
        const pair = [state.canary, state.baseline];
        const runs = (version) => (version ? get('/v1/probe-runs', { app: state.app, version })
            .then((a) => a.runs || []) : Promise.resolve([]));
        const [a, canary, baseline] = await Promise.all([get('/v1/probe-results', { app: state.app }), ...pair.map(runs)]);
        if (!current())
            return;
        data.probes = a.results || [];
        data.probeRuns = { canary, baseline };
        drawProbes();
    }),

    breakdown: () => guarded('diff-panel', 'breakdown', 'all', async (current) => {
        if (!bothVersions())
            return;
        const metric = $('breakdown-metric').value || 'LCP';
        const answers = {};
        await Promise.all(BREAKDOWN_BY.map(async (by) => {
            try {
                answers[by] = await get('/v1/breakdown', { app: state.app, metric, baseline: state.baseline,
                                                           canary: state.canary, by, q: state.q, since: state.since });
            } catch (e) {
                answers[by] = e;
            }
        }));
        if (!current() || metric != ($('breakdown-metric').value || 'LCP'))
            return;
        data.breakdown = answers;
        $('breakdown').dataset.metric = metric;
        renderBreakdown(answers, metric, [state.baseline, state.canary]);
        const failed = Object.values(answers).find((a) => a instanceof Error);
        if (failed)
            throw failed;
    }),

    // Beacon requests refused for their origin, from the collector's /metrics (all apps,
    // since it started): a site missing from --allow-origin sends nothing else visible.
    // A collector whose /metrics cannot be read shows nothing.
    refused: async () => {
        const text = await getText('/metrics');
        const m = text && /^vigil_beacon_requests_rejected_total\{reason="origin"\} (\d+(?:\.\d+)?(?:e\+?\d+)?)$/m.exec(text);
        const n = m ? Math.round(+m[1]) : 0;
        const el = $('refused');
        el.hidden = !n;
        el.dataset.count = String(n);
        el.textContent = `${n == 1 ? '1 beacon request was refused for its origin'
            : `${fmtCount(n)} beacon requests were refused for their origin`} since the collector started`;
        el.title = 'vigil_beacon_requests_rejected_total{reason="origin"} in /metrics, all apps, since the collector'
            + ' started: is the site\'s origin in collector serve --allow-origin?';
        vigil.loads.refused = (vigil.loads.refused || 0) + 1;
    },

    errors: () => guarded('errors-panel', 'errors', 'all', async (current) => {
        if (!bothVersions())
            return;
        const a = await get('/v1/errors', { app: state.app, baseline: state.baseline, canary: state.canary });
        if (!current())
            return;
        data.errors = a.new || [];
        renderErrors(data.errors);
    }),
};

const ALL = Object.keys(loaders);
const dirty = new Set();
let flushTimer = null, running = false, lastVerdictAt = 0, verdictTimer = null, markersLoaded = false;

/* Marks what to load again; loads run together, one round at a time. A hidden page
 * only remembers what to load, and loads it when it is shown again. */
function request(names, delay = 0) {
    for (const n of names)
        dirty.add(n);
    if (!running && !flushTimer && !document.hidden)
        flushTimer = setTimeout(flush, delay);
}

async function flush() {
    flushTimer = null;
    if (running || !dirty.size)
        return;
    running = true;
    const names = [...dirty];
    dirty.clear();
    // "loading…" only for a round that takes a while, so that live updates do not blink.
    const busy = setTimeout(() => { $('refreshing').hidden = false; }, 400);
    await Promise.all(names.map((n) => loaders[n]()));
    clearTimeout(busy);
    $('refreshing').hidden = true;
    running = false;
    vigil.refreshes++;
    if (dirty.size && !document.hidden)
        flushTimer = setTimeout(flush, 100);
}

document.addEventListener('visibilitychange', () => {
    if (!document.hidden && dirty.size)
        request([]);
});

/* The verdict is computed and stored on each request: at most one per VERDICT_MIN_MS from live updates. */
function requestVerdictSoon() {
    const wait = lastVerdictAt + VERDICT_MIN_MS - Date.now();
    if (wait <= 0)
        request(['verdict'], LIVE_DEBOUNCE_MS);
    else if (!verdictTimer)
        verdictTimer = setTimeout(() => { verdictTimer = null; request(['verdict']); }, wait);
}

// ---- live -------------------------------------------------------------------------------------

function onLive(m) {
    if (m.type != 'update' || (m.app && m.app != state.app))
        return;
    vigil.updates++;
    vigil.lastUpdate = Date.now();
    vigil.lastMessage = m;
    const changed = Array.isArray(m.changed) ? m.changed : ['beacons', 'probes', 'deployments', 'verdicts'];
    const names = new Set();
    for (const c of changed) {
        if (c == 'beacons') {
            ['versions', 'series', 'breakdown', 'errors'].forEach((n) => names.add(n));
            requestVerdictSoon();
        } else if (c == 'probes') {
            names.add('probes');
        } else if (c == 'deployments') {
            names.add('deployments');
            requestVerdictSoon();   // the canary's window starts at its latest marker
        } else if (c == 'verdicts') {
            names.add('verdicts');
        }
    }
    request([...names], LIVE_DEBOUNCE_MS);
    const el = $('last-update');
    el.textContent = `updated ${fmtTime(vigil.lastUpdate)}`;
    el.dataset.count = String(vigil.updates);
    el.title = `update ${m.seq ?? ''}: ${changed.join(', ')}`;
}

function onLiveState(s, delay) {
    const el = $('live-status');
    el.dataset.state = s;
    el.className = `live ${s}`;
    el.textContent = s == 'live' ? 'live' : s == 'connecting' ? 'connecting…'
        : `reconnecting in ${Math.max(1, Math.round(delay / 1000))} s`;
    el.title = s == 'live' ? 'following /v1/live' : 'the collector is not reachable over WebSocket';
}

// ---- controls ---------------------------------------------------------------------------------

/*
 * Sets the default pair and says how it was chosen (state.pairSource). The latest
 * deployment marker names the canary (and, if it says, its baseline); without markers
 * the canary is the version first seen last, since in a real canary both versions get
 * beacons all the time and the latest beacon says nothing. A baseline not named by a
 * marker is the version first seen before the canary. True if the pair changed.
 */
function chooseDefaults() {
    const byFirstSeen = [...data.versions].sort((a, b) => (b.first_seen || 0) - (a.first_seen || 0)
        || (b.last_seen || 0) - (a.last_seen || 0));
    const vs = byFirstSeen.map((v) => v.version);
    const marker = data.markers.filter((m) => m.tsMs != null && m.version)
        .sort((a, b) => b.tsMs - a.tsMs)[0];
    let canary, baseline, why;
    if (marker) {
        canary = marker.version;
        const named = marker.baseline && marker.baseline != canary;
        baseline = named ? marker.baseline : vs[vs.indexOf(canary) + 1] || vs.find((v) => v != canary) || '';
        why = `canary ${canary}${named ? ` and baseline ${baseline}` : ''} from the latest deployment marker (${fmtTime(marker.tsMs)})`
            + (named || !baseline ? '' : `; baseline ${baseline}: the version first seen before it`);
    } else {
        canary = vs[0] || '';
        baseline = vs[1] || '';
        const first = (v) => fmtTime(toMs(byFirstSeen.find((x) => x.version == v).first_seen));
        why = !canary ? '' : baseline
            ? `no deployment marker: canary ${canary}, the version first seen last (${first(canary)}); baseline ${baseline}, first seen ${first(baseline)}`
            : `no deployment marker: ${canary} is the only version with beacons`;
    }
    state.pairSource = why;
    state.pairKind = marker ? 'marker' : 'first-seen';
    if (canary == state.canary && baseline == state.baseline)
        return false;
    state.canary = canary;
    state.baseline = baseline;
    return true;
}

function showPairSource() {
    const el = $('pair-source');
    el.dataset.source = state.pinned ? 'chosen' : state.pairKind;
    el.textContent = state.pinned ? 'pair chosen by hand (or in the link)' : state.pairSource;
}

function options(select, values, current, describe) {
    const list = values.includes(current) || !current ? values : [current, ...values];
    fill(select, list.map((v) => h('option', { value: v, selected: v == current }, describe ? describe(v) : v)));
    select.value = current;
}

function fillVersionSelects() {
    const info = new Map(data.versions.map((v) => [v.version, v]));
    const describe = (v) => (info.has(v) ? `${v} (${fmtCount(info.get(v).pageviews)} views)` : v);
    const vs = data.versions.map((v) => v.version);
    options($('baseline'), vs, state.baseline, describe);
    options($('canary'), vs, state.canary, describe);
    fill('legend-baseline', state.baseline || '–');
    fill('legend-canary', state.canary || '–');
    showPairSource();
}

function setupControls() {
    for (const q of QUANTILES) {
        const b = h('button', { type: 'button', dataset: { q }, 'aria-pressed': String(q == state.q) }, q);
        b.addEventListener('click', () => {
            state.q = q;
            for (const o of $('quantile').children)
                o.setAttribute('aria-pressed', String(o.dataset.q == q));
            writeHash();
            updateTitles();
            request(['series', 'breakdown']);
        });
        $('quantile').append(b);
    }
    options($('range'), Object.keys(RANGES).includes(state.since) ? Object.keys(RANGES) : [state.since, ...Object.keys(RANGES)], state.since);
    $('range').addEventListener('change', () => {
        state.since = $('range').value;
        state.step = null;
        writeHash();
        request(['series', 'breakdown']);
    });
    $('policy').value = state.policy;
    $('policy').addEventListener('change', () => {
        state.policy = $('policy').value;
        writeHash();
        request(['verdict']);
    });
    $('app').addEventListener('change', () => selectApp($('app').value, false));
    for (const which of ['baseline', 'canary']) {
        $(which).addEventListener('change', () => {
            state[which] = $(which).value;
            state.pinned = true;
            writeHash();
            fillVersionSelects();
            request(['series', 'verdict', 'verdicts', 'breakdown', 'errors', 'probes']);
        });
    }
    options($('breakdown-metric'), METRICS, state.metric || 'LCP', (m) => (m == 'errors' ? 'JS error rate' : m));
    $('breakdown-metric').addEventListener('change', () => {
        state.metric = $('breakdown-metric').value;
        writeHash();
        request(['breakdown']);
    });
    window.addEventListener('hashchange', () => {
        if (location.hash == writtenHash)
            return;
        const app = state.app;
        readHash();
        selectApp(state.app || app, true);
    });
}

function updateTitles() {
    for (const m of METRICS)
        fill(charts[m].el.querySelector('.q'), m == 'errors' ? 'share' : state.q);
}

/*
 * The probe grid's model: the latest run of the canary and of the baseline in each journey
 * and region. A run's steps come from /v1/probe-results when that run is the latest there;
 * /v1/probe-runs gives the others without them.
 */
function probeGrid() {
    const key = (r) => `${r.journey}\n${r.region || ''}`;
    const latest = new Map(data.probes.map((r) => [r.run_id ? `${r.run_id}\n${key(r)}` : '', r]));
    const newest = (list) => {
        const at = new Map();
        for (const r of list)   // newest first
            if (!at.has(key(r)))
                at.set(key(r), latest.get(`${r.run_id}\n${key(r)}`) || { ...r, started_at: r.started, steps: null });
        return at;
    };
    const c = newest(data.probeRuns.canary || []), b = newest(data.probeRuns.baseline || []);
    const all = [...data.probes, ...(data.probeRuns.canary || []), ...(data.probeRuns.baseline || [])];
    const journeys = [...new Set(all.map((r) => r.journey))].sort();
    const regions = [...new Set(all.map((r) => r.region || ''))].sort();
    const cells = new Map([...new Set([...c.keys(), ...b.keys()])].map((k) => [k, { canary: c.get(k), baseline: b.get(k) }]));
    const others = [...new Set(data.probes.map((r) => r.version).filter((v) => v != state.canary && v != state.baseline))];
    const note = !journeys.length ? ''
        : `The latest run of canary ${state.canary || '–'} in each journey and region`
        + `${state.baseline ? `, with baseline ${state.baseline}'s under it` : ''}. `
        + (others.length ? `Runs of other versions (${others.join(', ')}) are not shown.` : '');
    return { journeys, regions, cells, note, labels: { canary: state.canary, baseline: state.baseline } };
}

let probeSelected = null;
function drawProbes() {
    const pick = (key) => {
        probeSelected = probeSelected == key ? null : key;
        drawProbes();
    };
    const grid = probeGrid();
    renderProbeGrid(grid, probeSelected, pick);
    const r = probeSelected && (grid.cells.get(probeSelected) || {}).canary;
    renderProbeDetails(r || null, () => { probeSelected = null; drawProbes(); });
}

/* Switches to app (keeping the versions of the link when keep). */
async function selectApp(app, keep) {
    if (!keep || app != state.app) {
        state.baseline = state.canary = '';
        state.pinned = false;
        state.metric = '';
        probeSelected = null;
    }
    state.app = app;
    $('app').value = app;
    writeHash();
    data.markers = [];
    markersLoaded = false;
    await Promise.all([loaders.deployments(), loaders.versions()]);
    if (!state.pinned)
        chooseDefaults();
    writeHash();
    fillVersionSelects();
    $('breakdown-metric').value = state.metric || 'LCP';
    request(ALL.filter((n) => n != 'versions' && n != 'deployments'));
    if (!vigil.live)
        vigil.live = new Live({ onMessage: onLive, onState: onLiveState, onReopen: () => request(ALL) });
    vigil.live.start(app);
}

async function loadApps() {
    try {
        const a = await get('/v1/apps');
        showError('controls', 'apps', null);
        return a.apps || [];
    } catch (e) {
        showError('controls', 'apps', e.message);
        console.warn(`vigil dashboard: ${e.message}`);
        return null;
    }
}

async function start() {
    readHash();
    for (const m of METRICS) {
        const el = document.querySelector(`.chart[data-metric="${m}"]`);
        fill(el.querySelector('.title'), METRIC_TITLE[m]);
        charts[m] = new Chart(el, m, () => data.markers);
        Object.defineProperty(vigil.charts, m, { get: () => charts[m].u, enumerable: true });
    }
    setupControls();
    updateTitles();
    // No data yet: look again every 5 s until some app has sent beacons.
    let apps = await loadApps();
    while (!apps || !apps.length) {
        if (apps) {
            showError('controls', 'apps', 'No app has sent beacons to this collector yet: waiting for the first.');
            $('live-status').textContent = 'waiting for data';
        }
        await new Promise((r) => setTimeout(r, 5000));
        apps = await loadApps();
    }
    data.apps = apps;
    const names = apps.map((a) => a.app);
    const app = names.includes(state.app) ? state.app : names[0];
    options($('app'), names, app, (n) => {
        const a = apps.find((x) => x.app == n);
        return a ? `${n} (${a.versions} versions)` : n;
    });
    await selectApp(app, app == state.app);
}

// Leaving closes the socket cleanly (the page may go to the back-forward cache); coming
// back from that cache opens it again and reloads everything.
window.addEventListener('pagehide', () => vigil.live && vigil.live.stop());
window.addEventListener('pageshow', (e) => {
    if (e.persisted && vigil.live && state.app) {
        vigil.live.start(state.app);
        request(ALL);
    }
});
setInterval(() => { if (state.app) request(['refused']); }, REFUSED_EVERY_MS);
// Relative times ("12 s ago") in the probe grid move on without a refetch.
setInterval(() => { if (data.probes.length && !document.hidden) drawProbes(); }, 15000);
start();
