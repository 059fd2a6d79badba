#!/usr/bin/env python3
"""collector serve --threads N (collector/README.md "Ingest throughput"): HTTP on several
service threads, each connection served by one of them. Against the real bin/collector on
loopback: beacons posted at once over many connections are each answered once and every
204 is stored (counted in SQLite, not by the collector); live pages on different threads
all hear of a beacon posted on yet another; the per-address cap holds across threads;
a stop drains every thread; --threads out of range is a usage error."""

import http.client
import json
import os
import socket
import sqlite3
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Collector, check, run_group, tempdir  # noqa: E402
from test_dashboard_api import Live  # noqa: E402

THREADS = 4
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")
FAST = ["--rate", "100000", "--burst", "100000", "--global-rate", "0"]


def beacon(app, pv):
    return {"app": app, "version": "1.0", "pv": pv, "session": "s-1", "page": "/",
            "nav": "navigate", "events": [{"type": "metric", "name": "LCP", "value": 1200,
                                           "id": "m-" + pv}]}


def post_on(conn, b):
    """POSTs beacon b on an open connection: the status, or the error as text."""
    try:
        conn.request("POST", "/v1/rum", body=json.dumps(b),
                     headers={"Content-Type": "text/plain", "User-Agent": UA})
        r = conn.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException) as e:
        return repr(e)


def post_many(port, app, worker, n, statuses):
    """n beacons, one after the other, over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    for i in range(n):
        statuses.append(post_on(conn, beacon(app, "w%d-%d" % (worker, i))))
        if statuses[-1] != 204:
            break
    conn.close()


def stored(db, app):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT count(*) FROM pageviews WHERE app = ?", (app,)).fetchone()[0]


def service_threads(pid, want):
    """How many of pid's threads are named collector-http, once want are or after 5 s: the
    port file is written before the other service threads start (seen under TSan)."""
    deadline = time.monotonic() + 5
    while True:
        names = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                names.append(open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip())
            except OSError:
                pass
        if names.count("collector-http") >= want or time.monotonic() > deadline:
            return names.count("collector-http")
        time.sleep(0.05)


def test_concurrent_ingest():
    c = Collector(FAST + ["--threads", str(THREADS)])
    named = service_threads(c.proc.pid, THREADS - 1)
    check("--threads %d: %d threads named collector-http besides the main one"
          % (THREADS, THREADS - 1), named == THREADS - 1, named)
    workers, each = 24, 40
    statuses, threads = [], []
    for w in range(workers):
        t = threading.Thread(target=post_many, args=(c.port, "threads", w, each, statuses))
        threads.append(t)
        t.start()
    for t in threads:
        t.join(60)
    ok = statuses.count(204)
    check("%d connections at once, %d beacons each: every request answered 204"
          % (workers, each), ok == workers * each,
          [s for s in statuses if s != 204][:5])
    check("every 204 is a page view in the database (%d)" % ok, stored(c.db, "threads") == ok,
          stored(c.db, "threads"))
    r = harness.request(c.port, "GET", "/metrics")
    accepted = [line for line in r.text().splitlines()
                if line.startswith("vigil_beacon_requests_accepted_total ")]
    check("/metrics counts them all, from every thread",
          accepted == ["vigil_beacon_requests_accepted_total %d" % ok], accepted)
    # A stop drains every thread: what was answered 204 stays, exit 0.
    statuses2 = []
    t = threading.Thread(target=post_many, args=(c.port, "drain", 0, 200, statuses2))
    t.start()
    time.sleep(0.2)
    code, secs, killed = c.stop_timed(10)
    t.join(30)
    check("SIGTERM during ingest: exit 0 within 10 s (took %.1f s)" % secs,
          code == 0 and not killed, (code, killed))
    check("... and every beacon answered 204 before it is stored",
          stored(c.db, "drain") >= statuses2.count(204) > 0,
          (stored(c.db, "drain"), statuses2.count(204)))


def test_live_across_threads():
    c = Collector(FAST + ["--threads", str(THREADS)])
    pages = [Live(c.port) for _ in range(THREADS)]
    try:
        for p in pages:
            p.send({"app": "liveapp"})
            hello = p.recv(5)
            check("a live page subscribes", hello.get("type") == "subscribed", hello)
        # Posted on a connection of its own, which lands on some thread; the pages were
        # handed to the threads with the fewest connections, so to every thread.
        r = harness.request(c.port, "POST", "/v1/rum", body=json.dumps(beacon("liveapp", "l1")),
                            headers={"Content-Type": "text/plain", "User-Agent": UA})
        check("a beacon of the watched app: 204", r.status == 204, r.brief())
        for i, p in enumerate(pages):
            try:
                msg = p.recv(5)
            except (OSError, ValueError) as e:
                msg = repr(e)
            check("live page %d of %d hears the beacon within 5 s" % (i + 1, len(pages)),
                  isinstance(msg, dict) and msg.get("type") == "update"
                  and "beacons" in msg.get("changed", []), msg)
    finally:
        for p in pages:
            p.s.close()
    c.stop()


def test_per_address_across_threads():
    cap = 5
    c = Collector(FAST + ["--threads", str(THREADS), "--max-per-address", str(cap)])
    held = []
    for _ in range(cap):
        s = socket.create_connection(("127.0.0.1", c.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        held.append((s, s.recv(4096)))
    check("--threads %d --max-per-address %d: the first %d connections are served"
          % (THREADS, cap, cap), all(d.startswith(b"HTTP/1.1 200") for _, d in held),
          [d[:20] for _, d in held])
    extra = socket.create_connection(("127.0.0.1", c.port), timeout=5)
    try:
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = extra.recv(4096)
    except OSError:
        data = b""
    extra.close()
    check("... connection %d from the same address is closed unanswered" % (cap + 1),
          not data.startswith(b"HTTP/1.1 200"), data[:40])
    for s, _ in held:
        s.close()
    time.sleep(0.5)
    again = socket.create_connection(("127.0.0.1", c.port), timeout=5)
    again.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = again.recv(4096)
    again.close()
    check("... once they close, the address is served again", data.startswith(b"HTTP/1.1 200"),
          data[:40])
    c.stop()


def test_tls_across_threads():
    d = tempdir()
    cert, key = harness.make_cert(d, 30)
    c = Collector(FAST + ["--threads", str(THREADS), "--tls-cert", cert, "--tls-key", key])
    ctx = ssl.create_default_context(cafile=cert)
    statuses = []
    # More connections than threads, held open together: each thread serves some.
    conns = [http.client.HTTPSConnection("127.0.0.1", c.port, context=ctx, timeout=10)
             for _ in range(2 * THREADS)]
    for i, conn in enumerate(conns):
        statuses.append(post_on(conn, beacon("tls", "t%d" % i)))
    for conn in conns:
        conn.close()
    check("https, --threads %d: %d connections each get 204" % (THREADS, len(conns)),
          statuses == [204] * len(conns), statuses)
    check("... and every one is stored", stored(c.db, "tls") == len(conns), stored(c.db, "tls"))
    code, secs, killed = c.stop_timed(10)
    check("https, --threads %d: SIGTERM stops it with exit 0" % THREADS,
          code == 0 and not killed, (code, killed))


def test_usage():
    for bad in ("0", "9", "two"):
        res = harness.subprocess.run([harness.COLLECTOR, "serve", "--db",
                                      os.path.join(tempdir(), "x.db"), "--threads", bad],
                                     capture_output=True, text=True, timeout=10)
        check("--threads %s: usage error, exit 2 naming the option" % bad,
              res.returncode == 2 and "--threads" in res.stderr, (res.returncode, res.stderr))


def main():
    for fn in (test_concurrent_ingest, test_live_across_threads,
               test_per_address_across_threads, test_tls_across_threads, test_usage):
        run_group(fn)
    harness.check_collectors_clean()
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
