"""Helpers for Vigil's integration tests (stdlib only).

- check(name, condition, detail): prints a TAP-style `ok - name` / `not ok - name: detail`
- Shop: runs scripts/example-shop on an ephemeral port (via --port-file)
- run_probe(args, ...): runs bin/probe, returns a Result(code, stdout, stderr, elapsed)
- tempdir(): a temporary folder removed at exit
- write_journey(dir, file, obj_or_text): writes a journey file, returns its path
Everything started here is stopped at exit (atexit), even when a test raises.
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.environ.get("VIGIL_ROOT") or os.path.join(HERE, "..", ".."))
# $VIGIL_BIN (set by tests/run, e.g. bin/asan for `make asan`) wins over $VIGIL_ROOT/bin.
PROBE = os.path.join(os.environ.get("VIGIL_BIN") or os.path.join(ROOT, "bin"), "probe")
if not os.path.exists(PROBE):
    _alt = os.path.abspath(os.path.join(HERE, "..", "..", "bin", "probe"))
    if os.path.exists(_alt):
        PROBE = _alt
SHOP = os.path.join(ROOT, "scripts", "example-shop")
if not os.path.exists(SHOP):
    SHOP = os.path.abspath(os.path.join(HERE, "..", "..", "scripts", "example-shop"))
EXAMPLES = os.path.join(ROOT, "probe", "examples")

_cleanups = []
_counts = {"ok": 0, "not ok": 0}


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception:
            pass


atexit.register(_run_cleanups)


def _on_signal(signum, frame):
    _run_cleanups()
    sys.exit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGHUP):
    try:
        signal.signal(_sig, _on_signal)
    except (ValueError, OSError):
        pass


def _oneline(text, limit=400):
    text = str(text).replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "..."


def check(name, condition, detail=""):
    """Print one TAP-style line; return the condition as a bool."""
    name = _oneline(name, 200)
    if condition:
        print("ok - %s" % name, flush=True)
        _counts["ok"] += 1
        return True
    print("not ok - %s: %s" % (name, _oneline(detail) if detail != "" else "failed"), flush=True)
    _counts["not ok"] += 1
    return False


def diag(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


def failures():
    return _counts["not ok"]


def passes():
    return _counts["ok"]


def run_group(fn, *args):
    """Run one test function; an exception becomes one `not ok` line."""
    try:
        fn(*args)
    except Exception as exc:  # keep going with the other groups
        check("%s runs without a harness error" % fn.__name__, False,
              "%s: %s" % (type(exc).__name__, exc))
        diag(traceback.format_exc())


def tempdir(prefix="vigil-it-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def write_file(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def write_private(path, text, mode=0o600):
    """Writes text to path readable by its owner only (a token or key file); returns path."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def free_port():
    """A loopback port nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_journey(directory, filename, journey):
    """journey: a dict/list (dumped as indented JSON) or raw text."""
    text = journey if isinstance(journey, str) else json.dumps(journey, indent=2) + "\n"
    return write_file(os.path.join(directory, filename), text)


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def load_json(path):
    """The parsed file, or None when missing or invalid."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Result:
    def __init__(self, code, stdout, stderr, elapsed, args):
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.args = args

    @property
    def output(self):
        return self.stdout + self.stderr

    def brief(self, limit=300):
        return "exit %s; stdout=%r; stderr=%r" % (self.code, self.stdout[-limit:], self.stderr[-limit:])

    def __repr__(self):
        return "Result(%s)" % self.brief()


def probe_command(args):
    wrapper = os.environ.get("VIGIL_PROBE_WRAPPER", "").split()
    return wrapper + [PROBE] + [str(a) for a in args]


def run_probe(args, env=None, timeout=30, cwd=None, unset=()):
    """Run bin/probe with args; env entries are added to os.environ (None removes)."""
    full_env = dict(os.environ)
    full_env.pop("NO_COLOR", None)
    for k in unset:
        full_env.pop(k, None)
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = str(v)
    cmd = probe_command(args)
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=cwd or ROOT, env=full_env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        code, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = None, exc.stdout or b"", (exc.stderr or b"") + b"\n[harness: timed out]"
    except OSError as exc:
        code, out, err = None, b"", ("[harness: cannot run %s: %s]" % (cmd, exc)).encode()
    res = Result(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                 time.monotonic() - start, cmd)
    _note_sanitizer(res)
    return res


_SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
              "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")
_sanitizer_reports = []


def _note_sanitizer(res):
    text = res.stdout + res.stderr
    for marker in _SANITIZER:
        i = text.find(marker)
        if i >= 0:
            _sanitizer_reports.append("%s -> %s" % (" ".join(res.args[-6:]), text[i:i + 300]))
            return


def run_probe_tty(args, env=None, timeout=30, cwd=None):
    """Run bin/probe with stdout and stderr on a pseudo-terminal; returns Result (stdout = all output)."""
    import pty
    import select
    full_env = dict(os.environ)
    full_env.pop("NO_COLOR", None)
    full_env.setdefault("TERM", "xterm")
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = str(v)
    master, slave = pty.openpty()
    start = time.monotonic()
    try:
        p = subprocess.Popen(probe_command(args), cwd=cwd or ROOT, env=full_env,
                             stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, close_fds=True)
    except OSError as exc:
        os.close(master)
        os.close(slave)
        return Result(None, "", str(exc), 0, args)
    os.close(slave)
    chunks = []
    deadline = start + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            p.kill()
            break
        r, _, _ = select.select([master], [], [], min(remaining, 0.2))
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            # drain what is left
            try:
                while select.select([master], [], [], 0.05)[0]:
                    data = os.read(master, 65536)
                    if not data:
                        break
                    chunks.append(data)
            except OSError:
                pass
            break
    os.close(master)
    try:
        code = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        code = None
    res = Result(code, b"".join(chunks).decode("utf-8", "replace"), "", time.monotonic() - start, args)
    _note_sanitizer(res)
    return res


class Shop:
    """scripts/example-shop on an ephemeral port of 127.0.0.1."""

    def __init__(self, broken=False, version="1.2.3", tls_cert=None, tls_key=None,
                 password="secret", client_ca=None, extra_args=()):
        self.dir = tempdir("vigil-shop-")
        self.port_file = os.path.join(self.dir, "port")
        self.log = os.path.join(self.dir, "stderr.log")
        self.tls = bool(tls_cert)
        self.password = password
        self.tls_cert = tls_cert
        args = [sys.executable, SHOP, "--port", "0", "--host", "127.0.0.1",
                "--version", version, "--port-file", self.port_file]
        if broken:
            args.append("--broken")
        if tls_cert:
            args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
        if client_ca:
            args += ["--tls-client-ca", client_ca]
        self.client_ca = client_ca
        args += list(extra_args)
        env = dict(os.environ)
        env["SHOP_PASSWORD"] = password
        self._log_f = open(self.log, "w")
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log_f, stderr=self._log_f)
        _cleanups.append(self.stop)
        self.port = self._wait_port()
        scheme = "https" if self.tls else "http"
        self.base = "%s://127.0.0.1:%d" % (scheme, self.port)

    def _wait_port(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("example-shop exited with %s: %s"
                                   % (self.proc.returncode, read_text(self.log)))
            text = read_text(self.port_file).strip()
            if text.isdigit():
                return int(text)
            time.sleep(0.02)
        raise RuntimeError("example-shop did not write its port within %ds" % timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log_f.closed:
            self._log_f.close()

    def request(self, method, path, body=None, headers=None, timeout=10):
        """(status, parsed JSON or text) straight from the shop, bypassing probe."""
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls_cert)
            ctx.check_hostname = False
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read().decode("utf-8", "replace")
            try:
                return resp.status, json.loads(data)
            except ValueError:
                return resp.status, data
        finally:
            conn.close()

    def stats(self):
        """Requests served so far (GET /stats excluded)."""
        status, body = self.request("GET", "/stats")
        return body["requests"] if status == 200 and isinstance(body, dict) else None


def make_cert(directory, days, names=("localhost",), ips=("127.0.0.1",), stem=""):
    """A self-signed certificate made with the openssl CLI; returns (cert, key)."""
    cert = os.path.join(directory, stem + "cert.pem")
    key = os.path.join(directory, stem + "key.pem")
    san = ",".join(["DNS:%s" % n for n in names] + ["IP:%s" % i for i in ips])
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-sha256",
           "-keyout", key, "-out", cert, "-days", str(days),
           "-subj", "/CN=%s" % names[0], "-addext", "subjectAltName=%s" % san,
           "-addext", "basicConstraints=critical,CA:TRUE"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl failed: %s" % p.stderr.decode("utf-8", "replace"))
    return cert, key


# ---------------------------------------------------------------- collector process

COLLECTOR = os.path.join(os.environ.get("VIGIL_BIN") or os.path.join(ROOT, "bin"), "collector")
if not os.path.exists(COLLECTOR):
    _alt = os.path.abspath(os.path.join(HERE, "..", "..", "bin", "collector"))
    if os.path.exists(_alt):
        COLLECTOR = _alt
SANITIZER = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
             "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")
_all_collectors = []


class Collector:
    """bin/collector serve on 127.0.0.1 (port 0: ephemeral, or a given port for a restart on
    the same port); its own temp dir unless `directory` is given; stopped at exit whatever
    happens. Each start() logs to a new file (self.logs; self.log is the latest)."""

    def __init__(self, args=(), db=None, directory=None, name="collector", port=0):
        self.dir = directory or tempdir("vigil-coll-")
        self.db = db or os.path.join(self.dir, "vigil.db")
        self.args = list(args)
        self.name = name
        self.listen_port = port
        self.proc = None
        self.logs = []
        self.port = None
        _cleanups.append(self.kill_quietly)  # stopped before its temp dir goes
        _all_collectors.append(self)
        self.start()

    @property
    def log(self):
        return self.logs[-1] if self.logs else None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        n = len(self.logs)
        port_file = os.path.join(self.dir, "%s.%d.port" % (self.name, n))
        log = os.path.join(self.dir, "%s.%d.log" % (self.name, n))
        try:
            os.unlink(port_file)
        except OSError:
            pass
        self.logs.append(log)
        cmd = [COLLECTOR, "serve", "--db", self.db, "--listen", "127.0.0.1:%d" % self.listen_port,
               "--port-file", port_file] + self.args
        with open(log, "w") as f:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        self.port = self._wait_port(port_file)

    def _wait_port(self, port_file, timeout=10):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s: %s" % (self.name, self.proc.returncode,
                                                             read_text(self.log)[-500:]))
            text = read_text(port_file).strip()
            if text.isdigit() and int(text) > 0:
                if text == last:  # read twice the same: written whole
                    return int(text)
                last = text
            time.sleep(0.02)
        raise RuntimeError("%s did not write its port within %ds" % (self.name, timeout))

    def restart(self):
        self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop_timed(self, timeout=5):
        """SIGTERM, then SIGKILL after timeout. Returns (exit code, seconds, killed)."""
        if self.proc is None:
            return None, 0.0, False
        start = time.monotonic()
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0, False
        try:
            self.proc.send_signal(signal.SIGTERM)
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=timeout)
            return rc, time.monotonic() - start, False
        except subprocess.TimeoutExpired:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            return self.proc.returncode, time.monotonic() - start, True

    def stop(self, timeout=5):
        """SIGTERM, then SIGKILL after timeout. Returns the exit code (None when killed)."""
        rc, _, killed = self.stop_timed(timeout)
        return None if killed else rc

    def kill9(self):
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def kill_quietly(self):
        try:
            self.stop(timeout=3)
        except Exception:
            pass

    def log_text(self):
        return "".join(read_text(p) for p in self.logs)


def collector_sanitizer_reports(collectors=None):
    """One line per collector whose logs hold a sanitizer report."""
    reports = []
    for c in _all_collectors if collectors is None else collectors:
        text = c.log_text()
        for marker in SANITIZER:
            i = text.find(marker)
            if i >= 0:
                reports.append("%s: %s" % (c.name, text[i:i + 300]))
                break
    return reports


def check_collectors_clean():
    """Checks that no collector this test file started printed a sanitizer report (ASan,
    UBSan or TSan: SANITIZER) in its logs."""
    reports = collector_sanitizer_reports()
    check("no collector printed a sanitizer report", not reports, reports[:2])


# ---------------------------------------------------------------- HTTP helpers

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def text(self):
        return self.body.decode("utf-8", "replace")

    def brief(self):
        return "status %s, headers %s, body %r" % (self.status, self.headers, self.body[:300])


def request(port, method, path, body=None, headers=None, timeout=10, conn=None):
    """One HTTP request to 127.0.0.1:port (or on conn); body is str, bytes, None or an
    object (dumped as JSON). Returns a Resp."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode("utf-8")
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        if own:
            conn.close()


def get(port, path, timeout=15, **params):
    """GET path?params (URL-encoded); a Resp."""
    q = urllib.parse.urlencode(params)
    return request(port, "GET", path + ("?" + q if q else ""), timeout=timeout)



def finish():
    """Exit status for the test file: 1 when any check failed."""
    check("no probe run printed a sanitizer report", not _sanitizer_reports,
          "%d report(s); first: %s" % (len(_sanitizer_reports), _sanitizer_reports[:1]))
    print("# %d passed, %d failed" % (_counts["ok"], _counts["not ok"]), flush=True)
    _run_cleanups()
    return 1 if _counts["not ok"] else 0


class JsonLog:
    """Reads a process's stderr on a thread: JSON objects (each stamped "_t", its
    monotonic arrival) go to events, other lines to other. Call start_log(proc)."""

    def start_log(self, proc):
        self.events = []
        self.other = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.reader.start()

    def _read(self, proc):
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            with self.lock:
                if isinstance(obj, dict):
                    obj["_t"] = time.monotonic()
                    self.events.append(obj)
                else:
                    self.other.append(line)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def of(self, event):
        return [e for e in self.snapshot() if e.get("event") == event]


def collector_cli(*args, stdin=None, timeout=120):
    """Runs bin/collector with args (and bytes on stdin): (exit code, stdout, stderr), or
    ("timeout", "", "") past timeout seconds."""
    try:
        p = subprocess.run([COLLECTOR] + [str(a) for a in args], input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", "", ""
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def many_values_jsonl(app, version, base, beacons, events, received_ms):
    """Import lines (collector import) of `beacons` page views of app/version, each with
    `events` LCP values base + (k % 997), all received at received_ms: a database with
    many raw values for reads that must take a while."""
    out = []
    for b in range(beacons):
        pv = "pv-%s-%d" % (version, b)
        evs = [{"type": "metric", "name": "LCP", "value": float(base + (b * events + e) % 997),
                "rating": "good", "id": "m-%s-%d" % (pv, e)} for e in range(events)]
        out.append(json.dumps({"app": app, "version": version, "session": "s", "pv": pv,
                               "page": "/", "nav": "navigate", "ts": received_ms,
                               "received": received_ms, "events": evs}))
    return ("\n".join(out) + "\n").encode()
