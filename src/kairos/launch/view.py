"""Live status of a launch: a rich table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from kairos.records import MeshState

PLAIN_EVERY_S = 3.0
STATE_STYLES = {
    "running": "green",
    "backoff": "yellow",
    "LOST": "red",
    "failed": "red",
    "hung": "red",
}


class StatusView:
    """Shows rows from :meth:`Launch.status`; ``update`` is cheap to call often."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._rich: Any = None
        self._next_plain = 0.0

    def __enter__(self) -> StatusView:
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._rich = Live(
                console=Console(file=self.stream), refresh_per_second=2, transient=False
            )
            self._rich.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(None, None, None)
            self._rich = None

    def update(self, status: dict[str, Any]) -> None:
        if self._rich is not None:
            self._rich.update(_table(status))
            return
        now = time.monotonic()
        if now < self._next_plain:
            return
        self._next_plain = now + PLAIN_EVERY_S
        for line in plain_lines(status):
            print(line, file=self.stream, flush=True)


def plain_lines(status: dict[str, Any]) -> list[str]:
    lines = []
    for row in status["actors"]:
        rate = "-" if row["rate_hz"] is None else f"{row['rate_hz']:.1f}"
        coherence = "" if row.get("coherence") is None else f" coherence={row['coherence']:.3f}"
        lines.append(
            f"actor={row['name']} device={row['device']} role={row['role']} "
            f"state={row['state']} rate_hz={rate} restarts={row['restarts']}{coherence}"
        )
    lines.extend(f"mesh={name} {_mesh_summary(state)}" for name, state in _meshes(status))
    lost = [d for d, info in status["devices"].items() if info["lost"]]
    if lost:
        lines.append(f"LOST devices: {', '.join(lost)}")
    return lines


def _table(status: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(
        title=f"kairos launch {status['topology']} — {status['uptime_s']:.0f} s",
        caption="\n".join(f"mesh {name}: {_mesh_summary(s)}" for name, s in _meshes(status)),
    )
    for column in ("device", "actor", "role", "state", "rate Hz", "C slow", "restarts", "pid"):
        table.add_column(column)
    devices: dict[str, Any] = status["devices"]
    rows: Sequence[dict[str, Any]] = status["actors"]
    for row in rows:
        lost = devices.get(row["device"], {}).get("lost", False)
        state = "LOST" if lost else row["state"]
        style = STATE_STYLES.get(state, "")
        table.add_row(
            row["device"],
            row["name"],
            row["role"],
            f"[{style}]{state}[/]" if style else state,
            "-" if row["rate_hz"] is None else f"{row['rate_hz']:.1f}",
            "" if row.get("coherence") is None else f"{row['coherence']:.3f}",
            str(row["restarts"]),
            str(row["pid"] or "-"),
        )
    return table


def _meshes(status: dict[str, Any]) -> list[tuple[str, MeshState]]:
    return list(status.get("mesh", {}).items())


def _mesh_summary(state: MeshState) -> str:
    """``global_coherence=0.942 r=0.994 EMERGED`` (and the stale nodes, if any)."""
    parts = [
        f"global_coherence={state.global_coherence:.3f}",
        f"r={state.order_parameter:.3f}",
        "EMERGED" if state.emerged else "not emerged",
    ]
    if state.stale_nodes:
        parts.append(f"stale={','.join(state.stale_nodes)}")
    return " ".join(parts)
