"""Drawing the mesh view with rich: one row per node and a mesh row, readable in 80 columns.

Below 100 columns the sparkline is dropped, below 132 the fast window's phase and resonance
and the separate device column; nothing needs colour, a mouse or the alternate screen.

What is wrong with a node (its drop counts, a stream with a wrong clock, the engine degraded)
is told on a second line under its row, at every width, and only for such a node.  Not a
column: the 80-column row has no cell to spare, and the line is as long as what it says (up
to five counters, several streams), which no fixed-width cell holds without cutting it; a
line of its own wraps instead, so nothing is lost at 80 columns, and a healthy mesh looks
exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from kairos.actors._screen import BEHIND
from kairos.drops import Reason
from kairos.records import Witness
from kairos.tools._tap.state import Mesh, MeshView, Node

#: from this width a sparkline of slow coherence is shown
TREND = 100
#: from this width, also the device, the fast window's phase and resonance
WIDE = 132
_BLOCKS = " ▁▂▃▄▅▆▇█"
#: witness drop counter -> its label in the view (docs/tap.md, "The view")
DROP_LABELS = {
    Reason.MALFORMED.value: "dec",
    Reason.QUEUE_OVERFLOW.value: "q",
    Reason.FUTURE_STAMP.value: "fut",
    Reason.TIME_VIOLATION.value: "ord",
    Reason.INVALID_SAMPLE.value: "inv",
    Reason.UNKNOWN_CONSUMER.value: "unk",
}
#: clock fault reason (InputStats.clock) -> what it says of the stream's clock
CLOCK_LABELS = {
    Reason.FUTURE_STAMP.value: "ahead",
    Reason.TIME_VIOLATION.value: "back",
    BEHIND: "behind",
}
CLOCK_MARK = "⚠ clock:"
_CLASS_ABBREV = {"pi-zero": "p0", "pi-2": "p2", "pi-4": "p4", "mac-mini": "mac", "cloud": "cld"}


def sparkline(values: Sequence[float]) -> str:
    """Block characters for values in [0, 1] (out-of-range values are clipped)."""
    top = len(_BLOCKS) - 1
    return "".join(_BLOCKS[round(min(1.0, max(0.0, v)) * top)] for v in values)


def bar(value: float | None, width: int) -> str:
    """A horizontal bar of ``width`` cells for a value in [0, 1], with eighth-cell steps."""
    if value is None or not math.isfinite(value):
        return " " * width
    eighths = round(min(1.0, max(0.0, value)) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return text.ljust(width)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, fmt)


def _clock(witness: Witness | None) -> str:
    if witness is None:
        return "-"
    offset = witness.clock_offset_ns / 1e6
    uncertainty = witness.clock_uncertainty_ns / 1e6
    return f"{offset:+.1f}±{uncertainty:.1f}"


def _collapsed(row: dict | None) -> str:
    if row is None:
        return "-"
    marks = "".join(
        letter if row[f"collapsed_{w}"] else "·"
        for letter, w in zip("fsp", ("fast", "slow", "pair"), strict=True)
    )
    return marks


def table(view: MeshView, width: int) -> RenderableType:
    """The whole view: node table (each node's note under its row), then one line per mesh."""
    trend = width >= TREND
    wide = width >= WIDE
    columns: list[tuple[str, int, bool]] = [("node", 12 if wide else 8, False)]
    if wide:
        columns += [("device", 9, False), ("class", 8, False)]
    else:
        columns.append(("dev:cls", 9, False))
    columns += [("Hz", 5 if wide else 4, True), ("C slow", 10, False)]
    if trend:
        columns.append(("trend", 20, False))
    columns.append(("Cf", 4, True))
    if wide:
        columns.append(("φf", 5, True))
    columns.append(("φs", 5, True))
    if wide:
        columns.append(("Rf", 4, True))
    columns += [
        ("Rs", 4, True),
        ("col", 3, False),
        ("ΔP", 5, True),
        ("clk ms", 9 if wide else 8, False),
        ("gap", 4, True),
        ("lat", 5 if wide else 4, True),
    ]
    # a rich table has no cell spanning its columns: a node's note ends the table, and the
    # rows after it go to a new one with the same fixed-width columns (so they line up)
    grid = _grid(columns, header=True)
    lines: list[RenderableType] = []
    for node in view.engine_nodes():
        grid.add_row(*_cells(node, wide, trend))
        note = node_note(node)
        if note:
            # indented as a whole, so that a note wrapped at 80 columns stays under its row
            lines += [
                grid,
                Padding(Text(note, style="yellow", overflow="fold"), (0, 0, 0, 2), expand=False),
            ]
            grid = _grid(columns, header=False)
    if grid.row_count or not lines:
        lines.append(grid)
    for mesh in sorted(view.meshes.values(), key=lambda m: m.sync):
        lines.append(_mesh_line(mesh, len(view.meshes) > 1))
    if not view.nodes and not view.meshes:
        lines.append(Text("waiting for engines and sync…"))
    return Group(*lines)


def _grid(columns: Sequence[tuple[str, int, bool]], header: bool) -> Table:
    grid = Table(
        box=None,
        padding=(0, 1, 0, 0),
        show_edge=False,
        pad_edge=False,
        expand=False,
        show_header=header,
    )
    for title, size, right in columns:
        grid.add_column(
            title,
            width=size,
            min_width=size,
            justify="right" if right else "left",
            no_wrap=True,
            overflow="ellipsis",
        )
    return grid


def _cells(node: Node, wide: bool, trend: bool) -> list[str]:
    row = node.row or {}
    witness = node.witness
    device = node.device or (witness.device if witness else None) or "-"
    device_class = node.device_class or (witness.device_class if witness else None) or "-"
    coherence = row.get("coherence_slow")
    cells = [node.name + ("*" if node.stale else "")]
    if wide:
        cells += [device, device_class]
    else:
        cells.append(f"{device}:{_CLASS_ABBREV.get(device_class, device_class)}")
    cells.append(_num(witness.rate_hz if witness else None, ".0f"))
    cells.append(f"{bar(coherence, 5)}{_num(coherence, '.2f'):>5}")
    if trend:
        cells.append(sparkline(node.history))
    cells.append(_num(row.get("coherence_fast"), ".2f"))
    if wide:
        cells.append(_num(row.get("phase_fast"), "+.2f"))
    cells.append(_num(row.get("phase_slow"), "+.2f"))
    if wide:
        cells.append(_num(row.get("resonance_fast"), ".2f"))
    cells.append(_num(row.get("resonance_slow"), ".2f"))
    cells.append(_collapsed(node.row))
    cells.append(_num(node.delta_p, "+.2f"))
    cells.append(_clock(witness))
    cells.append("-" if witness is None else str(witness.gaps))
    cells.append(_num(witness.latency_p50_ms if witness else None, ".1f"))
    return cells


def node_note(node: Node) -> str:
    """The node's second line: its non-zero drop counts, the streams whose clock is wrong and
    why, the reason it is degraded; "" when there is nothing to tell."""
    parts = []
    counts = node.drop_counts()
    if counts:
        parts.append("drops " + " ".join(f"{DROP_LABELS[k]} {n}" for k, n in counts.items()))
    faults = node.clock_faults()
    if faults:
        told = (f"{stream} {CLOCK_LABELS.get(why, why)}" for stream, why in faults.items())
        parts.append(f"{CLOCK_MARK} {', '.join(told)}")
    if node.degraded:
        parts.append(f"degraded ({node.degraded})")
    return "↳ " + " · ".join(parts) if parts else ""


def _mesh_line(mesh: Mesh, named: bool) -> Text:
    state = mesh.state
    label = f"mesh[{mesh.sync}]" if named else "mesh"
    emerged = "EMERGED" if state.emerged else "apart"
    return Text(
        f"{label}  C {bar(state.global_coherence, 10)} {_num(state.global_coherence, '.2f')}  "
        f"r {_num(state.order_parameter, '.2f')}  "
        f"ψ {_num(state.mesh_phase, '+.2f')}  {emerged}"
        + (f"  stale: {', '.join(state.stale_nodes)}" if state.stale_nodes else ""),
        no_wrap=True,
        overflow="ellipsis",
    )
