#!/usr/bin/env python3
"""A later beacon may update only the same (app, version, pv, metric name), within that
metric's limits (collector/README.md "Rollups", issue 16 point 2). Anything else is stored
as its own page view or metric, or refused, and changes nothing already stored: neither
the raw rows nor the rollups.

Reference values are the ones this test sends: the stored LCP must stay exactly what was
sent first (2000) until an allowed update (2500); the rollups' quantiles must be within
the sketch's documented 1% of those values, with the counts computed by hand."""

import json
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag  # noqa: E402

APP = "ow"


def stats(db, version, metric, exact=False):
    p = subprocess.run([harness.COLLECTOR, "stats", "--db", db, "--app", APP, "--version", version,
                        "--metric", metric, "--since", "1h", "--json"] + (["--exact"] if exact else []),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    try:
        return json.loads(p.stdout.decode())
    except ValueError:
        diag("stats: rc %d, %s" % (p.returncode, p.stderr.decode()[-300:]))
        return {}


def within(got, want):
    return isinstance(got, (int, float)) and abs(got - want) <= 0.01 * want


def rows(db, sql, params=()):
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


def post(c, b):
    return harness.request(c.port, "POST", "/v1/rum", b)


def metric(name, value, mid):
    return {"type": "metric", "name": name, "value": value, "id": mid}


def lcp_rows(db):
    """The stored LCP m-1 of version 2.0's page view pv-1: [(value, name, version)]."""
    return rows(db, "SELECT m.value, m.name, m.version FROM metrics m JOIN pageviews p"
                " ON p.id = m.pageview WHERE m.app = ? AND m.mid = 'm-1' AND p.pv = 'pv-1'"
                " AND p.version = '2.0' AND m.name = 'LCP'", (APP,))


def rollup_n(db, version, metric, dim=""):
    return rows(db, "SELECT coalesce(sum(n), 0) FROM rollups WHERE app = ? AND version = ?"
                " AND metric = ? AND dim = ?", (APP, version, metric, dim))[0][0]


def unchanged(c, label, lcp=2000.0):
    """The first page view and its LCP as they were: raw row, rollups and --exact."""
    check("%s: the stored LCP of (2.0, pv-1, m-1) is still %g" % (label, lcp),
          lcp_rows(c.db) == [(lcp, "LCP", "2.0")], lcp_rows(c.db))
    j = stats(c.db, "2.0", "LCP")
    check("%s: the rollups hold one LCP of 2.0, within 1%% of %g" % (label, lcp),
          j.get("count") == 1 and within(j.get("p50"), lcp), j)
    jx = stats(c.db, "2.0", "LCP", exact=True)
    check("%s: --exact (raw rows) agrees: one LCP of %g" % (label, lcp),
          jx.get("count") == 1 and jx.get("p50") == lcp, jx)
    page = rows(c.db, "SELECT page FROM pageviews WHERE app = ? AND version = '2.0' AND pv = 'pv-1'",
                (APP,))
    check("%s: 2.0's page view pv-1 keeps its empty page" % label, page == [(None,)], page)
    check("%s: version 2.0 counts one page view in the rollups" % label,
          rollup_n(c.db, "2.0", "errors") == 1, rollup_n(c.db, "2.0", "errors"))


def test_overwrite():
    c = harness.Collector(["--rate", "100000", "--burst", "100000"])
    first = {"app": APP, "version": "2.0", "pv": "pv-1", "events": [metric("LCP", 2000, "m-1")]}
    r = post(c, first)
    check("first beacon (2.0, pv-1, LCP 2000, id m-1): 204", r.status == 204, r.brief())
    unchanged(c, "first beacon")

    # The reproduction: another version, another name, the same metric id.
    r = post(c, {"app": APP, "version": "9.9", "pv": "pv-9",
                 "events": [metric("zzz", 999999999, "m-1")]})
    check("{9.9, zzz 999999999, id m-1}: 204 (a valid custom metric of its own)",
          r.status == 204, r.brief())
    unchanged(c, "after another version's zzz with id m-1")
    check("... stored as its own measurement of 9.9's own page view",
          rows(c.db, "SELECT m.version, m.name, m.value, p.version, p.pv FROM metrics m JOIN pageviews p"
               " ON p.id = m.pageview WHERE m.app = ? AND m.name = 'zzz'", (APP,))
          == [("9.9", "zzz", 999999999.0, "9.9", "pv-9")])
    series = harness.get(c.port, "/v1/series", app=APP, version="2.0", metric="LCP", q="p99",
                         step="60", since="1h")
    top = max((p[1] for p in series.json().get("points", [])), default=None) \
        if series.status == 200 else None
    check("... 2.0's LCP series never goes past the 600,000 cap (%s)" % top,
          top is not None and top <= 600000, series.brief())

    # The same pv under another version: its own page view, with its own page and metric.
    r = post(c, {"app": APP, "version": "9.9", "pv": "pv-1", "page": "/attacker",
                 "ctx": {"conn": "2g"}, "events": [metric("LCP", 3000, "m-2")]})
    check("{9.9, pv-1, page /attacker, LCP id m-2}: 204", r.status == 204, r.brief())
    unchanged(c, "after pv-1 under another version")
    got = rows(c.db, "SELECT p.version, p.page, m.version, m.value FROM metrics m JOIN pageviews p"
               " ON p.id = m.pageview WHERE m.app = ? AND m.mid = 'm-2'", (APP,))
    check("... its metric belongs to its own page view (9.9, pv-1, /attacker)",
          got == [("9.9", "/attacker", "9.9", 3000.0)], got)
    check("... two page views named pv-1, one per version",
          sorted(rows(c.db, "SELECT version FROM pageviews WHERE app = ? AND pv = 'pv-1'", (APP,)))
          == [("2.0",), ("9.9",)])
    check("... the rollups count 9.9's two page views and its one LCP under 2g",
          (rollup_n(c.db, "9.9", "errors"), rollup_n(c.db, "9.9", "LCP"),
           rows(c.db, "SELECT key, n FROM rollups WHERE app = ? AND version = '9.9'"
                " AND metric = 'LCP' AND dim = 'conn'", (APP,))) == (2, 1, [("2g", 1)]))

    # The same page view and id under another name: not an update of the LCP.
    r = post(c, {"app": APP, "version": "2.0", "pv": "pv-1",
                 "events": [metric("zzz", 999999999, "m-1")]})
    check("{2.0, pv-1, zzz 999999999, id m-1}: 204", r.status == 204, r.brief())
    unchanged(c, "after the same page view's zzz with id m-1")
    check("... the zzz value is a measurement of its own",
          stats(c.db, "2.0", "zzz").get("count") == 1)

    # The same page view, name and id, past the metric's limit: refused, nothing changes.
    r = post(c, {"app": APP, "version": "2.0", "pv": "pv-1",
                 "events": [metric("LCP", 999999999, "m-1")]})
    check("{2.0, pv-1, LCP 999999999, id m-1}: 400 naming the value",
          r.status == 400 and "events[0].value" in r.text(), r.brief())
    unchanged(c, "after the refused LCP 999999999")

    # A later beacon of the same page view does not rewrite what its first beacon said
    # (the slices its values were counted under).
    r = post(c, {"app": APP, "version": "2.0", "pv": "pv-1", "page": "/late",
                 "ctx": {"conn": "slow-2g"}, "events": [metric("FCP", 900, "m-3")]})
    check("{2.0, pv-1, page /late, FCP}: 204", r.status == 204, r.brief())
    unchanged(c, "after a later beacon of the page view with a page")
    check("... its FCP counts under the page view's first slices ((none), not /late or slow-2g)",
          rows(c.db, "SELECT dim, key FROM rollups WHERE app = ? AND version = '2.0' AND metric = 'FCP'"
               " AND dim IN ('page', 'conn') ORDER BY dim", (APP,))
          == [("conn", "(none)"), ("page", "(none)")])

    # The update the rule allows: same app, version, pv, metric name and id, within limits.
    r = post(c, {"app": APP, "version": "2.0", "pv": "pv-1", "events": [metric("LCP", 2500, "m-1")]})
    check("{2.0, pv-1, LCP 2500, id m-1}: 204", r.status == 204, r.brief())
    unchanged(c, "after the allowed update", lcp=2500.0)
    check("... the rollups moved the value: one LCP row of n 1 per slice, none left at 2000",
          rollup_n(c.db, "2.0", "LCP") == 1 and rollup_n(c.db, "2.0", "LCP", "page") == 1,
          (rollup_n(c.db, "2.0", "LCP"), rollup_n(c.db, "2.0", "LCP", "page")))
    c.stop()


def test_migrated():
    """A database of the first schema, keyed by (app, pv) and (app, mid), migrated to version 6:
    its rows keep their ids and references, and then follow the same rule."""
    import time
    from test_rollups import V3_SCHEMA
    path = os.path.join(harness.tempdir(), "v3.db")
    t = int(time.time() * 1000) - 10 * 60000
    with sqlite3.connect(path) as db:
        db.executescript(V3_SCHEMA)
        db.execute("INSERT INTO pageviews (id, app, version, pv, received, last_received)"
                   " VALUES (7, ?, '2.0', 'pv-1', ?, ?)", (APP, t, t))
        db.execute("INSERT INTO metrics (id, pageview, app, version, name, value, mid, received,"
                   " updated) VALUES (11, 7, ?, '2.0', 'LCP', 2000, 'm-1', ?, ?)", (APP, t, t))
    later = [{"app": APP, "version": "9.9", "pv": "pv-1", "page": "/attacker", "received": t + 1000,
              "events": [metric("LCP", 999, "m-1")]},
             {"app": APP, "version": "2.0", "pv": "pv-1", "received": t + 2000,
              "events": [metric("LCP", 2500, "m-1")]}]
    p = subprocess.run([harness.COLLECTOR, "import", "--db", path, "-"],
                       input="\n".join(json.dumps(b) for b in later).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check("migrated: import of two later beacons into a schema-3 database succeeds",
          p.returncode == 0, p.stderr.decode()[-300:])
    check("migrated: the schema is version 6", rows(path, "PRAGMA user_version") == [(6,)],
          rows(path, "PRAGMA user_version"))
    check("migrated: 2.0's page view keeps id 7 and its empty page, its LCP id 11 and page view 7,"
          " updated to 2500 by the same (version, pv, name, id)",
          rows(path, "SELECT p.id, p.page, m.id, m.pageview, m.value FROM metrics m JOIN pageviews p"
               " ON p.id = m.pageview WHERE p.version = '2.0'") == [(7, None, 11, 7, 2500.0)],
          rows(path, "SELECT * FROM metrics"))
    check("migrated: 9.9's pv-1 is a page view of its own with its own LCP",
          rows(path, "SELECT p.page, m.value FROM metrics m JOIN pageviews p ON p.id = m.pageview"
               " WHERE p.version = '9.9' AND p.pv = 'pv-1'") == [("/attacker", 999.0)])
    check("migrated: the rollups hold 2.0's one LCP at 2500 and 9.9's at 999",
          rows(path, "SELECT version, n FROM rollups WHERE app = ? AND metric = 'LCP' AND dim = ''"
               " ORDER BY version", (APP,)) == [("2.0", 1), ("9.9", 1)]
          and within(stats(path, "2.0", "LCP").get("p50"), 2500), stats(path, "2.0", "LCP"))


def main():
    harness.run_group(test_overwrite)
    harness.run_group(test_migrated)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
