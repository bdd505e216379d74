"""Which class plays which role: the one place a role name becomes an actor."""

from __future__ import annotations

from kairos.actors._runtime import Actor
from kairos.actors.spec import ActorProcessSpec
from kairos.errors import ConfigError
from kairos.registry import ROLES


def make_actor(spec: ActorProcessSpec) -> Actor:
    """The actor for ``spec.role``; imports only the role it needs.

    Every refusal is a ConfigError: a role's constructor that meets a value it cannot use
    (a ValueError, TypeError or KeyError) says so in one line, naming the actor.
    """
    try:
        return _make(spec)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"{spec.role} {spec.name!r} cannot start from its spec: {type(exc).__name__}: {exc}"
        ) from exc


def _make(spec: ActorProcessSpec) -> Actor:
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
    if spec.role == "relay":
        raise ConfigError(
            f"relay {spec.name!r} is a forwarder, not an Actor: kairos.actors.relay runs it"
        )
    raise ConfigError(f"actor {spec.name!r}: unknown role {spec.role!r}; valid: {', '.join(ROLES)}")
