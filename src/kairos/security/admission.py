"""What an agent admits in a ``spawn`` beyond its installed roles, adapters and encodings.

The agent runs nothing but installed roles, adapters and encodings (``spawn`` refuses
others), and a mesh key in the spec must be a real key pair.  Params are not checked here:
their schemas belong to the adapter and encoder classes, and loading those, or a JSON Schema
library, would cost the agent the memory it is kept lean for (docs/control.md, spawn).
``kairos validate`` and the launcher check params against the full schema; on the device,
the actor's adapter or encoder refuses params it cannot take, and the actor exits 2 saying
why.
"""

from __future__ import annotations

from kairos.actors.spec import ActorProcessSpec
from kairos.control.protocol import BAD_REQUEST, RequestError
from kairos.errors import KairosError


def check_spawn(spec: ActorProcessSpec) -> None:
    """RequestError (bad-request) for a malformed mesh key in ``spec``.

    A role, adapter or encoding this agent lacks is left to ``spawn`` itself, which
    answers it.
    """
    if spec.curve is not None:
        from kairos.meshkey import MeshKey

        try:
            MeshKey.from_spec(spec.curve)
        except KairosError as exc:
            raise RequestError(BAD_REQUEST, f"spawn {spec.name!r}: {exc}") from None
