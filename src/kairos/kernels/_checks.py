"""Argument checks and coercions shared by both backends, so both fail the same way.

The compiled backend only reaches these on its slow path (an input that is not already a
contiguous array of the right dtype), keeping the per-call cost of a live engine low.
"""

from __future__ import annotations

import math

import numpy as np

from kairos.errors import KairosError


class KernelError(KairosError, ValueError):
    """Raised when a kernel gets inputs of the wrong shape, dtype or range, or a foreign state.

    It is also a ``ValueError`` so that callers treating bad numeric input generically still
    catch it.
    """


def as_times(values: object, name: str = "times_ns") -> np.ndarray:
    """A contiguous 1-D int64 array of nanosecond stamps (integer input only, never rounded)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise KernelError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise KernelError(f"{name} must hold integer nanoseconds, got dtype {array.dtype}")
    if array.dtype.kind == "u" and array.size and int(array.max()) > np.iinfo(np.int64).max:
        raise KernelError(f"{name} holds stamps beyond the int64 range")
    return np.ascontiguousarray(array, dtype=np.int64)


def _numeric(values: object, name: str, dtype: type) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise KernelError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "biufc":
        raise KernelError(f"{name} must be numeric, got dtype {array.dtype}")
    if dtype is np.float64 and array.dtype.kind == "c":
        raise KernelError(f"{name} must be real, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=dtype)


def as_real(values: object, name: str) -> np.ndarray:
    """A contiguous 1-D float64 array."""
    return _numeric(values, name, np.float64)


def as_complex(values: object, name: str) -> np.ndarray:
    """A contiguous 1-D complex128 array (real input gets a zero imaginary part)."""
    return _numeric(values, name, np.complex128)


def same_length(first: np.ndarray, second: np.ndarray, names: str) -> None:
    if first.shape[0] != second.shape[0]:
        raise KernelError(f"{names} differ in length: {first.shape[0]} != {second.shape[0]}")


def positive(value: float, name: str) -> float:
    """``value`` as a float, which must be > 0 (infinity allowed: a window that never moves)."""
    number = float(value)
    if not number > 0.0:
        raise KernelError(f"{name} must be > 0, got {value!r}")
    return number


def finite(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise KernelError(f"{name} must be finite, got {value!r}")
    return number


def check_lag(lag: int) -> int:
    if isinstance(lag, bool) or int(lag) != lag or lag < 1:
        raise KernelError(f"lag must be an integer >= 1, got {lag!r}")
    return int(lag)


def check_ring(ring: tuple, lag: int) -> None:
    if len(ring) > lag:
        raise KernelError(
            f"resonance state holds {len(ring)} velocities but lag is {lag}: "
            "the state belongs to another lag"
        )


def check_hysteresis(hysteresis: float) -> float:
    number = float(hysteresis)
    if not number >= 0.0:
        raise KernelError(f"hysteresis must be >= 0, got {hysteresis!r}")
    return number


def check_out(out: object, n: int, dtypes: tuple[type, ...], names: tuple[str, ...]) -> tuple:
    """Caller-supplied output arrays: exactly ``len(dtypes)`` writable contiguous arrays of
    length ``n`` and the given dtypes (reusing them saves allocating and faulting in fresh
    pages on every call of a large chunk)."""
    if not isinstance(out, tuple) or len(out) != len(dtypes):
        raise KernelError(f"out must be a tuple of {len(dtypes)} arrays ({', '.join(names)})")
    for array, dtype, name in zip(out, dtypes, names, strict=True):
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != (n,):
            raise KernelError(f"out array {name} must be a {np.dtype(dtype)} array of shape ({n},)")
        if not (array.flags.c_contiguous and array.flags.writeable):
            raise KernelError(f"out array {name} must be contiguous and writeable")
    return out
