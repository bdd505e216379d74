"""Kernels against known answers: coherence of steady and random phases, resonance of a
steady rotation, the order parameter of aligned and evenly spread phases, lock-in of a tone,
Kuramoto locking (the exact carrier phase is test_carrier.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

T0 = 1_735_689_600_000_000_000


def irregular_times(n: int, mean_ns: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.integers(mean_ns // 2, 3 * mean_ns // 2, n)
    return T0 + np.cumsum(steps).astype(np.int64)


def test_constant_phase_gives_coherence_one(kernels):
    t = irregular_times(500, 1_000_000, 1)
    amplitude = np.random.default_rng(2).uniform(0.1, 5.0, 500)
    z = amplitude * np.exp(1j * 0.77)
    s, _, c, _ = kernels.integrate(t, z, 0.05)
    assert c[0] == 0.0  # the first sample only sets the time reference
    np.testing.assert_allclose(c[1:], 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.angle(s[1:]), 0.77, atol=1e-12)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_random_phases_give_coherence_near_zero(kernels, seed):
    n = 20_000
    t = irregular_times(n, 1_000_000, seed)
    z = np.exp(1j * np.random.default_rng(seed + 100).uniform(-np.pi, np.pi, n))
    tau = 0.2
    _, _, c, _ = kernels.integrate(t, z, tau)
    # N_eff = (Σw)²/Σw² of the exponential weights each sample has in the final mean
    dt = np.diff(t) * 1e-9
    alpha = -np.expm1(-dt / tau)
    decay_after = np.exp(-(np.cumsum(dt[::-1])[::-1] - dt) / tau)
    weights = alpha * decay_after
    n_eff = weights.sum() ** 2 / (weights**2).sum()
    assert 50 < n_eff < 1000
    assert c[-1] < 3.0 / math.sqrt(n_eff)


def test_steady_rotation_has_resonance_one(kernels):
    n = 4000
    t = T0 + np.arange(n, dtype=np.int64) * 1_000_000  # 1 kHz
    z = 1.5 * np.exp(1j * (2 * np.pi * 3.0 * np.arange(n) * 1e-3 + 0.4))
    _, e, e_lag, r, _ = kernels.resonance(t, z, 0.1, 0.0, 1)
    assert r[0] == 0.0 and r[1] == 0.0  # no velocity yet, then no lagged velocity yet
    assert r[-1] >= 0.99
    assert np.all(r[1000:] >= 0.99)
    np.testing.assert_allclose(e[-1], e_lag[-1], rtol=1e-9)


def test_resonance_of_noise_is_small(kernels):
    n = 4000
    t = T0 + np.arange(n, dtype=np.int64) * 1_000_000
    rng = np.random.default_rng(9)
    z = np.cumsum(rng.normal(size=n) + 1j * rng.normal(size=n))  # independent velocities
    _, _, _, r, _ = kernels.resonance(t, z, 0.5, 0.0, 1)
    assert r[-1] < 0.1


def test_identical_phases_give_order_parameter_one(kernels):
    phase = np.full(7, 2.1)
    c = np.array([0.2, 0.9, 0.5, 1.0, 0.3, 0.7, 0.6])
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.1])
    g, psi, gc, r, delta = kernels.mesh(c, phase, w)
    assert r == pytest.approx(1.0, abs=1e-12) and r <= 1.0
    assert psi == pytest.approx(2.1, abs=1e-12)
    assert gc == pytest.approx(float(np.sum(w * c) / np.sum(w)), rel=1e-12)
    assert abs(g) == pytest.approx(gc, rel=1e-12)
    np.testing.assert_allclose(delta, 0.0, atol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 10, 1000])
def test_evenly_spread_phases_give_order_parameter_zero(kernels, n):
    phase = 2 * np.pi * np.arange(n) / n - 1.0
    ones = np.ones(n)
    _, _, gc, r, _ = kernels.mesh(ones, phase, ones)
    assert r < 1e-9
    assert gc == pytest.approx(1.0)


def test_mesh_without_weight_is_zero(kernels):
    for args in ((np.ones(3), np.ones(3), np.zeros(3)), (np.zeros(0),) * 3):
        g, psi, gc, r, delta = kernels.mesh(*args)
        assert (g, psi, gc, r) == (0j, 0.0, 0.0, 0.0)
        assert np.array_equal(delta, np.zeros(args[0].shape[0]))


def test_lockin_recovers_amplitude_and_phase_of_a_tone(kernels):
    f, amplitude, phi = 8.0, 0.7, -1.1
    t = irregular_times(5000, 2_000_000, 12)  # about 500 Hz, jittered
    cycles = kernels.carrier_cycles(t, f)
    x = amplitude * np.cos(2 * np.pi * cycles + phi)
    z, _ = kernels.lockin(t, x, f, 2.0)
    # after many time constants only the attenuated 2f ripple (≈ 4 % for 2 cycles) is left
    tail = z[-1000:]
    assert np.max(np.abs(tail - amplitude * np.exp(1j * phi))) < 0.06 * amplitude
    assert abs(np.mean(tail) - amplitude * np.exp(1j * phi)) < 0.01 * amplitude


def test_kuramoto_free_runs_at_its_natural_frequency(kernels):
    t = irregular_times(1000, 3_000_000, 13)
    theta, state = kernels.kuramoto(t, 2.0, 0.0, 1.0, 0.0, None, 0.5)
    elapsed = (t - t[0]) * 1e-9
    want = np.angle(np.exp(1j * (0.5 + 2 * np.pi * 2.0 * elapsed)))
    np.testing.assert_allclose(np.angle(np.exp(1j * (theta - want))), 0.0, atol=1e-9)
    assert state.theta == theta[-1] and state.t_prev_ns == int(t[-1])


def test_kuramoto_locks_onto_the_mesh_phase(kernels):
    t = T0 + np.arange(20_000, dtype=np.int64) * 1_000_000
    # detuning 0.1 Hz below locking range K·r = 5 rad/s: θ settles at ψ + asin(2π·0.1/5)
    theta, _ = kernels.kuramoto(t, 0.1, 5.0, 1.0, 1.0, None, -2.0)
    expected = 1.0 + math.asin(2 * math.pi * 0.1 / 5.0)
    assert theta[-1] == pytest.approx(expected, abs=1e-3)
