#!/usr/bin/env python3
"""The ClickHouse store's foundation against a real clickhouse-server (tests/integration/
clickhouse.py starts one): bin/tests/test_chstore with VIGIL_CLICKHOUSE_URL runs the parity
of SQLite and ClickHouse rollups, the exactly-once replay and the password checks
(tests/unit/test_chstore.c says what each asserts); then, with the server stopped, the error
of an unreachable ClickHouse comes within the client's timeout."""

import os
import socket
import sys
import time

import harness
from clickhouse import ClickHouse, run_unit, unit_env


def run(args, env):
    run_unit("test_chstore", args, env, timeout=300)


def main():
    password = "ch-pass-0123456789-abc"
    with ClickHouse(password=password, database="vigil") as ch:
        run([], unit_env(ch, password))
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
