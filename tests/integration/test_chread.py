#!/usr/bin/env python3
"""Every read of the store answered from ClickHouse (shared/chread.c) against the SQLite
store's on the same data, with a real clickhouse-server (tests/integration/clickhouse.py):
bin/tests/test_chread with VIGIL_CLICKHOUSE_URL loads both stores and compares each
store_X with chread_X before and after ClickHouse merges its parts
(tests/unit/test_chread.c says what each check asserts)."""

import sys

import harness
from clickhouse import ClickHouse, run_unit, unit_env


def main():
    password = "ch-read-0123456789-abc"
    with ClickHouse(password=password, database="vigil") as ch:
        oks, out = run_unit("test_chread", env=unit_env(ch, password))
        harness.check("test_chread compared the reads (%d checks passed)" % oks, oks > 200,
                      out[-2000:])


harness.run_group(main)
sys.exit(harness.finish())
