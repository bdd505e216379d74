"""The actor runtime and the four roles: sensor, engine, sync and output.

An actor is one OS process.  The runtime (:mod:`kairos.actors._runtime`) owns its sockets,
timing, sequence numbers, witness metrics and shutdown; a role only turns inputs into
outputs.  Sensor and output behaviour is pluggable through adapters
(:mod:`kairos.actors.adapters`), an engine's encoding through encoders
(:mod:`kairos.actors.encodings`).

What a role or plugin author meets is importable from here: the actor contract
(``Actor``, the ``ActorContext`` it is set up with, the ``Outgoing`` messages it returns,
the ``ActorProcessSpec`` it runs from) and the base classes an adapter or encoder derives
from (``from kairos.actors import Encoder, SensorAdapter``).  They load on first use: the
agent imports this package for the actor spec alone and must not pay for NumPy until it
starts an actor.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kairos.actors._runtime import Actor, ActorContext, Outgoing
    from kairos.actors.adapters import (
        AdapterContext,
        MeshPulse,
        OutputAdapter,
        OutputState,
        SensorAdapter,
    )
    from kairos.actors.encodings import Encoder
    from kairos.actors.spec import ActorProcessSpec

#: public name -> the module that defines it
_EXPORTS = {
    "Actor": "kairos.actors._runtime",
    "ActorContext": "kairos.actors._runtime",
    "Outgoing": "kairos.actors._runtime",
    "ActorProcessSpec": "kairos.actors.spec",
    "AdapterContext": "kairos.actors.adapters",
    "MeshPulse": "kairos.actors.adapters",
    "OutputAdapter": "kairos.actors.adapters",
    "OutputState": "kairos.actors.adapters",
    "SensorAdapter": "kairos.actors.adapters",
    "Encoder": "kairos.actors.encodings",
}
__all__ = [
    "Actor",
    "ActorContext",
    "ActorProcessSpec",
    "AdapterContext",
    "Encoder",
    "MeshPulse",
    "Outgoing",
    "OutputAdapter",
    "OutputState",
    "SensorAdapter",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
