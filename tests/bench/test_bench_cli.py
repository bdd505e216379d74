"""`kairos bench … --quick --json` runs real processes and prints the documented JSON shape.

These are smoke tests of the command, never of speed: the figures of a quick run on a busy
machine are rough, so only their presence, units and internal consistency are checked.
"""

from __future__ import annotations

import json
import math
import os

import psutil
import pytest
from support import run_kairos

from kairos.tools.benchmarks.hop import CASES, PLAIN_CASE

ROW_KEYS = {"metric", "value", "unit"}


def _bench(name: str, tmp_path, timeout: float) -> dict:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = run_kairos("bench", name, "--quick", "--json", timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if any(str(tmp_path) in part for part in (p.info["cmdline"] or []))
    ]
    assert leftovers == [], f"processes left behind: {leftovers}"
    return json.loads(result.stdout)


def _check_rows(rows: list[dict]) -> dict[str, dict]:
    assert rows
    by_metric = {}
    for row in rows:
        assert set(row) >= ROW_KEYS, row
        assert isinstance(row["metric"], str) and isinstance(row["unit"], str)
        if "baseline" in row:
            assert "ratio" in row
            if row["ratio"] is not None:
                assert math.isclose(row["ratio"], row["value"] / row["baseline"], rel_tol=1e-3)
        by_metric[row["metric"]] = row
    return by_metric


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_hop_quick_json(tmp_path) -> None:
    document = _bench("hop", tmp_path, timeout=220)
    assert list(document) == ["hop"]
    rows = _check_rows(document["hop"])
    for case in CASES:  # every message rate, each next to the raw pair of the same run
        names = [f"hop latency {q}, {case.label}" for q in ("p50", "p99", "p99.9")]
        for name in names:
            assert rows[name]["unit"] == "ms"
            assert rows[name]["value"] > 0 and rows[name]["baseline"] > 0
        assert rows[names[0]]["value"] <= rows[names[2]]["value"]
        assert rows[names[0]]["target"] and rows[names[1]]["target"]
        assert rows[f"hop latency samples, {case.label}"]["value"] > 10
    plain = f"{PLAIN_CASE.rate:g} msgs/s, against the plain pattern"
    kairos_p50 = rows[f"hop latency p50, {PLAIN_CASE.label}"]["value"]
    assert rows[f"hop latency p50, {plain}"]["value"] == kairos_p50
    raw_p50 = rows[f"hop latency p50, {PLAIN_CASE.label}"]["baseline"]
    assert rows[f"raw pyzmq latency p50, {plain}"]["value"] == raw_p50
    assert rows[f"hop latency p50, {plain}"]["baseline"] > 0  # the plain pair's own p50
    throughput = rows["lossless throughput"]
    assert throughput["unit"] == "msgs/s" and throughput["value"] > 0
    assert throughput["baseline"] > 0


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_pipeline_quick_json(tmp_path) -> None:
    document = _bench("pipeline", tmp_path, timeout=180)
    rows = _check_rows(document["pipeline"])
    assert rows["output writes"]["value"] >= 10  # 10 Hz ticks over a 4 s window
    p50 = rows["pipeline p50 (stages, without tick wait)"]["value"]
    p99 = rows["pipeline p99 (stages, without tick wait)"]["value"]
    assert 0 < p50 <= p99
    # the data is older at the output than the processing path alone: it waits for a tick
    assert rows["sample → output write p99 (data age)"]["value"] > 0


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_footprint_quick_json(tmp_path) -> None:
    document = _bench("footprint", tmp_path, timeout=180)
    rows = _check_rows(document["footprint"])
    assert 5 < rows["idle agent RSS"]["value"] < 1000
    assert rows["idle agent CPU"]["value"] >= 0
    for role in ("sensor", "engine", "sync", "output"):
        actor = rows[f"{role} actor RSS"]
        assert 5 < actor["value"] < 1000
        # next to the floor of any actor: Python with NumPy and pyzmq, one socket
        assert 5 < actor["baseline"] < 1000 and actor["ratio"] > 0
    assert "relay actor RSS" not in rows  # the demo runs no relay: no empty row for it
    # forked from the agent's zygote (Linux): most of an actor's pages are shared with it
    zygote = rows["zygote RSS"]["value"]
    assert 5 < zygote < 1000 and 5 < rows["idle agent's zygote RSS"]["value"] < 1000
    for role in ("sensor", "engine", "sync", "output"):
        assert 0 < rows[f"{role} actor USS"]["value"] < rows[f"{role} actor RSS"]["value"]
    pss = rows["demo PSS: agent, zygote and actors"]
    assert pss["note"] == "10 processes"  # the local agent, its zygote, the demo's 8 actors
    assert zygote < pss["value"] < 10 * 1000
    launch = rows["demo launch → every actor publishing"]["value"]
    assert 0 < launch <= rows["demo launch → every actor's first witness"]["value"] + 0.5


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_scale_quick_json(tmp_path) -> None:
    document = _bench("scale", tmp_path, timeout=180)
    rows = _check_rows(document["scale"])
    assert rows["sensor+engine pairs at 100 Hz, zero gaps"]["unit"] == "pairs"
    assert rows["sensor+engine pairs at 100 Hz, zero gaps"]["value"] >= 0
    sync = rows["sync CPU aggregating 1000 nodes at 10 Hz"]
    assert sync["unit"] == "%" and sync["value"] > 0
    # next to raw pyzmq reading the same feed in the same run
    assert sync["baseline"] > 0 and sync["ratio"] == pytest.approx(
        sync["value"] / sync["baseline"], rel=1e-3
    )
    assert rows["sync input rate"]["value"] > 0
    pi = next(row for name, row in rows.items() if name.startswith("Pi Zero"))
    assert pi["unit"] == "samples/s" and pi["note"]  # what was tried, or why not measured
    assert pi["value"] is None or pi["value"] >= 1000  # the first rate tried is the target


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_kernels_quick_json_keeps_the_kernels_rows(tmp_path) -> None:
    document = _bench("kernels", tmp_path, timeout=180)
    for row in document["kernels"]:
        assert {"kernel", "backend", "chunk", "samples_per_s"} <= set(row)


def test_unknown_benchmark_is_a_usage_error() -> None:
    result = run_kairos("bench", "everything", timeout=30)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_only_names_a_part_of_a_benchmark_that_has_parts() -> None:
    result = run_kairos("bench", "scale", "--only", "nope", timeout=30)
    assert result.returncode == 2
    assert "pairs, sync, pi-zero" in result.stderr
    result = run_kairos("bench", "hop", "--only", "sync", timeout=30)
    assert result.returncode == 2
    assert "hop has no parts" in result.stderr


def test_table_without_json(tmp_path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "140"}
    result = run_kairos("bench", "kernels", "--quick", timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    assert "kernels" in result.stdout and "samples_per_s" in result.stdout
    assert "kernels: starting" in result.stderr  # progress goes to stderr
