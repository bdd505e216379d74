"""``kairos plot`` marks what went wrong: stale periods, lost messages, thresholds, and the
clock's uncertainty band (a written recording with known values; the demo run is drawn in
tests/bridge)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kairos import wire
from kairos.actors.engine import ENGINE_FIELDS
from kairos.records import MeshState, NodeState, Witness
from kairos.tools._recording.writer import RecordingWriter, recording_info

T0 = 1_800_000_000 * 10**9
S = 10**9


class _Mesh:
    emergence_threshold = 0.7
    collapse_threshold = 0.9
    hysteresis = 0.05


def _witness(t_ns: int, offset_ns: int) -> Witness:
    return Witness(
        actor="eng", role="engine", device="kitchen", device_class="pi-zero", pid=1, epoch=1,
        t_ns=t_ns, rate_hz=10.0, samples_per_s=10.0, msgs_in=0, msgs_out=0, gaps=0,
        decode_errors=0, drops=0, future_stamps=0, time_violations=0, invalid_samples=0,
        unknown_consumers=0, latency_p50_ms=None, latency_p99_ms=None, cpu_percent=1.0,
        rss_bytes=1, clock_offset_ns=offset_ns, clock_uncertainty_ns=200_000, subscribers=1,
    )  # fmt: skip


def _write(path: Path) -> None:
    """10 s at 10 Hz: engine ``eng`` loses seq 50-54, the sync marks it stale from 3 s to
    4 s, the mesh emerges at 2 s; the device's clock moves from 0 to 1 ms."""
    writer = RecordingWriter(path, recording_info("t", {}, T0, "test", _Mesh()))

    def add(stream: str, seq: int, t_ns: int, data, fields=()) -> None:
        stamps = [t_ns] * (len(data) if isinstance(data, np.ndarray) else 1)
        frames = wire.encode(stream, seq, 1, t_ns, stamps, data, fields)
        writer.add(stream, [bytes(f) for f in frames[1:]], t_ns, t_ns, seq)

    for k in range(100):
        t = T0 + k * S // 10
        if not 50 <= k < 55:
            add("eng", k, t, np.full((1, len(ENGINE_FIELDS)), 0.5), ENGINE_FIELDS)
        stale = 30 <= k < 40
        node = NodeState("kitchen", 0.5, 0.0, 0.5, False, 1.0, None if stale else 0.1, stale, t)
        state = MeshState(
            t, 0.8, 0.75, 0.0, 0.8 + 0j, k >= 20, ("eng",) if stale else (), {"eng": node}
        )
        add("mesh", k, t, state.encode())
        if k % 10 == 0:
            add("eng/witness", k // 10, t, _witness(t, k * 10_000).encode())
    writer.close()


def test_plot_marks_stale_periods_lost_messages_and_thresholds(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from kairos.tools.plot import build_figure

    path = tmp_path / "run.mcap"
    _write(path)
    node, mesh, clocks = build_figure(path).get_axes()
    legend = {t.get_text() for t in node.get_legend().get_texts()}
    assert {"stale", "messages lost", "collapse 0.9"} <= legend
    (stale,) = [p for p in node.patches if p.get_label() == "stale"]
    assert (stale.get_x(), stale.get_x() + stale.get_width()) == pytest.approx((3.0, 4.0))
    (lost,) = [line for line in node.get_lines() if line.get_label() == "messages lost"]
    assert lost.get_xdata()[0] == pytest.approx(5.5)  # the first message after the gap
    assert {"emerged", "emergence 0.7", "hysteresis 0.05"} <= {
        t.get_text() for t in mesh.get_legend().get_texts()
    }
    (emerged,) = [p for p in mesh.patches if p.get_label() == "emerged"]
    assert emerged.get_x() == pytest.approx(2.0)
    (offset,) = [line for line in clocks.get_lines() if line.get_label() == "kitchen offset"]
    assert list(offset.get_ydata()) == pytest.approx([0.1 * k for k in range(10)])
    assert clocks.get_ylabel() == "clock offset (ms)"
