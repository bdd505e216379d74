"""Drawing the mesh view with rich: one row per node and a mesh row, readable in 80 columns.

Below 100 columns the sparkline is dropped, below 132 the fast window's phase and resonance
and the separate device column; nothing needs colour, a mouse or the alternate screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kairos.records import Witness
from kairos.tools._tap.state import Mesh, MeshView, Node

#: from this width a sparkline of slow coherence is shown
TREND = 100
#: from this width, also the device, the fast window's phase and resonance
WIDE = 132
_BLOCKS = " ▁▂▃▄▅▆▇█"
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
    """The whole view: node table, then one line per mesh (sync)."""
    trend = width >= TREND
    wide = width >= WIDE
    grid = Table(box=None, padding=(0, 1, 0, 0), show_edge=False, pad_edge=False, expand=False)

    def column(header: str, size: int, right: bool = False) -> None:
        grid.add_column(
            header,
            width=size,
            min_width=size,
            justify="right" if right else "left",
            no_wrap=True,
            overflow="ellipsis",
        )

    column("node", 12 if wide else 8)
    if wide:
        column("device", 9)
        column("class", 8)
    else:
        column("dev:cls", 9)
    column("Hz", 5 if wide else 4, right=True)
    column("C slow", 10)
    if trend:
        column("trend", 20)
    column("Cf", 4, right=True)
    if wide:
        column("φf", 5, right=True)
    column("φs", 5, right=True)
    if wide:
        column("Rf", 4, right=True)
    column("Rs", 4, right=True)
    column("col", 3)
    column("ΔP", 5, right=True)
    column("clk ms", 9 if wide else 8)
    column("gap", 4, right=True)
    column("lat", 5 if wide else 4, right=True)
    for node in view.engine_nodes():
        grid.add_row(*_cells(node, wide, trend))
    lines: list[RenderableType] = [grid]
    for mesh in sorted(view.meshes.values(), key=lambda m: m.sync):
        lines.append(_mesh_line(mesh, len(view.meshes) > 1))
    if not view.nodes and not view.meshes:
        lines.append(Text("waiting for engines and sync…"))
    return Group(*lines)


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
