#!/usr/bin/env python3
"""The dashboard's query API and live updates (collector/README.md "Dashboard query API"),
against the real bin/collector on loopback. Expected values come from the data posted
here, computed in Python (statistics.quantiles, type 7, for p75)."""

import base64
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, tempdir  # noqa: E402

BIN = os.environ.get("VIGIL_BIN") or os.path.join(harness.ROOT, "bin")
COLLECTOR = os.path.join(BIN, "collector")


def start(d, *extra):
    port_file = os.path.join(d, "port")
    log = open(os.path.join(d, "log"), "w")
    p = subprocess.Popen([COLLECTOR, "serve", "--db", os.path.join(d, "db"), "--listen",
                          "127.0.0.1:0", "--port-file", port_file, "--rate", "100000",
                          "--burst", "100000"] + list(extra), stdout=log, stderr=log)
    harness._cleanups.append(lambda: (p.poll() is None and p.kill()))
    for _ in range(200):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return p, int(open(port_file).read())
        time.sleep(0.05)
    raise RuntimeError("collector did not start")


def get(port, path, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def post(port, beacons):
    req = urllib.request.Request("http://127.0.0.1:%d/v1/rum" % port, data=json.dumps(beacons).encode(),
                                 headers={"Content-Type": "text/plain"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        diag("POST /v1/rum answered %d: %s" % (e.code, e.read()[:300]))
        return e.code


def beacon(version, i, lcp, error=False, ua_device="mobile"):
    ev = [{"type": "metric", "name": "LCP", "value": lcp, "id": "%s-%d" % (version, i)}]
    if error:
        # Digits do not tell error groups apart (they are normalized): words do.
        ev.append({"type": "error", "message": "Boom in the %s" % ("canary" if version == "2.0" else "baseline"),
                   "source": "app.js"})
    return {"app": "dash", "version": version, "pv": "%s-%d" % (version, i), "events": ev,
            "ctx": {"conn": "4g" if i % 2 else "wifi"}}


class Live:
    """A minimal WebSocket client (RFC 6455) for /v1/live."""

    def __init__(self, port, query=""):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET /v1/live%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: vigil-live\r\n\r\n" % (query, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(4096)
            if not chunk:
                break
            head += chunk
        self.status = head.split(b"\r\n")[0].decode(errors="replace")

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        self.s.sendall(bytes([0x81, 0x80 | len(data)]) + mask
                       + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self, timeout):
        self.s.settimeout(timeout)
        h = self.s.recv(2)
        n = h[1] & 0x7F
        if n == 126:
            n = struct.unpack(">H", self.s.recv(2))[0]
        data = b""
        while len(data) < n:
            data += self.s.recv(n - len(data))
        return json.loads(data)


def main():
    d = tempdir()
    p, port = start(d)
    base_lcp = [1000 + 10 * i for i in range(101)]
    canary_lcp = [1300 + 13 * i for i in range(101)]
    check("posting 101 baseline and 101 canary page views: 204",
          post(port, [beacon("1.0", i, v, error=(i == 0)) for i, v in enumerate(base_lcp[:50])]) == 204
          and post(port, [beacon("1.0", 50 + i, v) for i, v in enumerate(base_lcp[50:100])]) == 204
          and post(port, [beacon("1.0", 100, base_lcp[100])]) == 204
          and post(port, [beacon("2.0", i, v, error=(i < 2)) for i, v in enumerate(canary_lcp[:50])]) == 204
          and post(port, [beacon("2.0", 50 + i, v) for i, v in enumerate(canary_lcp[50:100])]) == 204
          and post(port, [beacon("2.0", 100, canary_lcp[100])]) == 204)

    st, apps = get(port, "/v1/apps")
    check("/v1/apps lists the app with 2 versions and 202 page views",
          st == 200 and any(a["app"] == "dash" and a["versions"] == 2 and a["pageviews"] == 202
                            for a in apps.get("apps", [])), apps)
    st, vs = get(port, "/v1/versions?app=dash")
    check("/v1/versions lists both versions with their page views",
          st == 200 and sorted((v["version"], v["pageviews"]) for v in vs["versions"])
          == [("1.0", 101), ("2.0", 101)], vs)

    st, se = get(port, "/v1/series?app=dash&version=2.0&metric=LCP&q=p75&step=3600&since=1h")
    want = statistics.quantiles(canary_lcp, n=100, method="inclusive")[74]
    pts = se.get("points", [])
    total_n = sum(x[2] for x in pts)
    check("/v1/series: every canary LCP counted once across the buckets (101)", st == 200 and total_n == 101, se)
    if len(pts) == 1:
        # Series come from the per-minute rollups: within their 1% relative accuracy.
        check("/v1/series: one bucket's p75 within 1%% of Python's type-7 quantile (%.3f)" % want,
              abs(pts[0][1] - want) <= 0.01 * want, pts)
    else:
        diag("the posts straddled an hour boundary: %d buckets" % len(pts))
    st, se = get(port, "/v1/series?app=dash&version=2.0&metric=errors&step=3600&since=1h")
    rate = sum(x[1] * x[2] for x in se.get("points", [])) / max(1, sum(x[2] for x in se.get("points", [])))
    check("/v1/series metric=errors: share of page views with an error (2/101)",
          st == 200 and abs(rate - 2 / 101) < 1e-9, se)
    for q, field in (("step=5", "step"), ("metric=XYZ", "metric"), ("q=p42", "q"), ("since=30d", "since")):
        args = {"step": "60", "metric": "LCP", "q": "p75", "since": "1h"}
        k, v = q.split("=")
        args[k] = v
        qs = "&".join("%s=%s" % kv for kv in args.items())
        st, e = get(port, "/v1/series?app=dash&version=2.0&" + qs)
        check("/v1/series with %s: 400 naming %s" % (q, field), st == 400 and e.get("field") == field, (st, e))

    st, br = get(port, "/v1/breakdown?app=dash&metric=LCP&baseline=1.0&canary=2.0&by=conn")
    rows = {r["key"]: r for r in br.get("rows", [])}
    check("/v1/breakdown by conn: rows for 4g and wifi with n of each version",
          st == 200 and set(rows) == {"4g", "wifi"}
          and rows["4g"]["canary"]["n"] + rows["wifi"]["canary"]["n"] == 101, br)
    contrib = [r["contribution"] for r in br.get("rows", [])]
    check("/v1/breakdown: ordered by contribution, largest first", contrib == sorted(contrib, reverse=True), contrib)
    wifi = [v for i, v in enumerate(canary_lcp) if i % 2 == 0]
    want = statistics.quantiles(wifi, n=100, method="inclusive")[74]
    check("/v1/breakdown: wifi canary p75 within 1% of the type-7 quantile of its values",
          abs(rows.get("wifi", {}).get("canary", {}).get("value", -1) - want) <= 0.01 * want,
          rows.get("wifi"))
    st, e = get(port, "/v1/breakdown?app=dash&metric=LCP&baseline=1.0&canary=2.0&by=shoe")
    check("/v1/breakdown by an unknown column: 400 naming by", st == 400 and e.get("field") == "by", e)

    st, er = get(port, "/v1/errors?app=dash&baseline=1.0&canary=2.0")
    check("/v1/errors: the canary's new error group with its count 2",
          st == 200 and [(x["message"], x["count"]) for x in er["new"]] == [("Boom in the canary", 2)], er)

    live = Live(port)
    check("/v1/live: the WebSocket upgrade with protocol vigil-live answers 101",
          live.status.startswith("HTTP/1.1 101"), live.status)
    live.send({"app": "dash"})
    hello = live.recv(3)
    check("/v1/live: subscribing answers type subscribed", hello.get("type") == "subscribed", hello)
    t0 = time.time()
    post(port, [beacon("2.0", 500, 1234)])
    upd = live.recv(3)
    check("/v1/live: a new beacon is announced as changed beacons within 3 s",
          upd.get("type") == "update" and "beacons" in upd.get("changed", [])
          and time.time() - t0 < 3, upd)
    p.terminate()
    p.wait(5)

    d2 = tempdir()
    tok = os.path.join(d2, "read.token")
    with open(tok, "w") as f:
        f.write("r" * 32 + "\n")
    os.chmod(tok, 0o600)
    p2, port2 = start(d2, "--read-token-file", tok)
    st, e = get(port2, "/v1/apps")
    check("--read-token-file: /v1/apps without the token is 401", st == 401, (st, e))
    st, _ = get(port2, "/v1/apps", {"Authorization": "Bearer " + "r" * 32})
    check("--read-token-file: with the bearer token 200", st == 200, st)
    check("--read-token-file: /v1/live without the token is refused",
          not Live(port2).status.startswith("HTTP/1.1 101"))
    check("--read-token-file: /v1/live with ?token= upgrades",
          Live(port2, "?token=" + "r" * 32).status.startswith("HTTP/1.1 101"))
    st, _ = get(port2, "/v1/apps?token=" + "r" * 32)
    check("--read-token-file: /v1/apps with ?token= 200", st == 200, st)
    # A right prefix is not the token: a wrong tail, a prefix alone, the token with more.
    for name, wrong in (("the token with its last character wrong", "r" * 31 + "x"),
                        ("the token's first half with a wrong second half", "r" * 16 + "x" * 16),
                        ("the token without its last character", "r" * 31),
                        ("the token followed by one more character", "r" * 33)):
        st, _ = get(port2, "/v1/apps", {"Authorization": "Bearer " + wrong})
        check("--read-token-file: as a bearer token, %s is 401" % name, st == 401, st)
        st, _ = get(port2, "/v1/apps?token=" + wrong)
        check("--read-token-file: as ?token=, %s is 401" % name, st == 401, st)
    p2.terminate()
    p2.wait(5)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
