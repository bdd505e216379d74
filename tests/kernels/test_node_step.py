"""``node_step``, an engine's whole update for one input's rows, in one call.

The compiled step equals its NumPy twin to rounding (hypothesis, derandomized, with and
without other inputs pooled in); within each backend, a stream cut anywhere gives the very
bits of one pass, flags and change rows included; and each flag follows, row by row, what
``collapse`` makes of the step's own resonance column (so the events an engine reads from
``changes`` are the flips of the column it publishes).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernels.test_parity import KERNEL_SETTINGS, RTOL_RESONANCE, complex_values, stamps

from kairos.kernels._state import (
    COLLAPSE_FLAGS,
    NODE_COLUMNS,
    NODE_WINDOWS,
    IntegrateState,
    NodeStep,
    Pooled,
    WindowStates,
)

FRESH = (WindowStates(), WindowStates())
COLUMN = {name: i for i, name in enumerate(NODE_COLUMNS)}
TAUS = (0.05, 1.0)


def _step(kernels, t, z, windows=FRESH, others=None, collapsed=(False, False, False), **kw):
    settings = {"omega_hz": 2.5, "lag": 2, "threshold": 0.6, "hysteresis": 0.05, **kw}
    return kernels.node_step(
        t,
        z,
        TAUS,
        settings["omega_hz"],
        settings["lag"],
        windows,
        others,
        settings["threshold"],
        settings["hysteresis"],
        collapsed,
    )


def _tone(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 40 Hz phasor at ~1 kHz whose phase noise comes and goes, so every flag flips."""
    rng = np.random.default_rng(seed)
    t = 1_763_770_000_000_000_000 + np.cumsum(rng.integers(990_000, 1_010_000, n))
    spread = np.where((np.arange(n) // 150) % 2 == 0, 0.05, 2.5)
    z = np.exp(1j * (2 * np.pi * 40.0 * np.arange(n) / 1e3 + rng.normal(0, spread)))
    return t.astype(np.int64), z * rng.uniform(0.5, 1.5, n)


OTHERS = (Pooled(0.3 + 0.1j, 0.9, 0.01 + 0.02j, 0.5, 0.4), Pooled(-0.2j, 0.7, 0j, 0.2, 0.3))


def _flags_follow_resonance(kernels, step: NodeStep, collapsed: tuple[bool, bool, bool]) -> None:
    for k, flag in enumerate(COLLAPSE_FLAGS):
        resonance = np.ascontiguousarray(step.rows[:, COLUMN[f"resonance_{flag}"]])
        want, changes, final = kernels.collapse(resonance, 0.6, 0.05, collapsed[k])
        assert np.array_equal(step.rows[:, COLUMN[f"collapsed_{flag}"]], want), flag
        assert np.array_equal(step.changes[k], changes), flag
        assert step.collapsed[k] == final, flag


@pytest.mark.parametrize("others", [None, OTHERS], ids=["one input", "pooled"])
def test_flags_and_changes_follow_the_resonance_columns(kernels, others) -> None:
    t, z = _tone(900, seed=1)
    for collapsed in [(False, False, False), (True, False, True)]:
        step = _step(kernels, t, z, others=others, collapsed=collapsed)
        _flags_follow_resonance(kernels, step, collapsed)
        assert all(len(c) for c in step.changes), "no flag flipped: the changes go untested"


@pytest.mark.parametrize("others", [None, OTHERS], ids=["one input", "pooled"])
def test_every_split_equals_one_pass(kernels, assert_identical, others) -> None:
    t, z = _tone(400, seed=2)
    whole = _step(kernels, t, z, others=others)
    for i in [0, 1, 37, 150, 151, 399, 400]:
        first = _step(kernels, t[:i], z[:i], others=others)
        second = _step(kernels, t[i:], z[i:], first.windows, others, first.collapsed)
        assert_identical([np.vstack([first.rows, second.rows])], [whole.rows], f"split {i}")
        joined = [
            np.concatenate([a, b + i]) for a, b in zip(first.changes, second.changes, strict=True)
        ]
        assert_identical(joined, list(whole.changes), f"changes, split {i}")
        assert second.collapsed == whole.collapsed and second.windows == whole.windows


def test_no_rows_leave_every_state_as_it_was(kernels) -> None:
    t, z = _tone(50, seed=3)
    before = _step(kernels, t, z, collapsed=(True, False, True))
    empty = _step(kernels, t[:0], z[:0], before.windows, OTHERS, before.collapsed)
    assert empty.rows.shape == (0, len(NODE_COLUMNS))
    assert [len(c) for c in empty.changes] == [0, 0, 0]
    assert empty.collapsed == before.collapsed and empty.windows == before.windows


def test_one_input_adds_nothing_not_even_zero(kernels) -> None:
    """A node of one input reads its own means: pooling in zeros would turn the phase of a
    mean of −1 − 0j from −π into +π."""
    mean = IntegrateState(True, 0, complex(-1.0, -0.0), 1.0)
    windows = (WindowStates(mean), WindowStates(mean))
    t = np.zeros(1, dtype=np.int64)  # a repeated stamp: the mean stays as it was
    z = np.ones(1, dtype=np.complex128)
    alone = _step(kernels, t, z, windows)
    zeros = (Pooled(0j, 0.0, 0j, 0.0, 0.0),) * 2
    pooled = _step(kernels, t, z, windows, others=zeros)
    assert alone.rows[0, COLUMN["phase_fast"]] == -np.pi
    assert pooled.rows[0, COLUMN["phase_fast"]] == np.pi


def test_columns_are_the_formulas_of_the_window_kernels(kernels, assert_close) -> None:
    """Each column from the per-window kernels, by the formulas docs/design.md §5 states."""
    t, z = _tone(300, seed=4)
    step = _step(kernels, t, z, others=OTHERS)
    pooled_t, pooled_e, pooled_e_lag = [], [], []
    for k, window in enumerate(NODE_WINDOWS):
        s, m, _c, _state = kernels.integrate(t, z, TAUS[k])
        tw, e, e_lag, _r, _state = kernels.resonance(t, z, TAUS[k], 2.5, 2)
        s, m = s + OTHERS[k].s, m + OTHERS[k].m
        tw, e, e_lag = tw + OTHERS[k].t, e + OTHERS[k].e, e_lag + OTHERS[k].e_lag
        col = step.rows.T
        assert_close(col[COLUMN[f"phase_{window}"]], np.angle(s), 1e-12, window)
        assert_close(col[COLUMN[f"coherence_{window}"]], np.minimum(abs(s) / m, 1), 1e-12)
        want = np.clip(abs(tw) ** 2 / (e * e_lag), 0, 1)
        assert_close(col[COLUMN[f"resonance_{window}"]], want, 1e-12, window)
        pooled_t.append(tw)
        pooled_e.append(e)
        pooled_e_lag.append(e_lag)
    t_sum = pooled_t[0] + pooled_t[1]
    pair = np.clip(abs(t_sum) ** 2 / ((pooled_e[0] + pooled_e[1]) * sum(pooled_e_lag)), 0, 1)
    assert_close(step.rows[:, COLUMN["resonance_pair"]], pair, 1e-12, "pair")
    assert_close(step.rows[:, COLUMN["tsync_re"]], t_sum.real / 2, 1e-12, "tsync_re")
    assert_close(step.rows[:, COLUMN["tsync_im"]], t_sum.imag / 2, 1e-12, "tsync_im")
    delta = abs(abs(pooled_t[1]) - abs(pooled_t[0]))
    assert_close(step.rows[:, COLUMN["delta"]], delta, 1e-12, "delta")


pooled_values = st.builds(
    Pooled,
    st.complex_numbers(max_magnitude=10.0),
    st.floats(0.0, 10.0),
    st.complex_numbers(max_magnitude=10.0),
    st.floats(0.0, 10.0),
    st.floats(0.0, 10.0),
)


@KERNEL_SETTINGS
@given(
    data=st.data(),
    others=st.none() | st.tuples(pooled_values, pooled_values),
    collapsed=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    split=st.integers(0, 60),
)
def test_compiled_equals_the_numpy_twin(
    compiled, reference, assert_close, data, others, collapsed, split
) -> None:
    t = data.draw(stamps())
    z = data.draw(complex_values(t.shape[0], 1e6))
    i = min(split, t.shape[0])
    steps = {}
    for name, backend in (("compiled", compiled), ("reference", reference)):
        first = _step(backend, t[:i], z[:i], others=others, collapsed=collapsed)
        second = _step(backend, t[i:], z[i:], first.windows, others, first.collapsed)
        steps[name] = np.vstack([first.rows, second.rows]), second.windows
        _flags_follow_resonance(backend, first, collapsed)
        _flags_follow_resonance(backend, second, first.collapsed)
    got, want = steps["compiled"], steps["reference"]
    values = [COLUMN[n] for n in NODE_COLUMNS if not n.startswith("collapsed")]
    phases = [COLUMN[f"phase_{w}"] for w in NODE_WINDOWS]
    for c in values:
        if c in phases:  # an angle near ±π may land on either side: compare the phasors
            assert_close(np.exp(1j * got[0][:, c]), np.exp(1j * want[0][:, c]), 1e-9)
        else:
            assert_close(got[0][:, c], want[0][:, c], RTOL_RESONANCE, NODE_COLUMNS[c])
    assert_close(list(got[1]), list(want[1]), RTOL_RESONANCE, "states")


@pytest.mark.parametrize("others", [None, OTHERS], ids=["one input", "pooled"])
def test_compiled_is_the_twins_arithmetic_to_the_bit(compiled, reference, monkeypatch, others):
    """Over the compiled window kernels, the twin's array arithmetic gives the compiled
    step's very bits: the same operations in the same order (sqrt, +, ×, ÷ are correctly
    rounded in both).  Only the phase may differ, by an ulp: NumPy's ``arctan2`` is its own
    SIMD code, not the C library's ``atan2``."""
    for name in ("integrate", "resonance", "collapse"):
        monkeypatch.setattr(reference, name, getattr(compiled, name))
    t, z = _tone(600, seed=5)
    got = _step(compiled, t, z, others=others, collapsed=(False, True, False))
    want = _step(reference, t, z, others=others, collapsed=(False, True, False))
    phases = [COLUMN[f"phase_{w}"] for w in NODE_WINDOWS]
    rest = [i for i in range(len(NODE_COLUMNS)) if i not in phases]
    assert np.array_equal(got.rows[:, rest], want.rows[:, rest])
    ulp = np.spacing(np.abs(want.rows[:, phases]))
    assert np.all(np.abs(got.rows[:, phases] - want.rows[:, phases]) <= ulp)
    assert all(np.array_equal(a, b) for a, b in zip(got.changes, want.changes, strict=True))
    assert got.collapsed == want.collapsed and got.windows == want.windows
