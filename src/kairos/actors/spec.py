"""The actor process spec: everything one actor process needs, as plain JSON.

The launcher builds one spec per actor from the topology and the planned endpoints; the
agent writes it to ``<state-dir>/actors/<name>/spec.json`` and starts
``python -m kairos.actors <that file>``.  Nothing here is pickled: a spec must survive a
trip through JSON and over the network.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kairos.errors import KairosError
from kairos.topologies.model import MAX_READ_ERRORS, RestartPolicy, Topology


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
class ActorProcessSpec:
    name: str
    role: str
    device: str
    device_class: str
    bind: str
    inputs: tuple[InputLink, ...] = ()
    adapter: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    rate_hz: float | None = None
    chunk: int | None = None
    encoding: dict[str, Any] | None = None
    windows: tuple[float, float] | None = None
    lag: int = 1
    omega_hz: float = 0.0
    pulse: InputLink | None = None
    nodes: tuple[NodeInfo, ...] = ()
    mesh: dict[str, Any] = field(default_factory=dict)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    #: sensors: consecutive failing adapter reads survived before the actor ends
    max_read_errors: int = MAX_READ_ERRORS
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

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ActorProcessSpec:
        try:
            values = dict(raw)
            values["inputs"] = tuple(InputLink(**link) for link in values.get("inputs", ()))
            if values.get("pulse") is not None:
                values["pulse"] = InputLink(**values["pulse"])
            values["nodes"] = tuple(NodeInfo(**node) for node in values.get("nodes", ()))
            values["consumers"] = tuple(str(name) for name in values.get("consumers", ()))
            if values.get("windows") is not None:
                values["windows"] = tuple(values["windows"])
            values["restart"] = RestartPolicy(**values.get("restart", {}))
            return cls(**values)
        except (TypeError, ValueError) as exc:
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


def build_specs(
    topology: Topology,
    work_root: Path,
) -> dict[str, ActorProcessSpec]:
    """One spec per actor of ``topology``; the agent fills in its clock file when it spawns."""
    mesh = {
        "emergence_threshold": topology.mesh.emergence_threshold,
        "collapse_threshold": topology.mesh.collapse_threshold,
        "hysteresis": topology.mesh.hysteresis,
        "pulse_hz": topology.mesh.pulse_hz,
    }
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
        params = dict(actor.params)
        if actor.adapter == "file":
            params.setdefault("base_dir", str(topology.path.parent.resolve()))
        specs[actor.name] = ActorProcessSpec(
            name=actor.name,
            role=actor.role,
            device=actor.device,
            device_class=device.device_class,
            bind=f"tcp://{device.host}:{actor.port}",
            inputs=links,
            adapter=actor.adapter,
            params=params,
            rate_hz=actor.rate_hz,
            chunk=actor.chunk,
            encoding=asdict(actor.encoding) if actor.encoding else None,
            windows=actor.windows,
            lag=actor.lag,
            omega_hz=actor.omega_hz,
            pulse=pulse,
            nodes=nodes,
            mesh=mesh,
            restart=actor.restart,
            max_read_errors=actor.max_read_errors,
            consumers=tuple(consumers.get(actor.name, ())),
            work_dir=str(work_root / actor.name),
        )
    return specs


def _node_weight(topology: Topology, name: str) -> float:
    """Mesh weight of a node: the actor's own override, else its device's weight."""
    actor = topology.actors[name]
    return actor.weight if actor.weight is not None else topology.devices[actor.device].weight
