"""Where live streams come from: a topology's endpoints or explicit ``--connect`` endpoints.

One SUB socket per endpoint, so that every received message is known to come from a given
endpoint (the recorder stores it, and replay can rebind it without a topology).  With the
launch's mesh key (``mesh.encrypt``, ``--mesh-key FILE``) every socket is a CurveZMQ client;
without it an encrypted publisher sends nothing.  libzmq retries a failed handshake quietly
for ever, so a monitor on each socket keeps the outcome for :meth:`Subscriber.problems`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq

from kairos.errors import KairosError
from kairos.timeouts import poll_ms

if TYPE_CHECKING:
    from kairos.meshkey import MeshKey

#: How many messages a subscriber queues before ZeroMQ drops (recorders must not drop).
RCVHWM = 200_000
LINGER_MS = 200
RECONNECT_MS = 20
_HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


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
        for name in topology.actors:
            endpoints[name] = topology.endpoint(name)
        engines = tuple(n for n, a in topology.actors.items() if a.role == "engine")
        syncs = tuple(n for n, a in topology.actors.items() if a.role == "sync")
        for name in engines:
            device = topology.actors[name].device
            node_info[name] = (device, topology.devices[device].device_class)
    for endpoint in connect:
        if "://" not in endpoint:
            raise KairosError(f"--connect {endpoint!r}: expected an endpoint like tcp://HOST:PORT")
        endpoints.setdefault(endpoint, endpoint)
    if not endpoints:
        raise KairosError("nothing to listen to: give a topology FILE or --connect ENDPOINT")
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
    if path is None:
        return None
    from kairos.meshkey import MeshKey

    return MeshKey.read(Path(path))


def load_topology(path: Path) -> Any:
    """The validated topology (the loader reports every problem with file and line)."""
    from kairos.topologies.loader import load

    return load(path)


class Subscriber:
    """SUB sockets on every endpoint; ``drain()`` yields (endpoint, frames) without blocking."""

    def __init__(
        self,
        endpoints: dict[str, str],
        topics: Sequence[str] = ("",),
        mesh_key: MeshKey | None = None,
    ) -> None:
        self._context = zmq.Context()
        self._poller = zmq.Poller()
        self._sockets: dict[zmq.Socket, str] = {}
        self._keyed = mesh_key is not None
        #: monitor socket -> endpoint, and each endpoint's last handshake outcome
        self._monitors: dict[zmq.Socket, str] = {}
        self._handshakes: dict[str, int] = {}
        for label, endpoint in endpoints.items():
            sock = self._context.socket(zmq.SUB)
            sock.setsockopt(zmq.LINGER, LINGER_MS)
            sock.setsockopt(zmq.RCVHWM, RCVHWM)
            sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)  # join early: miss no first message
            if mesh_key is not None:
                from kairos.meshkey import connect_encrypted

                connect_encrypted(sock, mesh_key)
            self._monitors[sock.get_monitor_socket(_HANDSHAKE_EVENTS)] = endpoint
            for topic in topics:
                sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
            try:
                sock.connect(endpoint)
            except zmq.ZMQError as exc:
                sock.close(0)
                self.close()
                raise KairosError(f"cannot connect to {endpoint} ({label}): {exc}") from None
            self._sockets[sock] = endpoint
            self._poller.register(sock, zmq.POLLIN)

    def wait(self, timeout_s: float) -> bool:
        """Block until a message is ready or ``timeout_s`` passed; True if one is ready."""
        return bool(self._poller.poll(poll_ms(timeout_s)))

    def drain(self, limit: int = 10_000) -> Iterator[tuple[str, list[bytes]]]:
        """Every message queued right now (at most ``limit`` per socket), in socket order."""
        for sock, endpoint in self._sockets.items():
            for _ in range(limit):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                yield endpoint, frames

    def problems(self) -> dict[str, str]:
        """Endpoints whose publisher refused every handshake so far, and what that means."""
        from zmq.utils.monitor import recv_monitor_message

        for monitor, endpoint in self._monitors.items():
            while monitor.poll(0):
                self._handshakes[endpoint] = recv_monitor_message(monitor)["event"]
        found = {}
        for endpoint, event in self._handshakes.items():
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                continue
            if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and self._keyed:
                found[endpoint] = "not encrypted (no mesh.encrypt): drop --mesh-key"
            elif self._keyed:
                found[endpoint] = "refused the mesh key: pass this launch's STATE/mesh.key_secret"
            else:
                found[endpoint] = "encrypted (mesh.encrypt): pass --mesh-key STATE/mesh.key_secret"
        return found

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
        for monitor in self._monitors:
            monitor.close(0)
        self._monitors.clear()
        for sock in self._sockets:
            sock.close(LINGER_MS)
        self._sockets.clear()
        self._context.term()
