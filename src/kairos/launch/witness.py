"""The launcher's view of every actor's ``<actor>/witness`` record (rate, health), and of
each sync actor's mesh state (coherence per node, global coherence, emergence).

With ``mesh.encrypt`` the subscriber is a CurveZMQ client holding the mesh key: an actor's
publisher admits nobody else, so without it the launcher would hear nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import zmq

from kairos.errors import WireError
from kairos.meshkey import MeshKey, connect_encrypted
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
        for name, endpoint in actors:
            self.sock.connect(endpoint)
            self.sock.setsockopt(zmq.SUBSCRIBE, f"{name}/witness".encode())
            self.names.add(name)
        for name in self.syncs:
            self.sock.setsockopt(zmq.SUBSCRIBE, name.encode())
        self.latest: dict[str, dict[str, Any]] = {}
        #: the latest mesh state record of each sync actor
        self.mesh: dict[str, dict[str, Any]] = {}
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
            except WireError:
                self.bad_frames += 1
                continue
            if message.stream in self.syncs and message.is_record:
                self.mesh[message.stream] = message.data
                continue
            actor, _, kind = message.stream.rpartition("/")
            if message.stream.startswith(tuple(f"{s}/" for s in self.syncs)) and kind != "witness":
                continue  # a sync's pulse or events: same subscription prefix, not for us
            if kind != "witness" or actor not in self.names or not message.is_record:
                self.bad_frames += 1
                continue
            self.latest[actor] = message.data
            self.received_at[actor] = time.monotonic()
        return taken

    def rate(self, actor: str, stale_after_s: float = 3.0) -> float | None:
        """Messages per second the actor last reported, or None if it has been silent."""
        record = self.latest.get(actor)
        if record is None or time.monotonic() - self.received_at[actor] > stale_after_s:
            return None
        rate = record.get("rate_hz")
        return float(rate) if isinstance(rate, (int, float)) else None

    def silent_for(self, actor: str) -> float | None:
        """Seconds since the actor's last witness record, or None if it never sent one."""
        heard = self.received_at.get(actor)
        return None if heard is None else time.monotonic() - heard

    def coherence(self, node: str) -> float | None:
        """The node's slow-window coherence as the sync last combined it, if any sync did."""
        for state in self.mesh.values():
            entry = state.get("nodes", {}).get(node)
            if isinstance(entry, dict) and isinstance(entry.get("coherence"), (int, float)):
                return float(entry["coherence"])
        return None

    def close(self) -> None:
        self.sock.close()
