#!/usr/bin/env python3
"""The first hour with Vigil, as the README walks it (issue 14): what went wrong for a
newcomer, each kept from coming back.

- A second collector on a port that is taken says "127.0.0.1:PORT is already in use" and
  exits non-zero, instead of lws's "ERROR on binding fd 8 to port 8080 (-1 98)".
- scripts/demo-users against a collector with its default limits sends everything and
  prints no traceback; against tight limits it paces itself to the 429's Retry-After and
  says which limit to raise; against no collector it says so in a sentence.
- A browser test that ends early (playwright-core calls process.exit() on a Node it
  refuses; an uncaught error) leaves no collector and no temp folder behind:
  tests/browser/lib.mjs, driven by a small script that starts a collector and exits.
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, diag, tempdir  # noqa: E402

COLLECTOR = harness.COLLECTOR
DEMO_USERS = os.path.join(harness.ROOT, "scripts", "demo-users")
LIB = os.path.join(harness.ROOT, "tests", "browser", "lib.mjs")


def accepted(c):
    """vigil_beacons_accepted_total of collector c."""
    with urllib.request.urlopen(c.url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("vigil_beacons_accepted_total "):
                return int(float(line.split()[1]))
    return 0


def test_port_in_use():
    first = harness.Collector(name="first")
    d = tempdir()
    try:
        p = subprocess.run([COLLECTOR, "serve", "--db", os.path.join(d, "second.db"),
                            "--listen", "127.0.0.1:%d" % first.port],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        out = p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        out = None
    check("a second collector on a taken port stops at once", out is not None)
    if out is None:
        return
    want = "collector: 127.0.0.1:%d is already in use" % first.port
    check("... with a non-zero exit status", p.returncode != 0, p.returncode)
    check('... saying "%s"' % want.replace(str(first.port), "PORT"), want in out, out)
    check("... and not lws's \"ERROR on binding\"", "ERROR on binding" not in out, out)
    check("the first collector goes on", first.alive())
    first.stop()


def demo_users(url, views, timeout=120):
    p = subprocess.run([sys.executable, DEMO_USERS, "--collector", url, "--app", "shop",
                        "--version", "1.2.2", "--views", str(views)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def test_demo_users():
    c = harness.Collector(name="defaults")
    rc, out = demo_users(c.url, 2000)
    check("demo-users: 2000 views to a collector with default limits: exit 0", rc == 0, out)
    check("... no traceback", "Traceback" not in out, out)
    check("... all 2000 stored", accepted(c) == 2000, accepted(c))
    c.stop()

    # Two requests a second, bursts of two: 8 arrays of 50 cannot go at once.
    tight = harness.Collector(["--rate", "2", "--burst", "2"], name="tight")
    start = time.monotonic()
    rc, out = demo_users(tight.url, 400)
    diag("demo-users against --rate 2 --burst 2 took %.1f s: %s" % (time.monotonic() - start, out.strip()))
    check("demo-users: 400 views against --rate 2 --burst 2: exit 0, none lost",
          rc == 0 and accepted(tight) == 400, (rc, accepted(tight), out))
    check("... says it is rate limited and which options to raise",
          "429" in out and "--rate" in out and "--burst" in out, out)
    check("... no traceback", "Traceback" not in out, out)
    url = tight.url
    tight.stop()

    rc, out = demo_users(url, 10, timeout=30)
    check("demo-users with no collector: exit 1, a sentence, no traceback",
          rc == 1 and "cannot send" in out and "Traceback" not in out, (rc, out))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_browser_lib_early_exit():
    node = shutil.which("node")
    if not node:
        check("node is installed (scripts/setup)", False)
        return
    d = tempdir()
    for how, end in (("process.exit(), as playwright-core does on a Node it refuses", "process.exit(3);"),
                     ("an uncaught error", "throw new Error('early');")):
        script = os.path.join(d, "early.mjs")
        with open(script, "w") as f:
            f.write("import { startCollector, tempDir } from %r;\n"
                    "const dir = tempDir('vigil-early-');\n"
                    "const c = await startCollector(dir, 'early');\n"
                    "console.log(`pid ${c.pid} dir ${dir}`);\n"
                    "%s\n" % ("file://" + LIB, end))
        env = dict(os.environ, VIGIL_BIN=os.path.dirname(COLLECTOR), VIGIL_ROOT=harness.ROOT)
        p = subprocess.run([node, script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30, env=env)
        words = p.stdout.decode().split()
        if len(words) < 4 or words[0] != "pid":
            check("a browser-test script that ends by %s started its collector" % how, False,
                  p.stdout.decode() + p.stderr.decode())
            continue
        pid, folder = int(words[1]), words[3]
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        gone = not alive(pid)
        if not gone:
            os.kill(pid, 9)
        check("a browser test that ends by %s leaves no collector running" % how, gone, pid)
        check("... and no temp folder", not os.path.exists(folder), folder)


def main():
    for fn in (test_port_in_use, test_demo_users, test_browser_lib_early_exit):
        harness.run_group(fn)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
