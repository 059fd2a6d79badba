#!/usr/bin/env python3
"""Integration tests of the per-minute rollups (collector/README.md "Rollups"): what the
writer files as it stores beacons, the migration of a schema-3 database, `collector
import`, retention, and reads on the reader threads with their time limit.

Reference values are computed here, in Python, from the values the test sends (type-7
quantiles with statistics.quantiles; counts by hand); rollup quantiles must be within the
sketch's documented relative accuracy (1%) of them."""

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, tempdir  # noqa: E402

COLLECTOR = harness.COLLECTOR
ACCURACY = 0.01
NOW_MS = int(time.time() * 1000)


def run(args, stdin=None, timeout=120):
    p = subprocess.run([COLLECTOR] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def type7(values, p):
    return statistics.quantiles(values, n=100, method="inclusive")[int(round(p * 100)) - 1]


def close(got, want):
    return isinstance(got, (int, float)) and abs(got - want) <= ACCURACY * abs(want) + 1e-12


def stats(db, version, metric="LCP", since="1h", exact=False, app="roll"):
    rc, out, err = run(["stats", "--db", db, "--app", app, "--version", version, "--metric",
                        metric, "--since", since, "--json"] + (["--exact"] if exact else []))
    try:
        return json.loads(out)
    except ValueError:
        diag("stats: rc %d, %s %s" % (rc, out, err))
        return {}


def lognormal(rng, n, median, sigma):
    import math
    return [round(median * math.exp(rng.gauss(0, sigma)), 1) for _ in range(n)]


def beacon(version, i, events, received=None, page="/p", conn="4g", app="roll", ua=None):
    b = {"app": app, "version": version, "pv": "%s-%d" % (version, i), "page": page,
         "events": events, "ctx": {"conn": conn}}
    if received is not None:
        b["received"] = received
    if ua:
        b["ua"] = ua
    return b


def lcp(value, mid):
    return {"type": "metric", "name": "LCP", "value": value, "id": mid}


def write_jsonl(path, lines):
    with open(path, "w") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def test_writer_files_rollups():
    """Beacons posted to serve: counts, replacement by metric id, errors once per page view,
    and the cap on pages per minute."""
    c = harness.Collector(["--rate", "100000", "--burst", "100000"])
    import random
    rng = random.Random(7)
    values = lognormal(rng, 400, 2300, 0.5)
    batch = []
    for i, v in enumerate(values):
        ev = [lcp(v, "m-%d" % i)]
        if i % 40 == 0:
            ev.append({"type": "error", "message": "boom", "source": "app.js"})
            ev.append({"type": "error", "message": "boom again", "source": "app.js"})
        batch.append(beacon("2.0", i, ev, page="/page/%d" % (i % 150)))
        if len(batch) == 50:
            check("rollups: 50 beacons posted: 204", harness.request(c.port, "POST", "/v1/rum", batch).status == 204)
            batch = []
    # A later report of measurement m-0 (web-vitals sends updates) replaces its value.
    values[0] = 9999.0
    r = harness.request(c.port, "POST", "/v1/rum", [beacon("2.0", 0, [lcp(9999.0, "m-0"),
                        {"type": "error", "message": "late", "source": "app.js"}])])
    check("rollups: a later report of m-0 and another error of page view 0: 204", r.status == 204, r.brief())
    j = stats(c.db, "2.0")
    check("rollups: stats counts every value once (400), the update replacing m-0",
          j.get("count") == 400, j)
    for p in (0.5, 0.75, 0.95, 0.99):
        key = "p%d" % int(p * 100)
        check("rollups: stats %s within 1%% of type 7 of the values sent" % key,
              close(j.get(key), type7(values, p)), (j.get(key), type7(values, p)))
    jx = stats(c.db, "2.0", exact=True)
    check("rollups: stats --exact gives the type-7 p75 of the raw rows",
          abs(jx.get("p75", -1) - type7(values, 0.75)) < 1e-6, jx)
    r = harness.get(c.port, "/v1/series", app="roll", version="2.0", metric="errors", step="3600",
                    since="1h")
    pts = r.json().get("points", []) if r.status == 200 else []
    views = sum(p[2] for p in pts)
    share = sum(p[1] * p[2] for p in pts) / max(1, views)
    check("rollups: errors series counts 400 page views (a merged beacon is not a new one)",
          views == 400, r.brief())
    check("rollups: 10 of 400 page views had errors (two errors, or a late one, count once)",
          abs(share - 10 / 400) < 1e-9, pts)
    with sqlite3.connect(c.db) as db:
        rows = db.execute("SELECT minute, count(*), sum(n) FROM rollups WHERE app = 'roll'"
                          " AND metric = 'LCP' AND dim = 'page' GROUP BY minute").fetchall()
        other = db.execute("SELECT sum(n) FROM rollups WHERE app = 'roll' AND metric = 'LCP'"
                           " AND dim = 'page' AND key = '(other)'").fetchone()[0]
    check("rollups: at most 100 page rows per minute, and every value in one of them",
          all(k <= 100 for _, k, _ in rows) and sum(n for _, _, n in rows) == 400, rows)
    check("rollups: 150 pages in a minute fold the rest into (other)",
          len(rows) > 1 or (other or 0) > 0, (rows, other))
    r = harness.get(c.port, "/v1/breakdown", app="roll", baseline="1.0", canary="2.0",
                    metric="LCP", by="conn", since="1h")
    rows = {x["key"]: x for x in r.json().get("rows", [])} if r.status == 200 else {}
    check("rollups: breakdown by conn has the 400 canary values under 4g",
          rows.get("4g", {}).get("canary", {}).get("n") == 400, r.brief())
    # kill -9 right after the 204s: what was acknowledged is in the raw rows and the rollups
    # alike (one transaction holds both).
    acked = 0
    for k in range(20):
        r = harness.request(c.port, "POST", "/v1/rum", [beacon("3.0", 1000 * k + j, [lcp(1500 + j, "k-%d-%d" % (k, j))])
                                                        for j in range(25)])
        acked += 25 if r.status == 204 else 0
    c.kill9()
    with sqlite3.connect(c.db) as db:
        raw = db.execute("SELECT count(*) FROM metrics WHERE version = '3.0'").fetchone()[0]
        rolled = db.execute("SELECT coalesce(sum(n), 0) FROM rollups WHERE version = '3.0'"
                            " AND metric = 'LCP' AND dim = ''").fetchone()[0]
        views = db.execute("SELECT coalesce(sum(n), 0) FROM rollups WHERE version = '3.0'"
                           " AND metric = 'errors' AND dim = ''").fetchone()[0]
    check("rollups: after kill -9, every acknowledged value is in the raw rows and the rollups"
          " (%d acknowledged)" % acked, acked == 500 and raw == rolled == views == 500,
          (acked, raw, rolled, views))


V3_SCHEMA = """
CREATE TABLE pageviews (id INTEGER PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL,
  pv TEXT, session TEXT, page TEXT, nav TEXT, client_ts INTEGER, received INTEGER NOT NULL,
  last_received INTEGER NOT NULL, browser TEXT, browser_major INTEGER, os TEXT, device TEXT,
  country TEXT, conn TEXT, device_hint TEXT, viewport TEXT, dpr REAL, attrs TEXT, UNIQUE (app, pv));
CREATE INDEX pageviews_by_version ON pageviews(app, version, received);
CREATE TABLE metrics (id INTEGER PRIMARY KEY, pageview INTEGER NOT NULL REFERENCES pageviews(id),
  app TEXT NOT NULL, version TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, rating TEXT,
  mid TEXT, received INTEGER NOT NULL, updated INTEGER NOT NULL, attribution TEXT, UNIQUE (app, mid));
CREATE INDEX metrics_by_version ON metrics(app, name, version, received);
CREATE TABLE error_groups (fingerprint TEXT PRIMARY KEY, app TEXT NOT NULL, message TEXT NOT NULL,
  source TEXT, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, count INTEGER NOT NULL);
CREATE TABLE errors (id INTEGER PRIMARY KEY, pageview INTEGER NOT NULL REFERENCES pageviews(id),
  app TEXT NOT NULL, version TEXT NOT NULL, fingerprint TEXT NOT NULL, message TEXT NOT NULL,
  source TEXT, line INTEGER, col INTEGER, stack TEXT, kind TEXT, received INTEGER NOT NULL);
CREATE INDEX errors_by_version ON errors(app, version, received);
CREATE TABLE probe_runs (run_id TEXT PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL,
  region TEXT NOT NULL, host TEXT, passed INTEGER NOT NULL, started INTEGER NOT NULL,
  received INTEGER NOT NULL, document TEXT NOT NULL, key_id TEXT);
CREATE TABLE probe_journeys (run_id TEXT NOT NULL REFERENCES probe_runs(run_id), idx INTEGER NOT NULL,
  app TEXT NOT NULL, version TEXT NOT NULL, region TEXT NOT NULL, journey TEXT NOT NULL,
  passed INTEGER NOT NULL, started INTEGER NOT NULL, failed_step TEXT, failure TEXT,
  retried INTEGER NOT NULL, signed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_id, idx));
CREATE INDEX probe_journeys_by_version ON probe_journeys(app, version, started);
CREATE TABLE deployments (id INTEGER PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL,
  baseline TEXT, stage TEXT, ts INTEGER NOT NULL, note TEXT, received INTEGER NOT NULL);
CREATE INDEX deployments_by_app ON deployments(app, version, ts);
CREATE TABLE verdicts (id INTEGER PRIMARY KEY, app TEXT NOT NULL, baseline TEXT NOT NULL,
  canary TEXT NOT NULL, policy TEXT NOT NULL, method TEXT NOT NULL, decision TEXT NOT NULL,
  ts INTEGER NOT NULL, window_start INTEGER NOT NULL, n_baseline INTEGER NOT NULL,
  n_canary INTEGER NOT NULL, result TEXT NOT NULL);
CREATE INDEX verdicts_by_app ON verdicts(app, ts);
PRAGMA user_version = 3;
"""


def test_migration():
    """A schema-3 database (the first version's, raw rows only) gets its rollups on first
    open, with progress on stderr, and then answers as the raw rows do."""
    d = tempdir()
    path = os.path.join(d, "v3.db")
    import random
    rng = random.Random(11)
    data = {"1.0": lognormal(rng, 3000, 2000, 0.4), "2.0": lognormal(rng, 3000, 2600, 0.4)}
    with sqlite3.connect(path) as db:
        db.executescript(V3_SCHEMA)
        pid = 0
        for version, values in data.items():
            for i, v in enumerate(values):
                pid += 1
                t = NOW_MS - 20 * 60000 + i * 300
                db.execute("INSERT INTO pageviews (id, app, version, pv, received, last_received,"
                           " browser, conn, page) VALUES (?, 'roll', ?, ?, ?, ?, 'Chrome', 'wifi', '/')",
                           (pid, version, "pv-%d" % pid, t, t))
                db.execute("INSERT INTO metrics (pageview, app, version, name, value, mid, received,"
                           " updated) VALUES (?, 'roll', ?, 'LCP', ?, ?, ?, ?)",
                           (pid, version, v, "m-%d" % pid, t, t))
                if i % 50 == 0:
                    db.execute("INSERT INTO errors (pageview, app, version, fingerprint, message,"
                               " received) VALUES (?, 'roll', ?, 'f', 'boom', ?)", (pid, version, t))
    rc, out, err = run(["import", "--db", path, "-"], stdin=b"")
    check("migration: opening a schema-3 database for writing succeeds", rc == 0, (rc, out, err))
    check("migration: progress on stderr names what it builds",
          "building rollups: 6000 of 6000 metric values" in err
          and "building rollups: 6000 of 6000 page views" in err, err)
    with sqlite3.connect(path) as db:
        ver = db.execute("PRAGMA user_version").fetchone()[0]
        n = db.execute("SELECT sum(n) FROM rollups WHERE metric = 'LCP' AND dim = ''").fetchone()[0]
        views = db.execute("SELECT sum(n), sum(hits) FROM rollups WHERE metric = 'errors'"
                           " AND dim = ''").fetchone()
    check("migration: the schema is current (6)", ver == 6, ver)
    with sqlite3.connect(path) as db:
        cols = [r[1] for r in db.execute("PRAGMA table_info(deployments)")]
    check("migration: deployments has the weight column of schema 5", "weight" in cols, cols)
    check("migration: every raw value is in the rollups (6000)", n == 6000, n)
    check("migration: page views and page views with an error (6000, 120)",
          tuple(views) == (6000, 120), views)
    for version, values in data.items():
        j = stats(path, version, since="1h")
        check("migration: %s p75 from rollups within 1%% of type 7" % version,
              close(j.get("p75"), type7(values, 0.75)), (j, type7(values, 0.75)))
    verdicts = {}
    for exact in (False, True):
        rc, out, err = run(["compare", "--db", path, "--app", "roll", "--baseline", "1.0",
                            "--canary", "2.0", "--warmup", "0", "--json"] + (["--exact"] if exact else []))
        try:
            verdicts[exact] = json.loads(out)
        except ValueError:
            verdicts[exact] = {}
            diag("compare: %d %s" % (rc, err))
    check("migration: the verdict from rollups and from raw rows agree (+30% LCP: rollback)",
          verdicts[False].get("decision") == verdicts[True].get("decision") == "rollback",
          (verdicts[False].get("decision"), verdicts[True].get("decision")))
    check("migration: each verdict says its source",
          (verdicts[False].get("source"), verdicts[True].get("source")) == ("rollups", "raw"))


def test_import():
    """collector import: bad lines named and skipped, nothing of them stored, a summary."""
    d = tempdir()
    db = os.path.join(d, "imp.db")
    src = os.path.join(d, "beacons.jsonl")
    good = [beacon("1.0", i, [lcp(1000 + i, "i-%d" % i)], received=NOW_MS - 60000 * (i % 30),
                   ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like"
                      " Gecko) Chrome/131.0.0.0 Safari/537.36") for i in range(200)]
    lines = good[:100] + [
        '{"app": "roll", "version": "1.0", "pv": "bad-1", "events": [',            # line 101
        json.dumps(beacon("1.0", 9001, [lcp(-5, "bad-2")])),                       # line 102
        json.dumps(beacon("1.0", 9002, [lcp(5, "bad-3")], received="yesterday")),  # line 103
        "[1, 2]",                                                                  # line 104
    ] + good[100:]
    write_jsonl(src, lines)
    rc, out, err = run(["import", "--db", db, src])
    check("import: exit 0 when bad lines were skipped", rc == 0, (rc, err))
    for lineno, word in ((101, "malformed JSON"), (102, "value"), (103, "received"), (104, "object")):
        check("import: line %d reported as FILE:%d with its reason (%s)" % (lineno, lineno, word),
              any(l.startswith("%s:%d" % (src, lineno)) and word in l for l in err.splitlines()), err)
    check("import: the summary counts 200 beacons and 4 bad lines",
          "imported 200 beacons" in err and "4 bad lines" in err, err)
    with sqlite3.connect(db) as c:
        pvs = c.execute("SELECT count(*) FROM pageviews").fetchone()[0]
        bad = c.execute("SELECT count(*) FROM pageviews WHERE pv LIKE '%900%'").fetchone()[0]
        browsers = c.execute("SELECT DISTINCT browser FROM pageviews").fetchall()
        span = c.execute("SELECT max(received) - min(received) FROM pageviews").fetchone()[0]
    check("import: 200 page views stored, none of the bad lines'", pvs == 200 and bad == 0, (pvs, bad))
    check("import: ua is classified as the server does (Chrome)", browsers == [("Chrome",)], browsers)
    check("import: received is used instead of the clock (29 minutes apart)", span == 29 * 60000, span)
    j = stats(db, "1.0", since="1h")
    check("import: the rollups hold every imported value (200)", j.get("count") == 200, j)
    rc, out, err = run(["import", "--db", db])
    check("import without a FILE: usage error, exit 2", rc == 2 and "FILE" in err, (rc, err))
    rc, out, err = run(["import", "--db", db, os.path.join(d, "missing.jsonl")])
    check("import of a missing file: exit 1 naming it", rc == 1 and "missing.jsonl" in err, (rc, err))


def test_retention():
    """--retain-raw and --retain: the writer deletes expired rows; /metrics says what is kept."""
    d = tempdir()
    db = os.path.join(d, "ret.db")
    src = os.path.join(d, "old.jsonl")
    day = 86400000
    lines = []
    for i in range(300):
        age = (3 * day, int(1.5 * day), 60000)[i % 3]
        lines.append(beacon("1.0", i, [lcp(1000 + i, "r-%d" % i)], received=NOW_MS - age))
    write_jsonl(src, lines)
    rc, out, err = run(["import", "--db", db, src])
    check("retention: 300 beacons imported (ages 3 d, 1.5 d, 1 min)", rc == 0, err)
    c = harness.Collector(["--retain-raw", "1", "--retain", "2"], db=db)
    text = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = harness.get(c.port, "/metrics").text()
        if "vigil_db_oldest_rollup_timestamp_seconds" in text and "vigil_db_expired_rows_total 0" not in text:
            break
        time.sleep(0.2)
    with sqlite3.connect(db) as x:
        raw = x.execute("SELECT count(*) FROM metrics").fetchone()[0]
        pvs = x.execute("SELECT count(*) FROM pageviews").fetchone()[0]
        oldest = x.execute("SELECT min(minute) * 60000 FROM rollups").fetchone()[0]
    check("retention: raw rows older than --retain-raw 1 are deleted (100 of 300 kept)",
          raw == 100 and pvs == 100, (raw, pvs))
    check("retention: rollups older than --retain 2 are deleted, the 1.5-day-old kept",
          oldest is not None and NOW_MS - 2 * day <= oldest <= NOW_MS - day, oldest)
    j = stats(db, "1.0", since="2d")
    check("retention: stats over 2 days still counts the 1.5-day-old values from rollups (200)",
          j.get("count") == 200, j)
    vals = {l.split(" ")[0]: float(l.split(" ")[1]) for l in text.splitlines()
            if l.startswith("vigil_db_") and " " in l}
    check("retention: /metrics exposes the oldest raw row and rollup kept, and the rows deleted",
          vals.get("vigil_db_expired_rows_total", 0) >= 200 + 100
          and abs(vals.get("vigil_db_oldest_raw_timestamp_seconds", 0) * 1000 - (NOW_MS - 60000)) < 2000
          and vals.get("vigil_db_oldest_rollup_timestamp_seconds", 0) * 1000 == oldest, vals)
    c.stop()


def test_readers():
    """Reads run on reader threads with a time limit: a read past it is 503 with a JSON
    reason, and a beacon posted while a long read runs is stored and answered meanwhile."""
    d = tempdir()
    db = os.path.join(d, "read.db")
    src = os.path.join(d, "many.jsonl")
    with open(src, "w") as f:
        for i in range(60000):
            ev = [{"type": "error", "message": "err %s" % ("x" * (i % 7)), "source": "s%d.js" % (i % 500)}]
            f.write(json.dumps(beacon("2.0", i, ev, received=NOW_MS - 1000 * (i % 3000))) + "\n")
    rc, out, err = run(["import", "--db", db, src], timeout=300)
    check("readers: 60000 beacons with errors imported", rc == 0, err)
    c = harness.Collector(["--read-timeout", "10", "--rate", "100000", "--burst", "100000"], db=db)
    r = harness.get(c.port, "/v1/errors", app="roll", baseline="1.0", canary="2.0", since="1h")
    body = r.json() if r.header("content-type", "").startswith("application/json") else {}
    check("readers: a read past --read-timeout 10 answers 503 with a JSON reason",
          r.status == 503 and "time limit" in str(body.get("error")), r.brief())
    check("readers: ... and the reason names no file path", d not in r.text(), r.text())
    c.stop()
    c = harness.Collector(["--read-timeout", "60000", "--readers", "1", "--rate", "100000",
                           "--burst", "100000"], db=db)
    slow = {}

    def long_read():
        t0 = time.monotonic()
        slow["r"] = harness.get(c.port, "/v1/errors", timeout=60, app="roll", baseline="1.0",
                                canary="2.0", since="1h")
        slow["done"] = time.monotonic() - t0

    t = threading.Thread(target=long_read)
    t.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    r = harness.request(c.port, "POST", "/v1/rum", [beacon("2.0", 999999, [lcp(1234, "during")])])
    beacon_s = time.monotonic() - t0
    t.join(60)
    diag("a long read took %.3f s; a beacon posted during it %.3f s" % (slow.get("done", -1), beacon_s))
    check("readers: a beacon posted while the one reader runs a long read gets its 204",
          r.status == 204, r.brief())
    if slow.get("done", 0) > beacon_s + 0.05:
        check("readers: ... before the long read answers (ingest does not wait behind a read)",
              "r" in slow and slow["r"].status == 200 and slow["done"] > beacon_s, slow)
    else:
        diag("the long read was too quick (%.3f s) to show the order" % slow.get("done", -1))
    c.stop()


def main():
    for fn in (test_writer_files_rollups, test_migration, test_import, test_retention, test_readers):
        harness.run_group(fn)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
