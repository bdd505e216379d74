"""Plot a recording to a PNG: every node, the mesh and the clocks, over time.

  kairos plot RUN.mcap -o run.png [--from S] [--to S] [--nodes NAME[,NAME...]]

One panel per node (engine): coherence of the fast and slow windows and the pair resonance,
the collapse threshold drawn, periods the sync marked the node stale shaded grey, and lost
messages (sequence gaps, publisher restarts) marked red.  Then the mesh: global coherence G
and order parameter r, emergence periods shaded green, the emergence threshold (and its
hysteresis band) drawn.  Last, each device's clock offset to mesh time with its uncertainty
band, from the witnesses.  The time axis is seconds since the recording's first sample;
``--from``/``--to`` pick a range of it.  Thresholds come from the topology the recorder was
given (the recording's metadata); a recording made with ``--connect`` has none to draw.
Needs matplotlib: ``pip install 'kairos-mesh[plot]'``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kairos.errors import KairosError, RecordingError

#: pixels per inch of the PNG; with the panel size below a run fits a laptop screen
DPI = 100
WIDTH_IN = 12.5
PANEL_IN = 2.1


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("recording", metavar="RUN.mcap", help="a kairos recording")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png", help="PNG to write")
    parser.add_argument(
        "--from", dest="start", type=float, metavar="S", help="start, s after the first sample"
    )
    parser.add_argument("--to", dest="end", type=float, metavar="S", help="end, s after it")
    parser.add_argument(
        "--nodes", metavar="NAME[,NAME...]", help="plot only these engines (default: all)"
    )
    parser.set_defaults(_parser=parser)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args._parser
    if args.start is not None and args.end is not None and args.end <= args.start:
        parser.error("--to must be after --from")
    nodes = [n for n in args.nodes.split(",") if n] if args.nodes else None
    figure = build_figure(Path(args.recording), args.start, args.end, nodes)
    out = Path(args.output)
    try:
        figure.savefig(out, dpi=DPI)
    except OSError as exc:
        raise KairosError(f"{out}: cannot write the picture: {exc.strerror}") from None
    print(f"kairos plot: {out} written ({out.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


# -- what a recording says, as arrays -----------------------------------------------------------


@dataclass
class _Series:
    t: list[np.ndarray] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    #: receive-order (time ns) of each lost-message mark: a seq gap or a restart
    losses: list[int] = field(default_factory=list)


@dataclass
class RunData:
    """The values ``kairos plot`` draws, read from one recording."""

    engines: dict[str, _Series] = field(default_factory=dict)
    mesh_t: list[int] = field(default_factory=list)
    global_coherence: list[float] = field(default_factory=list)
    order_parameter: list[float] = field(default_factory=list)
    emerged: list[bool] = field(default_factory=list)
    #: node -> stale flag at each mesh tick
    stale: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    #: device -> (t_ns, offset ns, uncertainty ns) of each witness of one of its actors (all
    #: actors of a device report the same clock, once a second each)
    clocks: dict[str, list[tuple[int, int, int]]] = field(default_factory=lambda: defaultdict(list))
    clock_actor: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    topology: str = ""

    @property
    def first_ns(self) -> int:
        starts = [int(s.t[0][0]) for s in self.engines.values() if s.t and len(s.t[0])]
        starts += self.mesh_t[:1]
        starts += [c[0][0] for c in self.clocks.values() if c]
        if not starts:
            raise RecordingError("the recording holds no engine, mesh state or witness")
        return min(starts)


def read_run(path: Path) -> RunData:
    """One pass over a recording: engine rows, mesh states and the witnesses' clocks."""
    from kairos import wire
    from kairos.actors._metrics import StreamTrack
    from kairos.actors.engine import ENGINE_FIELDS
    from kairos.records import MeshState, Witness, record_class
    from kairos.tools._recording import format as fmt
    from kairos.tools._recording.reader import Extras, read

    data = RunData()
    extras = Extras()
    tracks: dict[str, StreamTrack] = {}
    for recorded in read(path, extras):
        frames = [recorded.stream.encode(), recorded.header, recorded.times, recorded.payload]
        try:
            message = wire.decode(frames)
            if message.is_record:
                cls = record_class(message.stream)
                if cls not in (MeshState, Witness):
                    continue
                record = cls.decode(message.data, message.stream)
        except wire.WireError as exc:
            raise RecordingError(f"{path}: stream {recorded.stream!r}: {exc}") from None
        if not message.is_record:
            if tuple(message.fields) != ENGINE_FIELDS or not len(message.times):
                continue
            series = data.engines.setdefault(message.stream, _Series())
            track = tracks.setdefault(message.stream, StreamTrack())
            gaps, restarts = track.gaps, track.restarts
            track.observe(message)
            if track.gaps != gaps or track.restarts != restarts:
                series.losses.append(int(message.times[0]))
            series.t.append(np.asarray(message.times, dtype=np.int64))
            series.rows.append(np.asarray(message.data, dtype=np.float64))
        elif isinstance(record, MeshState):
            data.mesh_t.append(record.t_ns)
            data.global_coherence.append(record.global_coherence)
            data.order_parameter.append(record.order_parameter)
            data.emerged.append(record.emerged)
            for name, node in record.nodes.items():
                data.stale[name].append(node.stale)
        elif isinstance(record, Witness):
            if data.clock_actor.setdefault(record.device, record.actor) != record.actor:
                continue
            data.clocks[record.device].append(
                (record.t_ns, record.clock_offset_ns, record.clock_uncertainty_ns)
            )
    data.topology = extras.recording.get("topology", "")
    try:
        data.thresholds = json.loads(extras.recording.get(fmt.MESH_METADATA, "{}"))
    except ValueError:
        raise RecordingError(f"{path}: malformed {fmt.MESH_METADATA!r} metadata") from None
    return data


# -- the figure -----------------------------------------------------------------------------------


def _spans(t: np.ndarray, flags: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) of each run of true flags, a run ending where the next sample starts."""
    out = []
    start = None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = t[i]
        elif not flag and start is not None:
            out.append((start, t[i]))
            start = None
    if start is not None:
        out.append((start, t[-1]))
    return out


def build_figure(
    path: Path,
    start_s: float | None = None,
    end_s: float | None = None,
    nodes: list[str] | None = None,
) -> Any:
    """The figure ``kairos plot`` saves (a matplotlib Figure on the Agg canvas)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise KairosError("kairos plot needs matplotlib: pip install 'kairos-mesh[plot]'") from None
    from kairos.actors.engine import ENGINE_FIELDS

    data = read_run(path)
    engines = sorted(data.engines)
    if nodes is not None:
        unknown = sorted(set(nodes) - set(engines))
        if unknown:
            raise KairosError(
                f"--nodes: {', '.join(unknown)} not in {path} "
                f"(its engines: {', '.join(engines) or 'none'})"
            )
        engines = [e for e in engines if e in nodes]
    origin = data.first_ns
    lo = -np.inf if start_s is None else start_s
    hi = np.inf if end_s is None else end_s

    def seconds(t_ns: Any) -> np.ndarray:
        return (np.asarray(t_ns, dtype=np.int64) - origin) / 1e9

    def window(t: np.ndarray) -> np.ndarray:
        return (t >= lo) & (t <= hi)

    panels = len(engines) + (1 if data.mesh_t else 0) + (1 if data.clocks else 0)
    if panels == 0:
        raise RecordingError(f"{path}: no engine, mesh state or witness to plot")
    figure = Figure(figsize=(WIDTH_IN, 1.2 + PANEL_IN * panels), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    title = f"Kairos run {data.topology!r}" if data.topology else "Kairos run"
    figure.suptitle(f"{title} — {path.name}", fontsize=13, fontweight="bold")
    collapse = data.thresholds.get("collapse_threshold")
    emergence = data.thresholds.get("emergence_threshold")
    hysteresis = data.thresholds.get("hysteresis", 0.0)
    mesh_t = seconds(data.mesh_t) if data.mesh_t else np.zeros(0)
    index = 0
    for name in engines:
        ax = axes[index]
        index += 1
        series = data.engines[name]
        t = seconds(np.concatenate(series.t))
        rows = np.concatenate(series.rows)
        keep = window(t)
        for key, label, style in (
            ("coherence_fast", "coherence (fast)", {"lw": 0.8, "alpha": 0.7}),
            ("coherence_slow", "coherence (slow)", {"lw": 1.6}),
            ("resonance_pair", "resonance (pair)", {"lw": 1.0, "ls": "--"}),
        ):
            ax.plot(t[keep], rows[keep, ENGINE_FIELDS.index(key)], label=label, **style)
        if collapse is not None:
            ax.axhline(collapse, color="black", lw=0.8, ls=":", label=f"collapse {collapse:g}")
        stale = data.stale.get(name)
        if stale and len(stale) == len(mesh_t):
            for i, (a, b) in enumerate(_spans(mesh_t, np.asarray(stale))):
                ax.axvspan(a, b, color="0.6", alpha=0.3, label="stale" if i == 0 else None)
        for i, loss in enumerate(seconds(series.losses)):
            if lo <= loss <= hi:
                ax.axvline(loss, color="red", lw=1.0, label="messages lost" if i == 0 else None)
        ax.set_ylabel("coherence /\nresonance (0–1)")
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(f"node {name}", loc="left", fontsize=10)
    if data.mesh_t:
        ax = axes[index]
        index += 1
        keep = window(mesh_t)
        ax.plot(mesh_t[keep], np.asarray(data.global_coherence)[keep], label="global coherence G")
        ax.plot(mesh_t[keep], np.asarray(data.order_parameter)[keep], label="order parameter r")
        for i, (a, b) in enumerate(_spans(mesh_t[keep], np.asarray(data.emerged)[keep])):
            ax.axvspan(a, b, color="tab:green", alpha=0.15, label="emerged" if i == 0 else None)
        if emergence is not None:
            ax.axhline(emergence, color="black", lw=0.8, ls=":", label=f"emergence {emergence:g}")
            if hysteresis:
                ax.axhspan(
                    emergence - hysteresis,
                    emergence,
                    color="0.5",
                    alpha=0.12,
                    label=f"hysteresis {hysteresis:g}",
                )
        ax.set_ylabel("G, r (0–1)")
        ax.set_ylim(-0.03, 1.05)
        ax.set_title("mesh", loc="left", fontsize=10)
    if data.clocks:
        ax = axes[index]
        for device, entries in sorted(data.clocks.items()):
            t_ns, offset, uncertainty = (np.asarray(v) for v in zip(*entries, strict=True))
            t = seconds(t_ns)
            keep = window(t)
            ms, band = offset[keep] / 1e6, uncertainty[keep] / 1e6
            (line,) = ax.plot(t[keep], ms, marker=".", label=f"{device} offset")
            ax.fill_between(
                t[keep], ms - band, ms + band, color=line.get_color(), alpha=0.2,
                label=f"{device} ± uncertainty",
            )  # fmt: skip
        ax.set_ylabel("clock offset (ms)")
        ax.set_title("device clocks to mesh time", loc="left", fontsize=10)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    axes[-1].set_xlabel("time since the first sample (s)")
    if start_s is not None or end_s is not None:
        axes[-1].set_xlim(start_s, end_s)
    return figure
