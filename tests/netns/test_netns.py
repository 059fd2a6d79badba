#!/usr/bin/env python3
"""Regional probe hosts across a small network built on this machine (issue 6).

Five network namespaces named vigil-<pid>-*: a router with one veth pair to each of four
hosts (10.199.N.0/30 inside the namespaces only, forwarding on in the router):

    collector 10.199.0.2   target (example shop) 10.199.1.2
    eu-west   10.199.2.2   us-east 10.199.3.2 (tc netem delay 80ms on its link)

`probe schedule --every 1s` runs on both probe hosts and pushes signed results (HMAC,
shared/sign.h) to `collector serve --probe-keys`. Checks, from probe/README.md,
collector/README.md and shared/sign.h (never from the C code):
  - both regions' results arrive labelled, us-east step timings visibly higher;
  - the gate allows only when both regions passed;
  - collector stopped for a while: results spool, then all arrive, in order, none twice;
  - a push signed with a wrong key, or replayed with an old timestamp, is refused 401;
  - kill -9 of a probe host mid-push loses nothing already spooled.
The namespaces (and every process in them) are removed at the end, even on failure
(finally, atexit, SIGTERM/SIGINT/SIGHUP). Needs root and iproute2 (ip, tc).

Prints TAP-style `ok - ...` / `not ok - ...` lines; exits 1 when any check failed.
Run: cd /work/main && python3 tests/netns/test_netns.py
"""

import atexit
import hashlib
import hmac
import json
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import check, diag, read_text, run_group, tempdir  # noqa: E402

BIN = os.environ.get("VIGIL_BIN") or os.path.join(harness.ROOT, "bin")
COLLECTOR = os.path.join(BIN, "collector")
PROBE = harness.PROBE
APP, VERSION = "shop", "2.0.0"
PORT = 8080
PREFIX = "vigil-%d-" % os.getpid()
HOSTS = ["collector", "target", "eu-west", "us-east"]          # index N -> 10.199.N.0/30
NS = {h: PREFIX + h for h in ["router"] + HOSTS}
ADDR = {h: "10.199.%d.2" % i for i, h in enumerate(HOSTS)}
COLLECTOR_URL = "http://%s:%d" % (ADDR["collector"], PORT)
SHOP_BASE = "http://%s:%d" % (ADDR["target"], PORT)
SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
             "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")

_procs = []          # every Popen started here
_created = []        # namespaces created here
_cleaned = False


# ---------------------------------------------------------------- cleanup

def cleanup():
    """Kill every process started here and every process left in our namespaces, then
    delete the namespaces. Safe to call more than once."""
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    for p in list(_procs):
        try:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)
        except Exception:
            pass
    for ns in list(_created):
        try:
            out = subprocess.run(["ip", "netns", "pids", ns], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=10).stdout.decode()
            for pid in out.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        except Exception:
            pass
    time.sleep(0.1 if _created else 0)
    for ns in list(_created):
        try:
            subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10)
        except Exception:
            pass


def _on_signal(signum, frame):
    cleanup()
    harness._run_cleanups()
    sys.exit(128 + signum)


atexit.register(cleanup)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        signal.signal(_sig, _on_signal)
    except (ValueError, OSError):
        pass


def our_namespaces():
    out = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         timeout=10).stdout.decode()
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]


# ---------------------------------------------------------------- network

def sh(*args, ns=None, check_rc=True):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in args]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    if check_rc and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                p.stderr.decode("utf-8", "replace").strip()))
    return p


def build_network():
    for h in ["router"] + HOSTS:
        sh("ip", "netns", "add", NS[h])
        _created.append(NS[h])
        sh("ip", "-n", NS[h], "link", "set", "lo", "up")
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=NS["router"])
    for i, h in enumerate(HOSTS):
        r = "r%d" % i
        sh("ip", "-n", NS["router"], "link", "add", r, "type", "veth", "peer", "name", "eth0", "netns", NS[h])
        sh("ip", "-n", NS["router"], "addr", "add", "10.199.%d.1/30" % i, "dev", r)
        sh("ip", "-n", NS["router"], "link", "set", r, "up")
        sh("ip", "-n", NS[h], "addr", "add", "10.199.%d.2/30" % i, "dev", "eth0")
        sh("ip", "-n", NS[h], "link", "set", "eth0", "up")
        sh("ip", "-n", NS[h], "route", "add", "default", "via", "10.199.%d.1" % i)


def add_netem():
    """tc netem delay 80ms on us-east's link; None, or why it failed."""
    p = sh("tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "80ms", ns=NS["us-east"], check_rc=False)
    return None if p.returncode == 0 else p.stderr.decode("utf-8", "replace").strip()


# Fallback when the kernel has no sch_netem: a TCP relay inside the us-east namespace
# (127.0.0.1:RELAY_PORT -> the shop) that connects upstream 80 ms late (the SYN's delay)
# and hands every client chunk on 80 ms after it was read (the delay of netem on
# us-east's egress). Answers come back at once, as with netem on one side.
RELAY_PORT = 18080
RELAY = r"""
import queue, socket, sys, threading, time
lp, uh, up, d = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) / 1000.0
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", lp))
srv.listen(128)
open(sys.argv[5], "w").write(str(lp))
def close_wr(s):
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def delayed(src, dst):
    q = queue.Queue()
    def sender():
        while True:
            t, data = q.get()
            w = t + d - time.monotonic()
            if w > 0:
                time.sleep(w)
            if not data:
                return close_wr(dst)
            try:
                dst.sendall(data)
            except OSError:
                return
    threading.Thread(target=sender, daemon=True).start()
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        q.put((time.monotonic(), data))
        if not data:
            return
def direct(src, dst):
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            return close_wr(dst)
        try:
            dst.sendall(data)
        except OSError:
            return
def handle(c):
    time.sleep(d)
    try:
        u = socket.create_connection((uh, up), timeout=10)
        u.settimeout(None)
    except OSError:
        return c.close()
    threading.Thread(target=delayed, args=(c, u), daemon=True).start()
    threading.Thread(target=direct, args=(u, c), daemon=True).start()
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"""


# ---------------------------------------------------------------- processes

def spawn(ns, cmd, env=None, log=None, stderr_pipe=False):
    full = dict(os.environ)
    full.pop("NO_COLOR", None)
    full.update(env or {})
    out = open(log, "w") if log else subprocess.DEVNULL
    p = subprocess.Popen(["ip", "netns", "exec", ns] + [str(c) for c in cmd], env=full, cwd=harness.ROOT,
                         stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.PIPE if stderr_pipe else out)
    if log:
        out.close()
    _procs.append(p)
    return p


def wait_file_int(path, proc, what, log, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s: %s" % (what, proc.returncode, read_text(log)[-400:]))
        t = read_text(path).strip()
        if t.isdigit() and int(t) > 0:
            return int(t)
        time.sleep(0.02)
    raise RuntimeError("%s did not start within %ds: %s" % (what, timeout, read_text(log)[-400:]))


class Collector:
    def __init__(self, ctx, name):
        self.name = name
        self.log = os.path.join(ctx.dir, name + ".log")
        port_file = os.path.join(ctx.dir, name + ".port")
        args = ["serve", "--db", ctx.db, "--listen", "%s:%d" % (ADDR["collector"], PORT),
                "--port-file", port_file, "--rate", "100000", "--burst", "100000"]
        args += ["--probe-keys", ctx.keys_file] if ctx.signed else ["--probe-token-file", ctx.token_file]
        self.proc = spawn(NS["collector"], [COLLECTOR] + args, log=self.log)
        wait_file_int(port_file, self.proc, name, self.log)

    def stop(self, timeout=5):
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


class ProbeHost(harness.JsonLog):
    """probe schedule --every 1s in one probe namespace; JSON log lines parsed in a thread."""

    def __init__(self, ctx, region, name):
        self.region = region
        base = ctx.base[region]
        self.name = name
        ns = NS[region]
        args = ["schedule", "--every", "1s", "--push", COLLECTOR_URL, "--region", region,
                "--app", APP, "--version", VERSION, "--var", "base=" + base,
                "--spool", ctx.spool[region], "--log", "json"]
        env = {"SHOP_PASSWORD": ctx.password}
        if ctx.signed:
            args += ["--key-id", ctx.key_id[region], "--key-file", ctx.key_file[region]]
        else:
            env["VIGIL_TOKEN"] = ctx.token
        args.append(harness.EXAMPLES)
        self.proc = spawn(ns, [PROBE] + args, env=env, stderr_pipe=True)
        self.start_log(self.proc)

    def runs(self):
        return self.of("run")

    def text(self, limit=500):
        lines = [json.dumps({k: v for k, v in e.items() if k != "_t"}) for e in self.snapshot()[-6:]]
        return ("\n".join(self.other[-3:] + lines))[-limit:]

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=2)

    def stop(self, timeout=8):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            rc = None
        self.reader.join(timeout=2)
        return rc


def wait_until(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


# ---------------------------------------------------------------- HTTP from inside a namespace

HELPER = r'''
import http.client, json, sys
method, host, port, path, hdrs, body_file = sys.argv[1:7]
body = open(body_file, "rb").read() if body_file != "-" else None
c = http.client.HTTPConnection(host, int(port), timeout=10)
try:
    c.request(method, path, body=body, headers=json.loads(hdrs))
    r = c.getresponse()
    print(json.dumps({"status": r.status, "body": r.read().decode("utf-8", "replace")}))
except Exception as e:
    print(json.dumps({"status": None, "body": repr(e)}))
'''


def ns_http(ctx, ns, method, path, body=None, headers=None):
    """(status, parsed JSON or text) of a request to the collector, sent from namespace ns."""
    body_file = "-"
    if body is not None:
        body_file = os.path.join(ctx.dir, "body-%s.json" % secrets.token_hex(4))
        with open(body_file, "wb") as f:
            f.write(body)
    p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", HELPER, method, ADDR["collector"],
                        str(PORT), path, json.dumps(headers or {}), body_file],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    try:
        out = json.loads(p.stdout.decode())
    except ValueError:
        return None, p.stderr.decode("utf-8", "replace")
    try:
        return out["status"], json.loads(out["body"])
    except (ValueError, TypeError):
        return out["status"], out["body"]


def listed(ctx, full=False):
    """(run_id, journey) -> [regions] (full: [entries]) from GET /v1/probe-runs, asked
    from the collector host."""
    st, body = ns_http(ctx, NS["collector"], "GET", "/v1/probe-runs?app=%s&version=%s" % (APP, VERSION))
    out = {}
    if st == 200 and isinstance(body, dict):
        for r in body.get("runs") or []:
            out.setdefault((r.get("run_id"), r.get("journey")), []).append(r if full else r.get("region"))
    return out


def db(ctx, sql, args=()):
    try:
        con = sqlite3.connect(ctx.db, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        diag("sqlite: %s" % exc)
        return []


def stored_ids(ctx):
    return [r[0] for r in db(ctx, "SELECT run_id FROM probe_runs ORDER BY received, rowid")]


def gate(ctx, *extra):
    p = subprocess.run([COLLECTOR, "gate", "--db", ctx.db, "--app", APP, "--version", VERSION,
                        "--regions", "eu-west,us-east", "--json"] + list(extra),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    out = p.stdout.decode("utf-8", "replace")
    try:
        j = json.loads(out)
    except ValueError:
        j = None
    return p.returncode, j, out + p.stderr.decode("utf-8", "replace")


def uniq_ids(events):
    seen, out = set(), []
    for e in events:
        i = e.get("run_id")
        if i and i not in seen:
            seen.add(i)
            out.append(i)
    return out


def delivered(host, min_each=2):
    runs = [e for e in host.runs() if e.get("delivery") == "delivered"]
    return all(sum(1 for e in runs if e.get("journey") == j) >= min_each for j in ("checkout", "health"))


def sign(secret, method, path, ts, body):
    canonical = "%s\n%s\n%d\n%s" % (method, path, ts, hashlib.sha256(body).hexdigest())
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- checks

class Ctx:
    pass


def test_regions_and_gate(ctx):
    eu = ctx.hosts["eu-west"] = ProbeHost(ctx, "eu-west", "eu-west probe")
    ok = wait_until(lambda: delivered(eu), 8)
    check("eu-west: the probe host delivers results to the collector across the router",
          ok, eu.text())
    rc, j, out = gate(ctx)
    reasons = json.dumps(j.get("reasons")) if isinstance(j, dict) else out
    check("gate: with only eu-west reporting, --regions eu-west,us-east blocks (exit 1)",
          rc == 1 and isinstance(j, dict) and j.get("decision") == "block", (rc, out[-300:]))
    check("gate: ... naming us-east in the reasons", "us-east" in reasons, reasons[:300])

    us = ctx.hosts["us-east"] = ProbeHost(ctx, "us-east", "us-east probe")
    ok = wait_until(lambda: delivered(us, 3) and delivered(eu, 4), 10)
    check("us-east: the probe host (80 ms further away) delivers results too", ok, us.text())
    rc, j, out = gate(ctx)
    check("gate: once both regions passed, --regions eu-west,us-east allows (exit 0)",
          rc == 0 and isinstance(j, dict) and j.get("decision") == "allow", (rc, out[-400:]))
    st, body = ns_http(ctx, NS["eu-west"], "GET",
                       "/v1/gate?app=%s&version=%s&regions=eu-west,us-east" % (APP, VERSION))
    check("gate: GET /v1/gate?regions=eu-west,us-east from a probe host allows too",
          st == 200 and isinstance(body, dict) and body.get("decision") == "allow", (st, str(body)[:300]))
    if ctx.signed:
        rc, j, out = gate(ctx, "--require-signed")
        check("gate: --require-signed allows (every result was pushed signed)",
              rc == 0 and isinstance(j, dict) and j.get("decision") == "allow", (rc, out[-300:]))

    for region, host in ctx.hosts.items():
        runs = host.runs()
        check("%s: every run passed and was delivered" % region,
              runs and all(e.get("result") == "passed" and e.get("delivery") == "delivered" for e in runs),
              [(e.get("journey"), e.get("result"), e.get("delivery"), e.get("error")) for e in runs
               if e.get("result") != "passed" or e.get("delivery") != "delivered"][:3])
    logged = {region: host.runs() for region, host in ctx.hosts.items()}  # before asking the collector
    full = listed(ctx, full=True)
    lst = {k: [r.get("region") for r in v] for k, v in full.items()}
    for region, runs in logged.items():
        keys = [(e.get("run_id"), e.get("journey")) for e in runs if e.get("delivery") == "delivered"]
        bad = [(k[0][:8], k[1], lst.get(k)) for k in keys if lst.get(k) != [region]]
        check("regions: every %s result is listed by GET /v1/probe-runs once, labelled %s" % (region, region),
              keys and not bad, bad[:4])
        if ctx.signed:
            bad = [(k[0][:8], k[1], [(r.get("signed"), r.get("key_id")) for r in full.get(k, [])])
                   for k in keys if [(r.get("signed"), r.get("key_id")) for r in full.get(k, [])]
                   != [(True, ctx.key_id[region])]]
            check("regions: ... each listed signed, with key id %s" % ctx.key_id[region], keys and not bad, bad[:4])

    # latency: the same steps, timings_ms.total of the stored documents, per region
    per = {}
    jdur = {}
    for (doc_text,) in db(ctx, "SELECT document FROM probe_runs"):
        try:
            doc = json.loads(doc_text)
        except ValueError:
            continue
        region = (doc.get("labels") or {}).get("region")
        for jr in doc.get("journeys") or []:
            jdur.setdefault((region, jr.get("name")), []).append(jr.get("duration_ms") or 0)
            for step in jr.get("steps") or []:
                t = (step.get("timings_ms") or {}).get("total")
                if isinstance(t, (int, float)):
                    per.setdefault((jr.get("name"), step.get("name")), {}).setdefault(region, []).append(t)
    diffs = {}
    for k, v in sorted(per.items()):
        if "eu-west" in v and "us-east" in v:
            diffs["%s/%s" % k] = round(statistics.mean(v["us-east"]) - statistics.mean(v["eu-west"]), 1)
    diag("mean us-east minus eu-west step total (ms): %s" % diffs)
    diag("mean journey duration (ms): %s" % {"%s/%s" % k: round(statistics.mean(v), 1)
                                               for k, v in sorted(jdur.items()) if v})
    how = "tc netem" if ctx.netem else "the userspace relay standing in for netem"
    check("latency: us-east step timings (timings_ms.total) are >= 60 ms higher on average, every step (%s)"
          % how, diffs and all(d >= 60 for d in diffs.values()), diffs)


def test_signatures(ctx):
    if not ctx.signed:
        check("signatures: collector serve --probe-keys exists (signed pushes)", False,
              "bin/collector serve does not accept --probe-keys: the wrong-key and replay checks cannot run")
        return
    rows = db(ctx, "SELECT document FROM probe_runs WHERE region = 'eu-west' LIMIT 1")
    if not rows:
        check("signatures: a stored eu-west document to re-sign", False, "none stored")
        return
    base = json.loads(rows[0][0])
    path = "/v1/probe-runs"
    good = ctx.secret["eu-west"]

    def attempt(label, secret, key_id, ts_shift, expect, reason=None):
        doc = dict(base)
        doc["run_id"] = str(uuid.uuid4())
        body = json.dumps(doc).encode()
        ts = int(time.time()) + ts_shift
        hdrs = {"Content-Type": "application/json", "X-Vigil-Key-Id": key_id,
                "X-Vigil-Timestamp": str(ts), "X-Vigil-Signature": sign(secret, "POST", path, ts, body)}
        st, resp = ns_http(ctx, NS["eu-west"], "POST", path, body=body, headers=hdrs)
        err = isinstance(resp, dict) and isinstance(resp.get("error"), str) and resp["error"]
        if expect == 401:
            check("signatures: %s -> 401 with a reason" % label, st == 401 and bool(err), (st, str(resp)[:200]))
            if reason:
                check("signatures: ... the reason says %r" % reason, bool(err) and reason in err, err)
            check("signatures: ... and nothing stored", doc["run_id"] not in stored_ids(ctx), doc["run_id"])
        else:
            check("signatures: %s -> %d (the test signs as shared/sign.h says)" % (label, expect),
                  st == expect, (st, str(resp)[:200]))
        return resp

    attempt("a fresh push signed with the right key (control)", good, ctx.key_id["eu-west"], 0, 201)
    attempt("a push signed with a wrong key under eu-west's key id", "x" * 32, ctx.key_id["eu-west"], 0, 401,
            "bad signature")
    attempt("a push under an unknown key id", good, "nowhere-1", 0, 401, "unknown key id")
    attempt("a replay with an old timestamp (now - 600 s, window %ds)" % 300, good, ctx.key_id["eu-west"], -600,
            401, "replay window")
    attempt("a push with a timestamp 600 s in the future", good, ctx.key_id["eu-west"], 600, 401, "replay window")
    doc = dict(base)
    doc["run_id"] = str(uuid.uuid4())
    st, resp = ns_http(ctx, NS["eu-west"], "POST", path, body=json.dumps(doc).encode(),
                       headers={"Content-Type": "application/json"})
    check("signatures: an unsigned push without a token -> 401", st == 401, (st, str(resp)[:200]))


def test_spool_and_kill(ctx):
    eu, us = ctx.hosts["eu-west"], ctx.hosts["us-east"]
    n_eu, n_us = len(eu.snapshot()), len(us.snapshot())
    rc = ctx.c.stop()
    check("outage: the collector stops on SIGTERM (exit 0)", rc == 0, rc)
    time.sleep(3.0)
    for region, host, n in (("eu-west", eu, n_eu), ("us-east", us, n_us)):
        sp = [e for e in host.snapshot()[n:] if e.get("event") == "run" and e.get("delivery") == "spooled"]
        files = [f for f in os.listdir(ctx.spool[region]) if f.endswith(".json")]
        check("outage: %s spools its results while the collector is down (%d runs, %d files)"
              % (region, len(sp), len(files)), len(sp) >= 2 and len(files) >= 1, host.text())

    # the collector returns but is frozen (SIGSTOP): a push connects and hangs, so that
    # kill -9 of eu-west lands mid-push; then it thaws (SIGCONT)
    try:
        ctx.c = Collector(ctx, "collector-2")
    except Exception as exc:
        check("outage: the collector restarts on the same address and database", False, exc)
        return
    os.kill(ctx.c.proc.pid, signal.SIGSTOP)
    t_back = time.monotonic()

    def pushing():
        p = sh("ss", "-tnH", "state", "established", "dst", "%s:%d" % (ADDR["collector"], PORT),
               ns=NS["eu-west"], check_rc=False)
        return bool(p.stdout.strip())
    mid = wait_until(pushing, 10, step=0.05)
    eu.kill9()
    left = sorted(f for f in os.listdir(ctx.spool["eu-west"]) if f.endswith(".json"))
    os.kill(ctx.c.proc.pid, signal.SIGCONT)
    diag("kill -9 of eu-west %.1f s after the collector returned (frozen), with a push connection open: %s; "
         "%d results spooled" % (time.monotonic() - t_back, mid, len(left)))
    check("kill -9: eu-west was killed mid-push (a connection to the frozen collector open) with results spooled",
          mid and left, "push connection seen: %s; spool files: %d" % (mid, len(left)))
    t_back = time.monotonic()
    eu1_spooled = [e for e in eu.runs() if e.get("delivery") == "spooled"]

    eu2 = ctx.hosts["eu-west"] = ProbeHost(ctx, "eu-west", "eu-west probe (restarted)")
    ctx.old_eu = eu
    wait_until(lambda: eu2.of("start"), 5)
    st = eu2.of("start")
    check("kill -9: the restarted eu-west host starts with the spooled results",
          st and st[0].get("spooled") == len(left), (st[0] if st else eu2.text(), len(left)))

    def drained():
        return all(not [f for f in os.listdir(ctx.spool[r]) if f.endswith(".json")] for r in ("eu-west", "us-east"))
    ok = wait_until(drained, 15)
    took = time.monotonic() - t_back
    diag("both spools empty %.1f s after the collector returned" % took)
    check("outage: both spools drain after the collector returns (within 15 s)", ok,
          {r: os.listdir(ctx.spool[r]) for r in ("eu-west", "us-east")})
    time.sleep(0.5)

    stored = stored_ids(ctx)
    counts = {}
    for i in stored:
        counts[i] = counts.get(i, 0) + 1
    lst = listed(ctx)
    groups = (("eu-west (killed host)", "eu-west", eu1_spooled),
              ("eu-west (restarted host)", "eu-west", [e for e in eu2.runs() if e.get("delivery") == "spooled"]),
              ("us-east", "us-east", [e for e in us.runs() if e.get("delivery") == "spooled"]))
    for label, region, sp in groups:
        ids = uniq_ids(sp)
        keys = [(e.get("run_id"), e.get("journey")) for e in sp]
        if not ids:
            diag("%s: no spooled results" % label)
            continue
        check("outage: every result %s spooled arrived (%d documents)" % (label, len(ids)),
              all(i in counts for i in ids), [i[:8] for i in ids if i not in counts][:4])
        check("outage: ... each stored once and listed once, labelled %s" % region,
              all(counts.get(i) == 1 for i in ids) and all(lst.get(k) == [region] for k in keys),
              [(k[0][:8], k[1], lst.get(k)) for k in keys if lst.get(k) != [region]][:4])
    for region, sp in (("eu-west", groups[0][2] + groups[1][2]), ("us-east", groups[2][2])):
        want = uniq_ids(sp)
        got = [i for i in stored if i in set(want)]
        check("outage: %s's spooled results are stored in the order they ran" % region, got == want,
              "stored %s want %s" % ([g[:8] for g in got[:8]], [w[:8] for w in want[:8]]))
    alls = [(e.get("run_id"), e.get("journey")) for h in (eu, eu2, us) for e in h.runs()
            if e.get("delivery") != "dropped"]
    missing = [k for k in alls if k not in lst]
    # runs that ended in the last half second may still be in flight
    recent = set((e.get("run_id"), e.get("journey")) for h in (eu2, us) for e in h.runs()
                 if e.get("_t") > time.monotonic() - 1.0)
    check("outage: every run any probe host logged is in the collector (none lost)",
          not [k for k in missing if k not in recent], [(k[0][:8], k[1]) for k in missing][:4])
    check("outage: no result is stored twice", all(c == 1 for c in counts.values())
          and all(len(v) == 1 for v in lst.values()), [k for k, c in counts.items() if c != 1][:3])


# ---------------------------------------------------------------- main

def main():
    t0 = time.monotonic()
    if os.geteuid() != 0:
        print("not ok - network namespaces are available (not root: ip netns needs root)", flush=True)
        return 1
    for tool in ("ip", "tc"):
        if subprocess.run(["sh", "-c", "command -v %s" % tool], stdout=subprocess.DEVNULL).returncode != 0:
            print("not ok - network namespaces are available (%s not found: install iproute2)" % tool, flush=True)
            return 1
    if not os.access(COLLECTOR, os.X_OK) or not os.access(PROBE, os.X_OK):
        print("not ok - bin/collector and bin/probe exist (build them with make)", flush=True)
        return 1
    try:
        sh("ip", "netns", "add", NS["router"])
        _created.append(NS["router"])
    except Exception as exc:
        print("not ok - network namespaces are available (%s)" % harness._oneline(exc, 300), flush=True)
        cleanup()
        return 1
    sh("ip", "netns", "del", NS["router"])
    _created.remove(NS["router"])

    ctx = Ctx()
    ctx.dir = tempdir("vigil-netns-")
    os.chmod(ctx.dir, 0o700)
    ctx.db = os.path.join(ctx.dir, "vigil.db")
    ctx.password = "pw-" + secrets.token_hex(6)
    ctx.hosts = {}
    ctx.spool = {r: os.path.join(ctx.dir, "spool-" + r) for r in ("eu-west", "us-east")}
    ctx.key_id = {"eu-west": "eu-west-1", "us-east": "us-east-1"}
    ctx.secret = {r: "%s-%s" % (r, secrets.token_hex(16)) for r in ("eu-west", "us-east")}
    ctx.key_file = {}
    ctx.base = {"eu-west": SHOP_BASE, "us-east": SHOP_BASE}

    def private(path, text):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    for r in ("eu-west", "us-east"):
        ctx.key_file[r] = private(os.path.join(ctx.dir, r + ".key"), ctx.secret[r] + "\n")
    ctx.keys_file = private(os.path.join(ctx.dir, "probe-keys"),
                            "# key-id secret\n" + "".join("%s %s\n" % (ctx.key_id[r], ctx.secret[r])
                                                         for r in ("eu-west", "us-east")))
    ctx.token = secrets.token_hex(16)
    ctx.token_file = private(os.path.join(ctx.dir, "token"), ctx.token + "\n")
    p = subprocess.run([COLLECTOR, "serve", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    ctx.signed = b"--probe-keys" in p.stdout
    if not ctx.signed:
        diag("collector serve has no --probe-keys: pushes use the bearer token")

    try:
        try:
            build_network()
            check("network: 5 namespaces, 4 veth pairs through a router namespace", True)
        except Exception as exc:
            check("network: 5 namespaces, 4 veth pairs through a router namespace", False, exc)
            return 1
        why = add_netem()
        ctx.netem = why is None
        # Some kernels (this workplace's among them) have no sch_netem and cannot load it;
        # the 80 ms are then added by a TCP relay inside us-east, and the latency checks
        # below still assert the effect. That is said, not counted as a failure.
        if ctx.netem:
            check("network: tc netem delay 80ms on us-east's link", True)
        else:
            harness.diag("tc netem is not available here (%s): the 80 ms come from a TCP relay"
                         " in the us-east namespace instead" % why)
        if not ctx.netem:
            try:
                rlog = os.path.join(ctx.dir, "relay.log")
                rport = os.path.join(ctx.dir, "relay.port")
                relay = spawn(NS["us-east"], [sys.executable, "-c", RELAY, RELAY_PORT, ADDR["target"], PORT,
                                              80, rport], log=rlog)
                wait_file_int(rport, relay, "the delay relay", rlog)
                ctx.base["us-east"] = "http://127.0.0.1:%d" % RELAY_PORT
            except Exception as exc:
                check("network: the 80 ms delay relay starts in us-east", False, exc)
        try:
            shop_log = os.path.join(ctx.dir, "shop.log")
            port_file = os.path.join(ctx.dir, "shop.port")
            shop = spawn(NS["target"], [sys.executable, harness.SHOP, "--port", PORT, "--host", ADDR["target"],
                                        "--version", VERSION, "--port-file", port_file],
                         env={"SHOP_PASSWORD": ctx.password}, log=shop_log)
            wait_file_int(port_file, shop, "example-shop", shop_log)
            ctx.c = Collector(ctx, "collector")
        except Exception as exc:
            check("the shop and the collector start in their namespaces", False, exc)
            return 1
        check("the shop and the collector start in their namespaces", True)

        run_group(test_regions_and_gate, ctx)
        if len(ctx.hosts) == 2:
            run_group(test_signatures, ctx)
            run_group(test_spool_and_kill, ctx)
        for region, host in list(ctx.hosts.items()):
            rc = host.stop()
            check("%s: probe schedule exits 0 on SIGTERM" % host.name, rc == 0, (rc, host.text()))
        rc = ctx.c.stop()
        check("collector: SIGTERM exits 0", rc == 0, rc)
        reports = []
        logs = [read_text(os.path.join(ctx.dir, n)) for n in os.listdir(ctx.dir) if n.endswith(".log")]
        logs += ["\n".join(h.other) for h in list(ctx.hosts.values()) + [getattr(ctx, "old_eu", None)] if h]
        for text in logs:
            for marker in SANITIZER:
                i = text.find(marker)
                if i >= 0:
                    reports.append(text[i:i + 300])
                    break
        check("no collector or probe printed a sanitizer report", not reports, reports[:2])
    finally:
        cleanup()
        left = our_namespaces()
        check("cleanup: every %s* namespace is removed" % PREFIX, not left, left)
    diag("netns tests took %.1fs" % (time.monotonic() - t0))
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
