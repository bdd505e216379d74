"""Fixtures of the kernel tests: each available backend, and the output comparisons."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from kairos.kernels import _reference

try:
    from kairos.kernels import _compiled
except ImportError:  # reported by test_backend.py::test_compiled_backend_required
    _compiled = None

BACKENDS: dict[str, ModuleType | None] = {"compiled": _compiled, "reference": _reference}


@pytest.fixture(scope="session", params=sorted(BACKENDS))
def kernels(request: pytest.FixtureRequest) -> ModuleType:
    """Each backend in turn (the compiled one is skipped when it was not built)."""
    module = BACKENDS[request.param]
    if module is None:
        pytest.skip("the compiled kernels are not built")
    return module


@pytest.fixture(scope="session")
def compiled() -> ModuleType:
    if _compiled is None:
        pytest.skip("the compiled kernels are not built")
    return _compiled


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    return _reference


def _assert_close(actual: Any, expected: Any, rtol: float, what: str = "") -> None:
    """``actual`` equals ``expected`` within ``rtol`` relative to the largest finite magnitude.

    Element-wise relative error is meaningless where an output is itself a near-cancellation
    (a phasor mean of random phases), so the error is measured against the scale of the
    whole output, as BLAS parity tests do; NaN and inf must sit in the same places.
    """
    if isinstance(expected, (tuple, list)) and not isinstance(expected, np.ndarray):
        assert len(actual) == len(expected), what
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_close(a, e, rtol, f"{what}[{i}]")
        return
    if isinstance(expected, (bool, int, np.bool_)) and not isinstance(expected, float):
        assert actual == expected, f"{what}: {actual!r} != {expected!r}"
        return
    a = np.asarray(actual)
    e = np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    finite = np.isfinite(e)
    scale = float(np.max(np.abs(e[finite]))) if finite.any() else 0.0
    atol = rtol * scale if math.isfinite(scale) else 0.0
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _assert_identical(actual: Sequence[Any], expected: Sequence[Any], what: str = "") -> None:
    """Bit-for-bit equality of kernel results (arrays, scalars and state tuples)."""
    assert len(actual) == len(expected), what
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if isinstance(e, np.ndarray):
            assert a.dtype == e.dtype, f"{what}[{i}] dtype"
            assert np.array_equal(a, e, equal_nan=True), f"{what}[{i}]: {a} != {e}"
        else:
            assert a == e, f"{what}[{i}]: {a!r} != {e!r}"


@pytest.fixture(scope="session")
def assert_close() -> Callable[..., None]:
    return _assert_close


@pytest.fixture(scope="session")
def assert_identical() -> Callable[..., None]:
    return _assert_identical
