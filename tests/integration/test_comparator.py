#!/usr/bin/env python3
"""Integration tests of the gate, the deployment markers and the canary verdict.

Every expectation comes from collector/README.md (the probe-run, deployment, gate,
Flagger hook and verdict endpoints, and the CLI verbs gate/compare/mark), probe/README.md
(--push, exit codes 2 and 4, the result document) and shared/cmp.h (the verdict JSON and
its decision rules), never from the C code. Everything runs on 127.0.0.1 with ephemeral
ports; the example shop (scripts/example-shop) is what the probe checks, and the RUM
samples are synthetic beacons POSTed straight to /v1/rum.

Prints TAP-style `ok - ...` / `not ok - ...` lines; exits 1 when any check failed.
Run: cd /work/main && VIGIL_ROOT=$PWD VIGIL_BIN=$PWD/bin python3 tests/integration/test_comparator.py
"""

import functools
import http.client
import json
import math
import os
import random
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, read_text, run_group, run_probe, tempdir  # noqa: E402
from harness import COLLECTOR, Collector, get  # noqa: E402

# Generous per-client limits: all test traffic comes from 127.0.0.1, one limiter client.
FAST = ["--rate", "100000", "--burst", "100000"]


# ---------------------------------------------------------------- HTTP and CLI helpers

# This file's requests wait up to 15 s (the harness default is 10 s).
request = functools.partial(harness.request, timeout=15)


def urllib_post(url, data, headers):
    """POST with urllib; (status, parsed JSON or text)."""
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    try:
        return status, json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return status, body.decode("utf-8", "replace")


def cli(*args, timeout=30):
    """bin/collector VERB ...; (exit code, stdout, stderr)."""
    try:
        p = subprocess.run([COLLECTOR] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", "", ""


def cli_json(*args, timeout=30):
    """bin/collector VERB ... --json; (exit code, parsed stdout or None, stdout, stderr)."""
    rc, out, err = cli(*(list(args) + ["--json"]), timeout=timeout)
    try:
        j = json.loads(out)
    except ValueError:
        j = None
    return rc, j, out, err


def first_list(obj, key=None):
    """The list of a listing answer: obj[key], or obj itself, or its first list value."""
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        if key and isinstance(obj.get(key), list):
            return obj[key]
        for v in obj.values():
            if isinstance(v, list):
                return v
    return None


def reasons_text(obj):
    if not isinstance(obj, dict):
        return ""
    rs = obj.get("reasons")
    if isinstance(rs, list):
        return "\n".join(str(r) for r in rs)
    return ""


def short(obj, limit=500):
    text = json.dumps(obj) if not isinstance(obj, str) else obj
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------- RUM beacons

def post_beacons(port, beacons):
    """POST beacons to /v1/rum in arrays of up to 50 on one keep-alive connection.
    Returns the list of (status, body) of the requests that were not 204."""
    bad = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        for i in range(0, len(beacons), 50):
            body = json.dumps(beacons[i:i + 50], separators=(",", ":"))
            for attempt in range(3):
                try:
                    r = request(port, "POST", "/v1/rum", body=body,
                                headers={"Content-Type": "application/json"}, conn=conn)
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                    if attempt == 2:
                        raise
            if r.status != 204:
                bad.append((r.status, r.body[:200]))
    finally:
        conn.close()
    return bad


_uniq = secrets.token_hex(4)


def pageview(app, version, idx, metrics, error=False):
    """One page view: a beacon with one metric event per (name, value) and maybe an error."""
    pv = "pv-%s-%s-%s-%d" % (_uniq, app, version, idx)
    events = [{"type": "metric", "name": name, "value": round(value, 4),
               "id": "m-%s-%s-%s-%d-%s" % (_uniq, app, version, idx, name)}
              for name, value in metrics]
    if error:
        events.append({"type": "error", "message": "TypeError: x is undefined",
                       "source": "app.js", "line": 10, "col": 4, "kind": "error"})
    return {"app": app, "version": version, "pv": pv, "events": events}


# ---------------------------------------------------------------- context

class Ctx:
    pass


def probe_args(ctx, base, version, region, app="shop", extra=()):
    return (["run", harness.EXAMPLES, "--var", "base=%s" % base, "--app", app,
             "--version", version, "--region", region, "--no-color"] + list(extra))


def probe(ctx, args, env=None, unset=()):
    """bin/probe with the shop's password in SHOP_PASSWORD (the login step's secret)."""
    full = {"SHOP_PASSWORD": ctx.good.password}
    full.update(env or {})
    return run_probe(args, env=full, unset=unset)


def probe_runs(ctx, app, version=None):
    params = {"app": app}
    if version:
        params["version"] = version
    r = get(ctx.c.port, "/v1/probe-runs", **params)
    j = r.json()
    runs = j.get("runs") if isinstance(j, dict) else None
    return r, runs


# ---------------------------------------------------------------- 1. token

def test_token(ctx):
    """1. POST /v1/probe-runs needs the bearer token; a readable token file is refused."""
    c = ctx.c
    # a valid result document (no push), used for the unauthenticated attempts
    doc_path = os.path.join(ctx.dir, "doc-auth.json")
    res = probe(ctx, probe_args(ctx, ctx.good.base, "1.2.3", "eu-west", extra=["--report", "json:" + doc_path]))
    check("token: a plain probe run against the good shop exits 0", res.code == 0, res.brief())
    body = read_text(doc_path).encode("utf-8")
    check("token: probe --report json wrote a result document", body.strip().startswith(b"{"), body[:100])

    r = request(c.port, "POST", "/v1/probe-runs", body=body, headers={"Content-Type": "application/json"})
    j = r.json()
    check("token: POST /v1/probe-runs without Authorization -> 401 with a JSON error",
          r.status == 401 and isinstance(j, dict) and isinstance(j.get("error"), str), r.brief())
    r = request(c.port, "POST", "/v1/probe-runs", body=body,
                headers={"Content-Type": "application/json",
                         "Authorization": "Bearer " + secrets.token_hex(16)})
    j = r.json()
    check("token: POST /v1/probe-runs with a wrong token -> 401 with a JSON error",
          r.status == 401 and isinstance(j, dict) and isinstance(j.get("error"), str), r.brief())
    r = request(c.port, "POST", "/v1/probe-runs", body=body,
                headers={"Content-Type": "application/json", "Authorization": ctx.token})
    check("token: the token without the Bearer scheme -> 401", r.status == 401, r.brief())
    r, runs = probe_runs(ctx, "shop")
    check("token: nothing stored (GET /v1/probe-runs?app=shop lists no runs)",
          r.status == 200 and runs == [], r.brief())

    # a token file readable by others: serve refuses to start, exit 2, naming the file
    bad = os.path.join(ctx.dir, "token-644")
    with open(bad, "w") as f:
        f.write(secrets.token_hex(16) + "\n")
    os.chmod(bad, 0o644)
    port_file = os.path.join(ctx.dir, "port-644")
    p = subprocess.Popen([COLLECTOR, "serve", "--db", os.path.join(ctx.dir, "t644.db"),
                          "--listen", "127.0.0.1:0", "--port-file", port_file,
                          "--probe-token-file", bad],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=10)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        rc = "still running after 10 s"
    text = (out + err).decode("utf-8", "replace")
    check("token: a token file with mode 644 -> collector serve exits 2", rc == 2, (rc, text[-300:]))
    check("token: ... with a message naming the file", bad in text, text[-300:])

    # a short token (the README asks for 16 characters at least)
    short_tok = os.path.join(ctx.dir, "token-short")
    with open(short_tok, "w") as f:
        f.write("abc123\n")
    os.chmod(short_tok, 0o600)
    p = subprocess.Popen([COLLECTOR, "serve", "--db", os.path.join(ctx.dir, "tshort.db"),
                          "--listen", "127.0.0.1:0", "--port-file", os.path.join(ctx.dir, "port-short"),
                          "--probe-token-file", short_tok],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=10)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        rc = "still running after 10 s"
    check("token: a 6-character token -> collector serve exits 2", rc == 2,
          (rc, (out + err).decode("utf-8", "replace")[-300:]))


# ---------------------------------------------------------------- 2. probe --push

def test_push(ctx):
    """2. probe run --push stores the result document; idempotent by run id; exit 2 and 4."""
    c = ctx.c
    env = {"VIGIL_TOKEN": ctx.token}
    res = probe(ctx, probe_args(ctx, ctx.good.base, "1.2.3", "eu-west", extra=["--push", c.url]), env=env)
    check("push: probe --push against the good shop exits 0", res.code == 0, res.brief())
    check("push: ... and stdout says the results were pushed/stored",
          re.search(r"push|stored|sent", res.stdout, re.I) is not None, res.brief())

    # the same document twice
    doc_path = os.path.join(ctx.dir, "doc-twice.json")
    res = probe(ctx, probe_args(ctx, ctx.good.base, "1.2.3", "eu-west", extra=["--report", "json:" + doc_path]))
    check("push: probe --report json (no push) exits 0", res.code == 0, res.brief())
    data = read_text(doc_path).encode("utf-8")
    doc = harness.load_json(doc_path) or {}
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + ctx.token}
    s1, b1 = urllib_post(c.url + "/v1/probe-runs", data, headers)
    check("push: first POST of a result document -> 201 {run_id, stored: true}",
          s1 == 201 and isinstance(b1, dict) and b1.get("stored") is True
          and b1.get("run_id") == doc.get("run_id"), (s1, b1, doc.get("run_id")))
    s2, b2 = urllib_post(c.url + "/v1/probe-runs", data, headers)
    check("push: the same document again -> 200 with \"stored\": false",
          s2 == 200 and isinstance(b2, dict) and b2.get("stored") is False
          and b2.get("run_id") == doc.get("run_id"), (s2, b2))

    # a document without labels.version -> 400 naming it
    if isinstance(doc, dict) and doc:
        d2 = json.loads(json.dumps(doc))
        d2["run_id"] = "00000000-0000-4000-8000-%012x" % random.getrandbits(48)
        d2.get("labels", {}).pop("version", None)
        s3, b3 = urllib_post(c.url + "/v1/probe-runs", json.dumps(d2).encode(), headers)
        check("push: a document without labels.version -> 400 naming labels.version",
              s3 == 400 and isinstance(b3, dict) and "labels.version" in json.dumps(b3), (s3, b3))

    r, runs = probe_runs(ctx, "shop", "1.2.3")
    runs = runs if isinstance(runs, list) else []
    check("push: GET /v1/probe-runs?app=shop&version=1.2.3 -> 200 with runs",
          r.status == 200 and len(runs) > 0, r.brief())
    names = {x.get("journey") for x in runs if isinstance(x, dict)}
    check("push: ... lists the journeys checkout and health", {"checkout", "health"} <= names, names)
    check("push: ... every run has region eu-west and passed true (so far)",
          runs and all(x.get("region") == "eu-west" and x.get("passed") is True for x in runs),
          short(runs))
    check("push: ... with version 1.2.3 and run_id, started, failed_step, failure, retried keys",
          runs and all(x.get("version") == "1.2.3" and all(k in x for k in (
              "run_id", "started", "failed_step", "failure", "retried")) for x in runs), short(runs[:1]))
    # 2 pushed documents x 2 journeys
    check("push: ... 4 journey runs (two documents of two journeys)", len(runs) == 4, len(runs))
    ctx.runs_before = len(runs)

    # without VIGIL_TOKEN: exit 2, nothing sent (neither to the shop nor to the collector)
    shop_before = ctx.good.stats()
    res = probe(ctx, probe_args(ctx, ctx.good.base, "1.2.3", "eu-west", extra=["--push", c.url]),
                    unset=("VIGIL_TOKEN",))
    check("push: --push without VIGIL_TOKEN exits 2", res.code == 2, res.brief())
    shop_after = ctx.good.stats()
    check("push: ... and no journey request reached the shop (nothing was sent)",
          shop_before is not None and shop_before == shop_after, (shop_before, shop_after))
    _, runs = probe_runs(ctx, "shop", "1.2.3")
    check("push: ... and nothing reached the collector", isinstance(runs, list) and len(runs) == 4,
          None if runs is None else len(runs))

    # a wrong VIGIL_TOKEN: journeys pass, exit 4, stderr says the push failed with HTTP 401
    res = probe(ctx, probe_args(ctx, ctx.good.base, "1.2.3", "eu-west", extra=["--push", c.url]),
                    env={"VIGIL_TOKEN": secrets.token_hex(16)})
    check("push: a wrong VIGIL_TOKEN -> exit 4", res.code == 4, res.brief())
    check("push: ... the journeys passed (console shows no FAIL)",
          "FAIL" not in res.stdout and "PASS" in res.stdout, res.brief())
    check("push: ... stderr says the push failed with HTTP 401",
          re.search(r"push", res.stderr, re.I) is not None and "401" in res.stderr
          and re.search(r"fail|could not|error", res.stderr, re.I) is not None, res.brief())
    _, runs = probe_runs(ctx, "shop", "1.2.3")
    check("push: ... and nothing was stored", isinstance(runs, list) and len(runs) == 4,
          None if runs is None else len(runs))


# ---------------------------------------------------------------- 3. gate

def test_gate(ctx):
    """3. The pre-exposure gate over two regions, the Flagger hook, retries and max age."""
    c = ctx.c
    env = {"VIGIL_TOKEN": ctx.token}
    for version, region, shop in (("1.2.3", "eu-west", ctx.good), ("1.2.3", "us-east", ctx.good),
                                  ("1.2.4", "eu-west", ctx.good), ("1.2.4", "us-east", ctx.broken)):
        res = probe(ctx, probe_args(ctx, shop.base, version, region, extra=["--push", c.url]), env=env)
        want = 1 if shop is ctx.broken else 0
        check("gate: probe --push %s %s against the %s shop exits %d"
              % (version, region, "broken" if shop is ctx.broken else "good", want), res.code == want,
              res.brief())

    db = c.db
    rc, out, err = cli("gate", "--db", db, "--app", "shop", "--version", "1.2.3")
    check("gate: collector gate 1.2.3 (two regions, all passed) exits 0", rc == 0, (rc, out, err))
    check("gate: ... and prints allow", "allow" in out.lower(), (out, err))
    rc, j, out, err = cli_json("gate", "--db", db, "--app", "shop", "--version", "1.2.3")
    check("gate: collector gate --json 1.2.3: decision allow, regions eu-west and us-east",
          rc == 0 and isinstance(j, dict) and j.get("decision") == "allow"
          and {"eu-west", "us-east"} <= set(map(str, j.get("regions") or [])), (rc, out[-400:], err))

    r = get(c.port, "/v1/gate", app="shop", version="1.2.3")
    j = r.json()
    check("gate: GET /v1/gate?app=shop&version=1.2.3 -> 200 decision allow",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "allow", r.brief())
    check("gate: ... with reasons, regions and journeys lists",
          isinstance(j, dict) and all(isinstance(j.get(k), list) for k in ("reasons", "regions", "journeys")),
          r.brief())

    rc, jj, out, err = cli_json("gate", "--db", db, "--app", "shop", "--version", "1.2.3",
                                "--regions", "eu-west,us-east,ap-south")
    check("gate: --regions eu-west,us-east,ap-south -> exit 1", rc == 1, (rc, out[-300:], err))
    check("gate: ... decision block with a reason naming ap-south",
          isinstance(jj, dict) and jj.get("decision") == "block" and "ap-south" in reasons_text(jj),
          (out[-400:], err))
    r = get(c.port, "/v1/gate", app="shop", version="1.2.3", regions="eu-west,us-east,ap-south")
    j = r.json()
    check("gate: GET /v1/gate ...&regions=eu-west,us-east,ap-south -> 200 block naming ap-south",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "block"
          and "ap-south" in reasons_text(j), r.brief())
    r = get(c.port, "/v1/gate", app="shop", version="1.2.3", regions="eu-west")
    j = r.json()
    check("gate: GET /v1/gate ...&regions=eu-west -> allow",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "allow", r.brief())
    r = get(c.port, "/v1/gate", app="shop", version="1.2.3", min_runs="50")
    j = r.json()
    check("gate: GET /v1/gate ...&min_runs=50 -> block",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "block", r.brief())

    # 1.2.4: broken in us-east
    rc, out, err = cli("gate", "--db", db, "--app", "shop", "--version", "1.2.4")
    check("gate: collector gate 1.2.4 (checkout broken in us-east) exits 1", rc == 1, (rc, out, err))
    check("gate: ... and prints block", "block" in out.lower(), (out, err))
    rc, jj, out, err = cli_json("gate", "--db", db, "--app", "shop", "--version", "1.2.4")

    def names_failure(rtext):
        return any("us-east" in line and "checkout" in line and "check out" in line
                   for line in rtext.splitlines())

    check("gate: ... a reason names us-east, the journey checkout and the step \"check out\"",
          isinstance(jj, dict) and jj.get("decision") == "block" and names_failure(reasons_text(jj)),
          (out[-500:], err))
    r = get(c.port, "/v1/gate", app="shop", version="1.2.4")
    j = r.json()
    check("gate: GET /v1/gate?app=shop&version=1.2.4 -> 200 block, same reason",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "block"
          and names_failure(reasons_text(j)), r.brief())
    check("gate: ... the reason carries the status (expected 200, got 500)",
          isinstance(j, dict) and "500" in reasons_text(j), reasons_text(j) if isinstance(j, dict) else r.brief())

    # Flagger pre-rollout hook
    def hook(version):
        body = {"name": "shop", "namespace": "default", "phase": "Progressing",
                "metadata": {"app": "shop", "version": version}}
        return request(c.port, "POST", "/v1/hooks/flagger/pre-rollout", body=json.dumps(body),
                       headers={"Content-Type": "application/json"})

    r = hook("1.2.3")
    check("gate: Flagger pre-rollout hook for 1.2.3 -> 200", r.status == 200, r.brief())
    r = hook("1.2.4")
    txt = r.text()
    check("gate: Flagger pre-rollout hook for 1.2.4 -> 403", r.status == 403, r.brief())
    check("gate: ... the text body has the blocked reason (us-east, checkout, check out)",
          "us-east" in txt and "checkout" in txt and "check out" in txt, txt[:400])
    body = {"name": "shop", "namespace": "default", "phase": "Progressing",
            "metadata": {"app": "shop", "version": "1.2.3", "regions": "eu-west,us-east,ap-south"}}
    r = request(c.port, "POST", "/v1/hooks/flagger/pre-rollout", body=json.dumps(body),
                headers={"Content-Type": "application/json"})
    check("gate: Flagger hook with metadata.regions including ap-south -> 403 naming ap-south",
          r.status == 403 and "ap-south" in r.text(), r.brief())

    # a step that passed on a retry: allowed, and said
    jdir = os.path.join(ctx.dir, "flaky-journeys")
    os.makedirs(jdir, exist_ok=True)
    harness.write_journey(jdir, "flaky.json", {
        "name": "flaky",
        "variables": {"base": "http://127.0.0.1:1"},
        "steps": [{"name": "flaky endpoint",
                   "request": {"url": "{{base}}/flaky?key=%s&fail=1" % secrets.token_hex(6)},
                   "retries": 2, "retry_interval_ms": 50,
                   "expect": {"status": 200}}]})
    res = probe(ctx, ["run", jdir, "--var", "base=%s" % ctx.good.base, "--app", "shop-flaky",
                     "--version", "1.0.0", "--region", "eu-west", "--no-color", "--push", c.url], env=env)
    check("gate: a journey passing on a retry (flaky, fail=1, retries 2) pushes and exits 0",
          res.code == 0, res.brief())
    _, runs = probe_runs(ctx, "shop-flaky", "1.0.0")
    check("gate: ... the stored run is passed with the retried step noted",
          isinstance(runs, list) and len(runs) == 1 and runs[0].get("passed") is True
          and runs[0].get("retried") not in (None, "", [], 0, False), short(runs))
    r = get(c.port, "/v1/gate", app="shop-flaky", version="1.0.0")
    j = r.json()
    check("gate: GET /v1/gate for the retried run -> allow",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "allow", r.brief())
    check("gate: ... and a reason mentions the retry",
          isinstance(j, dict) and "retr" in reasons_text(j).lower(), r.brief())

    ctx.gate_done_at = time.monotonic()


def test_gate_max_age(ctx):
    """3 (end). --max-age: runs older than that block."""
    c = ctx.c
    wait = 2.0 - (time.monotonic() - ctx.gate_done_at)
    if wait > 0:
        time.sleep(wait)
    rc, jj, out, err = cli_json("gate", "--db", c.db, "--app", "shop", "--version", "1.2.3",
                                "--max-age", "1s")
    check("gate: --max-age 1s after 2 s -> exit 1 block", rc == 1 and isinstance(jj, dict)
          and jj.get("decision") == "block", (rc, out[-300:], err))
    age_re = re.compile(r"\bago\b|max.?age|older|too old|stale|\bage\b|within", re.I)
    check("gate: ... with a reason about the age of the runs",
          age_re.search(reasons_text(jj)) is not None, (out[-400:], err))
    r = get(c.port, "/v1/gate", app="shop", version="1.2.3", max_age="1s")
    j = r.json()
    check("gate: GET /v1/gate ...&max_age=1s -> 200 block",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "block", r.brief())
    rc, out, err = cli("gate", "--db", c.db, "--app", "shop", "--version", "1.2.3", "--max-age", "soon")
    check("gate: --max-age soon -> exit 2", rc == 2, (rc, out, err))
    rc, out, err = cli("gate", "--db", c.db, "--app", "shop")
    check("gate: without --version -> exit 2", rc == 2, (rc, out, err))
    r = get(c.port, "/v1/gate", app="shop")
    j = r.json()
    check("gate: GET /v1/gate without version -> 400 JSON naming version",
          r.status == 400 and isinstance(j, dict) and j.get("field") == "version", r.brief())


# ---------------------------------------------------------------- 4. markers

def test_markers(ctx):
    """4. Deployment markers from the CLI and over HTTP."""
    c = ctx.c
    rc, out, err = cli("mark", "--db", c.db, "--app", "shop", "--version", "1.2.3",
                       "--baseline", "1.2.2", "--stage", "canary")
    check("markers: collector mark 1.2.3 --baseline 1.2.2 --stage canary exits 0", rc == 0, (rc, out, err))
    ctx.t_mark = time.time()

    auth = {"Content-Type": "application/json", "Authorization": "Bearer " + ctx.token}
    # a marker for the small canary of 5(c), dated before any baseline beacon is sent
    marker = {"app": "shop", "version": "1.2.5", "baseline": "1.2.2", "stage": "canary",
              "ts": int(time.time() * 1000) - 1000, "note": "test marker"}
    r = request(c.port, "POST", "/v1/deployments", body=json.dumps(marker), headers=auth)
    j = r.json()
    check("markers: POST /v1/deployments with the token -> 201 with the marker",
          r.status == 201 and isinstance(j, dict) and j.get("version") == "1.2.5"
          and j.get("baseline") == "1.2.2" and j.get("stage") == "canary", r.brief())
    r = request(c.port, "POST", "/v1/deployments", body=json.dumps(marker),
                headers={"Content-Type": "application/json"})
    check("markers: POST /v1/deployments without the token -> 401", r.status == 401, r.brief())
    bad = dict(marker, colour="blue")
    r = request(c.port, "POST", "/v1/deployments", body=json.dumps(bad), headers=auth)
    j = r.json()
    check("markers: an unknown field -> 400 naming it",
          r.status == 400 and isinstance(j, dict)
          and (j.get("field") == "colour" or "colour" in str(j.get("error"))), r.brief())
    # marker for the identical-distributions app of 5(b)
    r = request(c.port, "POST", "/v1/deployments",
                body=json.dumps({"app": "shop-same", "version": "1.2.3", "baseline": "1.2.2",
                                 "stage": "canary"}), headers=auth)
    check("markers: POST /v1/deployments for shop-same (ts defaults to now) -> 201", r.status == 201, r.brief())

    r = get(c.port, "/v1/deployments", app="shop")
    j = r.json()
    lst = first_list(j, "deployments")
    lst = lst if isinstance(lst, list) else []
    versions = [(m.get("version"), m.get("baseline"), m.get("stage")) for m in lst if isinstance(m, dict)]
    check("markers: GET /v1/deployments?app=shop -> 200 listing both markers",
          r.status == 200 and ("1.2.3", "1.2.2", "canary") in versions and ("1.2.5", "1.2.2", "canary") in versions
          and len(lst) == 2, r.brief())
    check("markers: ... the unknown-field marker was not stored and shop-same's is not listed",
          all(m.get("app", "shop") == "shop" for m in lst if isinstance(m, dict)), short(lst))
    rc, out, err = cli("mark", "--db", c.db, "--app", "shop")
    check("markers: collector mark without --version -> exit 2", rc == 2, (rc, out, err))


# ---------------------------------------------------------------- 5. verdict

def lcp(rng, factor=1.0):
    return factor * rng.lognormvariate(math.log(2300), 0.5)


def all_vitals(rng):
    return [("LCP", rng.lognormvariate(math.log(2300), 0.5)),
            ("INP", rng.lognormvariate(math.log(180), 0.6)),
            ("FCP", rng.lognormvariate(math.log(1500), 0.5)),
            ("TTFB", rng.lognormvariate(math.log(600), 0.5)),
            ("CLS", min(100.0, rng.lognormvariate(math.log(0.05), 0.8)))]


def verdict_http(ctx, **params):
    r = get(ctx.c.port, "/v1/verdict", **params)
    if r.status == 200 and params.get("app") == "shop" and params.get("record") != "0":
        # Over HTTP a verdict the same as one recorded in the minute before (pair, policy,
        # method, decision) is not recorded again (collector/README.md, "Which verdicts
        # are recorded"): the calls of this test make one row per distinct verdict.
        j = r.json() or {}
        key = (params.get("baseline"), params.get("canary"), j.get("policy"), j.get("method"),
               j.get("decision"))
        if key not in ctx.http_verdict_keys:
            ctx.http_verdict_keys.add(key)
            ctx.http_verdicts_shop += 1
    return r, r.json()


def compare(ctx, *args, as_json=False):
    """collector compare ...; counts the calls on app shop that gave a decision."""
    if as_json:
        rc, j, out, err = cli_json("compare", *args)
    else:
        rc, out, err = cli("compare", *args)
    args = [str(a) for a in args]
    if rc in (0, 1, 3) and "--app" in args and args[args.index("--app") + 1] == "shop":
        ctx.cli_verdicts_shop += 1
        # An HTTP verdict the same as this one within the minute is not recorded again.
        opt = lambda name, dflt: args[args.index(name) + 1] if name in args else dflt  # noqa: E731
        ctx.http_verdict_keys.add((opt("--baseline", None), opt("--canary", None),
                                   opt("--policy", "conservative"), opt("--method", "sequential"),
                                   {0: "promote", 1: "rollback", 3: "pause"}[rc]))
    return (rc, j, out, err) if as_json else (rc, out, err)


def metric_entry(v, name):
    for m in (v.get("metrics") or []) if isinstance(v, dict) else []:
        if isinstance(m, dict) and m.get("name") == name:
            return m
    return None


def describe_metrics(v):
    out = []
    for m in (v.get("metrics") or []) if isinstance(v, dict) else []:
        if not isinstance(m, dict):
            continue
        out.append("%s %s: base %s canary %s ratio/diff %s bounds %s -> %s" % (
            m.get("name"), m.get("kind"), short(m.get("baseline"), 160), short(m.get("canary"), 160),
            m.get("ratio", m.get("difference")), m.get("bounds"), m.get("result")))
    return out


def test_verdict(ctx):
    """5. Canary verdicts from synthetic RUM."""
    c = ctx.c
    db = c.db
    rng = random.Random(20261128)

    # (a) app shop: canary 1.2.3 LCP x1.3, 3000 vs 6000 page views, no errors.
    # The canary's marker (collector mark, group 4) opens the window; all data comes after it.
    beacons = [pageview("shop", "1.2.2", i, [("LCP", lcp(rng))]) for i in range(6000)]
    beacons += [pageview("shop", "1.2.3", i, [("LCP", lcp(rng, 1.3))]) for i in range(3000)]
    # (c) a canary with 20 page views only (its marker, dated earlier, was posted in group 4)
    beacons += [pageview("shop", "1.2.5", i, [("LCP", lcp(rng))]) for i in range(20)]
    t0 = time.monotonic()
    ctx.before_verdict_ms = int(time.time() * 1000)
    time.sleep(0.01)
    bad = post_beacons(c.port, beacons)
    check("verdict: 9020 synthetic beacons for app shop stored (every POST /v1/rum 204)", not bad,
          "%d bad, first %r" % (len(bad), bad[:1]))

    # (b) app shop-same: identical distributions, all five vitals and 2% of page views with
    # an error. The error rate is compared as a ratio from how the errors split between the
    # versions; with 120 errors each the ratio's upper bound is about 1.5, within the
    # aggressive policy's +100% (a handful of errors could not bound it).
    same = []
    for version in ("1.2.2", "1.2.3"):
        err_idx = set(rng.sample(range(6000), 120))
        same += [pageview("shop-same", version, i, all_vitals(rng), error=i in err_idx) for i in range(6000)]
    bad = post_beacons(c.port, same)
    check("verdict: 12000 synthetic beacons for app shop-same stored", not bad,
          "%d bad, first %r" % (len(bad), bad[:1]))
    diag("posted 21020 beacons in %.1fs" % (time.monotonic() - t0))

    # (a) CLI
    rc, out, err = compare(ctx, "--db", db, "--app", "shop", "--baseline", "1.2.2", "--canary", "1.2.3",
                       "--warmup", "0")
    check("verdict (a): compare canary LCP x1.3 -> exit 1 (roll back)", rc == 1, (rc, out[-500:], err[-300:]))
    text = out + err
    check("verdict (a): ... the reason mentions LCP and \"roll back\"",
          "LCP" in text and "roll back" in text, text[-500:])
    rc, v, out, err = compare(ctx, "--db", db, "--app", "shop", "--baseline", "1.2.2",
                              "--canary", "1.2.3", "--warmup", "0", as_json=True)
    if isinstance(v, dict):
        diag("(a) sequential: %s" % v.get("decision"))
        for line in describe_metrics(v):
            diag("  " + line)
    check("verdict (a): compare --json -> decision rollback", isinstance(v, dict) and v.get("decision") == "rollback",
          (rc, out[-300:], err[-200:]))

    # (a) HTTP
    r, v = verdict_http(ctx, app="shop", baseline="1.2.2", canary="1.2.3", warmup="0")
    check("verdict (a): GET /v1/verdict ...&warmup=0 -> 200 decision rollback",
          r.status == 200 and isinstance(v, dict) and v.get("decision") == "rollback", r.brief())
    check("verdict (a): ... with metrics, reasons and window",
          isinstance(v, dict) and isinstance(v.get("metrics"), list) and isinstance(v.get("reasons"), list)
          and isinstance(v.get("window"), dict), r.brief())
    m = metric_entry(v, "LCP")
    ok_m = (isinstance(m, dict) and isinstance(m.get("baseline"), dict) and isinstance(m.get("canary"), dict)
            and m["baseline"].get("n") == 6000 and m["canary"].get("n") == 3000
            and isinstance(m.get("bounds"), list) and len(m["bounds"]) == 2 and m.get("result") == "rollback")
    check("verdict (a): ... LCP listed with n 6000/3000, bounds [lo, hi] and result rollback", ok_m, short(m))
    if isinstance(m, dict) and isinstance(m.get("bounds"), list) and len(m["bounds"]) == 2:
        lo, hi = m["bounds"]
        ratio = m.get("ratio")
        nums = all(isinstance(x, (int, float)) for x in (lo, hi, ratio))
        # a ratio of about 1.3 (or, written as a relative change, about +0.3)
        near = nums and (1.15 < ratio < 1.45 or 0.15 < ratio < 0.45)
        check("verdict (a): ... LCP ratio near 1.3 and inside its bounds",
              near and lo <= ratio <= hi, short(m))
    check("verdict (a): ... a reason mentions LCP and \"roll back\"",
          "LCP" in reasons_text(v) and "roll back" in reasons_text(v), reasons_text(v)[:400])
    check("verdict (a): ... metrics without data (INP) say \"no data\"",
          (metric_entry(v, "INP") or {}).get("result") in ("no data", None), short(metric_entry(v, "INP")))

    # (e) Mann-Whitney on the same data: a one-look tool. The CLI gives it with a warning;
    # the API, which a controller asks every minute, refuses it (shared/README.md).
    rc, out, err = compare(ctx, "--db", db, "--app", "shop", "--baseline", "1.2.2", "--canary", "1.2.3",
                       "--warmup", "0", "--method", "mann-whitney")
    check("verdict (e): compare --method mann-whitney on (a) -> exit 1 (roll back)", rc == 1,
          (rc, out[-400:], err[-300:]))
    check("verdict (e): ... and warns that it is valid for one look",
          "warning:" in out and "one look" in out, out[-400:])
    r, v = verdict_http(ctx, app="shop", baseline="1.2.2", canary="1.2.3", warmup="0", method="mann-whitney")
    check("verdict (e): GET /v1/verdict ...&method=mann-whitney -> 400 with the reason",
          r.status == 400 and isinstance(v, dict) and "one-look" in str(v.get("error"))
          and v.get("field") == "method", r.brief())

    # (g) replay: the verdict as it was at a time, from the data received by then
    # (replays are not recorded, so they go around verdict_http and compare, which count
    # the recorded verdicts)
    r = get(c.port, "/v1/verdict", app="shop", baseline="1.2.2", canary="1.2.3", warmup="0",
            at=str(int(time.time() * 1000)))
    v = r.json()
    check("verdict (g): at= without record=0 -> 400 naming record", r.status == 400
          and isinstance(v, dict) and v.get("field") == "record", r.brief())
    r = get(c.port, "/v1/verdict", app="shop", baseline="1.2.2", canary="1.2.3", warmup="0",
            at=str(ctx.before_verdict_ms), record="0")
    v = r.json()
    check("verdict (g): at= before the beacons were posted -> 200 pause, no canary data",
          r.status == 200 and isinstance(v, dict) and v.get("decision") == "pause"
          and (v.get("samples") or {}).get("canary") == 0
          and v.get("at_ms") == ctx.before_verdict_ms, r.brief())
    time.sleep(1.1)
    rc, v, out, err = cli_json("compare", "--db", db, "--app", "shop", "--baseline", "1.2.2",
                               "--canary", "1.2.3", "--warmup", "0", "--exact", "--at",
                               time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 0.5)))
    check("verdict (g): compare --at (RFC 3339, now) --exact sees the data: exit 1 rollback",
          rc == 1 and isinstance(v, dict) and v.get("decision") == "rollback", (rc, out[-300:], err[-300:]))
    rc, out, err = cli("compare", "--db", db, "--app", "shop", "--baseline", "1.2.2", "--canary", "1.2.3",
                       "--at", "yesterday")
    check("verdict (g): compare --at yesterday -> exit 2 naming at", rc == 2 and "at" in err, (rc, err[-300:]))

    # (b) identical distributions, aggressive policy: promote
    rc, out, err = compare(ctx, "--db", db, "--app", "shop-same", "--baseline", "1.2.2", "--canary", "1.2.3",
                       "--policy", "aggressive", "--warmup", "0")
    promoted = rc == 0
    check("verdict (b): identical distributions, 6000 each, --policy aggressive -> exit 0 (promote)",
          promoted, (rc, out[-400:], err[-200:]))
    rc2, v, out2, err2 = compare(ctx, "--db", db, "--app", "shop-same", "--baseline", "1.2.2",
                                  "--canary", "1.2.3", "--policy", "aggressive", "--warmup", "0",
                                 as_json=True)
    if isinstance(v, dict):
        diag("(b) aggressive: %s (alpha %s)" % (v.get("decision"), v.get("alpha")))
        for line in describe_metrics(v):
            diag("  " + line)
        for line in v.get("reasons") or []:
            diag("  reason: %s" % line)
    ms = {m.get("name"): m for m in (v.get("metrics") or [])} if isinstance(v, dict) else {}
    check("verdict (b): ... every vital and the error rate were compared (n 6000 each)",
          all(isinstance(ms.get(k), dict) and (ms[k].get("canary") or {}).get("n") == 6000
              and (ms[k].get("baseline") or {}).get("n") == 6000
              for k in ("LCP", "INP", "FCP", "TTFB", "CLS")) and "errors" in ms, short(v, 600))
    e = ms.get("errors") or {}
    check("verdict (b): ... errors is a rate with a difference near 0",
          e.get("kind") == "rate" and isinstance(e.get("difference"), (int, float))
          and abs(e["difference"]) < 0.003, short(e))
    r, v = verdict_http(ctx, app="shop-same", baseline="1.2.2", canary="1.2.3", warmup="0", policy="aggressive")
    check("verdict (b): GET /v1/verdict ...&policy=aggressive -> 200 promote",
          r.status == 200 and isinstance(v, dict) and v.get("decision") == "promote", r.brief())
    r, v = verdict_http(ctx, app="shop-same", baseline="1.2.2", canary="1.2.3", warmup="0")
    check("verdict (b): ... the default (conservative) policy never rolls back identical data",
          r.status == 200 and isinstance(v, dict) and v.get("decision") in ("promote", "pause"), r.brief())

    # (c) a canary with 20 page views
    rc, out, err = compare(ctx, "--db", db, "--app", "shop", "--baseline", "1.2.2", "--canary", "1.2.5",
                       "--warmup", "0")
    check("verdict (c): a canary with 20 page views -> exit 3 (pause)", rc == 3, (rc, out[-400:], err[-200:]))
    r, v = verdict_http(ctx, app="shop", baseline="1.2.2", canary="1.2.5", warmup="0")
    traffic_re = re.compile(r"traffic|too few|too little|not enough|minimum|at least|only 20"
                            r"|\b20 (page|view|sample)|needs [\d,]+ more (page views|samples|observations)",
                            re.I)
    check("verdict (c): GET /v1/verdict -> 200 pause with a reason about too little traffic",
          r.status == 200 and isinstance(v, dict) and v.get("decision") == "pause"
          and traffic_re.search(reasons_text(v)) is not None, r.brief())
    m = metric_entry(v, "LCP")
    check("verdict (c): ... LCP canary n is 20", isinstance(m, dict) and (m.get("canary") or {}).get("n") == 20,
          short(m))

    # (d) a canary version that sent nothing: never seen at all is a typo (exit 2, 404);
    # deployed (marked) but silent pauses.
    rc, out, err = compare(ctx, "--db", db, "--app", "shop", "--baseline", "1.2.2", "--canary", "9.9.9",
                       "--warmup", "0")
    check("verdict (d): a canary nobody deployed or heard of -> exit 2 naming it",
          rc == 2 and "9.9.9" in err, (rc, out[-400:], err[-200:]))
    r, v = verdict_http(ctx, app="shop", baseline="1.2.2", canary="9.9.9", warmup="0")
    check("verdict (d): GET /v1/verdict for it -> 404 with field canary",
          r.status == 404 and isinstance(v, dict) and v.get("field") == "canary", r.brief())
    rc, out, err = cli("mark", "--db", db, "--app", "shop", "--version", "9.9.9")
    check("verdict (d): marking 9.9.9 (deployed, silent) -> exit 0", rc == 0, (rc, out, err))
    rc, out, err = compare(ctx, "--db", db, "--app", "shop", "--baseline", "1.2.2", "--canary", "9.9.9",
                       "--warmup", "0")
    check("verdict (d): a marked canary that sent nothing -> exit 3 (pause)", rc == 3, (rc, out[-400:], err[-200:]))
    r, v = verdict_http(ctx, app="shop", baseline="1.2.2", canary="9.9.9", warmup="0")
    check("verdict (d): GET /v1/verdict -> 200 pause",
          r.status == 200 and isinstance(v, dict) and v.get("decision") == "pause", r.brief())

    # warm-up: 1h after the canary's marker leaves no data in the window -> pause
    r, v = verdict_http(ctx, app="shop", baseline="1.2.2", canary="1.2.3", warmup="1h")
    check("verdict: warmup=1h (the window has not started) -> 200 pause, not rollback",
          r.status == 200 and isinstance(v, dict) and v.get("decision") == "pause", r.brief())

    # (f) bad input
    rc, out, err = compare(ctx, "--db", db, "--app", "shop", "--baseline", "1.2.2")
    check("verdict (f): compare without --canary -> exit 2", rc == 2, (rc, out, err))
    rc, out, err = compare(ctx, "--db", db, "--app", "shop", "--baseline", "1.2.2", "--canary", "1.2.3",
                       "--policy", "no-such-policy")
    check("verdict (f): compare --policy no-such-policy -> exit 2", rc == 2, (rc, out, err))
    rc, out, err = compare(ctx, "--db", db, "--app", "shop", "--baseline", "1.2.2", "--canary", "1.2.3",
                       "--method", "t-test")
    check("verdict (f): compare --method t-test -> exit 2", rc == 2, (rc, out, err))
    r = get(c.port, "/v1/verdict", baseline="1.2.2", canary="1.2.3")
    j = r.json()
    check("verdict (f): GET /v1/verdict without app -> 400 JSON with field \"app\"",
          r.status == 400 and isinstance(j, dict) and j.get("field") == "app"
          and isinstance(j.get("error"), str), r.brief())
    r = get(c.port, "/v1/verdict", app="shop", baseline="1.2.2", canary="1.2.3", policy="no-such-policy")
    j = r.json()
    check("verdict (f): GET /v1/verdict with an unknown policy name -> 400 JSON error",
          r.status == 400 and isinstance(j, dict) and isinstance(j.get("error"), str), r.brief())
    pol = os.path.join(ctx.dir, "policy.json")
    with open(pol, "w") as f:
        f.write('{"name": "x"}')
    r = get(c.port, "/v1/verdict", app="shop", baseline="1.2.2", canary="1.2.3", policy=pol)
    check("verdict (f): GET /v1/verdict with a policy file path -> 400 (built-in names only over HTTP)",
          r.status == 400, r.brief())
    r = get(c.port, "/v1/verdict", app="shop", baseline="1.2.2", canary="1.2.3", method="t-test")
    check("verdict (f): GET /v1/verdict with an unknown method -> 400", r.status == 400, r.brief())

    # stored verdicts
    r = get(c.port, "/v1/verdicts", app="shop")
    j = r.json()
    lst = first_list(j, "verdicts")
    lst = lst if isinstance(lst, list) else []
    calls = ctx.http_verdicts_shop + ctx.cli_verdicts_shop
    check("verdict: GET /v1/verdicts?app=shop -> 200 with at least the %d verdicts given for shop "
          "(%d distinct over HTTP, %d by collector compare; each compare and each HTTP verdict not a repeat is stored)"
          % (calls, ctx.http_verdicts_shop, ctx.cli_verdicts_shop),
          r.status == 200 and len(lst) >= calls, "%d listed; %s" % (len(lst), r.brief()))
    keys = ("ts", "baseline", "canary", "policy", "method", "decision", "n_baseline", "n_canary", "reasons")
    check("verdict: ... each with ts, baseline, canary, policy, method, decision, n_baseline, n_canary, reasons",
          lst and all(isinstance(x, dict) and all(k in x for k in keys) for x in lst), short(lst[:1]))
    ts = [x.get("ts") for x in lst]
    # numbers (Unix ms) or RFC 3339 UTC strings of one format: both order as they compare
    comparable = ts and (all(isinstance(t, (int, float)) for t in ts) or all(isinstance(t, str) for t in ts))
    check("verdict: ... newest first", comparable and all(ts[i] >= ts[i + 1] for i in range(len(ts) - 1)),
          ts[:10])
    check("verdict: ... only app shop's (no shop-same verdict, whose canary had 6000 page views)",
          all(x.get("n_canary") != 6000 for x in lst), short(lst[:3]))
    diag("verdicts listed for shop: %d (HTTP verdict calls for shop: %d; collector compare calls: %d)"
         % (len(lst), ctx.http_verdicts_shop, ctx.cli_verdicts_shop))


# ---------------------------------------------------------------- main

def main():
    if not os.access(COLLECTOR, os.X_OK) or not os.access(harness.PROBE, os.X_OK):
        check("bin/collector and bin/probe exist", False, "build them with make")
        return harness.finish()
    t_start = time.monotonic()
    ctx = Ctx()
    ctx.dir = tempdir("vigil-cmp-")
    ctx.http_verdicts_shop = 0
    ctx.http_verdict_keys = set()
    ctx.cli_verdicts_shop = 0
    ctx.gate_done_at = time.monotonic()
    ctx.token = secrets.token_hex(16)  # 32 characters
    token_file = os.path.join(ctx.dir, "token")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(ctx.token + "\n")
    os.chmod(token_file, 0o600)
    try:
        ctx.good = harness.Shop(version="1.2.3")
        ctx.broken = harness.Shop(version="1.2.4", broken=True)
        ctx.c = Collector(FAST + ["--probe-token-file", token_file], directory=ctx.dir, name="collector")
    except Exception as exc:
        check("shops and collector start", False, exc)
        return harness.finish()

    run_group(test_token, ctx)
    run_group(test_push, ctx)
    run_group(test_gate, ctx)
    run_group(test_markers, ctx)
    run_group(test_verdict, ctx)
    run_group(test_gate_max_age, ctx)

    rc = ctx.c.stop()
    check("collector: SIGTERM exits 0", rc == 0, rc)
    harness.check_collectors_clean()
    diag("comparator tests took %.1fs" % (time.monotonic() - t_start))
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
