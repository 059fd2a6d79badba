#!/usr/bin/env python3
"""Integration tests of signed probe pushes, the gate's --require-signed and the probe
series in /metrics.

Every expectation comes from collector/README.md ("Signed pushes", the gate, /metrics)
and shared/sign.h (the headers and the canonical string); the signatures are computed
here with Python's hmac module, never with the collector's code. The result document is
the one bin/probe writes (--report json) after a run of probe/examples against the
example shop; each push gives it a fresh run id and its own version, so that the cases
do not see each other's runs.

Prints TAP-style `ok - ...` / `not ok - ...` lines; exits 1 when any check failed.
Run: cd /work/main && VIGIL_ROOT=$PWD VIGIL_BIN=$PWD/bin python3 tests/integration/test_signed.py
"""

import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, run_group, run_probe, tempdir  # noqa: E402
from harness import COLLECTOR, Collector, get, write_private  # noqa: E402
# The CLI helpers, FAST and the 15 s request live with the comparator's tests.
from test_comparator import FAST, cli_json, reasons_text, request  # noqa: E402

PATH = "/v1/probe-runs"
WINDOW_S = 300   # SIGN_WINDOW_S, shared/sign.h


class Ctx:
    pass


def signature(secret, ts, body, method="POST", path=PATH):
    """HMAC-SHA256(secret, METHOD \\n PATH \\n TS \\n hex(SHA-256(body))), as shared/sign.h says."""
    canonical = "%s\n%s\n%d\n%s" % (method, path, ts, hashlib.sha256(body).hexdigest())
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def signed_headers(key_id, secret, body, ts=None):
    ts = int(time.time()) if ts is None else ts
    return {"Content-Type": "application/json", "X-Vigil-Key-Id": key_id,
            "X-Vigil-Timestamp": str(ts), "X-Vigil-Signature": signature(secret, ts, body)}


def document(ctx, version, region="eu-west", extra=None):
    """The probe's result document with a new run id, version and region, as bytes."""
    d = json.loads(json.dumps(ctx.doc))
    d["run_id"] = str(uuid.uuid4())
    d["labels"]["version"] = version
    d["labels"]["region"] = region
    d.update(extra or {})
    return d, json.dumps(d).encode()


def runs_of(ctx, version):
    r = get(ctx.c.port, PATH, app="shop", version=version)
    j = r.json()
    return j.get("runs") if isinstance(j, dict) else None


def stored_row(ctx, run_id):
    """(key_id, [signed of each journey]) straight from the database, or None."""
    con = sqlite3.connect("file:%s?mode=ro" % ctx.c.db, uri=True, timeout=5)
    try:
        row = con.execute("SELECT key_id FROM probe_runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        signed = [r[0] for r in con.execute(
            "SELECT signed FROM probe_journeys WHERE run_id = ? ORDER BY idx", (run_id,))]
        return row[0], signed
    finally:
        con.close()


def error_of(r):
    j = r.json()
    return j.get("error", "") if isinstance(j, dict) else ""


# ---------------------------------------------------------------- 1. signed pushes

def test_signed_push(ctx):
    """A push signed with a known key is stored and recorded as signed, with its key id."""
    c = ctx.c
    d, body = document(ctx, "2.0.0-signed")
    r = request(c.port, "POST", PATH, body=body, headers=signed_headers("eu-west-1", ctx.k1, body))
    j = r.json()
    check("signed: a push signed with eu-west-1 -> 201", r.status == 201, r.brief())
    check("signed: ... answers the run id, stored true and signed true",
          isinstance(j, dict) and j.get("run_id") == d["run_id"] and j.get("stored") is True
          and j.get("signed") is True, r.brief())
    row = stored_row(ctx, d["run_id"])
    check("signed: ... the database holds the run with key id eu-west-1 and every journey signed",
          row is not None and row[0] == "eu-west-1" and row[1] and all(s == 1 for s in row[1]), row)
    runs = runs_of(ctx, "2.0.0-signed")
    check("signed: GET /v1/probe-runs lists its journey runs with signed true and key_id eu-west-1",
          runs and all(x.get("signed") is True and x.get("key_id") == "eu-west-1" for x in runs)
          and len(runs) == len(d["journeys"]), runs)

    r = request(c.port, "POST", PATH, body=body, headers=signed_headers("eu-west-1", ctx.k1, body))
    j = r.json()
    check("signed: the same run pushed again -> 200 stored false (idempotent by run id)",
          r.status == 200 and isinstance(j, dict) and j.get("stored") is False, r.brief())

    d2, body2 = document(ctx, "2.0.0-signed", region="us-east")
    h = signed_headers("us-east-1", ctx.k2, body2)
    h["X-Vigil-Signature"] = h["X-Vigil-Signature"].upper()
    r = request(c.port, "POST", PATH, body=body2, headers=h)
    check("signed: the second key (us-east-1), signature in upper-case hex -> 201",
          r.status == 201, r.brief())
    row = stored_row(ctx, d2["run_id"])
    check("signed: ... stored with key id us-east-1", row is not None and row[0] == "us-east-1", row)

    # A timestamp a little off (inside the window) is accepted: clocks drift.
    d3, body3 = document(ctx, "2.0.0-signed")
    r = request(c.port, "POST", PATH, body=body3,
                headers=signed_headers("eu-west-1", ctx.k1, body3, ts=int(time.time()) - 120))
    check("signed: a timestamp 2 min old (inside the %d s window) -> 201" % WINDOW_S,
          r.status == 201, r.brief())


def test_token_push(ctx):
    """The bearer token stays the simple option; its runs are not signed, whatever the body says."""
    c = ctx.c
    d, body = document(ctx, "2.0.0-token", extra={"signed": True, "key_id": "eu-west-1"})
    r = request(c.port, "POST", PATH + "?signed=1&key_id=eu-west-1", body=body,
                headers={"Content-Type": "application/json", "Authorization": "Bearer " + ctx.token})
    j = r.json()
    check("token: a push with the bearer token -> 201 signed false",
          r.status == 201 and isinstance(j, dict) and j.get("signed") is False, r.brief())
    row = stored_row(ctx, d["run_id"])
    check("token: ... stored unsigned with no key id, though its body and query claim one",
          row is not None and row[0] is None and row[1] and all(s == 0 for s in row[1]), row)
    runs = runs_of(ctx, "2.0.0-token")
    check("token: GET /v1/probe-runs lists it with signed false",
          runs and all(x.get("signed") is False for x in runs), runs)


# ---------------------------------------------------------------- 2. refusals

def refused(ctx, name, version, body, headers, want_in_error, run_id):
    r = request(ctx.c.port, "POST", PATH, body=body, headers=headers)
    err = error_of(r)
    check("refused: %s -> 401 with a JSON error" % name, r.status == 401 and err, r.brief())
    for text in want_in_error:
        check("refused: ... the reason says %r" % text, text in err, err)
    check("refused: ... nothing stored", stored_row(ctx, run_id) is None
          and runs_of(ctx, version) == [], runs_of(ctx, version))
    return err


def test_refusals(ctx):
    v = "2.0.0-refused"
    d, body = document(ctx, v)
    rid = d["run_id"]
    refused(ctx, "a signature made with the wrong secret", v, body,
            signed_headers("eu-west-1", "not-the-right-secret-000000", body),
            ["bad signature"], rid)
    refused(ctx, "an unknown key id", v, body,
            signed_headers("ap-south-9", ctx.k1, body), ['unknown key id "ap-south-9"'], rid)
    old = int(time.time()) - 600
    err = refused(ctx, "a correct signature with a timestamp 10 min old (a replay)", v, body,
                  signed_headers("eu-west-1", ctx.k1, body, ts=old),
                  ["timestamp %d" % old, "replay window is %d s" % WINDOW_S], rid)
    m = re.search(r"is (\d+) s from the collector's clock", err)
    check("refused: ... and how far off it is (about 600 s)", m and 595 <= int(m.group(1)) <= 610, err)
    refused(ctx, "a timestamp 10 min ahead", v, body,
            signed_headers("eu-west-1", ctx.k1, body, ts=int(time.time()) + 600),
            ["replay window"], rid)
    # signed over one body, sent with another
    _, other = document(ctx, v)
    h = signed_headers("eu-west-1", ctx.k1, other)
    refused(ctx, "a signature of another body", v, body, h, ["bad signature"], rid)
    # the canonical string holds the path: a signature for another path does not carry over
    ts = int(time.time())
    h = {"Content-Type": "application/json", "X-Vigil-Key-Id": "eu-west-1",
         "X-Vigil-Timestamp": str(ts),
         "X-Vigil-Signature": signature(ctx.k1, ts, body, path="/v1/deployments")}
    refused(ctx, "a signature over another path", v, body, h, ["bad signature"], rid)
    h = signed_headers("eu-west-1", ctx.k1, body)
    del h["X-Vigil-Signature"]
    refused(ctx, "a key id and timestamp without X-Vigil-Signature", v, body, h,
            ["X-Vigil-Signature"], rid)
    h = signed_headers("eu-west-1", ctx.k1, body)
    h["X-Vigil-Timestamp"] = "yesterday"
    refused(ctx, "a timestamp that is not a number", v, body, h, ["X-Vigil-Timestamp"], rid)
    refused(ctx, "no signature and no token", v, body, {"Content-Type": "application/json"},
            ["Bearer", "X-Vigil-Signature"], rid)
    # a signature header decides: a valid token does not rescue a bad signature
    h = signed_headers("eu-west-1", "not-the-right-secret-000000", body)
    h["Authorization"] = "Bearer " + ctx.token
    refused(ctx, "a bad signature beside a valid token", v, body, h, ["bad signature"], rid)
    # A right prefix: every bad signature above changes the whole HMAC; these keep part of it.
    h = signed_headers("eu-west-1", ctx.k1, body)
    good = h["X-Vigil-Signature"]
    h["X-Vigil-Signature"] = good[:32] + ("0" if good[32] != "0" else "1") + good[33:]
    refused(ctx, "a signature whose first 32 digits are right and 33rd is wrong", v, body, h,
            ["bad signature"], rid)
    h["X-Vigil-Signature"] = good[:63] + ("0" if good[63] != "0" else "1")
    refused(ctx, "a signature with only its last digit wrong", v, body, h, ["bad signature"], rid)
    # The bearer token: a right prefix with a wrong tail, a prefix alone, the token with more.
    tok = ctx.token
    for name, wrong in (("the token with its last character wrong",
                         tok[:-1] + ("0" if tok[-1] != "0" else "1")),
                        ("the token's first half with a wrong second half",
                         tok[:len(tok) // 2] + "0" * (len(tok) - len(tok) // 2)),
                        ("the token without its last character", tok[:-1]),
                        ("the token followed by one more character", tok + "0"),
                        ("the token followed by a space and more", tok + " extra")):
        refused(ctx, name, v, body,
                {"Content-Type": "application/json", "Authorization": "Bearer " + wrong},
                ["Bearer"], rid)

    m = get(ctx.c.port, "/metrics").text()
    n = re.search(r'vigil_beacon_requests_rejected_total\{reason="unauthorized"\} (\d+)', m)
    check("refused: /metrics counts them as rejected, reason unauthorized",
          n and int(n.group(1)) >= 10, n.group(0) if n else m[:300])


# ---------------------------------------------------------------- 3. the gate

def test_gate(ctx):
    """--require-signed: only signed runs count."""
    c = ctx.c
    v = "2.0.0-gate"
    _, body = document(ctx, v)
    r = request(c.port, "POST", PATH, body=body,
                headers={"Content-Type": "application/json", "Authorization": "Bearer " + ctx.token})
    check("gate: a token push for %s -> 201" % v, r.status == 201, r.brief())
    base = ["gate", "--db", c.db, "--app", "shop", "--version", v, "--regions", "eu-west"]

    rc, j, out, err = cli_json(*base)
    check("gate: without --require-signed, the token-pushed runs allow (exit 0)",
          rc == 0 and isinstance(j, dict) and j.get("decision") == "allow", (rc, out[-300:], err))
    rc, j, out, err = cli_json(*(base + ["--require-signed"]))
    check("gate: --require-signed with only token-pushed runs blocks (exit 1)",
          rc == 1 and isinstance(j, dict) and j.get("decision") == "block", (rc, out[-300:], err))
    check("gate: ... a reason says there are no signed runs", "no signed runs" in reasons_text(j),
          reasons_text(j))
    check("gate: ... and the answer says require_signed true",
          isinstance(j, dict) and j.get("require_signed") is True, out[-300:])
    rc, j, out, err = cli_json(*(base + ["--require-signed", "1"]))
    check("gate: --require-signed 1 blocks the same way", rc == 1, (rc, out[-200:], err))
    rc, j, out, err = cli_json(*(base + ["--require-signed", "maybe"]))
    check("gate: --require-signed maybe is a usage error (exit 2)", rc == 2, (rc, out[-200:], err))
    r = get(c.port, "/v1/gate", app="shop", version=v, regions="eu-west", require_signed="1")
    j = r.json()
    check("gate: GET /v1/gate ...&require_signed=1 -> block, no signed runs",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "block"
          and "no signed runs" in reasons_text(j), r.brief())
    r = get(c.port, "/v1/gate", app="shop", version=v, regions="eu-west", require_signed="0")
    j = r.json()
    check("gate: ...&require_signed=0 -> allow",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "allow", r.brief())

    _, body = document(ctx, v)
    r = request(c.port, "POST", PATH, body=body, headers=signed_headers("eu-west-1", ctx.k1, body))
    check("gate: a signed push for %s -> 201" % v, r.status == 201, r.brief())
    rc, j, out, err = cli_json(*(base + ["--require-signed"]))
    check("gate: --require-signed allows once a signed run passed (exit 0)",
          rc == 0 and isinstance(j, dict) and j.get("decision") == "allow", (rc, out[-300:], err))
    r = get(c.port, "/v1/gate", app="shop", version=v, regions="eu-west", require_signed="1")
    j = r.json()
    check("gate: GET /v1/gate ...&require_signed=1 -> allow",
          r.status == 200 and isinstance(j, dict) and j.get("decision") == "allow", r.brief())

    # a failing run pushed with the token does not block a gate that counts signed runs only
    d, body = document(ctx, v)
    for jr in d["journeys"]:
        jr["passed"] = False
    d["passed"] = False
    body = json.dumps(d).encode()
    r = request(c.port, "POST", PATH, body=body,
                headers={"Content-Type": "application/json", "Authorization": "Bearer " + ctx.token})
    check("gate: a failed run pushed with the token -> 201", r.status == 201, r.brief())
    rc, j, out, err = cli_json(*base)
    check("gate: ... blocks the gate that counts every run", rc == 1, (rc, out[-300:], err))
    rc, j, out, err = cli_json(*(base + ["--require-signed"]))
    check("gate: ... but not the gate that counts signed runs only", rc == 0, (rc, out[-300:], err))


# ---------------------------------------------------------------- 4. /metrics

PHASES = ("resolve", "connect", "tls", "processing", "transfer")


def series(text, name, **labels):
    """Values of the samples of name whose labels include labels."""
    out = []
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        m = re.match(r'^%s\{(.*)\} (\S+)$' % re.escape(name), line)
        if not m:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
        if all(got.get(k) == v for k, v in labels.items()):
            out.append((got, float(m.group(2))))
    return out


def test_metrics(ctx):
    c = ctx.c
    v = "2.0.0-metrics"
    d, body = document(ctx, v)
    r = request(c.port, "POST", PATH, body=body, headers=signed_headers("eu-west-1", ctx.k1, body))
    check("metrics: a signed push -> 201", r.status == 201, r.brief())
    text = get(c.port, "/metrics").text()
    for jr in d["journeys"]:
        s = series(text, "vigil_probe_success", app="shop", journey=jr["name"], region="eu-west",
                   version=v)
        check("metrics: vigil_probe_success{app,journey=%s,region,version} is 1" % jr["name"],
              len(s) == 1 and s[0][1] == 1, s or text[-600:])
        phases = {g["phase"]: val for g, val in series(
            text, "vigil_probe_duration_seconds", app="shop", journey=jr["name"], region="eu-west",
            version=v)}
        check("metrics: vigil_probe_duration_seconds of %s has blackbox's phases" % jr["name"],
              set(phases) == set(PHASES), phases)
        want = sum(st.get("timings_ms", {}).get("total", 0) for st in jr["steps"]) / 1000.0
        check("metrics: ... the phases add up to the sum of its steps' totals in seconds (%.6f)"
              % want, abs(sum(phases.values()) - want) < 1e-5, phases)
        check("metrics: ... every phase at least 0", all(x >= 0 for x in phases.values()), phases)
        for st in jr["steps"]:
            if "timings_ms" not in st:
                continue
            got = {g["phase"]: val for g, val in series(
                text, "vigil_probe_step_duration_seconds", app="shop", journey=jr["name"],
                region="eu-west", version=v, step=st["name"])}
            check("metrics: step %s/%s has its own phases, adding up to its timings_ms.total"
                  % (jr["name"], st["name"]),
                  set(got) == set(PHASES)
                  and abs(sum(got.values()) - st["timings_ms"]["total"] / 1000.0) < 1e-6, got)
        answered = [st for st in jr["steps"] if isinstance(st.get("status"), int)]
        code = series(text, "vigil_probe_http_status_code", journey=jr["name"], version=v,
                      region="eu-west")
        hv = series(text, "vigil_probe_http_version", journey=jr["name"], version=v,
                    region="eu-west")
        check("metrics: vigil_probe_http_status_code of %s is its last answered step's (%s)"
              % (jr["name"], answered[-1]["status"] if answered else 0),
              len(code) == 1 and code[0][1] == (answered[-1]["status"] if answered else 0), code)
        want_hv = float(answered[-1].get("http_version") or 0) if answered else 0
        check("metrics: vigil_probe_http_version of %s is that step's (%g)" % (jr["name"], want_hv),
              len(hv) == 1 and hv[0][1] == want_hv, hv)
    check("metrics: no certificate expiry series for a plain-HTTP run",
          not series(text, "vigil_probe_ssl_earliest_cert_expiry", version=v), text[-400:])
    check("metrics: the families have HELP and TYPE gauge lines",
          all("# TYPE %s gauge" % n in text for n in
              ("vigil_probe_success", "vigil_probe_duration_seconds",
               "vigil_probe_step_duration_seconds", "vigil_probe_http_status_code",
               "vigil_probe_http_version", "vigil_probe_ssl_earliest_cert_expiry")), text[-400:])
    check("metrics: a refused push left no series (version 2.0.0-refused)",
          not series(text, "vigil_probe_success", version="2.0.0-refused"), "")

    # A newer failed run of one journey turns its series to 0, with a certificate expiry
    # taken from the steps' tls.cert_expiry (the earliest).
    d2, _ = document(ctx, v)
    jr = d2["journeys"][0]
    jr["passed"] = False
    d2["passed"] = False
    jr["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.999Z", time.gmtime(time.time() + 1))
    if jr["steps"]:
        jr["steps"][0]["tls"] = {"cert_expiry": "2031-01-02T03:04:05Z", "days_to_expiry": 1800}
        jr["steps"][-1]["tls"] = {"cert_expiry": "2030-06-01T00:00:00Z", "days_to_expiry": 1600}
    body2 = json.dumps(d2).encode()
    r = request(c.port, "POST", PATH, body=body2, headers=signed_headers("eu-west-1", ctx.k1, body2))
    check("metrics: a newer failed run -> 201", r.status == 201, r.brief())
    text = get(c.port, "/metrics").text()
    s = series(text, "vigil_probe_success", journey=jr["name"], version=v, region="eu-west")
    check("metrics: ... its vigil_probe_success is now 0 (one series, not two)",
          len(s) == 1 and s[0][1] == 0, s)
    e = series(text, "vigil_probe_ssl_earliest_cert_expiry", journey=jr["name"], version=v)
    check("metrics: ... vigil_probe_ssl_earliest_cert_expiry is the earliest, 2030-06-01 (1906502400)",
          len(e) == 1 and e[0][1] == 1906502400, e)

    # An older run arriving late (a probe's spool draining) does not replace the newer one.
    d3, _ = document(ctx, v)
    d3["journeys"][0]["started_at"] = "2020-01-01T00:00:00.000Z"
    body3 = json.dumps(d3).encode()
    r = request(c.port, "POST", PATH, body=body3, headers=signed_headers("eu-west-1", ctx.k1, body3))
    check("metrics: an older run delivered late -> 201", r.status == 201, r.brief())
    s = series(get(c.port, "/metrics").text(), "vigil_probe_success", journey=jr["name"], version=v,
               region="eu-west")
    check("metrics: ... the series still shows the newer run (0)", len(s) == 1 and s[0][1] == 0, s)


def test_metrics_phases(ctx):
    """A pushed run whose timings are known: the probe's timings_ms (dns, connect and tls
    each on its own; ttfb and total from the start, as curl's) become blackbox's phases,
    each on its own, adding up to the total; the status and version are the last answered
    step's."""
    c, v = ctx.c, "4.0.0-phases"
    d, _ = document(ctx, v)
    jr = d["journeys"][0]
    base = {k: x for k, x in jr["steps"][0].items() if k not in ("tls",)}
    # name, status, http_version, timings_ms, the phases wanted (ms)
    cases = [
        ("fresh", 200, "2", {"dns": 2, "connect": 3, "tls": 5, "ttfb": 40, "total": 55},
         {"resolve": 2, "connect": 3, "tls": 5, "processing": 30, "transfer": 15}),
        ("reused", 302, "2", {"dns": 0, "connect": 0, "tls": 0, "ttfb": 7.5, "total": 9},
         {"resolve": 0, "connect": 0, "tls": 0, "processing": 7.5, "transfer": 1.5}),
        ("no answer", 0, "", {"dns": 1, "connect": 4, "tls": 0, "ttfb": 0, "total": 20},
         {"resolve": 1, "connect": 4, "tls": 0, "processing": 15, "transfer": 0}),
        # Inconsistent numbers are clamped: no phase below 0 or past the total.
        ("odd", 503, "1.1", {"dns": 5, "connect": 5, "tls": 5, "ttfb": 10, "total": 12},
         {"resolve": 5, "connect": 5, "tls": 2, "processing": 0, "transfer": 0}),
    ]
    steps = []
    for i, (name, status, hv, t, _) in enumerate(cases):
        st = dict(base, name=name, index=i + 1, status=status, http_version=hv, timings_ms=t)
        steps.append(st)
    steps.append({"name": "skipped", "index": len(cases) + 1, "result": "skipped"})
    jr["steps"] = steps
    d["journeys"] = [jr]
    body = json.dumps(d).encode()
    r = request(c.port, "POST", PATH, body=body, headers=signed_headers("eu-west-1", ctx.k1, body))
    check("phases: a run with known timings -> 201", r.status == 201, r.brief())
    text = get(c.port, "/metrics").text()
    lab = dict(app="shop", journey=jr["name"], region="eu-west", version=v)
    total = {p: 0.0 for p in PHASES}
    for name, _, _, t, want in cases:
        got = {g["phase"]: val for g, val in series(
            text, "vigil_probe_step_duration_seconds", step=name, **lab)}
        check("phases: step %r: %s" % (name, ", ".join("%s %g ms" % (p, want[p]) for p in PHASES)),
              set(got) == set(PHASES) and all(abs(got[p] - want[p] / 1000.0) < 1e-9 for p in PHASES),
              got)
        check("phases: ... they add up to its total, %g ms" % t["total"],
              abs(sum(got.values()) - t["total"] / 1000.0) < 1e-9, got)
        for p in PHASES:
            total[p] += want[p] / 1000.0
    got = {g["phase"]: val for g, val in series(text, "vigil_probe_duration_seconds", **lab)}
    check("phases: the run's phases are its steps' summed, adding up to 96 ms",
          set(got) == set(PHASES) and all(abs(got[p] - total[p]) < 1e-9 for p in PHASES)
          and abs(sum(got.values()) - 0.096) < 1e-9, (got, total))
    code = series(text, "vigil_probe_http_status_code", **lab)
    hv = series(text, "vigil_probe_http_version", **lab)
    check("phases: vigil_probe_http_status_code is the last answered step's, 503 (a skipped "
          "step after it sent nothing)", len(code) == 1 and code[0][1] == 503, code)
    check("phases: vigil_probe_http_version is that step's, 1.1", len(hv) == 1 and hv[0][1] == 1.1, hv)
    check("phases: no step series for the skipped step",
          not series(text, "vigil_probe_step_duration_seconds", step="skipped", **lab), "")


# ---------------------------------------------------------------- 5. keys files

def serve_exit(ctx, args, name):
    """Starts collector serve expecting it to refuse; (exit code, stderr)."""
    port_file = os.path.join(ctx.dir, "port-" + name)
    try:
        p = subprocess.run([COLLECTOR, "serve", "--db", os.path.join(ctx.dir, name + ".db"),
                            "--listen", "127.0.0.1:0", "--port-file", port_file] + args,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        return p.returncode, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout (it started)", ""


def test_keys_files(ctx):
    bad = write_private(os.path.join(ctx.dir, "keys-644"), "eu-west-1 %s\n" % ctx.k1, 0o644)
    rc, err = serve_exit(ctx, ["--probe-keys", bad], "k644")
    check("keys: a keys file readable by others -> serve exits 2", rc == 2, (rc, err[-300:]))
    check("keys: ... naming the file", bad in err, err[-300:])
    bad = write_private(os.path.join(ctx.dir, "keys-bad"),
                        "# keys\neu-west-1 %s\nus-east-1\n" % ctx.k1)
    rc, err = serve_exit(ctx, ["--probe-keys", bad], "kbad")
    check("keys: a line without a secret -> serve exits 2", rc == 2, (rc, err[-300:]))
    check("keys: ... naming FILE:LINE (%s:3)" % os.path.basename(bad), bad + ":3" in err, err[-300:])
    rc, err = serve_exit(ctx, ["--probe-keys", os.path.join(ctx.dir, "no-such-file")], "kmissing")
    check("keys: a missing keys file -> serve exits 2", rc == 2, (rc, err[-300:]))

    # A collector with the token only refuses signed pushes, saying how to take them.
    c2 = Collector(FAST + ["--probe-token-file", ctx.token_file], directory=tempdir("vigil-sig2-"),
                   name="collector-token-only")
    _, body = document(ctx, "2.0.0-nokeys")
    r = request(c2.port, "POST", PATH, body=body, headers=signed_headers("eu-west-1", ctx.k1, body))
    check("keys: a signed push to a collector without --probe-keys -> 401 naming --probe-keys",
          r.status == 401 and "--probe-keys" in error_of(r), r.brief())
    check("keys: ... that collector stops with exit 0 on SIGTERM", c2.stop() == 0, "")


# ---------------------------------------------------------------- main

def main():
    if not os.access(COLLECTOR, os.X_OK) or not os.access(harness.PROBE, os.X_OK):
        check("bin/collector and bin/probe exist", False, "build them with make")
        return harness.finish()
    t_start = time.monotonic()
    ctx = Ctx()
    ctx.dir = tempdir("vigil-sig-")
    ctx.token = secrets.token_hex(16)
    ctx.k1 = "k1-" + secrets.token_hex(16)
    ctx.k2 = "k2-" + secrets.token_hex(16)
    ctx.token_file = write_private(os.path.join(ctx.dir, "token"), ctx.token + "\n")
    keys = write_private(os.path.join(ctx.dir, "probe-keys"),
                         "# one line per probe host: KEY-ID SECRET\n"
                         "eu-west-1 %s\nus-east-1 %s\n" % (ctx.k1, ctx.k2))
    try:
        ctx.shop = harness.Shop(version="2.0.0")
        ctx.c = Collector(FAST + ["--probe-token-file", ctx.token_file, "--probe-keys", keys],
                          directory=ctx.dir, name="collector")
    except Exception as exc:
        check("the shop and the collector start", False, exc)
        return harness.finish()

    doc_path = os.path.join(ctx.dir, "result.json")
    res = run_probe(["run", harness.EXAMPLES, "--var", "base=%s" % ctx.shop.base, "--app", "shop",
                     "--version", "2.0.0", "--region", "eu-west", "--no-color",
                     "--report", "json:" + doc_path], env={"SHOP_PASSWORD": ctx.shop.password})
    ctx.doc = harness.load_json(doc_path)
    if not check("probe run against the example shop writes a passing result document",
                 res.code == 0 and isinstance(ctx.doc, dict) and ctx.doc.get("journeys"),
                 res.brief()):
        return harness.finish()

    run_group(test_signed_push, ctx)
    run_group(test_token_push, ctx)
    run_group(test_refusals, ctx)
    run_group(test_gate, ctx)
    run_group(test_metrics, ctx)
    run_group(test_metrics_phases, ctx)
    run_group(test_keys_files, ctx)

    rc = ctx.c.stop()
    check("collector: SIGTERM exits 0", rc == 0, rc)
    harness.check_collectors_clean()
    diag("signed-push tests took %.1fs" % (time.monotonic() - t_start))
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
