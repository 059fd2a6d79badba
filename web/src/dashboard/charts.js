// One uPlot chart per metric: baseline and canary over time, with the deployment markers
// drawn on the canvas as labelled vertical lines (a draw hook), so that a spike right
// after a marker is obvious at a glance.
import uPlot from 'uplot';
import { fmtCount, fmtTick, fmtTime, fmtValue, h, fill } from './format.js';

export const COLORS = { baseline: '#3b6fd4', canary: '#e3672b', marker: '#7b3fb8' };
const MARKER_ROWS = 3;   // rows of marker labels at the top of a chart, at most

/* Merges two point lists ([t, value, n]) on their times, for uPlot's aligned columns. */
export function align(bpts, cpts) {
    const times = [...new Set([...bpts, ...cpts].map((p) => p[0]))].sort((a, b) => a - b);
    const at = new Map(times.map((t, i) => [t, i]));
    const col = () => new Array(times.length).fill(null);
    const out = { x: times, y: [col(), col()], n: [col(), col()] };
    [bpts, cpts].forEach((pts, k) => {
        for (const [t, v, n] of pts) {
            out.y[k][at.get(t)] = typeof v == 'number' ? v : null;
            out.n[k][at.get(t)] = n ?? null;
        }
    });
    return out;
}

export class Chart {
    /* el: the .chart figure; markers(): the deployment markers to draw. */
    constructor(el, metric, markers) {
        this.el = el;
        this.metric = metric;
        this.markers = markers;
        this.plotEl = el.querySelector('.plot');
        this.summaryEl = el.querySelector('.chart-summary');
        this.u = null;
        this.labels = null;
        this.range = null;          // [from, to], Unix seconds: the query's window
        this.n = [[], []];
        this.points = { baseline: [], canary: [] };
        this.markersDrawn = [];     // versions of the markers drawn in the last pass
        this.labelBoxes = [];       // their labels, background and text: {label, x, y, w, h} in CSS px
        this.plotBox = null;        // the plot area (inside the axes), in CSS px
        new ResizeObserver(() => this.resize()).observe(this.plotEl);
    }

    width() {
        return Math.max(240, Math.floor(this.plotEl.clientWidth || 400));
    }

    resize() {
        if (this.u && Math.abs(this.u.width - this.width()) > 1)
            this.u.setSize({ width: this.width(), height: this.u.height });
    }

    create(labels) {
        if (this.u)
            this.u.destroy();
        this.labels = labels;
        const metric = this.metric;
        const series = (label, stroke) => ({ label, stroke, width: 2, spanGaps: true, points: { size: 6, fill: stroke } });
        this.u = new uPlot({
            width: this.width(),
            height: 190,
            cursor: { drag: { x: false, y: false } },
            // The line under the chart (summarize) stands for uPlot's legend: the latest
            // values, or the hovered bucket's.
            legend: { show: false },
            scales: {
                x: { time: true, range: (u) => this.xRange(u) },
                y: { range: (u, min, max) => [0, max > 0 ? max * 1.12 : (metric == 'CLS' ? 0.1 : metric == 'errors' ? 0.01 : 100)] },
            },
            series: [{}, series(labels[0], COLORS.baseline), series(labels[1], COLORS.canary)],
            axes: [
                { stroke: '#5b6470', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#d5d9df' } },
                { stroke: '#5b6470', size: 58, grid: { stroke: '#eef0f3' }, ticks: { stroke: '#d5d9df' },
                  values: (u, splits) => splits.map((v) => fmtTick(metric, v)) },
            ],
            hooks: {
                draw: [(u) => this.drawMarkers(u)],
                setCursor: [(u) => this.summarize(u.cursor.idx)],
            },
        }, [[], [], []], this.plotEl);
    }

    /* The x scale: the query's window, widened to the data if need be. From the data
     * itself: for a single point uPlot proposes a span of its own (about 1000 days). */
    xRange(u) {
        const xs = u.data[0] || [];
        const lo = xs.length ? xs[0] : null, hi = xs.length ? xs[xs.length - 1] : null;
        if (this.range) {
            const [a, b] = this.range;
            return [Math.min(a, lo ?? a), Math.max(b, hi ?? b)];
        }
        if (lo == null) {
            const now = Date.now() / 1000;
            return [now - 3600, now];
        }
        return lo == hi ? [lo - 300, hi + 300] : [lo, hi];
    }

    /* baseline, canary: /v1/series answers; labels: the two series' names. */
    set(baseline, canary, labels) {
        if (!this.u || this.labels[0] != labels[0] || this.labels[1] != labels[1])
            this.create(labels);
        const from = baseline.from ?? canary.from, to = baseline.to ?? canary.to;
        this.range = typeof from == 'number' && typeof to == 'number' && to > from ? [from, to] : null;
        this.points = { baseline: baseline.points || [], canary: canary.points || [] };
        const a = align(this.points.baseline, this.points.canary);
        this.n = a.n;
        this.u.setData([a.x, a.y[0], a.y[1]]);
        this.summarize(this.u.cursor.idx);
        this.el.dataset.points = String(a.x.length);
    }

    /* The line under the chart: each version's value at the hovered bucket (idx), or its
     * latest value, with the page views counted. */
    summarize(idx) {
        const labels = this.labels || ['baseline', 'canary'];
        const hovered = idx != null && this.u && this.u.data[0][idx] != null;
        const part = (k, pts, cls) => {
            let value, n;
            if (hovered) {
                value = this.u.data[k + 1][idx];
                n = this.n[k][idx];
            } else {
                const last = [...pts].reverse().find((p) => typeof p[1] == 'number');
                value = last ? last[1] : null;
                n = pts.reduce((s, p) => s + (p[2] || 0), 0);
            }
            return h('span', { class: `sum ${cls}`, dataset: hovered ? {} : { n: String(n), points: String(pts.length) } },
                     h('i', { class: 'swatch' }), `${labels[k]}: `,
                     h('b', null, value == null ? 'no data' : fmtValue(this.metric, value)),
                     value == null ? '' : hovered ? ` · n ${fmtCount(n)}` : ` latest · n ${fmtCount(n)} in range`);
        };
        fill(this.summaryEl, part(0, this.points.baseline, 'baseline'), part(1, this.points.canary, 'canary'),
             hovered ? h('span', { class: 'at' }, fmtTime(this.u.data[0][idx] * 1000)) : null);
    }

    redraw() {
        if (this.u)
            this.u.redraw(false, false);
    }

    /* The markers as dashed lines, each labelled at the top of the plot area. Labels never
     * overlap one another or leave the plot area (where the axes' ticks are): a label
     * that would goes a row down, and past MARKER_ROWS rows it is left out (the list
     * under the charts names every marker). labelBoxes keeps where they went, in CSS px. */
    drawMarkers(u) {
        const drawn = [], boxes = [];
        const list = this.markers();
        const { left, top, width, height } = u.bbox;
        const x0 = u.scales.x.min, x1 = u.scales.x.max;
        if (!list.length || x0 == null) {
            this.markersDrawn = drawn;
            this.labelBoxes = boxes;
            return;
        }
        const pr = window.devicePixelRatio || 1;
        const ctx = u.ctx;
        const rowH = 15 * pr, gap = 3 * pr;
        const rows = Math.max(1, Math.min(MARKER_ROWS, Math.floor((height - 4 * pr) / rowH)));
        const rowRight = [];   // the right edge of the last label placed in each row
        ctx.save();
        ctx.font = `${Math.round(11 * pr)}px system-ui, -apple-system, "Segoe UI", sans-serif`;
        ctx.textBaseline = 'top';
        ctx.textAlign = 'left';   // uPlot leaves the context as its last axis label set it
        const sorted = list.filter((m) => m.tsMs != null).sort((a, b) => a.tsMs - b.tsMs);
        for (const m of sorted) {
            const t = m.tsMs / 1000;
            if (t < x0 || t > x1)
                continue;
            const x = Math.round(u.valToPos(t, 'x', true));
            ctx.strokeStyle = COLORS.marker;
            ctx.lineWidth = Math.max(1, Math.round(1.5 * pr));
            ctx.setLineDash([5 * pr, 3 * pr]);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            drawn.push(m.version);
            const label = `${m.version}${m.stage ? ` ${m.stage}` : ''}`;
            const w = ctx.measureText(label).width + 8 * pr;
            if (w > width)
                continue;
            // Right of the line, else left of it, and always inside the plot area.
            let lx = x + 3 * pr;
            if (lx + w > left + width)
                lx = x - 3 * pr - w;
            lx = Math.max(left, Math.min(lx, left + width - w));
            let row = rowRight.findIndex((r) => lx >= r + gap);
            if (row < 0)
                row = rowRight.length;
            if (row >= rows)
                continue;
            rowRight[row] = lx + w;
            const ly = top + 2 * pr + row * rowH;
            ctx.setLineDash([]);
            ctx.fillStyle = 'rgba(255,255,255,0.88)';
            ctx.fillRect(lx, ly, w, 14 * pr);
            ctx.fillStyle = COLORS.marker;
            ctx.fillText(label, lx + 4 * pr, ly + 2 * pr);
            // Where the text itself went, as the context measures it (its alignment included).
            const ink = ctx.measureText(label);
            const tx = lx + 4 * pr - ink.actualBoundingBoxLeft;
            boxes.push({ label, x: Math.min(lx, tx) / pr, y: ly / pr, h: 14,
                         w: (Math.max(lx + w, lx + 4 * pr + ink.actualBoundingBoxRight) - Math.min(lx, tx)) / pr });
        }
        ctx.restore();
        this.markersDrawn = drawn;
        this.labelBoxes = boxes;
        this.plotBox = { x: left / pr, y: top / pr, w: width / pr, h: height / pr };
        this.el.dataset.markers = String(drawn.length);
        this.el.dataset.labels = String(boxes.length);
    }
}
