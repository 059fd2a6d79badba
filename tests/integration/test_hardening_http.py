#!/usr/bin/env python3
"""The collector's HTTP front under hostile input (issue 16, points 1, 3, 5, 9 and part of
11), over raw sockets against the real collector on loopback.

References, from outside the code under test:
- RFC 9112 section 6.3: a message whose Content-Length is not a valid number, or that has
  several different Content-Length values, is unrecoverable: 400 and close (nginx answers
  400 "Bad Request" and closes for both: "client sent duplicate header line" and "client
  sent invalid "Content-Length" header").
- RFC 9112 section 3.2: an HTTP/1.1 request without Host is answered 400.
- RFC 6585 section 5 (431 Request Header Fields Too Large), RFC 9110 section 15.5.15 (414
  URI Too Long); collector/README.md: every error is a JSON {"error": ...} body.
- RFC 9110 section 8.3.1: a media type is type "/" subtype then parameters after ";":
  "application/jsonXYZ" is not application/json.
- collector/README.md's route table: who may call each route.

Prints TAP-style lines; exits 1 when any check failed.
Run: VIGIL_ROOT=$PWD VIGIL_BIN=$PWD/bin python3 tests/integration/test_hardening_http.py
"""

import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, run_group, tempdir, Collector  # noqa: E402

FAST = ["--rate", "100000", "--burst", "100000"]
TOKEN = "hardening-read-token-" + "r" * 24
METRICS_TOKEN = "hardening-metrics-token-" + "m" * 20
BEACON = json.dumps({"app": "smug", "version": "1.0.0", "pv": "pv-1", "page": "/",
                     "ts": int(time.time() * 1000),
                     "events": [{"type": "metric", "name": "LCP", "value": 1200,
                                 "id": "m-1"}]}).encode()


# ---------------------------------------------------------------- raw HTTP

def connect(port, source="127.0.0.1", timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_all(s, timeout=5):
    """Everything the server sends until it closes or timeout passes; (bytes, closed)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def exchange(port, raw, timeout=5):
    """Sends raw bytes, returns (responses, closed): responses a list of (status, headers,
    body) parsed from what came back."""
    s = connect(port)
    try:
        try:
            s.sendall(raw)
        except OSError:
            pass
        data, closed = read_all(s, timeout)
    finally:
        s.close()
    return parse_responses(data), closed


def parse_responses(data):
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            out.append((None, {}, data))
            break
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0") or 0)
        out.append((int(m.group(1)) if m else None, headers, rest[:n]))
        data = rest[n:]
    return out


def is_json_error(resp):
    status, headers, body = resp
    try:
        doc = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return headers.get("content-type", "").startswith("application/json") \
        and isinstance(doc, dict) and isinstance(doc.get("error"), str)


def post_head(length_lines, host=True, ctype="application/json"):
    return ("POST /v1/rum HTTP/1.1\r\n" + ("Host: 127.0.0.1\r\n" if host else "")
            + "Content-Type: %s\r\n" % ctype + "".join(l + "\r\n" for l in length_lines)
            + "\r\n").encode()


def apps(c):
    r = harness.request(c.port, "GET", "/v1/apps")
    doc = r.json() or {}
    return [a.get("app") for a in doc.get("apps", [])]


# ---------------------------------------------------------------- point 3: smuggling shapes

def test_smuggling():
    c = Collector(FAST)
    port = c.port

    # Two different Content-Length values: nginx, 400 "client sent duplicate header line".
    raw = post_head(["Content-Length: %d" % len(BEACON), "Content-Length: 5"]) + BEACON
    resps, closed = exchange(port, raw)
    check("two different Content-Length headers: one 400 with a JSON reason, then close",
          len(resps) == 1 and resps[0][0] == 400 and is_json_error(resps[0]) and closed,
          (resps, closed))

    # "12abc": not a number (RFC 9112 6.3 item 5); the bytes after 12 are not a request.
    second = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    body = b'{"app":"x"}\n' + second
    raw = post_head(["Content-Length: 12abc"]) + body
    resps, closed = exchange(port, raw)
    check("Content-Length: 12abc: one 400 with a JSON reason, then close (nothing after "
          "it taken as a second request)",
          len(resps) == 1 and resps[0][0] == 400 and is_json_error(resps[0]) and closed,
          (resps, closed))
    for bad in ("-1", "+12", " 0x10", "1 2"):
        resps, closed = exchange(port, post_head(["Content-Length: " + bad]) + b"x" * 12)
        check("Content-Length: %r: 400 with a JSON reason and close" % bad,
              len(resps) == 1 and resps[0][0] == 400 and is_json_error(resps[0]) and closed,
              (resps, closed))
    # The same value twice is one value (RFC 9112 6.3 lets a recipient take it).
    raw = post_head(["Content-Length: %d" % len(BEACON)] * 2) + BEACON
    resps, _ = exchange(port, raw, timeout=3)
    check("the same Content-Length twice is taken: 204",
          len(resps) >= 1 and resps[0][0] == 204, resps)
    check("no beacon of a refused request was stored (only the one taken)",
          apps(c).count("smug") == 1, apps(c))

    # No Host in HTTP/1.1: 400 (RFC 9112 3.2); HTTP/1.0 needs none.
    resps, _ = exchange(port, b"GET /healthz HTTP/1.1\r\n\r\n", timeout=3)
    check("HTTP/1.1 without Host: 400 with a JSON reason",
          len(resps) == 1 and resps[0][0] == 400 and is_json_error(resps[0]), resps)
    resps, _ = exchange(port, b"GET /healthz HTTP/1.0\r\n\r\n", timeout=3)
    check("HTTP/1.0 without Host: 200", len(resps) == 1 and resps[0][0] == 200, resps)

    # Oversized header block and URL.
    raw = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 500) for i in range(40)) + b"\r\n")
    resps, closed = exchange(port, raw)
    check("a 20 KB header block: 431 with a JSON reason",
          len(resps) == 1 and resps[0][0] == 431 and is_json_error(resps[0]), (resps, closed))
    raw = b"GET /v1/apps?x=" + b"a" * 20000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    resps, closed = exchange(port, raw)
    check("a 20 KB URL: 414 with a JSON reason",
          len(resps) == 1 and resps[0][0] == 414 and is_json_error(resps[0]), (resps, closed))

    # Methods no route takes, and targets not in origin-form.
    for method in ("DELETE", "PUT", "PATCH", "PROPFIND", "BREW"):
        resps, _ = exchange(port, ("%s /v1/rum HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Content-Length: 0\r\n\r\n" % method).encode(), timeout=3)
        check("%s /v1/rum: 405 with a JSON reason" % method,
              len(resps) == 1 and resps[0][0] == 405 and is_json_error(resps[0]), resps)
    for target in ("http://127.0.0.1/healthz", "127.0.0.1:80", "*"):
        resps, _ = exchange(port, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % target)
                            .encode(), timeout=3)
        check("GET %s: 400 with a JSON reason" % target,
              len(resps) == 1 and resps[0][0] == 400 and is_json_error(resps[0]), resps)
    ok, detail = healthz_ok(port)
    check("the collector still answers after all of these", ok, detail)


def healthz_ok(port):
    try:
        r = harness.request(port, "GET", "/healthz", timeout=3)
        return r.status == 200, r.brief()
    except Exception as exc:
        return False, repr(exc)


# ---------------------------------------------------------------- point 11: media types, origins

def test_media_and_origin():
    c = Collector(FAST + ["--allow-origin", "https://shop.example.com"])
    for ctype, want in (("application/jsonXYZ", 415), ("text/plainfoo", 415),
                        ("application/json-patch+json", 415), ("text/plain;charset=UTF-8", 204),
                        ("application/json; charset=utf-8", 204), ("Application/JSON", 204),
                        ("text/plain ; charset=utf-8", 204)):
        r = harness.request(c.port, "POST", "/v1/rum", body=BEACON,
                            headers={"Content-Type": ctype})
        check("Content-Type %r: %d" % (ctype, want), r.status == want, r.brief())
    own = "http://127.0.0.1:%d" % c.port
    r = harness.request(c.port, "POST", "/v1/rum", body=BEACON,
                        headers={"Content-Type": "text/plain", "Origin": own})
    check("an Origin equal to http:// + Host but not in --allow-origin: 403",
          r.status == 403 and "access-control-allow-origin" not in r.headers, r.brief())
    r = harness.request(c.port, "POST", "/v1/rum", body=BEACON,
                        headers={"Content-Type": "text/plain", "Host": "evil.example",
                                 "Origin": "http://evil.example"})
    check("a rebound name (Host and Origin both evil.example): 403", r.status == 403, r.brief())
    r = harness.request(c.port, "POST", "/v1/rum", body=BEACON,
                        headers={"Content-Type": "text/plain",
                                 "Origin": "https://shop.example.com"})
    check("an allowed origin: 204", r.status == 204, r.brief())


# ---------------------------------------------------------------- point 1: auth per route

def route_table():
    """[(methods, path, who)] from collector/README.md's route table."""
    text = harness.read_text(os.path.join(harness.ROOT, "collector", "README.md"))
    rows = []
    for m in re.finditer(r"^\| `([A-Z, ]+) (/\S*)` \| ([^|]+) \|", text, re.M):
        rows.append(([x.strip() for x in m.group(1).split(",")], m.group(2), m.group(3)))
    return rows


# Routes that do not read stored data: beacons in, the preflight, health, static files,
# and the pushes (their own tokens, tested in test_signed and test_comparator).
NOT_READS = {("POST", "/v1/rum"), ("OPTIONS", "/v1/rum"), ("GET", "/healthz"),
             ("GET", "/*"), ("HEAD", "/*"), ("POST", "/v1/probe-runs"),
             ("POST", "/v1/deployments")}


def ws_upgrade(port, path, headers=""):
    raw = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: vigil-live\r\n%s\r\n" % (path, headers)).encode()
    s = connect(port)
    try:
        s.sendall(raw)
        data, _ = read_all(s, 2)
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return int(m.group(1)) if m else None


def call(port, method, path, headers):
    body = None
    h = dict(headers)
    if method == "POST":
        body = {"name": "shop", "namespace": "prod", "phase": "Progressing",
                "metadata": {"app": "shop"}}
        h["Content-Type"] = "application/json"
    return harness.request(port, method, path + ("?app=shop&version=1" if method != "POST"
                                                 else ""), body=body, headers=h)


def test_auth():
    rows = route_table()
    check("the README's route table lists the routes", len(rows) >= 20, rows)
    reads = [(m, p, who) for ms, p, who in rows for m in ms if (m, p) not in NOT_READS]
    for m, p, who in reads:
        check("route table: %s %s (reads stored data) names the read token" % (m, p),
              "--read-token-file" in who, who)
    d = tempdir()
    tok = harness.write_private(os.path.join(d, "read.token"), TOKEN + "\n")
    c = Collector(FAST + ["--read-token-file", tok])
    bearer = {"Authorization": "Bearer " + TOKEN}
    for m, p, _ in reads:
        if p == "/v1/live":
            check("%s %s without the token: refused" % (m, p), ws_upgrade(c.port, p) != 101)
            check("%s %s with the token: 101" % (m, p),
                  ws_upgrade(c.port, p, "Authorization: Bearer %s\r\n" % TOKEN) == 101)
            continue
        r = call(c.port, m, p, {})
        check("%s %s without the token: 401 with a JSON reason" % (m, p),
              r.status == 401 and (m == "HEAD" or (r.json() or {}).get("error")), r.brief())
        r = call(c.port, m, p, {"Authorization": "Bearer wrong-" + TOKEN})
        check("%s %s with a wrong token: 401" % (m, p), r.status == 401, r.brief())
        r = call(c.port, m, p, bearer)
        check("%s %s with the token: not 401" % (m, p), r.status != 401, r.brief())
    # A Flagger hook's token goes in the URL (Flagger sends no headers of its own).
    r = harness.request(c.port, "POST", "/v1/hooks/flagger/pre-rollout?token=" + TOKEN,
                        body={"metadata": {"app": "shop"}},
                        headers={"Content-Type": "application/json"})
    check("a Flagger hook with ?token=: not 401", r.status != 401, r.brief())

    # --metrics-token-file: a token of its own for /metrics (a Prometheus scrape job's).
    mt = harness.write_private(os.path.join(d, "metrics.token"), METRICS_TOKEN + "\n")
    c2 = Collector(FAST + ["--read-token-file", tok, "--metrics-token-file", mt])
    for headers, want in (({}, 401), ({"Authorization": "Bearer " + METRICS_TOKEN}, 200),
                          ({"Authorization": "Bearer " + TOKEN}, 401)):
        r = harness.request(c2.port, "GET", "/metrics", headers=headers)
        check("--metrics-token-file: /metrics with %s: %d"
              % (headers.get("Authorization", "no token")[:20], want), r.status == want,
              r.brief())
    r = harness.request(c2.port, "GET", "/v1/apps", headers={"Authorization": "Bearer "
                                                             + METRICS_TOKEN})
    check("the metrics token does not read the API: 401", r.status == 401, r.brief())
    c3 = Collector(FAST)
    r = harness.request(c3.port, "GET", "/metrics")
    check("without tokens /metrics stays open: 200", r.status == 200, r.brief())
    bad = harness.write_file(os.path.join(d, "open.token"), METRICS_TOKEN + "\n")
    os.chmod(bad, 0o644)
    res = harness.subprocess.run([harness.COLLECTOR, "serve", "--db", os.path.join(d, "x.db"),
                                  "--listen", "127.0.0.1:0", "--metrics-token-file", bad],
                                 capture_output=True, text=True, timeout=10)
    check("--metrics-token-file readable by others: exit 2 naming it",
          res.returncode == 2 and "open.token" in res.stderr, (res.returncode, res.stderr))


# ---------------------------------------------------------------- point 9: static files

def test_static():
    d = tempdir()
    root = os.path.join(d, "static")
    outside = os.path.join(d, "outside")
    os.makedirs(os.path.join(root, "sub"))
    os.makedirs(outside)
    harness.write_file(os.path.join(root, "index.html"), "<p>home</p>\n")
    harness.write_file(os.path.join(root, "sub", "ok.txt"), "fine\n")
    harness.write_file(os.path.join(root, ".secret.txt"), "dotfile\n")
    harness.write_file(os.path.join(root, ".hidden", "a.txt"), "in a dot folder\n")
    harness.write_file(os.path.join(outside, "x.txt"), "outside the root\n")
    tok = harness.write_private(os.path.join(d, "read.token"), TOKEN + "\n")
    os.symlink("/etc/passwd", os.path.join(root, "passwd.txt"))
    os.symlink(tok, os.path.join(root, "token.txt"))
    os.symlink(outside, os.path.join(root, "out"))
    os.symlink("/etc", os.path.join(root, "etc"))
    os.symlink(os.path.join(root, "index.html"), os.path.join(root, "inner.html"))
    c = Collector(FAST + ["--static", root])
    for path in ("/", "/index.html", "/sub/ok.txt"):
        r = harness.request(c.port, "GET", path)
        check("static %s: 200" % path, r.status == 200, r.brief())
    for path, what in (("/passwd.txt", "a link to /etc/passwd"),
                       ("/token.txt", "a link to the read-token file"),
                       ("/out/x.txt", "a file under a linked folder outside the root"),
                       ("/etc/hostname.txt", "a path under a link to /etc"),
                       ("/inner.html", "a link to a file inside the root"),
                       ("/.secret.txt", "a dotfile"), ("/.hidden/a.txt", "a dot folder")):
        r = harness.request(c.port, "GET", path)
        check("static %s (%s): 404 with a JSON reason, not its content" % (path, what),
              r.status == 404 and (r.json() or {}).get("error")
              and b"root:" not in r.body and TOKEN.encode() not in r.body
              and b"outside" not in r.body, r.brief())


# ---------------------------------------------------------------- point 5: slow bodies, per address

def test_slow_body():
    c = Collector(FAST + ["--body-timeout", "2", "--idle-timeout", "30"])
    s = connect(c.port, timeout=10)
    s.sendall(post_head(["Content-Length: 1000"]))
    start = time.monotonic()
    data, closed = b"", False
    # One byte every 0.3 s: each one within the idle timeout, the whole far past 2 s.
    while time.monotonic() - start < 8:
        try:
            s.sendall(b" ")
        except OSError:
            closed = True
            break
        s.settimeout(0.3)
        try:
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            data += chunk
        except socket.timeout:
            pass
        except OSError:
            closed = True
            break
    elapsed = time.monotonic() - start
    more, closed2 = read_all(s, 1)
    s.close()
    resps = parse_responses(data + more)
    check("--body-timeout 2: a body sent a byte at a time is answered 408 with a JSON reason",
          len(resps) == 1 and resps[0][0] == 408 and is_json_error(resps[0]), resps)
    check("--body-timeout 2: and the connection closed within 6 s (took %.1f s)" % elapsed,
          (closed or closed2) and elapsed < 6, (closed, closed2, elapsed))
    r = harness.request(c.port, "POST", "/v1/rum", body=BEACON,
                        headers={"Content-Type": "application/json"})
    check("a beacon sent at once is still stored: 204", r.status == 204, r.brief())
    res = harness.subprocess.run([harness.COLLECTOR, "serve", "--db",
                                  os.path.join(tempdir(), "x.db"), "--body-timeout", "0"],
                                 capture_output=True, text=True, timeout=10)
    check("--body-timeout 0: usage error, exit 2 naming the option",
          res.returncode == 2 and "--body-timeout" in res.stderr, (res.returncode, res.stderr))


def test_per_address():
    cap = 10
    c = Collector(FAST + ["--max-per-address", str(cap)])
    held = []
    for _ in range(cap):
        s = connect(c.port)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        read_all_one(s)
        held.append(s)
    extra = connect(c.port)
    try:
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    except OSError:
        pass
    data, closed = read_all(extra, 3)
    extra.close()
    check("--max-per-address %d: connection %d from the same address is closed unanswered"
          % (cap, cap + 1), closed and not data.startswith(b"HTTP/1.1 200"), (data, closed))
    other = connect(c.port, source="127.0.0.2")
    other.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = read_all_one(other)
    other.close()
    check("another address is still served meanwhile", data.startswith(b"HTTP/1.1 200"), data)
    for s in held[:3]:
        s.close()
    time.sleep(0.5)
    again = connect(c.port)
    again.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = read_all_one(again)
    again.close()
    check("once some of them close, the address is served again",
          data.startswith(b"HTTP/1.1 200"), data)
    for s in held[3:]:
        s.close()


def read_all_one(s, timeout=3):
    """Reads one small response (up to the end of its body)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except (socket.timeout, OSError):
            break
        if not chunk:
            break
        data += chunk
        resps = parse_responses(data)
        if resps and resps[0][0] and len(resps[0][2]) >= int(resps[0][1].get("content-length",
                                                                             "0") or 0):
            break
    return data


def main():
    for fn in (test_smuggling, test_media_and_origin, test_auth, test_static, test_slow_body,
               test_per_address):
        run_group(fn)
    harness.check_collectors_clean()
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
