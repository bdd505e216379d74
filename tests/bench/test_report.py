"""Result rows and their rendering: ratios, JSON without NaN, a table per benchmark."""

from __future__ import annotations

import json
import math

from rich.console import Console

from kairos.tools.benchmarks import _report


def test_metric_with_baseline_has_ratio_of_kairos_over_baseline() -> None:
    row = _report.metric("hop latency p50", 0.5, "ms", baseline=0.4, target="≤ 1.25×")
    assert row["metric"] == "hop latency p50"
    assert row["unit"] == "ms"
    assert row["baseline"] == 0.4
    assert math.isclose(row["ratio"], 1.25)
    assert row["target"] == "≤ 1.25×"


def test_metric_without_baseline_has_neither_baseline_nor_ratio() -> None:
    row = _report.metric("idle agent RSS", 25.0, "MB")
    assert set(row) == {"metric", "value", "unit"}


def test_zero_or_missing_baseline_gives_null_ratio() -> None:
    assert _report.metric("x", 1.0, "s", baseline=0)["ratio"] is None
    assert _report.ratio(None, 2.0) is None


def test_json_has_one_key_per_benchmark_and_no_nan() -> None:
    results = {
        "hop": [_report.metric("a", float("nan"), "ms", baseline=1.0)],
        "kernels": [{"kernel": "integrate", "backend": "compiled", "chunk": 64,
                     "samples_per_s": 1e8}],
    }  # fmt: skip
    document = json.loads(_report.to_json(results))  # json.loads accepts NaN: check the text too
    assert list(document) == ["hop", "kernels"]
    assert document["hop"][0]["value"] is None
    assert document["hop"][0]["ratio"] is None
    assert "NaN" not in _report.to_json(results)
    assert document["kernels"][0]["samples_per_s"] == 1e8


def test_tables_render_every_row() -> None:
    results = {
        "footprint": [_report.metric("idle agent RSS", 25.5, "MB", target="≤ 30 MB")],
        "kernels": [{"kernel": "mesh", "backend": "reference", "chunk": 1000,
                     "samples_per_s": 2.5e6}],
    }  # fmt: skip
    console = Console(record=True, width=120)
    for table in _report.tables(results):
        console.print(table)
    text = console.export_text()
    assert "idle agent RSS" in text and "25.5" in text and "≤ 30 MB" in text
    assert "mesh" in text and "reference" in text
