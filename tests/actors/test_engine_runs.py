"""An engine given several waiting messages of an input integrates them in one pass of the
kernels (a *run*, engine.MAX_RUN_ROWS): what lets an engine that stalled catch up.  A run
must change nothing a subscriber sees: one row message per input message that kept a row,
bit for bit what the engine gives those messages one at a time, and the same events."""

from __future__ import annotations

import numpy as np
import pytest

from kairos import kernels
from kairos.actors import engine as engine_module
from kairos.actors.engine import MAX_RUN_ROWS
from kairos.testing import message

T0 = 1_763_770_000_000_000_000
STEP = 1_000_000  # 1 kHz
CHUNK = 40


def _messages(stream: str, count: int, seed: int, phase: float = 0.0) -> list:
    """``count`` chunks of a 40 Hz tone with noise, some rows NaN, one chunk all NaN."""
    n = count * CHUNK
    times = T0 + STEP * np.arange(n)
    rng = np.random.default_rng(seed)
    values = np.cos(2 * np.pi * 40.0 * (times - T0) / 1e9 + phase) + rng.normal(0, 0.3, n)
    values[rng.choice(n, size=n // 50, replace=False)] = np.nan
    values[5 * CHUNK : 6 * CHUNK] = np.nan  # a message that keeps no row
    return [
        message(stream, times[i : i + CHUNK], values[i : i + CHUNK], seq=k)
        for k, i in enumerate(range(0, n, CHUNK))
    ]


def _engine(role_of, inputs: tuple[str, ...]):
    return role_of(
        "engine",
        inputs=list(inputs),
        encoding={"type": "lockin", "freq_hz": 40.0},
        windows={"fast": 0.5, "slow": 10},
        mesh={"collapse_threshold": 0.6, "hysteresis": 0.05},
    )


def _rows_and_events(out) -> tuple[list[tuple[bytes, bytes]], list]:
    rows = [
        (np.asarray(o.times).tobytes(), np.asarray(o.data).tobytes()) for o in out if o.stream == ""
    ]
    return rows, [o.data for o in out if o.stream != ""]


def _one_at_a_time(harness, streams: list[list]) -> list:
    out = []
    for chunks in zip(*streams, strict=True):  # each step's chunks, as they come live
        for chunk in chunks:
            out.extend(harness.feed(chunk, now_ns=int(chunk.times[-1])))
    return out


def _all_at_once(harness, streams: list[list]) -> list:
    backlog = [m for chunks in zip(*streams, strict=True) for m in chunks]
    return harness.feed(*backlog, now_ns=int(backlog[-1].times[-1]))


@pytest.mark.parametrize("inputs", [("mic",), ("a", "b")])
def test_a_backlog_gives_the_rows_and_events_of_one_message_at_a_time(role_of, inputs) -> None:
    streams = [_messages(name, 300, seed=k, phase=0.3 * k) for k, name in enumerate(inputs)]
    alone_rows, alone_events = _rows_and_events(_one_at_a_time(_engine(role_of, inputs), streams))
    run_rows, run_events = _rows_and_events(_all_at_once(_engine(role_of, inputs), streams))
    kept = 300 - 1  # the all-NaN message keeps no row, so it gives no row message either way
    assert len(alone_rows) == kept * len(inputs)
    assert run_rows == alone_rows  # message for message, bit for bit
    assert alone_events, "the data never crossed a collapse threshold: events untested"
    assert run_events == alone_events


def test_a_run_is_one_pass_of_the_kernels_and_at_most_max_run_rows(role_of, monkeypatch) -> None:
    passes: list[int] = []
    node_step = kernels.node_step

    def counted(times, *args, **kwargs):
        passes.append(len(times))
        return node_step(times, *args, **kwargs)

    monkeypatch.setattr(engine_module.kernels, "node_step", counted)
    chunks = _messages("mic", 300, seed=3)
    _engine(role_of, ("mic",)).feed(*chunks, now_ns=int(chunks[-1].times[-1]))
    assert max(passes) <= MAX_RUN_ROWS
    assert len(passes) == -(-300 // (MAX_RUN_ROWS // CHUNK))  # as few as the cap allows
