#!/usr/bin/env python3
"""Flagger's webhooks against a live collector: POST /v1/hooks/flagger/pre-rollout,
/rollout and /confirm-promotion with bodies shaped as Flagger sends them
({"name", "namespace", "phase", "checksum", "metadata"}; flagger.app/v1beta1
CanaryWebhookPayload), the metadata taken from the shipped
collector/integrations/flagger-canary.yaml.

Expectations come from collector/README.md (the hooks' routes) and that file's comments:
the version from the app's latest deployment marker unless metadata.version names one,
the baseline from metadata.baseline or the canary's marker; 400 without metadata.app;
404 for an unknown app or version; rollout 403 only on rollback; confirm-promotion 200
only on promote; every hook needs the read token when the collector has one.

Prints TAP-style lines; exits 1 when any check failed.
Run: VIGIL_ROOT=$PWD VIGIL_BIN=$PWD/bin python3 tests/integration/test_flagger.py
"""

import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, run_group, tempdir, Collector  # noqa: E402
from test_comparator import FAST, pageview, post_beacons, cli  # noqa: E402
from test_argo import load_yaml  # noqa: E402

CANARY = os.path.join(harness.ROOT, "collector", "integrations", "flagger-canary.yaml")
TOKEN = "flagger-read-token-" + "y" * 24
AUTH = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}


def hooks():
    """{type: (path, metadata)} of the shipped Canary's webhooks."""
    doc = load_yaml(CANARY)
    out = {}
    for w in doc["spec"]["analysis"]["webhooks"]:
        path = "/" + w["url"].split("://", 1)[1].split("/", 1)[1]
        out[w["type"]] = (path, dict(w.get("metadata") or {}))
    return out


def payload(metadata, phase="Progressing"):
    return {"name": "shop", "namespace": "prod", "phase": phase, "checksum": "5b7f9c6d",
            "metadata": metadata}


def post(c, path, body, headers=AUTH):
    return harness.request(c.port, "POST", path, body=body, headers=headers, timeout=15)


def lcp(rng, factor=1.0):
    return factor * rng.lognormvariate(math.log(2300), 0.5)


def mark(c, app, version, baseline=None):
    args = ["mark", "--db", c.db, "--app", app, "--version", version, "--stage", "canary"]
    if baseline:
        args += ["--baseline", baseline]
    rc, out, err = cli(*args)
    check("collector mark %s %s exits 0" % (app, version), rc == 0, (rc, out, err))


def test_hooks():
    h = hooks()
    check("flagger-canary.yaml: pre-rollout, rollout and confirm-promotion hooks, none "
          "naming a version", set(h) == {"pre-rollout", "rollout", "confirm-promotion"}
          and all("version" not in md and md.get("app") for _, md in h.values()), h)
    d = tempdir()
    tok = harness.write_private(os.path.join(d, "read.token"), TOKEN + "\n")
    c = Collector(FAST + ["--read-token-file", tok])
    rng = random.Random(7)

    # App "shop": 2.0.0 stable, then canary 2.0.1 marked against it; its data is like the
    # baseline's (promote under the aggressive policy, shared/README.md). App "shop-bad":
    # canary LCP x1.3 (rollback). App "shop-quiet": a marked canary that sends nothing.
    mark(c, "shop", "2.0.0")
    mark(c, "shop", "2.0.1", "2.0.0")
    mark(c, "shop-bad", "2.0.1", "2.0.0")
    mark(c, "shop-quiet", "2.0.1", "2.0.0")
    beacons = []
    for app, factor, n in (("shop", 1.0, 6000), ("shop-bad", 1.3, 6000), ("shop-quiet", 1.0, 0)):
        beacons += [pageview(app, "2.0.0", i, [("LCP", lcp(rng))]) for i in range(6000)]
        beacons += [pageview(app, "2.0.1", i, [("LCP", lcp(rng, factor))]) for i in range(n)]
    bad = post_beacons(c.port, beacons)
    check("beacons: %d stored" % len(beacons), not bad, bad[:1])

    pre_path, pre_md = h["pre-rollout"]
    roll_path, roll_md = h["rollout"]
    conf_path, conf_md = h["confirm-promotion"]
    # Time is not scaled here: no warm-up. The shipped policy (conservative) judges the
    # regressed canary; the healthy one is judged with the aggressive policy, within whose
    # tolerance two identical versions of 6,000 page views fall (not yet within the
    # conservative one's).
    bad_roll = dict(roll_md, app="shop-bad", warmup="0")
    bad_conf = dict(conf_md, app="shop-bad", warmup="0")
    roll_md = dict(roll_md, warmup="0", policy="aggressive")
    conf_md = dict(conf_md, warmup="0", policy="aggressive")

    # The read token.
    r = post(c, roll_path, payload(roll_md), headers={"Content-Type": "application/json"})
    check("read token: rollout hook without it -> 401 JSON", r.status == 401
          and "error" in (r.json() or {}), r.brief())
    r = post(c, pre_path, payload(pre_md), headers={"Content-Type": "application/json"})
    check("read token: pre-rollout hook without it -> 401 (it was open before)",
          r.status == 401, r.brief())
    r = post(c, conf_path + "?token=" + TOKEN, payload(conf_md),
             headers={"Content-Type": "application/json"})
    check("read token: ?token= in the url (Flagger sends no headers) -> 200", r.status == 200,
          r.brief())

    # The version from the marker; metadata.version wins.
    r = post(c, pre_path, payload(pre_md))
    check("pre-rollout: no probe runs -> 403 block, about 2.0.1 (the latest marker)",
          r.status == 403 and r.text().startswith("block") and "2.0.1" in r.text(), r.brief())
    r = post(c, pre_path, payload(dict(pre_md, version="2.0.0")))
    check("pre-rollout: metadata.version 2.0.0 wins over the marker",
          r.status == 403 and "2.0.0" in r.text() and "2.0.1" not in r.text(), r.brief())
    r = post(c, pre_path, payload({"regions": "eu-west"}))
    check("pre-rollout: no metadata.app -> 400 naming it", r.status == 400
          and (r.json() or {}).get("field") == "metadata.app", r.brief())
    r = post(c, roll_path, {"name": "shop", "namespace": "prod"})
    check("rollout: no metadata at all -> 400", r.status == 400, r.brief())

    # rollout: a non-2xx only on rollback.
    r = post(c, roll_path, payload(roll_md))
    check("rollout: healthy canary (marker 2.0.1 vs its baseline 2.0.0) -> 200 promote",
          r.status == 200 and r.text().startswith("promote"), r.brief())
    r = post(c, roll_path, payload(dict(roll_md, app="shop-quiet")))
    check("rollout: silent canary -> 200 pause (does not count toward threshold)",
          r.status == 200 and r.text().startswith("pause"), r.brief())
    r = post(c, roll_path, payload(bad_roll))
    check("rollout: regressed canary -> 403 rollback with LCP in the reasons",
          r.status == 403 and r.text().startswith("rollback") and "LCP" in r.text(), r.brief())

    # confirm-promotion: 200 only on promote.
    r = post(c, conf_path, payload(conf_md, phase="Promoting"))
    check("confirm-promotion: healthy -> 200 promote", r.status == 200
          and r.text().startswith("promote"), r.brief())
    r = post(c, conf_path, payload(dict(conf_md, app="shop-quiet")))
    check("confirm-promotion: silent -> 403 pause, reasons as text",
          r.status == 403 and r.text().startswith("pause")
          and r.header("content-type", "").startswith("text/plain"), r.brief())
    r = post(c, conf_path, payload(bad_conf))
    check("confirm-promotion: regressed -> 403 rollback", r.status == 403
          and r.text().startswith("rollback"), r.brief())

    # The baseline: metadata.baseline wins over the marker's.
    r = post(c, roll_path, payload(dict(roll_md, baseline="1.9.9")))
    j = r.json() or {}
    check("rollout: metadata.baseline 1.9.9 (never seen) is used: 404 field baseline",
          r.status == 404 and j.get("field") == "baseline" and "1.9.9" in j.get("error", ""),
          r.brief())
    mark(c, "shop-nobase", "3.0.0")
    r = post(c, roll_path, payload(dict(roll_md, app="shop-nobase")))
    j = r.json() or {}
    check("rollout: a marker without a baseline and no metadata.baseline -> 400 naming it",
          r.status == 400 and j.get("field") == "metadata.baseline", r.brief())

    # Unknown app or version: 404 with a JSON reason.
    r = post(c, roll_path, payload(dict(roll_md, app="shop-typo")))
    j = r.json() or {}
    check("unknown app -> 404 field app", r.status == 404 and j.get("field") == "app", r.brief())
    r = post(c, conf_path, payload(dict(conf_md, version="2.0.9")))
    j = r.json() or {}
    check("unknown version -> 404 field canary", r.status == 404 and j.get("field") == "canary"
          and "2.0.9" in j.get("error", ""), r.brief())
    r = post(c, pre_path, payload(dict(pre_md, version="2.0.9")))
    check("pre-rollout: unknown version -> 404", r.status == 404, r.brief())

    # The rollout hook's verdicts are recorded like GET /v1/verdict's.
    r = harness.request(c.port, "GET", "/v1/verdicts?app=shop-bad", headers=AUTH)
    vs = (r.json() or {}).get("verdicts") or []
    check("the hooks' verdicts are recorded (GET /v1/verdicts lists shop-bad's rollback)",
          any(v.get("decision") == "rollback" and v.get("canary") == "2.0.1" for v in vs), r.brief())


def main():
    run_group(test_hooks)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
