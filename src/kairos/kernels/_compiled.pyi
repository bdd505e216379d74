"""Type stubs of the compiled kernels; ``_reference.py`` has the same signatures."""

from typing import Any

import numpy as np
import numpy.typing as npt

from kairos.kernels._state import (
    IntegrateState,
    KuramotoState,
    LockinState,
    NodeStep,
    Pooled,
    ResonanceState,
    WindowStates,
)

_Times = npt.ArrayLike
_F8 = npt.NDArray[np.float64]
_C16 = npt.NDArray[np.complex128]

def wrap_phase(x: npt.ArrayLike) -> Any: ...
def carrier_cycles(times_ns: _Times, freq_hz: float) -> _F8: ...
def lockin(
    times_ns: _Times,
    x: npt.ArrayLike,
    freq_hz: float,
    lp_cycles: float = 2.0,
    state: LockinState | None = None,
) -> tuple[_C16, LockinState]: ...
def integrate(
    times_ns: _Times,
    z: npt.ArrayLike,
    tau_s: float,
    state: IntegrateState | None = None,
    out: tuple[_C16, _F8, _F8] | None = None,
) -> tuple[_C16, _F8, _F8, IntegrateState]: ...
def resonance(
    times_ns: _Times,
    z: npt.ArrayLike,
    tau_s: float,
    omega_hz: float = 0.0,
    lag: int = 1,
    state: ResonanceState | None = None,
    out: tuple[_C16, _F8, _F8, _F8] | None = None,
) -> tuple[_C16, _F8, _F8, _F8, ResonanceState]: ...
def collapse(
    r: npt.ArrayLike, threshold: float, hysteresis: float, state: bool = False
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], bool]: ...
def node_step(
    times_ns: _Times,
    z: npt.ArrayLike,
    taus: tuple[float, float],
    omega_hz: float,
    lag: int,
    windows: tuple[WindowStates, WindowStates],
    others: tuple[Pooled, Pooled] | None,
    threshold: float,
    hysteresis: float,
    collapsed: tuple[bool, bool, bool],
) -> NodeStep: ...
def mesh(
    coherence: npt.ArrayLike, phase: npt.ArrayLike, weight: npt.ArrayLike
) -> tuple[complex, float, float, float, _F8]: ...
def kuramoto(
    times_ns: _Times,
    omega_hz: float,
    coupling: float,
    r: float,
    psi: float,
    state: KuramotoState | None = None,
    theta0: float = 0.0,
) -> tuple[_F8, KuramotoState]: ...
def nodes_take(
    node: npt.ArrayLike,
    times_ns: _Times,
    values: npt.ArrayLike,
    now_ns: int,
    coherence: _F8,
    phase: _F8,
    resonance: _F8,
    collapsed: npt.NDArray[np.uint8],
    last_t: npt.NDArray[np.int64],
    heard: npt.NDArray[np.uint8],
    last_heard: npt.NDArray[np.int64],
    period: _F8,
    heard_ns: npt.ArrayLike | None = None,
) -> None: ...
def nodes_stale(
    heard: npt.ArrayLike,
    last_heard: npt.ArrayLike,
    period: npt.ArrayLike,
    now_ns: int,
    min_stale_ns: int,
    periods: float,
) -> npt.NDArray[np.uint8]: ...
