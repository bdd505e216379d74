"""Running states of the streaming kernels, shared by the compiled and the reference backend.

Each stateful kernel takes its previous state and returns the next one, so a stream
processed in chunks gives exactly the result of one pass.  The states are plain NamedTuples
of Python scalars: they round-trip between backends and serialise to JSON or msgpack as
lists, so an engine checkpoint is just ``list(state)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple


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


#: the columns of a node's rows, in the order ``node_step`` gives them (an engine's row
#: message carries them under these names: docs/wire.md)
NODE_COLUMNS = (
    "phase_fast",
    "coherence_fast",
    "resonance_fast",
    "collapsed_fast",
    "phase_slow",
    "coherence_slow",
    "resonance_slow",
    "collapsed_slow",
    "tsync_re",
    "tsync_im",
    "delta",
    "resonance_pair",
    "collapsed_pair",
)
#: a node's windows, in the order of ``node_step``'s per-window arguments and results
NODE_WINDOWS = ("fast", "slow")
#: the node's collapse flags: one per window, then the pair's
COLLAPSE_FLAGS = (*NODE_WINDOWS, "pair")


class WindowStates(NamedTuple):
    """One input's running state in one window: its integration and its resonance."""

    integrate: IntegrateState | None = None
    resonance: ResonanceState | None = None


class Pooled(NamedTuple):
    """What a node's other inputs add to one window, summed as each last stood: phasor mean
    ``s``, magnitude mean ``m``, resonance ``t`` and its energies ``e`` and ``e_lag``."""

    s: complex
    m: float
    t: complex
    e: float
    e_lag: float


class NodeStep(NamedTuple):
    """What ``node_step`` gives for one input's rows.

    ``rows`` has one row per sample and the columns of ``NODE_COLUMNS``; ``changes`` holds,
    per collapse flag (fast, slow, pair), the rows where that flag changed (its new value and
    the resonance that changed it are in ``rows``); ``collapsed`` are the flags after the last
    row, and ``windows`` the input's states to pass to the next call (fast, slow)."""

    rows: Any
    changes: tuple[Any, Any, Any]
    collapsed: tuple[bool, bool, bool]
    windows: tuple[WindowStates, WindowStates]
