"""Chunked processing equals one pass exactly, within each backend, at every split position.

A short irregular stream (repeated, out-of-order and gapped stamps) is cut at every index;
processing ``[0:i]`` then ``[i:]`` with the returned state must give the very same bits as
processing it whole, as must feeding it one sample per call.
"""

from __future__ import annotations

import numpy as np
import pytest

N = 14


def stream(seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = rng.choice([0, 1, 999_000, 1_000_000, 1_003_000, 40_000_000_000, -2_000_000], N)
    steps[[3, 4]] = 0  # two repeated stamps in a row
    t = 1_735_689_600_000_000_000 + np.cumsum(steps).astype(np.int64)
    z = rng.normal(size=N) + 1j * rng.normal(size=N)
    z[5] = 0.0
    x = 0.7 * np.cos(2 * np.pi * 8.0 * (t - t[0]) * 1e-9 + 0.3) + rng.normal(0, 0.1, N)
    return t, z, x


def concat(first: tuple, second: tuple) -> list:
    return [np.concatenate([a, b]) for a, b in zip(first, second, strict=True)]


CASES = {
    "lockin": lambda k, t, z, x, s: k.lockin(t, x, 8.0, 2.0, s),
    "integrate": lambda k, t, z, x, s: k.integrate(t, z, 0.01, s),
    "resonance": lambda k, t, z, x, s: k.resonance(t, z, 0.01, 2.5, 2, s),
    "kuramoto": lambda k, t, z, x, s: k.kuramoto(t, 1.5, 3.0, 0.8, 0.4, s, 2.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_split_equals_one_pass(kernels, assert_identical, name):
    run = CASES[name]
    t, z, x = stream()
    *whole, final = run(kernels, t, z, x, None)
    for i in range(N + 1):
        *first, state = run(kernels, t[:i], z[:i], x[:i], None)
        *second, end = run(kernels, t[i:], z[i:], x[i:], state)
        assert_identical([*concat(first, second), end], [*whole, final], f"{name} split {i}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_sample_per_call_equals_one_pass(kernels, assert_identical, name):
    run = CASES[name]
    t, z, x = stream(11)
    *whole, final = run(kernels, t, z, x, None)
    state = None
    pieces = []
    for i in range(N):
        *out, state = run(kernels, t[i : i + 1], z[i : i + 1], x[i : i + 1], state)
        pieces.append(out)
    joined = [np.concatenate(parts) for parts in zip(*pieces, strict=True)]
    assert_identical([*joined, state], [*whole, final], name)


def test_collapse_every_split(kernels, assert_identical):
    r = np.array([0.2, 0.91, 0.9, 0.86, 0.84, 0.95, 0.5, 0.9, 0.9, 0.1, 0.89, 0.95, 0.2])
    whole = kernels.collapse(r, 0.9, 0.05, False)
    for i in range(r.shape[0] + 1):
        a, ca, state = kernels.collapse(r[:i], 0.9, 0.05, False)
        b, cb, end = kernels.collapse(r[i:], 0.9, 0.05, state)
        joined = (np.concatenate([a, b]), np.concatenate([ca, cb + i]).astype(np.int64), end)
        assert_identical(joined, whole, f"collapse split {i}")


def test_states_are_plain_python_values(kernels):
    t, z, x = stream()
    states = [
        kernels.lockin(t, x, 8.0)[-1],
        kernels.integrate(t, z, 0.1)[-1],
        kernels.resonance(t, z, 0.1, 0.0, 3)[-1],
        kernels.kuramoto(t, 1.0, 1.0, 1.0, 0.0)[-1],
    ]
    for state in states:
        assert type(state[0]) is bool
        assert type(state[1]) is int
        for value in state[2:]:
            assert type(value) in (float, complex, tuple)
    ring = states[2].ring
    assert len(ring) == 3 and all(type(v) is complex for v in ring)
