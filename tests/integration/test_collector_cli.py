#!/usr/bin/env python3
"""Integration tests of the collector's CLI verbs' exit codes and of the API's answers for
an app or version it has never seen (collector/README.md: "collector gate, compare, mark",
"GET /v1/gate", "GET /v1/verdict").

A pipeline acts on `compare`'s exit code: 0 promote, 1 roll back, 3 pause. An error of
usage or of the environment (a mistyped option, no database, an app or version the
database has never seen) must exit 2 and never 1 or 3, or a typo rolls back a good canary.
Over HTTP the same errors are JSON with a reason, 404 for an unknown app or version, and
never name a file of the server. Real binaries on loopback; prints TAP-style lines.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import COLLECTOR, Collector, check, get, request, run_group, tempdir  # noqa: E402

FAST = ["--rate", "1000000", "--burst", "1000000"]
APP = "shop-cli"


def cli(*args, timeout=30):
    """Runs bin/collector with args: (exit code, stdout, stderr)."""
    try:
        p = subprocess.run([COLLECTOR] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", "", ""
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def beacon(app, version):
    t = int(time.time() * 1000)
    pv = "pv-%s-%d" % (version, t)
    return {"app": app, "version": version, "session": "s-1", "pv": pv, "page": "/",
            "nav": "navigate", "ts": t,
            "events": [{"type": "metric", "name": "LCP", "value": 1200.0, "rating": "good",
                        "id": "m-" + pv}]}


def test_no_database():
    """compare, gate, mark and stats on a database that is not there exit 2."""
    missing = os.path.join(tempdir(), "nosuch.db")
    for verb, args in (
            ("compare", ["--app", APP, "--baseline", "1.0.0", "--canary", "1.0.1"]),
            ("gate", ["--app", APP, "--version", "1.0.1"]),
            ("mark", ["--app", APP, "--version", "1.0.1"]),
            ("stats", ["--app", APP, "--version", "1.0.1", "--metric", "LCP"])):
        rc, out, err = cli(verb, "--db", missing, *args)
        check("%s --db nosuch.db exits 2 (not 1, the roll-back or block code)" % verb, rc == 2,
              (rc, out[-200:], err[-200:]))
        check("%s --db nosuch.db names the database" % verb, "nosuch.db" in err, err[-200:])
        check("%s --db nosuch.db does not create it" % verb, not os.path.exists(missing))


def test_mistyped_options():
    """Unknown options exit 2 and suggest the nearest known one, as probe does."""
    db = os.path.join(tempdir(), "t.db")
    for label, args, want in (
            ("compare --canray", ["compare", "--db", db, "--app", APP, "--baseline", "1",
                                  "--canray", "2"], "did you mean --canary?"),
            ("compare --canray as the last word", ["compare", "--db", db, "--canray"],
             "did you mean --canary?"),
            ("gate --verison", ["gate", "--db", db, "--app", APP, "--verison", "2"],
             "did you mean --version?"),
            ("gate --require-singed", ["gate", "--db", db, "--app", APP, "--version", "2",
                                       "--require-singed"], "did you mean --require-signed?"),
            ("mark --baselin", ["mark", "--db", db, "--app", APP, "--version", "2",
                                "--baselin", "1"], "did you mean --baseline?"),
            ("stats --metirc", ["stats", "--db", db, "--metirc", "LCP"], "did you mean --metric?"),
            ("stats --jsn", ["stats", "--db", db, "--jsn"], "did you mean --json?"),
            ("serve --alow-origin", ["serve", "--db", db, "--alow-origin", "x"],
             "did you mean --allow-origin?"),
            ("import --retian", ["import", "--db", db, "--retian", "1", "-"],
             "did you mean --retain?"),
            ("collector comapre", ["comapre"], "did you mean compare?")):
        rc, out, err = cli(*args)
        check("%s exits 2" % label, rc == 2, (rc, out[-200:], err[-200:]))
        check("%s: %s" % (label, want), want in err, err[-300:])
    rc, out, err = cli("compare", "--db", db, "--app", APP, "--baseline", "1", "--zzzzzzzz", "2")
    check("an option like no other: exit 2 without a suggestion",
          rc == 2 and "unknown option --zzzzzzzz" in err and "did you mean" not in err,
          (rc, err[-200:]))
    rc, out, err = cli("compare", "--help")
    check("compare --help exits 0 with the usage", rc == 0 and "collector compare" in out,
          (rc, out[-200:], err[-200:]))


class Ctx:
    pass


def setup():
    """A collector that has seen APP 1.0.0 (a beacon) and 1.1.0 (a marker only)."""
    ctx = Ctx()
    ctx.c = Collector(FAST, name="cli collector")
    r = request(ctx.c.port, "POST", "/v1/rum", body=beacon(APP, "1.0.0"),
                headers={"Content-Type": "application/json"})
    if not check("setup: a beacon of %s 1.0.0 is stored" % APP, r.status == 204, r.brief()):
        return None
    rc, out, err = cli("mark", "--db", ctx.c.db, "--app", APP, "--version", "1.1.0",
                       "--baseline", "1.0.0")
    if not check("setup: collector mark %s 1.1.0 exits 0" % APP, rc == 0, (rc, out, err)):
        return None
    return ctx


def no_path(r, ctx):
    """An error body names no file of the server."""
    text = r.text()
    return ctx.c.db not in text and ctx.c.dir not in text and harness.ROOT not in text


def test_unknown_over_http(ctx):
    """GET /v1/verdict and /v1/gate for an unknown app or version: 404 with a JSON reason."""
    port = ctx.c.port
    for label, path, params, field in (
            ("verdict, unknown canary", "/v1/verdict",
             {"app": APP, "baseline": "1.0.0", "canary": "9.9.9"}, "canary"),
            ("verdict, unknown baseline", "/v1/verdict",
             {"app": APP, "baseline": "0.0.9", "canary": "1.0.0"}, "baseline"),
            ("verdict, unknown app", "/v1/verdict",
             {"app": "nosuch-app", "baseline": "1.0.0", "canary": "1.0.1"}, "app"),
            ("gate, unknown version", "/v1/gate", {"app": APP, "version": "9.9.9"}, "version"),
            ("gate, unknown app", "/v1/gate", {"app": "nosuch-app", "version": "1.0.0"}, "app")):
        r = get(port, path, **params)
        j = r.json()
        check("%s: 404" % label, r.status == 404, r.brief())
        check("%s: JSON with a reason and field %r" % (label, field),
              isinstance(j, dict) and isinstance(j.get("error"), str) and j.get("field") == field,
              r.brief())
        check("%s: the reason names what is unknown" % label,
              isinstance(j, dict) and params.get(field, "") in str(j.get("error")), r.brief())
        check("%s: no server file path in the answer" % label, no_path(r, ctx), r.brief())
    r = request(port, "POST", "/v1/hooks/flagger/pre-rollout",
                body={"name": "x", "namespace": "y", "phase": "pre-rollout",
                      "metadata": {"app": APP, "version": "9.9.9"}},
                headers={"Content-Type": "application/json"})
    check("Flagger hook for an unknown version does not allow (404)", r.status == 404, r.brief())

    # What was seen still gets its decision.
    r = get(port, "/v1/verdict", app=APP, baseline="1.0.0", canary="1.1.0", record="0")
    j = r.json() or {}
    check("verdict for a canary with a marker and no beacons: 200 pause",
          r.status == 200 and j.get("decision") == "pause", r.brief())
    r = get(port, "/v1/gate", app=APP, version="1.0.0")
    j = r.json() or {}
    check("gate for a version with beacons and no probe runs: 200 block",
          r.status == 200 and j.get("decision") == "block", r.brief())


def test_unknown_on_the_cli(ctx):
    """compare and gate for an unknown app or version exit 2; known ones keep 1 and 3."""
    db = ctx.c.db
    for label, args, field in (
            ("compare, unknown canary (a typo)",
             ["compare", "--app", APP, "--baseline", "1.0.0", "--canary", "1.0.0x"], "canary"),
            ("compare, unknown baseline",
             ["compare", "--app", APP, "--baseline", "0.0.9", "--canary", "1.0.0"], "baseline"),
            ("compare, unknown app",
             ["compare", "--app", "shop-typo", "--baseline", "1.0.0", "--canary", "1.0.1"], "app"),
            ("gate, unknown version", ["gate", "--app", APP, "--version", "9.9.9"], "version"),
            ("gate, unknown app", ["gate", "--app", "shop-typo", "--version", "1.0.0"], "app")):
        rc, out, err = cli(args[0], "--db", db, *args[1:])
        check("%s: exit 2" % label, rc == 2, (rc, out[-200:], err[-300:]))
        check("%s: stderr says unknown and names the field (%s)" % (label, field),
              "unknown" in err and "(%s)" % field in err, err[-300:])
        check("%s: nothing on stdout" % label, out == "", out[-200:])
        rc, out, err = cli(args[0], "--db", db, "--json", *args[1:])
        check("%s --json: exit 2" % label, rc == 2, (rc, out[-200:], err[-200:]))
    rc, out, err = cli("compare", "--db", db, "--app", APP, "--baseline", "1.0.0",
                       "--canary", "1.1.0")
    check("compare for a marked canary without beacons still exits 3 (pause)", rc == 3,
          (rc, out[-300:], err[-200:]))
    rc, out, err = cli("gate", "--db", db, "--app", APP, "--version", "1.0.0")
    check("gate for a version without probe runs still exits 1 (block)", rc == 1,
          (rc, out[-300:], err[-200:]))
    rc, out, err = cli("compare", "--db", db, "--app", APP, "--baseline", "1.0.0",
                       "--canary", "1.1.0", "--warmup", "soon")
    check("compare --warmup soon exits 2", rc == 2, (rc, out[-200:], err[-200:]))


def main():
    if not os.access(COLLECTOR, os.X_OK):
        check("bin/collector exists (%s)" % COLLECTOR, False, "build it with make")
        return harness.finish()
    run_group(test_no_database)
    run_group(test_mistyped_options)
    ctx = None
    try:
        ctx = setup()
    except Exception as exc:
        check("cli collector starts", False, exc)
    if ctx is not None:
        run_group(test_unknown_over_http, ctx)
        run_group(test_unknown_on_the_cli, ctx)
        rc = ctx.c.stop()
        check("cli collector: SIGTERM exits 0", rc == 0, rc)
    harness.check_collectors_clean()
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
