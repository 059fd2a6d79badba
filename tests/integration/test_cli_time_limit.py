#!/usr/bin/env python3
"""The time limit of the collector's reading verbs (collector/README.md, "collector gate,
compare, mark": --read-timeout; issue 16 point 7, "every query has a time limit").

A database of 240,000 raw LCP values per version (loaded with `collector import`, the
values generated here) makes `stats --exact` and `compare --exact` read and sort them
all. With --read-timeout 10 (the least allowed) each stops and exits 2 (an error of the
environment, never 1 or 3, the decisions a pipeline acts on) with a message naming the
option; with the default limit the same calls answer. A limit outside its range is a
usage error naming the range. Real binaries; prints TAP-style lines.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import COLLECTOR, check, run_group, tempdir  # noqa: E402

APP = "shop-slow"
BEACONS = 1200          # per version
EVENTS = 200            # LCP values per beacon (BEACON_EVENTS_MAX)


def cli(*args, stdin=None):
    return harness.collector_cli(*args, stdin=stdin)


def setup():
    db = os.path.join(tempdir(), "slow.db")
    for version, base in (("1.0", 1000), ("1.1", 1100)):
        now = int(time.time() * 1000) - 60000
        rc, out, err = cli("import", "--db", db, "-",
                           stdin=harness.many_values_jsonl(APP, version, base, BEACONS, EVENTS, now))
        check("import %d beacons of %d values (%s)" % (BEACONS, EVENTS, version), rc == 0,
              (rc, out[-200:], err[-300:]))
    return db


def test_limits(db):
    cases = (
        ("stats --exact", ["stats", "--db", db, "--app", APP, "--version", "1.1", "--metric",
                           "LCP", "--exact", "--since", "1h"]),
        ("compare --exact", ["compare", "--db", db, "--app", APP, "--baseline", "1.0",
                             "--canary", "1.1", "--exact", "--warmup", "0s", "--method",
                             "pooled"]),
    )
    for name, args in cases:
        rc, out, err = cli(*args, "--read-timeout", "10")
        check("%s --read-timeout 10 stops and exits 2 (not a decision)" % name, rc == 2,
              (rc, out[-300:], err[-300:]))
        check("%s past its limit says so and names --read-timeout" % name,
              "time limit of 10 ms" in err and "--read-timeout" in err, err[-300:])
        check("%s past its limit names no file" % name, db not in err, err[-300:])
        rc, out, err = cli(*args)
        check("%s within the default limit answers" % name, rc in (0, 1, 3),
              (rc, out[-300:], err[-300:]))
    for bad in ("9", "600001", "1e3", "5s"):
        rc, out, err = cli("stats", "--db", db, "--app", APP, "--version", "1.1", "--metric",
                           "LCP", "--read-timeout", bad)
        check("stats --read-timeout %s is a usage error naming the range" % bad,
              rc == 2 and "--read-timeout takes a number from 10 to 600000" in err,
              (rc, err[-200:]))
    rc, out, err = cli("gate", "--db", db, "--app", APP, "--version", "1.1", "--read-timeout",
                       "0x10")
    check("gate --read-timeout 0x10 is a usage error", rc == 2 and "--read-timeout" in err,
          (rc, err[-200:]))


def main():
    if not os.access(COLLECTOR, os.X_OK):
        check("bin/collector exists (%s)" % COLLECTOR, False, "build it with make")
        return harness.finish()
    db = setup()
    run_group(test_limits, db)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
