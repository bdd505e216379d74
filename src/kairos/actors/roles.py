"""Which class plays which role: the one place a role name becomes an actor."""

from __future__ import annotations

from kairos.actors._runtime import Actor
from kairos.actors.spec import ActorProcessSpec
from kairos.errors import KairosError

ROLES = ("sensor", "engine", "sync", "output")


def make_actor(spec: ActorProcessSpec) -> Actor:
    """The actor for ``spec.role``; imports only the role it needs."""
    if spec.role == "sensor":
        from kairos.actors.sensor import Sensor

        return Sensor(spec)
    if spec.role == "engine":
        from kairos.actors.engine import Engine

        return Engine(spec)
    if spec.role == "sync":
        from kairos.actors.sync import Sync

        return Sync(spec)
    if spec.role == "output":
        from kairos.actors.output import Output

        return Output(spec)
    raise KairosError(f"actor {spec.name!r}: unknown role {spec.role!r}; valid: {', '.join(ROLES)}")
