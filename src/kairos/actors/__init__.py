"""The actor runtime and the four roles: sensor, engine, sync and output.

An actor is one OS process.  The runtime (:mod:`kairos.actors._runtime`) owns its sockets,
timing, sequence numbers, witness metrics and shutdown; a role only turns inputs into
outputs.  Sensor and output behaviour is pluggable through adapters
(:mod:`kairos.actors.adapters`), an engine's encoding through encoders
(:mod:`kairos.actors.encodings`).

The base classes a plugin derives from are importable from here (``from kairos.actors
import Encoder, SensorAdapter``).  They load on first use: the agent imports this package
for the actor spec alone and must not pay for NumPy until it starts an actor.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kairos.actors.adapters import (
        AdapterContext,
        MeshPulse,
        OutputAdapter,
        OutputState,
        SensorAdapter,
    )
    from kairos.actors.encodings import Encoder

#: public name -> the module that defines it
_EXPORTS = {
    "AdapterContext": "kairos.actors.adapters",
    "MeshPulse": "kairos.actors.adapters",
    "OutputAdapter": "kairos.actors.adapters",
    "OutputState": "kairos.actors.adapters",
    "SensorAdapter": "kairos.actors.adapters",
    "Encoder": "kairos.actors.encodings",
}
__all__ = [
    "AdapterContext",
    "Encoder",
    "MeshPulse",
    "OutputAdapter",
    "OutputState",
    "SensorAdapter",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
