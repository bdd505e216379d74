"""Rows of benchmark results, and how ``kairos bench`` shows them: a rich table or one JSON.

Every benchmark except ``kernels`` returns rows of ``{metric, value, unit}`` plus, where a
baseline was measured in the same run, ``baseline`` and ``ratio`` (Kairos ÷ baseline); an
optional ``target`` says what the issue asks of the figure and ``note`` how it was measured.
The ``kernels`` rows keep the kernels benchmark's own keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from kairos.tools import _json

Row = dict[str, Any]
Results = Mapping[str, Sequence[Row]]


def metric(
    name: str,
    value: float | int | None,
    unit: str,
    *,
    baseline: float | int | None = None,
    target: str | None = None,
    note: str | None = None,
) -> Row:
    """One result row; ``ratio`` is added when there is a usable baseline."""
    row: Row = {"metric": name, "value": _clean(value), "unit": unit}
    if baseline is not None:
        row["baseline"] = _clean(baseline)
        row["ratio"] = ratio(value, baseline)
    if target is not None:
        row["target"] = target
    if note is not None:
        row["note"] = note
    return row


def ratio(value: float | int | None, baseline: float | int | None) -> float | None:
    """Kairos ÷ baseline, or None when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return None
    result = float(value) / float(baseline)
    return result if math.isfinite(result) else None


def _clean(value: float | int | None) -> float | int | None:
    """JSON has no NaN or infinity: an unmeasurable figure is null."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float):
        return round(value, 6)
    return value


def to_json(results: Results) -> str:
    """The ``--json`` document: one key per benchmark that ran, each a list of rows."""
    return _json.dumps({name: list(rows) for name, rows in results.items()}, indent=2)


def format_value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude >= 1e6:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.3g}" if magnitude < 10 else f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def tables(results: Results) -> list[Any]:
    """One rich table per benchmark, in the order they ran."""
    from rich.table import Table

    out = []
    for name, rows in results.items():
        if name == "kernels":
            out.append(_kernel_table(rows))
            continue
        table = Table(title=name, title_justify="left", expand=False)
        for column in ("metric", "value", "unit", "baseline", "ratio", "target"):
            right = column in ("value", "baseline", "ratio")
            table.add_column(column, justify="right" if right else "left")
        for row in rows:
            ratio_text = "" if row.get("ratio") is None else f"{row['ratio']:.2f}×"
            table.add_row(
                str(row["metric"]),
                format_value(row.get("value")),
                str(row.get("unit", "")),
                "" if "baseline" not in row else format_value(row["baseline"]),
                ratio_text,
                str(row.get("target", "")),
            )
        out.append(table)
    return out


def _kernel_table(rows: Sequence[Row]) -> Any:
    from rich.table import Table

    table = Table(title="kernels", title_justify="left")
    columns = list(rows[0].keys()) if rows else ["kernel", "backend", "chunk", "samples_per_s"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("kernel", "backend") else "right")
    for row in rows:
        table.add_row(*(format_value(row.get(column)) for column in columns))
    return table
