"""Numeric helpers of the signal sensors: carrier cycles, the Kuramoto step, seeds.

``carrier_cycles`` and ``kuramoto`` come from :mod:`kairos.kernels` when the kernels provide
them; until then the private NumPy versions below implement the same definitions (DESIGN
§5.1, §5.6), so a sensor's values do not depend on which one is in use.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, NamedTuple

import numpy as np

_NS_PER_S = 1_000_000_000
_TWO_PI = 2.0 * math.pi


def _carrier_cycles(times_ns: np.ndarray, freq_hz: float) -> np.ndarray:
    """frac(f·t) in [0, 1) for int64 ns stamps, exact enough for t ~ 1.8e18 ns.

    t = a·1e9 + b (floor division), f = fi + ff; fi·a is whole cycles and is dropped, so
    cycles = frac(frac(ff·a) + f·b·1e-9) never multiplies a large number by f.
    """
    t = np.asarray(times_ns, dtype=np.int64)
    a, b = np.divmod(t, _NS_PER_S)
    f = float(freq_hz)
    ff = f - math.floor(f)
    whole = ff * a.astype(np.float64)
    cycles = (whole - np.floor(whole)) + f * (b.astype(np.float64) * 1e-9)
    cycles = cycles - np.floor(cycles)
    # rounding can give exactly 1.0 for values just below it
    return np.where(cycles >= 1.0, 0.0, cycles)


class _KuramotoState(NamedTuple):
    started: bool
    t_prev_ns: int
    theta: float


def _wrap(x: float) -> float:
    """x wrapped into (−π, π]."""
    y = math.fmod(x + math.pi, _TWO_PI)
    if y <= 0.0:
        y += _TWO_PI
    return y - math.pi


def _kuramoto(
    times_ns: np.ndarray,
    omega_hz: float,
    coupling: float,
    r: float,
    psi: float,
    state: _KuramotoState | None,
    theta0: float = 0.0,
) -> tuple[np.ndarray, _KuramotoState]:
    """θ_k = wrap(θ_{k−1} + (2π·ω + K·r·sin(ψ − θ_{k−1}))·Δt_k); the first stamp sets θ0.

    Δt_k = max(0, t_k − t_prev) and t_prev never moves backwards, as in every kernel.
    """
    t = np.asarray(times_ns, dtype=np.int64)
    out = np.empty(t.shape[0], dtype=np.float64)
    started, t_prev, theta = state if state is not None else (False, 0, 0.0)
    w = _TWO_PI * float(omega_hz)
    kr = float(coupling) * float(r)
    for k, stamp in enumerate(t.tolist()):
        if not started:
            started, t_prev, theta = True, stamp, _wrap(float(theta0))
        else:
            dt = max(0, stamp - t_prev) * 1e-9
            theta = _wrap(theta + (w + kr * math.sin(psi - theta)) * dt)
            t_prev = max(t_prev, stamp)
        out[k] = theta
    return out, _KuramotoState(started, t_prev, theta)


try:  # the kernels are being written alongside; use them as soon as they exist
    from kairos.kernels import carrier_cycles as _kernel_cycles
except ImportError:
    _kernel_cycles = None
try:
    from kairos.kernels import kuramoto as _kernel_kuramoto
except ImportError:
    _kernel_kuramoto = None

#: frac(f·t) for ns stamps: the kernel's when present, else the private twin above.
carrier_cycles: Any = _kernel_cycles if _kernel_cycles is not None else _carrier_cycles
#: the Kuramoto advance: the kernel's when present, else the private twin above.
kuramoto: Any = _kernel_kuramoto if _kernel_kuramoto is not None else _kuramoto


def seed_from_name(name: str) -> int:
    """A stable 64-bit seed from an actor name, so runs repeat without a configured seed."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
