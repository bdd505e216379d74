"""Compiled kernels equal the NumPy reference on random inputs (hypothesis, derandomized).

Inputs include irregular Δt, repeated and out-of-order stamps, gaps of minutes, zeros and
extreme magnitudes; the states are compared too, and a state is handed from one backend to
the other mid-stream.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

RTOL = 1e-12
RTOL_RESONANCE = 1e-9
EPOCH_2025 = 1_735_689_600_000_000_000

settings.register_profile("kernels", derandomize=True, max_examples=200, deadline=None)
KERNEL_SETTINGS = settings.get_profile("kernels")

steps = st.one_of(
    st.just(0),  # repeated stamp: Δt = 0
    st.integers(1, 2_000),  # sub-µs jitter
    st.integers(900_000, 1_100_000),  # about 1 kHz
    st.integers(1, 60_000_000_000),  # up to one-minute gaps
    st.integers(-5_000_000, -1),  # out of order
)


@st.composite
def stamps(draw: st.DrawFn, min_size: int = 0, max_size: int = 60) -> np.ndarray:
    start = draw(st.sampled_from([0, 123_456_789, EPOCH_2025, -3_000_000_001]))
    deltas = draw(st.lists(steps, min_size=min_size, max_size=max_size))
    return np.array(np.cumsum([start, *deltas])[1:] if deltas else [], dtype=np.int64)


def magnitudes(extreme: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.just(0.0),
        st.floats(-10.0, 10.0),
        st.sampled_from([extreme, -extreme, 1.0 / extreme, -1.0 / extreme, 1e-3, 5e-324]),
    )


def complex_values(n: int, extreme: float) -> st.SearchStrategy[np.ndarray]:
    parts = st.lists(magnitudes(extreme), min_size=2 * n, max_size=2 * n)
    return parts.map(lambda v: np.array(v[0::2]) + 1j * np.array(v[1::2]))


def real_values(n: int, extreme: float) -> st.SearchStrategy[np.ndarray]:
    return st.lists(magnitudes(extreme), min_size=n, max_size=n).map(np.array)


taus = st.sampled_from([1e-6, 1e-3, 0.05, 1.0, 3600.0])


@st.composite
def complex_stream(draw: st.DrawFn, extreme: float = 1e300):
    t = draw(stamps())
    return t, draw(complex_values(t.shape[0], extreme))


@KERNEL_SETTINGS
@given(t=stamps(), freq=st.sampled_from([0.0, 1e-3, 8.0, 50.0, 1234.5678, 1e6, -3.25]))
def test_carrier_cycles(compiled, reference, assert_close, t, freq):
    got = compiled.carrier_cycles(t, freq)
    want = reference.carrier_cycles(t, freq)
    assert_close(got, want, RTOL)
    assert np.all((want >= 0.0) & (want < 1.0))


@KERNEL_SETTINGS
@given(
    data=st.data(),
    freq=st.sampled_from([0.5, 8.0, 50.0, 1000.0]),
    lp=st.sampled_from([0.5, 2.0, 10.0]),
    split=st.integers(0, 60),
)
def test_lockin(compiled, reference, assert_close, data, freq, lp, split):
    t = data.draw(stamps())
    x = data.draw(real_values(t.shape[0], 1e300))
    got = compiled.lockin(t, x, freq, lp)
    want = reference.lockin(t, x, freq, lp)
    assert_close(got, want, RTOL)
    assert not np.isnan(want[0]).any()
    # a state from one backend continues in the other
    z1, s1 = compiled.lockin(t[:split], x[:split], freq, lp)
    z2, s2 = reference.lockin(t[split:], x[split:], freq, lp, s1)
    assert_close((np.concatenate([z1, z2]), s2), want, RTOL)


@KERNEL_SETTINGS
@given(stream=complex_stream(), tau=taus, split=st.integers(0, 60))
def test_integrate(compiled, reference, assert_close, stream, tau, split):
    t, z = stream
    got = compiled.integrate(t, z, tau)
    want = reference.integrate(t, z, tau)
    assert_close(got, want, RTOL)
    s, m, c, _ = want
    assert not (np.isnan(s).any() or np.isnan(m).any() or np.isnan(c).any())
    assert np.all((c >= 0.0) & (c <= 1.0))
    *first, state = reference.integrate(t[:split], z[:split], tau)
    *second, final = compiled.integrate(t[split:], z[split:], tau, state)
    joined = [np.concatenate([a, b]) for a, b in zip(first, second, strict=True)]
    assert_close((*joined, final), want, RTOL)


@KERNEL_SETTINGS
@given(
    stream=complex_stream(extreme=1e100),
    tau=taus,
    omega=st.sampled_from([0.0, 0.25, 8.0, 333.3]),
    lag=st.integers(1, 4),
    split=st.integers(0, 60),
)
def test_resonance(compiled, reference, assert_close, stream, tau, omega, lag, split):
    t, z = stream
    got = compiled.resonance(t, z, tau, omega, lag)
    want = reference.resonance(t, z, tau, omega, lag)
    assert_close(got, want, RTOL_RESONANCE)
    r = want[3]
    assert not np.isnan(r).any()
    assert np.all((r >= 0.0) & (r <= 1.0))
    *first, state = compiled.resonance(t[:split], z[:split], tau, omega, lag)
    *second, final = reference.resonance(t[split:], z[split:], tau, omega, lag, state)
    joined = [np.concatenate([a, b]) for a, b in zip(first, second, strict=True)]
    assert_close((*joined, final), want, RTOL_RESONANCE)


@KERNEL_SETTINGS
@given(
    r=st.lists(st.one_of(st.floats(0.0, 1.0), st.just(0.9), st.just(0.8)), max_size=80),
    threshold=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
    hysteresis=st.sampled_from([0.0, 0.05, 0.1]),
    state=st.booleans(),
)
def test_collapse(compiled, reference, assert_identical, r, threshold, hysteresis, state):
    rs = np.array(r, dtype=np.float64)
    got = compiled.collapse(rs, threshold, hysteresis, state)
    want = reference.collapse(rs, threshold, hysteresis, state)
    assert_identical(got, want)


@KERNEL_SETTINGS
@given(
    data=st.data(),
    n=st.sampled_from([0, 1, 2, 3, 10, 57]),
)
def test_mesh(compiled, reference, assert_close, data, n):
    c = data.draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n).map(np.array))
    phi = data.draw(st.lists(st.floats(-50.0, 50.0), min_size=n, max_size=n).map(np.array))
    w = data.draw(
        st.lists(st.one_of(st.just(0.0), st.floats(0.0, 1e6)), min_size=n, max_size=n).map(np.array)
    )
    got = compiled.mesh(c, phi, w)
    want = reference.mesh(c, phi, w)
    assert_close(got, want, RTOL)
    delta = want[4]
    assert np.all((delta > -np.pi) & (delta <= np.pi))


@KERNEL_SETTINGS
@given(
    t=stamps(),
    omega=st.sampled_from([0.0, 1.0, 8.0, -2.5]),
    coupling=st.sampled_from([0.0, 0.5, 20.0]),
    r=st.floats(0.0, 1.0),
    psi=st.floats(-np.pi, np.pi),
    theta0=st.floats(-20.0, 20.0),
    split=st.integers(0, 60),
)
def test_kuramoto(compiled, reference, assert_close, t, omega, coupling, r, psi, theta0, split):
    got = compiled.kuramoto(t, omega, coupling, r, psi, None, theta0)
    want = reference.kuramoto(t, omega, coupling, r, psi, None, theta0)
    assert_close(got, want, RTOL)
    theta = want[0]
    assert np.all((theta > -np.pi) & (theta <= np.pi))
    first, state = reference.kuramoto(t[:split], omega, coupling, r, psi, None, theta0)
    second, final = compiled.kuramoto(t[split:], omega, coupling, r, psi, state, theta0)
    assert_close((np.concatenate([first, second]), final), want, RTOL)


@KERNEL_SETTINGS
@given(x=st.lists(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([np.pi, -np.pi, 0.0]))))
def test_wrap_phase(compiled, reference, assert_close, x):
    xs = np.array(x, dtype=np.float64)
    want = reference.wrap_phase(xs)
    assert_close(compiled.wrap_phase(xs), want, RTOL)
    assert np.all((want > -np.pi) & (want <= np.pi))
