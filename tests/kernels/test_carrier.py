"""The carrier phase is exact: frac(f·t) of the double f and the int64 stamp t, in exact
rational arithmetic (``fractions``), reduced mod 1 and rounded once, equals what both backends
return, bit for bit, at 2026 stamps and across the whole int64 range."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

NS = 10**9
Y2026 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
YEAR_NS = 365 * 86_400 * NS
DEMO_HZ = 40.0  # the lock-in frequency of topologies/demo.yaml
FREQS = (1.2345, 7.77, 0.1, DEMO_HZ, 50.1, 1234.5678, -3.25, 1e6 + 0.1, 2.0**-40)


def stamps(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    in_2026 = Y2026 + rng.integers(0, YEAR_NS, 1500)
    anywhere = rng.integers(-(2**63), 2**63 - 1, 300, dtype=np.int64)
    edges = [2**63 - 1, -(2**63), 0, -1, 1, NS - 1, NS, -NS, Y2026, Y2026 + 1]
    return np.concatenate([in_2026, anywhere, np.array(edges)]).astype(np.int64)


def exact_cycles(t: np.ndarray, freq_hz: float) -> list[Fraction]:
    f = Fraction(freq_hz)  # the exact value of the double
    out = []
    for ti in t.tolist():
        v = f * ti / NS
        out.append(v - math.floor(v))
    return out


@pytest.mark.parametrize("freq", FREQS)
def test_carrier_is_the_exact_phase_rounded_once(kernels, freq):
    t = stamps(7)
    got = kernels.carrier_cycles(t, freq)
    exact = exact_cycles(t, freq)
    rounded = np.array([float(v) for v in exact])  # Fraction → float rounds to nearest
    rounded[rounded == 1.0] = 0.0  # frac just below 1 that rounds up is the phase 0
    errors = [abs(Fraction(g) - v) for g, v in zip(got.tolist(), exact, strict=True)]
    radians = max(2 * math.pi * float(min(e, 1 - e)) for e in errors)
    assert radians <= 1e-12, (freq, radians)
    assert np.array_equal(got, rounded), (freq, np.flatnonzero(got != rounded)[:5])
    assert np.all((got >= 0.0) & (got < 1.0)) and not np.any(np.signbit(got))


@pytest.mark.parametrize("start", [Y2026 - 1_500_000_000, -1_500_000_000])
def test_a_stream_across_second_boundaries_is_exact(kernels, start):
    # the compiled loops keep f₁·a while the second a is the same: 1 kHz across two boundaries
    # (and across 0, where the floor division's second goes from −1 to 0)
    t = start + np.arange(3000, dtype=np.int64) * 1_000_000 + 7
    for freq in (7.77, DEMO_HZ):
        rounded = np.array([float(v) for v in exact_cycles(t, freq)])
        rounded[rounded == 1.0] = 0.0
        assert np.array_equal(kernels.carrier_cycles(t, freq), rounded)


@pytest.mark.parametrize("freq", (*FREQS, 0.0, 1e300, -7e12 - 0.3, 5e-324, 3e-271))
def test_backends_give_the_same_bits(compiled, reference, freq):
    t = stamps(8)
    got, want = compiled.carrier_cycles(t, freq), reference.carrier_cycles(t, freq)
    assert np.array_equal(got.view(np.int64), want.view(np.int64)), freq


def test_frequencies_below_tiny_are_zero_hz(kernels):
    # 2^-900 Hz turns less than 2^-866 cycles over the whole int64 range (docs/kernels.md)
    t = stamps(9)
    assert not np.any(kernels.carrier_cycles(t, 5e-324))
    assert np.any(kernels.carrier_cycles(t, 2.0**-899))
