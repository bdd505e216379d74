"""``spawn``: start (or keep, or restart) one actor from its process spec."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos.actors import adapters
from kairos.actors.spec import ActorProcessSpec
from kairos.control.commands.base import AgentServices, Command, Result, arg, take
from kairos.control.protocol import BAD_REQUEST, REFUSED, RequestError, spec_hash
from kairos.errors import KairosError

ROLES = ("sensor", "engine", "sync", "output")
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
    (kairos.actors.spec).  The agent refuses (``refused``) a role other than sensor, engine,
    sync, output and an adapter not installed on it; a malformed spec is ``bad-request``.
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
    """Refuse roles and adapters this agent does not have: it runs nothing else."""
    if spec.role not in ROLES:
        raise RequestError(
            REFUSED, f"spawn {spec.name!r}: role {spec.role!r} is not one of {', '.join(ROLES)}"
        )
    installed = {
        "sensor": adapters.sensor_names,
        "output": adapters.output_names,
    }.get(spec.role)
    if installed is None:
        if spec.adapter is not None:
            raise RequestError(
                REFUSED, f"spawn {spec.name!r}: a {spec.role} actor takes no adapter"
            )
        return
    names = installed()
    if spec.adapter not in names:
        raise RequestError(
            REFUSED,
            f"spawn {spec.name!r}: {spec.role} adapter {spec.adapter!r} is not installed on "
            f"this agent; installed: {', '.join(names)}",
        )


def spec_digest(spec: ActorProcessSpec) -> str:
    """The hash ``status`` reports for ``spec`` (what a launcher compares with its plan)."""
    return spec_hash(spec.to_json())
