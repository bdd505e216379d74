"""The kuramoto sensor: free running, the step formula, pulses, and frequency locking."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from kairos.actors.adapters import AdapterContext, MeshPulse, sensor_adapter
from kairos.actors.sensors.kuramoto import KuramotoSensor

T0 = 1_763_000_000_000_000_000


def make(params: dict, actor: str = "osc") -> KuramotoSensor:
    cls = sensor_adapter("kuramoto")
    return cls(params, 100.0, AdapterContext(actor, work_dir=Path.cwd()))


def grid(n: int, rate_hz: float = 100.0, start: int = T0) -> np.ndarray:
    return start + np.arange(n, dtype=np.int64) * round(1e9 / rate_hz)


def reference_steps(t, omega_hz, k, r, psi, theta0, mesh_frequency=0.0, t_pulse=0):
    """The docs/design.md §5.6 Euler step written out plainly, one stamp at a time, with the
    pulse's ψ carried forward to the step's start: ψ(t) = ψ + Ω·(t − t_pulse)."""
    theta = [theta0]
    for a, b in itertools.pairwise(t):
        dt = (int(b) - int(a)) * 1e-9
        psi_a = psi + mesh_frequency * (int(a) - t_pulse) * 1e-9
        nxt = theta[-1] + (2 * math.pi * omega_hz + k * r * math.sin(psi_a - theta[-1])) * dt
        theta.append(math.remainder(nxt, 2 * math.pi))
    return np.array(theta)


def test_declares_a_pulse_consumer_producing_phases():
    assert KuramotoSensor.wants_pulse is True
    assert KuramotoSensor.dtype == "<f8"


def test_runs_free_at_its_natural_frequency_before_any_pulse():
    osc = make({"omega_hz": 1.25, "theta0": 0.4})
    t = grid(500)
    theta = osc.read(t)
    assert theta[0] == pytest.approx(0.4)
    assert np.all((theta > -math.pi) & (theta <= math.pi))
    steps = np.diff(np.unwrap(theta))
    np.testing.assert_allclose(steps, 2 * math.pi * 1.25 * 0.01, rtol=1e-9)


def test_follows_the_step_formula_with_a_pulse_and_irregular_stamps():
    rng = np.random.default_rng(7)
    t = T0 + np.cumsum(rng.integers(1_000_000, 30_000_000, size=300)).astype(np.int64)
    osc = make({"omega_hz": 0.7, "coupling": 3.0, "theta0": -1.0})
    osc.on_pulse(MeshPulse(t_ns=int(t[0]), mesh_phase=2.0, order_parameter=0.8))
    got = np.concatenate([osc.read(t[:100]), osc.read(t[100:101]), osc.read(t[101:])])
    want = reference_steps(t, 0.7, 3.0, 0.8, 2.0, -1.0)
    diff = np.abs(np.angle(np.exp(1j * (got - want))))
    assert diff.max() < 1e-9


def test_extrapolates_a_turning_pulse_to_each_step():
    rng = np.random.default_rng(8)
    t = T0 + np.cumsum(rng.integers(1_000_000, 30_000_000, size=300)).astype(np.int64)
    osc = make({"omega_hz": 0.7, "coupling": 3.0, "theta0": -1.0})
    got = [osc.read(t[:40])]  # free running, then a pulse turning at 2.5 rad/s
    pulse = MeshPulse(t_ns=int(t[39]) + 7_000_000, mesh_phase=2.0, order_parameter=0.8,
                      mesh_frequency=2.5)  # fmt: skip
    osc.on_pulse(pulse)
    got += [osc.read(t[40:41]), osc.read(t[41:200]), osc.read(t[200:])]
    free = reference_steps(t[:40], 0.7, 3.0, 0.0, 0.0, -1.0)
    want = reference_steps(t[39:], 0.7, 3.0, 0.8, 2.0, free[-1], 2.5, pulse.t_ns)
    diff = np.angle(np.exp(1j * (np.concatenate(got) - np.concatenate([free, want[1:]]))))
    assert np.abs(diff).max() < 1e-9


def test_default_theta0_is_seeded_and_reproducible():
    a = make({"omega_hz": 1.0}, actor="x").read(grid(3))
    b = make({"omega_hz": 1.0}, actor="x").read(grid(3))
    c = make({"omega_hz": 1.0}, actor="y").read(grid(3))
    np.testing.assert_array_equal(a, b)
    assert a[0] != c[0]
    d = make({"omega_hz": 1.0, "seed": 11}, actor="x").read(grid(3))
    e = make({"omega_hz": 1.0, "seed": 11}, actor="y").read(grid(3))
    np.testing.assert_array_equal(d, e)


def test_a_nan_pulse_is_ignored():
    osc = make({"omega_hz": 1.0, "theta0": 0.0})
    osc.on_pulse(MeshPulse(t_ns=T0, mesh_phase=1.0, order_parameter=1.0))
    osc.on_pulse(MeshPulse(t_ns=T0, mesh_phase=math.nan, order_parameter=1.0))
    assert (osc.r, osc.psi) == (1.0, 1.0)
    assert np.all(np.isfinite(osc.read(grid(10))))


def test_pulse_pulls_the_phase_towards_psi():
    # no natural rotation: θ relaxes to ψ at rate K·r
    osc = make({"omega_hz": 0.0, "coupling": 2.0, "theta0": -1.5})
    osc.on_pulse(MeshPulse(t_ns=T0, mesh_phase=1.0, order_parameter=1.0))
    theta = osc.read(grid(1000))
    assert theta[-1] == pytest.approx(1.0, abs=1e-6)


def run_pair(coupling: float, seconds: float = 40.0, chunk: int = 5, turning: bool = False):
    """Two oscillators, each fed the other's mean phase of the last chunk as ψ with r = 1
    (held); ``turning``: the other's phase at the chunk's last stamp with its frequency over
    the chunk as Ω, to be carried forward."""
    a = make({"omega_hz": 1.0, "coupling": coupling, "theta0": 0.0}, "a")
    b = make({"omega_hz": 1.15, "coupling": coupling, "theta0": 2.5}, "b")
    t = grid(int(seconds * 100))
    out_a, out_b = [], []
    for start in range(0, len(t), chunk):
        stamps = t[start : start + chunk]
        ta, tb = a.read(stamps), b.read(stamps)
        out_a.append(ta)
        out_b.append(tb)
        now = int(stamps[-1])
        if turning:
            span = (now - int(stamps[0])) * 1e-9
            a.on_pulse(MeshPulse(now, float(tb[-1]), 1.0, float(np.unwrap(tb)[-1] - tb[0]) / span))
            b.on_pulse(MeshPulse(now, float(ta[-1]), 1.0, float(np.unwrap(ta)[-1] - ta[0]) / span))
        else:
            a.on_pulse(MeshPulse(now, float(np.angle(np.mean(np.exp(1j * tb)))), 1.0))
            b.on_pulse(MeshPulse(now, float(np.angle(np.mean(np.exp(1j * ta)))), 1.0))
    return t, np.unwrap(np.concatenate(out_a)), np.unwrap(np.concatenate(out_b))


def locked_frequencies(t, a, b):
    last = slice(-1000, None)  # the last 10 s
    seconds = (t[last][-1] - t[last][0]) * 1e-9
    freq_a = (a[last][-1] - a[last][0]) / (2 * math.pi * seconds)
    freq_b = (b[last][-1] - b[last][0]) / (2 * math.pi * seconds)
    return freq_a, freq_b, (b - a)[last]


def test_two_coupled_oscillators_lock_as_theory_predicts():
    # fed each other's current phase: dΔ/dt = Δω − 2K·sin Δ locks at sin Δ = Δω / 2K,
    # both turning at the mean natural frequency
    t, a, b = run_pair(coupling=2.0, chunk=1)
    freq_a, freq_b, gap = locked_frequencies(t, a, b)
    assert np.ptp(gap) < 1e-6
    assert freq_a == pytest.approx(1.075, abs=1e-4)
    assert freq_b == pytest.approx(1.075, abs=1e-4)
    assert math.sin(gap[-1]) == pytest.approx(2 * math.pi * 0.15 / (2 * 2.0), abs=1e-3)


def test_pulses_once_per_chunk_still_lock_and_uncoupled_ones_drift():
    # ψ held over a chunk acts as a delay: still locked, at a slightly lower common frequency
    t, a, b = run_pair(coupling=2.0, chunk=5)
    freq_a, freq_b, gap = locked_frequencies(t, a, b)
    assert np.ptp(gap) < 0.05
    assert freq_a == pytest.approx(freq_b, abs=1e-3)
    assert 0.9 < freq_a < 1.15

    t, a, b = run_pair(coupling=0.0, chunk=5)
    freq_a, freq_b, gap = locked_frequencies(t, a, b)
    assert (freq_a, freq_b) == (pytest.approx(1.0), pytest.approx(1.15))
    assert np.ptp(gap) == pytest.approx(2 * math.pi * 0.15 * 9.99, rel=1e-6)


def test_a_turning_pulse_once_per_chunk_locks_as_if_fed_every_stamp():
    # the held pulse's delay pulls the common frequency down; carried forward at Ω it does not
    t, a, b = run_pair(coupling=2.0, chunk=5)
    held = locked_frequencies(t, a, b)[0]
    t, a, b = run_pair(coupling=2.0, chunk=5, turning=True)
    freq_a, freq_b, gap = locked_frequencies(t, a, b)
    assert np.ptp(gap) < 1e-3
    assert freq_a == pytest.approx(1.075, abs=2e-4) and freq_b == pytest.approx(1.075, abs=2e-4)
    assert held < 1.075 - 0.01


def test_reads_read_only_and_strided_stamps():
    t = grid(20)
    t.setflags(write=False)
    want = make({"omega_hz": 1.0, "theta0": 0.1}).read(np.ascontiguousarray(t[::2]))
    np.testing.assert_array_equal(make({"omega_hz": 1.0, "theta0": 0.1}).read(t[::2]), want)
