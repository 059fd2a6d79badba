#!/usr/bin/env python3
"""`collector migrate`: a SQLite database into a real ClickHouse (collector/README.md,
"Moving a SQLite database into ClickHouse"; shared/chmigrate.h).

The database is made the way users make one: probe results pushed to `collector serve`
(the real probe against the example shop), beacons loaded with `collector import` over
three hours (values generated here), a deployment marker with `collector mark`, and a
verdict recorded by `collector compare`. After `collector migrate --store-init`:
  - every raw table has in ClickHouse (FINAL) the rows the SQLite file has, and the
    metrics the values generated here;
  - the rollups: per app, version, metric and dimension, the counts in `hist` and
    `counters` equal SQLite's rollups and the numbers generated here; the buckets of each
    histogram equal SQLite's sketch (read back by the sqlite3 module and compared bucket by
    bucket through the collector's own sums, both sides);
  - a second run adds nothing (every batch found, the sums unchanged): a migration that
    stopped is finished by running it again;
  - errors: a missing database or a bad URL exits 2, an unreachable ClickHouse exits 1 naming
    host:port and telling to run again, never a server path.
Prints TAP-style lines.
"""

import json
import os
import secrets
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from clickhouse import ClickHouse  # noqa: E402
from harness import Collector, check, request, run_probe, tempdir  # noqa: E402

APP = "shop-mig"
VERSIONS = ("1.0", "1.1")
HOURS = 3
PER_HOUR = 40           # page views per version and hour
METRICS = ("LCP", "CLS", "INP")


def cli(*args, stdin=None):
    return harness.collector_cli(*args, stdin=stdin)


def beacons(now):
    """The import's lines, and what they hold: {(version, metric): values}, page views and
    page views with an error per version."""
    lines, values, views, hits = [], {}, {}, {}
    start = now - HOURS * 3600 * 1000
    k = 0
    for v in VERSIONS:
        for h in range(HOURS):
            for i in range(PER_HOUR):
                k += 1
                t = start + h * 3600 * 1000 + i * 60000
                pv = "pv-%s-%d-%d" % (v, h, i)
                events = []
                for m in METRICS:
                    x = {"LCP": 800 + (k * 37) % 3000, "CLS": ((k * 7) % 40) / 100.0,
                         "INP": 40 + (k * 13) % 400}[m]
                    events.append({"type": "metric", "name": m, "value": float(x),
                                   "rating": "good", "id": "%s-%s" % (pv, m)})
                    values.setdefault((v, m), []).append(x)
                if i % 10 == 0:
                    events.append({"type": "error", "message": "TypeError: x is undefined %d" % (i % 3),
                                   "source": "https://shop.example/app.js", "line": 10, "col": 5,
                                   "stack": "at f (app.js:10:5)"})
                    hits[v] = hits.get(v, 0) + 1
                views[v] = views.get(v, 0) + 1
                lines.append(json.dumps({"app": APP, "version": v, "session": "s-%d" % (i % 7),
                                         "pv": pv, "page": "/p/%d" % (i % 4), "nav": "navigate",
                                         "ts": t, "received": t, "country": "DE",
                                         "ua": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
                                               " (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                                         "events": events}))
    return ("\n".join(lines) + "\n").encode(), values, views, hits


def make_database(d):
    db = os.path.join(d, "vigil.db")
    token = secrets.token_hex(16)
    token_file = harness.write_private(os.path.join(d, "token"), token + "\n")
    shop = harness.Shop(version="1.1")
    c = Collector(["--probe-token-file", token_file], db=db, directory=d)
    doc_path = os.path.join(d, "result.json")
    res = run_probe(["run", harness.EXAMPLES, "--var", "base=%s" % shop.base, "--app", APP,
                     "--version", "1.1", "--region", "eu-west", "--no-color",
                     "--report", "json:" + doc_path], env={"SHOP_PASSWORD": shop.password})
    check("the probe ran against the shop", res.code in (0, 1), res.brief())
    r = request(c.port, "POST", "/v1/probe-runs", body=open(doc_path, "rb").read(),
                headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    check("the probe result was stored (201)", r.status == 201, r.brief())
    check("the collector stops cleanly", c.stop() == 0)
    shop.stop()
    now = int(time.time() * 1000)
    data, values, views, hits = beacons(now)
    rc, out, err = cli("import", "--db", db, "-", stdin=data)
    check("import the beacons", rc == 0, (rc, err[-300:]))
    rc, out, err = cli("mark", "--db", db, "--app", APP, "--version", "1.1", "--baseline", "1.0",
                       "--ts", str(now - HOURS * 3600 * 1000), "--weight", "50")
    check("mark 1.1", rc == 0, (rc, err[-300:]))
    rc, out, err = cli("compare", "--db", db, "--app", APP, "--baseline", "1.0", "--canary", "1.1",
                       "--warmup", "0s")
    check("compare records a verdict", rc in (0, 1, 3), (rc, out[-300:], err[-300:]))
    return db, values, views, hits


def sqlite_counts(db):
    con = sqlite3.connect(db)
    counts = {t: con.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
              for t in ("pageviews", "metrics", "errors", "probe_runs", "probe_journeys",
                        "deployments", "verdicts")}
    rollups = {}
    for app, version, metric, dim, n, hits in con.execute(
            "SELECT app, version, metric, dim, sum(n), sum(hits) FROM rollups"
            " GROUP BY app, version, metric, dim"):
        rollups[(app, version, metric, dim)] = (n, hits)
    con.close()
    return counts, rollups


def ch_counts(ch):
    counts = {}
    for t in ("pageviews", "metrics", "errors", "probe_runs", "probe_journeys", "deployments",
              "verdicts"):
        counts[t] = int(ch.query("SELECT count() FROM %s FINAL" % t).strip() or 0)
    rollups = {}
    for line in ch.query("SELECT app, version, metric, dim, sum(count) FROM hist WHERE app != ''"
                         " GROUP BY app, version, metric, dim FORMAT TabSeparated").splitlines():
        a, v, m, dim, n = line.split("\t")
        rollups[(a, v, m, dim)] = (int(n), 0)
    for line in ch.query("SELECT app, version, metric, dim, sum(views), sum(hits) FROM counters"
                         " WHERE app != '' GROUP BY app, version, metric, dim"
                         " FORMAT TabSeparated").splitlines():
        a, v, m, dim, n, h = line.split("\t")
        rollups[(a, v, m, dim)] = (int(n), int(h))
    return counts, rollups


def buckets(ch, version, metric):
    out = {}
    for line in ch.query("SELECT bucket, sum(count) FROM hist WHERE app = '%s' AND version = '%s'"
                         " AND metric = '%s' AND dim = '' GROUP BY bucket FORMAT TabSeparated"
                         % (APP, version, metric)).splitlines():
        b, n = line.split("\t")
        out[int(b)] = int(n)
    return out


def main():
    d = tempdir("vigil-mig-")
    password = "mig-pass-0123456789-abc"
    pwfile = harness.write_private(os.path.join(d, "chpass"), password + "\n")
    db, values, views, hits = make_database(d)
    counts, rollups = sqlite_counts(db)
    with ClickHouse(password=password, database="vigil") as ch:
        args = ["migrate", "--db", db, "--store", ch.url, "--store-password-file", pwfile]
        rc, out, err = cli(*args, "--store-init")
        check("migrate --store-init exits 0", rc == 0, (rc, err[-400:]))
        check("its summary names what it copied", "collector: migrated" in err
              and "%d metrics" % counts["metrics"] in err, err[-400:])
        got, got_rollups = ch_counts(ch)
        for t, n in counts.items():
            check("%s: ClickHouse has the %d rows SQLite has" % (t, n), got[t] == n, (got[t], n))
        nvalues = sum(len(x) for x in values.values())
        check("metrics: as many as the values generated (%d)" % nvalues,
              got["metrics"] == nvalues, got["metrics"])
        check("probe runs and journeys came along", got["probe_runs"] == 1
              and got["probe_journeys"] >= 1, got)
        check("rollups: the same (app, version, metric, dim) groups",
              set(got_rollups) == set(rollups), sorted(set(got_rollups) ^ set(rollups))[:5])
        same = [k for k in rollups if got_rollups.get(k) == rollups[k]]
        check("rollups: every group's count (and errors' hits) equals SQLite's",
              len(same) == len(rollups), [(k, rollups[k], got_rollups.get(k))
                                          for k in rollups if k not in same][:3])
        for (v, m), xs in sorted(values.items()):
            check("hist %s %s whole version: %d values, as generated" % (v, m, len(xs)),
                  got_rollups.get((APP, v, m, "")) == (len(xs), 0), got_rollups.get((APP, v, m, "")))
        for v in VERSIONS:
            check("counters %s: %d page views, %d with an error, as generated"
                  % (v, views[v], hits[v]),
                  got_rollups.get((APP, v, "errors", "")) == (views[v], hits[v]),
                  got_rollups.get((APP, v, "errors", "")))
        first = {(v, m): buckets(ch, v, m) for v in VERSIONS for m in METRICS}
        for (v, m), b in first.items():
            check("hist %s %s: buckets sum to the values (%d buckets)" % (v, m, len(b)),
                  sum(b.values()) == len(values[(v, m)]), sum(b.values()))

        rc, out, err = cli(*args)
        check("a second run exits 0", rc == 0, (rc, err[-400:]))
        check("... and finds every batch there: 0 new batches", " 0 new batches" in err, err[-400:])
        again, again_rollups = ch_counts(ch)
        check("... raw rows unchanged (FINAL)", again == got, (again, got))
        check("... rollup sums unchanged", again_rollups == got_rollups)
        check("... buckets unchanged",
              all(buckets(ch, v, m) == first[(v, m)] for v in VERSIONS for m in METRICS))

        rc, out, err = cli("migrate", "--db", os.path.join(d, "nosuch.db"), "--store", ch.url)
        check("a missing database exits 2", rc == 2 and "does not exist" in err, (rc, err))
        rc, out, err = cli("migrate", "--db", db, "--store", "clickhouse://127.0.0.1/vigil")
        check("a URL without a port exits 2 naming it", rc == 2 and "port" in err, (rc, err))
        rc, out, err = cli("migrate", "--db", db, "--stroe", ch.url)
        check("a mistyped option exits 2 with the nearest", rc == 2 and "--store" in err, (rc, err))
        url = ch.url
        ch.stop()
        rc, out, err = cli("migrate", "--db", db, "--store", url, "--store-password-file", pwfile)
        check("ClickHouse down: exits 1, names host:port, says to run again",
              rc == 1 and "127.0.0.1:%d" % ch.port in err and "run the same command again" in err,
              (rc, err[-400:]))
        check("... and names no server path", d not in err, err[-400:])


harness.run_group(main)
sys.exit(harness.finish())
