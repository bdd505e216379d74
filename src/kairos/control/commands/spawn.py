"""``spawn``: start (or keep, or restart) one actor from its process spec."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos import registry
from kairos.actors.spec import ActorProcessSpec
from kairos.control.commands.base import AgentServices, Command, Result, arg, take
from kairos.control.protocol import BAD_REQUEST, REFUSED, RequestError, spec_hash
from kairos.errors import KairosError

#: what ``outcome`` says: the actor was started, already ran with this spec, or ran with
#: another spec and was replaced
STARTED, UNCHANGED, RESTARTED = "started", "unchanged", "restarted"


@dataclass(frozen=True)
class SpawnResult(Result):
    """The actor spawned: what happened, the hash of its spec, its pid (None: not running)."""

    name: str
    outcome: str
    spec_hash: str
    pid: int | None

    def to_map(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "spec_hash": self.spec_hash,
            "pid": self.pid,
        }

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> SpawnResult:
        return cls(
            name=take(raw, "name", str),
            outcome=take(raw, "outcome", str),
            spec_hash=take(raw, "spec_hash", str),
            pid=take(raw, "pid", int, optional=True),
        )


@dataclass(frozen=True)
class Spawn(Command[SpawnResult]):
    """Start an actor; idempotent on identical specs.

    Request args: ``{"spec": {...}}`` — an ``ActorProcessSpec`` as a map
    (kairos.actors.spec).  The agent refuses (``refused``) a role not in kairos.registry.ROLES
    and an adapter or encoding not installed on it; a malformed spec is ``bad-request``.
    It overrides ``clock_file`` (its own clock file) and ``work_dir`` (under its state dir).
    Reply result: ``{"name": str, "outcome": "started"|"unchanged"|"restarted",
    "spec_hash": str, "pid": int|None}``.  ``unchanged``: the actor already runs with an
    identical spec; ``restarted``: it ran with another spec and was replaced.
    """

    name = "spawn"
    result_type = SpawnResult

    spec: ActorProcessSpec

    def args(self) -> dict[str, Any]:
        return {"spec": json.loads(self.spec.to_json())}

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Spawn:
        raw = arg(args, "spec", dict)
        try:
            return cls(ActorProcessSpec.from_dict(raw))
        except (KairosError, TypeError, ValueError) as exc:
            raise RequestError(BAD_REQUEST, f"spawn: {exc}") from None

    def execute(self, agent: AgentServices, received_ns: int) -> SpawnResult:
        spec = self.spec
        try:
            canonical = spec.to_json()
        except (TypeError, ValueError) as exc:
            raise RequestError(BAD_REQUEST, f"spawn: {exc}") from None
        check_installed(spec)
        digest = spec_hash(canonical)  # same as spec_digest(spec), canonical already made
        outcome = agent.supervisor.spawn(spec, digest)
        actor = next(a for a in agent.supervisor.status() if a.name == spec.name)
        return SpawnResult(name=spec.name, outcome=outcome, spec_hash=digest, pid=actor.pid)


def check_installed(spec: ActorProcessSpec) -> None:
    """Refuse roles, adapters and encodings this agent does not have: it runs nothing else.

    Names only (kairos.registry): whether the params suit the class is the actor's own
    check when it starts (an actor that refuses its params exits 2 saying why).
    """
    if spec.role not in registry.ROLES:
        raise RequestError(
            REFUSED,
            f"spawn {spec.name!r}: role {spec.role!r} is not one of {', '.join(registry.ROLES)}",
        )
    if spec.role == "engine" and spec.encoding is not None:
        _check_name(spec, registry.ENCODINGS, spec.encoding.type)
    kind = registry.ADAPTER_KINDS.get(spec.role)
    if kind is None:
        if spec.adapter is not None:
            raise RequestError(
                REFUSED, f"spawn {spec.name!r}: a {spec.role} actor takes no adapter"
            )
        return
    _check_name(spec, kind, spec.adapter)


def _check_name(spec: ActorProcessSpec, kind: registry.Kind, name: str | None) -> None:
    try:
        names = registry.names(kind)
    except Exception as exc:  # a broken plugin's entry point can raise anything
        raise RequestError(
            REFUSED, f"spawn {spec.name!r}: cannot list {kind.label}s: {exc}"
        ) from None
    if name not in names:
        raise RequestError(
            REFUSED,
            f"spawn {spec.name!r}: {kind.label} {name!r} is not installed on this agent; "
            f"installed: {', '.join(names)}",
        )


def spec_digest(spec: ActorProcessSpec) -> str:
    """The hash ``status`` reports for ``spec`` (what a launcher compares with its plan)."""
    return spec_hash(spec.to_json())
