#!/usr/bin/env python3
"""Pipelined requests that wait for a reader (collector/README.md, "Reads: reader threads
and their time limit"; found by the ten-minute fuzzing of the HTTP front).

While the answer of a pipelined request waits for a reader thread, the requests after it
on the same connection must wait too: each gets its own answer, in order, and a
`Connection: close` on the last one closes the connection once it is answered, also when
the client has half-closed its side (libwebsockets keeps the pipelined bytes in the
connection's buffer list and reads the end of the stream only once they are used).

The only reader (--readers 1) is kept busy by 300 verdicts (`exact=1`, on 480,000 raw
values loaded with `collector import`) sent on connections of their own just before, so
the pipelined requests queue behind them. Real
collector on loopback; prints TAP-style lines.
"""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Collector, check, tempdir  # noqa: E402

APP = "shop-pipe"
TOKEN = "pipe-read-token-0123456789"
BEACONS = 1200
EVENTS = 200


BUSY = 300             # verdicts queued in front of the pipelined requests


def busy_reader(port, results):
    """BUSY verdicts on connections of their own, all sent before any is answered: the one
    reader has a queue to work through."""
    socks = []
    for _ in range(BUSY):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(("GET /v1/verdict?app=%s&baseline=1.0&canary=1.1&warmup=0s&exact=1&record=0"
                   "&method=pooled HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Connection: close\r\n\r\n" % (APP, TOKEN)).encode())
        socks.append(s)
    results.append("sent")
    for s in socks:
        s.settimeout(60)
        got = b""
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                got += c
        except socket.timeout:
            pass
        s.close()
        results.append(got)


def pipelined(port, half_close):
    reqs = ""
    for i, version in enumerate(("1.0", "1.1", "1.0")):
        last = i == 2
        reqs += ("GET /v1/gate?app=%s&version=%s&min_runs=%d HTTP/1.1\r\nHost: x\r\n"
                 "Authorization: Bearer %s\r\n%s\r\n"
                 % (APP, version, i + 1, TOKEN, "Connection: close\r\n" if last else ""))
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(reqs.encode())
    if half_close:
        s.shutdown(socket.SHUT_WR)
    s.settimeout(30)
    got, closed = b"", False
    t0 = time.monotonic()
    try:
        while True:
            c = s.recv(65536)
            if not c:
                closed = True
                break
            got += c
    except socket.timeout:
        pass
    s.close()
    return got, closed, time.monotonic() - t0


def answers(raw):
    """The status and JSON body of each HTTP answer in raw, in order."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            break
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        body, raw = rest[:length], rest[length:]
        try:
            out.append((status, json.loads(body)))
        except ValueError:
            out.append((status, body[:100]))
    return out


def main():
    d = tempdir("vigil-pipe-")
    db = os.path.join(d, "vigil.db")
    now = int(time.time() * 1000) - 60000
    for version, base in (("1.0", 1000), ("1.1", 1100)):
        rc, out, err = harness.collector_cli(
            "import", "--db", db, "-",
            stdin=harness.many_values_jsonl(APP, version, base, BEACONS, EVENTS, now))
        check("import %s" % version, rc == 0, err[-300:])
    tok = harness.write_private(os.path.join(d, "read-token"), TOKEN + "\n")
    c = Collector(["--read-token-file", tok, "--readers", "1", "--read-timeout", "60000", "--max-per-address", "1000"],
                  db=db, directory=d)
    for half_close in (False, True):
        name = "half-closed" if half_close else "open"
        slow = []
        t = threading.Thread(target=busy_reader, args=(c.port, slow))
        t.start()
        while not slow:     # the busy reader's requests are all sent first
            time.sleep(0.01)
        got, closed, took = pipelined(c.port, half_close)
        t0 = time.monotonic()
        t.join()
        harness.diag("%s: pipelined answers in %.2f s, slow read done %.2f s after" % (name, took, time.monotonic() - t0))
        a = answers(got)
        check("%s: three pipelined gate requests behind a busy reader get three answers"
              % name, len(a) == 3, (len(a), got[:300]))
        check("%s: each is the gate's answer to its own request, in order" % name,
              len(a) == 3 and all(st == 200 and isinstance(b, dict) and "decision" in b
                                  for st, b in a)
              and [b.get("version") for _, b in a] == ["1.0", "1.1", "1.0"], a)
        check("%s: the connection closes after the last (Connection: close)" % name, closed,
              "%.1f s" % took)
        check("%s: the %d verdicts in front were answered too" % (name, BUSY),
              sum(1 for x in slow[1:] if x.startswith(b"HTTP/1.1 200")) == BUSY,
              [x[:60] for x in slow[1:] if not x.startswith(b"HTTP/1.1 200")][:3])
    check("the collector stops cleanly", c.stop() == 0)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
