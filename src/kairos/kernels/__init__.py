"""Numeric kernels of the engine and the mesh (docs/design.md §5), from one of two backends.

The backend is chosen once, here: the Cython module ``_compiled`` unless
``KAIROS_KERNELS=reference`` forces the NumPy reference.  If the compiled module cannot be
imported the package still works on the reference and says so once in the log;
``BACKEND`` ("compiled" or "reference") and ``BACKEND_REASON`` tell which is in use and why
(``kairos devices`` prints them).  ``KAIROS_KERNELS=compiled`` makes a missing compiled
module an error instead.
"""

from __future__ import annotations

import os
from types import ModuleType

from kairos.kernels._checks import KernelError
from kairos.kernels._state import (
    COLLAPSE_FLAGS,
    NODE_COLUMNS,
    NODE_WINDOWS,
    IntegrateState,
    KuramotoState,
    LockinState,
    NodeStep,
    Pooled,
    ResonanceState,
    WindowStates,
)

ENV_VAR = "KAIROS_KERNELS"
_CHOICES = ("auto", "compiled", "reference")


def _choose() -> tuple[ModuleType, str, str]:
    wanted = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if wanted not in _CHOICES:
        raise KernelError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not one of {', '.join(_CHOICES)}")
    if wanted == "reference":
        from kairos.kernels import _reference

        return _reference, "reference", f"forced by {ENV_VAR}=reference"
    try:
        from kairos.kernels import _compiled
    except ImportError as exc:
        if wanted == "compiled":
            raise KernelError(
                f"{ENV_VAR}=compiled but the compiled kernels do not import ({exc}); "
                "build them with `python setup.py build_ext --inplace` or reinstall kairos"
            ) from exc
        from kairos import _log
        from kairos.kernels import _reference

        reason = f"compiled kernels unavailable ({exc}); using the NumPy reference"
        _log.get("kernels").warning("kernels.fallback", backend="reference", reason=reason)
        return _reference, "reference", reason
    return _compiled, "compiled", "compiled Cython kernels imported"


_backend, BACKEND, BACKEND_REASON = _choose()

carrier_cycles = _backend.carrier_cycles
lockin = _backend.lockin
integrate = _backend.integrate
resonance = _backend.resonance
collapse = _backend.collapse
mesh = _backend.mesh
node_step = _backend.node_step
kuramoto = _backend.kuramoto
wrap_phase = _backend.wrap_phase
nodes_take = _backend.nodes_take
nodes_stale = _backend.nodes_stale

__all__ = [
    "BACKEND",
    "BACKEND_REASON",
    "COLLAPSE_FLAGS",
    "NODE_COLUMNS",
    "NODE_WINDOWS",
    "IntegrateState",
    "KernelError",
    "KuramotoState",
    "LockinState",
    "NodeStep",
    "Pooled",
    "ResonanceState",
    "WindowStates",
    "carrier_cycles",
    "collapse",
    "integrate",
    "kuramoto",
    "lockin",
    "mesh",
    "node_step",
    "nodes_stale",
    "nodes_take",
    "resonance",
    "wrap_phase",
]
