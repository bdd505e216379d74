"""The Δt rules every time-aware kernel shares, input coercion, output buffers and errors."""

from __future__ import annotations

import numpy as np
import pytest

from kairos.errors import KairosError
from kairos.kernels import KernelError
from kairos.kernels._state import IntegrateState, ResonanceState

T0 = 1_735_689_600_000_000_000
RUNS = {
    "lockin": lambda k, t, z: k.lockin(t, z.real, 5.0, 2.0),
    "integrate": lambda k, t, z: k.integrate(t, z, 0.01),
    "resonance": lambda k, t, z: k.resonance(t, z, 0.01, 1.0, 2),
    "kuramoto": lambda k, t, z: k.kuramoto(t, 1.0, 2.0, 0.5, 0.3),
}


def base_stream(n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(21)
    t = T0 + np.cumsum(rng.integers(500_000, 1_500_000, n)).astype(np.int64)
    return t, rng.normal(size=n) + 1j * rng.normal(size=n)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_repeated_and_late_stamps_are_ignored(kernels, name):
    """A sample with Δt ≤ 0 changes nothing: its row repeats the state, later rows are as if
    it never came (even its value of z is not remembered), and t_prev never moves back."""
    t, z = base_stream()
    *clean, clean_state = RUNS[name](kernels, t, z)
    insert_at = [7, 8, 15]
    stamps = [t[6], t[6], t[14] - 300_000]  # a repeat, a second repeat, a late sample
    t_dirty = np.insert(t, insert_at, stamps)
    z_dirty = np.insert(z, insert_at, [1e6 + 1e6j, 0.0, -3e5])
    *dirty, dirty_state = RUNS[name](kernels, t_dirty, z_dirty)
    assert dirty_state == clean_state
    kept = np.ones(t_dirty.shape[0], dtype=bool)
    kept[[7, 9, 17]] = False  # where the inserted samples landed
    for got, want in zip(dirty, clean, strict=True):
        assert np.array_equal(got[kept], want)
        assert np.array_equal(got[~kept], got[[6, 8, 16]])  # repeats of the row before
        assert not np.isnan(got).any()


def test_first_sample_only_sets_the_time_reference(kernels):
    t, z = base_stream(3)
    s, m, c, state = kernels.integrate(t[:1], z[:1], 0.01)
    assert (s[0], m[0], c[0]) == (0j, 0.0, 0.0)
    assert state == IntegrateState(True, int(t[0]), 0j, 0.0)
    z_out, _ = kernels.lockin(t[:1], z.real[:1], 5.0)
    assert z_out[0] == 0j
    theta, _ = kernels.kuramoto(t[:1], 1.0, 1.0, 1.0, 0.0, None, 7.0)
    assert theta[0] == pytest.approx(7.0 - 2 * np.pi)  # θ0, wrapped into (−π, π]


def test_all_repeated_stamps_give_alpha_zero_not_nan(kernels):
    t = np.full(5, T0, dtype=np.int64)
    _, m, c, _ = kernels.integrate(t, np.ones(5, dtype=complex), 0.01)
    assert np.array_equal(m, np.zeros(5)) and np.array_equal(c, np.zeros(5))
    _, _, _, r, rstate = kernels.resonance(t, np.arange(5.0) + 0j, 0.01)
    assert np.array_equal(r, np.zeros(5)) and rstate.ring == ()


def test_resonance_waits_for_the_lagged_velocity(kernels):
    t = T0 + np.arange(6, dtype=np.int64) * 1_000_000
    z = np.exp(1j * np.arange(6) * 0.1)
    _, e, e_lag, _, state = kernels.resonance(t, z, 0.01, 0.0, 3)
    # velocities exist from sample 1; v_{k−3} exists from sample 4
    assert np.all(e[:4] == 0.0) and np.all(e[4:] > 0.0)
    assert np.all(e_lag[:4] == 0.0) and np.all(e_lag[4:] > 0.0)
    assert len(state.ring) == 3


@pytest.mark.parametrize(
    ("times", "values"),
    [
        ([T0, T0 + 10**6, T0 + 3 * 10**6], [1 + 1j, 2 + 0j, 0.5j]),  # lists
        (np.arange(3, dtype=np.int32) * 10**6, np.array([1.0, 2.0, 3.0])),  # int32, real
    ],
)
def test_array_likes_are_coerced(kernels, times, values):
    got = kernels.integrate(times, values, 0.01)
    want = kernels.integrate(np.array(times, dtype=np.int64), np.array(values, complex), 0.01)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b) if isinstance(b, np.ndarray) else a == b


def test_read_only_and_strided_inputs(kernels):
    t, z = base_stream(20)
    wide = np.stack([z, z * 2]).T  # column 0 is a strided view
    t_ro = t.copy()
    t_ro.flags.writeable = False
    got = kernels.integrate(t_ro, wide[:, 0], 0.01)
    want = kernels.integrate(t, z, 0.01)
    assert np.array_equal(got[2], want[2]) and got[3] == want[3]


def test_out_buffers_receive_the_results(kernels):
    t, z = base_stream(25)
    want = kernels.integrate(t, z, 0.02)
    out = (np.empty(25, complex), np.empty(25), np.empty(25))
    got = kernels.integrate(t, z, 0.02, None, out=out)
    assert all(g is o for g, o in zip(got[:3], out, strict=True))
    assert all(np.array_equal(g, w) for g, w in zip(got[:3], want[:3], strict=True))
    res_out = (np.empty(25, complex), np.empty(25), np.empty(25), np.empty(25))
    res = kernels.resonance(t, z, 0.02, 0.0, 1, None, out=res_out)
    assert np.array_equal(res[3], kernels.resonance(t, z, 0.02)[3]) and res[3] is res_out[3]
    with pytest.raises(KernelError, match="shape"):
        kernels.integrate(t, z, 0.02, None, out=(np.empty(24, complex), out[1], out[2]))
    with pytest.raises(KernelError, match="tuple of 3"):
        kernels.integrate(t, z, 0.02, None, out=out[:2])


def test_errors_say_what_is_wrong(kernels):
    t, z = base_stream(4)
    cases = [
        (lambda: kernels.integrate(t, z[:3], 0.1), "differ in length"),
        (lambda: kernels.integrate(t, z, 0.0), "tau_s must be > 0"),
        (lambda: kernels.integrate(t, z, float("nan")), "tau_s must be > 0"),
        (lambda: kernels.integrate(t * 1.0, z, 0.1), "integer nanoseconds"),
        (lambda: kernels.integrate(t.reshape(2, 2), z, 0.1), "one-dimensional"),
        (lambda: kernels.lockin(t, z, 5.0), "must be real"),
        (lambda: kernels.lockin(t, z.real, 0.0), "freq_hz must be > 0"),
        (lambda: kernels.lockin(t, z.real, 5.0, -1.0), "lp_cycles must be > 0"),
        (lambda: kernels.resonance(t, z, 0.1, 0.0, 0), "lag must be an integer >= 1"),
        (lambda: kernels.resonance(t, z, 0.1, float("inf")), "omega_hz must be finite"),
        (lambda: kernels.collapse(np.ones(3), 0.9, -0.1, False), "hysteresis must be >= 0"),
        (lambda: kernels.mesh(np.ones(3), np.ones(2), np.ones(3)), "differ in length"),
        (lambda: kernels.carrier_cycles(t, float("nan")), "freq_hz must be finite"),
        (lambda: kernels.kuramoto(t, 1.0, 1.0, 1.0, float("inf")), "psi must be finite"),
        (lambda: kernels.kuramoto(t, 1.0, 1e308, float("nan"), 0.0), "r must be finite"),
    ]
    for call, message in cases:
        with pytest.raises(KernelError, match=message):
            call()
    assert issubclass(KernelError, KairosError) and issubclass(KernelError, ValueError)


def test_state_of_another_lag_is_refused(kernels):
    t, z = base_stream(10)
    state = kernels.resonance(t, z, 0.1, 0.0, 3)[-1]
    assert isinstance(state, ResonanceState) and len(state.ring) == 3
    with pytest.raises(KernelError, match="another lag"):
        kernels.resonance(t, z, 0.1, 0.0, 2, state)
