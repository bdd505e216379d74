"""`kairos bench relay --quick --json`: the relay row, its shape and consistency (never speed)."""

from __future__ import annotations

import json
import os

import pytest
from support import run_kairos


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_relay_bench_quick_json(tmp_path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = run_kairos("bench", "relay", "--quick", "--json", timeout=220, env=env)
    assert result.returncode == 0, result.stderr
    rows = {row["metric"]: row for row in json.loads(result.stdout)["relay"]}
    for name in ("relay hop latency p50", "relay hop latency p99"):
        assert rows[name]["unit"] == "ms"
        assert rows[name]["value"] > 0 and rows[name]["baseline"] > 0  # relayed, direct
    assert rows["relay hop latency p50"]["value"] <= rows["relay hop latency p99"]["value"]
    assert rows["relay lossless throughput"]["value"] > 0
