#!/usr/bin/env python3
"""Collectors on the ClickHouse store (collector/README.md, "ClickHouse"), against a real
clickhouse-server (tests/integration/clickhouse.py):

 (a) fleet: two collectors on different ports share one ClickHouse; beacons are split
     between them; ClickHouse holds every one once (SQL counts of the raw rows and of the
     rollups, against the beacons sent, counted here), a read asked of either collector
     (/v1/series, from the rollups) sees all of them, a later value of a metric replaces
     the earlier one in the rollups, and a probe run pushed to one is "there before" when
     pushed again to the other;
 (b) outage: ClickHouse is stopped in the middle of a load, one collector is killed with
     SIGKILL and started again (while ClickHouse is still down), then ClickHouse: every
     beacon that got a 204 is stored, and the rollups count each stored page view exactly
     once (the spool's replay and the batch-id markers);
 (c) spool bound: with ClickHouse unreachable, beacons get 204 from the spool until
     --spool-max-bytes, then 503 with a reason that names the bound; /healthz says
     degraded, /metrics counts the spooled batches and bytes, and a read answers 503 with
     a JSON reason;
 (d) option errors exit 2 with a message.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, run_group, tempdir, write_private, request, get  # noqa: E402
from harness import COLLECTOR  # noqa: E402
from clickhouse import ClickHouse, CHCollector  # noqa: E402

PASSWORD = "fleet-ch-password-0123456789"
TOKEN = "fleet-probe-token-0123456789"


def beacon(app, version, pv, value, mid=None, name="LCP"):
    return {"app": app, "version": version, "pv": pv,
            "events": [{"type": "metric", "name": name, "value": value, "id": mid or pv}]}


def post(port, beacons, timeout=15):
    return request(port, "POST", "/v1/rum", body=json.dumps(beacons),
                   headers={"Content-Type": "application/json"}, timeout=timeout)


def probe_doc(app, version):
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"schema": "vigil.probe-result/1", "run_id": str(uuid.uuid4()), "passed": True,
            "started_at": t, "labels": {"app": app, "version": version, "region": "eu-west"},
            "journeys": [{"name": "checkout", "passed": True, "started_at": t,
                          "iteration": 0, "duration_ms": 3,
                          "steps": [{"name": "s", "result": "passed",
                                     "timings_ms": {"total": 1}}]}]}


def push(port, doc):
    return request(port, "POST", "/v1/probe-runs", body=json.dumps(doc),
                   headers={"Content-Type": "application/json",
                            "Authorization": "Bearer " + TOKEN})


def scalar(ch, sql):
    return int(ch.query(sql).strip() or 0)


def metric_value(port, name):
    text = get(port, "/metrics").text()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def wait_for(cond, timeout, step=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def series_count(port, app, version):
    """Values of LCP of app/version in the last hour, from /v1/series (the rollups)."""
    r = get(port, "/v1/series", app=app, version=version, metric="LCP", since="1h")
    if r.status != 200:
        return None, r
    body = r.json() or {}
    pts = body.get("points") or []
    return sum(p[2] for p in pts if isinstance(p, list) and len(p) > 2), r


def test_fleet(ctx):
    ch, url, common = ctx["ch"], ctx["url"], ctx["common"]
    d = ctx["dir"]
    a = CHCollector(url, common + ["--store-init", "--spool-dir", os.path.join(d, "spool-a")],
                    "fleet-a")
    b = CHCollector(url, common + ["--spool-dir", os.path.join(d, "spool-b")], "fleet-b")
    ctx["collectors"] += [a, b]
    check("fleet: two collectors on one ClickHouse listen on different ports",
          a.port != b.port and a.alive() and b.alive())
    rc, err = run(["serve", "--store", url, "--listen", "127.0.0.1:0"] + common
                  + ["--spool-dir", os.path.join(d, "spool-a")])
    check("fleet: a third collector on fleet-a's spool folder exits 2 (one spool each)",
          rc == 2 and "another process" in err, "exit %s: %s" % (rc, err[-300:]))

    n, stat = 400, []
    # The canary's marker (below) starts the verdict's window: it is dated a minute before
    # the first beacon, so that the window (whole minutes of the rollups) holds every
    # beacon wherever a minute's edge falls (posted "now", it once fell between the
    # baseline's beacons and the marker: 300 of the 400 were in the window).
    first_ms = int(time.time() * 1000)
    for i in range(0, n, 50):
        port = a.port if (i // 50) % 2 == 0 else b.port
        beacons = [beacon("fleet", "1.0", "pv-%04d" % k, 1000.0 + k) for k in range(i, i + 50)]
        stat.append(post(port, beacons).status)
    check("fleet: 8 requests of 50 beacons, split between the two, all 204",
          stat == [204] * 8, stat)
    # A later report of the same metric id, to the collector that had the first: the
    # rollups move the value instead of adding one (SQLite's rule).
    r = post(a.port, [beacon("fleet", "1.0", "pv-0000", 7777.0)])
    check("fleet: a later value of pv-0000's LCP gets 204", r.status == 204, r.brief())

    pv = scalar(ch, "SELECT count() FROM pageviews FINAL WHERE app = 'fleet'")
    views = scalar(ch, "SELECT sum(views) FROM counters WHERE app = 'fleet' AND dim = ''"
                       " AND metric = 'errors'")
    values = scalar(ch, "SELECT sum(count) FROM hist WHERE app = 'fleet' AND dim = ''"
                        " AND metric = 'LCP'")
    check("fleet: ClickHouse holds the 400 page views once each (pageviews FINAL)", pv == n, pv)
    check("fleet: the rollups count 400 page views (counters)", views == n, views)
    check("fleet: and 400 LCP values, the update replacing, not adding (hist)",
          values == n, values)
    v = ch.query("SELECT value FROM metrics FINAL WHERE app = 'fleet' AND pv = 'pv-0000'").split()
    check("fleet: the raw metric of pv-0000 is the later value", v == ["7777"], v)
    # 1000 is in one bucket, 7777 in another: the first must be gone from the rollups.
    lo = scalar(ch, "SELECT sum(count) FROM hist WHERE app = 'fleet' AND dim = ''"
                    " AND metric = 'LCP' AND bucket = (SELECT min(bucket) FROM hist WHERE"
                    " app = 'fleet' AND dim = '' AND metric = 'LCP')")
    check("fleet: the rollups' lowest bucket no longer holds 1000 (the replaced value)",
          lo >= 0 and scalar(ch, "SELECT count() FROM (SELECT bucket, sum(count) AS c FROM hist"
                                 " WHERE app = 'fleet' AND dim = '' AND metric = 'LCP'"
                                 " GROUP BY bucket HAVING c < 0)") == 0, lo)
    for c in (a, b):
        got, r = series_count(c.port, "fleet", "1.0")
        check("fleet: /v1/series asked of %s sees all 400 values" % c.name, got == n,
              r.brief())

    rc, out = run_out(["stats", "--store", url, "--store-password-file", ctx["pwfile"],
                       "--app", "fleet", "--version", "1.0", "--metric", "LCP", "--json"])
    got = json.loads(out) if rc == 0 else {}
    check("fleet: collector stats --store counts the 400 values from ClickHouse's rollups",
          got.get("count") == n and got.get("source") == "rollups", "exit %s: %s" % (rc, out))
    doc = probe_doc("fleet", "1.0")
    r1 = push(a.port, doc)
    r2 = push(b.port, doc)
    check("fleet: a probe run pushed to one collector is stored (201)", r1.status == 201,
          r1.brief())
    check("fleet: the same run pushed to the other is there before (200, stored false)",
          r2.status == 200 and (r2.json() or {}).get("stored") is False, r2.brief())
    doc2 = probe_doc("fleet", "1.0")
    r3 = push(b.port, doc2)
    runs = scalar(ch, "SELECT count() FROM probe_runs FINAL WHERE app = 'fleet'")
    journeys = scalar(ch, "SELECT count() FROM probe_journeys FINAL WHERE app = 'fleet'")
    check("fleet: runs pushed to either are in ClickHouse (2 runs, 2 journeys)",
          r3.status == 201 and runs == 2 and journeys == 2, "%s %s %s" % (r3.status, runs,
                                                                          journeys))
    r = request(a.port, "POST", "/v1/deployments",
                body=json.dumps({"app": "fleet", "version": "1.1", "baseline": "1.0",
                                 "weight": 10, "ts": first_ms - 60000}),
                headers={"Content-Type": "application/json",
                         "Authorization": "Bearer " + TOKEN})
    w = ch.query("SELECT weight FROM deployments WHERE app = 'fleet'").split()
    check("fleet: a marker with its weight goes to ClickHouse", r.status in (200, 201)
          and w == ["10"], "%s %s" % (r.brief(), w))
    # The canary's beacons, split the other way round; a verdict asked of either
    # collector judges all of them (shared/chread.h's reads).
    stat = []
    for i in range(0, 200, 50):
        port = b.port if (i // 50) % 2 == 0 else a.port
        stat.append(post(port, [beacon("fleet", "1.1", "c-%04d" % k, 1500.0 + k)
                                for k in range(i, i + 50)]).status)
    verdicts = []
    count_sql = "SELECT count() FROM verdicts FINAL WHERE app = 'fleet'"
    for c in (a, b):
        r = get(c.port, "/v1/verdict", app="fleet", baseline="1.0", canary="1.1", warmup="0s")
        verdicts.append(r.json() or {})
        # The writer records a verdict after the answer: wait for A's row before asking B,
        # so that B's repeat check can see it.
        wait_for(lambda: scalar(ch, count_sql) >= 1, 10)
        samples = (r.json() or {}).get("samples") or {}
        check("fleet: the verdict asked of %s sees every beacon (samples 400 and 200)" % c.name,
              stat == [204] * 4 and r.status == 200 and samples.get("baseline") == n
              and samples.get("canary") == 200, r.brief())
    time.sleep(1)
    recorded = scalar(ch, count_sql)
    check("fleet: the verdict asked of both within the minute is recorded once (the repeat"
          " rule across the fleet)", recorded == 1, recorded)
    check("fleet: both collectors give the same decision and reasons",
          verdicts[0].get("decision") == verdicts[1].get("decision")
          and verdicts[0].get("reasons") == verdicts[1].get("reasons"),
          [v.get("decision") for v in verdicts])
    for c in (a, b):
        # min_runs=2: allowed only when the gate sees both runs, one pushed to each.
        r = get(c.port, "/v1/gate", app="fleet", version="1.0", regions="eu-west", min_runs="2")
        r3 = get(c.port, "/v1/gate", app="fleet", version="1.0", regions="eu-west",
                 min_runs="3")
        check("fleet: the gate asked of %s sees the runs pushed to either (min_runs 2: allow,"
              " 3: block)" % c.name,
              r.status == 200 and (r.json() or {}).get("decision") == "allow"
              and (r3.json() or {}).get("decision") == "block", r.brief() + r3.brief())
    # The CLI verbs on the same store.
    store = ["--store", url, "--store-password-file", ctx["pwfile"]]
    rc, out = run_out(["compare"] + store + ["--app", "fleet", "--baseline", "1.0", "--canary",
                                             "1.1", "--warmup", "0s", "--json"])
    got = json.loads(out[:out.rindex("}") + 1]) if rc in (0, 1, 3) and "}" in out else {}
    check("fleet: collector compare --store judges the same beacons (samples 400 and 200)",
          (got.get("samples") or {}) == verdicts[0].get("samples")
          and got.get("decision") == verdicts[0].get("decision"), "exit %s: %s" % (rc, out[-300:]))
    rc, out = run_out(["gate"] + store + ["--app", "fleet", "--version", "1.0", "--regions",
                                          "eu-west", "--min-runs", "2"])
    check("fleet: collector gate --store allows on the two runs (exit 0)", rc == 0,
          "exit %s: %s" % (rc, out[-300:]))
    rc, out = run_out(["mark"] + store + ["--app", "fleet", "--version", "1.2", "--weight", "5"])
    marks = scalar(ch, "SELECT count() FROM deployments WHERE app = 'fleet' AND version = '1.2'")
    check("fleet: collector mark --store stores the marker in ClickHouse", rc == 0 and marks == 1,
          "exit %s: %s" % (rc, out[-300:]))
    for c in (a, b):
        h = get(c.port, "/healthz")
        check("fleet: /healthz of %s is ok" % c.name, h.status == 200, h.brief())
    a.stop()
    b.stop()
    test_retention(ctx)


def test_retention(ctx):
    """Rows of 30 and 3 days ago put in with SQL; a collector with --retain 7 --retain-raw 1
    drops their partitions (whole days) and keeps today's."""
    ch, url, common, d = ctx["ch"], ctx["url"], ctx["common"], ctx["dir"]
    now = int(time.time())
    old, raw = now - 30 * 86400, now - 3 * 86400
    ch.query("INSERT INTO hist (app, version, metric, dim, key, minute, bucket, count)"
             " VALUES ('old', '1', 'LCP', '', '', %d, 300, 5)" % old)
    ch.query("INSERT INTO pageviews (app, pv, version, received, received_ms, last_received_ms)"
             " VALUES ('old', 'p', '1', %d, %d, %d)" % (raw, raw * 1000, raw * 1000))
    c = CHCollector(url, common + ["--spool-dir", os.path.join(d, "spool-r"), "--retain", "7",
                                   "--retain-raw", "1"], "retention")
    ctx["collectors"].append(c)
    gone = wait_for(lambda: scalar(ch, "SELECT count() FROM hist WHERE app = 'old'") == 0
                    and scalar(ch, "SELECT count() FROM pageviews WHERE app = 'old'") == 0, 20)
    # Read at the start (then at most once a minute): the fleet's parts are there.
    size = metric_value(c.port, "vigil_db_bytes")
    check("retention: /metrics has the database's size on disk (system.parts)",
          size is not None and size > 0, size)
    check("retention: the partitions of 30 days ago (rollups) and 3 days ago (raw) are"
          " dropped", gone)
    kept = scalar(ch, "SELECT count() FROM pageviews FINAL WHERE app = 'fleet'")
    check("retention: today's partitions stay (the fleet's 600 page views)", kept == 600, kept)
    expired = metric_value(c.port, "vigil_db_expired_rows_total")
    check("retention: /metrics counts the partitions dropped", expired and expired >= 2,
          expired)
    c.stop()


def load(ports, acked, stop, app, errors):
    """Sends beacons of 10 page views each, in turn to the collectors of ports that are
    alive (a list the test changes), and keeps the page views that got a 204."""
    k = 0
    while not stop.is_set():
        for port in list(ports):
            pvs = ["%s-%06d" % (app, k + j) for j in range(10)]
            k += 10
            try:
                r = post(port, [beacon(app, "1.0", p, 500.0 + (k % 3000)) for p in pvs],
                         timeout=20)
                if r.status == 204:
                    acked.update(pvs)
                else:
                    errors.append(r.status)
            except OSError as exc:
                errors.append(str(exc))
        time.sleep(0.02)


def save_spool(spool, to):
    """Copies the spooled batches of spool into to; their names."""
    os.makedirs(to, exist_ok=True)
    names = sorted(n for n in os.listdir(spool) if n.endswith(".batch"))
    for n in names:
        shutil.copy(os.path.join(spool, n), os.path.join(to, n))
    return names


def test_outage(ctx):
    ch, url, common, d = ctx["ch"], ctx["url"], ctx["common"], ctx["dir"]
    a = CHCollector(url, common + ["--spool-dir", os.path.join(d, "spool-oa")], "outage-a")
    b = CHCollector(url, common + ["--spool-dir", os.path.join(d, "spool-ob")], "outage-b")
    ctx["collectors"] += [a, b]
    acked, errors, stop = set(), [], threading.Event()
    ports = [a.port, b.port]
    t = threading.Thread(target=load, args=(ports, acked, stop, "outage", errors))
    t.start()
    try:
        time.sleep(1.5)
        before = len(acked)
        ch.stop()
        diag("outage: ClickHouse stopped after %d acknowledged page views" % before)
        time.sleep(2.5)
        saved = save_spool(os.path.join(d, "spool-ob"), os.path.join(d, "saved-ob"))
        ports.remove(a.port)
        a.kill9()
        diag("outage: outage-a killed (SIGKILL) at %d acknowledged" % len(acked))
        time.sleep(1.5)
        a.start()
        ports.append(a.port)
        degraded = get(a.port, "/healthz")
        # A collector that gets no beacon at all: its health follows ClickHouse too.
        idle = CHCollector(url, common + ["--spool-dir", os.path.join(d, "spool-idle")],
                           "outage-idle")
        ctx["collectors"].append(idle)
        idle_down = get(idle.port, "/healthz")
        time.sleep(1.5)
        during = len(acked)
        ch.start()
        diag("outage: ClickHouse started again at %d acknowledged" % during)
        time.sleep(1.5)
    finally:
        stop.set()
        t.join()
    check("outage: beacons got 204 before, during and after the outage",
          0 < before < during < len(acked), "%d %d %d" % (before, during, len(acked)))
    check("outage: the restarted collector starts while ClickHouse is down, /healthz 503 "
          "degraded", degraded.status == 503 and b"degraded" in degraded.body, degraded.brief())
    check("outage: a collector without beacons started during the outage is degraded",
          idle_down.status == 503, idle_down.brief())
    check("outage: ... and ok once ClickHouse answers (a query, no spool to replay)",
          wait_for(lambda: get(idle.port, "/healthz").status == 200, 30),
          get(idle.port, "/healthz").brief())
    idle.stop()
    drained = wait_for(lambda: all(metric_value(c.port, "vigil_spool_batches") == 0
                                   for c in (a, b)), 90)
    check("outage: both spools are replayed once ClickHouse answers", drained,
          [metric_value(c.port, "vigil_spool_batches") for c in (a, b)])
    replayed = sum(metric_value(c.port, "vigil_replayed_batches_total") or 0 for c in (a, b))
    check("outage: /metrics counts the replayed batches", replayed > 0, replayed)
    stored = set(ch.query("SELECT DISTINCT pv FROM pageviews FINAL WHERE app = 'outage'")
                 .split())
    missing = acked - stored
    check("outage: every page view that got a 204 is stored (%d acknowledged)" % len(acked),
          not missing, "%d missing, e.g. %s" % (len(missing), sorted(missing)[:5]))
    views = scalar(ch, "SELECT sum(views) FROM counters WHERE app = 'outage' AND dim = ''"
                       " AND metric = 'errors'")
    values = scalar(ch, "SELECT sum(count) FROM hist WHERE app = 'outage' AND dim = ''"
                        " AND metric = 'LCP'")
    raw = scalar(ch, "SELECT count() FROM metrics FINAL WHERE app = 'outage'")
    check("outage: the rollups count each stored page view once (%d page views)" % len(stored),
          views == len(stored), "counters say %d" % views)
    check("outage: and each stored value once (hist)", values == len(stored) == raw,
          "hist %d, raw %d, page views %d" % (values, raw, len(stored)))
    dup = scalar(ch, "SELECT count() FROM (SELECT version, count() AS n FROM hist WHERE"
                     " app = '' GROUP BY version, minute HAVING n > 1)")
    check("outage: no batch marker is there twice (no part was stored twice)", dup == 0, dup)
    # The spooled batches saved during the outage, all stored by now, put back into
    # outage-b's spool: a replay of batches ClickHouse has must change nothing.
    b.stop()
    for name in saved:
        shutil.copy(os.path.join(d, "saved-ob", name), os.path.join(d, "spool-ob", name))
    b.start()
    again = wait_for(lambda: metric_value(b.port, "vigil_replayed_batches_total") == len(saved)
                     and metric_value(b.port, "vigil_spool_batches") == 0, 60)
    views2 = scalar(ch, "SELECT sum(views) FROM counters WHERE app = 'outage' AND dim = ''"
                        " AND metric = 'errors'")
    values2 = scalar(ch, "SELECT sum(count) FROM hist WHERE app = 'outage' AND dim = ''"
                         " AND metric = 'LCP'")
    stored2 = scalar(ch, "SELECT count() FROM pageviews FINAL WHERE app = 'outage'")
    check("outage: %d spooled batches replayed a second time (put back into the spool)"
          % len(saved), saved and again, "%s %s" % (
              metric_value(b.port, "vigil_replayed_batches_total"),
              metric_value(b.port, "vigil_spool_batches")))
    check("outage: ... change no count: rollups and raw rows as before",
          (views2, values2, stored2) == (views, values, len(stored)),
          "%s against %s" % ((views2, values2, stored2), (views, values, len(stored))))
    for c in (a, b):
        got, r = series_count(c.port, "outage", "1.0")
        check("outage: /v1/series asked of %s counts every stored value" % c.name,
              got == len(stored), r.brief())
        h = get(c.port, "/healthz")
        check("outage: /healthz of %s is ok again" % c.name, h.status == 200, h.brief())
    a.stop()
    b.stop()


def test_spool_bound(ctx):
    d, common = ctx["dir"], ctx["common"]
    # Nothing listens there: ClickHouse is unreachable from the start.
    dead = "clickhouse://127.0.0.1:%d/vigil" % harness.free_port()
    c = CHCollector(dead, common + ["--spool-dir", os.path.join(d, "spool-c"),
                                    "--spool-max-bytes", "8192"], "bounded")
    ctx["collectors"].append(c)
    check("spool bound: a collector starts while ClickHouse does not answer, and says so",
          "beacons go to the spool" in c.log_text(), c.log_text()[-300:])
    statuses, last = [], None
    for i in range(40):
        r = post(c.port, [beacon("bound", "1.0", "b-%03d-%02d" % (i, k), 900.0)
                          for k in range(20)])
        statuses.append(r.status)
        if r.status != 204:
            last = r
            break
    check("spool bound: beacons get 204 from the spool at first", statuses[:1] == [204],
          statuses)
    body = last.json() if last else None
    check("spool bound: past --spool-max-bytes, 503 with a reason that names the bound",
          last is not None and last.status == 503 and body
          and "--spool-max-bytes 8192" in body.get("error", ""),
          last.brief() if last else statuses)
    check("spool bound: the reason names no server path, nor ClickHouse's address",
          body is not None and d not in json.dumps(body)
          and dead.split("//")[1].split("/")[0] not in json.dumps(body), body)
    h = get(c.port, "/healthz")
    check("spool bound: /healthz answers 503 degraded, with the spooled batches",
          h.status == 503 and b"degraded: ClickHouse does not take writes" in h.body, h.brief())
    spooled = metric_value(c.port, "vigil_spool_batches")
    nbytes = metric_value(c.port, "vigil_spool_bytes")
    check("spool bound: /metrics counts the spooled batches and bytes",
          spooled and spooled >= 1 and nbytes and 0 < nbytes <= 8192, "%s %s" % (spooled, nbytes))
    r = get(c.port, "/v1/series", app="bound", version="1.0", metric="LCP", since="1h")
    body = r.json() or {}
    check("spool bound: a read answers 503 with a JSON reason naming ClickHouse",
          r.status == 503 and "does not answer" in body.get("error", ""), r.brief())
    c.stop()


def run(args, timeout=30):
    p = subprocess.run([COLLECTOR] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


def run_out(args, timeout=30):
    p = subprocess.run([COLLECTOR] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def test_options(ctx):
    url, d = ctx["url"], ctx["dir"]
    pw = ctx["pwfile"]
    loose = os.path.join(d, "loose-pw")
    with open(loose, "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(loose, 0o644)
    wrong = write_private(os.path.join(d, "wrong-pw"), "not-the-password-0123456\n")
    spool = ["--spool-dir", os.path.join(d, "spool-x")]
    cases = [
        ("--db and --store together", ["serve", "--db", os.path.join(d, "x.db"), "--store", url]
         + spool, "--db and --store"),
        ("serve --store without --spool-dir", ["serve", "--store", url,
                                                "--store-password-file", pw], "--spool-dir"),
        ("a URL that is not clickhouse://", ["serve", "--store", "http://127.0.0.1:1/x"] + spool,
         "--store"),
        ("a URL without a port", ["serve", "--store", "clickhouse://127.0.0.1/vigil"] + spool,
         "port"),
        ("a password file others may read", ["serve", "--store", url, "--store-password-file",
                                              loose] + spool, loose),
        ("--store-init with --db", ["serve", "--db", os.path.join(d, "y.db"), "--store-init"],
         "go with --store"),
        ("--spool-dir on stats", ["stats", "--store", url, "--app", "a", "--version", "1",
                                  "--metric", "LCP"] + spool, "unknown option --spool-dir"),
        ("--spool-max-bytes below 4096", ["serve", "--store", url, "--spool-max-bytes", "10"]
         + spool, "--spool-max-bytes"),
        ("a wrong password (ClickHouse's reason)", ["serve", "--store", url,
                                                    "--store-password-file", wrong] + spool,
         "Wrong password"),
        ("gate with neither --db nor --store", ["gate", "--app", "a", "--version", "1"],
         "--db PATH or --store"),
    ]
    for name, args, needle in cases:
        rc, err = run(args)
        check("options: %s exits 2 with a message" % name, rc == 2 and needle in err,
              "exit %s: %s" % (rc, err[-300:]))
        check("options: %s: the password is not in the message" % name, PASSWORD not in err)
    # A database without Vigil's tables, no --store-init: exit 2 saying what to do.
    ctx["ch"].query("CREATE DATABASE IF NOT EXISTS empty", database="default")
    rc, err = run(["serve", "--store", url.rsplit("/", 1)[0] + "/empty",
                   "--store-password-file", pw] + spool)
    check("options: a database without the tables exits 2, asking for --store-init",
          rc == 2 and "--store-init" in err, "exit %s: %s" % (rc, err[-300:]))


def main():
    d = tempdir("vigil-fleet-")
    pwfile = write_private(os.path.join(d, "chpass"), PASSWORD + "\n")
    tok = write_private(os.path.join(d, "token"), TOKEN + "\n")
    common = ["--store-password-file", pwfile, "--probe-token-file", tok,
              "--rate", "100000", "--burst", "100000"]
    with ClickHouse(password=PASSWORD, database="vigil") as ch:
        ctx = {"ch": ch, "url": ch.url, "dir": d, "pwfile": pwfile, "common": common,
               "collectors": []}
        run_group(test_options, ctx)
        run_group(test_fleet, ctx)
        run_group(test_spool_bound, ctx)
        run_group(test_outage, ctx)
        reports = harness.collector_sanitizer_reports(ctx["collectors"])
        check("no collector printed a sanitizer report", not reports, reports)
        for c in ctx["collectors"]:
            c.kill_quietly()


main()
sys.exit(harness.finish())
