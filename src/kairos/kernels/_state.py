"""Running states of the streaming kernels, shared by the compiled and the reference backend.

Each stateful kernel takes its previous state and returns the next one, so a stream
processed in chunks gives exactly the result of one pass.  The states are plain NamedTuples
of Python scalars: they round-trip between backends and serialise to JSON or msgpack as
lists, so an engine checkpoint is just ``list(state)``.
"""

from __future__ import annotations

from typing import NamedTuple


class LockinState(NamedTuple):
    """Lock-in low-pass: whether the stream started, the last time stamp, the low-pass value."""

    started: bool
    t_prev_ns: int
    lp: complex


class IntegrateState(NamedTuple):
    """Window integration: the phasor mean ``s`` and the magnitude mean ``m``."""

    started: bool
    t_prev_ns: int
    s: complex
    m: float


class ResonanceState(NamedTuple):
    """Resonance: last phasor, the last ``lag`` velocities (oldest first), T, E and E′."""

    started: bool
    t_prev_ns: int
    z_prev: complex
    ring: tuple[complex, ...]
    t: complex
    e: float
    e_lag: float


class KuramotoState(NamedTuple):
    """Kuramoto oscillator: whether it started, the last time stamp, its phase θ."""

    started: bool
    t_prev_ns: int
    theta: float


LOCKIN_ZERO = LockinState(False, 0, 0j)
INTEGRATE_ZERO = IntegrateState(False, 0, 0j, 0.0)
RESONANCE_ZERO = ResonanceState(False, 0, 0j, (), 0j, 0.0, 0.0)
KURAMOTO_ZERO = KuramotoState(False, 0, 0.0)
