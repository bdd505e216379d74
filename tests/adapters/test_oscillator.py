"""The oscillator sensor: the formula, determinism, chunking, phase jitter, lock-in phase."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from kairos.actors.adapters import AdapterContext, sensor_adapter
from kairos.kernels import carrier_cycles

T0 = 1_763_000_123_456_789_012  # a mesh time around 2025 in ns: huge on purpose


def exact_cycles(times_ns: np.ndarray, freq_hz: float) -> np.ndarray:
    """frac(f·t) in exact rational arithmetic (f as the double it is)."""
    f = Fraction(freq_hz)
    return np.array([float((f * int(t) / 10**9) % 1) for t in times_ns])


def make(params: dict, actor: str = "mic", rate_hz: float = 200.0):
    return sensor_adapter("oscillator")(params, rate_hz, AdapterContext(actor, work_dir=Path.cwd()))


def grid(n: int, rate_hz: float = 200.0, start: int = T0) -> np.ndarray:
    return start + np.arange(n, dtype=np.int64) * round(1e9 / rate_hz)


@pytest.mark.parametrize("freq_hz", [8.0, 7.3, 0.1, 1234.567])
def test_cycles_are_exact_for_huge_stamps(freq_hz):
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 2 * 10**18, size=500, dtype=np.int64))
    got = carrier_cycles(t, freq_hz)
    want = exact_cycles(t, freq_hz)
    assert np.all((got >= 0.0) & (got < 1.0))
    err = np.abs(got - want)
    assert np.max(np.minimum(err, 1.0 - err)) < 1e-6


def test_values_follow_the_formula():
    osc = make({"freq_hz": 7.3, "amplitude": 2.5, "phase": 0.3})
    t = grid(400)
    want = 2.5 * np.cos(2 * math.pi * exact_cycles(t, 7.3) + 0.3)
    got = osc.read(t)
    assert got.dtype == np.float64 and got.shape == (400,)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_defaults_are_an_8_hz_unit_cosine():
    t = grid(100)
    np.testing.assert_allclose(
        make({}).read(t), np.cos(2 * math.pi * exact_cycles(t, 8.0)), atol=2e-5
    )


def test_same_seed_same_stamps_same_values_whatever_the_chunking():
    params = {"noise": 0.3, "phase_jitter": 0.5, "seed": 42}
    t = grid(1000)
    whole = make(params).read(t)
    chunked_osc = make(params)
    edges = [0, 1, 7, 100, 101, 555, 1000]
    chunked = np.concatenate([chunked_osc.read(t[a:b]) for a, b in itertools.pairwise(edges)])
    np.testing.assert_array_equal(whole, chunked)
    assert not np.array_equal(whole, make({**params, "seed": 43}).read(t))


def test_default_seed_comes_from_the_actor_name():
    params = {"noise": 1.0}
    t = grid(50)
    np.testing.assert_array_equal(make(params, "a").read(t), make(params, "a").read(t))
    assert not np.array_equal(make(params, "a").read(t), make(params, "b").read(t))


def test_noise_has_the_configured_standard_deviation():
    t = grid(20000)
    clean = make({"freq_hz": 3.0}).read(t)
    noisy = make({"freq_hz": 3.0, "noise": 0.2, "seed": 5}).read(t)
    assert np.std(noisy - clean) == pytest.approx(0.2, rel=0.05)


def test_phase_jitter_is_a_random_walk_over_real_time():
    # freq 0 and phase π/2 make x = −sin(jitter), so the walk can be read back exactly
    sigma = 0.01
    rng = np.random.default_rng(3)
    t = T0 + np.cumsum(rng.integers(1_000_000, 50_000_000, size=20000)).astype(np.int64)
    osc = make({"freq_hz": 0.0, "phase": math.pi / 2, "phase_jitter": sigma, "seed": 9})
    walk = -np.arcsin(np.clip(osc.read(t), -1.0, 1.0))
    assert walk[0] == pytest.approx(0.0, abs=1e-12)
    steps = np.diff(walk) / np.sqrt(np.diff(t) * 1e-9)
    assert np.std(steps) == pytest.approx(sigma, rel=0.05)


def test_lockin_sees_the_same_phase_across_chunks_and_gaps():
    amplitude, phase, f, rate = 1.7, -2.1, 8.0, 200.0
    osc = make({"freq_hz": f, "amplitude": amplitude, "phase": phase})
    # one second read in uneven chunks, then a stall of 12.345 s, then another second
    first = grid(200, rate)
    second = grid(200, rate, start=int(first[-1]) + 12_345_678_901)
    phasors = []
    for seconds in (first, second):
        parts = np.split(seconds, [3, 50, 51, 199])
        x = np.concatenate([osc.read(p) for p in parts])
        demod = np.exp(-2j * math.pi * exact_cycles(seconds, f))
        phasors.append(np.mean(x * demod))
    for z in phasors:
        assert abs(z) == pytest.approx(amplitude / 2, rel=1e-4)
        assert cmath_phase_diff(z, phase) < 1e-4


def cmath_phase_diff(z: complex, phase: float) -> float:
    return abs(math.remainder(math.atan2(z.imag, z.real) - phase, 2 * math.pi))


def test_reads_read_only_and_strided_stamps():
    t = grid(20)
    t.setflags(write=False)  # stamps decoded from the wire are read-only
    want = make({"freq_hz": 3.0}).read(np.ascontiguousarray(t[::2]))
    np.testing.assert_array_equal(make({"freq_hz": 3.0}).read(t[::2]), want)
