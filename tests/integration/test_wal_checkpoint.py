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
next writer starts the WAL again from its beginning."""

import http.client
import json
import os
import sqlite3
import sys

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


def test_wal_stays_bounded():
    c = Collector(FAST)
    conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=30)
    statuses = {}
    largest_wal = 0
    wal = c.db + "-wal"
    for i in range(REQUESTS):
        conn.request("POST", "/v1/rum", body=body(i),
                     headers={"Content-Type": "text/plain", "User-Agent": UA})
        r = conn.getresponse()
        r.read()
        statuses[r.status] = statuses.get(r.status, 0) + 1
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


def main():
    run_group(test_wal_stays_bounded)
    harness.check_collectors_clean()
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
