#!/usr/bin/env python3
"""Integration tests of the collector's alerts and the /metrics series they come with
(collector/README.md "Alerts" and "GET /metrics"), over real HTTP on loopback.

Webhooks are received by local http.server instances: one that always answers 200, one
that answers 500 to its first request (the collector must retry), one port nobody
listens on (the collector must give up and count it). Expectations come from the README.
Prints TAP-style lines; exits 1 when any check failed.
"""

import http.server
import json
import math
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, run_group, run_probe, tempdir  # noqa: E402
from harness import COLLECTOR, Collector, get, request  # noqa: E402
from test_comparator import FAST, pageview, post_beacons  # noqa: E402

APP = "alerts-shop"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST body; the first fail_first
    requests get a 500."""

    def __init__(self, fail_first=0):
        self.bodies = []       # parsed bodies of the requests answered 200
        self.answers = []      # status of every request, in order
        self.lock = threading.Lock()
        self.fail_first = fail_first
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n)
                with outer.lock:
                    status = 500 if len(outer.answers) < outer.fail_first else 200
                    outer.answers.append(status)
                    if status == 200:
                        try:
                            outer.bodies.append(json.loads(data))
                        except ValueError:
                            outer.bodies.append({"unparsable": data.decode("utf-8", "replace")})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        harness._cleanups.append(self.server.shutdown)

    def events(self):
        with self.lock:
            return list(self.bodies)

    def of(self, kind):
        return [b for b in self.events() if b.get("event") == kind]


def metrics(port):
    return request(port, "GET", "/metrics").text()


def metric_value(text, name, **labels):
    """The value of the series name{labels...} (labels a subset), or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def wait_for(fn, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    return fn()


class Ctx:
    pass


def push(ctx, c, version, region):
    d = json.loads(json.dumps(ctx.doc))
    d["run_id"] = str(uuid.uuid4())
    d["labels"].update({"app": APP, "version": version, "region": region})
    return request(c.port, "POST", "/v1/probe-runs", body=d,
                   headers={"Content-Type": "application/json",
                            "Authorization": "Bearer " + ctx.token})


def test_events(ctx):
    """Gate block, first rollback, silent region: each arrives once at each webhook."""
    c, ok, flaky = ctx.c, ctx.ok, ctx.flaky
    r = push(ctx, c, "1.0.0", "eu-west")
    check("push a probe run (eu-west) -> 201", r.status == 201, r.brief())

    # Gate: three looks at a blocked version; one alert.
    for _ in range(3):
        r = get(c.port, "/v1/gate", app=APP, version="1.0.0", regions="eu-west,mars-1")
        j = r.json() or {}
        check("GET /v1/gate naming a region without runs -> 200 block",
              r.status == 200 and j.get("decision") == "block", r.brief())
    r = get(c.port, "/v1/gate", app=APP, version="1.0.0", regions="eu-west")
    check("... the same version over eu-west only -> allow (no alert)",
          r.status == 200 and (r.json() or {}).get("decision") == "allow", r.brief())

    # Verdict: a canary with LCP x2; three looks; one alert.
    rng = random.Random(13)
    base = [rng.lognormvariate(math.log(2300), 0.5) for _ in range(2000)]
    canary = [2 * rng.lognormvariate(math.log(2300), 0.5) for _ in range(1000)]
    beacons = [pageview(APP, "1.0.0", i, [("LCP", v)]) for i, v in enumerate(base)]
    beacons += [pageview(APP, "1.1.0", i, [("LCP", v)]) for i, v in enumerate(canary)]
    bad = post_beacons(c.port, beacons)
    check("3000 beacons stored", not bad, bad[:1])
    ctx.base_values = [round(v, 4) for v in base]
    for _ in range(3):
        r = get(c.port, "/v1/verdict", app=APP, baseline="1.0.0", canary="1.1.0", warmup="0")
        j = r.json() or {}
        check("GET /v1/verdict (canary LCP x2) -> 200 rollback",
              r.status == 200 and j.get("decision") == "rollback", r.brief())

    # Probe region: three pushes 0.6 s apart, then none: silent after about 3 intervals.
    for i in range(3):
        if i:
            time.sleep(0.6)
        r = push(ctx, c, "1.0.0", "ap-south")
        check("push a probe run (ap-south, %d of 3) -> 201" % (i + 1), r.status == 201, r.brief())
    t_last = time.monotonic()

    def all_there():
        return all(len(rc.of(k)) >= 1 for rc in (ok, flaky)
                   for k in ("gate_block", "verdict_rollback", "probe_silent"))
    wait_for(all_there, 25)
    silent = ok.of("probe_silent")
    if silent:
        diag("probe_silent arrived %.1f s after the last push" % (time.monotonic() - t_last))
    time.sleep(2.5)  # time for any duplicate or a late retry to show up

    for name, rc in (("200 receiver", ok), ("500-then-200 receiver", flaky)):
        for kind in ("gate_block", "verdict_rollback", "probe_silent"):
            got = rc.of(kind)
            check("%s: one %s alert" % (name, kind), len(got) == 1,
                  "%d: %s" % (len(got), json.dumps(rc.events())[:600]))
        check("%s: nothing else" % name, len(rc.events()) == 3, json.dumps(rc.events())[:600])
    check("the flaky receiver answered 500 first, and the alert came again",
          flaky.answers[:1] == [500] and len(flaky.answers) == 4, flaky.answers)

    g = (ok.of("gate_block") or [{}])[0]
    check("gate alert: Slack text naming app and version, the gate's JSON beside it",
          isinstance(g.get("text"), str) and APP in g["text"] and "1.0.0" in g["text"]
          and g.get("app") == APP and g.get("version") == "1.0.0"
          and (g.get("gate") or {}).get("decision") == "block" and "mars-1" in json.dumps(g["gate"])
          and isinstance(g.get("key"), str), json.dumps(g)[:500])
    v = (ok.of("verdict_rollback") or [{}])[0]
    check("rollback alert: text, app/baseline/canary and the verdict's JSON",
          isinstance(v.get("text"), str) and "1.1.0" in v["text"] and v.get("baseline") == "1.0.0"
          and v.get("canary") == "1.1.0" and (v.get("verdict") or {}).get("decision") == "rollback"
          and isinstance((v.get("verdict") or {}).get("metrics"), list), json.dumps(v)[:500])
    s = (silent or [{}])[0]
    check("silence alert: region ap-south (not eu-west, which pushed once), text and times",
          s.get("region") == "ap-south" and s.get("app") == APP and "ap-south" in s.get("text", "")
          and isinstance(s.get("last_run_at"), str) and 1.0 <= (s.get("silent_s") or 0) <= 10,
          json.dumps(s)[:500])

    # A new push brings the region back; going silent again is a new event.
    r = push(ctx, c, "1.0.0", "ap-south")
    check("ap-south pushes again -> 201", r.status == 201, r.brief())
    wait_for(lambda: len(ok.of("probe_silent")) >= 2, 15)
    check("... and its next silence is a second alert", len(ok.of("probe_silent")) == 2,
          json.dumps(ok.of("probe_silent"))[:500])

    # The second webhook may still be receiving the last event: wait for its delivery
    # (bounded) before reading the counters.
    wait_for(lambda: metric_value(metrics(c.port), "vigil_alerts_sent_total") == 8, 15)
    text = metrics(c.port)
    ctx.metrics_text = text
    check("/metrics: vigil_alerts_sent_total 8 (4 events x 2 webhooks)",
          metric_value(text, "vigil_alerts_sent_total") == 8,
          [l for l in text.splitlines() if "alerts" in l])
    check("/metrics: vigil_alerts_failed_total 0, vigil_alerts_dropped_total 0",
          metric_value(text, "vigil_alerts_failed_total") == 0
          and metric_value(text, "vigil_alerts_dropped_total") == 0, text[-300:])


def test_metrics(ctx):
    """vigil_verdict, vigil_rum_p75, vigil_beacons_stored_total, HEAD /metrics, promtool."""
    c = ctx.c
    text = metrics(c.port)
    check("vigil_verdict{...decision=rollback} 1 for the pair",
          metric_value(text, "vigil_verdict", app=APP, baseline="1.0.0", canary="1.1.0",
                       decision="rollback") == 1, text[-800:])
    check("... and 0 for promote and pause",
          metric_value(text, "vigil_verdict", app=APP, baseline="1.0.0", canary="1.1.0",
                       decision="promote") == 0
          and metric_value(text, "vigil_verdict", app=APP, baseline="1.0.0", canary="1.1.0",
                           decision="pause") == 0, text[-800:])
    check("vigil_beacons_stored_total{app} 3000",
          metric_value(text, "vigil_beacons_stored_total", app=APP) == 3000,
          [l for l in text.splitlines() if "beacons_stored" in l])

    # --rum-refresh 1: the p75 series are read from the rollups every second.
    def p75():
        return metric_value(metrics(c.port), "vigil_rum_p75", app=APP, version="1.0.0", metric="LCP")
    got = wait_for(p75, 10)
    want = statistics.quantiles(ctx.base_values, n=4, method="inclusive")[2]
    check("vigil_rum_p75{app,version=1.0.0,metric=LCP} within 2%% of the exact p75 (%.1f)" % want,
          got is not None and abs(got - want) / want < 0.02, got)
    check("vigil_rum_p75 for the canary too",
          metric_value(metrics(c.port), "vigil_rum_p75", app=APP, version="1.1.0", metric="LCP")
          is not None, "")

    r = request(c.port, "HEAD", "/metrics")
    check("HEAD /metrics -> 200, text/plain, a Content-Length and no body",
          r.status == 200 and (r.header("content-type") or "").startswith("text/plain")
          and int(r.header("content-length") or 0) > 0 and r.body == b"", r.brief())
    r = request(c.port, "POST", "/metrics", body="x")
    check("POST /metrics -> 405", r.status == 405, r.brief())

    promtool = shutil.which("promtool")
    if not promtool:
        diag("promtool not installed (Debian package prometheus): skipping promtool check metrics")
        return
    text = metrics(c.port)
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    check("promtool check metrics accepts /metrics", p.returncode == 0,
          (p.returncode, p.stdout.decode()[-500:], p.stderr.decode()[-500:]))


def test_failing_webhook(ctx):
    """A webhook that never answers: bounded retries, then counted as failed."""
    dead = "http://127.0.0.1:%d/hook" % harness.free_port()
    c = Collector(FAST + ["--probe-token-file", ctx.token_file, "--alert-webhook", dead],
                  name="dead-hook")
    push(ctx, c, "1.0.0", "eu-west")
    t0 = time.monotonic()
    r = get(c.port, "/v1/gate", app=APP, version="1.0.0", regions="eu-west,mars-1")
    check("dead webhook: gate blocks -> 200 at once (never waits on the webhook)",
          r.status == 200 and time.monotonic() - t0 < 2, r.brief())
    r = get(c.port, "/healthz")
    check("dead webhook: the service answers meanwhile", r.status == 200, r.brief())
    failed = wait_for(lambda: metric_value(metrics(c.port), "vigil_alerts_failed_total") == 1, 20)
    check("dead webhook: vigil_alerts_failed_total 1 after the retries (about 7.5 s)", failed,
          metrics(c.port)[-400:])
    check("dead webhook: vigil_alerts_sent_total 0",
          metric_value(metrics(c.port), "vigil_alerts_sent_total") == 0, "")
    rc = c.stop()
    check("dead webhook: SIGTERM exits 0", rc == 0, rc)


def test_silent_webhook_stop(ctx):
    """A webhook that accepts and never answers does not hold up a stop."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)  # never accepted: connections wait in the backlog, unanswered
    harness._cleanups.append(mute.close)
    url = "http://127.0.0.1:%d/hook" % mute.getsockname()[1]
    c = Collector(FAST + ["--probe-token-file", ctx.token_file, "--alert-webhook", url],
                  name="mute-hook")
    push(ctx, c, "1.0.0", "eu-west")
    r = get(c.port, "/v1/gate", app=APP, version="1.0.0", regions="eu-west,mars-1")
    check("mute webhook: gate blocks -> 200", r.status == 200, r.brief())
    time.sleep(1.0)  # the delivery is now waiting for an answer
    rc, took, killed = c.stop_timed(timeout=8)
    check("mute webhook: SIGTERM exits 0 within 3 s (the try is aborted)",
          rc == 0 and not killed and took < 3, (rc, took, killed))


def test_restart(ctx):
    """The probe series come back from the database after a restart."""
    c = ctx.c

    def probe_lines(text):
        return sorted(l for l in text.splitlines()
                      if l.startswith(("vigil_probe_success{", "vigil_probe_duration_seconds{",
                                         "vigil_probe_http_status_code{",
                                         "vigil_probe_http_version{"))
                      and 'app="%s"' % APP in l)
    before = probe_lines(metrics(c.port))
    check("before the restart: probe series for eu-west and ap-south",
          any('region="ap-south"' in l for l in before) and any('region="eu-west"' in l for l in before),
          before[:4])
    rc = c.stop()
    check("restart: SIGTERM exits 0", rc == 0, rc)
    c.restart()
    after = wait_for(lambda: probe_lines(metrics(c.port)) == before and before, 10)
    check("after the restart: the same probe series and values, read back from the database",
          after, (before[:3], probe_lines(metrics(c.port))[:3]))
    check("after the restart: no alert of the old events again (nothing new happened)",
          len(ctx.ok.of("gate_block")) == 1 and len(ctx.ok.of("verdict_rollback")) == 1, "")


def test_usage(ctx):
    for args, what in ((["--alert-webhook", "ftp://x"], "--alert-webhook"),
                       (["--probe-silence", "soon"], "--probe-silence")):
        p = subprocess.run([COLLECTOR, "serve", "--db", os.path.join(ctx.dir, "u.db")] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        err = p.stderr.decode()
        check("serve %s -> exit 2 naming the option" % " ".join(args),
              p.returncode == 2 and what in err, (p.returncode, err[-300:]))


def main():
    if not os.access(COLLECTOR, os.X_OK) or not os.access(harness.PROBE, os.X_OK):
        check("bin/collector and bin/probe exist", False, "build them with make")
        return harness.finish()
    ctx = Ctx()
    ctx.dir = tempdir("vigil-alerts-")
    ctx.token = secrets.token_hex(16)
    ctx.token_file = os.path.join(ctx.dir, "token")
    harness.write_private(ctx.token_file, ctx.token + "\n")
    try:
        shop = harness.Shop(version="1.0.0")
        doc_path = os.path.join(ctx.dir, "result.json")
        res = run_probe(["run", harness.EXAMPLES, "--var", "base=%s" % shop.base, "--app", APP,
                         "--version", "1.0.0", "--region", "eu-west", "--no-color",
                         "--report", "json:" + doc_path], env={"SHOP_PASSWORD": shop.password})
        ctx.doc = harness.load_json(doc_path)
        if not check("probe run writes a result document", isinstance(ctx.doc, dict)
                     and ctx.doc.get("journeys"), res.brief()):
            return harness.finish()
        ctx.ok = Receiver()
        ctx.flaky = Receiver(fail_first=1)
        ctx.c = Collector(FAST + ["--probe-token-file", ctx.token_file, "--rum-refresh", "1",
                                  "--alert-webhook", ctx.ok.url, "--alert-webhook", ctx.flaky.url],
                          directory=ctx.dir, name="collector")
    except Exception as exc:
        check("shop, receivers and collector start", False, exc)
        return harness.finish()

    run_group(test_events, ctx)
    run_group(test_metrics, ctx)
    run_group(test_failing_webhook, ctx)
    run_group(test_silent_webhook_stop, ctx)
    run_group(test_restart, ctx)
    run_group(test_usage, ctx)
    rc = ctx.c.stop()
    check("collector: SIGTERM exits 0", rc == 0, rc)
    harness.check_collectors_clean()
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
