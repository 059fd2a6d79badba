// The collector's dashboard query API (collector/README.md, "Dashboard query API") and
// its live updates. A read token, when the collector wants one, comes from the page's
// fragment (#token=...): the fragment never leaves the browser, and the token goes out
// only as an Authorization header on fetches and as ?token= on the WebSocket URL.

let token = '';

export function setToken(t) {
    token = t || '';
}

export class ApiError extends Error {
    constructor(message, status = 0, field = null) {
        super(message);
        this.status = status;
        this.field = field;
    }
}

/* GETs path with the params that are set; resolves to the parsed JSON body. */
export async function get(path, params = {}) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params))
        if (v != null && v !== '')
            qs.set(k, v);
    const url = qs.toString() ? `${path}?${qs}` : path;
    let res;
    try {
        res = await fetch(url, {
            headers: token ? { Authorization: `Bearer ${token}` } : {},
            cache: 'no-store',
            credentials: 'same-origin',
        });
    } catch (e) {
        throw new ApiError(`${path}: the collector did not answer (${e.message})`);
    }
    const text = await res.text();
    let body = null;
    try {
        body = JSON.parse(text);
    } catch (e) {
        // not JSON: reported below
    }
    if (!res.ok) {
        const why = body && body.error ? body.error : text.trim().slice(0, 200) || res.statusText;
        const field = body && body.field ? ` (${body.field})` : '';
        const hint = res.status == 401 ? ' — add #token=... to the page address' : '';
        throw new ApiError(`${path}: ${res.status} ${why}${field}${hint}`, res.status,
                           body && body.field);
    }
    if (body == null || typeof body != 'object')
        throw new ApiError(`${path}: the answer is not a JSON object`, res.status);
    return body;
}

/* GETs path as text (for /metrics); null when it cannot be read. */
export async function getText(path) {
    try {
        const res = await fetch(path, {
            headers: token ? { Authorization: `Bearer ${token}` } : {},
            cache: 'no-store',
            credentials: 'same-origin',
        });
        return res.ok ? await res.text() : null;
    } catch (e) {
        return null;
    }
}

/*
 * The WebSocket at /v1/live (protocol "vigil-live"): subscribes to one app and calls
 * onMessage with each message; reconnects after a close with a backoff doubling from
 * 0.5 s to 15 s (with jitter), so that a page outlives a collector restart. onState
 * gets "connecting", "live" or "reconnecting" and the delay before the next attempt.
 */
export class Live {
    constructor({ onMessage, onState, onReopen }) {
        this.onMessage = onMessage;
        this.onState = onState;
        this.onReopen = onReopen;
        this.ws = null;
        this.app = null;
        this.timer = null;
        this.backoff = 500;
        this.opened = 0;        // sockets that reached "open"
        this.attempts = 0;
        this.stopped = true;
    }

    url() {
        const scheme = location.protocol == 'https:' ? 'wss:' : 'ws:';
        const q = token ? `?token=${encodeURIComponent(token)}` : '';
        return `${scheme}//${location.host}/v1/live${q}`;
    }

    /* (Re)subscribes to app on a fresh socket. */
    start(app) {
        this.stop();
        this.app = app;
        this.stopped = false;
        this.backoff = 500;
        this.open();
    }

    stop() {
        this.stopped = true;
        clearTimeout(this.timer);
        this.timer = null;
        const ws = this.ws;
        this.ws = null;
        if (ws && ws.readyState <= WebSocket.OPEN)
            ws.close(1000);
    }

    open() {
        this.timer = null;
        this.attempts++;
        this.onState('connecting');
        let ws;
        try {
            ws = new WebSocket(this.url(), 'vigil-live');
        } catch (e) {
            this.retry();
            return;
        }
        this.ws = ws;
        ws.onopen = () => {
            if (ws !== this.ws)
                return;
            this.backoff = 500;
            ws.send(JSON.stringify({ app: this.app }));
            this.onState('live');
            if (this.opened++ > 0 && this.onReopen)
                this.onReopen();   // updates may have been missed while away
        };
        ws.onmessage = (e) => {
            if (ws !== this.ws || typeof e.data != 'string')
                return;
            let m;
            try {
                m = JSON.parse(e.data);
            } catch (err) {
                return;
            }
            if (m && typeof m == 'object')
                this.onMessage(m);
        };
        ws.onerror = () => {};  // a close follows
        ws.onclose = () => {
            if (ws !== this.ws)
                return;
            this.ws = null;
            this.retry();
        };
    }

    retry() {
        if (this.stopped)
            return;
        const delay = Math.round(this.backoff * (0.8 + 0.4 * Math.random()));
        this.backoff = Math.min(this.backoff * 2, 15000);
        this.onState('reconnecting', delay);
        this.timer = setTimeout(() => this.open(), delay);
    }

    get connected() {
        return !!this.ws && this.ws.readyState == WebSocket.OPEN;
    }
}
