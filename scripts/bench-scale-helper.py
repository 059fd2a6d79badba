#!/usr/bin/env python3
"""bench-scale-helper: the measuring half of scripts/bench-scale (stdlib only).

Each verb measures one thing and writes its figures as JSON to RESULTS/NAME.json, which
`table` reads at the end. Every wait has a bound: a command or request that takes longer
than its timeout is killed or abandoned and counted as "timed out", never waited for.

  run   NAME REPS BUDGET TIMEOUT OKCODES -- CMD...   time CMD (exit code in OKCODES)
  http  NAME REPS BUDGET TIMEOUT BASE PATH...        time GETs (one sample = all PATHs)
  poll  NAME BASE SECONDS RATE VERDICT_PATH [N]      beacons under N (4) verdict pollers
  sizes NAME DB RAW_TABLES                           file and per-table sizes
  strip DB VERSION RAW_TABLES INDEXES COLUMNS KEYS   drop all but RAW_TABLES, set version
  put   NAME JSON                                    record a figure
  retention NAME SAMPLE MINUTES BEACONS TODAY PV     30 days extrapolated from SAMPLE
  retcheck NAME COLLECTOR GEN DAYS PER_DAY DAY_S DIR  retention on a clock sped up
  table                                              the closing table

Quantiles are type 7 (linear between order statistics), so "p99 of 20" lies between the
two slowest samples.
"""
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

RESULTS = os.environ["BENCH_RESULTS"]


def q7(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    h = (len(xs) - 1) * p
    lo = int(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def put(name, obj):
    with open(os.path.join(RESULTS, name + ".json"), "w") as f:
        json.dump(obj, f)


def get(name):
    try:
        with open(os.path.join(RESULTS, name + ".json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def summary(lat, reps, timeouts, extra=None):
    d = {"n": len(lat), "asked": reps, "timeouts": timeouts, "p50": q7(lat, 0.5),
         "p99": q7(lat, 0.99), "max": max(lat) if lat else None}
    d.update(extra or {})
    return d


def cmd_run(a):
    """Runs a command REPS times (fewer if BUDGET seconds are spent, at least once)."""
    name, reps, budget, timeout, ok = a[0], int(a[1]), float(a[2]), float(a[3]), a[4]
    argv = a[a.index("--") + 1:]
    okcodes = {int(c) for c in ok.split(",")}
    lat, timeouts, out = [], 0, ""
    t0 = time.monotonic()
    for _ in range(reps):
        s = time.monotonic()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            timeouts += 1
            break
        lat.append((time.monotonic() - s) * 1000)
        if p.returncode not in okcodes:
            sys.stderr.write(p.stdout + p.stderr)
            sys.exit("%s: %s exited %d" % (name, " ".join(argv[:2]), p.returncode))
        out = p.stdout
        if time.monotonic() - t0 > budget:
            break
    try:
        parsed = json.loads(out)
    except ValueError:
        parsed = out.strip()[:300]
    put(name, summary(lat, reps, timeouts, {"out": parsed}))


def get_once(conn, path, timeout):
    conn.timeout = timeout
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status == 503:     # the collector's own time limit on a read (--read-timeout)
        raise TimeoutError(body[:300])
    if r.status != 200:
        raise RuntimeError("GET %s: %d %s" % (path, r.status, body[:300]))
    return body


def cmd_http(a):
    """GETs every PATH in turn on one keep-alive connection; that is one sample."""
    name, reps, budget, timeout, base = a[0], int(a[1]), float(a[2]), float(a[3]), a[4]
    paths = a[5:]
    host, port = base.replace("http://", "").split(":")
    lat, timeouts, last = [], 0, b""
    t0 = time.monotonic()
    for _ in range(reps):
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        s = time.monotonic()
        try:
            for p in paths:
                last = get_once(conn, p, max(0.1, timeout - (time.monotonic() - s)))
        except (TimeoutError, OSError):
            timeouts += 1
            conn.close()
            break
        except RuntimeError as e:
            sys.exit("%s: %s" % (name, e))
        lat.append((time.monotonic() - s) * 1000)
        conn.close()
        if time.monotonic() - t0 > budget:
            break
    try:
        out = json.loads(last)
    except ValueError:
        out = None
    put(name, summary(lat, reps, timeouts, {"out": out}))


BEACON = ('{"app":"bench","version":"1.1.0","session":"s-poll","pv":"pv-poll-%d-%d",'
          '"page":"/","nav":"navigate","events":[{"type":"metric","name":"LCP","value":%.1f,'
          '"id":"m-poll-%d-%d"}],"ctx":{"conn":"4g","device":"desktop"}}')
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")


def cmd_poll(a):
    """N (4) clients GET the verdict once a second (each waits for its answer, at most 30 s)
    while four senders POST beacons at RATE per second in all, each on its own keep-alive
    connection, for SECONDS. Beacon latency is per request: a sender blocked behind a
    slow answer falls behind, and the wait shows in that request's latency."""
    name, base, seconds, rate, vpath = a[0], a[1], float(a[2]), float(a[3]), a[4]
    npoll = int(a[5]) if len(a) > 5 else 4
    timeout = float(os.environ.get("HTTP_TIMEOUT", "30"))
    host, port = base.replace("http://", "").split(":")
    port = int(port)
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    beacons, polls = [], []
    errors = {"beacon_timeouts": 0, "beacon_non204": 0, "poll_timeouts": 0, "poll_non200": 0}

    def count(k):
        with lock:
            errors[k] += 1

    def poller():
        conn = None
        while time.monotonic() < stop:
            s = time.monotonic()
            try:
                conn = conn or http.client.HTTPConnection(host, port, timeout=timeout)
                conn.request("GET", vpath)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    count("poll_non200")
                with lock:
                    polls.append((time.monotonic() - s) * 1000)
            except (TimeoutError, OSError, http.client.HTTPException):
                count("poll_timeouts")
                conn = None
            time.sleep(max(0.0, 1.0 - (time.monotonic() - s)))

    def sender(k, per_s):
        conn, i = None, 0
        nxt = time.monotonic()
        while time.monotonic() < stop:
            i += 1
            body = BEACON % (k, i, 1500 + (i * 37) % 3000, k, i)
            s = time.monotonic()
            try:
                conn = conn or http.client.HTTPConnection(host, port, timeout=timeout)
                conn.request("POST", "/v1/rum", body=body,
                             headers={"Content-Type": "text/plain", "User-Agent": UA})
                r = conn.getresponse()
                r.read()
                if r.status != 204:
                    count("beacon_non204")
                with lock:
                    beacons.append((time.monotonic() - s) * 1000)
            except (TimeoutError, OSError, http.client.HTTPException):
                count("beacon_timeouts")
                conn = None
            nxt += 1.0 / per_s
            time.sleep(max(0.0, nxt - time.monotonic()))

    threads = [threading.Thread(target=poller, daemon=True) for _ in range(npoll)]
    threads += [threading.Thread(target=sender, args=(k, rate / 4), daemon=True)
                for k in range(4)]
    for i, t in enumerate(threads):
        t.start()
        if i < npoll:
            time.sleep(1.0 / npoll)  # the pollers' seconds interleave, as separate dashboards do
    for t in threads:
        t.join(max(0.1, stop + timeout + 2 - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    d = summary(beacons, None, errors["beacon_timeouts"],
                {"poll_n": len(polls), "poll_p50": q7(polls, 0.5), "poll_p99": q7(polls, 0.99),
                 "stuck_threads": stuck, "seconds": seconds, "rate": rate})
    d.update(errors)
    put(name, d)


def checkpoint(db):
    c = sqlite3.connect(db, timeout=30)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


def cmd_sizes(a):
    name, db, raw = a[0], a[1], set(a[2].split(","))
    checkpoint(db)
    c = sqlite3.connect(db, timeout=30)
    owner = dict(c.execute("SELECT name, tbl_name FROM sqlite_master"))
    by_table = {}
    for n, size in c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
        t = owner.get(n, n)
        by_table[t] = by_table.get(t, 0) + size
    rows = {t: c.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0]
            for t in by_table if t in owner and not t.startswith("sqlite_")}
    free = c.execute("PRAGMA freelist_count").fetchone()[0] * \
        c.execute("PRAGMA page_size").fetchone()[0]
    version = c.execute("PRAGMA user_version").fetchone()[0]
    c.close()
    raw_bytes = sum(v for t, v in by_table.items() if t in raw or t.startswith("sqlite_"))
    put(name, {"file": os.path.getsize(db), "tables": by_table, "rows": rows, "free": free,
               "raw_bytes": raw_bytes, "rollup_bytes": sum(by_table.values()) - raw_bytes,
               "version": version})


def cmd_strip(a):
    """Turns a database back into what the collector before rollups had: drops every table
    not in TABLES, every index not in INDEXES (or SQLite's own) and the COLUMNS
    (table.column) that later migrations added, gives back the unique KEYS that schema 6
    changed, and sets the schema version."""
    db, version = a[0], int(a[1])
    tables, indexes = set(a[2].split(",")), set(a[3].split(","))
    columns = [c.split(".") for c in a[4].split(",") if c]
    c = sqlite3.connect(db, timeout=30, isolation_level=None)
    objs = c.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE "
                     "'sqlite_%'").fetchall()
    c.execute("BEGIN")
    for typ, n in objs:
        if typ == "table" and n not in tables:
            c.execute('DROP TABLE "%s"' % n)
        elif typ == "index" and n not in indexes:
            c.execute('DROP INDEX IF EXISTS "%s"' % n)
        elif typ in ("trigger", "view"):
            c.execute('DROP %s IF EXISTS "%s"' % (typ.upper(), n))
    for t, col in columns:
        c.execute('ALTER TABLE "%s" DROP COLUMN "%s"' % (t, col))
    # The unique keys the collector before rollups names in its ON CONFLICT clauses
    # (KEYS: table:col+col,...); schema 6 rebuilt those tables with other keys.
    for i, key in enumerate(k for k in (a[5].split(",") if len(a) > 5 else []) if k):
        t, cols = key.split(":")
        c.execute('CREATE UNIQUE INDEX "strip_key_%d" ON "%s"(%s)'
                  % (i, t, ", ".join('"%s"' % x for x in cols.split("+"))))
    c.execute("PRAGMA user_version = %d" % version)
    c.execute("COMMIT")
    c.close()
    checkpoint(db)


def cmd_retention(a):
    """Bytes per beacon of raw rows and per minute of rollups, measured on SAMPLE (MINUTES
    of BEACONS beacons at the production rate), extrapolated to 30 days at 100 beacons/s:
    now keeps 7 days of raw rows and 30 of rollups; today keeps every raw row, at the
    bytes per beacon of TODAY (the schema before rollups) over PV page views."""
    name, sample, minutes, beacons = a[0], get(a[1]), float(a[2]), int(a[3])
    today, pv = get(a[4]), int(a[5])
    bpb = sample["raw_bytes"] / beacons
    bpm = sample["rollup_bytes"] / minutes
    tbpb = today["raw_bytes"] / pv
    day = 100 * 86400
    d = get(name) or {}
    d.update({"sample_beacons": beacons, "sample_minutes": minutes, "bytes_per_beacon": bpb,
              "today_bytes_per_beacon": tbpb, "rollup_bytes_per_minute": bpm,
              "today_30d": tbpb * day * 30, "now_30d": bpb * day * 7 + bpm * 1440 * 30})
    put(name, d)


def cmd_retcheck(a):
    """Feeds one database DAYS "days" of PER_DAY beacons with --retain-raw 2, on a clock
    sped up so that a day lasts DAY_S seconds (--retain-raw takes fractions of a day, and
    import stamps each beacon with the time it is imported, then applies retention).
    Records the file size and the raw metric rows after each day: with retention they
    stop growing after the third day; without, each day would add as much as the first."""
    name, coll, gen, days, per_day, day_s, d = (a[0], a[1], a[2], int(a[3]), int(a[4]),
                                                float(a[5]), a[6])
    db = os.path.join(d, "retention.db")
    raw_days = 2 * day_s / 86400
    for k in range(days):
        subprocess.run([gen, "--pageviews", str(per_day), "--no-received", "--ua-field", "ua",
                        "--seed", str(k), "--id-prefix", "d%d-" % k, "--duration", "60",
                        "-o", os.path.join(d, "day%d.jsonl" % k)], check=True, timeout=120)
    sizes, rows = [], []
    start = time.monotonic()
    for k in range(days):
        p = subprocess.run([coll, "import", "--db", db, "--retain-raw", "%.9f" % raw_days,
                            "--retain", "30", os.path.join(d, "day%d.jsonl" % k)],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            sys.exit("retention check: import failed: " + p.stderr[-2000:])
        checkpoint(db)
        c = sqlite3.connect(db, timeout=30)
        rows.append(c.execute("SELECT count(*) FROM metrics").fetchone()[0])
        c.close()
        sizes.append(os.path.getsize(db))
        time.sleep(max(0.0, start + (k + 1) * day_s - time.monotonic()))
    r = get(name) or {}
    r.update({"sizes": sizes, "raw_rows": rows, "raw_days": 2, "day_s": day_s,
              "per_day": per_day,
              "flat": len(sizes) > 3 and sizes[-1] - sizes[2] < sizes[0]})
    put(name, r)


def ms(x):
    if x is None:
        return "-"
    if x >= 10000:
        return "%.1f s" % (x / 1000)
    if x >= 1000:
        return "%.2f s" % (x / 1000)
    if x >= 10:
        return "%.0f ms" % x
    return "%.1f ms" % x


def size(b):
    if b is None:
        return "-"
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return "%.2f %s" % (b / f, unit)
    return "%d B" % b


def lat(name, which="p50"):
    r = get(name)
    if r is None:
        return "not run"
    s = ms(r.get(which))
    if r.get("timeouts"):
        s = ("> %s s (timed out)" % os.environ.get("HTTP_TIMEOUT", "30") if not r.get("n")
             else s + " (+%d timed out)" % r["timeouts"])
    if r.get("asked") and r.get("n") and r["n"] < r["asked"]:
        s += " (%d runs)" % r["n"]
    return s


def cmd_table(a):
    rows = []
    ref = get("meta") or {}

    def row(measure, today, now, target):
        rows.append((measure, today, now, target))

    for what, name in (("verdict, CLI", "verdict_cli"), ("verdict, HTTP", "verdict_http"),
                       ("series, 6 metrics x 2 h", "series"), ("breakdown by browser, 2 h",
                                                               "breakdown"),
                       ("stats LCP 2 h, CLI", "stats")):
        tgt = {"verdict_cli": "< 50 ms", "verdict_http": "< 50 ms", "series": "< 50 ms",
               "breakdown": "< 200 ms"}.get(name, "")
        for p in ("p50", "p99"):
            today = lat(name + "_today", p)
            if get(name + "_exact"):
                today += " (--exact %s)" % lat(name + "_exact", p)
            row("%s %s" % (what, p), today, lat(name + "_now", p), tgt)
    pt, pn = get("poll_today"), get("poll_now")

    def pollfig(r):
        if r is None:
            return "not run"
        bad = r["beacon_timeouts"] + r["beacon_non204"]
        if not r["n"]:
            return "> %s s (all %d timed out)" % (os.environ.get("HTTP_TIMEOUT", "30"), bad)
        s = ms(r["p99"])
        if bad:
            s += " (%d of %d failed/timed out)" % (bad, r["n"] + r["beacon_timeouts"])
        return s
    row("beacon p99, 4 clients polling verdicts", pollfig(pt), pollfig(pn), "< 10 ms")
    def pollp50(r):
        if r is None:
            return "not run"
        if not r["poll_n"]:
            return "> %s s (none answered)" % os.environ.get("HTTP_TIMEOUT", "30")
        return ms(r["poll_p50"])
    row("  (verdict poll p50 meanwhile)", pollp50(pt), pollp50(pn), "")
    row("  (beacon p99 with no pollers)", pollfig(get("alone_today")),
        pollfig(get("alone_now")), "")
    sn, sm = get("size_now"), get("migration")
    row("database size (after checkpoint)",
        size(sn["raw_bytes"]) + " (raw rows)" if sn else "-",
        size(sn["file"]) + " (raw + rollups %s)" % size(sn["rollup_bytes"]) if sn else "-", "")
    row("migration (rollups from raw rows)", "-", ms(sm["ms"]) if sm else "not run", "")
    ret = get("retention")
    if ret:
        row("30 days at 100 beacons/s (computed)", size(ret["today_30d"]) + " (keeps all)",
            size(ret["now_30d"]) + " (--retain-raw 7)", "bounded")
        if ret.get("flat") is not None:
            row("  measured: file stops growing after day 3", "-",
                "yes" if ret["flat"] else "NO (grows)", "flat")
    w = [max(len(r[i]) for r in rows + [("measure", "today (raw path, same run)",
                                          "now (rollups)", "target")]) for i in range(4)]
    fmt = "| %-*s | %-*s | %-*s | %-*s |"
    print(fmt % (w[0], "measure", w[1], "today (raw path, same run)", w[2], "now (rollups)",
                 w[3], "target"))
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print(fmt % (w[0], r[0], w[1], r[1], w[2], r[2], w[3], r[3]))
    for note in ref.get("notes", []):
        print(note)
    if ret:
        print("30 days computed from a sample measured in this run (%d beacons over %d min at "
              "100/s): %.0f bytes of raw rows per beacon, %s of rollups per minute"
              % (ret["sample_beacons"], ret["sample_minutes"], ret["bytes_per_beacon"],
                 size(ret["rollup_bytes_per_minute"])))
        print("today's 30 days: %.0f bytes per beacon (raw rows and their indexes in this "
              "run's database, every one kept)" % ret["today_bytes_per_beacon"])
        if ret.get("sizes"):
            print("measured: %d days of %d beacons, a day every %g s, --retain-raw 2 days; "
                  "after each day, file %s; raw metric rows %s"
                  % (len(ret["sizes"]), ret["per_day"], ret["day_s"],
                     ", ".join(size(x) for x in ret["sizes"]),
                     ", ".join(str(x) for x in ret["raw_rows"])))
    accuracy()


def accuracy():
    """Whether the rollups tell what the raw rows tell: the verdict, and quantiles."""
    ve, vn = get("verdict_cli_exact"), get("verdict_cli_now")
    if ve and vn and isinstance(ve.get("out"), dict) and isinstance(vn.get("out"), dict):
        e, n = ve["out"], vn["out"]
        vt = get("verdict_cli_today")
        vt = vt["out"].get("decision") if vt and isinstance(vt.get("out"), dict) else None
        print("\nverdict: %s from raw rows (--exact), %s from rollups%s"
              % (e.get("decision"), n.get("decision"),
                 "; %s from today's collector" % vt if vt else ""))
        em = {m["name"]: m for m in e.get("metrics", [])}
        for m in n.get("metrics", []):
            x = em.get(m["name"])
            if not x or m.get("kind") != "quantile":
                continue
            for side in ("baseline", "canary"):
                a, b = x[side], m[side]
                if a.get("value") is None or b.get("value") is None:
                    continue
                print("  %-5s p%-3g %-8s n %8d vs %8d  value %10.4g vs %10.4g (%+.2f%%)"
                      % (m["name"], round(100 * m.get("quantile", 0)), side, a["n"], b["n"],
                         a["value"], b["value"],
                         100 * (b["value"] / a["value"] - 1) if a["value"] else 0))
    se, sn = get("stats_exact"), get("stats_now")
    if se and sn and isinstance(se.get("out"), dict) and isinstance(sn.get("out"), dict):
        e, n = se["out"], sn["out"]
        print("stats %s %s %s: count %s vs %s; " % (e["app"], e["version"], e["metric"],
                                                  e["count"], n["count"]) +
              ", ".join("%s %.4g vs %.4g (%+.2f%%)" % (k, e[k], n[k], 100 * (n[k] / e[k] - 1))
                        for k in ("p50", "p75", "p95", "p99")
                        if e.get(k) and n.get(k) is not None) + "  (raw vs rollups)")


def main():
    verb, args = sys.argv[1], sys.argv[2:]
    if verb == "put":
        put(args[0], json.loads(args[1]))
    else:
        {"run": cmd_run, "http": cmd_http, "poll": cmd_poll, "sizes": cmd_sizes,
         "strip": cmd_strip, "retention": cmd_retention, "retcheck": cmd_retcheck, "table": cmd_table}[verb](args)


if __name__ == "__main__":
    main()
