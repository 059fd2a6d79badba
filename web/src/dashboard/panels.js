// The panels other than the charts: verdict, verdict history, deployment markers, probe
// grid and details, "what's different" and new JS errors. Each renders one API answer.
import {
    fill, fmtAgo, fmtCount, fmtMs, fmtPct, fmtPoints, fmtRatio, fmtTime, fmtValue, h, signed, toMs,
} from './format.js';

const DECISION_TEXT = { promote: 'promote', pause: 'pause', rollback: 'roll back' };

/* Shows an error in a panel (or clears it with null). */
export function panelError(panelId, message) {
    const el = document.querySelector(`#${panelId} .panel-error`);
    if (!el)
        return;
    el.textContent = message || '';
    el.hidden = !message;
}

// ---- verdict -----------------------------------------------------------------------

const bound = (metric, lo, hi) =>
    lo == null && hi == null ? '' : `${lo == null ? '−∞' : fmtValue(metric, lo)} … ${hi == null ? '+∞' : fmtValue(metric, hi)}`;

function versionCell(m, side) {
    const s = m[side] || {};
    const name = m.name;
    return h('td', { class: 'num' },
        h('div', null, fmtValue(name, s.value)),
        h('div', { class: 'sub' }, `n ${fmtCount(s.n)}${s.hits != null ? `, ${fmtCount(s.hits)} with errors` : ''}`),
        s.lower !== undefined || s.upper !== undefined ? h('div', { class: 'sub' }, bound(name, s.lower, s.upper)) : null);
}

function changeCells(m) {
    const rate = m.kind == 'rate';
    // A metric judged on an absolute tolerance (rates; CLS by default) has a difference
    // and bounds on it in the metric's unit; the others a ratio (shared/README.md).
    const absolute = m.tolerance_kind ? m.tolerance_kind == 'absolute' : rate;
    const b = Array.isArray(m.bounds) ? m.bounds : [null, null];
    const open = (v, f) => (v == null ? null : f(v));
    const plus = (v) => `${v > 0 ? '+' : v < 0 ? '−' : ''}${fmtValue(m.name, Math.abs(v))}`;
    const show = (v) => (rate ? fmtPoints(v) : absolute ? plus(v) : fmtRatio(v));
    const value = absolute ? m.difference : m.ratio;
    const boundsText = b[0] == null && b[1] == null ? '–'
        : `${open(b[0], show) ?? '−∞'} … ${open(b[1], show) ?? '+∞'}`;
    const tol = m.tolerance == null ? '–' : rate ? `+${+(m.tolerance * 100).toFixed(3)} pt`
        : absolute ? plus(m.tolerance) : `+${+(m.tolerance * 100).toFixed(1)}%`;
    return [h('td', { class: `num change ${value > (absolute ? 0 : 1) ? 'worse' : 'better'}` }, show(value)),
            h('td', { class: 'num' }, boundsText), h('td', { class: 'num' }, tol)];
}

/*
 * The verdict of /v1/verdict. views: page views sent so far by version (/v1/versions),
 * for the warm-up: until window.from (the canary's latest marker or first beacon plus
 * the warm-up) nothing is compared, and the comparator's reasons ("no metric has
 * baseline data") would say the wrong thing.
 */
export function renderVerdict(v, views = new Map()) {
    const d = v.decision || 'pause';
    const w = v.window || {};
    const from = w.from_ms ?? toMs(w.from), to = w.to_ms ?? toMs(w.to);
    const warming = w.canary_seen !== false && from != null && to != null && from > to;
    const el = document.getElementById('verdict-decision');
    el.textContent = warming ? 'warming up' : DECISION_TEXT[d] || d;
    el.className = `decision ${d}`;
    el.dataset.decision = d;
    el.dataset.warming = String(warming);
    fill('verdict-pair', `${v.canary} against ${v.baseline}`,
         v.policy ? h('span', { class: 'tag' }, v.policy) : null,
         v.method ? h('span', { class: 'tag' }, v.method) : null);
    const warmup = w.warmup_s ? `a ${+(w.warmup_s / 60).toFixed(1)} min warm-up` : 'no warm-up';
    const win = document.getElementById('verdict-window');
    win.dataset.warming = String(warming);
    fill(win, from == null || to == null ? ''
        : warming ? `warming up until ${fmtTime(from)} (${warmup} from ${fmtTime(from - w.warmup_s * 1000)}); `
            + `then the window runs from ${fmtTime(from)} to now`
        : from < to ? `window ${fmtTime(from)} – ${fmtTime(to)} (after ${warmup})` : '');
    const sofar = (version) => `${version} ${fmtCount(views.get(version) || 0)}`;
    fill('verdict-reasons', warming
        ? [h('li', { class: 'summary' }, `warming up until ${fmtTime(from)}: nothing is compared before then`),
           h('li', null, `page views so far: baseline ${sofar(v.baseline)}, canary ${sofar(v.canary)}`)]
        : (v.reasons || []).map((r, i) => h('li', { class: i == 0 ? 'summary' : null }, r)));
    const rows = (v.metrics || []).map((m) =>
        h('tr', { dataset: { metric: m.name, result: m.result || '' } },
          h('th', { scope: 'row' }, m.name, m.critical ? h('span', { class: 'tag' }, 'critical') : null,
            m.quantile != null ? h('span', { class: 'sub' }, ` p${Math.round(m.quantile * 100)}`) : null),
          h('td', null, h('span', { class: `result ${(m.result || '').replace(/\s+/g, '-')}` }, m.result || '–')),
          versionCell(m, 'baseline'), versionCell(m, 'canary'), changeCells(m)));
    fill('verdict-metrics',
         h('thead', null, h('tr', null, ['metric', 'result', `baseline ${v.baseline}`, `canary ${v.canary}`,
                                          'change', 'bounds', 'tolerance'].map((t) => h('th', null, t)))),
         h('tbody', null, rows));
}

/* The metric the canary does worst on (largest canary/baseline ratio), for "what's different". */
export function worstMetric(v) {
    let best = null, worst = -Infinity;
    for (const m of (v && v.metrics) || []) {
        let r = m.ratio;
        if (m.kind == 'rate' || r == null) {
            const b = m.baseline && m.baseline.value, c = m.canary && m.canary.value;
            r = typeof b == 'number' && typeof c == 'number' ? (b > 0 ? c / b : c > 0 ? Infinity : 1) : null;
        }
        if (typeof r == 'number' && r > worst) {
            worst = r;
            best = m.name;
        }
    }
    return best;
}

export function renderHistory(list, baseline, canary) {
    const rows = list.map((v) => {
        const mine = v.baseline == baseline && v.canary == canary;
        return h('tr', { class: mine ? 'current' : null, dataset: { decision: v.decision } },
                 h('td', { title: v.ts }, fmtTime(toMs(v.ts))),
                 h('td', null, `${v.canary} vs ${v.baseline}`),
                 h('td', null, h('span', { class: `result ${v.decision}` }, DECISION_TEXT[v.decision] || v.decision)),
                 h('td', { class: 'num' }, `${fmtCount(v.n_canary)} / ${fmtCount(v.n_baseline)}`),
                 h('td', { class: 'sub' }, [v.policy, v.method].filter(Boolean).join(', ')),
                 h('td', { class: 'reason' }, (v.reasons || [])[0] || ''));
    });
    fill('verdict-history',
         h('thead', null, h('tr', null, ['time', 'canary vs baseline', 'decision', 'page views c / b', 'policy', 'summary']
             .map((t) => h('th', null, t)))),
         h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: 6, class: 'empty' }, 'No verdicts yet.'))));
}

// ---- traffic split ------------------------------------------------------------------

const SPLIT_TEXT = {
    mismatch: 'mismatch', 'as expected': 'as expected', 'no data': 'no page views',
    skipped: 'no weight: not checked', off: 'off',
};

/* The canary's share of page views per segment (/v1/traffic): expected (the marker's
 * weight) against observed, newest first. */
export function renderTraffic(segments) {
    const rows = segments.map((s) => h('tr', { dataset: { result: s.result } },
        h('td', { title: new Date(s.from_ms).toISOString() }, fmtTime(s.from_ms)),
        h('td', null, s.stage || ''),
        h('td', { class: 'num', dataset: { testid: 'expected' } }, s.expected == null ? '–' : fmtPct(s.expected)),
        h('td', { class: 'num', dataset: { testid: 'observed' } }, s.observed == null ? '–' : fmtPct(s.observed)),
        h('td', { class: 'num' }, `${fmtCount(s.canary_views)} / ${fmtCount(s.canary_views + s.baseline_views)}`),
        h('td', null, h('span', { class: `result ${s.result == 'mismatch' ? 'pause' : ''}` },
                        SPLIT_TEXT[s.result] || s.result))));
    fill('traffic',
         h('thead', null, h('tr', null, ['segment from', 'stage', 'expected', 'observed', 'canary / all page views', 'split']
             .map((t) => h('th', null, t)))),
         h('tbody', null, rows.length ? rows
             : h('tr', null, h('td', { colspan: 6, class: 'empty' }, 'No deployment marker of this canary.'))));
}

// ---- deployment markers ------------------------------------------------------------

export function renderMarkers(list, range) {
    const items = list.map((m) => {
        const inRange = range && m.tsMs != null && m.tsMs / 1000 >= range[0] && m.tsMs / 1000 <= range[1];
        return h('li', { class: inRange ? 'in-range' : 'out-of-range', dataset: { version: m.version, stage: m.stage || '' } },
                 h('i', { class: 'marker-line' }),
                 h('time', { title: new Date(m.tsMs).toISOString() }, fmtTime(m.tsMs)), ' ',
                 h('b', null, m.version), m.stage ? h('span', { class: 'tag' }, m.stage) : null,
                 m.baseline ? ` baseline ${m.baseline}` : '', m.note ? h('span', { class: 'note' }, ` — ${m.note}`) : null,
                 inRange ? null : h('span', { class: 'sub' }, ' (outside the charts\' range)'));
    });
    fill('markers', items.length ? items : h('li', { class: 'empty' }, 'No deployment markers for this app.'));
}

// ---- probes --------------------------------------------------------------------------

const failureText = (f) => (f == null ? '' : typeof f == 'string' ? f
    : f.message || [f.check, f.expected != null ? `expected ${f.expected}` : '', f.actual != null ? `got ${f.actual}` : '']
        .filter(Boolean).join(': '));

const stepTotal = (s) => (s.timings_ms && typeof s.timings_ms.total == 'number' ? s.timings_ms.total : null);

export const regionName = (r) => (r ? r : '(no region)');

/*
 * The probe grid, journeys x regions. grid: {journeys, regions, cells: Map of
 * "journey\nregion" -> {canary, baseline} (each a result or null), labels: {canary,
 * baseline}, note}: each cell shows the canary's latest run there and, under it, the
 * baseline's; runs of other versions are left out (the note says which).
 */
export function renderProbeGrid(grid, selected, onPick) {
    const { journeys, regions, cells, labels } = grid;
    const table = document.getElementById('probe-grid');
    table.dataset.regions = regions.join(',');
    fill('probe-note', grid.note || '');
    if (!journeys.length) {
        fill(table, h('tbody', null, h('tr', null, h('td', { class: 'empty' }, 'No probe results for this app yet.'))));
        return;
    }
    const now = Date.now();
    const cell = (j, reg) => {
        const key = `${j}\n${reg}`;
        const { canary: r, baseline: b } = cells.get(key) || {};
        const base = b ? h('div', { class: `base ${b.passed ? 'pass' : 'fail'}`, dataset: { version: b.version || '' } },
                           `baseline ${b.version}: `, h('b', null, b.passed ? 'PASS' : 'FAIL'), ` ${fmtAgo(toMs(b.started_at), now)}`)
            : null;
        if (!r)
            return h('td', { class: 'cell none', dataset: { journey: j, region: reg } },
                     h('div', null, labels.canary ? `no run of ${labels.canary}` : '–'), base);
        const steps = r.steps || [];
        return h('td', {
            class: `cell ${r.passed ? 'pass' : 'fail'}${selected == key ? ' selected' : ''}`,
            tabindex: 0, role: 'button', title: r.passed ? 'details' : 'what failed',
            dataset: { journey: j, region: reg, passed: String(!!r.passed), version: r.version || '' },
            onclick: () => onPick(key, r),
            onkeydown: (e) => { if (e.key == 'Enter' || e.key == ' ') { e.preventDefault(); onPick(key, r); } },
        },
        h('div', { class: 'cell-head' }, h('span', { class: 'state' }, r.passed ? 'PASS' : 'FAIL'),
          h('span', { class: 'sub' }, r.version ? ` ${r.version}` : '')),
        h('div', { class: 'sub' }, h('time', { title: r.started_at || '' }, fmtAgo(toMs(r.started_at), now)),
          r.duration_ms != null ? ` · ${fmtMs(r.duration_ms)}` : ''),
        r.passed ? null : h('div', { class: 'why' }, r.failed_step ? `at “${r.failed_step}”` : 'failed',
                              r.failure ? `: ${failureText(r.failure)}` : ''),
        h('ol', { class: 'steps' }, steps.map((s) => h('li', { class: s.result || '' },
            h('span', { class: 'step-name' }, s.name), h('span', { class: 'num' }, stepTotal(s) == null ? (s.result || '') : fmtMs(stepTotal(s)))))),
        base);
    };
    fill(table,
         h('thead', null, h('tr', null, h('th', null, 'journey \\ region'),
                                regions.map((reg) => h('th', { dataset: { region: reg } }, regionName(reg))))),
         h('tbody', null, journeys.map((j) => h('tr', { dataset: { journey: j } },
             h('th', { scope: 'row' }, j), regions.map((reg) => cell(j, reg))))));
}

export function renderProbeDetails(r, onClose) {
    const el = document.getElementById('probe-details');
    if (!r) {
        el.hidden = true;
        el.replaceChildren();
        return;
    }
    el.hidden = false;
    el.dataset.journey = r.journey;
    el.dataset.region = r.region || '';
    const phases = ['dns', 'connect', 'tls', 'ttfb', 'total'];
    const steps = (r.steps || []).map((s, i) => {
        const fails = Array.isArray(s.failures) ? s.failures : [];
        return h('tbody', { class: `step ${s.result || ''}`, dataset: { step: s.name } },
            h('tr', null,
              h('td', { class: 'num' }, String(i + 1)),
              h('th', { scope: 'row' }, s.name),
              h('td', null, h('span', { class: `result ${s.result == 'passed' ? 'promote' : s.result == 'failed' ? 'rollback' : 'pause'}` }, s.result || '–')),
              h('td', { class: 'num' }, s.status == null ? '–' : String(s.status)),
              phases.map((p) => h('td', { class: 'num' }, s.timings_ms && s.timings_ms[p] != null ? fmtMs(s.timings_ms[p]) : '–'))),
            s.traceparent ? h('tr', { class: 'trace' }, h('td'), h('td', { colspan: 8 },
                'traceparent ', h('code', { class: 'traceparent' }, s.traceparent))) : null,
            fails.map((f) => h('tr', { class: 'failure' }, h('td'), h('td', { colspan: 8 },
                h('dl', null,
                  h('dt', null, 'check'), h('dd', null, f.check || '–'),
                  h('dt', null, 'expected'), h('dd', { class: 'expected' }, f.expected == null ? '–' : String(f.expected)),
                  h('dt', null, 'actual'), h('dd', { class: 'actual' }, f.actual == null ? '–' : String(f.actual)),
                  f.message ? [h('dt', null, 'message'), h('dd', null, f.message)] : null)))));
    });
    fill(el,
         h('div', { class: 'details-head' },
           h('h3', null, `${r.journey} in ${regionName(r.region)}: `,
             h('span', { class: `result ${r.passed ? 'promote' : 'rollback'}` }, r.passed ? 'passed' : 'failed')),
           h('button', { type: 'button', class: 'close', id: 'probe-details-close', onclick: onClose, 'aria-label': 'close' }, '×')),
         h('p', { class: 'sub' }, `version ${r.version || '–'} · started ${r.started_at || '–'}`,
           r.duration_ms != null ? ` · ${fmtMs(r.duration_ms)}` : ''),
         r.passed ? null : h('p', { class: 'why' }, r.failed_step ? `failed at “${r.failed_step}”` : 'failed',
                             r.failure ? `: ${failureText(r.failure)}` : ''),
         r.steps ? h('table', { class: 'steps-table' },
           h('thead', null, h('tr', null, ['#', 'step', 'result', 'status', ...phases].map((t) => h('th', null, t)))),
           steps)
             : h('p', { class: 'sub no-steps' }, 'The steps of this run are not available: the collector answers them only for '
                 + 'the latest run of each journey and region (/v1/probe-results), and that is a newer run of another version.'));
}

// ---- what's different ----------------------------------------------------------------

export const BREAKDOWN_BY = ['browser', 'device', 'country', 'conn', 'page', 'os'];
const BY_TITLE = { browser: 'Browser', device: 'Device', country: 'Country', conn: 'Connection', page: 'Page', os: 'OS' };

/* answers: {by: /v1/breakdown answer or an Error}. */
export function renderBreakdown(answers, metric, labels) {
    const max = Math.max(1e-12, ...Object.values(answers).flatMap((a) =>
        a instanceof Error ? [] : (a.rows || []).map((r) => Math.abs(r.contribution || 0))));
    const tables = BREAKDOWN_BY.filter((by) => answers[by]).map((by) => {
        const a = answers[by];
        if (a instanceof Error)
            return h('div', { class: 'dim', dataset: { by } }, h('h3', null, BY_TITLE[by]), h('p', { class: 'panel-error' }, a.message));
        const rows = [...(a.rows || [])].sort((x, y) => (y.contribution || 0) - (x.contribution || 0)).slice(0, 8);
        const body = rows.map((r) => {
            const bar = h('i', { class: `cbar ${(r.contribution || 0) > 0 ? 'worse' : 'better'}` });
            bar.style.width = `${Math.round(Math.abs(r.contribution || 0) / max * 100)}%`;
            const bv = r.baseline && r.baseline.value, cv = r.canary && r.canary.value;
            const rel = typeof bv == 'number' && typeof cv == 'number' && bv > 0 && metric != 'errors'
                ? signed((cv / bv - 1) * 100, 0, '%') : null;
            const delta = metric == 'errors' ? fmtPoints(r.delta)
                : metric == 'CLS' ? signed(r.delta, 3) : `${signed(r.delta, 0)} ms`;
            return h('tr', { dataset: { key: r.key ?? '' } },
                     h('th', { scope: 'row', title: r.key ?? '' }, r.key == null || r.key === '' ? '(unknown)' : r.key),
                     h('td', { class: 'num' }, fmtValue(metric, bv), h('div', { class: 'sub' }, `n ${fmtCount(r.baseline && r.baseline.n)}`)),
                     h('td', { class: 'num' }, fmtValue(metric, cv), h('div', { class: 'sub' }, `n ${fmtCount(r.canary && r.canary.n)}`)),
                     h('td', { class: `num ${(r.delta || 0) > 0 ? 'worse' : 'better'}` }, delta,
                       rel ? h('div', { class: 'sub' }, rel) : null),
                     h('td', { class: 'contrib' }, h('div', { class: 'bar-wrap' }, bar),
                       h('span', { class: 'sub' }, metric == 'errors' ? fmtPoints(r.contribution) : signed(r.contribution, metric == 'CLS' ? 4 : 0))));
        });
        return h('div', { class: 'dim', dataset: { by } },
                 h('h3', null, BY_TITLE[by]),
                 h('table', null,
                   h('thead', null, h('tr', null, h('th', null, by), h('th', null, labels[0]), h('th', null, labels[1]),
                                      h('th', null, 'delta'), h('th', { title: 'contribution: (canary - baseline) x share of canary page views' }, 'contrib.'))),
                   h('tbody', null, body.length ? body : h('tr', null, h('td', { colspan: 5, class: 'empty' }, 'no data')))));
    });
    fill('breakdown', tables);
}

// ---- new errors ------------------------------------------------------------------------

export function renderErrors(list) {
    const rows = list.map((e) => h('tr', { dataset: { fingerprint: e.fingerprint || '' } },
        h('td', { class: 'num' }, fmtCount(e.count)),
        h('td', { class: 'msg' }, h('div', null, e.message || '(no message)'), e.source ? h('div', { class: 'sub' }, e.source) : null),
        h('td', { title: String(e.last_seen ?? '') }, fmtAgo(toMs(e.last_seen))),
        h('td', null, h('code', null, (e.fingerprint || '').slice(0, 12)))));
    fill('new-errors',
         h('thead', null, h('tr', null, ['count', 'message', 'last seen', 'fingerprint'].map((t) => h('th', null, t)))),
         h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: 4, class: 'empty' }, 'None: every error group of the canary was seen in the baseline too.'))));
}

export { fmtPct };
