#!/usr/bin/env python3
"""Runs the Argo Rollouts templates Vigil ships (collector/integrations/argo-analysis-*.yaml)
the way Argo Rollouts runs an AnalysisRun, against a live collector, with time scaled
down (a minute of the template is a second here).

The files are read as shipped: a small parser for the YAML subset they use turns them into
dicts, and the measurement loop below takes every number (interval, initialDelay, the
limits, the conditions, the URL, the headers, the args and their defaults) from them.

The loop follows Argo Rollouts' controller (github.com/argoproj/argo-rollouts):
- analysis/analysis.go: generateMetricTasks (the first look after initialDelay, the next
  one interval after the last finished; no count and an interval: no end by count),
  runMeasurements (the counters: Successful, Failed and Inconclusive count toward Count
  and reset ConsecutiveError; an Error only adds to ConsecutiveError) and
  assessMetricStatus as of v1.8 (Failed past failureLimit, Successful at
  consecutiveSuccessLimit successes in a row, Inconclusive past inconclusiveLimit, Error
  past consecutiveErrorLimit, default 4; at count: Inconclusive when both failureLimit and
  consecutiveSuccessLimit apply, Successful when neither consecutiveSuccessLimit does);
- utils/evaluate/evaluate.go EvaluateResult (a failure condition alone: not failing is
  Successful; both: neither met is Inconclusive);
- metricproviders/webmetric/webmetric.go Run (GET with the template's headers; a status
  outside 2xx is an Error measurement; jsonPath "{$}" is the whole answer).
Argo's args are resolved as in analysis.go resolveArgs: a value, a default, or
valueFrom.secretKeyRef (here a dict standing in for the Secret).

Scenarios, each on its own app on one collector started with --read-token-file:
  healthy    canary like its baseline: the step run is Successful, its first look after
             the warm-up (initialDelay), and the collector said "pause" during the warm-up
  regressed  canary LCP x1.3: step and background runs Failed at the first look
  silent     canary marked but sending nothing: Inconclusive at the deadline
             (inconclusiveLimit + 1 looks), not at the second look; the background run,
             which takes "pause" as success, is still Running then
  unknown    a version nobody deployed: 404 each look, the run ends in Error after
             consecutiveErrorLimit + 1 looks

Prints TAP-style lines; exits 1 when any check failed.
Run: VIGIL_ROOT=$PWD VIGIL_BIN=$PWD/bin python3 tests/integration/test_argo.py
"""

import json
import math
import os
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, run_group, tempdir, Collector, COLLECTOR  # noqa: E402
from test_comparator import FAST, pageview, post_beacons, cli  # noqa: E402

INTEGRATIONS = os.path.join(harness.ROOT, "collector", "integrations")
STEP = os.path.join(INTEGRATIONS, "argo-analysis-step.yaml")
BACKGROUND = os.path.join(INTEGRATIONS, "argo-analysis-background.yaml")
SCALE = 1.0 / 60  # a minute of the template is a second of the test


# ---------------------------------------------------------------- a YAML subset

def _scalar(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        body = text[1:-1]
        return body.replace('\\"', '"') if text[0] == '"' else body
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _strip_comment(line):
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _block(lines, i, indent):
    """Parses lines[i:] at this indent: a list (items "- ") or a mapping."""
    if lines[i][1].startswith("- "):
        out = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            rest = lines[i][1][2:]
            # The item's first line sits at indent + 2, as if on a line of its own.
            sub = [(indent + 2, rest)]
            j = i + 1
            while j < len(lines) and lines[j][0] > indent:
                sub.append(lines[j])
                j += 1
            if ":" in rest and not rest.startswith(("\"", "'")):
                value, _ = _block(sub, 0, indent + 2)
            else:
                value = _scalar(rest)
            out.append(value)
            i = j
        return out, i
    out = {}
    while i < len(lines) and lines[i][0] == indent:
        key, sep, rest = lines[i][1].partition(":")
        if not sep:
            raise ValueError("not a mapping line: %r" % lines[i][1])
        rest = rest.strip()
        i += 1
        if rest.startswith("{") and rest.endswith("}"):
            out[key] = {k.strip(): _scalar(v) for k, v in
                        (kv.split(":", 1) for kv in rest[1:-1].split(",") if kv.strip())}
        elif rest:
            out[key] = _scalar(rest)
        elif i < len(lines) and lines[i][0] > indent:
            out[key], i = _block(lines, i, lines[i][0])
        else:
            out[key] = None
    return out, i


def load_yaml(path):
    """The subset the shipped templates use: mappings, lists, scalars, comments."""
    lines = []
    with open(path) as f:
        for raw in f:
            line = _strip_comment(raw.rstrip("\n")).rstrip()
            if line.strip():
                lines.append((len(line) - len(line.lstrip(" ")), line.strip()))
    doc, i = _block(lines, 0, lines[0][0])
    if i != len(lines):
        raise ValueError("%s: unparsed from %r" % (path, lines[i][1]))
    return doc


# ---------------------------------------------------------------- Argo's loop

def duration_s(text):
    """A Go duration as the templates write them (30s, 1m, 5m, 1h), scaled."""
    m = re.fullmatch(r"(\d+)(s|m|h)", str(text))
    if not m:
        raise ValueError("duration %r" % text)
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)] * SCALE


def scaled_duration(text):
    """The same duration scaled, written for Vigil's warmup (whole seconds)."""
    return "%ds" % round(duration_s(text))


def resolve_args(template, given, secrets):
    """analysis.go resolveArgs: given values win, then the template's value, then
    valueFrom.secretKeyRef from secrets[(name, key)]."""
    out = {}
    for arg in template["spec"].get("args") or []:
        name = arg["name"]
        if name in given:
            out[name] = given[name]
        elif "value" in arg:
            out[name] = str(arg["value"])
        elif "valueFrom" in arg:
            ref = arg["valueFrom"]["secretKeyRef"]
            out[name] = secrets[(ref["name"], ref["key"])]
        else:
            raise ValueError("arg %s has no value" % name)
    return out


def substitute(text, args):
    return re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m: args[m.group(1)], str(text))


def evaluate(condition, result):
    """The conditions the templates use: result.FIELD == "VALUE"."""
    m = re.fullmatch(r'\s*result\.(\w+)\s*==\s*"([^"]*)"\s*', condition)
    if not m:
        raise ValueError("condition outside the subset: %r" % condition)
    return isinstance(result, dict) and result.get(m.group(1)) == m.group(2)


def evaluate_result(metric, result):
    """utils/evaluate EvaluateResult."""
    succ_c, fail_c = metric.get("successCondition", ""), metric.get("failureCondition", "")
    success = evaluate(succ_c, result) if succ_c else False
    failure = evaluate(fail_c, result) if fail_c else False
    if not succ_c and not fail_c:
        return "Successful"
    if succ_c and not fail_c:
        failure = not success
    elif fail_c and not succ_c:
        success = not failure
    if failure:
        return "Failed"
    return "Successful" if success else "Inconclusive"


def web_measure(metric, base_url):
    """metricproviders/webmetric Run: one GET, non-2xx an Error."""
    web = metric["provider"]["web"]
    # The template's in-cluster address is replaced by the test's collector.
    url = re.sub(r"^https?://[^/]+", base_url, web["url"])
    headers = {h["key"]: h["value"] for h in web.get("headers") or []}
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=int(web.get("timeoutSeconds", 10))) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    except OSError as e:
        return {"phase": "Error", "message": str(e)}
    if status < 200 or status >= 300:
        return {"phase": "Error", "status": status, "message": body.decode("utf-8", "replace")}
    if web.get("jsonPath", "{$}") != "{$}":
        raise ValueError("jsonPath outside the subset")
    result = json.loads(body)
    return {"phase": evaluate_result(metric, result), "status": status, "value": result}


def assess(metric, r):
    """analysis.go assessMetricStatus (v1.8)."""
    failure_limit = int(metric.get("failureLimit", 0))
    csl = int(metric.get("consecutiveSuccessLimit", 0))
    if failure_limit >= 0 and r["failed"] > failure_limit:
        return "Failed"
    if csl > 0 and r["consecutive_success"] >= csl:
        return "Successful"
    if r["inconclusive"] > int(metric.get("inconclusiveLimit", 0)):
        return "Inconclusive"
    if r["consecutive_error"] > int(metric.get("consecutiveErrorLimit", 4)):
        return "Error"
    count = metric.get("count")
    if count is None and not metric.get("interval"):
        count = 1
    if count is not None and r["count"] >= int(count):
        if csl > 0 and failure_limit >= 0:
            return "Inconclusive"
        return "Failed" if csl > 0 else "Successful"
    return "Running"


def run_analysis(template, given, secrets, base_url, stop=None, max_s=120):
    """One AnalysisRun of a one-metric template. Returns (phase, measurements, started),
    each measurement with "t" (seconds after the run started). stop (an Event) terminates
    a run that has not ended, as a completed rollout does a background one: Successful."""
    metrics = template["spec"]["metrics"]
    assert len(metrics) == 1, "one metric per template"
    args = resolve_args(template, given, secrets)
    metric = json.loads(substitute(json.dumps(metrics[0]), args))
    r = {"count": 0, "failed": 0, "inconclusive": 0, "successful": 0, "consecutive_error": 0,
         "consecutive_success": 0}
    measurements = []
    started = time.monotonic()
    next_at = started + (duration_s(metric["initialDelay"]) if metric.get("initialDelay") else 0)
    while True:
        while time.monotonic() < next_at:
            if stop is not None and stop.wait(min(0.05, max(0, next_at - time.monotonic()))):
                return "Successful", measurements, started
            if stop is None:
                time.sleep(min(0.05, max(0, next_at - time.monotonic())))
        m = web_measure(metric, base_url)
        m["t"] = time.monotonic() - started
        measurements.append(m)
        phase = m["phase"]
        if phase == "Error":
            r["consecutive_error"] += 1
            r["consecutive_success"] = 0
        else:
            r["count"] += 1
            r[phase.lower()] += 1
            r["consecutive_error"] = 0
            r["consecutive_success"] = r["consecutive_success"] + 1 if phase == "Successful" else 0
        status = assess(metric, r)
        if status != "Running":
            return status, measurements, started
        if time.monotonic() - started > max_s:
            return "Running", measurements, started
        interval = duration_s(metric["interval"]) if metric.get("interval") else 10 * SCALE * 60
        next_at = time.monotonic() + interval


def decisions(ms):
    return [m.get("value", {}).get("decision") if m["phase"] != "Error" else m.get("status")
            for m in ms]


# ---------------------------------------------------------------- scenarios

TOKEN = "argo-read-token-" + "x" * 24
SECRETS = {("vigil-read-token", "token"): TOKEN}


def lcp(rng, factor=1.0):
    return factor * rng.lognormvariate(math.log(2300), 0.5)


def mark(c, app, version, baseline):
    rc, out, err = cli("mark", "--db", c.db, "--app", app, "--version", version,
                       "--baseline", baseline, "--stage", "canary")
    check("%s: collector mark %s --baseline %s exits 0" % (app, version, baseline), rc == 0,
          (rc, out, err))


def wait_early_in_minute(room_s):
    """Vigil's rollups are per minute and a verdict's window starts at the minute of
    marker + warmup (collector/README.md, Rollups): in real time a 5-minute warm-up spans
    whole minutes, scaled to 5 s it may cross one, leaving the beacons posted before it in
    the minute before. The scenarios start where room_s seconds remain in the minute."""
    sec = time.time() % 60
    if sec > 60 - room_s:
        diag("waiting %.0f s for the next minute" % (60 - sec + 0.5))
        time.sleep(60 - sec + 0.5)


def test_templates():
    step, bg = load_yaml(STEP), load_yaml(BACKGROUND)
    sm, bm = step["spec"]["metrics"][0], bg["spec"]["metrics"][0]
    check("templates: both parse as AnalysisTemplates",
          step.get("kind") == bg.get("kind") == "AnalysisTemplate", (step.get("kind"), bg.get("kind")))
    check("step template: ends on the first promote (consecutiveSuccessLimit 1), fails on "
          "the first rollback (failureLimit 0), no count",
          sm.get("consecutiveSuccessLimit") == 1 and sm.get("failureLimit") == 0
          and "count" not in sm and 'promote' in sm.get("successCondition", "")
          and 'rollback' in sm.get("failureCondition", ""), sm)
    check("background template: a failure condition on rollback only",
          "successCondition" not in bm and 'rollback' in bm.get("failureCondition", ""), bm)
    for name, m, t in (("step", sm, step), ("background", bm, bg)):
        url = m["provider"]["web"]["url"]
        heads = m["provider"]["web"].get("headers") or []
        warm = [a for a in t["spec"]["args"] if a["name"] == "warmup"]
        check("%s template: warmup={{args.warmup}} in the URL, the same as initialDelay" % name,
              "warmup={{args.warmup}}" in url and warm and warm[0].get("value") == m.get("initialDelay"),
              (url, warm, m.get("initialDelay")))
        check("%s template: Authorization: Bearer from a Secret" % name,
              any(h["key"] == "Authorization" and h["value"] == "Bearer {{args.read-token}}" for h in heads)
              and any("valueFrom" in a and a["name"] == "read-token" for a in t["spec"]["args"]),
              heads)


def test_rollouts():
    step, bg = load_yaml(STEP), load_yaml(BACKGROUND)
    sm = step["spec"]["metrics"][0]
    d = tempdir()
    tok = harness.write_private(os.path.join(d, "read.token"), TOKEN + "\n")
    c = Collector(FAST + ["--read-token-file", tok])
    base_url = "http://127.0.0.1:%d" % c.port
    rng = random.Random(13)
    warmup = scaled_duration([a for a in step["spec"]["args"] if a["name"] == "warmup"][0]["value"])
    initial = duration_s(sm["initialDelay"])
    interval = duration_s(sm["interval"])
    limit = int(sm["inconclusiveLimit"])
    err_limit = int(sm["consecutiveErrorLimit"])

    # The slow scenario decides nothing in its first minute of the collector's clock, so
    # only the deciding ones need to stay within one minute.
    wait_early_in_minute(initial + 12)
    for app in ("argo-ok", "argo-bad", "argo-quiet"):
        mark(c, app, "1.0.1", "1.0.0")
    beacons = []
    # Two identical versions of 6,000 page views are within the aggressive policy's
    # tolerance, not yet within the conservative one's (shared/README.md, the decision
    # rule): the healthy rollout passes policy=aggressive, as a Rollout's args can.
    for app, factor, n in (("argo-ok", 1.0, 6000), ("argo-bad", 1.3, 3000)):
        beacons += [pageview(app, "1.0.0", i, [("LCP", lcp(rng))]) for i in range(6000)]
        beacons += [pageview(app, "1.0.1", i, [("LCP", lcp(rng, factor))]) for i in range(n)]
    beacons += [pageview("argo-quiet", "1.0.0", i, [("LCP", lcp(rng))]) for i in range(600)]
    t0 = time.monotonic()
    bad = post_beacons(c.port, beacons)
    check("beacons: %d stored (every POST /v1/rum 204)" % len(beacons), not bad, bad[:1])
    diag("posted %d beacons in %.1f s" % (len(beacons), time.monotonic() - t0))

    during = harness.request(c.port, "GET", "/v1/verdict?" + urllib.parse.urlencode(
        {"app": "argo-ok", "baseline": "1.0.0", "canary": "1.0.1", "warmup": "60s"}),
        headers={"Authorization": "Bearer " + TOKEN})
    dv = during.json() or {}
    check("healthy: during the warm-up the collector answers pause",
          during.status == 200 and dv.get("decision") == "pause", during.brief())
    no_token = harness.get(c.port, "/v1/verdict", app="argo-ok", baseline="1.0.0", canary="1.0.1")
    check("the verdict needs the read token: without it 401", no_token.status == 401, no_token.brief())

    def args(app, canary="1.0.1", **more):
        return dict({"app": app, "baseline": "1.0.0", "canary": canary, "warmup": warmup}, **more)

    results = {}
    stop_bg = {k: threading.Event() for k in ("ok", "bad", "quiet")}

    def run(key, template, given, stop=None):
        results[key] = run_analysis(template, given, SECRETS, base_url, stop=stop)

    jobs = [
        ("step-ok", step, args("argo-ok", policy="aggressive"), None),
        ("bg-ok", bg, args("argo-ok", policy="aggressive"), stop_bg["ok"]),
        ("step-bad", step, args("argo-bad"), None),
        ("bg-bad", bg, args("argo-bad"), stop_bg["bad"]),
        ("step-quiet", step, args("argo-quiet"), None),
        ("bg-quiet", bg, args("argo-quiet"), stop_bg["quiet"]),
        ("step-unknown", step, args("argo-ok", "1.0.9"), None),
    ]
    threads = {}
    for key, t, given, stop in jobs:
        threads[key] = threading.Thread(target=run, args=(key, t, given, stop), daemon=True)
        threads[key].start()

    # A rollout ends its background run when its steps end (Successful); one aborted by
    # a failed background run ends the steps. Here: the step decides, then the
    # background run is stopped, except where it failed first.
    for key in ("ok", "bad", "quiet"):
        threads["step-" + key].join(90)
        threads["bg-" + key].join(0.5 if key != "bad" else 90)
        if key == "quiet":
            check("silent: the background run, taking pause as success, is still running "
                  "when the step gives up", threads["bg-quiet"].is_alive(), "ended early")
        stop_bg[key].set()
        threads["bg-" + key].join(5)
    threads["step-unknown"].join(60)

    for key, (phase, ms, _) in sorted(results.items()):
        diag("%-13s %-12s looks at %s: %s" % (key, phase, ["%.1f" % m["t"] for m in ms], decisions(ms)))

    phase, ms, _ = results["step-ok"]
    check("healthy: the step run ends Successful", phase == "Successful", (phase, decisions(ms)))
    check("healthy: ... its first look after initialDelay (the warm-up), promoted there",
          ms and ms[0]["t"] >= initial - 0.05 and decisions(ms)[-1] == "promote",
          [(m["t"], m.get("value", {}).get("decision")) for m in ms])
    phase, ms, _ = results["bg-ok"]
    check("healthy: the background run never failed (stopped with the rollout: Successful)",
          phase == "Successful" and all(m["phase"] == "Successful" for m in ms), (phase, decisions(ms)))

    for key in ("step-bad", "bg-bad"):
        phase, ms, _ = results[key]
        check("regressed: the %s run ends Failed at its first look (rollback)" % key[:-4],
              phase == "Failed" and len(ms) == 1 and decisions(ms) == ["rollback"],
              (phase, decisions(ms)))
    phase, ms, _ = results["step-bad"]
    reasons = " ".join(ms[0].get("value", {}).get("reasons") or []) if ms else ""
    check("regressed: ... Vigil's reason names LCP", "LCP" in reasons, reasons[:300])

    phase, ms, _ = results["step-quiet"]
    check("silent: the step run ends Inconclusive (a person is asked)", phase == "Inconclusive",
          (phase, decisions(ms)))
    check("silent: ... after inconclusiveLimit + 1 = %d looks, every one a pause" % (limit + 1),
          len(ms) == limit + 1 and set(decisions(ms)) == {"pause"}, decisions(ms))
    deadline = initial + limit * interval
    check("silent: ... at the deadline (%.0f s scaled: initialDelay + %d intervals), not at the "
          "second look" % (deadline, limit), ms and ms[-1]["t"] >= deadline - 0.1,
          ms[-1]["t"] if ms else None)
    phase, ms, _ = results["bg-quiet"]
    check("silent: the background run saw only pauses and did not fail",
          phase == "Successful" and set(decisions(ms)) <= {"pause"}, (phase, decisions(ms)))

    phase, ms, _ = results["step-unknown"]
    check("unknown version: the step run ends in Error", phase == "Error", (phase, decisions(ms)))
    check("unknown version: ... after consecutiveErrorLimit + 1 = %d looks, each a 404" % (err_limit + 1),
          len(ms) == err_limit + 1 and set(decisions(ms)) == {404}, decisions(ms))
    body = ms[0].get("message", "") if ms else ""
    check("unknown version: ... with a JSON reason naming the version",
          '"field":"canary"' in body.replace(" ", "") and "1.0.9" in body, body[:300])


def main():
    run_group(test_templates)
    run_group(test_rollouts)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
