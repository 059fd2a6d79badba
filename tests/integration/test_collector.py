#!/usr/bin/env python3
"""Integration tests of bin/collector (see collector/README.md), over real HTTP on loopback.

Every expectation comes from collector/README.md (and the classifier contract that it
points to in shared/uaclass.h), never from the collector's C code. Each collector runs on
an ephemeral port of 127.0.0.1 (--listen 127.0.0.1:0 --port-file) with its own temporary
database; the SQLite file is read with Python's sqlite3 module to see what was stored.
Prints TAP-style `ok - ...` / `not ok - ...` lines; exits 1 when any check failed.
"""

import http.client
import itertools
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, run_group, tempdir  # noqa: E402
from harness import COLLECTOR, Collector, _all_collectors, request  # noqa: E402

# Generous per-client limits for every collector that is not about rate limiting:
# all test traffic comes from 127.0.0.1, one client for the limiter.
FAST = ["--rate", "1000000", "--burst", "1000000"]
SHOP_ORIGIN = "https://shop.example.com"
EVIL_ORIGIN = "https://evil.example"
LIMIT = 64 * 1024
UA_CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                 "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
UA_CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                     "(KHTML, like Gecko) Chrome/125.0.6422.113 Mobile Safari/537.36")
UA_SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
UA_HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "HeadlessChrome/126.0.0.0 Safari/537.36")
UA_GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


# ---------------------------------------------------------------- HTTP helpers

def post(port, payload, ctype="application/json", headers=None, timeout=10, conn=None):
    """POST /v1/rum; payload is an object (dumped as JSON), a str or bytes."""
    h = {}
    if ctype is not None:
        h["Content-Type"] = ctype
    h.update(headers or {})
    body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return request(port, "POST", "/v1/rum", body=body, headers=h, timeout=timeout, conn=conn)


def new_id(prefix="v5"):
    return "%s-%d-%s" % (prefix, int(time.time() * 1000), secrets.token_hex(6))


def metric(name="LCP", value=1234.5, mid=None, rating="good"):
    return {"type": "metric", "name": name, "value": value, "rating": rating, "id": mid or new_id()}


def error_event(message, stack="at f (app.js:10:4)", source="app.js", line=10, col=4):
    return {"type": "error", "message": message, "source": source, "line": line, "col": col,
            "stack": stack, "kind": "error"}


def beacon(app, version="1.0.0", pv=None, events=None, **extra):
    b = {"app": app, "version": version, "session": "s-" + secrets.token_hex(6),
         "pv": pv or new_id(), "page": "/p", "nav": "navigate", "ts": int(time.time() * 1000),
         "events": events if events is not None else [metric()]}
    b.update(extra)
    return b


def db_rows(db, sql, params=()):
    conn = sqlite3.connect(db, timeout=10)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def db_count(db, sql, params=()):
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def pv_count(db, app, pv):
    return db_count(db, "SELECT count(*) FROM pageviews WHERE app=? AND pv=?", (app, pv))


def mid_count(db, app, mid):
    return db_count(db, "SELECT count(*) FROM metrics WHERE app=? AND mid=?", (app, mid))


def app_rows(db, table, app):
    return db_count(db, "SELECT count(*) FROM %s WHERE app=?" % table, (app,))


# ---------------------------------------------------------------- Prometheus text

_PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+\S+)?$')
_PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prom(text):
    """[(name, {labels}, value)] of the sample lines; unparseable lines are listed apart."""
    samples, bad = [], []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _PROM_LINE.match(line.strip())
        if not m:
            bad.append(line)
            continue
        labels = dict(_PROM_LABEL.findall(m.group(2) or ""))
        try:
            value = float(m.group(3))
        except ValueError:
            bad.append(line)
            continue
        samples.append((m.group(1), labels, value))
    return samples, bad


def prom_value(samples, name, **labels):
    """Sum of the samples of name whose labels include labels; None when there is none."""
    vals = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    return sum(vals) if vals else None


def scrape(port):
    r = request(port, "GET", "/metrics", timeout=10)
    samples, _ = parse_prom(r.body.decode("utf-8", "replace"))
    return r, samples


# ---------------------------------------------------------------- raw sockets

def raw_connect(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _parse_one(buf, eof):
    """One response at the start of buf: ((status, headers, body), rest) or (None, buf)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, buf
    head = buf[:end].decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        status = None
    headers = {}
    for line in head[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    rest = buf[end + 4:]
    info = (head[0], status, headers)
    if status is not None and (status in (204, 304) or 100 <= status < 200):
        return (info, b""), rest
    if "content-length" in headers:
        n = int(headers["content-length"])
        if len(rest) < n:
            return None, buf
        return (info, rest[:n]), rest[n:]
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, pos = b"", 0
        while True:
            nl = rest.find(b"\r\n", pos)
            if nl < 0:
                return None, buf
            size = int(rest[pos:nl].split(b";")[0] or b"0", 16)
            if len(rest) < nl + 2 + size + 2:
                return None, buf
            if size == 0:
                tail = rest.find(b"\r\n", nl + 2)
                if tail < 0:
                    return None, buf
                return (info, body), rest[tail + 2:]
            body += rest[nl + 2:nl + 2 + size]
            pos = nl + 2 + size + 2
    if eof:
        return (info, rest), b""
    return None, buf


def read_responses(sock, n, timeout):
    """Up to n HTTP responses from sock within timeout: (list of (status line, status,
    headers, body), eof seen, error text or None)."""
    deadline = time.monotonic() + timeout
    buf, out, eof, err = b"", [], False, None
    while len(out) < n:
        while len(out) < n:
            one, buf = _parse_one(buf, eof)
            if one is None:
                break
            (line, status, headers), body = one
            out.append((line, status, headers, body))
        if len(out) >= n or eof:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            err = "timed out after %.1fs" % timeout
            break
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            err = "timed out after %.1fs" % timeout
            break
        except OSError as exc:
            err = "%s: %s" % (type(exc).__name__, exc)
            break
        if not data:
            eof = True
        buf += data
    return out, eof, err


def wait_eof(sock, timeout):
    """True when the peer closes (EOF or reset) within timeout; extra bytes are ignored."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except OSError:
            return True


def raw_post_bytes(body, ctype="application/json", extra=""):
    return (("POST /v1/rum HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
             "Content-Length: %d\r\n%s\r\n") % (ctype, len(body), extra)).encode() + body


def healthz_ok(port, timeout=2):
    try:
        r = request(port, "GET", "/healthz", timeout=timeout)
        return r.status == 200, r.brief()
    except Exception as exc:
        return False, "%s: %s" % (type(exc).__name__, exc)


# ---------------------------------------------------------------- concurrent posting

class Poster:
    """threads posting beacons with distinct pv ids over keep-alive connections;
    acked holds every pv answered 204."""

    def __init__(self, port, app, total, threads=8, timeout=5):
        self.port, self.app, self.total, self.timeout = port, app, total, timeout
        self.lock = threading.Lock()
        self.counter = itertools.count()
        self.acked = []
        self.statuses = {}
        self.errors = []
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        self.prefix = "pv-%s-" % secrets.token_hex(4)

    def start(self):
        for t in self.threads:
            t.start()

    def _next(self):
        with self.lock:
            i = next(self.counter)
        return None if i >= self.total else "%s%05d" % (self.prefix, i)

    def _run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            while not self.stop_event.is_set():
                pv = self._next()
                if pv is None:
                    return
                b = beacon(self.app, pv=pv, events=[metric("LCP", 1000, mid="m-" + pv)])
                try:
                    r = post(self.port, b, conn=conn)
                except Exception as exc:
                    with self.lock:
                        self.errors.append("%s: %s" % (type(exc).__name__, exc))
                    return
                with self.lock:
                    self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                    if r.status == 204:
                        self.acked.append(pv)
                if r.status != 204:
                    return
        finally:
            conn.close()

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def join(self, timeout=15):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)


def missing_or_duplicated(db, app, pvs):
    """pvs not stored exactly once in pageviews, and pvs whose metric is not stored."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        counts = dict(conn.execute("SELECT pv, count(*) FROM pageviews WHERE app=? GROUP BY pv", (app,)))
        mids = dict(conn.execute("SELECT mid, count(*) FROM metrics WHERE app=? GROUP BY mid", (app,)))
    finally:
        conn.close()
    bad_pv = [(pv, counts.get(pv, 0)) for pv in pvs if counts.get(pv, 0) != 1]
    bad_metric = [pv for pv in pvs if mids.get("m-" + pv, 0) != 1]
    return bad_pv, bad_metric


# ================================================================ tests

def test_valid_beacons(c):
    """1. 204 for valid beacons; rows in pageviews/metrics/errors; error_groups counts."""
    app = "shop-valid"
    before_ms = int(time.time() * 1000)

    b1 = beacon(app, version="1.2.3", events=[metric("LCP", 2310.5), error_event("single text")])
    r = post(c.port, b1, ctype="text/plain")
    check("text/plain single beacon: 204", r.status == 204, r.brief())
    check("text/plain single beacon: 204 has an empty body", r.body == b"", r.brief())
    check("text/plain single beacon: one pageviews row", pv_count(c.db, app, b1["pv"]) == 1)
    check("text/plain single beacon: metric row stored (mid, name, value)",
          db_rows(c.db, "SELECT name, value, version FROM metrics WHERE app=? AND mid=?",
                  (app, b1["events"][0]["id"])) == [{"name": "LCP", "value": 2310.5, "version": "1.2.3"}],
          db_rows(c.db, "SELECT * FROM metrics WHERE app=?", (app,)))
    errs = db_rows(c.db, "SELECT message, source, line, col, kind FROM errors WHERE app=? AND message=?",
                   (app, "single text"))
    check("text/plain single beacon: errors row stored with source, line, col, kind",
          errs == [{"message": "single text", "source": "app.js", "line": 10, "col": 4, "kind": "error"}],
          errs)

    b2 = beacon(app, events=[metric("INP", 180, rating="good")])
    r = post(c.port, b2, ctype="application/json")
    check("application/json single beacon: 204", r.status == 204, r.brief())
    check("application/json single beacon: stored",
          pv_count(c.db, app, b2["pv"]) == 1 and mid_count(c.db, app, b2["events"][0]["id"]) == 1)

    b3 = beacon(app)
    r = post(c.port, b3, ctype="text/plain;charset=UTF-8")
    check("text/plain;charset=UTF-8 (what sendBeacon sends): 204 and stored",
          r.status == 204 and pv_count(c.db, app, b3["pv"]) == 1, r.brief())

    b4 = beacon(app)
    r = post(c.port, b4, ctype=None)
    check("no Content-Type is taken as text: 204 and stored",
          r.status == 204 and pv_count(c.db, app, b4["pv"]) == 1, r.brief())

    arr = [beacon(app, events=[metric("CLS", 0.05 * (i + 1)), metric("ttfb_custom.x", 12 + i)])
           for i in range(3)]
    r = post(c.port, arr, ctype="application/json")
    check("array of 3 beacons: 204", r.status == 204, r.brief())
    check("array of 3 beacons: 3 pageviews rows",
          all(pv_count(c.db, app, b["pv"]) == 1 for b in arr),
          [pv_count(c.db, app, b["pv"]) for b in arr])
    check("array of 3 beacons: 6 metrics rows (custom metric name too)",
          all(mid_count(c.db, app, e["id"]) == 1 for b in arr for e in b["events"]))
    after_ms = int(time.time() * 1000)

    # the README's example beacon, as written there (fresh ids)
    ex_pv = new_id()
    example = {"app": app, "version": "1.2.3", "session": "k3j2abc", "pv": ex_pv,
               "page": "/checkout", "nav": "navigate", "ts": 1764300000123,
               "events": [
                   {"type": "metric", "name": "LCP", "value": 2310.5, "rating": "needs-improvement",
                    "id": ex_pv, "delta": 2310.5, "attribution": {"target": "img.hero"}},
                   {"type": "error", "message": "TypeError: x is undefined", "source": "app.js",
                    "line": 10, "col": 4, "stack": "...", "kind": "error"}],
               "ctx": {"conn": "4g", "device": "mobile", "viewport": "390x844", "dpr": 3},
               "attrs": {"tier": "gold"}}
    r = post(c.port, example, ctype="text/plain")
    check("the README's example beacon: 204", r.status == 204, r.brief())
    rows = db_rows(c.db, "SELECT * FROM pageviews WHERE app=? AND pv=?", (app, ex_pv))
    ok = len(rows) == 1
    row = rows[0] if ok else {}
    check("README example: pageview stores page, nav, session, conn, device_hint, viewport, dpr",
          ok and row.get("page") == "/checkout" and row.get("nav") == "navigate"
          and row.get("session") == "k3j2abc" and row.get("conn") == "4g"
          and row.get("device_hint") == "mobile" and row.get("viewport") == "390x844"
          and row.get("dpr") == 3, row)
    try:
        attrs = json.loads(row.get("attrs") or "null")
    except ValueError:
        attrs = row.get("attrs")
    check("README example: pageview attrs stored as JSON", attrs == {"tier": "gold"}, row.get("attrs"))
    mrow = db_rows(c.db, "SELECT rating, attribution FROM metrics WHERE app=? AND mid=?", (app, ex_pv))
    try:
        attribution = json.loads(mrow[0]["attribution"]) if mrow else None
    except (ValueError, TypeError):
        attribution = None
    check("README example: metric rating and attribution (JSON) stored",
          len(mrow) == 1 and mrow[0]["rating"] == "needs-improvement"
          and attribution == {"target": "img.hero"}, mrow)

    rec = db_rows(c.db, "SELECT received FROM pageviews WHERE app=? AND pv=?", (app, b1["pv"]))
    check("pageviews.received is the server clock in ms",
          len(rec) == 1 and isinstance(rec[0]["received"], int)
          and before_ms - 1000 <= rec[0]["received"] <= after_ms + 1000, (rec, before_ms, after_ms))

    # error_groups: fingerprint over app, message and the first five stack lines,
    # every run of digits written as 0
    eapp = "errapp"
    stack_a = "Error: boom 17\n at a (app.js:10:4)\n at b (app.js:20:8)\n at c\n at d\n at e (x.js:1:1)"
    stack_b = "Error: boom 42\n at a (app.js:11:5)\n at b (app.js:29:9)\n at c\n at d\n at e (y.js:999:1)"
    e1 = beacon(eapp, events=[error_event("Boom 123", stack_a), error_event("Other error", "at z")])
    e2 = beacon(eapp, events=[error_event("Boom 456", stack_b)])
    e3 = beacon(eapp, events=[error_event("Boom 789", stack_a.replace("10:4", "777:3"))])
    statuses = [post(c.port, b).status for b in (e1, e2, e3)]
    check("error beacons: 204 each", statuses == [204, 204, 204], statuses)
    check("errors: one row per error event (4)", app_rows(c.db, "errors", eapp) == 4,
          app_rows(c.db, "errors", eapp))
    groups = db_rows(c.db, "SELECT fingerprint, message, count FROM error_groups WHERE app=?", (eapp,))
    counts = sorted(g["count"] for g in groups)
    check("error_groups: digits and stack lines past the fifth do not split a group (counts 3 and 1)",
          counts == [1, 3], groups)
    fps = db_rows(c.db, "SELECT DISTINCT e.fingerprint FROM errors e WHERE e.app=?", (eapp,))
    check("errors.fingerprint matches error_groups.fingerprint",
          sorted(f["fingerprint"] for f in fps) == sorted(g["fingerprint"] for g in groups), (fps, groups))


def test_bad_requests(c):
    """2. 400s (malformed, schema, empty); 4. 415; 5. 404 and 405."""
    app = "shop-bad"

    def error_of(r):
        j = r.json()
        return j if isinstance(j, dict) else {}

    r = post(c.port, '{"app": "x", "version": ', ctype="application/json")
    j = error_of(r)
    check("malformed JSON: 400", r.status == 400, r.brief())
    check("malformed JSON: JSON body with a non-empty \"error\"",
          isinstance(j.get("error"), str) and j["error"] != "", r.brief())
    check("malformed JSON: content-type is JSON", "json" in (r.header("content-type") or ""), r.brief())

    r = post(c.port, "", ctype="text/plain")
    check("empty body: 400 with an \"error\"", r.status == 400 and "error" in error_of(r), r.brief())

    b = beacon(app)
    del b["version"]
    r = post(c.port, b)
    j = error_of(r)
    check("missing version: 400 with field \"version\"", r.status == 400 and j.get("field") == "version",
          r.brief())
    check("missing version: nothing stored", pv_count(c.db, app, b["pv"]) == 0)

    b = beacon(app, events=[metric("LCP", 100), metric("FCP", -1)])
    r = post(c.port, b)
    j = error_of(r)
    check("events[1].value negative: 400 with field \"events[1].value\"",
          r.status == 400 and j.get("field") == "events[1].value", r.brief())
    check("events[1].value negative: nothing of the beacon stored (not even events[0])",
          pv_count(c.db, app, b["pv"]) == 0 and mid_count(c.db, app, b["events"][0]["id"]) == 0)

    b = beacon(app, colour="red")
    r = post(c.port, b)
    j = error_of(r)
    check("unknown top-level field: 400 naming it (field \"colour\")",
          r.status == 400 and j.get("field") == "colour", r.brief())

    b = beacon(app, events=[dict(metric("LCP", 5), bogus=1)])
    r = post(c.port, b)
    j = error_of(r)
    check("unknown field in an event: 400 with field \"events[0].bogus\"",
          r.status == 400 and j.get("field") == "events[0].bogus", r.brief())

    b = beacon(app, ctx={"conn": "4g", "colour": "x"})
    r = post(c.port, b)
    j = error_of(r)
    check("unknown field in ctx: 400 with field \"ctx.colour\"",
          r.status == 400 and j.get("field") == "ctx.colour", r.brief())

    b = beacon(app, events=[metric("LCP", 600001)])
    r = post(c.port, b)
    j = error_of(r)
    check("LCP over 600000: 400 with field \"events[0].value\"",
          r.status == 400 and j.get("field") == "events[0].value", r.brief())

    first = beacon(app)
    second = beacon(app)
    del second["app"]
    r = post(c.port, [first, second])
    j = error_of(r)
    field = j.get("field") or ""
    check("array, second beacon bad: 400 with field starting \"[1].\"",
          r.status == 400 and field.startswith("[1]."), r.brief())
    check("array, second beacon bad: field is \"[1].app\"", field == "[1].app", r.brief())
    check("array, second beacon bad: nothing from the first beacon stored",
          pv_count(c.db, app, first["pv"]) == 0 and mid_count(c.db, app, first["events"][0]["id"]) == 0)

    r = post(c.port, [])
    check("empty array: 400", r.status == 400, r.brief())
    r = post(c.port, [beacon(app) for _ in range(51)])
    check("array of 51 beacons: 400", r.status == 400, r.brief())
    check("nothing at all stored for the bad requests", app_rows(c.db, "pageviews", app) == 0,
          app_rows(c.db, "pageviews", app))

    # 415
    b = beacon(app)
    r = post(c.port, "payload=" + json.dumps(b), ctype="application/x-www-form-urlencoded")
    check("Content-Type application/x-www-form-urlencoded: 415 with a JSON error",
          r.status == 415 and "error" in error_of(r), r.brief())
    b = beacon(app)
    r = post(c.port, b, ctype="application/x-www-form-urlencoded")
    check("form-urlencoded with a valid beacon body: 415, not stored",
          r.status == 415 and pv_count(c.db, app, b["pv"]) == 0, r.brief())

    # 404, 405
    r = request(c.port, "GET", "/nope")
    check("GET unknown path: 404 with a JSON error", r.status == 404 and "error" in error_of(r), r.brief())
    r = request(c.port, "POST", "/v1/other", body=json.dumps(beacon(app)),
                headers={"Content-Type": "application/json"})
    check("POST unknown path: 404", r.status == 404, r.brief())
    r = request(c.port, "GET", "/v1/rum")
    check("GET /v1/rum: 405 with a JSON error", r.status == 405 and "error" in error_of(r), r.brief())
    r = request(c.port, "PUT", "/v1/rum", body=json.dumps(beacon(app)),
                headers={"Content-Type": "application/json"})
    check("PUT /v1/rum: 405", r.status == 405, r.brief())


def test_body_limits(c):
    """3. 64 KiB limit: exactly 64 KiB accepted, Content-Length over it 413 at once and closed,
    chunked over it 413 and nothing stored."""
    app = "shop-size"

    def padded(b, size):
        raw = json.dumps(b).encode()
        return raw + b" " * (size - len(raw))

    b = beacon(app)
    r = post(c.port, padded(b, LIMIT))
    check("body of exactly 64 KiB (JSON + whitespace): 204 and stored",
          r.status == 204 and pv_count(c.db, app, b["pv"]) == 1, r.brief())

    # Content-Length over the limit: answered at once (headers only sent), connection closed
    b = beacon(app)
    body = padded(b, LIMIT + 1)
    s = raw_connect(c.port)
    try:
        head = ("POST /v1/rum HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % len(body)).encode()
        s.sendall(head)
        out, eof, err = read_responses(s, 1, 2)
        check("Content-Length 64 KiB + 1, headers only: 413 at once, without waiting for the body",
              bool(out) and out[0][1] == 413, "no answer within 2 s (responses %r eof %s err %s)"
              % (out, eof, err))
        if not out and not eof:
            # not answered at once: send the body, then see what comes
            try:
                s.sendall(body)
            except OSError as exc:
                diag("sending the declared body failed: %s" % exc)
            out, eof, err = read_responses(s, 1, 2)
            diag("after sending the whole declared body: %s" % ([o[0] for o in out] or err))
        if out:
            try:
                j = json.loads(out[0][3])
            except ValueError:
                j = None
            check("413 body is JSON with \"error\"", out[0][1] == 413 and isinstance(j, dict) and "error" in j,
                  out[0])
        t0 = time.monotonic()
        closed = eof or wait_eof(s, 2)
        check("413 for a declared Content-Length: the connection is closed right after the answer",
              bool(out) and closed and time.monotonic() - t0 <= 1.0,
              "answer %s, closed %s after %.1fs" % ([o[0] for o in out], closed, time.monotonic() - t0))
    finally:
        s.close()
    check("413 (Content-Length): nothing stored", pv_count(c.db, app, b["pv"]) == 0)

    # same, but sending the whole body at once with http.client
    b = beacon(app)
    try:
        r = post(c.port, padded(b, 100 * 1024))
        status = r.status
    except (BrokenPipeError, ConnectionResetError) as exc:
        status = "%s" % type(exc).__name__
    check("100 KiB body with Content-Length via http.client: 413 (or closed while sending)",
          status in (413, "BrokenPipeError", "ConnectionResetError"), status)
    check("100 KiB body: nothing stored", pv_count(c.db, app, b["pv"]) == 0)

    # chunked, valid and small: accepted
    b = beacon(app)
    raw = json.dumps(b).encode()
    s = raw_connect(c.port)
    try:
        msg = (b"POST /v1/rum HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        half = len(raw) // 2
        for part in (raw[:half], raw[half:]):
            msg += b"%x\r\n" % len(part) + part + b"\r\n"
        msg += b"0\r\n\r\n"
        s.sendall(msg)
        out, eof, err = read_responses(s, 1, 5)
    finally:
        s.close()
    # README: lws 4.1 cannot decode chunked request bodies, so they are refused with 411
    # at once (never read as the next request) and nothing is stored.
    check("chunked body under the limit: 411 Length Required",
          bool(out) and out[0][1] == 411, "responses %r err %s" % (out, err))
    check("chunked body under the limit: nothing stored", pv_count(c.db, app, b["pv"]) == 0)

    # chunked over the limit: 413, nothing stored
    b = beacon(app)
    raw = padded(b, LIMIT + 8 * 1024)
    s = raw_connect(c.port)
    out, eof, err, send_err = [], False, None, None
    try:
        s.sendall(b"POST /v1/rum HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        step = 8192
        answered = False
        for i in range(0, len(raw), step):
            part = raw[i:i + step]
            try:
                s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            except OSError as exc:
                send_err = "%s: %s" % (type(exc).__name__, exc)
                break
            # stop sending once the server answered
            s.settimeout(0.05)
            try:
                peek = s.recv(65536, socket.MSG_PEEK)
                if peek:
                    answered = True
                    break
            except (socket.timeout, BlockingIOError):
                pass
            except OSError as exc:
                send_err = "%s: %s" % (type(exc).__name__, exc)
                break
        if not answered and send_err is None:
            try:
                s.sendall(b"0\r\n\r\n")
            except OSError as exc:
                send_err = "%s: %s" % (type(exc).__name__, exc)
        out, eof, err = read_responses(s, 1, 5)
    finally:
        s.close()
    check("chunked body over 64 KiB: 411 at once", bool(out) and out[0][1] == 411,
          "responses %r eof %s err %s send %s" % (out, eof, err, send_err))
    time.sleep(0.2)
    check("chunked body over 64 KiB: nothing stored", pv_count(c.db, app, b["pv"]) == 0)


def test_cors(c):
    """6. CORS with --allow-origin https://shop.example.com."""
    app = "shop-cors"
    pre = {"Origin": SHOP_ORIGIN, "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type"}
    r = request(c.port, "OPTIONS", "/v1/rum", headers=pre)
    check("preflight from the allowed origin: 204", r.status == 204, r.brief())
    check("preflight: Access-Control-Allow-Origin echoes the origin",
          r.header("access-control-allow-origin") == SHOP_ORIGIN, r.brief())
    methods = [m.strip().upper() for m in (r.header("access-control-allow-methods") or "").split(",")]
    check("preflight: Access-Control-Allow-Methods contains POST", "POST" in methods, r.brief())
    hdrs = [h.strip().lower() for h in (r.header("access-control-allow-headers") or "").split(",")]
    check("preflight: Access-Control-Allow-Headers contains content-type", "content-type" in hdrs, r.brief())
    check("preflight: Access-Control-Max-Age 86400", r.header("access-control-max-age") == "86400", r.brief())
    check("preflight: Vary: Origin", "origin" in (r.header("vary") or "").lower(), r.brief())

    r = request(c.port, "OPTIONS", "/v1/rum", headers=dict(pre, Origin=EVIL_ORIGIN))
    check("preflight from https://evil.example: 403", r.status == 403, r.brief())
    check("preflight from evil: origin not echoed",
          r.header("access-control-allow-origin") not in (EVIL_ORIGIN, "*"), r.brief())

    b = beacon(app)
    r = post(c.port, b, headers={"Origin": EVIL_ORIGIN})
    check("POST with Origin https://evil.example: 403", r.status == 403, r.brief())
    check("POST with a disallowed Origin: nothing stored", pv_count(c.db, app, b["pv"]) == 0)

    b = beacon(app)
    r = post(c.port, b, ctype="text/plain", headers={"Origin": SHOP_ORIGIN})
    check("POST with the allowed Origin: 204 with Access-Control-Allow-Origin echoed",
          r.status == 204 and r.header("access-control-allow-origin") == SHOP_ORIGIN, r.brief())
    check("POST with the allowed Origin: Vary: Origin", "origin" in (r.header("vary") or "").lower(),
          r.brief())
    check("POST with the allowed Origin: stored", pv_count(c.db, app, b["pv"]) == 1)

    r = post(c.port, "{bad", headers={"Origin": SHOP_ORIGIN})
    check("400 for the allowed Origin still carries Access-Control-Allow-Origin",
          r.status == 400 and r.header("access-control-allow-origin") == SHOP_ORIGIN, r.brief())

    b = beacon(app)
    r = post(c.port, b)
    check("POST without Origin: 204 and stored", r.status == 204 and pv_count(c.db, app, b["pv"]) == 1,
          r.brief())


def test_rate_limits():
    """7. --rate 1 --burst 3, and X-Forwarded-For with and without --trust-proxy."""
    app = "shop-rate"
    c = Collector(["--rate", "1", "--burst", "3"], name="rate collector")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
        try:
            statuses = [post(c.port, beacon(app), conn=conn).status for _ in range(3)]
            r4 = post(c.port, beacon(app), conn=conn)
        finally:
            conn.close()
        check("--rate 1 --burst 3: 3 quick POSTs pass (204)", statuses == [204] * 3, statuses)
        check("--rate 1 --burst 3: the 4th POST gets 429", r4.status == 429, r4.brief())
        ra = r4.header("retry-after") or ""
        check("429 has Retry-After >= 1 (whole seconds)", ra.isdigit() and int(ra) >= 1, r4.brief())
        j = r4.json()
        check("429 body is JSON with \"error\"", isinstance(j, dict) and "error" in j, r4.brief())
        r5 = post(c.port, beacon(app), headers={"X-Forwarded-For": "203.0.113.9"})
        check("without --trust-proxy, X-Forwarded-For is ignored (same bucket: 429)", r5.status == 429,
              r5.brief())
        _, samples = scrape(c.port)
        v = prom_value(samples, "vigil_beacon_requests_rejected_total", reason="rate_limited")
        check("/metrics counts rejected{reason=\"rate_limited\"} (2)", v == 2, v)
        check("the rate-limited beacons were not stored (3 pageviews)",
              app_rows(c.db, "pageviews", app) == 3, app_rows(c.db, "pageviews", app))
    finally:
        c.stop()

    # fresh one: three different XFF values share the peer's bucket
    c = Collector(["--rate", "1", "--burst", "3"], name="rate collector (xff ignored)")
    try:
        statuses = [post(c.port, beacon(app), headers={"X-Forwarded-For": "203.0.113.%d" % (20 + i)}).status
                    for i in range(4)]
        check("without --trust-proxy: 4 POSTs with 4 different X-Forwarded-For: 204 x3 then 429",
              statuses == [204, 204, 204, 429], statuses)
    finally:
        c.stop()

    c = Collector(["--rate", "1", "--burst", "3", "--trust-proxy", "127.0.0.1/32"],
                  name="rate collector (trust proxy)")
    try:
        seven = {"X-Forwarded-For": "203.0.113.7"}
        eight = {"X-Forwarded-For": "203.0.113.8"}
        s7 = [post(c.port, beacon(app), headers=seven).status for _ in range(4)]
        s8 = [post(c.port, beacon(app), headers=eight).status for _ in range(4)]
        check("--trust-proxy 127.0.0.1/32: X-Forwarded-For 203.0.113.7 gets 204 x3 then 429",
              s7 == [204, 204, 204, 429], s7)
        check("--trust-proxy 127.0.0.1/32: 203.0.113.8 has its own bucket (204 x3 then 429)",
              s8 == [204, 204, 204, 429], s8)
        chain = {"X-Forwarded-For": "203.0.113.7, 127.0.0.1"}
        r = post(c.port, beacon(app), headers=chain)
        check("X-Forwarded-For \"203.0.113.7, 127.0.0.1\": the right-most untrusted address "
              "(203.0.113.7, already limited) is the client: 429", r.status == 429, r.brief())
        r = post(c.port, beacon(app), headers={"X-Forwarded-For": "203.0.113.9, 127.0.0.1"})
        check("X-Forwarded-For \"203.0.113.9, 127.0.0.1\": client 203.0.113.9, a fresh bucket (204)",
              r.status == 204, r.brief())
        r = post(c.port, beacon(app))
        check("--trust-proxy: the peer without X-Forwarded-For is yet another bucket (204)",
              r.status == 204, r.brief())
    finally:
        c.stop()


def test_dedupe_and_ua(c):
    """8. metric and page-view dedupe; 9. bots and the UA classifier; 10. country (without the option)."""
    app = "shop-dedupe"
    pv, mid = new_id(), new_id("m")
    r1 = post(c.port, beacon(app, pv=pv, events=[metric("LCP", 1000, mid=mid)]))
    r2 = post(c.port, beacon(app, pv=pv, events=[metric("LCP", 1500, mid=mid)]))
    check("dedupe: both beacons 204", (r1.status, r2.status) == (204, 204), (r1.brief(), r2.brief()))
    rows = db_rows(c.db, "SELECT value FROM metrics WHERE app=? AND mid=?", (app, mid))
    check("dedupe: same app + metric id -> one metrics row with the latest value 1500",
          rows == [{"value": 1500}] or rows == [{"value": 1500.0}], rows)
    check("dedupe: same app + pv -> one pageviews row", pv_count(c.db, app, pv) == 1,
          pv_count(c.db, app, pv))
    other = beacon("shop-dedupe-other", pv=pv, events=[metric("LCP", 700, mid=mid)])
    r = post(c.port, other)
    check("same pv and metric id under another app: a separate page view and metric",
          r.status == 204 and pv_count(c.db, "shop-dedupe-other", pv) == 1
          and mid_count(c.db, "shop-dedupe-other", mid) == 1 and pv_count(c.db, app, pv) == 1
          and db_rows(c.db, "SELECT value FROM metrics WHERE app=? AND mid=?", (app, mid)) == rows,
          r.brief())

    # bots
    app = "shop-ua"
    _, samples = scrape(c.port)
    bots_before = prom_value(samples, "vigil_beacon_requests_bot_dropped_total")
    b = beacon(app)
    r = post(c.port, b, headers={"User-Agent": UA_GOOGLEBOT})
    check("Googlebot: 204", r.status == 204, r.brief())
    check("Googlebot: nothing stored",
          pv_count(c.db, app, b["pv"]) == 0 and mid_count(c.db, app, b["events"][0]["id"]) == 0)
    _, samples = scrape(c.port)
    bots_after = prom_value(samples, "vigil_beacon_requests_bot_dropped_total")
    check("Googlebot: vigil_beacon_requests_bot_dropped_total goes up by 1",
          bots_before is not None and bots_after == bots_before + 1, (bots_before, bots_after))
    b = beacon(app)
    r = post(c.port, b, headers={"User-Agent": "curl/8.5.0"})
    check("curl/8.5.0 is a bot: 204, nothing stored",
          r.status == 204 and pv_count(c.db, app, b["pv"]) == 0, r.brief())

    cases = [
        ("Chrome on Windows", UA_CHROME_WIN, ("Chrome", 124, "Windows", "desktop")),
        ("Chrome on Android phone", UA_CHROME_ANDROID, ("Chrome", 125, "Android", "mobile")),
        ("Safari on iPhone", UA_SAFARI_IPHONE, ("Safari", 17, "iOS", "mobile")),
        ("HeadlessChrome (kept, labelled)", UA_HEADLESS, ("HeadlessChrome", 126, "Linux", "desktop")),
        ("no User-Agent", None, ("Other", 0, "Other", "desktop")),
    ]
    for label, ua, want in cases:
        b = beacon(app)
        r = post(c.port, b, headers={"User-Agent": ua} if ua else {})
        rows = db_rows(c.db, "SELECT browser, browser_major, os, device FROM pageviews WHERE app=? AND pv=?",
                       (app, b["pv"]))
        got = (rows[0]["browser"], rows[0]["browser_major"], rows[0]["os"], rows[0]["device"]) if rows else None
        check("UA %s: pageviews browser/browser_major/os/device = %s" % (label, "/".join(map(str, want))),
              r.status == 204 and got == want, "status %s, row %s" % (r.status, got))

    b = beacon(app)
    r = post(c.port, b, headers={"User-Agent": UA_CHROME_WIN, "CF-IPCountry": "de"})
    rows = db_rows(c.db, "SELECT country FROM pageviews WHERE app=? AND pv=?", (app, b["pv"]))
    check("without --country-header, CF-IPCountry is ignored (country empty)",
          r.status == 204 and len(rows) == 1 and rows[0]["country"] in (None, ""), rows)


def test_country_header():
    """10. --country-header CF-IPCountry."""
    app = "shop-geo"
    c = Collector(FAST + ["--country-header", "CF-IPCountry"], name="country collector")
    try:
        b = beacon(app)
        r = post(c.port, b, headers={"CF-IPCountry": "de"})
        rows = db_rows(c.db, "SELECT country FROM pageviews WHERE app=? AND pv=?", (app, b["pv"]))
        check("--country-header CF-IPCountry, header \"de\": pageviews.country \"DE\"",
              r.status == 204 and rows == [{"country": "DE"}], (r.status, rows))
        b = beacon(app)
        r = post(c.port, b, headers={"cf-ipcountry": "FR"})
        rows = db_rows(c.db, "SELECT country FROM pageviews WHERE app=? AND pv=?", (app, b["pv"]))
        check("--country-header: header names are case-insensitive (cf-ipcountry: FR -> FR)",
              r.status == 204 and rows == [{"country": "FR"}], (r.status, rows))
        b = beacon(app)
        r = post(c.port, b)
        rows = db_rows(c.db, "SELECT country FROM pageviews WHERE app=? AND pv=?", (app, b["pv"]))
        check("--country-header given but no header sent: country empty",
              r.status == 204 and len(rows) == 1 and rows[0]["country"] in (None, ""), (r.status, rows))
    finally:
        c.stop()


def test_health_and_metrics():
    """11. /healthz and /metrics with counts matching what was sent (a fresh collector)."""
    app = "shop-metrics"
    c = Collector(FAST, name="metrics collector")
    try:
        r = request(c.port, "GET", "/healthz")
        check("/healthz: 200 {\"status\":\"ok\"}", r.status == 200 and r.json() == {"status": "ok"}, r.brief())

        stored_204 = 0
        beacons = 0
        for _ in range(4):
            if post(c.port, beacon(app, events=[metric(), error_event("E 1")])).status == 204:
                stored_204 += 1
                beacons += 1
        if post(c.port, [beacon(app) for _ in range(3)]).status == 204:
            stored_204 += 1
            beacons += 3
        check("metrics collector: 5 requests (7 beacons) answered 204", (stored_204, beacons) == (5, 7),
              (stored_204, beacons))
        post(c.port, "{nope")
        post(c.port, beacon(app, colour=1))
        post(c.port, beacon(app), ctype="application/x-www-form-urlencoded")
        request(c.port, "GET", "/nope")
        request(c.port, "GET", "/v1/rum")

        r, samples = scrape(c.port)
        text = r.body.decode("utf-8", "replace")
        _, bad = parse_prom(text)
        check("/metrics: 200", r.status == 200, r.brief())
        check("/metrics: Content-Type text/plain", (r.header("content-type") or "").startswith("text/plain"),
              r.brief())
        check("/metrics: every sample line parses as Prometheus text", not bad and samples, bad[:3])
        for name in ("vigil_beacons_accepted_total", "vigil_beacon_requests_accepted_total",
                     "vigil_write_queue_depth", "vigil_batch_commit_seconds_bucket",
                     "vigil_rows_stored_total", "vigil_db_bytes", "vigil_connections",
                     "vigil_batches_failed_total", "vigil_beacon_requests_bot_dropped_total"):
            check("/metrics has %s" % name, prom_value(samples, name) is not None,
                  [l for l in text.splitlines() if "vigil_" in l][:40])
        for name, typ in (("vigil_beacons_accepted_total", "counter"), ("vigil_write_queue_depth", "gauge"),
                          ("vigil_batch_commit_seconds", "histogram"), ("vigil_db_bytes", "gauge")):
            check("/metrics: # TYPE %s %s" % (name, typ),
                  re.search(r"^# TYPE %s %s\s*$" % (name, typ), text, re.M) is not None)
        v = prom_value(samples, "vigil_beacons_accepted_total")
        check("vigil_beacons_accepted_total == 7 (beacons stored and answered 204)", v == beacons, v)
        v = prom_value(samples, "vigil_beacon_requests_accepted_total")
        check("vigil_beacon_requests_accepted_total == 5 (requests answered 204)", v == stored_204, v)
        for reason, want in (("malformed", 1), ("schema", 1), ("media_type", 1), ("not_found", 1),
                             ("method", 1)):
            v = prom_value(samples, "vigil_beacon_requests_rejected_total", reason=reason)
            check("vigil_beacon_requests_rejected_total{reason=\"%s\"} == %d" % (reason, want), v == want, v)
        v = prom_value(samples, "vigil_write_queue_depth")
        check("vigil_write_queue_depth is 0 at rest", v == 0, v)
        inf = prom_value(samples, "vigil_batch_commit_seconds_bucket", le="+Inf")
        cnt = prom_value(samples, "vigil_batch_commit_seconds_count")
        check("vigil_batch_commit_seconds: +Inf bucket == _count >= 1",
              inf is not None and inf == cnt and inf >= 1, (inf, cnt))
        buckets = sorted(((float(l["le"]) if l.get("le") != "+Inf" else float("inf")), v)
                         for n, l, v in samples if n == "vigil_batch_commit_seconds_bucket" and "le" in l)
        check("vigil_batch_commit_seconds buckets are cumulative",
              len(buckets) >= 2 and all(buckets[i][1] <= buckets[i + 1][1] for i in range(len(buckets) - 1)),
              buckets)
        rows = sum(app_rows(c.db, t, app) for t in ("pageviews", "metrics", "errors"))
        v = prom_value(samples, "vigil_rows_stored_total")
        check("vigil_rows_stored_total > 0 and at least the pageviews stored (7)", v is not None and v >= 7,
              (v, rows))
        size = os.path.getsize(c.db) + (os.path.getsize(c.db + "-wal") if os.path.exists(c.db + "-wal") else 0)
        v = prom_value(samples, "vigil_db_bytes")
        check("vigil_db_bytes > 0 and near the size of db + WAL on disk",
              v is not None and v > 0 and abs(v - size) <= max(1 << 20, size), (v, size))
        v = prom_value(samples, "vigil_batches_failed_total")
        check("vigil_batches_failed_total == 0", v == 0, v)
        check("pageviews hold the 7 stored beacons", app_rows(c.db, "pageviews", app) == 7,
              app_rows(c.db, "pageviews", app))
    finally:
        c.stop()


def test_sigkill_durability():
    """12. Every acknowledged beacon survives kill -9."""
    app = "shop-durable"
    c = Collector(FAST, name="durability collector")
    poster = Poster(c.port, app, total=300, threads=8)
    poster.start()
    deadline = time.monotonic() + 20
    while poster.acked_count() < 100 and time.monotonic() < deadline and poster.join(0) is False:
        time.sleep(0.002)
    acked_at_kill = poster.acked_count()
    c.kill9()
    poster.join(15)
    acked = list(poster.acked)
    diag("durability: %d acked when killed, %d acked in all, statuses %s, errors %d"
         % (acked_at_kill, len(acked), poster.statuses, len(poster.errors)))
    check("durability: 100 or more beacons acknowledged before kill -9", acked_at_kill >= 100,
          (acked_at_kill, poster.statuses, poster.errors[:3]))
    check("durability: kill -9 landed mid-stream (not all 300 were sent)",
          len(acked) < 300 and poster.errors, (len(acked), poster.errors[:2]))
    c.restart()
    ok, detail = healthz_ok(c.port, 5)
    check("durability: restarted on the same db, /healthz 200", ok, detail)
    bad_pv, bad_metric = missing_or_duplicated(c.db, app, acked)
    check("durability: every acknowledged pv is in pageviews exactly once after kill -9 (%d)" % len(acked),
          not bad_pv and acked, bad_pv[:5])
    check("durability: every acknowledged beacon's metric is stored (bodies stored whole)",
          not bad_metric, bad_metric[:5])
    b = beacon(app)
    r = post(c.port, b)
    check("durability: the restarted collector stores new beacons",
          r.status == 204 and pv_count(c.db, app, b["pv"]) == 1, r.brief())
    rc, took, killed = c.stop_timed()
    check("durability: the restarted collector stops on SIGTERM with 0", rc == 0 and not killed,
          (rc, took, killed))


def test_idle_connections():
    """13. 200 idle keep-alive connections do not block another client."""
    app = "shop-idle"
    c = Collector(FAST, name="idle collector")
    idle = []
    try:
        errors = []
        for _ in range(200):
            try:
                idle.append(raw_connect(c.port, timeout=5))
            except OSError as exc:
                errors.append(str(exc))
                break
        check("200 idle connections opened", len(idle) == 200, errors[:1])
        conns = None
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            _, samples = scrape(c.port)
            conns = prom_value(samples, "vigil_connections")
            if conns is not None and conns >= 200:
                break
            time.sleep(0.05)
        check("vigil_connections >= 200 while they are open", conns is not None and conns >= 200, conns)

        t0 = time.monotonic()
        statuses, pvs, err = [], [], None
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
        try:
            for _ in range(50):
                if time.monotonic() - t0 > 10:
                    err = "over 10 s"
                    break
                b = beacon(app)
                conn.timeout = max(0.1, 10 - (time.monotonic() - t0))
                statuses.append(post(c.port, b, conn=conn).status)
                pvs.append(b["pv"])
        except Exception as exc:
            err = "%s: %s" % (type(exc).__name__, exc)
        finally:
            conn.close()
        took = time.monotonic() - t0
        check("with 200 idle connections open, 50 POSTs get 50 x 204 within 10 s",
              statuses == [204] * 50 and took <= 10, "%d x 204 of %d, %.2fs, %s"
              % (statuses.count(204), len(statuses), took, err))
        check("the 50 beacons are stored", app_rows(c.db, "pageviews", app) == 50, app_rows(c.db, "pageviews", app))
    finally:
        for s in idle:
            s.close()
        c.stop()


def test_graceful_shutdown():
    """14. SIGTERM while 8 threads post: exit 0 within 5 s, acknowledged beacons stored."""
    app = "shop-term"
    c = Collector(FAST, name="shutdown collector")
    poster = Poster(c.port, app, total=5000, threads=8)
    poster.start()
    deadline = time.monotonic() + 20
    while poster.acked_count() < 50 and time.monotonic() < deadline and poster.join(0) is False:
        time.sleep(0.002)
    t0 = time.monotonic()
    c.proc.send_signal(signal.SIGTERM)
    try:
        rc = c.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        rc = "still running"
    took = time.monotonic() - t0
    if c.alive():
        c.kill9()
    poster.stop_event.set()
    joined = poster.join(15)
    acked = list(poster.acked)
    diag("shutdown: %d acked, statuses %s, errors %s" % (len(acked), poster.statuses, poster.errors[:2]))
    check("SIGTERM while posting: exits 0 within 5 s", rc == 0, "exit %s after %.2fs" % (rc, took))
    check("SIGTERM while posting: posting threads finished", joined)
    check("SIGTERM while posting: only 204 or 503 answers", set(poster.statuses) <= {204, 503},
          poster.statuses)
    bad_pv, bad_metric = missing_or_duplicated(c.db, app, acked)
    check("SIGTERM: every beacon answered 204 is in the db exactly once (%d)" % len(acked),
          not bad_pv and len(acked) >= 50, (len(acked), bad_pv[:5]))
    check("SIGTERM: their metrics are stored too", not bad_metric, bad_metric[:5])
    conn = sqlite3.connect(c.db, timeout=10)
    try:
        ic = conn.execute("PRAGMA integrity_check").fetchall()
        jm = conn.execute("PRAGMA journal_mode").fetchone()[0]
        uv = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    check("after SIGTERM: PRAGMA integrity_check is ok", ic == [("ok",)], ic)
    check("the database is in WAL mode", str(jm).lower() == "wal", jm)
    check("PRAGMA user_version (schema version) is set", isinstance(uv, int) and uv >= 1, uv)


def test_stats(c):
    """15. collector stats: type-7 quantiles, empty windows, bad --since."""
    app, version = "shop-stats", "9.9.9"
    data = [round(((i * 37) % 101) * 23.75 + 100 + (i % 7) * 0.125, 3) for i in range(101)]
    data[5] = 5000.5
    data[17] = 0
    for start in range(0, 101, 50):
        batch = [beacon(app, version=version, events=[metric("LCP", v)]) for v in data[start:start + 50]]
        r = post(c.port, batch)
        check("stats: posting LCP values %d..%d: 204" % (start, start + len(batch) - 1), r.status == 204,
              r.brief())
    # noise that must not count: other version, other metric, other app
    post(c.port, beacon(app, version="9.9.8", events=[metric("LCP", 99999)]))
    post(c.port, beacon(app, version=version, events=[metric("FCP", 99999)]))
    post(c.port, beacon("shop-stats2", version=version, events=[metric("LCP", 99999)]))

    def run(args, timeout=20):
        p = subprocess.run([COLLECTOR, "stats"] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    base = ["--db", c.db, "--app", app, "--version", version, "--metric", "LCP", "--since", "1h"]
    rc, out, err = run(base + ["--json"])
    try:
        j = json.loads(out)
    except ValueError:
        j = None
    check("stats --json: exit 0 with a JSON object", rc == 0 and isinstance(j, dict), (rc, out, err))
    j = j if isinstance(j, dict) else {}
    check("stats --json: app, version, metric echoed",
          (j.get("app"), j.get("version"), j.get("metric")) == (app, version, "LCP"), j)
    check("stats --json: count 101", j.get("count") == 101, j)
    q = statistics.quantiles(data, n=100, method="inclusive")
    # From the rollups, a quantile is within the sketch's 1% relative accuracy of the exact
    # type-7 one; with --exact (raw rows) it is the type-7 quantile itself.
    rc, out, err = run(base + ["--exact", "--json"])
    try:
        jx = json.loads(out)
    except ValueError:
        jx = {}
    check("stats --exact --json: says its source is raw", jx.get("source") == "raw", (rc, out, err))
    check("stats --json (rollups): says its source is rollups", j.get("source") == "rollups", j)
    for key, idx in (("p50", 49), ("p75", 74), ("p95", 94), ("p99", 98)):
        want, got, exact = q[idx], j.get(key), jx.get(key)
        check("stats --json: %s within 1%% of the type-7 quantile %.6f" % (key, want),
              isinstance(got, (int, float)) and abs(got - want) <= 0.01 * abs(want),
              "got %r want %r" % (got, want))
        check("stats --exact --json: %s equals type-7 quantile %.6f" % (key, want),
              isinstance(exact, (int, float)) and abs(exact - want) <= 1e-9 * max(1.0, abs(want)),
              "got %r want %r" % (exact, want))
    rc, out, err = run(base)
    check("stats (text): exit 0 and says count 101", rc == 0 and "count 101" in out, (rc, out, err))
    rc, out, err = run(["--db", c.db, "--app", app, "--version", version, "--metric", "LCP",
                        "--since", "90s", "--json"])
    try:
        j2 = json.loads(out)
    except ValueError:
        j2 = {}
    check("stats --since 90s: the same 101 values (received within 90 s)",
          rc == 0 and isinstance(j2, dict) and j2.get("count") == 101, (rc, out, err))

    rc, out, err = run(["--db", c.db, "--app", app, "--version", "0.0.0-none", "--metric", "LCP",
                        "--since", "1h", "--json"])
    try:
        j = json.loads(out)
    except ValueError:
        j = None
    check("stats on a version with no data: exit 0, count 0, null quantiles",
          rc == 0 and isinstance(j, dict) and j.get("count") == 0
          and all(k in j and j[k] is None for k in ("p50", "p75", "p95", "p99")), (rc, out, err))
    for bad in ("1x", "abc", "-1h", ""):
        rc, out, err = run(base[:-1] + [bad, "--json"])
        check("stats --since %r: exit 2" % bad, rc == 2, (rc, out, err))
    rc, out, err = run(["--db", c.db, "--app", app, "--version", version, "--since", "1h"])
    check("stats without --metric: exit 2", rc == 2, (rc, out, err))


def test_usage():
    """17. Usage errors exit 2."""
    for label, args in (("collector serve without --db", ["serve", "--listen", "127.0.0.1:0"]),
                        ("collector bogus", ["bogus"]),
                        ("collector (no verb)", []),
                        ("collector serve --rate abc", ["serve", "--db", os.path.join(tempdir(), "x.db"),
                                                        "--listen", "127.0.0.1:0", "--rate", "abc"]),
                        ("collector serve --listen nonsense", ["serve", "--db", os.path.join(tempdir(), "y.db"),
                                                               "--listen", "nonsense"])):
        try:
            p = subprocess.run([COLLECTOR] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=10)
            rc, err = p.returncode, p.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            rc, err = "timeout (still running after 10 s)", ""
        check("%s: exit 2" % label, rc == 2, (rc, err[-200:]))



def test_origin_refusals():
    """19. Beacons refused for their Origin are logged (at most one line a minute per origin)
    and counted per origin in /metrics, for a bounded number of origins."""
    app = "shop-origins"
    c = Collector(FAST + ["--allow-origin", SHOP_ORIGIN], name="origin collector")
    try:
        a, b = "https://evil-a.example", "https://evil-b.example"
        codes = [post(c.port, beacon(app), headers={"Origin": a}).status for _ in range(3)]
        check("origins: three POSTs from %s -> 403" % a, codes == [403] * 3, codes)
        r = request(c.port, "OPTIONS", "/v1/rum", headers={"Origin": b,
                                                            "Access-Control-Request-Method": "POST"})
        check("origins: a preflight from %s -> 403" % b, r.status == 403, r.brief())
        _, samples = scrape(c.port)
        name = "vigil_beacon_origin_refused_total"
        check("origins: /metrics counts 3 refused from %s" % a,
              prom_value(samples, name, origin=a) == 3, [x for x in samples if x[0] == name])
        check("origins: /metrics counts 1 refused from %s" % b,
              prom_value(samples, name, origin=b) == 1, [x for x in samples if x[0] == name])
        check("origins: the allowed origin is not counted as refused",
              prom_value(samples, name, origin=SHOP_ORIGIN) is None)
        time.sleep(0.3)
        log = c.log_text()
        lines_a = [l for l in log.splitlines() if a in l]
        lines_b = [l for l in log.splitlines() if b in l]
        check("origins: the log names %s once for three refusals (one line a minute)" % a,
              len(lines_a) == 1 and "refused" in lines_a[0], lines_a or log[-400:])
        check("origins: ... and %s once" % b, len(lines_b) == 1, lines_b or log[-400:])

        # An Origin too long for the collector to keep is refused, not taken as none.
        long_origin = "https://" + "a" * 300 + ".example"
        bb = beacon(app)
        r = post(c.port, bb, headers={"Origin": long_origin})
        check("origins: a 300-byte Origin -> 403, nothing stored",
              r.status == 403 and pv_count(c.db, app, bb["pv"]) == 0, r.brief())

        # A flood of made-up origins grows neither the table nor the log without bound.
        for i in range(80):
            post(c.port, beacon(app), headers={"Origin": "https://flood-%d.example" % i})
        r, samples = scrape(c.port)
        series = [x for x in samples if x[0] == name]
        check("origins: after 80 more origins, at most 65 series (64 and (other))",
              len(series) <= 65, len(series))
        check("origins: ... the rest counted under origin=\"(other)\"",
              (prom_value(samples, name, origin="(other)") or 0) >= 80 + 3 - 64,
              [x for x in series if x[1].get("origin") == "(other)"])
        check("origins: ... and every refusal is counted",
              sum(x[2] for x in series) == 3 + 1 + 1 + 80, sum(x[2] for x in series))
        time.sleep(0.3)
        flood_lines = [l for l in c.log_text().splitlines() if "flood-" in l]
        check("origins: ... the log has at most one line per counted origin and one for the rest",
              len(flood_lines) <= 64 + 1 - 3, len(flood_lines))
        check("origins: the valid origin still stores",
              post(c.port, beacon(app), headers={"Origin": SHOP_ORIGIN}).status == 204)
    finally:
        c.stop()


def test_static_compression():
    """20. /vigil.js precompressed: gzip or brotli by Accept-Encoding, Content-Encoding,
    Vary: Accept-Encoding, an ETag per encoding; a stale copy is not served."""
    import gzip
    dist = os.path.join(harness.ROOT, "web", "dist")
    c = Collector(FAST, name="static collector")
    try:
        plain = request(c.port, "GET", "/vigil.js")
        check("static: GET /vigil.js without Accept-Encoding -> 200 uncompressed",
              plain.status == 200 and plain.header("content-encoding") is None
              and len(plain.body) > 1000, plain.brief())
        check("static: ... with Vary: Accept-Encoding",
              "accept-encoding" in (plain.header("vary") or "").lower(), plain.brief())
        gz = request(c.port, "GET", "/vigil.js", headers={"Accept-Encoding": "gzip, deflate"})
        check("static: Accept-Encoding gzip -> Content-Encoding gzip",
              gz.status == 200 and gz.header("content-encoding") == "gzip", gz.brief())
        try:
            same = gzip.decompress(gz.body) == plain.body
        except OSError as exc:
            same = exc
        check("static: ... the body gunzips to the file", same is True, same)
        check("static: ... smaller than the file (under 4000 bytes, the beacon's budget)",
              len(gz.body) < 4000 and len(gz.body) < len(plain.body), len(gz.body))
        check("static: ... Vary: Accept-Encoding", "accept-encoding" in (gz.header("vary") or "").lower(),
              gz.brief())
        check("static: ... an ETag of its own", gz.header("etag") and plain.header("etag")
              and gz.header("etag") != plain.header("etag"), (gz.header("etag"), plain.header("etag")))
        br = request(c.port, "GET", "/vigil.js", headers={"Accept-Encoding": "gzip, deflate, br"})
        with open(os.path.join(dist, "vigil.js.br"), "rb") as f:
            br_file = f.read()
        check("static: Accept-Encoding gzip, deflate, br -> brotli (the build's dist/vigil.js.br)",
              br.status == 200 and br.header("content-encoding") == "br" and br.body == br_file,
              br.brief())
        check("static: ... its ETag differs from gzip's and identity's",
              len({br.header("etag"), gz.header("etag"), plain.header("etag")}) == 3,
              (br.header("etag"), gz.header("etag"), plain.header("etag")))
        r = request(c.port, "GET", "/vigil.js", headers={"Accept-Encoding": "br;q=0, gzip"})
        check("static: br;q=0, gzip -> gzip", r.header("content-encoding") == "gzip", r.brief())
        r = request(c.port, "GET", "/vigil.js", headers={"Accept-Encoding": "identity"})
        check("static: Accept-Encoding identity -> uncompressed", r.header("content-encoding") is None
              and r.body == plain.body, r.brief())
        r = request(c.port, "GET", "/vigil.js", headers={"Accept-Encoding": "gzip",
                                                         "If-None-Match": gz.header("etag") or "x"})
        check("static: If-None-Match with the gzip ETag and gzip accepted -> 304", r.status == 304, r.brief())
        r = request(c.port, "GET", "/vigil.js", headers={"If-None-Match": gz.header("etag") or "x"})
        check("static: the gzip ETag without gzip accepted -> 200 uncompressed",
              r.status == 200 and r.header("content-encoding") is None, r.brief())
        r = request(c.port, "HEAD", "/vigil.js", headers={"Accept-Encoding": "gzip"})
        check("static: HEAD with gzip -> Content-Encoding gzip, no body",
              r.status == 200 and r.header("content-encoding") == "gzip" and r.body == b"", r.brief())
    finally:
        c.stop()

    # A copy older than its file (the file rebuilt, the copy not) is not served.
    d = tempdir()
    with open(os.path.join(d, "a.js"), "wb") as f:
        f.write(b"var a = 1;\n" * 100)
    with open(os.path.join(d, "a.js.gz"), "wb") as f:
        f.write(gzip.compress(b"stale", 9))
    old = time.time() - 3600
    os.utime(os.path.join(d, "a.js.gz"), (old, old))
    with open(os.path.join(d, "b.js"), "wb") as f:
        f.write(b"var b = 2;\n" * 100)
    c = Collector(FAST + ["--static", d], name="stale static collector")
    try:
        r = request(c.port, "GET", "/a.js", headers={"Accept-Encoding": "gzip"})
        check("static: a .gz older than its file is not served",
              r.status == 200 and r.header("content-encoding") is None
              and r.body == b"var a = 1;\n" * 100, r.brief())
        r = request(c.port, "GET", "/b.js", headers={"Accept-Encoding": "gzip"})
        check("static: a file without a copy is sent as it is, without Vary: Accept-Encoding",
              r.status == 200 and r.header("content-encoding") is None
              and "accept-encoding" not in (r.header("vary") or "").lower(), r.brief())
        r = request(c.port, "GET", "/a.js.gz")
        check("static: the copy itself is not served by its own name (404)", r.status == 404, r.brief())
    finally:
        c.stop()


def cpu_seconds_over(pid, interval):
    def cpu():
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    try:
        a = cpu()
        time.sleep(interval)
        return "%.2f s" % (cpu() - a)
    except (OSError, ValueError, IndexError) as exc:
        return "unknown (%s)" % exc


def _pipeline(label, n, make_request, expect_status):
    """A fresh collector; n requests in one sendall(); n responses expected in order."""
    app = "shop-pipe"
    c = Collector(FAST, name="pipelining collector")
    try:
        reqs = [make_request(app) for _ in range(n)]
        s = raw_connect(c.port)
        try:
            s.sendall(b"".join(data for data, _ in reqs))
            out, eof, err = read_responses(s, n, 3)
        finally:
            s.close()
        lines = [o[0] for o in out]
        check("pipelining %s: %d responses, each %s" % (label, n, "HTTP/1.1 %d" % expect_status),
              len(out) == n and all(l.startswith("HTTP/1.1 %d" % expect_status) for l in lines),
              "got %d of %d: %s; eof %s; %s" % (len(out), n, lines, eof, err))
        t0 = time.monotonic()
        ok, detail = healthz_ok(c.port, 2)
        check("after pipelining %s: a fresh client gets /healthz 200 within 2 s" % label,
              ok and time.monotonic() - t0 <= 2.5, detail)
        if not ok and c.alive():
            diag("collector CPU use over 1 s while unresponsive: %s" % cpu_seconds_over(c.proc.pid, 1.0))
        pvs = [pv for _, pv in reqs if pv]
        if pvs and not ok:
            diag("pipelining %s: stored per beacon: %s" % (label, [pv_count(c.db, app, pv) for pv in pvs]))
        if pvs and ok:
            stored = [pv_count(c.db, app, pv) for pv in pvs]
            check("pipelining %s: every beacon stored once" % label, stored == [1] * len(pvs), stored)
    finally:
        rc, took, killed = c.stop_timed(timeout=5)
        check("after pipelining %s: the collector stops on SIGTERM (exit 0, not killed)" % label,
              rc == 0 and not killed, "exit %s after %.1fs, SIGKILL needed: %s" % (rc, took, killed))


def test_pipelining():
    """16. HTTP/1.1 pipelining (last: may leave a collector spinning; each case gets its own)."""
    def post_req(app):
        b = beacon(app)
        return raw_post_bytes(json.dumps(b).encode()), b["pv"]

    def get_req(app):
        return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", None

    _pipeline("2 POSTs", 2, post_req, 204)
    _pipeline("5 POSTs", 5, post_req, 204)
    _pipeline("3 GET /healthz", 3, get_req, 200)


def test_tls():
    """HTTPS with --tls-cert/--tls-key: a beacon over TLS, and pipelined POSTs in one TLS
    write each answered in order (the lws hazard holds for TLS reads too)."""
    import ssl
    app = "shop-tls"
    d = tempdir()
    cert, key = harness.make_cert(d, 30)
    c = Collector(FAST + ["--tls-cert", cert, "--tls-key", key], name="tls collector")
    try:
        ctx = ssl.create_default_context(cafile=cert)
        conn = http.client.HTTPSConnection("127.0.0.1", c.port, context=ctx, timeout=10)
        b = beacon(app)
        conn.request("POST", "/v1/rum", json.dumps(b), {"Content-Type": "text/plain"})
        r = conn.getresponse()
        r.read()
        conn.close()
        check("https: a beacon verified against the test CA gets 204", r.status == 204, r.status)
        check("https: the beacon is stored", pv_count(c.db, app, b["pv"]) == 1)

        reqs = [beacon(app) for _ in range(3)]
        raw = socket.create_connection(("127.0.0.1", c.port), timeout=5)
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        try:
            s.sendall(b"".join(raw_post_bytes(json.dumps(x).encode()) for x in reqs))
            out, eof, err = read_responses(s, 3, 3)
        finally:
            s.close()
        check("https: 3 pipelined POSTs in one TLS write get 3 answers 204 in order",
              len(out) == 3 and all(o[0].startswith("HTTP/1.1 204") for o in out),
              "%s eof %s %s" % ([o[0] for o in out], eof, err))
        ok, detail = healthz_ok_tls(c.port, ctx)
        check("https: after pipelining, a fresh client is served", ok, detail)
        check("https: every pipelined beacon stored once",
              [pv_count(c.db, app, x["pv"]) for x in reqs] == [1, 1, 1])
    finally:
        rc, took, killed = c.stop_timed(timeout=5)
        check("https collector stops on SIGTERM", rc == 0 and not killed, (rc, took, killed))


def healthz_ok_tls(port, ctx):
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=2)
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return r.status == 200, (r.status, body[:80])
    except Exception as exc:  # noqa: BLE001 - any failure is the detail
        return False, "%s: %s" % (type(exc).__name__, exc)


def main():
    if not os.access(COLLECTOR, os.X_OK):
        check("bin/collector exists (%s)" % COLLECTOR, False, "build it with make")
        return harness.finish()
    t_start = time.monotonic()
    main_c = None
    try:
        main_c = Collector(FAST + ["--allow-origin", SHOP_ORIGIN], name="main collector")
    except Exception as exc:
        check("main collector starts", False, exc)
    if main_c is not None:
        run_group(test_valid_beacons, main_c)
        run_group(test_bad_requests, main_c)
        run_group(test_body_limits, main_c)
        run_group(test_cors, main_c)
        run_group(test_dedupe_and_ua, main_c)
        run_group(test_stats, main_c)
        rc, took, killed = main_c.stop_timed()
        check("main collector: SIGTERM at rest exits 0", rc == 0 and not killed, (rc, took, killed))
    run_group(test_country_header)
    run_group(test_rate_limits)
    run_group(test_health_and_metrics)
    run_group(test_sigkill_durability)
    run_group(test_idle_connections)
    run_group(test_graceful_shutdown)
    run_group(test_usage)
    run_group(test_origin_refusals)
    run_group(test_static_compression)
    run_group(test_tls)
    run_group(test_pipelining)  # last: it may leave collectors spinning (they are SIGKILLed)

    for c in _all_collectors:
        c.kill_quietly()
    harness.check_collectors_clean()
    diag("collector tests took %.1fs" % (time.monotonic() - t_start))
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
