// Numbers, times and DOM nodes for the dashboard. Everything shown comes through h() as
// text nodes: page names, error messages and probe failures come from beacons and probe
// results, so none of it is ever parsed as HTML.

export const METRICS = ['LCP', 'INP', 'CLS', 'FCP', 'TTFB', 'errors'];

export const METRIC_TITLE = {
    LCP: 'LCP · Largest Contentful Paint',
    INP: 'INP · Interaction to Next Paint',
    CLS: 'CLS · Cumulative Layout Shift',
    FCP: 'FCP · First Contentful Paint',
    TTFB: 'TTFB · Time to First Byte',
    errors: 'JS error rate · page views with an error',
};

/* Creates an element: h('td', {class: 'x', dataset: {k: 'v'}, onclick: fn}, 'text', node). */
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v == null || v === false)
            continue;
        if (k == 'class')
            el.className = v;
        else if (k == 'dataset')
            Object.assign(el.dataset, v);
        else if (k.startsWith('on'))
            el.addEventListener(k.slice(2), v);
        else if (k == 'text')
            el.textContent = v;
        else
            el.setAttribute(k, v === true ? '' : v);
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c == null || c === false)
            continue;
        if (Array.isArray(c))
            append(el, c);
        else
            el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
}

/* Replaces the children of el (by id or node). */
export function fill(el, ...children) {
    if (typeof el == 'string')
        el = document.getElementById(el);
    el.replaceChildren();
    append(el, children);
    return el;
}

const finite = (v) => typeof v == 'number' && Number.isFinite(v);

export function fmtMs(v) {
    if (!finite(v))
        return '–';
    if (Math.abs(v) >= 1000)
        return `${(v / 1000).toFixed(Math.abs(v) >= 10000 ? 1 : 2)} s`;
    return `${Math.abs(v) >= 100 ? Math.round(v) : v.toFixed(1)} ms`;
}

export function fmtPct(v, digits) {
    if (!finite(v))
        return '–';
    const p = v * 100;
    return `${p.toFixed(digits ?? (Math.abs(p) < 1 && p != 0 ? 2 : 1))}%`;
}

/* A metric's value in its unit: ms (shown in s from 1000), CLS unitless, errors a share. */
export function fmtValue(metric, v) {
    if (!finite(v))
        return '–';
    if (metric == 'CLS')
        return v.toFixed(3);
    if (metric == 'errors')
        return fmtPct(v);
    if (!['LCP', 'INP', 'FCP', 'TTFB'].includes(metric))
        return String(+v.toPrecision(4));
    return fmtMs(v);
}

/* Axis ticks: shorter than fmtValue. */
export function fmtTick(metric, v) {
    if (!finite(v))
        return '';
    if (metric == 'CLS')
        return v.toFixed(v < 0.1 ? 3 : 2);
    if (metric == 'errors')
        return `${+(v * 100).toFixed(2)}%`;
    if (!['LCP', 'INP', 'FCP', 'TTFB'].includes(metric))
        return String(+v.toPrecision(3));
    return v >= 1000 ? `${+(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
}

export function signed(x, digits = 0, unit = '') {
    if (!finite(x))
        return '–';
    const s = x.toFixed(digits);
    return `${x > 0 && +s != 0 ? '+' : ''}${s}${unit}`;
}

/* A ratio canary/baseline as a change: 1.26 -> "+26%". */
export const fmtRatio = (r) => (finite(r) ? signed((r - 1) * 100, Math.abs(r - 1) < 0.1 ? 1 : 0, '%') : '–');

/* A difference of two rates in percentage points. */
export const fmtPoints = (d) => (finite(d) ? signed(d * 100, 2, ' pt') : '–');

export function fmtCount(n) {
    return finite(n) ? n.toLocaleString('en-US') : '–';
}

/* Unix ms from what the API gives: seconds, milliseconds or RFC 3339. */
export function toMs(t) {
    if (finite(t))
        return t > 1e11 ? t : t * 1000;
    if (typeof t == 'string' && t) {
        const ms = Date.parse(t);
        return Number.isNaN(ms) ? null : ms;
    }
    return null;
}

const pad = (n) => String(n).padStart(2, '0');

/* 14:03:07 today; Nov 28 14:03 otherwise. */
export function fmtTime(ms) {
    if (!finite(ms))
        return '–';
    const d = new Date(ms);
    const now = new Date();
    const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (d.toDateString() == now.toDateString())
        return hms;
    return `${d.toLocaleDateString('en-US', { month: 'short', day: 'numeric' })} ${hms.slice(0, 5)}`;
}

export function fmtAgo(ms, now = Date.now()) {
    if (!finite(ms))
        return '–';
    const s = Math.max(0, Math.round((now - ms) / 1000));
    if (s < 60)
        return `${s} s ago`;
    if (s < 3600)
        return `${Math.floor(s / 60)} min ago`;
    if (s < 86400)
        return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
}

/* "15m" -> 900 (seconds); null when it does not parse. */
export function durationSeconds(text) {
    const m = /^(\d+)(s|m|h|d)$/.exec(text || '');
    return m ? +m[1] * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]] : null;
}
