#!/usr/bin/env python3
"""The writer's WAL checkpoint (collector/README.md "Ingest throughput"): the collector
checkpoints between batches, after their answers, instead of inside a COMMIT
(store_defer_checkpoints), so nothing of SQLite's automatic checkpoint is left to keep
the WAL bounded. Against the real bin/collector on loopback: beacons worth several times
SQLite's checkpoint threshold of pages are posted, each answered 204 and stored, and the
WAL file stays within twice that threshold while the collector runs.

The bound comes from SQLite's documentation, not from the collector: the automatic
checkpoint runs once the WAL holds 1000 pages (sqlite.org/pragma.html#pragma_wal_autocheckpoint),
a WAL file is a 32-byte header and frames of a 24-byte header plus one page
(sqlite.org/fileformat.html, "The WAL File Format"), and after a complete checkpoint the
next writer starts the WAL again from its beginning.

A checkpoint runs on a thread of its own (store.h store_defer_checkpoints): a disk that is
slow to sync holds up the checkpoint, not the beacons' answers. Shown with the real
collector and a disk made slow on demand (tests/shims/syncgate.c, loaded with LD_PRELOAD:
every fsync waits while the test holds it): while a checkpoint waits for the disk, more
beacons are still answered 204 and stored; once the disk answers, the WAL is checkpointed
again."""

import http.client
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Collector, check, run_group  # noqa: E402

FAST = ["--rate", "100000", "--burst", "100000", "--global-rate", "0"]
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")
THRESHOLD_PAGES = 1000      # SQLite's default wal_autocheckpoint
REQUESTS, PER_REQUEST = 1000, 50


def body(i):
    return json.dumps([{"app": "walapp", "version": "1.0", "pv": "pv-%06d-%02d" % (i, k),
                        "session": "s-1", "page": "/checkout", "nav": "navigate",
                        "events": [{"type": "metric", "name": "LCP", "value": 1200 + k,
                                    "id": "m-%06d-%02d" % (i, k)}]}
                       for k in range(PER_REQUEST)])


def post(conn, i):
    conn.request("POST", "/v1/rum", body=body(i),
                 headers={"Content-Type": "text/plain", "User-Agent": UA})
    r = conn.getresponse()
    r.read()
    return r.status


def test_wal_stays_bounded():
    c = Collector(FAST)
    conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=30)
    statuses = {}
    largest_wal = 0
    wal = c.db + "-wal"
    for i in range(REQUESTS):
        status = post(conn, i)
        statuses[status] = statuses.get(status, 0) + 1
        if os.path.exists(wal):
            largest_wal = max(largest_wal, os.path.getsize(wal))
    conn.close()
    check("every request of %d beacons answered 204" % PER_REQUEST,
          statuses == {204: REQUESTS}, str(statuses))

    db = sqlite3.connect(c.db)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    stored = db.execute("SELECT count(*) FROM pageviews WHERE app = 'walapp'").fetchone()[0]
    db.close()
    check("every beacon answered 204 is stored", stored == REQUESTS * PER_REQUEST,
          "%d page views stored" % stored)
    c.stop()

    # Every page of the database was written to the WAL at least once: an unchecked WAL
    # would have held them all.
    pages = os.path.getsize(c.db) // page_size
    frame = 24 + page_size
    bound = 32 + 2 * THRESHOLD_PAGES * frame
    check("the beacons filled more than twice the checkpoint threshold (%d pages)"
          % (2 * THRESHOLD_PAGES), pages > 2 * THRESHOLD_PAGES, "%d pages" % pages)
    check("the WAL stayed within twice the checkpoint threshold while the collector ran",
          0 < largest_wal <= bound, "largest WAL %d bytes, bound %d" % (largest_wal, bound))


SYNCGATE = os.path.join(os.path.dirname(harness.COLLECTOR), "tests", "syncgate.so")


def wal_restarts(db):
    """The WAL header's checkpoint sequence number: SQLite adds one each time a writer
    starts the WAL again from its beginning after a complete checkpoint
    (sqlite.org/fileformat.html, "The WAL File Format": bytes 12 to 15, big-endian)."""
    with open(db + "-wal", "rb") as f:
        return int.from_bytes(f.read(16)[12:16], "big")


def test_slow_disk_holds_no_answer():
    gate = harness.tempdir("vigil-syncgate-")
    hold, held = os.path.join(gate, "hold"), os.path.join(gate, "held")
    saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "VIGIL_SYNC_GATE", "ASAN_OPTIONS")}
    os.environ["LD_PRELOAD"] = SYNCGATE
    os.environ["VIGIL_SYNC_GATE"] = gate
    # An ASan build wants its runtime first among the libraries; the shim only waits.
    os.environ["ASAN_OPTIONS"] = ((saved["ASAN_OPTIONS"] + ":") if saved["ASAN_OPTIONS"] else "") \
        + "verify_asan_link_order=0"
    try:
        c = Collector(FAST)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    statuses = {}
    sent = 0
    try:
        open(hold, "w").close()
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
        # Beacons until a checkpoint starts and waits for the disk (about 1,000 pages in).
        while not os.path.exists(held) and sent < 3 * REQUESTS:
            status = post(conn, sent)
            statuses[status] = statuses.get(status, 0) + 1
            sent += 1
        check("a checkpoint started and waits for the disk", os.path.exists(held),
              "%d requests sent" % sent)
        time.sleep(0.2)     # the checkpoint is inside its fsync, not about to enter it
        during = {}
        for i in range(sent, sent + 50):
            try:
                status = post(conn, i)
            except OSError as e:    # the old way: the writer itself waited for the disk
                status = "no answer within 10 s (%s)" % e.__class__.__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
            during[status] = during.get(status, 0) + 1
            if status != 204:
                break
        sent += sum(during.values())
        check("while the checkpoint waits for the disk, 50 more requests are answered 204",
              during == {204: 50}, str(during))
        check("the checkpoint still waits for the disk", os.path.exists(hold))
        before = wal_restarts(c.db)
    finally:
        try:
            os.unlink(hold)
        except OSError:
            pass
    for i in range(sent, sent + REQUESTS):
        status = post(conn, i)
        statuses[status] = statuses.get(status, 0) + 1
    sent += REQUESTS
    conn.close()
    after = wal_restarts(c.db)
    check("once the disk answers, checkpoints complete again: the WAL started again from its"
          " beginning several times", after >= before + 2,
          "checkpoint sequence number %d while held, %d after" % (before, after))
    db = sqlite3.connect(c.db)
    stored = db.execute("SELECT count(*) FROM pageviews WHERE app = 'walapp'").fetchone()[0]
    db.close()
    answered = statuses.get(204, 0) + during.get(204, 0)
    check("every beacon answered 204 is stored", stored == answered * PER_REQUEST,
          "%d page views stored, %d requests answered 204" % (stored, answered))
    c.stop()


def main():
    run_group(test_wal_stays_bounded)
    run_group(test_slow_disk_holds_no_answer)
    harness.check_collectors_clean()
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
