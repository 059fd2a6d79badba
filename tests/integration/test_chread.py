#!/usr/bin/env python3
"""Every read of the store answered from ClickHouse (shared/chread.c) against the SQLite
store's on the same data, with a real clickhouse-server (tests/integration/clickhouse.py):
bin/tests/test_chread with VIGIL_CLICKHOUSE_URL loads both stores and compares each
store_X with chread_X before and after ClickHouse merges its parts
(tests/unit/test_chread.c says what each check asserts)."""

import os
import subprocess
import sys

import harness
from clickhouse import ClickHouse

BIN = os.environ.get("VIGIL_BIN") or os.path.join(harness.ROOT, "bin")
TEST = os.path.join(BIN, "tests", "test_chread")


def main():
    password = "ch-read-0123456789-abc"
    d = harness.tempdir()
    pwfile = harness.write_private(os.path.join(d, "chpass"), password + "\n")
    with ClickHouse(password=password, database="vigil") as ch:
        env = dict(os.environ, VIGIL_CLICKHOUSE_URL=ch.url,
                   VIGIL_CLICKHOUSE_PASSWORD_FILE=pwfile)
        p = subprocess.run([TEST], env=env, capture_output=True, text=True, timeout=600)
        oks = 0
        for line in p.stdout.splitlines():
            if line.startswith("ok ") or line.startswith("not ok "):
                oks += line.startswith("ok ")
                harness.check(line.split(" - ", 1)[1].split("\n")[0], line.startswith("ok "),
                              "in test_chread")
            elif line.startswith("#"):
                print(line)
        harness.check("test_chread compared the reads (%d checks passed)" % oks, oks > 200,
                      p.stdout[-2000:])
        harness.check("test_chread exits 0", p.returncode == 0, p.stderr[-2000:])


harness.run_group(main)
sys.exit(harness.finish())
