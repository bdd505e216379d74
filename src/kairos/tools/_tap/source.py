"""Where live streams come from: a topology's endpoints or explicit ``--connect`` endpoints.

The sockets, the decoding and the handshake diagnosis are :class:`kairos.client.Subscription`
(one SUB socket per endpoint, so that every received message is known to come from a given
endpoint: the recorder stores it, and replay can rebind it without a topology).  With the
launch's mesh key (``mesh.encrypt``, ``--mesh-key FILE``) every socket is a CurveZMQ client;
without it an encrypted publisher sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kairos.client import ClientError, Subscription, load_mesh_key, load_topology
from kairos.client import topology_endpoints as _topology_endpoints

if TYPE_CHECKING:
    from kairos.meshkey import MeshKey

__all__ = [
    "Sources",
    "Subscription",
    "encryption_hint",
    "load_topology",
    "read_mesh_key",
    "resolve",
]


@dataclass(frozen=True)
class Sources:
    """The endpoints to subscribe to, and the topology they were taken from (if any)."""

    endpoints: dict[str, str]  # label (actor name or endpoint) -> endpoint
    topology: Any | None = None
    topology_name: str | None = None
    #: engine actors of the topology (empty without one)
    engines: tuple[str, ...] = ()
    syncs: tuple[str, ...] = ()
    node_info: dict[str, tuple[str, str]] = field(default_factory=dict)  # engine -> (device, class)


def resolve(file: str | None, connect: Sequence[str]) -> Sources:
    """Endpoints from a topology file and/or ``--connect`` endpoints (at least one)."""
    endpoints: dict[str, str] = {}
    topology = None
    engines: tuple[str, ...] = ()
    syncs: tuple[str, ...] = ()
    node_info: dict[str, tuple[str, str]] = {}
    if file is not None:
        topology = load_topology(Path(file))
        endpoints.update(_topology_endpoints(topology))
        engines = tuple(n for n, a in topology.actors.items() if a.role == "engine")
        syncs = tuple(n for n, a in topology.actors.items() if a.role == "sync")
        for name in engines:
            device = topology.actors[name].device
            node_info[name] = (device, topology.devices[device].device_class)
    for endpoint in connect:
        if "://" not in endpoint:
            raise ClientError(f"--connect {endpoint!r}: expected an endpoint like tcp://HOST:PORT")
        endpoints.setdefault(endpoint, endpoint)
    if not endpoints:
        raise ClientError("nothing to listen to: give a topology FILE or --connect ENDPOINT")
    return Sources(
        endpoints=endpoints,
        topology=topology,
        topology_name=getattr(topology, "name", None),
        engines=engines,
        syncs=syncs,
        node_info=node_info,
    )


def read_mesh_key(path: str | Path | None) -> MeshKey | None:
    """The data-plane key pair from ``--mesh-key FILE`` (the launcher prints its path)."""
    return load_mesh_key(path)


def encryption_hint(sources: Sources, mesh_key: MeshKey | None) -> str:
    """What to say when the topology encrypts its data plane and no key was given."""
    mesh = getattr(sources.topology, "mesh", None)
    if mesh_key is None and getattr(mesh, "encrypt", False):
        return (
            "the topology encrypts its data plane (mesh.encrypt) and no --mesh-key was given: "
            "nothing will be heard; pass --mesh-key STATE_DIR/mesh.key_secret"
        )
    return ""
