"""The actor process spec: everything one actor process needs, as plain JSON.

The launcher builds one spec per actor from the topology and the planned endpoints; the
agent writes it to ``<state-dir>/actors/<name>/spec.json`` and starts
``python -m kairos.actors <that file>``.  Nothing here is pickled: a spec must survive a
trip through JSON and over the network.  Its parts are the topology's own typed values
(:class:`~kairos.topologies.model.Encoding`, :class:`~kairos.topologies.model.MeshSpec`,
:class:`~kairos.topologies.model.RestartPolicy`), each with its defaults defined once
there: a role reads ``spec.mesh.collapse_threshold``, never a key with a default of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kairos.errors import KairosError
from kairos.topologies.model import (
    ActorSettings,
    Encoding,
    MeshSpec,
    RestartPolicy,
    Topology,
    relay_outbound,
)


@dataclass(frozen=True)
class InputLink:
    """A stream this actor subscribes to, and the endpoint that publishes it."""

    actor: str
    stream: str
    endpoint: str


@dataclass(frozen=True)
class NodeInfo:
    """What a sync actor knows of each node it combines."""

    name: str
    device: str
    device_class: str
    weight: float


@dataclass(frozen=True)
class ActorProcessSpec(ActorSettings):
    """One actor process: its topology settings (adapter, params, rates, encoding, windows,
    restart policy: :class:`~kairos.topologies.model.ActorSettings`, copied as they are),
    where it binds, what it reads, and the mesh's numbers."""

    name: str
    #: one of kairos.registry.ROLES for an actor (the agent refuses others; a benchmark's
    #: probe process reads a spec of its own role)
    role: str
    device: str
    device_class: str
    bind: str
    inputs: tuple[InputLink, ...] = ()
    pulse: InputLink | None = None
    nodes: tuple[NodeInfo, ...] = ()
    mesh: MeshSpec = field(default_factory=MeshSpec)
    #: engines: seconds between state checkpoints (0 disables them)
    checkpoint_s: float = 10.0
    #: the actors that consume this actor's main stream: it waits for their announcements
    #: before publishing and counts only them (docs/wire.md, "Ready handshake")
    consumers: tuple[str, ...] = ()
    #: the agent's clock file (see kairos.meshtime); None: this process's own local clock
    clock_file: str | None = None
    #: directory the actor may write files and checkpoints to
    work_dir: str = "."
    #: data-plane encryption (``mesh.encrypt``): the launch's mesh key pair as
    #: ``{"public", "secret"}`` Z85 strings (kairos.meshkey); None: plain sockets
    curve: dict[str, str] | None = None
    #: a device nothing can dial (``agent: {dial: …}``): the relay inbound endpoint the
    #: actor's XPUB connects to instead of binding ``bind`` (docs/sites.md); None: bind
    publish_to: str | None = None

    @property
    def endpoint(self) -> str:
        """The data-plane endpoint consumers connect to: the one this actor binds, or the
        relay's it publishes through (``publish_to``)."""
        return self.bind if self.publish_to is None else relay_outbound(self.publish_to)

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON values; :meth:`from_dict` reads it back."""
        raw = asdict(self)
        raw["encoding"] = self.encoding.to_dict() if self.encoding is not None else None
        return raw

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ActorProcessSpec:
        """The spec in ``raw`` (its JSON form); KairosError saying what is malformed."""
        try:
            values = dict(raw)
            unknown = sorted(set(values) - {f.name for f in fields(cls)})
            if unknown:
                raise KairosError(f"unknown keys {', '.join(map(str, unknown))}")
            values["inputs"] = tuple(InputLink(**link) for link in values.get("inputs", ()))
            if values.get("pulse") is not None:
                values["pulse"] = InputLink(**values["pulse"])
            values["nodes"] = tuple(NodeInfo(**node) for node in values.get("nodes", ()))
            values["consumers"] = tuple(str(name) for name in values.get("consumers", ()))
            if values.get("windows") is not None:
                values["windows"] = tuple(values["windows"])
            if values.get("encoding") is not None:
                values["encoding"] = Encoding.from_dict(values["encoding"])
            values["mesh"] = MeshSpec.from_dict(values.get("mesh", {}))
            values["restart"] = RestartPolicy.from_dict(values.get("restart", {}))
            return cls(**values)
        except (KairosError, TypeError, ValueError) as exc:
            raise KairosError(f"malformed actor spec: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> ActorProcessSpec:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise KairosError(f"actor spec is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise KairosError("actor spec is not a JSON object")
        return cls.from_dict(raw)

    @classmethod
    def read(cls, path: Path) -> ActorProcessSpec:
        return cls.from_json(Path(path).read_text())


def build_specs(topology: Topology, work_root: Path | None = None) -> dict[str, ActorProcessSpec]:
    """One spec per actor of ``topology``, each writing under ``work_root / name`` (None:
    the default work dir); an agent sets its own clock file and work dir when it spawns."""
    consumers: dict[str, list[str]] = {}
    for actor in topology.actors.values():
        for name in actor.inputs:
            consumers.setdefault(name, []).append(actor.name)
    specs: dict[str, ActorProcessSpec] = {}
    for actor in topology.actors.values():
        device = topology.devices[actor.device]
        links = tuple(
            InputLink(actor=name, stream=name, endpoint=topology.endpoint(name))
            for name in actor.inputs
        )
        pulse = (
            InputLink(
                actor=actor.pulse,
                stream=f"{actor.pulse}/pulse",
                endpoint=topology.endpoint(actor.pulse),
            )
            if actor.pulse
            else None
        )
        nodes = (
            tuple(
                NodeInfo(
                    name=name,
                    device=topology.actors[name].device,
                    device_class=topology.devices[topology.actors[name].device].device_class,
                    weight=_node_weight(topology, name),
                )
                for name in actor.inputs
            )
            if actor.role == "sync"
            else ()
        )
        settings = {f.name: getattr(actor, f.name) for f in fields(ActorSettings)}
        params = dict(actor.params)
        if actor.adapter == "file":
            params.setdefault("base_dir", str(topology.path.parent.resolve()))
        specs[actor.name] = ActorProcessSpec(
            **settings | {"params": params},
            name=actor.name,
            role=actor.role,
            device=actor.device,
            device_class=device.device_class,
            bind=topology.bound(actor.name),
            publish_to=topology.publish_to(actor.name),
            inputs=links,
            pulse=pulse,
            nodes=nodes,
            mesh=topology.mesh,
            consumers=tuple(consumers.get(actor.name, ())),
            work_dir=str(work_root / actor.name) if work_root is not None else ".",
        )
    return specs


def _node_weight(topology: Topology, name: str) -> float:
    """Mesh weight of a node: the actor's own override, else its device's weight."""
    actor = topology.actors[name]
    return actor.weight if actor.weight is not None else topology.devices[actor.device].weight
