"""The launcher's view of every actor's ``<actor>/witness`` record (rate, health), and of
each sync actor's mesh state (coherence per node, global coherence, emergence).

With ``mesh.encrypt`` the subscriber is a CurveZMQ client holding the mesh key: an actor's
publisher admits nobody else, so without it the launcher would hear nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import zmq

from kairos.errors import WireError
from kairos.meshkey import MeshKey, connect_encrypted
from kairos.records import WITNESS_STREAM, MeshState, Witness, split_stream, stream_name
from kairos.wire import decode

LINGER_MS = 0
RCVHWM = 1000


class WitnessMonitor:
    """One SUB socket connected to every actor endpoint, keeping each actor's latest record."""

    def __init__(
        self,
        context: zmq.Context,
        actors: Iterable[tuple[str, str]],
        syncs: Iterable[str] = (),
        mesh_key: MeshKey | None = None,
    ) -> None:
        self.sock = context.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, LINGER_MS)
        self.sock.setsockopt(zmq.RCVHWM, RCVHWM)
        if mesh_key is not None:
            connect_encrypted(self.sock, mesh_key)
        self.names: set[str] = set()
        self.syncs = set(syncs)
        connected: set[str] = set()
        for name, endpoint in actors:
            if endpoint not in connected:  # a relay serves several actors: connect once
                self.sock.connect(endpoint)
                connected.add(endpoint)
            self.sock.setsockopt(zmq.SUBSCRIBE, stream_name(name, WITNESS_STREAM).encode())
            self.names.add(name)
        for name in self.syncs:
            self.sock.setsockopt(zmq.SUBSCRIBE, name.encode())
        self.latest: dict[str, Witness] = {}
        #: the latest mesh state record of each sync actor
        self.mesh: dict[str, MeshState] = {}
        self.received_at: dict[str, float] = {}
        #: frames that did not decode (dropped, never raised)
        self.bad_frames = 0

    def drain(self, limit: int = 1000) -> int:
        """Take in every record waiting (at most ``limit``); how many were taken."""
        taken = 0
        while taken < limit:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            taken += 1
            try:
                message = decode(frames)
                actor, kind = split_stream(message.stream)
                if kind == "" and actor in self.syncs:
                    self.mesh[actor] = MeshState.decode(message.data, message.stream)
                    continue
                if actor in self.syncs and kind != WITNESS_STREAM:
                    continue  # a sync's pulse or events: same subscription prefix, not for us
                if kind != WITNESS_STREAM or actor not in self.names:
                    raise WireError(
                        f"stream {message.stream!r}: not a witness this launch asked for"
                    )
                self.latest[actor] = Witness.decode(message.data, message.stream)
            except WireError:
                self.bad_frames += 1
                continue
            self.received_at[actor] = time.monotonic()
        return taken

    def rate(self, actor: str, stale_after_s: float = 3.0) -> float | None:
        """Messages per second the actor last reported, or None if it has been silent."""
        record = self.latest.get(actor)
        if record is None or time.monotonic() - self.received_at[actor] > stale_after_s:
            return None
        return record.rate_hz

    def silent_for(self, actor: str) -> float | None:
        """Seconds since the actor's last witness record, or None if it never sent one."""
        heard = self.received_at.get(actor)
        return None if heard is None else time.monotonic() - heard

    def coherence(self, node: str) -> float | None:
        """The node's slow-window coherence as the sync last combined it, if any sync did."""
        for state in self.mesh.values():
            entry = state.nodes.get(node)
            if entry is not None:
                return entry.coherence
        return None

    def close(self) -> None:
        self.sock.close()
