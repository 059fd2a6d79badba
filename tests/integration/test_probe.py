#!/usr/bin/env python3
"""Integration tests of bin/probe against scripts/example-shop (see probe/README.md).

Expectations come from the shop and from the README, never from probe's code.
Prints TAP-style `ok - ...` / `not ok - ...` lines; exits 1 when any check failed.
"""

import datetime
import json
import os
import re
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, run_probe, tempdir, write_journey, load_json, read_text  # noqa: E402

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ANSI = "\x1b["

CHECKOUT = "probe/examples/checkout.json"
HEALTH = "probe/examples/health.json"
LOGIN = "probe/examples/shared/login.json"
CHECKOUT_STEPS = ["login", "add to cart", "view cart", "check out", "view order"]


# ---------------------------------------------------------------- helpers

def journey(name, steps, variables=None, defaults=None):
    j = {"name": name}
    if variables is not None:
        j["variables"] = variables
    if defaults is not None:
        j["defaults"] = defaults
    j["steps"] = steps
    return j


def run_report(args, env=None, junit=False, timeout=30, unset=()):
    """Run probe with --report json (and junit); returns (result, report, junit_path)."""
    d = tempdir("vigil-report-")
    rp = os.path.join(d, "report.json")
    jp = os.path.join(d, "junit.xml")
    extra = ["--report", "json:" + rp]
    if junit:
        extra += ["--report", "junit:" + jp]
    r = run_probe(list(args) + extra, env=env, timeout=timeout, unset=unset)
    return r, load_json(rp), jp


def journeys_of(report):
    if isinstance(report, dict) and isinstance(report.get("journeys"), list):
        return report["journeys"]
    return []


def steps_of(report, i=0):
    js = journeys_of(report)
    if len(js) > i and isinstance(js[i].get("steps"), list):
        return js[i]["steps"]
    return []


def by_name(report):
    return {j.get("name"): j for j in journeys_of(report)}


def step_named(steps, name):
    for s in steps:
        if s.get("name") == name:
            return s
    return {}


def failures_of(step):
    f = step.get("failures")
    return f if isinstance(f, list) else []


def failure(step, check_name):
    for f in failures_of(step):
        if f.get("check") == check_name:
            return f
    return None


def captures(step):
    c = step.get("captures")
    return c if isinstance(c, dict) else {}


def results(steps):
    return [s.get("result") for s in steps]


def summary_line(r):
    for line in r.output.splitlines():
        if line.startswith("probe:"):
            return line
    return ""


def console_lines(r, word):
    return [l for l in r.stdout.splitlines() if l.startswith(word + " ")]


def show(steps):
    return json.dumps([{k: s.get(k) for k in ("name", "result", "status", "attempts", "failures")}
                       for s in steps])[:600]


def junit_suites(path):
    """(root, [testsuite elements]) or raises on malformed XML."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall(".//testsuite")
    return root, suites


# ---------------------------------------------------------------- tests

def test_validate_examples(shop):
    paths = [CHECKOUT, HEALTH, LOGIN]
    before = shop.stats()
    r = run_probe(["validate"] + paths, env={"SHOP_PASSWORD": shop.password})
    check("probe validate sends nothing", shop.stats() == before, (before, shop.stats()))
    check("probe validate on the example journeys exits 0", r.code == 0, r.brief())
    for p in paths:
        check("probe validate prints '%s: ok'" % p, (p + ": ok") in r.stdout, r.brief())


def test_checkout_passes(shop):
    before = shop.stats()
    d = tempdir()
    junit = os.path.join(d, "checkout.xml")
    r, rep, _ = run_report(["run", CHECKOUT, "--var", "base=" + shop.base,
                            "--app", "shop", "--version", "1.2.3", "--region", "eu-west",
                            "--label", "team=payments", "--report", "junit:" + junit],
                           env={"SHOP_PASSWORD": shop.password})
    after = shop.stats()
    check("checkout journey against a healthy shop exits 0", r.code == 0, r.brief())
    check("checkout: JSON report is written and parses", isinstance(rep, dict), r.brief())
    if not isinstance(rep, dict):
        return
    check("report schema is vigil.probe-result/1", rep.get("schema") == "vigil.probe-result/1",
          rep.get("schema"))
    check("report run_id is a UUID", UUID.match(str(rep.get("run_id", ""))) is not None, rep.get("run_id"))
    check("report started_at is UTC RFC 3339", RFC3339_UTC.match(str(rep.get("started_at", ""))) is not None,
          rep.get("started_at"))
    check("report passed is true", rep.get("passed") is True, rep.get("passed"))
    check("report insecure is false by default", rep.get("insecure") is False, rep.get("insecure"))
    labels = rep.get("labels") or {}
    check("report labels carry --app/--version/--region/--label",
          labels.get("app") == "shop" and labels.get("version") == "1.2.3"
          and labels.get("region") == "eu-west" and labels.get("team") == "payments", labels)
    summ = rep.get("summary") or {}
    want = {"journeys": 1, "journeys_passed": 1, "steps": 5, "steps_passed": 5,
            "steps_failed": 0, "steps_skipped": 0}
    check("report summary counts 1 journey and 5 passed steps",
          all(summ.get(k) == v for k, v in want.items()), summ)
    js = journeys_of(rep)
    j = js[0] if js else {}
    check("journey entry: name checkout, file, iteration 1, passed",
          j.get("name") == "checkout" and str(j.get("file", "")).endswith("checkout.json")
          and j.get("iteration") == 1 and j.get("passed") is True,
          {k: j.get(k) for k in ("name", "file", "iteration", "passed")})
    steps = steps_of(rep)
    check("checkout steps are login (included), add to cart, view cart, check out, view order",
          [s.get("name") for s in steps] == CHECKOUT_STEPS, [s.get("name") for s in steps])
    check("every checkout step passed on the first attempt",
          steps and all(s.get("result") == "passed" and s.get("attempts") == 1
                        and s.get("failures") == [] for s in steps), show(steps))
    check("step indexes are 1..5", [s.get("index") for s in steps] == [1, 2, 3, 4, 5],
          [s.get("index") for s in steps])
    check("statuses are the shop's: 200, 201, 200, 200, 200",
          [s.get("status") for s in steps] == [200, 201, 200, 200, 200], [s.get("status") for s in steps])
    login = step_named(steps, "login")
    check("login step reports method POST and the rendered url",
          login.get("method") == "POST" and login.get("url") == shop.base + "/api/login",
          (login.get("method"), login.get("url")))
    check("http steps report http_version 1.1", all(s.get("http_version") == "1.1" for s in steps),
          [s.get("http_version") for s in steps])
    check("http steps carry no tls object", all("tls" not in s for s in steps),
          [s.get("tls") for s in steps])
    tm = [s.get("timings_ms") or {} for s in steps]
    check("every step has numeric timings dns/connect/tls/ttfb/total with ttfb <= total",
          steps and all(all(isinstance(t.get(k), (int, float)) for k in ("dns", "connect", "tls", "ttfb", "total"))
                        and t["ttfb"] <= t["total"] + 0.001 for t in tm), tm)
    check("size_bytes is a positive number", all(isinstance(s.get("size_bytes"), int) and s["size_bytes"] > 0
                                                 for s in steps), [s.get("size_bytes") for s in steps])
    token = captures(login).get("token", "")
    check("login captures the token the shop issued (32 hex)", HEX32.match(str(token)) is not None, token)
    check("login captures the session cookie from the jar",
          re.match(r"^[0-9a-f]{24}$", str(captures(login).get("session", ""))) is not None, captures(login))
    cart_id = captures(step_named(steps, "add to cart")).get("cart_id", "")
    check("add to cart captures the cart id", re.match(r"^cart-[0-9a-f]+$", str(cart_id)) is not None, cart_id)
    order_id = captures(step_named(steps, "check out")).get("order_id", "")
    check("check out captures the order id", re.match(r"^ord-[0-9a-f]{12}$", str(order_id)) is not None, order_id)
    view = step_named(steps, "view order")
    check("view order uses the captured order id in its url",
          view.get("url") == "%s/api/orders/%s" % (shop.base, order_id), view.get("url"))
    status, order = shop.request("GET", "/api/orders/%s" % order_id,
                                 headers={"Authorization": "Bearer %s" % token})
    check("the shop really holds the confirmed order for the captured token",
          status == 200 and isinstance(order, dict) and order.get("status") == "confirmed", (status, order))
    check("the shop received exactly 5 requests", before is not None and after == before + 5, (before, after))
    for name in CHECKOUT_STEPS:
        check("console prints 'PASS checkout %s'" % name,
              any(l.startswith("PASS checkout %s " % name) or l == "PASS checkout " + name
                  for l in r.stdout.splitlines()), r.stdout[-600:])
    check("console prints a summary line starting with 'probe:'", summary_line(r) != "", r.output[-400:])
    for text, where in ((r.stdout, "stdout"), (r.stderr, "stderr"), (json.dumps(rep), "JSON report"),
                        (read_text(junit), "JUnit report")):
        check("the shop password never appears in %s of the checkout run" % where,
              shop.password not in text, "found the secret")
    try:
        root, suites = junit_suites(junit)
        cases = suites[0].findall("testcase") if suites else []
        check("JUnit of a passing run: one testsuite 'checkout', 5 testcases, no failure",
              len(suites) == 1 and suites[0].get("name") == "checkout" and len(cases) == 5
              and not root.findall(".//failure"),
              (len(suites), [s.get("name") for s in suites], len(cases)))
        check("JUnit testcases are named after the steps with a time",
              [c.get("name") for c in cases] == CHECKOUT_STEPS
              and all(re.match(r"^\d+(\.\d+)?$", c.get("time") or "") for c in cases),
              [(c.get("name"), c.get("time")) for c in cases])
    except (ET.ParseError, OSError) as exc:
        check("JUnit of a passing run is well-formed XML", False, exc)


def test_health_example(shop):
    r, rep, _ = run_report(["run", HEALTH, "--var", "base=" + shop.base])
    steps = steps_of(rep)
    check("health example passes against the shop (exit 0)", r.code == 0, r.brief())
    check("health example captures the shop's version 1.2.3",
          captures(step_named(steps, "version")).get("version") == "1.2.3", show(steps))


def test_traceparent(shop):
    d = tempdir()
    steps = []
    for i, method in enumerate(["GET", "POST", "PUT"], 1):
        s = {"name": "echo %d" % i, "request": {"method": method, "url": "{{base}}/echo"},
             "expect": {"status": 200, "json": {"$.headers.traceparent": {"exists": True}}},
             "capture": {"tp": {"json": "$.headers.traceparent"}}}
        if method != "GET":
            s["request"]["json"] = {"n": i}
        steps.append(s)
    p = write_journey(d, "trace.json", journey("trace", steps, {"base": shop.base}))
    r, rep, _ = run_report(["run", p, "--repeat", "2"])
    check("traceparent journey (3 echo steps, --repeat 2) exits 0", r.code == 0, r.brief())
    js = journeys_of(rep)
    check("traceparent: two journey runs reported", len(js) == 2, len(js))
    traces = []
    for j in js:
        it = j.get("iteration")
        tid = j.get("trace_id", "")
        traces.append(tid)
        check("run %s: trace_id is 32 hex and not all zero" % it,
              HEX32.match(str(tid)) is not None and set(tid) != {"0"}, tid)
        ss = j.get("steps") or []
        seen = [captures(s).get("tp", "") for s in ss]
        parsed = [TRACEPARENT.match(str(v)) for v in seen]
        check("run %s: the shop saw a W3C traceparent 00-TRACE-SPAN-01 on every step" % it,
              len(ss) == 3 and all(parsed), seen)
        if not (len(ss) == 3 and all(parsed)):
            continue
        check("run %s: the trace id the shop saw equals the journey's trace_id on every step" % it,
              all(m.group(1) == tid for m in parsed), (tid, seen))
        spans = [m.group(2) for m in parsed]
        check("run %s: span ids the shop saw differ per step" % it, len(set(spans)) == 3, spans)
        check("run %s: each step reports the span_id and traceparent the shop saw" % it,
              all(s.get("span_id") == sp and s.get("traceparent") == v
                  for s, sp, v in zip(ss, spans, seen)),
              [(s.get("span_id"), s.get("traceparent")) for s in ss])
        check("run %s: span ids are 16 hex, not all zero" % it,
              all(HEX16.match(sp) and set(sp) != {"0"} for sp in spans), spans)
    check("each journey run has its own trace id", len(traces) == 2 and traces[0] != traces[1], traces)


def test_broken_shop(broken):
    d = tempdir()
    junit = os.path.join(d, "junit.xml")
    before = broken.stats()
    r, rep, _ = run_report(["run", CHECKOUT, "--var", "base=" + broken.base, "--report", "junit:" + junit],
                           env={"SHOP_PASSWORD": broken.password})
    after = broken.stats()
    check("checkout against the broken shop exits 1", r.code == 1, r.brief())
    steps = steps_of(rep)
    check("broken: report passed false and journey passed false",
          isinstance(rep, dict) and rep.get("passed") is False and journeys_of(rep)
          and journeys_of(rep)[0].get("passed") is False, r.brief())
    check("broken: results are passed x3, failed (check out), skipped (view order)",
          results(steps) == ["passed", "passed", "passed", "failed", "skipped"]
          and step_named(steps, "check out").get("result") == "failed", show(steps))
    co = step_named(steps, "check out")
    f = failure(co, "status")
    check("broken: check out step reports status 500", co.get("status") == 500, co.get("status"))
    check("broken: failure names check 'status', expected 200, actual 500",
          f is not None and str(f.get("expected")) == "200" and str(f.get("actual")) == "500"
          and f.get("message"), failures_of(co))
    summ = rep.get("summary") if isinstance(rep, dict) else {}
    check("broken: summary has 3 passed, 1 failed, 1 skipped, 0 journeys passed",
          summ and summ.get("steps") == 5 and summ.get("steps_passed") == 3 and summ.get("steps_failed") == 1
          and summ.get("steps_skipped") == 1 and summ.get("journeys_passed") == 0, summ)
    check("broken: the skipped step was never sent (shop got 4 requests)",
          before is not None and after == before + 4, (before, after))
    check("broken: console prints a FAIL line for 'check out' with 500",
          any(l.startswith("FAIL checkout check out") and "500" in l for l in r.stdout.splitlines()),
          r.stdout[-600:])
    check("broken: console explains 'status: expected 200, got 500'",
          "status: expected 200, got 500" in r.stdout, r.stdout[-600:])
    check("broken: console prints 'SKIP checkout view order'",
          any(l.startswith("SKIP checkout view order") for l in r.stdout.splitlines()), r.stdout[-600:])
    check("broken: summary line says 1 of 1 journey runs failed (3 of 5 steps passed, 1 skipped)",
          summary_line(r).startswith("probe: 1 of 1 journey runs failed (3 of 5 steps passed, 1 skipped)"),
          summary_line(r))
    try:
        root, suites = junit_suites(junit)
        check("broken: JUnit file is well-formed XML", True)
        cases = suites[0].findall("testcase") if suites else []
        check("broken: JUnit has one testsuite 'checkout' with 5 testcases",
              len(suites) == 1 and suites[0].get("name") == "checkout" and len(cases) == 5,
              ([s.get("name") for s in suites], len(cases)))
        failed = [c for c in cases if c.find("failure") is not None]
        skipped = [c for c in cases if c.find("skipped") is not None]
        check("broken: JUnit has exactly one <failure>, on testcase 'check out'",
              len(root.findall(".//failure")) == 1 and [c.get("name") for c in failed] == ["check out"],
              [c.get("name") for c in failed])
        fm = failed[0].find("failure").get("message", "") if failed else ""
        check("broken: JUnit failure message has the expected and actual values (200, 500)",
              "200" in fm and "500" in fm, fm)
        check("broken: JUnit marks 'view order' <skipped/>",
              [c.get("name") for c in skipped] == ["view order"], [c.get("name") for c in skipped])
    except (ET.ParseError, OSError) as exc:
        check("broken: JUnit file is well-formed XML", False, exc)

    rq = run_probe(["run", CHECKOUT, "--var", "base=" + broken.base, "--quiet"],
                   env={"SHOP_PASSWORD": broken.password})
    check("--quiet on a failing run still exits 1", rq.code == 1, rq.brief())
    check("--quiet prints the FAIL line but no PASS line",
          console_lines(rq, "FAIL") and not console_lines(rq, "PASS"), rq.stdout[-600:])


def test_quiet_and_color(shop):
    r = run_probe(["run", HEALTH, "--var", "base=" + shop.base, "--quiet"])
    check("--quiet on a passing run exits 0", r.code == 0, r.brief())
    check("--quiet prints no PASS lines", not console_lines(r, "PASS"), r.stdout[-400:])
    check("--quiet still prints the summary line", summary_line(r) != "", r.output[-400:])

    r = run_probe(["run", HEALTH, "--var", "base=" + shop.base])
    check("output to a pipe has no escape codes", ANSI not in r.output, repr(r.output[:200]))
    check("output to a pipe still has PASS lines", len(console_lines(r, "PASS")) == 2, r.stdout[-400:])

    t = harness.run_probe_tty(["run", HEALTH, "--var", "base=" + shop.base])
    check("on a TTY probe exits 0", t.code == 0, t.brief())
    check("on a TTY output is coloured by default", ANSI in t.stdout, repr(t.stdout[:300]))
    t = harness.run_probe_tty(["run", HEALTH, "--var", "base=" + shop.base], env={"NO_COLOR": "1"})
    check("NO_COLOR=1 gives no escape codes even on a TTY", t.code == 0 and ANSI not in t.stdout,
          repr(t.stdout[:300]))
    t = harness.run_probe_tty(["run", HEALTH, "--var", "base=" + shop.base, "--no-color"])
    check("--no-color gives no escape codes even on a TTY", t.code == 0 and ANSI not in t.stdout,
          repr(t.stdout[:300]))


def test_syntax_error(shop):
    d = tempdir()
    good = write_journey(d, "good.json", journey("good", [{"request": {"url": shop.base + "/healthz"}}]))
    text = ('{\n'
            '  "name": "bad syntax",\n'
            '  "steps": [\n'
            '    {"request": {"url": "%s/healthz"}},,\n'
            '  ]\n'
            '}\n' % shop.base)
    bad = write_journey(d, "bad_syntax.json", text)
    before = shop.stats()
    r = run_probe(["run", good, bad])
    after = shop.stats()
    check("a journey with a JSON syntax error exits 2", r.code == 2, r.brief())
    check("syntax error is reported as bad_syntax.json:4:COL on stderr",
          re.search(r"bad_syntax\.json:4:\d+", r.stderr) is not None, r.stderr[-400:])
    check("syntax error: nothing was sent, not even the valid journey", after == before, (before, after))
    v = run_probe(["validate", bad])
    check("probe validate on a syntax error exits 2 with file:line:col",
          v.code == 2 and re.search(r"bad_syntax\.json:4:\d+", v.output) is not None, v.brief())
    v = run_probe(["validate", good])
    check("probe validate on a valid temp journey exits 0", v.code == 0 and good + ": ok" in v.stdout,
          v.brief())


def test_unknown_key(shop):
    d = tempdir()
    text = ('{\n'
            '  "name": "unknown key",\n'
            '  "steps": [\n'
            '    {"name": "first", "request": {"url": "%s/healthz"}},\n'
            '    {"name": "second", "request": {"url": "%s/healthz"},\n'
            '      "captures": {"x": {"status": true}}}\n'
            '  ]\n'
            '}\n' % (shop.base, shop.base))
    p = write_journey(d, "unknown_key.json", text)
    before = shop.stats()
    r = run_probe(["run", p])
    after = shop.stats()
    check("an unknown key 'captures' exits 2", r.code == 2, r.brief())
    check("unknown key: nothing was sent", after == before, (before, after))
    check("unknown key: stderr names unknown_key.json:6:COL", re.search(r"unknown_key\.json:6:\d+", r.stderr),
          r.stderr[-400:])
    check("unknown key: column is the key's (7)", re.search(r"unknown_key\.json:6:7\b", r.stderr),
          r.stderr[-400:])
    check('unknown key: message says unknown key "captures" in step 2',
          'unknown key "captures" in step 2' in r.stderr, r.stderr[-400:])
    check('unknown key: suggests did you mean "capture"', 'did you mean "capture"' in r.stderr,
          r.stderr[-400:])
    v = run_probe(["validate", p])
    check('probe validate on the unknown key exits 2 and suggests "capture"',
          v.code == 2 and 'did you mean "capture"' in v.output, v.brief())

    p2 = write_journey(d, "typo_expect.json", journey("typo", [
        {"request": {"url": shop.base + "/healthz"}, "expect": {"stauts": 200}}]))
    r = run_probe(["run", p2])
    check('unknown key "stauts" in expect exits 2 and suggests "status"',
          r.code == 2 and 'did you mean "status"' in r.stderr, r.brief())
    p3 = write_journey(d, "typo_pred.json", journey("typo pred", [
        {"request": {"url": shop.base + "/healthz"}, "expect": {"body": {"contain": "ok"}}}]))
    r = run_probe(["run", p3])
    check('unknown predicate "contain" exits 2 and suggests "contains"',
          r.code == 2 and 'did you mean "contains"' in r.stderr, r.brief())
    p4 = write_journey(d, "typo_top.json", {"name": "x", "step": [{"request": {"url": shop.base}}]})
    r = run_probe(["run", p4])
    check('top-level "step" instead of "steps" exits 2', r.code == 2, r.brief())
    check("typos: nothing was sent", shop.stats() == before, (before, shop.stats()))


def test_load_errors(shop):
    d = tempdir()
    base = shop.base
    cases = [
        ("unclosed template", journey("t", [{"request": {"url": "{{base/healthz"}}], {"base": base})),
        ("json and form together", journey("t", [{"request": {"method": "POST", "url": base + "/echo",
                                                              "json": {"a": 1}, "form": {"b": "2"}}}])),
        ("JSONPath index with a leading zero", journey("t", [{"request": {"url": base + "/echo"},
                                                              "expect": {"json": {"$.a[01]": {"exists": True}}}}])),
        ("JSONPath filter comparing a non-singular query", journey("t", [{"request": {"url": base + "/echo"},
                                                           "capture": {"x": {"json": "$.items[?@.*==1]"}}}])),
        ("empty steps", {"name": "t", "steps": []}),
        ("missing name", {"steps": [{"request": {"url": base}}]}),
        ("step without request", journey("t", [{"name": "nothing"}])),
        ("status of the wrong type", journey("t", [{"request": {"url": base}, "expect": {"status": True}}])),
        ("retries of the wrong type", journey("t", [{"request": {"url": base}, "retries": "two"}])),
        ("include of a missing file", journey("t", [{"include": "no-such-file.json"}])),
    ]
    before = shop.stats()
    for i, (label, j) in enumerate(cases):
        p = write_journey(d, "load%d.json" % i, j)
        r = run_probe(["run", p])
        check("load-time error (%s) exits 2" % label, r.code == 2, r.brief())
        check("load-time error (%s) names the file on stderr" % label, ("load%d.json" % i) in r.stderr,
              r.stderr[-300:])
    check("load-time errors: nothing was sent", shop.stats() == before, (before, shop.stats()))


def test_only_and_folders(shop):
    before = shop.stats()
    r = run_probe(["run", HEALTH, "--var", "base=" + shop.base, "--only", "nomatch"])
    check("--only nomatch exits 3", r.code == 3, r.brief())
    check("--only nomatch sends nothing", shop.stats() == before, (before, shop.stats()))
    r, rep, _ = run_report(["run", "probe/examples", "--var", "base=" + shop.base, "--only", "hea*"],
                           env={"SHOP_PASSWORD": shop.password})
    check("--only hea* on the examples folder runs just health (exit 0)",
          r.code == 0 and [j.get("name") for j in journeys_of(rep)] == ["health"],
          (r.brief(), [j.get("name") for j in journeys_of(rep)]))
    d = tempdir()
    p = write_journey(d, "file-stem.json", journey("alpha", [{"request": {"url": shop.base + "/healthz"}}]))
    r = run_probe(["run", p, "--only", "alpha"])
    check("--only matches the journey's name (alpha), not its file name", r.code == 0, r.brief())
    r = run_probe(["run", p, "--only", "file-stem"])
    check("--only with the file name of a journey named otherwise exits 3", r.code == 3, r.brief())
    r = run_probe(["run", p, "--only", "nomatch", "--only", "al?ha"])
    check("--only is repeatable (any pattern matches)", r.code == 0, r.brief())
    empty = tempdir()
    r = run_probe(["run", empty])
    check("an empty folder exits 3 (no journey found)", r.code == 3, r.brief())
    r, rep, _ = run_report(["run", "probe/examples", "--var", "base=" + shop.base],
                           env={"SHOP_PASSWORD": shop.password})
    names = sorted(j.get("name") for j in journeys_of(rep))
    check("running the examples folder exits 0", r.code == 0, r.brief())
    check("the folder's *.json run, not shared/ (checkout and health only)", names == ["checkout", "health"],
          names)


def test_undefined_variable(shop):
    # Issue 14: validate knows every variable, capture and built-in; {{bsae}} is found
    # before anything is sent, at its file:line:col, not when the step runs.
    d = tempdir()
    text = ('{\n'
            '  "name": "undef",\n'
            '  "variables": {"base": "%s"},\n'
            '  "steps": [\n'
            '    {"name": "health", "request": {"url": "{{bsae}}/healthz"}}\n'
            '  ]\n'
            '}\n' % shop.base)
    p = write_journey(d, "undef.json", text)
    before = shop.stats()
    v = run_probe(["validate", p])
    check("validate: an undefined {{bsae}} exits 2", v.code == 2, v.brief())
    check("validate: the error is at undef.json:5:43 (the url string)",
          re.search(r"undef\.json:5:43: undefined variable \"bsae\"", v.stderr) is not None, v.brief())
    check('validate: the error suggests did you mean "base"', 'did you mean "base"' in v.stderr, v.brief())
    r = run_probe(["run", p])
    check("run: an undefined {{bsae}} exits 2 (not 1) and names undef.json:5:43",
          r.code == 2 and "undef.json:5:43" in r.stderr, r.brief())
    check("undefined variable: nothing was sent", shop.stats() == before, (before, shop.stats()))

    p2 = write_journey(d, "order.json", journey("order", [
        {"name": "needs token", "request": {"url": "{{base}}/echo",
                                            "headers": {"Authorization": "Bearer {{token}}"}}},
        {"name": "login", "request": {"method": "POST", "url": "{{base}}/api/login",
                                      "json": {"user": "u", "password": "p"}},
         "capture": {"token": {"json": "$.token"}}},
    ], {"base": shop.base}))
    v = run_probe(["validate", p2])
    check('validate: a capture used before the step that captures it exits 2, naming step 2 "login"',
          v.code == 2 and 'undefined variable "token"' in v.stderr and 'step 2 "login"' in v.stderr
          and re.search(r"order\.json:\d+:\d+:", v.stderr), v.brief())
    p3 = write_journey(d, "range.json", journey("range", [
        {"request": {"url": "{{base}}/echo", "query": {"n": "{{random_int:9:1}}"}}}], {"base": shop.base}))
    v = run_probe(["validate", p3])
    check("validate: {{random_int:9:1}} exits 2", v.code == 2 and "random_int:9:1" in v.stderr, v.brief())
    p4 = write_journey(d, "builtins.json", journey("builtins", [
        {"name": "login", "request": {"method": "POST", "url": "{{base}}/api/login",
                                      "headers": {"Authorization": "none"},
                                      "json": {"user": "{{uuid}}", "password": "{{secret.VIGIL_IT_NOT_SET}}"}},
         "capture": {"token": {"json": "$.token"}}},
        {"name": "echo", "request": {"url": "{{base}}/echo",
                                     "query": {"a": "{{now_ms}}", "b": "{{now_s}}", "c": "{{random_int}}",
                                               "d": "{{random_int:1:6}}", "e": "{{env.VIGIL_IT_NOT_SET}}"}}},
    ], {"base": shop.base}, {"headers": {"Authorization": "Bearer {{token}}"}}))
    v = run_probe(["validate", p4])
    check("validate: built-ins, a capture of an earlier step and a default header that uses it"
          " (overridden where it is not yet captured) are all known: exit 0",
          v.code == 0 and "builtins.json: ok" in v.stdout, v.brief())
    p5 = write_journey(d, "defaults.json", journey("defaults", [
        {"name": "login", "request": {"url": "{{base}}/healthz"}, "capture": {"token": {"status": True}}}],
        {"base": shop.base}, {"headers": {"Authorization": "Bearer {{token}}"}}))
    v = run_probe(["validate", p5])
    check("validate: a default header using a capture on the very step that captures it exits 2",
          v.code == 2 and 'undefined variable "token"' in v.stderr and "defaults.json:" in v.stderr, v.brief())


def test_var_typo(shop):
    # Issue 14: a misspelt --var bsae=... left the journey's default base in place, and
    # the requests went to another host.
    d = tempdir()
    other = harness.Shop(password="pw-" + secrets.token_hex(8))
    p = write_journey(d, "typo.json", journey("typo", [
        {"name": "health", "request": {"url": "{{base}}/healthz"}}], {"base": other.base}))
    before, other_before = shop.stats(), other.stats()
    r = run_probe(["run", p, "--var", "bsae=" + shop.base])
    check("--var bsae (misspelt) exits 2", r.code == 2, r.brief())
    check('--var bsae: stderr suggests did you mean "base"', 'did you mean "base"' in r.stderr, r.brief())
    check("--var bsae: nothing was sent, to either host",
          shop.stats() == before and other.stats() == other_before,
          (before, shop.stats(), other_before, other.stats()))
    r = run_probe(["run", p, "--var", "zzzzzzzz=1", "--var", "base=" + shop.base])
    check("--var with a name no journey declares (nothing near) exits 2",
          r.code == 2 and "zzzzzzzz" in r.stderr and "did you mean" not in r.stderr, r.brief())
    r = run_probe(["run", p, "--var", "base=" + shop.base])
    check("--var base (declared) runs against the given host: exit 0",
          r.code == 0 and shop.stats() == before + 1 and other.stats() == other_before,
          (r.brief(), shop.stats(), other.stats()))
    inc = write_journey(d, "parts/part.json", journey("part", [
        {"name": "part", "request": {"url": "{{base}}/echo", "query": {"who": "{{who}}"}}}]))
    p2 = write_journey(d, "with_include.json", journey("with include", [
        {"include": "parts/part.json", "variables": {"who": "probe"}}], {"base": shop.base}))
    r = run_probe(["run", p2, "--var", "who=someone"])
    check("--var naming an include's variable is accepted (exit 0)", r.code == 0 and os.path.exists(inc),
          r.brief())
    p3 = write_journey(d, "required.json", journey("required", [
        {"name": "health", "request": {"url": "{{base}}/healthz"}}], {"base": None}))
    now = shop.stats()
    r = run_probe(["run", p3])
    check('a variable declared null (no default) and not given exits 2, asking for --var base=VALUE',
          r.code == 2 and "--var base=VALUE" in r.stderr and shop.stats() == now, r.brief())
    r = run_probe(["run", p3, "--var", "base=" + shop.base])
    check("a variable declared null runs once --var gives it (exit 0)", r.code == 0, r.brief())
    r = run_probe(["run", p, p2, "--only", "typo", "--var", "who=x", "--var", "base=" + shop.base])
    check("--var declared by a journey that --only leaves out is still accepted (exit 0)", r.code == 0,
          r.brief())
    other.stop()


def test_missing_secret(shop):
    # Issue 14: a missing {{secret.X}} failed the step at run time (exit 1, and a pushed
    # canary failure); it is now found before anything is sent (exit 2).
    d = tempdir()
    text = ('{\n'
            '  "name": "needs secret",\n'
            '  "variables": {"base": "%s"},\n'
            '  "steps": [\n'
            '    {"name": "health", "request": {"url": "{{base}}/healthz"}},\n'
            '    {"name": "login", "request": {"method": "POST", "url": "{{base}}/api/login",\n'
            '      "json": {"user": "u", "password": "{{secret.VIGIL_IT_SECRET}}"}}}\n'
            '  ]\n'
            '}\n' % shop.base)
    p = write_journey(d, "secret.json", text)
    before = shop.stats()
    r = run_probe(["run", p], unset=["VIGIL_IT_SECRET"])
    check("a secret whose environment variable is not set exits 2", r.code == 2, r.brief())
    check("missing secret: stderr names secret.json:7:41 and VIGIL_IT_SECRET",
          "secret.json:7:41" in r.stderr and "VIGIL_IT_SECRET" in r.stderr, r.brief())
    check("missing secret: not even the step before it was sent", shop.stats() == before,
          (before, shop.stats()))
    r = run_probe(["run", p], env={"VIGIL_IT_SECRET": ""})
    check("an empty secret exits 2 too", r.code == 2 and "empty" in r.stderr, r.brief())
    r = run_probe(["run", p, "--push", "http://127.0.0.1:9", "--app", "shop", "--version", "1.2.3"],
                  env={"VIGIL_TOKEN": "t"}, unset=["VIGIL_IT_SECRET"])
    check("missing secret with --push exits 2 (no canary failure is pushed)", r.code == 2, r.brief())
    check("missing secret: nothing was sent", shop.stats() == before, (before, shop.stats()))
    r = run_probe(["run", p], env={"VIGIL_IT_SECRET": "pw"})
    check("with the secret set the journey runs (2 requests)", r.code in (0, 1) and shop.stats() == before + 2,
          (r.brief(), shop.stats()))
    pe = write_journey(d, "env.json", journey("needs env", [
        {"request": {"url": "{{base}}/echo", "query": {"x": "{{env.VIGIL_IT_UNSET_ENV}}"}}}], {"base": shop.base}))
    now = shop.stats()
    r = run_probe(["run", pe], unset=["VIGIL_IT_UNSET_ENV"])
    check("an {{env.X}} that is not set exits 2, nothing sent",
          r.code == 2 and "VIGIL_IT_UNSET_ENV" in r.stderr and shop.stats() == now, r.brief())


def test_push_labels(shop):
    # Issue 14: with --push, a missing or invalid --app/--version was found only after the
    # run, when the collector answered 400 (exit 4).
    before = shop.stats()
    h = [HEALTH, "--var", "base=" + shop.base, "--push", "http://127.0.0.1:9"]
    env = {"VIGIL_TOKEN": "t"}
    for label, extra, word in [
        ("--push without --app or --version", [], "--app"),
        ("--push without --version", ["--app", "shop"], "--version"),
        ("--push without --app", ["--version", "1.2.3"], "--app"),
        ("--push with --version '1.2 beta'", ["--app", "shop", "--version", "1.2 beta"], "--version"),
        ("--push with --app of 65 characters", ["--app", "a" * 65, "--version", "1"], "--app"),
        ("--push with --region 'eu west'", ["--app", "shop", "--version", "1", "--region", "eu west"],
         "--region"),
    ]:
        r = run_probe(["run"] + h + extra, env=env)
        check("%s exits 2 before running, naming %s" % (label, word),
              r.code == 2 and word in r.stderr and "nothing was sent" in r.stderr, r.brief())
    check("bad push labels: nothing was sent", shop.stats() == before, (before, shop.stats()))
    r = run_probe(["run"] + h + ["--app", "shop", "--version", "1.2.3+b.7"], env=env)
    check("valid labels, collector unreachable: the run happens and exits 4", r.code == 4, r.brief())
    d = tempdir()
    r = run_probe(["schedule", "--every", "1s", "--push", "http://127.0.0.1:9", "--app", "shop",
                   "--spool", d, HEALTH, "--var", "base=" + shop.base], env=env, timeout=10)
    check("schedule --push without --version exits 2 at once", r.code == 2 and "--version" in r.stderr,
          r.brief())


def xmllint_schema(xml_path):
    """(ok, output) of xmllint --schema on a JUnit file, or None when xmllint is absent."""
    import shutil
    if not shutil.which("xmllint"):
        return None
    xsd = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "junit-jenkins.xsd")
    p = subprocess.run(["xmllint", "--noout", "--schema", xsd, xml_path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    return p.returncode == 0, p.stdout.decode("utf-8", "replace")


def test_junit_schema(shop, broken):
    # Issue 14: Jenkins' xunit schema rejected skipped= on <testsuites>; connection errors
    # were <failure>s (errors always 0); two journeys of one name gave duplicate suites.
    d = tempdir()
    closed = harness.Shop(password="x")
    closed_base = closed.base
    closed.stop()
    write_journey(d, "a/checkout.json", journey("checkout", [
        {"name": "health", "request": {"url": "{{base}}/healthz"}},
        {"name": "login", "request": {"method": "POST", "url": "{{base}}/api/login",
                                      "json": {"user": "u", "password": "wrong"}}, "expect": {"status": 200}},
        {"name": "after", "request": {"url": "{{base}}/healthz"}}], {"base": shop.base}))
    write_journey(d, "b/checkout.json", journey("checkout", [
        {"name": "refused", "request": {"url": "{{base}}/healthz"}},
        {"name": "never", "request": {"url": "{{base}}/healthz"}}], {"base": closed_base}))
    junit = os.path.join(d, "junit.xml")
    r = run_probe(["run", os.path.join(d, "a"), os.path.join(d, "b"), "--report", "junit:" + junit])
    check("junit journeys: exit 1", r.code == 1, r.brief())
    res = xmllint_schema(junit)
    if res is None:
        harness.diag("SKIP junit schema: xmllint not found (Debian package libxml2-utils)")
    else:
        check("JUnit with a failure, an error and skips validates against the Jenkins JUnit XSD",
              res[0], res[1][-600:])
    try:
        root, suites = junit_suites(junit)
    except (ET.ParseError, OSError) as exc:
        check("junit: well-formed XML", False, exc)
        return
    check("<testsuites> has no skipped attribute", "skipped" not in root.attrib, root.attrib)
    names = [s.get("name") for s in suites]
    check("two journeys named checkout give two distinct suite names", len(names) == 2 and len(set(names)) == 2
          and all(n.startswith("checkout") for n in names), names)
    by = {s.findall("testcase")[0].get("name"): s for s in suites if s.findall("testcase")}
    refused = by.get("refused")
    cases = refused.findall("testcase") if refused is not None else []
    check("a connection refused is an <error>, not a <failure>",
          cases and cases[0].find("error") is not None and cases[0].find("failure") is None,
          [ET.tostring(c)[:200] for c in cases])
    check("the suite with the refused connection counts errors=1 failures=0 skipped=1",
          refused is not None and refused.get("errors") == "1" and refused.get("failures") == "0"
          and refused.get("skipped") == "1", refused.attrib if refused is not None else None)
    login = by.get("health")
    check("the suite with a wrong status counts failures=1 errors=0",
          login is not None and login.get("failures") == "1" and login.get("errors") == "0",
          login.attrib if login is not None else None)
    check("<testsuites> totals: tests 5, failures 1, errors 1",
          root.get("tests") == "5" and root.get("failures") == "1" and root.get("errors") == "1", root.attrib)
    for label, args, env in [
        ("a passing run", ["run", HEALTH, "--var", "base=" + shop.base], None),
        ("the broken shop", ["run", CHECKOUT, "--var", "base=" + broken.base], {"SHOP_PASSWORD": broken.password}),
        ("--repeat 2", ["run", HEALTH, "--var", "base=" + shop.base, "--repeat", "2"], None),
    ]:
        jp = os.path.join(d, "j-%d.xml" % len(label))
        run_probe(args + ["--report", "junit:" + jp], env=env)
        res = xmllint_schema(jp)
        if res is not None:
            check("JUnit of %s validates against the Jenkins JUnit XSD" % label, res[0], res[1][-400:])
    r = run_probe(["run", HEALTH, HEALTH, "--var", "base=" + shop.base, "--report", "junit:" + junit])
    try:
        _, suites = junit_suites(junit)
        names = [s.get("name") for s in suites]
        check("the same journey file given twice still gives distinct suite names",
              len(names) == 2 and len(set(names)) == 2, names)
    except (ET.ParseError, OSError) as exc:
        check("junit twice: well-formed XML", False, exc)


def test_secret_masking(shop):
    d = tempdir()
    pw = shop.password
    p = write_journey(d, "secret.json", journey("secret", [
        {"name": "login with secret",
         "request": {"method": "POST", "url": "{{base}}/api/login",
                     "json": {"user": "m", "password": "{{secret.SHOP_PASSWORD}}"}},
         "expect": {"status": 200}},
        {"name": "echo secret",
         "request": {"method": "POST", "url": "{{base}}/echo?pw={{secret.SHOP_PASSWORD}}",
                     "headers": {"X-Secret": "{{secret.SHOP_PASSWORD}}"},
                     "json": {"password": "{{secret.SHOP_PASSWORD}}",
                              "note": "pw is {{secret.SHOP_PASSWORD}}"}},
         "expect": {"status": 200, "json": {"$.json.password": {"type": "string"}}},
         "capture": {"pw": {"json": "$.json.password"},
                     "note": {"json": "$.json.note"},
                     "hdr": {"json": "$.headers['x-secret']"},
                     "rx": {"regex": "\"note\": \"pw is ([^\"]*)\""}}},
        {"name": "fail showing secret",
         "request": {"method": "POST", "url": "{{base}}/echo",
                     "json": {"password": "{{secret.SHOP_PASSWORD}}"}},
         "expect": {"json": {"$.json.password": "not-the-password"}}},
    ], {"base": shop.base}))
    junit = os.path.join(d, "junit.xml")
    r, rep, _ = run_report(["run", p, "--report", "junit:" + junit], env={"SHOP_PASSWORD": pw})
    steps = steps_of(rep)
    check("secret journey: exit 1 (last step fails on purpose)", r.code == 1, r.brief())
    check("secret journey: login with {{secret.SHOP_PASSWORD}} passed, so the real value was sent",
          step_named(steps, "login with secret").get("result") == "passed", show(steps))
    check("secret journey: the echo step passed", step_named(steps, "echo secret").get("result") == "passed",
          show(steps))
    caps = captures(step_named(steps, "echo secret"))
    check("captured secret values are masked as *** in the report",
          caps.get("pw") == "***" and caps.get("hdr") == "***" and caps.get("rx") == "***", caps)
    check("a capture with the secret inside text is masked (pw is ***)", caps.get("note") == "pw is ***", caps)
    check("a url holding the secret is masked in the report",
          "***" in str(step_named(steps, "echo secret").get("url", "")), step_named(steps, "echo secret").get("url"))
    f = failure(step_named(steps, "fail showing secret"), "json $.json.password")
    shown = "%s %s" % ((f or {}).get("actual", ""), (f or {}).get("message", ""))
    check("a failure showing the secret value shows *** instead",
          f is not None and "***" in shown and pw not in shown,
          failures_of(step_named(steps, "fail showing secret")))
    rep_text = json.dumps(rep) if rep is not None else ""
    for text, where in ((r.stdout, "stdout"), (r.stderr, "stderr"), (rep_text, "the JSON report"),
                        (read_text(junit), "the JUnit report")):
        check("the secret never appears in %s" % where, pw not in text, "found %r" % pw)


def test_timing_limits(shop):
    d = tempdir()
    write_journey(d, "a_slow.json", journey("slow", [
        {"name": "slow", "request": {"url": "{{base}}/slow", "query": {"ms": "400"}},
         "expect": {"status": 200, "max_ms": 150}}], {"base": shop.base}))
    write_journey(d, "b_timeout.json", journey("timeout", [
        {"name": "too slow", "request": {"url": "{{base}}/slow?ms=3000"}, "timeout_ms": 300},
        {"name": "never", "request": {"url": "{{base}}/healthz"}}], {"base": shop.base}))
    write_journey(d, "c_default_timeout.json", journey("defaults timeout", [
        {"name": "too slow by default", "request": {"url": "{{base}}/slow?ms=3000"}}],
        {"base": shop.base}, {"timeout_ms": 300}))
    r, rep, _ = run_report(["run", d])
    js = by_name(rep)
    check("slow/timeout journeys: exit 1", r.code == 1, r.brief())
    s = (js.get("slow", {}).get("steps") or [{}])[0]
    f = failure(s, "max_ms")
    check("a 400 ms response with max_ms 150 fails with a max_ms failure",
          s.get("result") == "failed" and f is not None, s)
    check("the max_ms failure still reports status 200", s.get("status") == 200, s.get("status"))
    t = (js.get("timeout", {}).get("steps") or [{}])
    f = failure(t[0], "request")
    check("timeout_ms 300 on a 3 s response fails with a request failure",
          t[0].get("result") == "failed" and f is not None, t[0])
    check("the timed-out step reports status 0", t[0].get("status") == 0, t[0].get("status"))
    check("the step after a timeout is skipped", len(t) == 2 and t[1].get("result") == "skipped",
          results(t))
    t2 = (js.get("defaults timeout", {}).get("steps") or [{}])[0]
    check("defaults.timeout_ms applies to steps", t2.get("result") == "failed"
          and failure(t2, "request") is not None, t2)
    check("timeouts cut the run short (well under 3 s)", r.elapsed < 2.5, r.elapsed)


def test_retries(shop):
    d = tempdir()
    k = secrets.token_hex(4)
    write_journey(d, "a.json", journey("retry passes", [
        {"name": "flaky", "request": {"url": "{{base}}/flaky", "query": {"key": k + "a", "fail": "2"}},
         "retries": 3, "retry_interval_ms": 50, "expect": {"status": 200}}], {"base": shop.base}))
    write_journey(d, "b.json", journey("retry gives up", [
        {"name": "flaky", "request": {"url": "{{base}}/flaky?key=%sb&fail=5" % k},
         "retries": 1, "retry_interval_ms": 50},
        {"name": "after", "request": {"url": "{{base}}/healthz"}}], {"base": shop.base}))
    write_journey(d, "c.json", journey("retry backoff", [
        {"name": "flaky", "request": {"url": "{{base}}/flaky?key=%sc&fail=2" % k},
         "retries": 2, "retry_interval_ms": 150, "retry_backoff": 2}], {"base": shop.base}))
    write_journey(d, "d.json", journey("retry defaults", [
        {"name": "flaky", "request": {"url": "{{base}}/flaky?key=%sd&fail=2" % k}}],
        {"base": shop.base}, {"retries": 2, "retry_interval_ms": 50}))
    write_journey(d, "e.json", journey("no retry", [
        {"name": "flaky", "request": {"url": "{{base}}/flaky?key=%se&fail=1" % k}}], {"base": shop.base}))
    before = shop.stats()
    r, rep, _ = run_report(["run", d])
    after = shop.stats()
    js = by_name(rep)

    def first(name):
        return (js.get(name, {}).get("steps") or [{}])[0]

    check("retries run: exit 1 (one journey gives up)", r.code == 1, r.brief())
    a = first("retry passes")
    check("fails twice then 200 with retries 3: passed with attempts 3",
          a.get("result") == "passed" and a.get("attempts") == 3 and a.get("status") == 200, a)
    check("the journey whose step passed on a retry is passed", js.get("retry passes", {}).get("passed") is True,
          js.get("retry passes", {}).get("passed"))
    b = first("retry gives up")
    check("fails 5 times with retries 1: failed after 2 attempts with status 503",
          b.get("result") == "failed" and b.get("attempts") == 2 and b.get("status") == 503, b)
    f = failure(b, "status")
    check("the given-up step has a status failure with actual 503",
          f is not None and str(f.get("actual")) == "503", failures_of(b))
    c = first("retry backoff")
    dur = js.get("retry backoff", {}).get("duration_ms", 0)
    check("retry_backoff 2: passes on attempt 3 after waiting 150 + 300 ms",
          c.get("result") == "passed" and c.get("attempts") == 3 and isinstance(dur, (int, float))
          and dur >= 440, (c.get("attempts"), dur))
    dd = first("retry defaults")
    check("defaults.retries applies: passes with attempts 3", dd.get("result") == "passed"
          and dd.get("attempts") == 3, dd)
    e = first("no retry")
    check("retries default to 0: a 503 fails after 1 attempt", e.get("result") == "failed"
          and e.get("attempts") == 1, e)
    check("the shop saw exactly one request per attempt (3+2+3+3+1)", after == before + 12, (before, after))


def test_redirects(shop):
    d = tempdir()
    write_journey(d, "a.json", journey("redirects", [
        {"name": "follow", "request": {"url": "{{base}}/redirect?to=/echo/landed"}, "follow_redirects": True,
         "expect": {"status": 200, "json": {"$.path": "/echo/landed"}}},
        {"name": "no follow by default", "request": {"url": "{{base}}/redirect?to=/echo/landed"},
         "expect": {"status": 302, "headers": {"Location": {"contains": "/echo/landed"}}}},
        {"name": "explicit no follow", "request": {"url": "{{base}}/redirect?to=/echo/landed"},
         "follow_redirects": False, "expect": {"status": 302}},
        {"name": "two hops", "request": {"url": "{{base}}/redirect", "query": {"to": "/redirect?to=/echo/two"}},
         "follow_redirects": True, "max_redirects": 5,
         "expect": {"status": 200, "json": {"$.path": "/echo/two"}}},
    ], {"base": shop.base}))
    write_journey(d, "b.json", journey("redirect defaults", [
        {"name": "follow via defaults", "request": {"url": "{{base}}/redirect?to=/echo/d"},
         "expect": {"status": 200, "json": {"$.path": "/echo/d"}}}],
        {"base": shop.base}, {"follow_redirects": True}))
    write_journey(d, "c.json", journey("too many redirects", [
        {"name": "two hops, one allowed",
         "request": {"url": "{{base}}/redirect", "query": {"to": "/redirect?to=/echo/two"}},
         "follow_redirects": True, "max_redirects": 1}], {"base": shop.base}))
    r, rep, _ = run_report(["run", d])
    js = by_name(rep)
    a = js.get("redirects", {}).get("steps") or []
    check("redirects run exits 1 (only the max_redirects journey fails)", r.code == 1, r.brief())
    for name in ("follow", "no follow by default", "explicit no follow", "two hops"):
        s = step_named(a, name)
        check("redirect step '%s' passes" % name, s.get("result") == "passed", s)
    check("defaults.follow_redirects true follows",
          (js.get("redirect defaults", {}).get("passed")) is True, js.get("redirect defaults"))
    c = (js.get("too many redirects", {}).get("steps") or [{}])[0]
    check("max_redirects 1 on a two-hop chain fails the step", c.get("result") == "failed", c)


def test_cookies(shop):
    d = tempdir()
    write_journey(d, "a.json", journey("cookie jar", [
        {"name": "set", "request": {"url": "{{base}}/cookie/set?flavor=choc"},
         "capture": {"flavor": {"cookie": "flavor"}}},
        {"name": "check", "request": {"url": "{{base}}/cookie/check?name=flavor"},
         "expect": {"status": 200, "json": {"$.cookies.flavor": "choc"}}},
    ], {"base": shop.base}))
    write_journey(d, "b.json", journey("fresh jar", [
        {"name": "check without set", "request": {"url": "{{base}}/cookie/check?name=flavor"},
         "expect": {"status": 400}},
    ], {"base": shop.base}))
    r, rep, _ = run_report(["run", d, "--parallel", "1"])
    js = by_name(rep)
    a = js.get("cookie jar", {}).get("steps") or []
    check("cookies run exits 0", r.code == 0, r.brief())
    check("a cookie set by one step is sent back by the next (cookie/check 200)",
          results(a) == ["passed", "passed"], show(a))
    check("cookie capture reads the jar (flavor = choc)", captures(step_named(a, "set")).get("flavor") == "choc",
          captures(step_named(a, "set")))
    check("another journey run starts with an empty cookie jar (cookie/check 400)",
          js.get("fresh jar", {}).get("passed") is True, show(js.get("fresh jar", {}).get("steps") or []))


def test_captures(shop):
    d = tempdir()
    p = write_journey(d, "cap.json", journey("captures", [
        {"name": "status", "request": {"url": "{{base}}/status/418"}, "expect": {"status": 418},
         "capture": {"code": {"status": True}}},
        {"name": "header", "request": {"url": "{{base}}/echo"},
         "capture": {"ctype": {"header": "content-type"}}},
        {"name": "regex", "request": {"url": "{{base}}/echo?word=zebra42"},
         "capture": {"digits": {"regex": "zebra([0-9]+)"},
                     "animal": {"regex": "(ze)(bra)([0-9]+)", "group": 2}}},
        {"name": "cookie", "request": {"url": "{{base}}/cookie/set?kind=oat"},
         "capture": {"kind": {"cookie": "kind"}}},
        {"name": "json list", "request": {"method": "POST", "url": "{{base}}/echo",
                                          "json": {"items": [{"sku": "A"}, {"sku": "B"}], "n": 7}},
         "capture": {"skus": {"json": "$.json.items[*].sku"}, "last": {"json": "$.json.items[-1].sku"},
                     "n": {"json": "$.json.n"}}},
        {"name": "use captures",
         "request": {"method": "POST", "url": "{{base}}/echo", "query": {"code": "{{code}}"},
                     "json": {"code": "{{code}}", "text": "code {{code}}", "n": "{{n}}", "skus": "{{skus}}",
                              "digits": "{{digits}}", "kind": "{{kind}}", "ctype": "{{ctype}}"}},
         "expect": {"json": {"$.json.code": {"eq": 418, "type": "integer"},
                             "$.json.text": "code 418",
                             "$.json.n": {"type": "number", "eq": 7},
                             "$.json.skus": {"type": "array", "count": 2, "contains": "B"},
                             "$.json.digits": "42",
                             "$.json.kind": "oat",
                             "$.json.ctype": {"contains": "application/json"},
                             "$.query.code": "418"}}},
    ], {"base": shop.base}))
    r, rep, _ = run_report(["run", p])
    steps = steps_of(rep)
    check("captures journey exits 0", r.code == 0, (r.brief(), show(steps)))
    c = {}
    for s in steps:
        c.update(captures(s))
    check("status capture is the number 418", c.get("code") == 418 and not isinstance(c.get("code"), bool),
          c.get("code"))
    check("header capture is case-insensitive (content-type)", "application/json" in str(c.get("ctype")),
          c.get("ctype"))
    check("regex capture defaults to group 1 (42)", c.get("digits") == "42", c.get("digits"))
    check("regex capture with group 2 (bra)", c.get("animal") == "bra", c.get("animal"))
    check("cookie capture (kind = oat)", c.get("kind") == "oat", c.get("kind"))
    check("[*] capture matching several is a list [A, B]", c.get("skus") == ["A", "B"], c.get("skus"))
    check("negative index capture [-1] is B", c.get("last") == "B", c.get("last"))
    check("a captured number stays a number", c.get("n") == 7, c.get("n"))
    check("captures are sent by later steps as typed values and text (use captures passed)",
          step_named(steps, "use captures").get("result") == "passed",
          failures_of(step_named(steps, "use captures")))

    r, rep, _ = run_report(["run", p, "--var", "code=999", "--var", "kind=rye"])
    check("captures win over --var of the same name (use captures still passes)",
          r.code == 0 and step_named(steps_of(rep), "use captures").get("result") == "passed",
          (r.brief(), failures_of(step_named(steps_of(rep), "use captures"))))

    p2 = write_journey(d, "nothing.json", journey("capture nothing", [
        {"name": "missing", "request": {"url": "{{base}}/echo"}, "capture": {"token": {"json": "$.token"}}},
    ], {"base": shop.base}))
    r, rep, _ = run_report(["run", p2])
    s = (steps_of(rep) or [{}])[0]
    f = failure(s, "capture token")
    check("a capture that finds nothing fails the step (exit 1)", r.code == 1 and s.get("result") == "failed", s)
    check('capture failure: check "capture token", message "$.token matched nothing"',
          f is not None and "matched nothing" in str(f.get("message")), failures_of(s))

    # Captures are taken only from a response that met every expectation (probe/README.md,
    # "Captures"): a failed step reports its own failures and nothing about its captures,
    # neither the one that would match nothing nor the one that would match.
    p3 = write_journey(d, "failed.json", journey("failed step with captures", [
        {"name": "wrong status", "request": {"url": "{{base}}/echo?word=zebra42"},
         "expect": {"status": 201},
         "capture": {"token": {"json": "$.token"}, "digits": {"regex": "zebra([0-9]+)"}}},
    ], {"base": shop.base}))
    r, rep, _ = run_report(["run", p3])
    s = (steps_of(rep) or [{}])[0]
    got = [(f.get("check"), f.get("expected"), f.get("actual")) for f in failures_of(s)]
    check("a failed step with captures: exit 1, the step failed after 1 attempt",
          r.code == 1 and s.get("result") == "failed" and s.get("attempts") == 1, show([s]))
    check("... its failures are exactly [status: expected 201, actual 200]",
          got == [("status", "201", "200")], failures_of(s))
    check("... and it has no captures", "captures" not in s, s.get("captures"))
    check("... the console reports no capture that matched nothing",
          "matched nothing" not in r.stdout, r.stdout[-400:])


def test_requests(shop):
    d = tempdir()
    p = write_journey(d, "req.json", journey("requests", [
        {"name": "query", "request": {"url": "{{base}}/echo?pre=1",
                                      "query": {"q": "a b&c=d", "u": "\u00fc/?#", "who": "{{who}}"}},
         "expect": {"json": {"$.method": "GET", "$.query.pre": "1", "$.query.q": "a b&c=d",
                             "$.query.u": "\u00fc/?#", "$.query.who": "world"}}},
        {"name": "form", "request": {"method": "POST", "url": "{{base}}/echo",
                                     "form": {"name": "Jane Doe", "expr": "1+1=2&3", "who": "{{who}}"}},
         "expect": {"json": {"$.method": "POST", "$.form.name": "Jane Doe", "$.form.expr": "1+1=2&3",
                             "$.form.who": "world",
                             "$.headers['content-type']": {"contains": "application/x-www-form-urlencoded"}}}},
        {"name": "raw body", "request": {"method": "PUT", "url": "{{base}}/echo",
                                         "headers": {"Content-Type": "text/plain"}, "body": "hello {{who}}"},
         "expect": {"json": {"$.method": "PUT", "$.body": "hello world",
                             "$.headers['content-type']": "text/plain"}}},
        {"name": "json", "request": {"method": "PATCH", "url": "{{base}}/echo",
                                     "json": {"a": [1, "{{who}}"], "nested": {"t": True, "z": None}}},
         "expect": {"status": "2xx",
                    "headers": {"Content-Length": {"matches": "^[0-9]+$"}, "X-Nope": {"exists": False}},
                    "body": {"matches": "\"method\": \"PATCH\""},
                    "json": {"$.method": "PATCH", "$.json.a[1]": "world", "$.json.nested.t": True,
                             "$.json.nested.z": {"type": "null"},
                             "$.json.a": {"count": 2, "type": "array"},
                             "$.json.a[0]": {"lt": 2, "ge": 1, "type": "integer", "ne": 3},
                             "$.json.missing": {"exists": False},
                             "$.json.nested": {"type": "object", "count_eq": 2},
                             "$.json.a.count()": 2,
                             "$.json.*": {"count_ge": 2},
                             "$['json']['a'][-1]": {"eq": "world"},
                             "$.headers['content-type']": {"contains": "application/json"}}}},
        {"name": "json content type kept", "request": {"method": "POST", "url": "{{base}}/echo",
                                                       "headers": {"Content-Type": "application/vnd.api+json"},
                                                       "json": {"k": "v"}},
         "expect": {"json": {"$.headers['content-type']": "application/vnd.api+json", "$.json.k": "v"}}},
        {"name": "any method", "request": {"method": "PURGE", "url": "{{base}}/echo"},
         "expect": {"json": {"$.method": "PURGE"}}},
        {"name": "header merge", "request": {"url": "{{base}}/echo", "headers": {"X-Both": "step",
                                                                                  "X-Who": "{{who}}"}},
         "expect": {"json": {"$.headers['x-canary']": "always", "$.headers['x-both']": "step",
                             "$.headers['x-who']": "world"}}},
        {"name": "builtins", "request": {"method": "POST", "url": "{{base}}/echo",
                                         "query": {"ms": "{{now_ms}}", "s": "{{now_s}}",
                                                   "r": "{{random_int:5:9}}", "i": "{{random_int}}"},
                                         "json": {"uuid": "{{uuid}}", "env": "{{env.VIGIL_IT_ENV}}"}},
         "expect": {"json": {"$.json.uuid": {"matches": "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"},
                             "$.query.ms": {"matches": "^1[0-9]{12}$"},
                             "$.query.s": {"matches": "^1[0-9]{9}$"},
                             "$.query.r": {"matches": "^[5-9]$"},
                             "$.query.i": {"matches": "^[0-9]{1,10}$"},
                             "$.json.env": "from-env"}}},
        {"name": "default status class", "request": {"url": "{{base}}/status/204"}},
        {"name": "status list", "request": {"url": "{{base}}/status/201"}, "expect": {"status": [200, 201]}},
        {"name": "status class 4xx", "request": {"url": "{{base}}/status/404"}, "expect": {"status": "4xx"}},
        {"name": "wait", "request": {"url": "{{base}}/healthz"}, "wait_ms": 300},
    ], {"base": shop.base, "who": "world"},
        {"headers": {"X-Canary": "always", "X-Both": "default"}}))
    r, rep, _ = run_report(["run", p], env={"VIGIL_IT_ENV": "from-env"})
    steps = steps_of(rep)
    check("requests journey exits 0", r.code == 0, r.brief())
    for s in steps:
        check("request step '%s' passes" % s.get("name"), s.get("result") == "passed", failures_of(s))
    check("requests journey reports all 12 steps", len(steps) == 12, len(steps))
    dur = journeys_of(rep)[0].get("duration_ms", 0) if journeys_of(rep) else 0
    check("wait_ms 300 delays the step (journey takes >= 300 ms)", isinstance(dur, (int, float)) and dur >= 290,
          dur)

    ps = write_journey(d, "shadow.json", journey("shadow", [
        {"name": "builtins win", "request": {"url": "{{base}}/echo", "query": {"u": "{{uuid}}"}},
         "expect": {"json": {"$.query.u": {"matches": "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"}}}},
    ], {"base": shop.base, "uuid": "shadowed"}))
    r = run_probe(["run", ps, "--var", "uuid=also-shadowed"])
    check("built-ins are never shadowed by variables or --var ({{uuid}} stays a UUID)", r.code == 0, r.brief())

    # failing predicates name the check
    fd = tempdir()
    write_journey(fd, "a.json", journey("json fails", [
        {"name": "n", "request": {"method": "POST", "url": "{{base}}/echo", "json": {"n": 4}},
         "expect": {"json": {"$.json.n": {"eq": 5}}}}], {"base": shop.base}))
    write_journey(fd, "b.json", journey("header fails", [
        {"name": "h", "request": {"url": "{{base}}/echo"},
         "expect": {"headers": {"X-Missing": {"exists": True}}}}], {"base": shop.base}))
    write_journey(fd, "c.json", journey("body fails", [
        {"name": "b", "request": {"url": "{{base}}/healthz"}, "expect": {"body": {"contains": "unhealthy"}}}],
        {"base": shop.base}))
    write_journey(fd, "d.json", journey("default expect fails", [
        {"name": "404", "request": {"url": "{{base}}/status/404"}}], {"base": shop.base}))
    r, rep, _ = run_report(["run", fd])
    js = by_name(rep)

    def only_step(name):
        return (js.get(name, {}).get("steps") or [{}])[0]

    check("failing predicates run exits 1 with 4 failed journeys",
          r.code == 1 and (rep or {}).get("summary", {}).get("journeys_passed") == 0
          and len(js) == 4, r.brief())
    f = failure(only_step("json fails"), "json $.json.n")
    check('json predicate failure: check "json $.json.n", expected 5, actual 4',
          f is not None and "5" in str(f.get("expected")) and "4" in str(f.get("actual")),
          failures_of(only_step("json fails")))
    check('header predicate failure: check "header X-Missing"',
          failure(only_step("header fails"), "header X-Missing") is not None,
          failures_of(only_step("header fails")))
    check('body predicate failure: check "body"', failure(only_step("body fails"), "body") is not None,
          failures_of(only_step("body fails")))
    f = failure(only_step("default expect fails"), "status")
    check("default expectation is 2xx: a 404 fails with a status failure (actual 404)",
          f is not None and str(f.get("actual")) == "404", failures_of(only_step("default expect fails")))


def test_includes(shop):
    d = tempdir()
    main = write_journey(d, "main.json", journey("main", [
        {"include": "parts/greet.json", "variables": {"who": "{{name}}"}},
        {"name": "after include", "request": {"url": "{{base}}/echo",
                                              "query": {"seen": "{{greeting}}", "extra": "{{extra}}"}},
         "expect": {"json": {"$.query.extra": "from-include", "$.query.seen": {"matches": "^hello "},
                             "$.headers['x-from']": "main"}},
         "capture": {"seen": {"json": "$.query.seen"}}},
    ], {"base": shop.base, "name": "alice"}, {"headers": {"X-From": "main"}}))
    write_journey(d, "parts/greet.json", journey("greet", [
        {"name": "greet", "request": {"method": "POST", "url": "{{base}}/echo",
                                      "json": {"greeting": "hello {{who}}"}},
         "expect": {"json": {"$.json.greeting": {"matches": "^hello [a-z]+$"},
                             "$.headers['x-from']": "greet"}},
         "capture": {"greeting": {"json": "$.json.greeting"}}},
    ], {"who": "nobody", "extra": "from-include", "base": "http://127.0.0.1:9"},
        {"headers": {"X-From": "greet"}}))
    r, rep, _ = run_report(["run", main])
    steps = steps_of(rep)
    check("include: journey exits 0", r.code == 0, (r.brief(), show(steps)))
    check("include: the included step is spliced in before the next step",
          [s.get("name") for s in steps] == ["greet", "after include"], [s.get("name") for s in steps])
    check("include: included steps keep their own defaults, the includer's steps keep theirs",
          results(steps) == ["passed", "passed"], show(steps))
    check("include: its variables are rendered from the includer's (hello alice)",
          captures(step_named(steps, "greet")).get("greeting") == "hello alice", captures(step_named(steps, "greet")))
    check("include: captures of included steps are visible after them",
          captures(step_named(steps, "after include")).get("seen") == "hello alice",
          captures(step_named(steps, "after include")))
    r, rep, _ = run_report(["run", main, "--var", "name=bob"])
    check("include: --var name=bob flows through the include's variables (hello bob)",
          r.code == 0 and captures(step_named(steps_of(rep), "greet")).get("greeting") == "hello bob",
          (r.brief(), show(steps_of(rep))))
    r, rep, _ = run_report(["run", main, "--var", "who=carol"])
    check("include: the include's own variables win over --var (still hello alice)",
          r.code == 0 and captures(step_named(steps_of(rep), "greet")).get("greeting") == "hello alice",
          (r.brief(), show(steps_of(rep))))

    before = shop.stats()
    cyc = os.path.join(d, "cycle")
    write_journey(cyc, "a.json", journey("a", [{"name": "a1", "request": {"url": shop.base + "/healthz"}},
                                             {"include": "b.json"}]))
    write_journey(cyc, "b.json", journey("b", [{"include": "a.json"}]))
    write_journey(cyc, "self.json", journey("self", [{"include": "self.json"}]))
    r = run_probe(["run", os.path.join(cyc, "a.json")])
    check("include cycle a -> b -> a exits 2", r.code == 2, r.brief())
    check("include cycle error names the files", "a.json" in r.stderr or "b.json" in r.stderr, r.stderr[-300:])
    r = run_probe(["run", os.path.join(cyc, "self.json")])
    check("a file including itself exits 2", r.code == 2, r.brief())
    v = run_probe(["validate", os.path.join(cyc, "a.json")])
    check("probe validate reports the include cycle (exit 2)", v.code == 2, v.brief())
    check("include cycles: nothing was sent", shop.stats() == before, (before, shop.stats()))


def test_repeat_parallel(shop):
    d = tempdir()
    p = write_journey(d, "rep.json", journey("rep", [
        {"name": "slow", "request": {"url": "{{base}}/slow?ms=300&key={{key}}"}}],
        {"base": shop.base, "key": None}))
    junit = os.path.join(d, "junit.xml")
    r, rep, _ = run_report(["run", p, "--repeat", "3", "--parallel", "2", "--report", "junit:" + junit,
                            "--var", "key=par2"])
    _, stats = shop.request("GET", "/stats")
    stats = ((stats or {}).get("slow") or {}).get("par2")
    js = journeys_of(rep)
    check("--repeat 3 --parallel 2 exits 0", r.code == 0, r.brief())
    check("--repeat 3 yields 3 journey runs with iterations 1, 2, 3",
          len(js) == 3 and sorted(j.get("iteration") for j in js) == [1, 2, 3],
          [(j.get("name"), j.get("iteration")) for j in js])
    check("--repeat 3: summary counts 3 journeys", (rep or {}).get("summary", {}).get("journeys") == 3,
          (rep or {}).get("summary"))
    check("--repeat 3: three distinct trace ids", len({j.get("trace_id") for j in js}) == 3,
          [j.get("trace_id") for j in js])
    check("--parallel 2: the shop saw at most 2 (and at least 2) requests in flight",
          isinstance(stats, dict) and stats.get("max_in_flight") == 2, stats)
    check("--repeat 3: three PASS lines", len(console_lines(r, "PASS")) == 3, r.stdout[-400:])
    try:
        _, suites = junit_suites(junit)
        check("--repeat 3: JUnit testsuites named 'rep #1', 'rep #2', 'rep #3'",
              sorted(s.get("name") for s in suites) == ["rep #1", "rep #2", "rep #3"],
              [s.get("name") for s in suites])
    except (ET.ParseError, OSError) as exc:
        check("--repeat 3: JUnit is well-formed", False, exc)
    r = run_probe(["run", p, "--repeat", "2", "--parallel", "1", "--var", "key=par1"])
    _, stats = shop.request("GET", "/stats")
    stats = ((stats or {}).get("slow") or {}).get("par1")
    check("--parallel 1 runs one journey run at a time", r.code == 0 and isinstance(stats, dict)
          and stats.get("max_in_flight") == 1, (r.brief(), stats))


def test_tls():
    d = tempdir("vigil-tls-")
    days = 30
    try:
        cert, key = harness.make_cert(d, days, names=("localhost", "shop.vigil.test"))
    except Exception as exc:
        check("openssl makes a self-signed certificate", False, exc)
        return
    shop = harness.Shop(tls_cert=cert, tls_key=key, password="tls-" + secrets.token_hex(4))
    end = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-enddate"], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.strip().split("=", 1)[-1]
    not_after = datetime.datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc)
    port = shop.port
    url = "https://localhost:%d" % port
    p = write_journey(d, "tls.json", journey("tls", [
        {"name": "echo", "request": {"url": "{{base}}/echo"}, "capture": {"host": {"json": "$.headers.host"}}},
    ], {"base": url}))
    before = shop.stats()
    r, rep, _ = run_report(["run", p])
    s = (steps_of(rep) or [{}])[0]
    f = failure(s, "request")
    check("https with a self-signed cert fails verification by default (exit 1)", r.code == 1, r.brief())
    check("verification failure is a request failure mentioning the certificate",
          f is not None and "certificate" in str(f.get("message", "")).lower(), failures_of(s))
    check("verification failure reports status 0", s.get("status") == 0, s.get("status"))
    check("verification failure: no HTTP request reached the shop", shop.stats() == before,
          (before, shop.stats()))

    r, rep, _ = run_report(["run", p, "--cacert", cert])
    s = (steps_of(rep) or [{}])[0]
    tls = s.get("tls") or {}
    check("--cacert with the self-signed cert passes (exit 0)", r.code == 0, r.brief())
    check("https step reports a tls object", isinstance(s.get("tls"), dict), s.get("tls"))
    dte = tls.get("days_to_expiry")
    check("tls.days_to_expiry matches openssl -days %d (within 1)" % days,
          isinstance(dte, (int, float)) and abs(dte - days) <= 1, dte)
    ce = str(tls.get("cert_expiry", ""))
    ok = False
    try:
        got = datetime.datetime.strptime(re.sub(r"\.\d+Z$", "Z", ce), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        ok = abs((got - not_after).total_seconds()) <= 1
    except ValueError:
        pass
    check("tls.cert_expiry is the certificate's notAfter in UTC RFC 3339", ok, (ce, end))
    check("https step over HTTP/1.1-only server reports http_version 1.1", s.get("http_version") == "1.1",
          s.get("http_version"))
    check("--cacert run: report insecure is false", (rep or {}).get("insecure") is False,
          (rep or {}).get("insecure"))

    r, rep, _ = run_report(["run", p, "--insecure"])
    check("--insecure passes without the CA (exit 0)", r.code == 0, r.brief())
    check("--insecure is said in the report (insecure: true)", (rep or {}).get("insecure") is True,
          (rep or {}).get("insecure"))

    pt = write_journey(d, "tls_expect.json", journey("tls expect", [
        {"name": "in range", "request": {"url": "{{base}}/healthz"},
         "expect": {"tls": {"days_to_expiry": {"ge": days - 1, "le": days}}}},
        {"name": "too soon", "request": {"url": "{{base}}/healthz"},
         "expect": {"tls": {"days_to_expiry": {"gt": 60}}}},
    ], {"base": url}))
    r, rep, _ = run_report(["run", pt, "--cacert", cert])
    steps = steps_of(rep)
    check("tls.days_to_expiry expectation: in-range passes, > 60 fails (exit 1)",
          r.code == 1 and results(steps) == ["passed", "failed"], (r.brief(), show(steps)))
    check('tls.days_to_expiry failure names check "tls.days_to_expiry"',
          failure(step_named(steps, "too soon"), "tls.days_to_expiry") is not None,
          failures_of(step_named(steps, "too soon")))

    r = run_probe(["run", p, "--cacert", cert, "--resolve", "localhost:%d:127.0.0.1" % port])
    check("--resolve localhost:PORT:127.0.0.1 with https://localhost:PORT passes", r.code == 0, r.brief())

    pr = write_journey(d, "resolve.json", journey("resolve", [
        {"name": "echo", "request": {"url": "https://shop.vigil.test:%d/echo" % port},
         "capture": {"host": {"json": "$.headers.host"}}}]))
    r, rep, _ = run_report(["run", pr, "--cacert", cert, "--resolve", "shop.vigil.test:%d:127.0.0.1" % port])
    s = (steps_of(rep) or [{}])[0]
    check("--resolve sends an unresolvable name to 127.0.0.1, verifying the cert for that name (exit 0)",
          r.code == 0, r.brief())
    check("--resolve keeps the Host header (shop saw shop.vigil.test:PORT)",
          captures(s).get("host") == "shop.vigil.test:%d" % port, captures(s))

    pc = write_journey(d, "connect_to.json", journey("connect to", [
        {"name": "echo", "request": {"url": "https://shop.vigil.test/echo"},
         "capture": {"host": {"json": "$.headers.host"}}}]))
    r, rep, _ = run_report(["run", pc, "--cacert", cert, "--connect-to", "shop.vigil.test:443:127.0.0.1:%d" % port])
    s = (steps_of(rep) or [{}])[0]
    check("--connect-to shop.vigil.test:443:127.0.0.1:PORT passes", r.code == 0, r.brief())
    check("--connect-to keeps the Host header (shop.vigil.test)", captures(s).get("host") == "shop.vigil.test",
          captures(s))

    pm = write_journey(d, "mismatch.json", journey("mismatch", [
        {"name": "echo", "request": {"url": "https://other.vigil.test:%d/echo" % port}}]))
    r, rep, _ = run_report(["run", pm, "--cacert", cert, "--resolve", "other.vigil.test:%d:127.0.0.1" % port])
    s = (steps_of(rep) or [{}])[0]
    check("a name not in the certificate fails verification with a request failure",
          r.code == 1 and failure(s, "request") is not None, (r.brief(), failures_of(s)))
    shop.stop()

    # mTLS: a shop that requires a client certificate
    try:
        ccert, ckey = harness.make_cert(d, 10, names=("probe-client",), ips=(), stem="client-")
    except Exception as exc:
        check("openssl makes a client certificate", False, exc)
        return
    mshop = harness.Shop(tls_cert=cert, tls_key=key, client_ca=ccert)
    pm = write_journey(d, "mtls.json", journey("mtls", [
        {"name": "echo", "request": {"url": "https://localhost:%d/echo" % mshop.port},
         "capture": {"cn": {"json": "$.client_cert"}}}]))
    r, rep, _ = run_report(["run", pm, "--cacert", cert])
    s = (steps_of(rep) or [{}])[0]
    check("a shop requiring a client certificate refuses probe without --cert (request failure)",
          r.code == 1 and failure(s, "request") is not None, (r.brief(), failures_of(s)))
    r, rep, _ = run_report(["run", pm, "--cacert", cert, "--cert", ccert, "--key", ckey])
    s = (steps_of(rep) or [{}])[0]
    check("--cert/--key present the client certificate (mTLS passes)", r.code == 0, (r.brief(), failures_of(s)))
    check("the shop saw the client certificate probe-client", captures(s).get("cn") == "probe-client",
          captures(s))
    mshop.stop()


class ForwardProxy:
    """A small real HTTP forward proxy on 127.0.0.1 (absolute-form GET/POST, no CONNECT):
    it forwards each request to its target and counts them."""

    def __init__(self):
        import http.server
        import socketserver
        import threading
        import urllib.parse
        outer = self
        self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self):
                outer.seen.append(self.path)
                u = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-connection", "connection", "host")}
                import http.client as hc
                conn = hc.HTTPConnection(u.hostname, u.port or 80, timeout=10)
                conn.request(self.command, (u.path or "/") + ("?" + u.query if u.query else ""),
                             body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Via", "1.1 vigil-test-proxy")
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = _forward

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        harness._cleanups.append(self.stop)

    def stop(self):
        try:
            self.server.shutdown()
            self.server.server_close()
        except Exception:
            pass


def test_proxy(shop):
    # Issue 14: libcurl honoured http_proxy / ALL_PROXY silently; --proxy, a note, and the
    # proxy named when a request through it fails. A scheme-less URL is an error.
    proxy = ForwardProxy()
    noproxy = ["no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    h = [HEALTH, "--var", "base=" + shop.base]
    r = run_probe(["run"] + h, env={"http_proxy": proxy.url}, unset=noproxy)
    check("with http_proxy set the run goes through the proxy (exit 0, proxy saw 2 requests)",
          r.code == 0 and len(proxy.seen) == 2, (r.brief(), proxy.seen))
    check("with http_proxy set probe says so on stderr, naming the proxy",
          "http_proxy=" + proxy.url in r.stderr, r.brief())
    del proxy.seen[:]
    r = run_probe(["run"] + h + ["--proxy", ""], env={"http_proxy": proxy.url}, unset=noproxy)
    check("--proxy '' sends direct despite http_proxy (exit 0, proxy saw nothing)",
          r.code == 0 and proxy.seen == [] and "http_proxy=" not in r.stderr, (r.brief(), proxy.seen))
    r = run_probe(["run"] + h + ["--proxy", proxy.url], unset=["http_proxy"] + noproxy)
    check("--proxy URL sends the journey through it (exit 0, proxy saw 2 requests)",
          r.code == 0 and len(proxy.seen) == 2, (r.brief(), proxy.seen))
    host = "127.0.0.1"
    r = run_probe(["run"] + h, env={"http_proxy": proxy.url, "NO_PROXY": host},
                  unset=["no_proxy", "all_proxy", "ALL_PROXY"])
    check("NO_PROXY naming the host sends direct", r.code == 0 and len(proxy.seen) == 2, (r.brief(), proxy.seen))
    proxy.stop()
    dead = proxy.url
    r, rep, _ = run_report(["run"] + h, env={"http_proxy": dead}, unset=noproxy)
    f = failure((steps_of(rep) or [{}])[0], "request") or {}
    check("a refused connection through http_proxy exits 1 and names the proxy and where it came from",
          r.code == 1 and ("through proxy %s (from http_proxy)" % dead) in f.get("message", ""),
          (r.brief(), f))
    check("the console names the proxy too", ("through proxy %s" % dead) in r.stdout, r.stdout[-400:])
    r = run_probe(["run"] + h + ["--proxy", "127.0.0.1:3128"])
    check("--proxy without a scheme exits 2", r.code == 2 and "--proxy" in r.stderr, r.brief())
    r = run_probe(["run"] + h + ["--proxy", "ftp://127.0.0.1:21"])
    check("--proxy with an ftp:// scheme exits 2", r.code == 2, r.brief())

    d = tempdir()
    hostport = shop.base.split("://", 1)[1]
    text = ('{\n'
            '  "name": "schemeless",\n'
            '  "steps": [\n'
            '    {"request": {"url": "%s/healthz"}}\n'
            '  ]\n'
            '}\n' % hostport)
    p = write_journey(d, "schemeless.json", text)
    before = shop.stats()
    v = run_probe(["validate", p])
    check("validate: a url without http:// or https:// exits 2 at schemeless.json:4:25",
          v.code == 2 and "schemeless.json:4:25" in v.stderr and "http://" in v.stderr, v.brief())
    r = run_probe(["run", HEALTH, "--var", "base=" + hostport])
    check("--var base=HOST:PORT (no scheme) exits 2 naming the url's place and the value",
          r.code == 2 and "health.json:" in r.stderr and hostport in r.stderr, r.brief())
    check("scheme-less urls: nothing was sent", shop.stats() == before, (before, shop.stats()))
    pc = write_journey(d, "captured.json", journey("captured url", [
        {"name": "echo", "request": {"url": "{{base}}/echo", "query": {"next": hostport + "/healthz"}},
         "capture": {"next": {"json": "$.query.next"}}},
        {"name": "follow", "request": {"url": "{{next}}"}}], {"base": shop.base}))
    r, rep, _ = run_report(["run", pc])
    st = step_named(steps_of(rep), "follow")
    f = failure(st, "request") or {}
    check("a captured url without a scheme fails its step, unsent",
          r.code == 1 and "does not start with http://" in f.get("message", "") and shop.stats() == before + 1,
          (r.brief(), failures_of(st), shop.stats()))


def test_cli_errors(shop):
    before = shop.stats()
    h = ["--var", "base=" + shop.base]
    for label, args in [
        ("an unknown option", ["run", "--bogus-option", HEALTH] + h),
        ("--repeat abc", ["run", "--repeat", "abc", HEALTH] + h),
        ("--parallel without a value", ["run", HEALTH] + h + ["--parallel"]),
        ("--var without =", ["run", "--var", "novalue", HEALTH] + h),
        ("--report with an unknown format", ["run", "--report", "xml:out.xml", HEALTH] + h),
        ("an unknown command", ["frobnicate", HEALTH]),
    ]:
        r = run_probe(args)
        check("%s exits 2" % label, r.code == 2, r.brief())
        check("%s prints an error on stderr" % label, r.stderr.strip() != "", r.brief())
    check("bad command lines send nothing", shop.stats() == before, (before, shop.stats()))


def main():
    if not os.path.exists(harness.PROBE):
        check("bin/probe exists (run make)", False, harness.PROBE)
        return 1
    if not os.path.exists(harness.SHOP):
        check("scripts/example-shop exists", False, harness.SHOP)
        return 1
    try:
        shop = harness.Shop(password="pw-" + secrets.token_hex(8))
        broken = harness.Shop(broken=True, password="pw-" + secrets.token_hex(8))
    except Exception as exc:
        check("example-shop starts on an ephemeral port", False, exc)
        return harness.finish() or 1
    harness.run_group(test_validate_examples, shop)
    harness.run_group(test_checkout_passes, shop)
    harness.run_group(test_health_example, shop)
    harness.run_group(test_traceparent, shop)
    harness.run_group(test_broken_shop, broken)
    harness.run_group(test_quiet_and_color, shop)
    harness.run_group(test_syntax_error, shop)
    harness.run_group(test_unknown_key, shop)
    harness.run_group(test_load_errors, shop)
    harness.run_group(test_only_and_folders, shop)
    harness.run_group(test_undefined_variable, shop)
    harness.run_group(test_var_typo, shop)
    harness.run_group(test_missing_secret, shop)
    harness.run_group(test_push_labels, shop)
    harness.run_group(test_junit_schema, shop, broken)
    harness.run_group(test_proxy, shop)
    harness.run_group(test_secret_masking, shop)
    harness.run_group(test_timing_limits, shop)
    harness.run_group(test_retries, shop)
    harness.run_group(test_redirects, shop)
    harness.run_group(test_cookies, shop)
    harness.run_group(test_captures, shop)
    harness.run_group(test_requests, shop)
    harness.run_group(test_includes, shop)
    harness.run_group(test_repeat_parallel, shop)
    harness.run_group(test_tls)
    harness.run_group(test_cli_errors, shop)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
