#!/usr/bin/env python3
"""The ClickHouse store's foundation against a real clickhouse-server (tests/integration/
clickhouse.py starts one): bin/tests/test_chstore with VIGIL_CLICKHOUSE_URL runs the parity
of SQLite and ClickHouse rollups, the exactly-once replay and the password checks
(tests/unit/test_chstore.c says what each asserts); then, with the server stopped, the error
of an unreachable ClickHouse comes within the client's timeout."""

import os
import socket
import subprocess
import sys
import time

import harness
from clickhouse import ClickHouse

BIN = os.environ.get("VIGIL_BIN") or os.path.join(harness.ROOT, "bin")
TEST = os.path.join(BIN, "tests", "test_chstore")


def run(args, env):
    p = subprocess.run([TEST] + args, env=env, capture_output=True, text=True, timeout=300)
    for line in p.stdout.splitlines():
        if line.startswith("ok ") or line.startswith("not ok "):
            harness.check(line.split(" - ", 1)[1], line.startswith("ok "), "in test_chstore")
    harness.check("test_chstore %s exits 0" % " ".join(args), p.returncode == 0,
                  p.stderr[-2000:])


def main():
    password = "ch-pass-0123456789-abc"
    d = harness.tempdir()
    pwfile = harness.write_private(os.path.join(d, "chpass"), password + "\n")
    with ClickHouse(password=password, database="vigil") as ch:
        env = dict(os.environ, VIGIL_CLICKHOUSE_URL=ch.url,
                   VIGIL_CLICKHOUSE_PASSWORD_FILE=pwfile)
        run([], env)
        url = ch.url
        ch.stop()
        t0 = time.monotonic()
        run(["--unreachable", url], dict(os.environ))
        took = time.monotonic() - t0
        # The client's total timeout there is 3 s; a refused connection is immediate.
        harness.check("unreachable: the error comes within the timeout (%.1f s)" % took,
                      took < 3 + 2, "took %.1f s" % took)

    # A server that takes the connection and never answers (a hung ClickHouse): the
    # client's total timeout (3 s there) ends the request with the same sentence.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        t0 = time.monotonic()
        run(["--unreachable", "clickhouse://127.0.0.1:%d/vigil" % hung.getsockname()[1]],
            dict(os.environ))
        took = time.monotonic() - t0
        harness.check("hung: the error comes after the 3 s timeout, not later (%.1f s)" % took,
                      2.5 < took < 3 + 2, "took %.1f s" % took)
    finally:
        hung.close()


harness.run_group(main)
sys.exit(harness.finish())
