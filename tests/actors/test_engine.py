"""The engine role through the test double: formulas, pooling, and order independence."""

from __future__ import annotations

import numpy as np
import pytest

from kairos.actors.engine import ENGINE_FIELDS
from kairos.testing import START_NS as T0
from kairos.testing import message, messages, rows

STEP = 5_000_000  # 200 Hz


#: the thresholds these tests reason with (the collapse threshold and its band)
MESH = {"collapse_threshold": 0.95, "hysteresis": 0.05}
WINDOWS = {"fast": 0.5, "slow": 10.0}


def engine(role_of, inputs=("mic",), encoding=None):
    """An engine on ``inputs`` with 0.5 s / 10 s windows; ``encoding`` defaults to phase."""
    return role_of(
        "engine",
        name="eng",
        inputs=list(inputs),
        encoding=encoding or {"type": "phase"},
        windows=WINDOWS,
        mesh=MESH,
    )


def test_constant_phase_gives_coherence_one(role_of):
    times = T0 + STEP * np.arange(400)
    harness = engine(role_of)
    out = [o for m in messages("mic", times, np.full(400, 0.7), 20) for o in harness.feed(m)]
    table = rows(out)
    assert table.shape == (400, len(ENGINE_FIELDS))
    slow = table[:, ENGINE_FIELDS.index("coherence_slow")]
    assert slow[1:] == pytest.approx(1.0)
    assert table[-1, ENGINE_FIELDS.index("phase_slow")] == pytest.approx(0.7)
    assert slow[0] == 0.0  # the first sample only sets the time reference


def test_outputs_are_stamped_with_sample_times(role_of):
    times = T0 + STEP * np.arange(40)
    harness = engine(role_of)
    out = harness.feed(message("mic", times, np.zeros(40)))
    assert out[0].times.tolist() == times.tolist()


def test_random_phase_reads_low_over_a_long_window(role_of):
    rng = np.random.default_rng(7)
    times = T0 + STEP * np.arange(4000)
    harness = engine(role_of)
    out = [
        o
        for m in messages("mic", times, rng.uniform(-np.pi, np.pi, 4000), 50)
        for o in harness.feed(m)
    ]
    assert rows(out)[-1, ENGINE_FIELDS.index("coherence_slow")] < 0.15


def test_lockin_tone_is_coherent_and_noise_is_not(role_of):
    from kairos import kernels

    rng = np.random.default_rng(3)
    times = T0 + STEP * np.arange(200 * 40)
    # at 40 Hz the lock-in's low-pass (2 cycles) decorrelates noise in 50 ms, so a 10 s
    # window averages ~200 independent values: noise reads ≈ 0.1 (docs/design.md §5.2)
    tone = np.cos(2 * np.pi * kernels.carrier_cycles(times, 40.0) + 0.4)
    lockin = {"type": "lockin", "freq_hz": 40.0, "lp_cycles": 2.0}
    clean = engine(role_of, encoding=lockin)
    noisy = engine(role_of, encoding=lockin)
    clean_out = [o for m in messages("mic", times, tone, 40) for o in clean.feed(m)]
    noise = rng.normal(size=len(times))
    noisy_out = [o for m in messages("mic", times, noise, 40) for o in noisy.feed(m)]
    index = ENGINE_FIELDS.index("coherence_slow")
    assert rows(clean_out)[-1, index] >= 0.95
    assert rows(clean_out)[-1, ENGINE_FIELDS.index("phase_slow")] == pytest.approx(0.4, abs=0.05)
    assert rows(noisy_out)[-1, index] <= 0.3


def test_two_inputs_pool_into_one_node(role_of):
    times = T0 + STEP * np.arange(200)
    harness = engine(role_of, inputs=("a", "b"))
    out = []
    for ma, mb in zip(
        messages("a", times, np.zeros(200), 20),
        messages("b", times, np.full(200, np.pi), 20),
        strict=True,
    ):
        out += harness.feed(ma, mb)
    # opposite phases of equal amplitude cancel: pooled coherence goes to 0
    assert rows(out)[-1, ENGINE_FIELDS.index("coherence_slow")] < 1e-9


def test_result_does_not_depend_on_arrival_order(role_of):
    rng = np.random.default_rng(11)
    times = T0 + STEP * np.arange(300)
    a = messages("a", times, rng.uniform(-3, 3, 300), 30)
    b = messages("b", times, rng.uniform(-3, 3, 300), 30)

    def run(order):
        harness = engine(role_of, inputs=("a", "b"))
        now = T0
        out = []
        for m in order:
            out += harness.feed(m, now_ns=now)  # arrival time never reaches the stale limit
        return rows(out)

    in_step = [m for pair in zip(a, b, strict=True) for m in pair]
    b_first = [m for pair in zip(b, a, strict=True) for m in pair]
    bursty = a[:5] + b + a[5:]
    first = run(in_step)
    assert first.tobytes() == run(b_first).tobytes() == run(bursty).tobytes()


def test_silent_input_stops_holding_others_back(role_of):
    times = T0 + STEP * np.arange(40)
    harness = engine(role_of, inputs=("a", "b"))
    assert harness.feed(message("a", times, np.zeros(40)), now_ns=T0) == []
    later = harness.tick(T0 + 2_000_000_000)  # b never spoke; after the stale limit a goes on
    assert len(rows(later)) == 40


def test_collapse_events_fire_once_per_change(role_of):
    times = T0 + STEP * np.arange(2000)
    # a steady rotation at 8 Hz: resonance at lag 1 is high, so the windows collapse
    theta = 2 * np.pi * 8.0 * (times - T0) / 1e9
    harness = engine(role_of)
    out = [o for m in messages("mic", times, theta, 50) for o in harness.feed(m)]
    events = [o.data for o in out if o.stream == "events"]
    slow = [e for e in events if e["window"] == "slow"]
    assert [e["state"] for e in slow] == [True]
    assert rows(out)[-1, ENGINE_FIELDS.index("collapsed_slow")] == 1.0
