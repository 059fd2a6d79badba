#!/usr/bin/env python3
"""The traffic gate through the real collector: deployment markers with a weight
(POST /v1/deployments, collector mark --weight), beacons of two versions in a known split
POSTed to /v1/rum, and the verdict's split check (GET /v1/verdict, collector compare,
Flagger's rollout hook with metadata.weight), its policy (pause, rollback, off), the skip
note without a weight, and the vigil_traffic_share gauge in /metrics.

Expectations come from shared/README.md "The traffic gate" and collector/README.md
(markers, verdict, /metrics), never from the C code: 210 canary page views of 1,000
against a weight of 10 is 21% against 10%, which the check must show at its default alpha
(the e-value of that split is about 3.7e20; see tests/unit/test_srm.c for the reference
values); 100 of 1,000 is exactly the promised share.

Prints TAP-style lines; exits 1 when any check failed.
Run: VIGIL_ROOT=$PWD VIGIL_BIN=$PWD/bin python3 tests/integration/test_traffic.py
"""

import http.client
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, run_group, tempdir, Collector  # noqa: E402
from test_comparator import FAST, pageview, cli_json  # noqa: E402

TOKEN = "traffic-probe-token-" + "z" * 24
HEADLESS_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "HeadlessChrome/126.0.0.0 Safari/537.36")
BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")
EXPECTS = "this step expects 10%"


def post_views(c, app, version, n, ua=BROWSER_UA, start=0):
    """n page views of app/version (one LCP each) with User-Agent ua; the non-204 answers."""
    beacons = [pageview(app, version, start + i, [("LCP", 2000.0 + i % 500)]) for i in range(n)]
    bad = []
    conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=15)
    try:
        for i in range(0, len(beacons), 50):
            r = harness.request(c.port, "POST", "/v1/rum",
                                body=json.dumps(beacons[i:i + 50]),
                                headers={"Content-Type": "application/json", "User-Agent": ua},
                                conn=conn, timeout=15)
            if r.status != 204:
                bad.append((r.status, r.body[:200]))
    finally:
        conn.close()
    return bad


def mark(c, body):
    return harness.request(c.port, "POST", "/v1/deployments", body=body,
                           headers={"Authorization": "Bearer " + TOKEN,
                                    "Content-Type": "application/json"}, timeout=15)


def verdict(c, **params):
    params.setdefault("warmup", "0")
    r = harness.get(c.port, "/v1/verdict", **params)
    return r, r.json() if r.status == 200 else None


def traffic(v):
    return (v or {}).get("traffic") or {}


def reasons(v):
    return (v or {}).get("reasons") or []


def test_markers(ctx):
    """Markers carry the weight; a bad weight is a 400 naming the field."""
    c = ctx.c
    for bad in (0, 100, -5, "abc", [10], True):
        r = mark(c, {"app": "shop", "version": "2.0.1", "baseline": "2.0.0", "weight": bad})
        body = r.json() or {}
        check("POST /v1/deployments with weight %r -> 400 with field weight" % (bad,),
              r.status == 400 and body.get("field") == "weight" and "weight" in body.get("error", ""),
              r.brief())
    r = mark(c, {"app": "shop", "version": "2.0.1", "baseline": "2.0.0", "stage": "canary",
                 "weight": 10})
    check("POST /v1/deployments with weight 10 -> 201 with the weight",
          r.status == 201 and (r.json() or {}).get("weight") == 10, r.brief())
    rc, out, err = cli_json("mark", "--db", c.db, "--app", "shop", "--version", "2.0.1",
                            "--weight", "100")[0], None, None
    check("collector mark --weight 100 -> exit 2 (usage)", rc == 2, rc)
    r = harness.get(c.port, "/v1/deployments", app="shop")
    marks = (r.json() or {}).get("deployments") or []
    check("GET /v1/deployments lists the weight of the marker",
          r.status == 200 and marks and marks[0].get("weight") == 10, r.brief())


def test_split(ctx):
    """A mismatched split pauses with the reason; the promised split does not; synthetic
    tests in headless Chromium are left out."""
    c = ctx.c
    # shop: the marker above (weight 10), then 790 baseline and 210 canary page views.
    bad = post_views(c, "shop", "2.0.0", 790) + post_views(c, "shop", "2.0.1", 210)
    check("shop: 1,000 page views stored (21% canary)", not bad, bad[:1])
    r, v = verdict(c, app="shop", baseline="2.0.0", canary="2.0.1")
    t = traffic(v)
    check("verdict: 21% against a weight of 10 -> decision pause", (v or {}).get("decision") == "pause",
          r.brief())
    check("verdict: the first reason says it in words",
          reasons(v) and "the canary receives 21% of page views; " + EXPECTS in reasons(v)[0],
          reasons(v)[:2])
    check("verdict: traffic has expected 0.1, observed 0.21, counts 790/210, e-value, alpha",
          t.get("result") == "mismatch" and t.get("expected") == 0.1
          and abs((t.get("observed") or 0) - 0.21) < 1e-9 and t.get("baseline_views") == 790
          and t.get("canary_views") == 210 and (t.get("e_value") or 0) > 1e20
          and t.get("alpha") == 0.001 and t.get("on_mismatch") == "pause", t)
    ctx.shop_verdict = v

    # shop-ok: 900 baseline, 100 canary from users, and 400 more canary page views from
    # synthetic tests in headless Chromium: 10% of the users' page views, as promised.
    mark(c, {"app": "shop-ok", "version": "3.0.1", "baseline": "3.0.0", "weight": 10})
    bad = (post_views(c, "shop-ok", "3.0.0", 900) + post_views(c, "shop-ok", "3.0.1", 100)
           + post_views(c, "shop-ok", "3.0.1", 400, ua=HEADLESS_UA, start=100))
    check("shop-ok: 1,400 page views stored (400 of them HeadlessChrome)", not bad, bad[:1])
    r, v = verdict(c, app="shop-ok", baseline="3.0.0", canary="3.0.1")
    t = traffic(v)
    check("verdict: 10% of users' page views against 10% -> no mismatch, the headless ones"
          " left out", t.get("result") == "as expected" and t.get("canary_views") == 100
          and t.get("baseline_views") == 900 and (v or {}).get("decision") != "rollback"
          and "no mismatch" in " ".join(reasons(v)), (t, reasons(v)))


def test_policy(ctx):
    """The policy's traffic.on_mismatch: rollback, or off (collector compare --policy FILE on
    the database the running collector writes)."""
    c = ctx.c
    for action, want in (("rollback", "rollback"), ("off", None)):
        path = os.path.join(ctx.dir, "traffic-%s.json" % action)
        with open(path, "w") as f:
            json.dump({"name": "t-" + action, "metrics": {"LCP": {"tolerance": 0.5}},
                       "traffic": {"on_mismatch": action}}, f)
        rc, v, out, err = cli_json("compare", "--db", c.db, "--app", "shop", "--baseline", "2.0.0",
                                   "--canary", "2.0.1", "--warmup", "0", "--policy", path)
        t = traffic(v)
        if want == "rollback":
            check("policy on_mismatch rollback: compare exits 1 with decision rollback",
                  rc == 1 and (v or {}).get("decision") == "rollback", (rc, out[-300:], err[-300:]))
            check("... the first reason: roll back, 21% against 10%",
                  reasons(v) and reasons(v)[0].startswith("roll back: the canary receives 21%"),
                  reasons(v)[:1])
        else:
            check("policy on_mismatch off: no pause or rollback from the split",
                  t.get("result") == "off" and (v or {}).get("decision") == "promote"
                  and not any("receives" in x for x in reasons(v)), (rc, t, reasons(v)))
    path = os.path.join(ctx.dir, "traffic-bad.json")
    with open(path, "w") as f:
        f.write('{"metrics": {"LCP": {"tolerance": 0.5}},\n "traffic": {"on_mismatch": "abort"}}\n')
    rc, v, out, err = cli_json("compare", "--db", c.db, "--app", "shop", "--baseline", "2.0.0",
                               "--canary", "2.0.1", "--policy", path)
    check("a policy with on_mismatch \"abort\" -> exit 2 naming the file, line and key",
          rc == 2 and path + ":2:" in err and "on_mismatch" in err, (rc, err[-300:]))


def test_no_weight(ctx):
    """Without a weight the check is skipped and the verdict says so once; a weight on the
    verdict (Flagger's metadata.weight) is used instead."""
    c = ctx.c
    r = mark(c, {"app": "shop-nw", "version": "4.0.1", "baseline": "4.0.0"})
    check("a marker without weight -> 201, weight null", r.status == 201, r.brief())
    bad = post_views(c, "shop-nw", "4.0.0", 500) + post_views(c, "shop-nw", "4.0.1", 500)
    check("shop-nw: 1,000 page views stored (50% canary)", not bad, bad[:1])
    r, v = verdict(c, app="shop-nw", baseline="4.0.0", canary="4.0.1")
    notes = [x for x in reasons(v) if "not checked" in x]
    check("verdict without weight: one reason line says the split was not checked",
          len(notes) == 1 and "has no weight" in notes[0] and traffic(v).get("result") == "skipped",
          reasons(v))
    check("... and the decision is not a pause from the split",
          not any("receives" in x for x in reasons(v)), reasons(v))
    r = harness.request(c.port, "POST", "/v1/hooks/flagger/rollout",
                        body={"name": "shop", "namespace": "prod", "phase": "Progressing",
                              "checksum": "1", "metadata": {"app": "shop-nw", "warmup": "0",
                                                           "weight": "10"}},
                        headers={"Content-Type": "application/json"}, timeout=15)
    text = r.text()
    check("Flagger rollout hook with metadata.weight \"10\": 200 (pause) with the reason",
          r.status == 200 and "the canary receives 50% of page views; " + EXPECTS in text,
          r.brief())
    r = harness.get(c.port, "/v1/verdict", app="shop-nw", baseline="4.0.0", canary="4.0.1",
                    weight="ten")
    check("GET /v1/verdict with weight=ten -> 400 with field weight",
          r.status == 400 and (r.json() or {}).get("field") == "weight", r.brief())


def test_argo(ctx):
    """The shipped Argo step template with the weight the shipped Rollout passes (its
    setWeight), measured once as Argo's web provider does, against the 21% canary."""
    import test_argo
    steps = test_argo.load_yaml(os.path.join(test_argo.INTEGRATIONS, "argo-rollout-steps.yaml"))
    step_list = steps["strategy"]["canary"]["steps"]
    weight = None
    for i, st in enumerate(step_list):
        if "analysis" in st:
            given = {a["name"]: str(a["value"]) for a in st["analysis"]["args"]}
            before = [x["setWeight"] for x in step_list[:i] if "setWeight" in x]
            weight = given.get("weight")
            check("argo-rollout-steps.yaml: the step analysis passes weight = the setWeight"
                  " before it", before and weight == str(before[-1]), (given, before))
            break
    template = test_argo.load_yaml(test_argo.STEP)
    args = test_argo.resolve_args(template, {"app": "shop", "baseline": "2.0.0",
                                             "canary": "2.0.1", "warmup": "0s",
                                             "weight": weight or "10"},
                                  {("vigil-read-token", "token"): "unused"})
    metric = json.loads(test_argo.substitute(json.dumps(template["spec"]["metrics"][0]), args))
    m = test_argo.web_measure(metric, c_url(ctx))
    v = m.get("value") or {}
    check("Argo step template with weight 10 against 21%: Inconclusive (pause), the reason"
          " in words", m.get("phase") == "Inconclusive" and v.get("decision") == "pause"
          and any("receives 21% of page views; " + EXPECTS in x for x in reasons(v)),
          (m.get("phase"), reasons(v)[:1]))


def test_segments(ctx):
    """GET /v1/traffic: the split per segment of the canary's markers, newest first."""
    c = ctx.c
    r = harness.get(c.port, "/v1/traffic", app="shop", baseline="2.0.0", canary="2.0.1")
    segs = (r.json() or {}).get("segments") or []
    check("GET /v1/traffic: one segment for shop 2.0.1 (its one marker), 21% against 10%,"
          " a mismatch", r.status == 200 and len(segs) == 1 and segs[0].get("weight") == 10
          and segs[0].get("expected") == 0.1 and abs((segs[0].get("observed") or 0) - 0.21) < 1e-9
          and segs[0].get("canary_views") == 210 and segs[0].get("result") == "mismatch", r.brief())
    r = harness.get(c.port, "/v1/traffic", app="shop", baseline="2.0.0", canary="9.9.9")
    check("GET /v1/traffic for a canary never seen -> 404 with field canary",
          r.status == 404 and (r.json() or {}).get("field") == "canary", r.brief())


def c_url(ctx):
    return "http://127.0.0.1:%d" % ctx.c.port


def test_metrics(ctx):
    """/metrics: the observed and expected share of each judged canary, promtool-valid."""
    c = ctx.c
    r = harness.get(c.port, "/metrics")
    text = r.text()
    line = 'vigil_traffic_share{app="shop",baseline="2.0.0",canary="2.0.1"} 0.21'
    check("/metrics has vigil_traffic_share 0.21 for shop 2.0.1", line in text,
          [x for x in text.splitlines() if "traffic" in x][:6])
    check("/metrics has vigil_traffic_expected_share 0.1 for shop 2.0.1",
          'vigil_traffic_expected_share{app="shop",baseline="2.0.0",canary="2.0.1"} 0.1\n' in text,
          [x for x in text.splitlines() if "traffic" in x][:6])
    promtool = shutil.which("promtool")
    if not promtool:
        diag("promtool not installed (Debian package prometheus): skipping promtool check metrics")
        return
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    check("promtool check metrics accepts /metrics with the traffic gauges", p.returncode == 0,
          p.stdout.decode()[-400:])


class Ctx:
    pass


def main():
    ctx = Ctx()
    ctx.dir = tempdir("vigil-traffic-")
    token = os.path.join(ctx.dir, "token")
    harness.write_private(token, TOKEN + "\n")
    ctx.c = Collector(FAST + ["--probe-token-file", token], directory=ctx.dir)
    for fn in (test_markers, test_split, test_policy, test_no_weight, test_argo, test_segments, test_metrics):
        run_group(fn, ctx)
    ctx.c.stop()
    reports = harness.collector_sanitizer_reports([ctx.c])
    check("the collector printed no sanitizer report", not reports, reports[:1])
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
