#!/usr/bin/env python3
"""Parity of the two stores over HTTP (issue 11): the same beacons, markers and probe runs
go to a collector on SQLite (--db) and to a collector on ClickHouse (--store, a real
clickhouse-server started by tests/integration/clickhouse.py); every read the API has then
answers the same on both, within the histogram's accuracy.

The scenarios are the comparator's (tests/integration/test_comparator.py "verdict"):
 (a) app shop: canary 1.2.3 with LCP x1.3 on 3000 page views against 6000 of 1.2.2, a
     marker with weight 33 (the traffic split the counts match), a JS error only the canary
     has: the conservative verdict rolls back;
 (b) app shop-same: identical distributions of all five vitals, 6000 page views each, 2%
     with an error: the aggressive verdict promotes;
 (c) app shop, canary 1.2.5 with 20 page views: pause;
and two probe runs of shop 1.2.3 (eu-west passed, us-east failed): the gate blocks.

Expectations: the decisions (a) rollback, (b) promote, (c) pause and the gate's block come
from the scenarios (as test_comparator.py asserts them for SQLite), and both collectors
must give them; every other answer (verdict metrics, series, breakdown, new errors, probe
results and runs, markers, recorded verdicts, apps, versions, traffic) must be equal
between the two: counts exactly, values (quantiles, bounds, ratios) within 2% (each
store's histogram is within 1% of the value: shared/sketch.h), times that are "now" or a
receipt (window ends, last_seen) within a few seconds.
"""

import json
import re
import math
import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, get, request, run_group, tempdir, write_private  # noqa: E402
from harness import Collector  # noqa: E402
from clickhouse import ClickHouse, CHCollector  # noqa: E402

PASSWORD = "parity-ch-password-0123456789"
TOKEN = "parity-probe-token-0123456789"
TOLERANCE = 0.02            # two histograms, each within 1% of a value
SECONDS = 5000              # ms: receipt times and "now" of two collectors asked in turn
UAS = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/120.0.0.0 Safari/537.36",
       "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"]
# Keys whose values are times of "now" or of receipt (ms or s), compared within SECONDS.
TIME_KEYS = {"last_seen", "first_seen", "to_ms", "until", "to", "from", "at_ms", "now"}


def pageview(app, version, idx, metrics, error=None, page="/"):
    pv = "pv-%s-%s-%d" % (app, version, idx)
    events = [{"type": "metric", "name": name, "value": round(value, 4),
               "id": "m-%s-%s-%d-%s" % (app, version, idx, name)} for name, value in metrics]
    if error:
        events.append({"type": "error", "message": error, "source": "app.js", "line": 10,
                       "col": 4, "kind": "error"})
    return {"app": app, "version": version, "pv": pv, "page": page, "events": events}


def vitals(rng):
    return [("LCP", rng.lognormvariate(math.log(2300), 0.5)),
            ("INP", rng.lognormvariate(math.log(180), 0.6)),
            ("FCP", rng.lognormvariate(math.log(1500), 0.5)),
            ("TTFB", rng.lognormvariate(math.log(600), 0.5)),
            ("CLS", min(100.0, rng.lognormvariate(math.log(0.05), 0.8)))]


def beacons():
    rng = random.Random(20261202)
    pages = ["/", "/cart", "/checkout"]
    out = []
    for i in range(6000):
        out.append(pageview("shop", "1.2.2", i, [("LCP", rng.lognormvariate(math.log(2300), 0.5))],
                            error="Old error: x" if i % 100 == 0 else None, page=pages[i % 3]))
    for i in range(3000):
        out.append(pageview("shop", "1.2.3", i,
                            [("LCP", 1.3 * rng.lognormvariate(math.log(2300), 0.5))],
                            error="TypeError: boom in checkout" if i % 90 == 0 else None,
                            page=pages[i % 3]))
    out += [pageview("shop", "1.2.5", i, [("LCP", rng.lognormvariate(math.log(2300), 0.5))])
            for i in range(20)]
    for version in ("1.2.2", "1.2.3"):
        errs = set(rng.sample(range(6000), 120))
        out += [pageview("shop-same", version, i, vitals(rng),
                         error="TypeError: x is undefined" if i in errs else None)
                for i in range(6000)]
    rng.shuffle(out)
    return out


def probe_doc(region, passed, started):
    steps = [{"name": "home", "result": "passed", "timings_ms": {"total": 12}}]
    if not passed:
        steps.append({"name": "pay", "result": "failed", "timings_ms": {"total": 30},
                      "failures": [{"check": "status", "message": "expected 200, got 500"}]})
    return {"schema": "vigil.probe-result/1", "run_id": str(uuid.uuid4()), "passed": passed,
            "started_at": started, "labels": {"app": "shop", "version": "1.2.3",
                                              "region": region},
            "journeys": [{"name": "checkout", "passed": passed, "started_at": started,
                          "iteration": 0, "duration_ms": 42, "steps": steps}]}


def post_all(ports, items):
    """POSTs each chunk of 50 beacons to every collector in turn (so both receive it within
    milliseconds), alternating two browsers' User-Agents. Returns the non-204 answers."""
    bad = []
    for k in range(0, len(items), 50):
        body = json.dumps(items[k:k + 50], separators=(",", ":"))
        for port in ports:
            r = request(port, "POST", "/v1/rum", body=body, timeout=30,
                        headers={"Content-Type": "application/json",
                                 "User-Agent": UAS[(k // 50) % 2]})
            if r.status != 204:
                bad.append((port, r.status, r.body[:200]))
    return bad


NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def same_text(a, b):
    """Two sentences (a verdict's reasons) are the same when their words are and each pair
    of numbers in them is within TOLERANCE or one unit of the last digit printed: the
    numbers come from histograms within 1% of each other and are rounded for reading
    (+118% and +119%, -1% and +0%)."""
    if a == b:
        return True
    if NUMBER.sub("#", a).replace("+#", "#").replace("-#", "#") != \
            NUMBER.sub("#", b).replace("+#", "#").replace("-#", "#"):
        return False
    for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
        fx, fy = float(x), float(y)
        unit = 10 ** -len(x.split(".")[1]) if "." in x else 1
        if abs(fx - fy) > max(TOLERANCE * max(abs(fx), abs(fy)), unit + 1e-9):
            return False
    return True


def difference_scale(m):
    """The size of the values a metric's absolute difference subtracts (the largest of
    both versions' value and bounds): a difference of two values each within 1% is within
    TOLERANCE of that, however close to 0 the difference itself is (CLS p75 0.100 against
    0.101 on identical traffic gives -0.0011 from one store and -0.0012 from the other)."""
    sizes = [abs(v[k]) for v in (m.get("baseline"), m.get("canary")) if isinstance(v, dict)
             for k in ("value", "lower", "upper")
             if isinstance(v.get(k), (int, float)) and math.isfinite(v[k])]
    return max(sizes, default=0.0)


def differences(a, b, path="", out=None, scale=0.0):
    """Where two answers differ beyond what the stores may: numbers within TOLERANCE of the
    larger (or of scale, for an absolute difference and its bounds: difference_scale),
    integers exactly except times, times within SECONDS, the rest equal."""
    out = [] if out is None else out
    key = path.rsplit(".", 1)[-1]
    if isinstance(a, dict) and isinstance(b, dict):
        within = difference_scale(a) if "difference" in a else 0.0
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append("%s.%s: only in %s" % (path, k, "SQLite" if k in a else "ClickHouse"))
            else:
                differences(a[k], b[k], "%s.%s" % (path, k), out,
                            within if k in ("difference", "bounds") else 0.0)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append("%s: %d items against %d" % (path, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            differences(x, y, "%s[%d]" % (path, i), out, scale)
    elif isinstance(a, str) and isinstance(b, str):
        if not same_text(a, b):
            out.append("%s: %r against %r" % (path, a, b))
    elif isinstance(a, bool) or isinstance(b, bool) or a is None or b is None \
            or isinstance(a, str) or isinstance(b, str):
        if a != b:
            out.append("%s: %r against %r" % (path, a, b))
    elif key in TIME_KEYS:
        scale = 1 if key.endswith("ms") or abs(a) > 1e11 else 1000
        if abs(a - b) * scale > SECONDS:
            out.append("%s: %r against %r (times)" % (path, a, b))
    elif isinstance(a, int) and isinstance(b, int):
        if a != b:
            out.append("%s: %r against %r" % (path, a, b))
    elif abs(a - b) > TOLERANCE * max(abs(a), abs(b), scale) and abs(a - b) > 1e-9:
        out.append("%s: %r against %r (more than %g%% apart)" % (path, a, b, 100 * TOLERANCE))
    return out


def same(name, sq, chp, path, drop=(), **params):
    """GETs path of both collectors with params; checks equal status and equal answers
    (differences()), keys in drop left out. Returns the SQLite answer."""
    r1 = get(sq.port, path, **params)
    r2 = get(chp.port, path, **params)
    a, b = r1.json(), r2.json()
    for k in drop:
        if isinstance(a, dict):
            a.pop(k, None)
        if isinstance(b, dict):
            b.pop(k, None)
    diff = differences(a, b) if r1.status == r2.status else ["status %d against %d" % (
        r1.status, r2.status)]
    check("%s: the same answer from both stores (%s, %d bytes)" % (name, r1.status,
                                                                   len(r1.body)),
          not diff and r1.status == 200, "; ".join(diff[:8]) + " | SQLite %s | ClickHouse %s"
          % (r1.brief(), r2.brief()))
    return a


def test_parity(ctx):
    sq, chp = ctx["sqlite"], ctx["ch"]
    ports = [sq.port, chp.port]
    now = int(time.time() * 1000)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1000 - 30))
    # The canary's marker, a minute before its beacons: a third of the page views.
    marker = {"app": "shop", "version": "1.2.3", "baseline": "1.2.2", "stage": "canary",
              "ts": now - 60000, "weight": 33.3, "note": "parity"}
    for port in ports:
        r = request(port, "POST", "/v1/deployments", body=json.dumps(marker),
                    headers={"Content-Type": "application/json",
                             "Authorization": "Bearer " + TOKEN})
        check("marker posted (%d)" % port, r.status == 201, r.brief())
    # Two runs a second apart: two runs of one start come in storage order from SQLite and
    # by run id from ClickHouse (collector/README.md, "Reads from ClickHouse").
    docs = [probe_doc("eu-west", True, started),
            probe_doc("us-east", False, time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                      time.gmtime(now / 1000 - 29)))]
    for port in ports:
        for d in docs:
            r = request(port, "POST", "/v1/probe-runs", body=json.dumps(d),
                        headers={"Content-Type": "application/json",
                                 "Authorization": "Bearer " + TOKEN})
            check("probe run %s posted (%d)" % (d["labels"]["region"], port), r.status == 201,
                  r.brief())
    items = beacons()
    t0 = time.monotonic()
    bad = post_all(ports, items)
    check("%d beacons into each collector (every POST 204)" % len(items), not bad, bad[:2])
    diag("posted %d beacons to both in %.1f s" % (len(items), time.monotonic() - t0))
    # A 204 from the ClickHouse collector means its batch is stored or spooled; with
    # ClickHouse up, nothing stays in the spool (its /metrics say so).
    spooled = [l for l in get(chp.port, "/metrics").text().splitlines()
               if l.startswith("vigil_store_spool_batches ")]
    diag("ClickHouse collector: %s" % (spooled or "no spool figure"))

    for app, base, canary, policy, want in [("shop", "1.2.2", "1.2.3", "conservative", "rollback"),
                                            ("shop-same", "1.2.2", "1.2.3", "aggressive",
                                             "promote"),
                                            ("shop", "1.2.2", "1.2.5", "conservative", "pause")]:
        v = same("verdict %s %s/%s %s" % (app, base, canary, policy), sq, chp, "/v1/verdict",
                 drop=("window",), app=app, baseline=base, canary=canary, policy=policy,
                 warmup="0")
        check("verdict %s %s/%s: %s, as the scenario says" % (app, base, canary, want),
              isinstance(v, dict) and v.get("decision") == want, json.dumps(v)[:400])
    g = same("gate shop 1.2.3", sq, chp, "/v1/gate", app="shop", version="1.2.3")
    check("gate shop 1.2.3: block (us-east failed)", isinstance(g, dict)
          and g.get("decision") == "block", json.dumps(g)[:300])
    for metric in ("LCP", "errors"):
        same("series shop 1.2.3 %s" % metric, sq, chp, "/v1/series", app="shop",
             version="1.2.3", metric=metric, step="3600", since="1h")
    same("series shop-same 1.2.2 CLS p95", sq, chp, "/v1/series", app="shop-same",
         version="1.2.2", metric="CLS", q="p95", step="3600", since="1h")
    for by in ("browser", "page"):
        same("breakdown shop LCP by %s" % by, sq, chp, "/v1/breakdown", app="shop",
             metric="LCP", baseline="1.2.2", canary="1.2.3", by=by, since="1h")
    e = same("errors shop 1.2.2/1.2.3", sq, chp, "/v1/errors", app="shop", baseline="1.2.2",
             canary="1.2.3", since="1h")
    new = (e or {}).get("new") or []
    check("errors: the canary's one new group, 34 times", len(new) == 1
          and new[0].get("count") == 34, json.dumps(e)[:300])
    same("probe results shop", sq, chp, "/v1/probe-results", app="shop")
    same("probe runs shop", sq, chp, "/v1/probe-runs", app="shop")
    same("deployments shop", sq, chp, "/v1/deployments", app="shop")
    same("traffic shop", sq, chp, "/v1/traffic", app="shop", baseline="1.2.2", canary="1.2.3")
    # The verdict history: the same verdicts recorded (their times are each collector's).
    # A verdict is recorded after its answer, by the writer (collector/README.md): waited
    # for, at most 15 s.
    strip = lambda j: [{k: v for k, v in x.items() if k != "ts"}  # noqa: E731
                       for x in ((j or {}).get("verdicts") or [])]
    deadline = time.monotonic() + 15
    while True:
        a = strip(get(sq.port, "/v1/verdicts", app="shop").json())
        b = strip(get(chp.port, "/v1/verdicts", app="shop").json())
        if (len(a) == 2 and len(b) == 2) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    diff = differences(a, b)
    check("verdict history shop: the same %d recorded verdicts" % len(a),
          not diff and len(a) == 2, "; ".join(diff[:6]) + " | ClickHouse collector's log: "
          + harness.read_text(chp.log)[-600:])
    apps = same("apps", sq, chp, "/v1/apps")
    check("apps: both apps with their page views", sorted(
        (x.get("app"), x.get("pageviews")) for x in (apps or {}).get("apps", []))
          == [("shop", 9020), ("shop-same", 12000)], json.dumps(apps)[:300])
    same("versions shop", sq, chp, "/v1/versions", app="shop")


def main():
    d = tempdir("vigil-parity-")
    pwfile = write_private(os.path.join(d, "chpass"), PASSWORD + "\n")
    tok = write_private(os.path.join(d, "token"), TOKEN + "\n")
    common = ["--probe-token-file", tok, "--rate", "100000", "--burst", "100000"]
    with ClickHouse(password=PASSWORD, database="vigil") as ch:
        sq = Collector(common, name="parity-sqlite")
        chc = CHCollector(ch.url, common + ["--store-password-file", pwfile, "--store-init",
                                            "--spool-dir", os.path.join(d, "spool")],
                          "parity-clickhouse")
        run_group(test_parity, {"sqlite": sq, "ch": chc})
        reports = harness.collector_sanitizer_reports([sq, chc])
        check("no collector printed a sanitizer report", not reports, reports)
        sq.kill_quietly()
        chc.kill_quietly()


main()
sys.exit(harness.finish())
