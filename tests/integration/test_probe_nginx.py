#!/usr/bin/env python3
"""Integration tests of bin/probe against a real nginx (Debian nginx-light), see probe/README.md.

A private nginx (1 worker, 127.0.0.1, free ports, config/pid/logs/temp paths in a temp dir,
`daemon off;` as a subprocess) serves:
  - an https listener with HTTP/2 (self-signed cert for localhost, vigil.test, 127.0.0.1);
  - a plain http listener (also serving stub_status, used to count accepted connections).
Checks: HTTP/2 negotiation via ALPN and --http1.1, timings and tls.days_to_expiry,
connection reuse across steps and runs (--repeat/--parallel, counted by nginx),
--resolve and --connect-to (Host and SNI keep the name), the tls expectation, and a
301 redirect.

Expectations come from nginx's configuration and from the README, never from probe's code.
Prints TAP-style `ok - ...` / `not ok - ...` lines; exits 1 when any check failed.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, run_probe, tempdir, write_journey, load_json, read_text  # noqa: E402

CERT_DAYS = 200
REPEAT, PARALLEL, STEPS = 20, 4, 4
MAX_CONNECTIONS = 8


# ---------------------------------------------------------------- nginx

def find_nginx():
    for cand in (os.environ.get("NGINX"), "/usr/sbin/nginx"):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    for d in os.environ.get("PATH", "").split(os.pathsep):
        cand = os.path.join(d, "nginx")
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def free_ports(n):
    """n distinct free TCP ports of 127.0.0.1 (all sockets held open until all are picked)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Nginx:
    """A private nginx started with `daemon off;`; stop() is registered for exit."""

    def __init__(self, binary, directory, cert, key):
        self.binary = binary
        self.dir = directory
        self.proc = None
        self.https_port, self.http_port = free_ports(2)
        self.error_log = os.path.join(directory, "error.log")
        self.access_log = os.path.join(directory, "access.log")
        self.out = os.path.join(directory, "nginx.out")
        version_info = self._capture([binary, "-V"])
        self.has_stub_status = "--with-http_stub_status_module" in version_info
        conf = self._config(version_info, cert, key)
        self.conf = harness.write_file(os.path.join(directory, "nginx.conf"), conf)
        # `daemon off;` is in the config too: nginx must stay our child so that stop() ends it
        self.args = [binary, "-p", directory + "/", "-c", self.conf]
        if "-e filename" in self._capture([binary, "-h"]):
            self.args += ["-e", self.error_log]
        test = subprocess.run(self.args + ["-t"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=20)
        if test.returncode != 0:
            raise RuntimeError("nginx -t rejected the config: %s"
                               % test.stdout.decode("utf-8", "replace").strip())
        harness._cleanups.append(self.stop)
        self._out_f = open(self.out, "w")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._out_f,
                                     stderr=self._out_f, start_new_session=True)
        self._wait_up()

    @staticmethod
    def _capture(cmd):
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10)
            return p.stdout.decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired):
            return ""

    def _config(self, version_info, cert, key):
        t = self.dir
        temps = ["    client_body_temp_path %s/client_body_temp;" % t]
        for module, directive in (("uwsgi", "uwsgi_temp_path"), ("scgi", "scgi_temp_path"),
                                  ("fastcgi", "fastcgi_temp_path"), ("proxy", "proxy_temp_path")):
            if "--without-http_%s_module" % module not in version_info:
                temps.append("    %s %s/%s_temp;" % (directive, t, module))
        status = ("location = /nginx_status { default_type text/plain; stub_status; }"
                  if self.has_stub_status else "")
        # add_header only applies to 2xx/3xx responses, which is what these locations return
        locations = r"""
        add_header X-Vigil nginx always;
        location = /api/login    { return 200 '{"token":"abc","roles":["customer"]}'; }
        location = /api/cart     { return 200 '{"items":[{"sku":"A-1","qty":1}],"total":9.99}'; }
        location = /api/checkout { return 200 '{"order_id":"o1","status":"confirmed"}'; }
        location = /echo {
            return 200 '{"host":"$host","sni":"$ssl_server_name","proto":"$server_protocol","scheme":"$scheme"}';
        }
        location = /old { return 301 /api/login; }
        location / { return 404 '{"error":"not found"}'; }
"""
        return """%(user)s
daemon off;
worker_processes 1;
pid %(t)s/nginx.pid;
error_log %(t)s/error.log warn;
events { worker_connections 1024; }
http {
    log_format vigil '$connection $connection_requests $server_port $server_protocol $ssl_protocol $ssl_session_reused $request_method $request_uri $status';
    access_log %(t)s/access.log vigil;
%(temps)s
    keepalive_requests 100000;
    keepalive_timeout 60s;
    default_type application/json;
    server {
        listen 127.0.0.1:%(https)d ssl http2;
        server_name localhost vigil.test;
        ssl_certificate %(cert)s;
        ssl_certificate_key %(key)s;
        %(locations)s
    }
    server {
        listen 127.0.0.1:%(http)d;
        server_name localhost;
        %(status)s
        %(locations)s
    }
}
""" % {"user": "user root;" if os.geteuid() == 0 else "", "t": t, "temps": "\n".join(temps),
       "https": self.https_port, "http": self.http_port, "cert": cert, "key": key,
       "locations": locations, "status": status}

    def _wait_up(self, timeout=10):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited with %s: %s %s" % (
                    self.proc.returncode, read_text(self.out).strip(), read_text(self.error_log).strip()))
            try:
                for port in (self.http_port, self.https_port):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                status, _, _ = self.get("/api/login")
                if status == 200:
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.05)
        raise RuntimeError("nginx did not come up on ports %d/%d: %s; %s" % (
            self.http_port, self.https_port, last, read_text(self.error_log).strip()))

    def get(self, path, timeout=5):
        """(status, headers, body text) of a plain-http GET, one connection per call."""
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path))
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read().decode("utf-8", "replace")

    def accepts(self):
        """stub_status's accepted-connections counter (includes this query's own connection)."""
        _, _, text = self.get("/nginx_status")
        lines = text.splitlines()
        return int(lines[2].split()[0])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: master + worker
                except OSError:
                    pass
                self.proc.wait()
        # should nginx ever have daemonized anyway, its master's pid is in our own pid file
        pid_text = read_text(os.path.join(self.dir, "nginx.pid")).strip()
        if pid_text.isdigit() and (self.proc is None or int(pid_text) != self.proc.pid):
            try:
                os.kill(int(pid_text), signal.SIGTERM)
            except OSError:
                pass
        if getattr(self, "_out_f", None) is not None and not self._out_f.closed:
            self._out_f.close()


# ---------------------------------------------------------------- helpers

def run_report(args, timeout=30):
    """Run probe with --report json; returns (result, report or None)."""
    d = tempdir("vigil-nginx-report-")
    rp = os.path.join(d, "report.json")
    r = run_probe(list(args) + ["--report", "json:" + rp, "--no-color"], timeout=timeout)
    return r, load_json(rp)


def journeys_of(report):
    if isinstance(report, dict) and isinstance(report.get("journeys"), list):
        return report["journeys"]
    return []


def steps_of(report, i=0):
    js = journeys_of(report)
    if len(js) > i and isinstance(js[i].get("steps"), list):
        return js[i]["steps"]
    return []


def all_steps(report):
    out = []
    for j in journeys_of(report):
        out.extend(j.get("steps") or [])
    return out


def failures_of(step):
    f = step.get("failures")
    return f if isinstance(f, list) else []


def failure(step, name):
    for f in failures_of(step):
        if f.get("check") == name:
            return f
    return None


def captures(step):
    c = step.get("captures")
    return c if isinstance(c, dict) else {}


def show(steps):
    return json.dumps([{k: s.get(k) for k in ("name", "result", "status", "http_version", "failures")}
                       for s in steps])[:600]


def journey(name, steps, variables=None, defaults=None):
    j = {"name": name}
    if variables is not None:
        j["variables"] = variables
    j["defaults"] = defaults if defaults is not None else {"timeout_ms": 5000}
    j["steps"] = steps
    return j


def shop_steps():
    """The 4-step journey of probe/README.md, against nginx's canned answers."""
    return [
        {"name": "login",
         "request": {"method": "POST", "url": "{{base}}/api/login",
                     "json": {"user": "probe@example.com", "password": "x"}},
         "expect": {"status": 200, "json": {"$.token": {"exists": True}, "$.roles": {"count_ge": 1}},
                    "headers": {"X-Vigil": "nginx"}},
         "capture": {"token": {"json": "$.token"}}},
        {"name": "add to cart",
         "request": {"method": "POST", "url": "{{base}}/api/cart",
                     "headers": {"Authorization": "Bearer {{token}}"}, "json": {"sku": "A-1", "qty": 1}},
         "expect": {"status": [200, 201], "headers": {"Content-Type": {"contains": "json"}}}},
        {"name": "view cart",
         "request": {"method": "GET", "url": "{{base}}/api/cart",
                     "headers": {"Authorization": "Bearer {{token}}"}},
         "expect": {"status": 200, "json": {"$.items[0].sku": "A-1", "$.items": {"count_ge": 1}}}},
        {"name": "check out",
         "request": {"method": "POST", "url": "{{base}}/api/checkout",
                     "headers": {"Authorization": "Bearer {{token}}"}, "json": {"payment": "test-card"}},
         "expect": {"status": 200, "json": {"$.status": {"eq": "confirmed"}}},
         "capture": {"order_id": {"json": "$.order_id"}}},
    ]


def access_connections(ngx, port, since):
    """Distinct nginx connection serial numbers of requests to `port` in access.log lines [since:]."""
    conns = set()
    for line in read_text(ngx.access_log).splitlines()[since:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2] == str(port):
            conns.add(parts[0])
    return conns


def access_lines(ngx):
    return len(read_text(ngx.access_log).splitlines())


# ---------------------------------------------------------------- tests

def test_http_versions(ngx, d, cert):
    https = "https://localhost:%d" % ngx.https_port
    http = "http://127.0.0.1:%d" % ngx.http_port
    p = write_journey(d, "versions.json", journey("versions", [
        {"name": "echo", "request": {"url": "{{base}}/echo"},
         "expect": {"status": 200, "headers": {"X-Vigil": "nginx"}},
         "capture": {"proto": {"json": "$.proto"}}}], {"base": https}))

    r, rep = run_report(["run", p, "--cacert", cert])
    s = (steps_of(rep) or [{}])[0]
    check("https with --cacert against nginx (http2 listener) passes (exit 0)", r.code == 0,
          (r.brief(), failures_of(s)))
    check("https: probe negotiates HTTP/2 via ALPN (steps[].http_version == \"2\")",
          s.get("http_version") == "2", (s.get("http_version"), captures(s)))
    check("https: nginx saw HTTP/2.0 (captured $server_protocol)", captures(s).get("proto") == "HTTP/2.0",
          captures(s))
    check("add_header X-Vigil is checked over HTTP/2 (expect headers passes)", s.get("result") == "passed",
          failures_of(s))

    r, rep = run_report(["run", p, "--cacert", cert, "--http1.1"])
    s = (steps_of(rep) or [{}])[0]
    check("https --http1.1 passes (exit 0)", r.code == 0, (r.brief(), failures_of(s)))
    check("https --http1.1: http_version is \"1.1\"", s.get("http_version") == "1.1", s.get("http_version"))
    check("https --http1.1: nginx saw HTTP/1.1", captures(s).get("proto") == "HTTP/1.1", captures(s))

    r, rep = run_report(["run", p, "--var", "base=" + http])
    s = (steps_of(rep) or [{}])[0]
    check("plain http against nginx passes (exit 0)", r.code == 0, (r.brief(), failures_of(s)))
    check("plain http: http_version is \"1.1\"", s.get("http_version") == "1.1", s.get("http_version"))
    check("plain http: the step carries no tls object", "tls" not in s, s.get("tls"))


def test_timings_and_expiry(ngx, d, cert):
    https = "https://localhost:%d" % ngx.https_port
    p = write_journey(d, "timings.json", journey("timings", [
        {"name": "first", "request": {"url": "{{base}}/api/login"}},
        {"name": "second", "request": {"url": "{{base}}/api/cart"}}], {"base": https}))
    r, rep = run_report(["run", p, "--cacert", cert])
    steps = steps_of(rep)
    check("timings journey over https passes (exit 0)", r.code == 0 and len(steps) == 2,
          (r.brief(), show(steps)))
    s = steps[0] if steps else {}
    t = s.get("timings_ms") or {}
    check("first https step: timings_ms.tls > 0 (a TLS handshake took place)",
          isinstance(t.get("tls"), (int, float)) and t["tls"] > 0, t)
    check("first https step: timings_ms.connect >= 0",
          isinstance(t.get("connect"), (int, float)) and t["connect"] >= 0, t)
    tls = s.get("tls") or {}
    dte = tls.get("days_to_expiry")
    check("tls.days_to_expiry matches the cert's -days %d (within 1)" % CERT_DAYS,
          isinstance(dte, (int, float)) and abs(dte - CERT_DAYS) <= 1, tls)


def test_reuse(ngx, d, cert):
    if not ngx.has_stub_status:
        check("nginx has stub_status (needed to count connections)", False, "nginx -V lacks it")
        return
    https = "https://localhost:%d" % ngx.https_port
    p = write_journey(d, "reuse.json", journey("reuse", shop_steps(), {"base": https}))
    lines0 = access_lines(ngx)
    a0 = ngx.accepts()
    r, rep = run_report(["run", p, "--cacert", cert, "--repeat", str(REPEAT), "--parallel", str(PARALLEL),
                         "--quiet"], timeout=60)
    a1 = ngx.accepts()
    opened = a1 - a0 - 1  # the second stub_status query opened one connection itself
    steps = all_steps(rep)
    total = REPEAT * STEPS
    conns = access_connections(ngx, ngx.https_port, lines0)
    diag("reuse: probe opened %d connection(s) (stub_status accepts %d -> %d); access.log shows %d "
         "distinct https connection(s); versions %s" % (
             opened, a0, a1, len(conns), sorted({s.get("http_version") for s in steps}, key=str)))
    check("reuse: --repeat %d --parallel %d of a %d-step https journey exits 0" % (REPEAT, PARALLEL, STEPS),
          r.code == 0, r.brief())
    check("reuse: all %d steps passed" % total,
          len(steps) == total and all(s.get("result") == "passed" for s in steps),
          (len(steps), [s for s in steps if s.get("result") != "passed"][:2]))
    summ = (rep or {}).get("summary") or {}
    check("reuse: summary counts %d journeys and %d passed steps" % (REPEAT, total),
          summ.get("journeys") == REPEAT and summ.get("steps_passed") == total, summ)
    check("reuse: nginx accepted <= %d connections for %d requests (stub_status)" % (MAX_CONNECTIONS, total),
          0 <= opened <= MAX_CONNECTIONS, "opened %d connections (accepts %d -> %d)" % (opened, a0, a1))
    reqs = [l for l in read_text(ngx.access_log).splitlines()[lines0:]
            if l.split()[2:3] == [str(ngx.https_port)]]
    check("reuse: nginx logged %d https requests" % total, len(reqs) == total, len(reqs))
    tls_steps = [s for s in steps if ((s.get("timings_ms") or {}).get("tls") or 0) > 0]
    diag("reuse: %d of %d steps report timings_ms.tls > 0 (a handshake on that step)"
         % (len(tls_steps), len(steps)))


def test_resolve_connect_to(ngx, d, cert):
    port = ngx.https_port
    pr = write_journey(d, "resolve.json", journey("resolve", [
        {"name": "echo", "request": {"url": "https://vigil.test:%d/echo" % port},
         "capture": {"host": {"json": "$.host"}, "sni": {"json": "$.sni"}}}]))
    r, rep = run_report(["run", pr, "--cacert", cert, "--resolve", "vigil.test:%d:127.0.0.1" % port])
    s = (steps_of(rep) or [{}])[0]
    check("--resolve vigil.test:PORT:127.0.0.1 passes with verification on (exit 0)",
          r.code == 0 and s.get("result") == "passed", (r.brief(), failures_of(s)))
    check("--resolve keeps Host (nginx $host == vigil.test)", captures(s).get("host") == "vigil.test",
          captures(s))
    check("--resolve keeps SNI (nginx $ssl_server_name == vigil.test)", captures(s).get("sni") == "vigil.test",
          captures(s))
    check("--resolve: report insecure is false", (rep or {}).get("insecure") is False, (rep or {}).get("insecure"))

    pc = write_journey(d, "connect_to.json", journey("connect to", [
        {"name": "echo", "request": {"url": "https://vigil.test:1/echo"},
         "capture": {"host": {"json": "$.host"}, "sni": {"json": "$.sni"}}}]))
    r, rep = run_report(["run", pc, "--cacert", cert, "--connect-to", "vigil.test:1:127.0.0.1:%d" % port])
    s = (steps_of(rep) or [{}])[0]
    check("--connect-to vigil.test:1:127.0.0.1:PORT passes (exit 0)",
          r.code == 0 and s.get("result") == "passed", (r.brief(), failures_of(s)))
    check("--connect-to keeps Host and SNI (vigil.test)",
          captures(s).get("host") == "vigil.test" and captures(s).get("sni") == "vigil.test", captures(s))


def test_tls_expectation(ngx, d, cert):
    https = "https://localhost:%d" % ngx.https_port
    p = write_journey(d, "tls_expect.json", journey("tls expect", [
        {"name": "far future", "request": {"url": "{{base}}/api/login"},
         "expect": {"tls": {"days_to_expiry": {"ge": 9999}}}},
        {"name": "after", "request": {"url": "{{base}}/api/login"}}], {"base": https}))
    r, rep = run_report(["run", p, "--cacert", cert])
    steps = steps_of(rep)
    s = steps[0] if steps else {}
    check("tls days_to_expiry ge 9999 fails the run (exit 1)", r.code == 1, r.brief())
    check('the failure check is "tls.days_to_expiry"', failure(s, "tls.days_to_expiry") is not None,
          failures_of(s))
    check("the step after the failed tls expectation is skipped",
          [x.get("result") for x in steps] == ["failed", "skipped"], show(steps))


def test_redirect(ngx, d, cert):
    https = "https://localhost:%d" % ngx.https_port
    p = write_journey(d, "redirect.json", journey("redirect", [
        {"name": "no follow", "request": {"url": "{{base}}/old"},
         "expect": {"status": 301, "headers": {"Location": {"contains": "/api/login"},
                                               "X-Vigil": "nginx"}}},
        {"name": "follow", "request": {"url": "{{base}}/old"}, "follow_redirects": True,
         "expect": {"status": 200, "json": {"$.token": "abc"}}}], {"base": https}))
    r, rep = run_report(["run", p, "--cacert", cert])
    steps = steps_of(rep)
    check("nginx 301: not followed by default (status 301 + Location), followed with follow_redirects",
          r.code == 0 and [x.get("result") for x in steps] == ["passed", "passed"]
          and [x.get("status") for x in steps] == [301, 200], (r.brief(), show(steps)))


def main():
    if not os.path.exists(harness.PROBE):
        check("bin/probe exists (run make)", False, harness.PROBE)
        return harness.finish() or 1
    binary = find_nginx()
    if not binary:
        check("nginx is installed (apt-get install nginx-light)", False, "no nginx in PATH nor /usr/sbin/nginx")
        return harness.finish() or 1
    d = tempdir("vigil-nginx-")
    try:
        cert, key = harness.make_cert(d, CERT_DAYS, names=("localhost", "vigil.test"), ips=("127.0.0.1",))
    except Exception as exc:
        check("openssl makes a self-signed certificate", False, exc)
        return harness.finish() or 1
    ngx = None
    try:
        try:
            ngx = Nginx(binary, d, cert, key)
        except Exception as exc:
            check("private nginx starts (https+http2 and http listeners)", False, exc)
            return harness.finish() or 1
        diag("nginx %s: https://127.0.0.1:%d (http2), http://127.0.0.1:%d"
             % (binary, ngx.https_port, ngx.http_port))
        jd = tempdir("vigil-nginx-journeys-")
        harness.run_group(test_http_versions, ngx, jd, cert)
        harness.run_group(test_timings_and_expiry, ngx, jd, cert)
        harness.run_group(test_reuse, ngx, jd, cert)
        harness.run_group(test_resolve_connect_to, ngx, jd, cert)
        harness.run_group(test_tls_expectation, ngx, jd, cert)
        harness.run_group(test_redirect, ngx, jd, cert)
        check("nginx stayed up during the tests", ngx.proc.poll() is None,
              "exit %s: %s" % (ngx.proc.returncode, read_text(ngx.error_log)[-300:]))
    finally:
        if ngx is not None:
            ngx.stop()
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
