"""A real ClickHouse server for the integration tests (stdlib only).

    with ClickHouse(password="...") as ch:
        ch.query("SELECT 1")            # over HTTP, as the collector talks to it
        ch.url                          # clickhouse://127.0.0.1:PORT/default

ClickHouse starts Debian's /usr/sbin/clickhouse-server (scripts/setup installs it) with a
generated minimal config in a temp folder: the HTTP interface on 127.0.0.1 at a free port
(harness.free_port), data, logs and tmp in the folder, a `default` user limited to
127.0.0.1 with the given password (or none), and no system service. It waits (bounded)
until `SELECT 1` answers, and stops the server on exit from the `with` block, at
interpreter exit (harness's atexit cleanups) and on SIGTERM, so that a failing test never
leaves one running. stop() and start() may be called in between (the outage tests).
"""

import base64
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from xml.sax.saxutils import escape

import harness

SERVER = os.environ.get("VIGIL_CLICKHOUSE_SERVER", "/usr/sbin/clickhouse-server")
START_TIMEOUT_S = 60

# The element names are 18.16's (config.xml of the Debian package); current releases read
# the same ones (https://clickhouse.com/docs/operations/server-configuration-parameters/settings).
CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{dir}/log/server.log</log>
    <errorlog>{dir}/log/error.log</errorlog>
    <size>10M</size>
    <count>1</count>
    <console>0</console>
  </logger>
  <http_port>{port}</http_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>64</max_connections>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>{dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>16777216</mark_cache_size>
  <uncompressed_cache_size>16777216</uncompressed_cache_size>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password>{password}</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


def unit_env(ch, password):
    """The environment a C test against ClickHouse reads (tests/unit/test_chstore.c,
    test_chread.c): ch's URL and a private file with its password."""
    pwfile = harness.write_private(os.path.join(harness.tempdir(), "chpass"), password + "\n")
    return dict(os.environ, VIGIL_CLICKHOUSE_URL=ch.url, VIGIL_CLICKHOUSE_PASSWORD_FILE=pwfile)


def run_unit(name, args=(), env=None, timeout=600):
    """Runs bin/tests/NAME ARGS (a C test printing TAP lines): each of its checks becomes a
    check of this file, its "#" lines are printed, and it must exit 0. Returns how many of
    its checks passed, and its output."""
    binary = os.path.join(os.environ.get("VIGIL_BIN") or os.path.join(harness.ROOT, "bin"),
                          "tests", name)
    p = subprocess.run([binary] + list(args), env=env, capture_output=True, text=True,
                       timeout=timeout)
    oks = 0
    for line in p.stdout.splitlines():
        if line.startswith("ok ") or line.startswith("not ok "):
            oks += line.startswith("ok ")
            harness.check(line.split(" - ", 1)[1], line.startswith("ok "), "in " + name)
        elif line.startswith("#"):
            print(line)
    harness.check(" ".join([name] + list(args)) + " exits 0", p.returncode == 0,
                  p.stderr[-2000:])
    return oks, p.stdout


class ClickHouseError(Exception):
    pass


class ClickHouse:
    def __init__(self, password="", database="default"):
        self.password = password
        self.database = database
        self.dir = harness.tempdir("vigil-ch-")
        self.port = harness.free_port()
        self.proc = None
        for sub in ("log", "data", "tmp", "user_files", "format_schemas"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.config = harness.write_file(os.path.join(self.dir, "config.xml"),
                                         CONFIG.format(dir=self.dir, port=self.port))
        harness.write_file(os.path.join(self.dir, "users.xml"),
                           USERS.format(password=escape(password)))
        harness._cleanups.append(self.stop)

    @property
    def url(self):
        return "clickhouse://127.0.0.1:%d/%s" % (self.port, self.database)

    def start(self):
        """Starts the server and waits until SELECT 1 answers (at most START_TIMEOUT_S)."""
        if self.proc and self.proc.poll() is None:
            return self
        if not os.access(SERVER, os.X_OK):
            raise ClickHouseError("%s is missing: run scripts/setup" % SERVER)
        self.out = open(os.path.join(self.dir, "log", "stdout"), "ab")
        self.proc = subprocess.Popen([SERVER, "--config-file=" + self.config],
                                     cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ClickHouseError("clickhouse-server exited with %s: %s"
                                      % (self.proc.returncode, self.log_tail()))
            try:
                if self.query("SELECT 1", timeout=2, database="default").strip() == "1":
                    if self.database != "default":
                        self.query("CREATE DATABASE IF NOT EXISTS %s" % self.database,
                                   database="default")
                    return self
            except (OSError, ClickHouseError) as exc:
                last = str(exc)
            time.sleep(0.2)
        self.stop()
        raise ClickHouseError("clickhouse-server did not answer SELECT 1 within %d s (%s): %s"
                              % (START_TIMEOUT_S, last, self.log_tail()))

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL after 20 s); a no-op when stopped."""
        p, self.proc = self.proc, None
        if not p or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        except ProcessLookupError:
            pass
        self.out.close()

    def log_tail(self, n=2000):
        text = ""
        for name in ("error.log", "stdout"):
            try:
                text += harness.read_text(os.path.join(self.dir, "log", name))[-n:]
            except OSError:
                pass
        return text.strip()[-n:]

    def query(self, sql, timeout=30, data=None, database=None):
        """Runs sql over HTTP (POST; with data, sql is in the URL and data is the body, as
        for an INSERT); returns the response text or raises ClickHouseError."""
        params = {"database": database or self.database}
        if data is not None:
            params["query"] = sql
        url = "http://127.0.0.1:%d/?%s" % (self.port, urllib.parse.urlencode(params))
        body = data if data is not None else sql
        req = urllib.request.Request(url, data=body.encode(), method="POST")
        auth = base64.b64encode(("default:%s" % self.password).encode()).decode()
        req.add_header("Authorization", "Basic " + auth)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise ClickHouseError("HTTP %d: %s" % (e.code, e.read().decode(errors="replace")))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


class CHCollector(harness.Collector):
    """`collector serve --store URL` (harness.Collector passes --db; this one does not),
    on 127.0.0.1, stopped at exit like every harness.Collector."""

    def __init__(self, url, args, name):
        self.store_url = url
        super().__init__(args, name=name)

    def start(self):
        n = len(self.logs)
        port_file = os.path.join(self.dir, "%s.%d.port" % (self.name, n))
        log = os.path.join(self.dir, "%s.%d.log" % (self.name, n))
        self.logs.append(log)
        cmd = [harness.COLLECTOR, "serve", "--store", self.store_url, "--listen",
               "127.0.0.1:%d" % self.listen_port, "--port-file", port_file] + self.args
        with open(log, "w") as f:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        self.port = self._wait_port(port_file, timeout=30)
        self.listen_port = self.port  # a restart takes the same port
