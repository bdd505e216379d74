"""Read and feed a running Kairos mesh from Python: the public client API (docs/client.md).

Read every stream of a launched topology, as typed messages with gap accounting::

    from kairos.client import Subscription

    with Subscription.from_topology("topologies/demo.yaml", streams=["mesh", "coherent"]) as sub:
        for received in sub.iter(timeout_s=10):
            if received.kind == "record":          # the sync's mesh state: a MeshState
                print(received.stream, received.record.global_coherence)
            else:                                  # engine rows: (n, 13) float64 + n stamps
                print(received.stream, received.column("coherence_slow"), received.times)
            if received.missed:
                print(f"{received.missed} messages of {received.stream} were lost")

or explicit endpoints, or an encrypted mesh (``mesh.encrypt``; the launcher prints the key's
path)::

    sub = Subscription(["tcp://10.0.0.5:7801"], mesh_key="/run/kairos/mesh.key_secret")
    received = sub.next(timeout_s=2.0)     # None when nothing came in time
    sub.close()

Publish as a sensor actor of the topology (launch it with ``kairos launch --exclude mic``):
the publisher binds the actor's planned endpoint, waits for the topology's consumers like a
real actor (the ready handshake of docs/wire.md) and numbers and stamps every message::

    import numpy as np
    from kairos.client import Publisher

    with Publisher.for_actor("home.yaml", "mic") as pub:
        t = pub.now_ns() + np.arange(8) * 2_500_000       # 8 samples at 400 Hz, mesh time
        pub.send(t, np.sin(2 * np.pi * 40 * t / 1e9))

The tap (``kairos tap``) and the recorder (``kairos record``) read the mesh through this
module: what they show is what a client program sees.
"""

from __future__ import annotations

import collections
import contextlib
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from kairos import _log, wire
from kairos.actors._metrics import StreamTrack
from kairos.actors._runtime import ReadyGate, open_publisher, send_frames
from kairos.actors.engine import ENGINE_FIELDS
from kairos.drops import DropLog
from kairos.errors import KairosError, WireError
from kairos.meshkey import MeshKey, connect_encrypted
from kairos.meshtime import CLOCK_REFRESH_S, MeshClock
from kairos.records import Record, decode_record, stream_name
from kairos.timeouts import poll_ms

__all__ = [
    "ClientError",
    "Publisher",
    "Received",
    "Subscription",
    "decode",
    "load_mesh_key",
    "topology_endpoints",
]

#: How many messages a subscriber queues before ZeroMQ drops (recorders must not drop).
RCVHWM = 200_000
LINGER_MS = 200
#: redial a publisher that is not up yet after 20 ms (ZeroMQ's default is 100 ms): a client
#: started before the launch is connected for the first message
RECONNECT_MS = 20
_HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
#: messages taken from one socket before the next is served (fairness across endpoints)
DRAIN_LIMIT = 10_000

#: what a message carries: sensor samples, engine rows, or a record
SAMPLES, ENGINE, RECORD = "samples", "engine", "record"


class ClientError(KairosError):
    """A client cannot connect, bind or publish as asked (says which endpoint or actor)."""


def load_mesh_key(key: MeshKey | str | Path | None) -> MeshKey | None:
    """The data-plane key pair: a :class:`~kairos.meshkey.MeshKey`, or the path of the file the
    launcher wrote (``STATE_DIR/mesh.key_secret``), or None for an unencrypted mesh."""
    if key is None or isinstance(key, MeshKey):
        return key
    return MeshKey.read(Path(key))


def load_topology(topology: Any) -> Any:
    """A loaded topology (:class:`kairos.topologies.model.Topology`) from itself or its file;
    the loader reports every problem with file and line."""
    if isinstance(topology, (str, Path)):
        from kairos.topologies.loader import load

        return load(Path(topology))
    return topology


def topology_endpoints(topology: Any) -> dict[str, str]:
    """actor name -> the data endpoint it binds, for every actor of a topology (or its file)."""
    loaded = load_topology(topology)
    return {name: loaded.endpoint(name) for name in loaded.actors}


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One decoded message, where it came from, and what the stream lost before it.

    ``missed`` counts the messages of this stream lost right before this one: a ``seq``
    jump within a publisher epoch, or the first messages of a new epoch (``restarted``: the
    publisher restarted).  ``joined_late`` marks the first message heard of a stream when
    its ``seq`` is not 0: the client joined after it started, which is never a gap
    (docs/wire.md, "Sequence numbers, gaps and restarts").
    """

    message: wire.Message
    endpoint: str
    #: the typed record (MeshState, Pulse, Event, Witness) of a record message, else None
    record: Record | None
    missed: int = 0
    restarted: bool = False
    joined_late: bool = False
    #: the frames as received (the recorder stores them verbatim)
    frames: Sequence[bytes] = field(default=(), repr=False)

    @property
    def stream(self) -> str:
        return self.message.stream

    @property
    def seq(self) -> int:
        return self.message.seq

    @property
    def epoch(self) -> int:
        return self.message.epoch

    @property
    def sent_ns(self) -> int:
        return self.message.sent_ns

    @property
    def times(self) -> np.ndarray:
        """Mesh time (ns) of each sample, or the record's one stamp."""
        return self.message.times

    @property
    def data(self) -> Any:
        """The samples (a read-only NumPy array, samples first) or the raw record map."""
        return self.message.data

    @property
    def fields(self) -> tuple[str, ...]:
        return self.message.fields

    @property
    def kind(self) -> str:
        """``"record"``, ``"engine"`` (rows with the engine's fields) or ``"samples"``."""
        if self.message.is_record:
            return RECORD
        return ENGINE if self.message.fields == ENGINE_FIELDS else SAMPLES

    def column(self, name: str) -> np.ndarray:
        """The column called ``name`` of a 2-D message with named fields (engine rows)."""
        return self.message.column(name)


def decode(frames: Sequence[bytes], endpoint: str = "", typed_records: bool = True) -> Received:
    """One message from its frames, its record typed (``typed_records``), without any gap
    bookkeeping (a :class:`Subscription` keeps that per stream).  WireError if it does not
    decode, as a frame or as a Kairos record."""
    message = wire.decode(frames)
    record = decode_record(message) if typed_records and message.is_record else None
    return Received(message, endpoint, record, frames=frames)


class Subscription:
    """SUB sockets on a mesh's endpoints, yielding :class:`Received` messages.

    ``endpoints`` maps a label (an actor name) to an endpoint, or is a list of endpoints.
    ``streams`` selects exact stream names (``"mic"`` is not ``"mic/witness"``); empty
    means every stream.  One socket per endpoint, so every message is known to come from
    its endpoint.  With ``typed_records`` (the default) a record message that is not a
    well-formed Kairos record is dropped and counted like an undecodable frame.
    """

    def __init__(
        self,
        endpoints: Mapping[str, str] | Sequence[str],
        streams: Sequence[str] = (),
        *,
        mesh_key: MeshKey | str | Path | None = None,
        typed_records: bool = True,
    ) -> None:
        if not isinstance(endpoints, Mapping):
            endpoints = {endpoint: endpoint for endpoint in endpoints}
        if not endpoints:
            raise ClientError("nothing to listen to: give a topology or at least one endpoint")
        for label, endpoint in endpoints.items():
            if "://" not in endpoint:
                raise ClientError(f"{label}: {endpoint!r} is not an endpoint like tcp://HOST:PORT")
        key = load_mesh_key(mesh_key)
        self.endpoints = dict(endpoints)
        self.streams = frozenset(streams)
        self.typed_records = typed_records
        #: per stream: publisher epoch, last seq, messages, gaps, restarts, outage
        self.tracks: dict[str, StreamTrack] = {}
        #: frames dropped because they did not decode (wire format or record)
        self.decode_errors = 0
        self._keyed = key is not None
        self._context = zmq.Context()
        self._poller = zmq.Poller()
        self._sockets: dict[zmq.Socket, str] = {}
        self._monitors: dict[zmq.Socket, str] = {}
        self._handshakes: dict[str, int] = {}
        self._pending: collections.deque[Received] = collections.deque()
        topics = sorted(self.streams) or [""]
        # one socket per endpoint: the actors of a device behind NAT are all read at their
        # relay (docs/sites.md), and a second socket there would deliver everything twice
        labels: dict[str, list[str]] = {}
        for label, endpoint in self.endpoints.items():
            labels.setdefault(endpoint, []).append(label)
        try:
            for endpoint, names in labels.items():
                self._open(", ".join(names), endpoint, topics, key)
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_topology(
        cls,
        topology: Any,
        streams: Sequence[str] = (),
        *,
        actors: Sequence[str] | None = None,
        mesh_key: MeshKey | str | Path | None = None,
        typed_records: bool = True,
    ) -> Subscription:
        """Subscribe to the endpoints of a topology (a file or a loaded one), all actors' or
        those of ``actors``.  An encrypted topology (``mesh.encrypt``) needs ``mesh_key``."""
        loaded = load_topology(topology)
        if mesh_key is None and loaded.mesh.encrypt:
            raise ClientError(
                f"topology {loaded.name!r} encrypts its data plane (mesh.encrypt): pass "
                "mesh_key=STATE_DIR/mesh.key_secret of the running launch"
            )
        endpoints = topology_endpoints(loaded)
        if actors is not None:
            unknown = sorted(set(actors) - set(endpoints))
            if unknown:
                raise ClientError(f"not actors of {loaded.name!r}: {', '.join(unknown)}")
            endpoints = {name: endpoints[name] for name in actors}
        return cls(endpoints, streams, mesh_key=mesh_key, typed_records=typed_records)

    def _open(self, label: str, endpoint: str, topics: Sequence[str], key: MeshKey | None) -> None:
        sock = self._context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, LINGER_MS)
        sock.setsockopt(zmq.RCVHWM, RCVHWM)
        sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_PAYLOAD_BYTES + 65536)
        if key is not None:
            connect_encrypted(sock, key)
        self._monitors[sock.get_monitor_socket(_HANDSHAKE_EVENTS)] = endpoint
        for topic in topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            sock.close(0)
            raise ClientError(f"cannot connect to {endpoint} ({label}): {exc}") from None
        self._sockets[sock] = endpoint
        self._poller.register(sock, zmq.POLLIN)

    # -- raw frames (the tap and the recorder take these, then decode what they keep) ------

    def wait(self, timeout_s: float) -> bool:
        """Block until a message is ready or ``timeout_s`` passed; True if one is ready."""
        if self._pending:
            return True
        return bool(self._poller.poll(poll_ms(timeout_s)))

    def frames(self, limit: int = DRAIN_LIMIT) -> Iterator[tuple[str, list[bytes]]]:
        """Every message queued right now as ``(endpoint, frames)``, without blocking or
        decoding (at most ``limit`` per socket), in socket order; streams not selected are
        left out."""
        for sock, endpoint in self._sockets.items():
            for _ in range(limit):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if self.streams and frames[0].decode(errors="replace") not in self.streams:
                    continue  # a SUB prefix match: "mic" also matches "mic2" and "mic/witness"
                yield endpoint, frames

    def decode(self, endpoint: str, frames: Sequence[bytes], track: bool = True) -> Received:
        """Decode one message of ``frames`` (from :meth:`frames`) and, with ``track``, account
        for it in its stream's gap bookkeeping.  WireError if it does not decode."""
        received = decode(frames, endpoint, self.typed_records)
        if not track:
            return received
        message = received.message
        stream_track = self.tracks.setdefault(message.stream, StreamTrack())
        first = not stream_track.heard
        restarts = stream_track.restarts
        missed = stream_track.observe(message)
        return replace(
            received,
            missed=missed,
            restarted=stream_track.restarts != restarts,
            joined_late=first and message.seq > 0,
        )

    # -- decoded messages --------------------------------------------------------------------

    def next(self, timeout_s: float | None = None) -> Received | None:
        """The next decoded message, waiting at most ``timeout_s`` (None: for ever); None
        when nothing came in time.  Frames that do not decode are counted and skipped."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._pending:
            if not self._sockets:
                raise ClientError("the subscription is closed")
            remaining = 3600.0 if deadline is None else deadline - time.monotonic()
            if remaining < 0 or not self._poller.poll(poll_ms(max(0.0, remaining))):
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            for endpoint, frames in self.frames():
                try:
                    self._pending.append(self.decode(endpoint, frames))
                except WireError:
                    self.decode_errors += 1
        return self._pending.popleft()

    def iter(self, timeout_s: float | None = None) -> Iterator[Received]:
        """Decoded messages until none came for ``timeout_s`` (None: for ever)."""
        while (received := self.next(timeout_s)) is not None:
            yield received

    def __iter__(self) -> Iterator[Received]:
        return self.iter()

    # -- state -------------------------------------------------------------------------------

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
                found[endpoint] = "not encrypted (no mesh.encrypt): drop the mesh key (--mesh-key)"
            elif self._keyed:
                found[endpoint] = "refused the mesh key: pass this launch's STATE/mesh.key_secret"
            else:
                found[endpoint] = (
                    "encrypted (mesh.encrypt): pass the mesh key (--mesh-key) STATE/mesh.key_secret"
                )
        return found

    def close(self) -> None:
        """Close every socket (idempotent)."""
        for sock in self._sockets:
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
        for monitor in self._monitors:
            monitor.close(0)
        self._monitors.clear()
        for sock in self._sockets:
            sock.close(LINGER_MS)
        self._sockets.clear()
        self._pending.clear()
        if not self._context.closed:
            self._context.term()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- publishing ------------------------------------------------------------------------------


class Publisher:
    """Publishes as actor ``name`` from an XPUB bound at ``endpoint``, as the actor runtime
    does: sequence numbers per stream from 0, the epoch (this publisher's start in mesh time),
    ``sent_ns`` stamps, and the ready handshake before the first message.

    ``consumers`` names the topology consumers to wait for (docs/wire.md, "Ready
    handshake"); :meth:`for_actor` takes them, and the endpoint, from the topology.
    ``clock_file`` is the local agent's clock file, for stamps in disciplined mesh time.
    """

    def __init__(
        self,
        endpoint: str,
        name: str,
        *,
        consumers: Iterable[str] = (),
        mesh_key: MeshKey | str | Path | None = None,
        clock_file: str | Path | None = None,
    ) -> None:
        if not name or "/" in name:
            raise ClientError(f"publisher name {name!r}: an actor name, without '/'")
        self.name = name
        self.endpoint = endpoint
        self.clock = MeshClock(Path(clock_file) if clock_file else None)
        #: this publisher's epoch: its start in mesh time (a restart changes it)
        self.epoch = self.clock.now_ns()
        self.log = _log.get("client", actor=name)
        self._seqs: dict[str, int] = {}
        self._context = zmq.Context()
        try:
            self._pub, self._auth = open_publisher(self._context, endpoint, load_mesh_key(mesh_key))
        except zmq.ZMQError as exc:
            self._context.term()
            raise ClientError(f"cannot bind {endpoint} for {name!r}: {exc}") from None
        #: counts and tells what it refuses (announcements of consumers it does not wait for)
        self.drops = DropLog(self.log)
        self._gate = ReadyGate(self._pub, consumers, self.log, self.drops, name)
        self._ready = False
        self._clock_steps = self.clock.steps
        self._next_refresh = time.monotonic() + CLOCK_REFRESH_S

    @classmethod
    def for_actor(
        cls,
        topology: Any,
        actor: str,
        *,
        mesh_key: MeshKey | str | Path | None = None,
        clock_file: str | Path | None = None,
    ) -> Publisher:
        """Stand in for sensor ``actor`` of ``topology`` (a file or a loaded one): bind its
        planned endpoint and wait for the consumers the topology gives it.  Launch the
        topology without it: ``kairos launch FILE --exclude ACTOR``."""
        from kairos.actors.spec import build_specs

        loaded = load_topology(topology)
        if actor not in loaded.actors:
            raise ClientError(f"{actor!r} is not an actor of {loaded.name!r}")
        if loaded.actors[actor].role != "sensor":
            raise ClientError(
                f"{actor!r} is not a sensor of {loaded.name!r} but its "
                f"{loaded.actors[actor].role}: a client publishes only as a sensor"
            )
        if mesh_key is None and loaded.mesh.encrypt:
            raise ClientError(
                f"topology {loaded.name!r} encrypts its data plane (mesh.encrypt): pass "
                "mesh_key=STATE_DIR/mesh.key_secret of the running launch"
            )
        spec = build_specs(loaded, Path(tempfile.gettempdir()))[actor]  # nothing is written
        return cls(
            spec.bind,
            actor,
            consumers=spec.consumers,
            mesh_key=mesh_key,
            clock_file=clock_file,
        )

    @property
    def consumers(self) -> int:
        """Topology consumers subscribed now."""
        self._gate.drain()
        return self._gate.subscribed

    def now_ns(self) -> int:
        """Mesh time now, in ns (the clock the stamps are taken from)."""
        return self.clock.now_ns()

    def wait_ready(self) -> bool:
        """The ready handshake: wait for every consumer (at most 5 s, then a warning), and
        for watchers until 0.3 s after the bind (50 ms after the last consumer at least).
        True when every consumer came.  The first send does it too."""
        complete = self._gate.wait()
        self._ready = True
        return complete

    def send(
        self,
        times: np.ndarray | Sequence[int],
        data: np.ndarray | Mapping[str, Any],
        fields: Sequence[str] = (),
        stream: str = "",
    ) -> int:
        """Publish one message on ``<name>`` (or ``<name>/<stream>``); returns its seq.

        ``times`` are the samples' mesh times (ns), ``data`` the samples, samples first
        (shape ``(n,)`` or ``(n, k)`` with ``fields`` naming the k columns), or a record map.
        """
        if not self._ready:
            self.wait_ready()
        if time.monotonic() >= self._next_refresh:
            self._refresh_clock()
        name = stream_name(self.name, stream)
        seq = self._seqs.get(name, 0)
        frames = wire.encode(name, seq, self.epoch, self.clock.now_ns(), times, data, fields)
        self._gate.drain()
        send_frames(self._pub, frames)
        self._seqs[name] = seq + 1
        return seq

    def _refresh_clock(self) -> None:
        """Take in the agent's latest estimate, as an actor does; when the agent stepped the
        clock (docs/meshtime.md, "Steps and slews") start a new epoch with every seq from 0,
        so subscribers count one explicit discontinuity instead of time jumping in a stream."""
        self._next_refresh = time.monotonic() + CLOCK_REFRESH_S
        if self.clock.refresh() and self.clock.steps != self._clock_steps:
            self._clock_steps = self.clock.steps
            self.epoch = self.clock.now_ns()
            self._seqs.clear()
            self.log.warning("clock stepped: new epoch", epoch=self.epoch, steps=self._clock_steps)

    def send_record(self, record: Record, stream: str) -> int:
        """Publish a typed record on ``<name>/<stream>``; returns its seq."""
        return self.send([record.t_ns], record.encode(), stream=stream)

    def close(self) -> None:
        """Close the socket (queued messages get LINGER_MS to leave) and its authenticator."""
        if self._context.closed:
            return
        self._pub.close()
        if self._auth is not None:
            self._auth.stop()
        self._context.term()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
