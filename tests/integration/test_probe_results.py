#!/usr/bin/env python3
"""Integration tests of the probe result document at the collector (POST /v1/probe-runs).

Expectations come from collector/README.md (POST /v1/probe-runs: 201 stored, 200
"stored": false for a run id stored before, 400 naming the field; every error a JSON
{"error", "field"} and never a server path) and probe/README.md (the document's fields:
started_at is an RFC 3339 time). The document is the one bin/probe writes (--report json)
after a run of probe/examples against the example shop; each case changes one field of a
copy with its own run id and version, and reads what was stored straight from the
database with Python's sqlite3.

The first two cases are issue 15's bug: a journey whose started_at is "garbage" got a 503
after the run row had committed (the retry then 200 "stored": false, the journeys table
empty), and a bad top-level started_at got 200 "stored": false.

Prints TAP-style `ok - ...` / `not ok - ...` lines; exits 1 when any check failed.
Run: VIGIL_ROOT=$PWD VIGIL_BIN=$PWD/bin python3 tests/integration/test_probe_results.py
"""

import json
import os
import secrets
import sqlite3
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, run_group, run_probe, tempdir  # noqa: E402
from harness import COLLECTOR, Collector, request, write_private  # noqa: E402

PATH = "/v1/probe-runs"


class Ctx:
    pass


def copy_doc(ctx, version):
    d = json.loads(json.dumps(ctx.doc))
    d["run_id"] = str(uuid.uuid4())
    d["labels"]["version"] = version
    return d


def push(ctx, d):
    r = request(ctx.c.port, "POST", PATH, body=json.dumps(d).encode(),
                headers={"Content-Type": "application/json",
                         "Authorization": "Bearer " + ctx.token})
    ctx.bodies.append(r.body)
    return r


def stored(ctx, run_id):
    """(rows in probe_runs, rows in probe_journeys) of run_id, straight from the file."""
    con = sqlite3.connect("file:%s?mode=ro" % ctx.c.db, uri=True, timeout=5)
    try:
        runs = con.execute("SELECT count(*) FROM probe_runs WHERE run_id = ?", (run_id,)).fetchone()[0]
        journeys = con.execute("SELECT count(*) FROM probe_journeys WHERE run_id = ?",
                               (run_id,)).fetchone()[0]
        return runs, journeys
    finally:
        con.close()


def refused(ctx, name, d, field):
    """d is answered 400 naming field (in "field" and in the reason), twice (a retry gets
    the same answer, not 200 "stored": false), and nothing of it is stored."""
    for attempt in ("", " (the probe's retry)"):
        r = push(ctx, d)
        j = r.json() if isinstance(r.json(), dict) else {}
        check("%s%s -> 400 with field %s" % (name, attempt, field),
              r.status == 400 and j.get("field") == field, r.brief())
        check("%s%s: ... the reason names %s" % (name, attempt, field),
              field in str(j.get("error", "")), r.brief())
    check("%s: nothing stored (no probe_runs row, no probe_journeys rows)" % name,
          stored(ctx, d["run_id"]) == (0, 0), stored(ctx, d["run_id"]))


def test_bad_journey_started_at(ctx):
    d = copy_doc(ctx, "1.0.1")
    d["journeys"][0]["started_at"] = "garbage"
    refused(ctx, "a journey's started_at \"garbage\"", d, "journeys[0].started_at")
    # The same run id, fixed, is then stored: the refusal left nothing behind.
    d["journeys"][0]["started_at"] = ctx.doc["journeys"][0]["started_at"]
    r = push(ctx, d)
    check("the same run id with the journey fixed -> 201 stored true",
          r.status == 201 and (r.json() or {}).get("stored") is True, r.brief())
    check("... with all its journeys stored", stored(ctx, d["run_id"]) == (1, len(d["journeys"])),
          stored(ctx, d["run_id"]))


def test_bad_top_started_at(ctx):
    d = copy_doc(ctx, "1.0.2")
    d["started_at"] = "2026-13-45T99:00:00Z"
    refused(ctx, "a top-level started_at that is no time", d, "started_at")
    d = copy_doc(ctx, "1.0.2")
    d["started_at"] = 1764300000
    refused(ctx, "a top-level started_at that is a number", d, "started_at")


def test_other_fields(ctx):
    """A few more fields the schema names, each refused with its name (probe/README.md)."""
    cases = [
        ("passed as a string", lambda d: d.__setitem__("passed", "yes"), "passed"),
        ("a step without result", lambda d: d["journeys"][0]["steps"][0].pop("result"),
         "journeys[0].steps[0].result"),
        ("a step's timings_ms.total as text",
         lambda d: d["journeys"][0]["steps"][0]["timings_ms"].__setitem__("total", "3 ms"),
         "journeys[0].steps[0].timings_ms.total"),
        ("a step's status over 999", lambda d: d["journeys"][1]["steps"][0].__setitem__("status", 1000),
         "journeys[1].steps[0].status"),
        ("labels.region with a space", lambda d: d["labels"].__setitem__("region", "eu west"),
         "labels.region"),
        ("journeys empty", lambda d: d.__setitem__("journeys", []), "journeys"),
    ]
    for name, change, field in cases:
        d = copy_doc(ctx, "1.0.3")
        change(d)
        refused(ctx, name, d, field)


def test_idempotent(ctx):
    d = copy_doc(ctx, "1.0.4")
    r1 = push(ctx, d)
    j1 = r1.json() or {}
    check("a good document -> 201 {run_id, stored: true, signed: false}",
          r1.status == 201 and j1.get("run_id") == d["run_id"] and j1.get("stored") is True
          and j1.get("signed") is False, r1.brief())
    n = len(d["journeys"])
    check("... one probe_runs row and one probe_journeys row per journey (%d)" % n,
          stored(ctx, d["run_id"]) == (1, n), stored(ctx, d["run_id"]))
    r2 = push(ctx, d)
    j2 = r2.json() or {}
    check("the same document again -> 200 {run_id, stored: false}",
          r2.status == 200 and j2.get("run_id") == d["run_id"] and j2.get("stored") is False,
          r2.brief())
    check("... and still one run row and %d journey rows" % n, stored(ctx, d["run_id"]) == (1, n),
          stored(ctx, d["run_id"]))
    # The stored journey rows carry what the document says (probe/README.md fields).
    con = sqlite3.connect("file:%s?mode=ro" % ctx.c.db, uri=True, timeout=5)
    try:
        rows = con.execute("SELECT journey, passed, region, version FROM probe_journeys"
                           " WHERE run_id = ? ORDER BY idx", (d["run_id"],)).fetchall()
    finally:
        con.close()
    want = [(j["name"], 1 if j["passed"] else 0, d["labels"]["region"], "1.0.4")
            for j in d["journeys"]]
    check("... the journey rows hold each journey's name, passed, region and version",
          rows == want, (rows, want))


def test_no_paths(ctx):
    bodies = [b.decode("utf-8", "replace") for b in ctx.bodies]
    errors = [b for b in bodies if '"error"' in b]
    check("the refusals above answered JSON errors", len(errors) >= 10, len(errors))
    leaked = [b for b in errors if ctx.dir in b or "/tmp" in b or ".db" in b]
    check("no error body names a server path (the database's or any other)", not leaked,
          leaked[:2])


def main():
    if not os.access(COLLECTOR, os.X_OK) or not os.access(harness.PROBE, os.X_OK):
        check("bin/collector and bin/probe exist", False, "build them with make")
        return harness.finish()
    ctx = Ctx()
    ctx.dir = tempdir("vigil-pr-")
    ctx.bodies = []
    ctx.token = secrets.token_hex(16)
    token_file = write_private(os.path.join(ctx.dir, "token"), ctx.token + "\n")
    try:
        ctx.shop = harness.Shop(version="1.0.0")
        ctx.c = Collector(["--probe-token-file", token_file], directory=ctx.dir)
    except Exception as exc:
        check("the shop and the collector start", False, exc)
        return harness.finish()
    doc_path = os.path.join(ctx.dir, "result.json")
    res = run_probe(["run", harness.EXAMPLES, "--var", "base=%s" % ctx.shop.base, "--app", "shop",
                     "--version", "1.0.0", "--region", "eu-west", "--no-color",
                     "--report", "json:" + doc_path], env={"SHOP_PASSWORD": ctx.shop.password})
    ctx.doc = harness.load_json(doc_path)
    if not check("probe run against the example shop writes a result document of 2+ journeys",
                 res.code == 0 and isinstance(ctx.doc, dict)
                 and len(ctx.doc.get("journeys") or []) >= 2, res.brief()):
        return harness.finish()

    run_group(test_bad_journey_started_at, ctx)
    run_group(test_bad_top_started_at, ctx)
    run_group(test_other_fields, ctx)
    run_group(test_idempotent, ctx)
    run_group(test_no_paths, ctx)

    rc = ctx.c.stop()
    check("collector: SIGTERM exits 0", rc == 0, rc)
    harness.check_collectors_clean()
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
