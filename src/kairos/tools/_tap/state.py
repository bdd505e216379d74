"""The mesh as the tap sees it: the latest engine row, witness record and sync state.

Streams are classified by the topology when there is one, otherwise by content: an engine
stream has fields ENGINE_FIELDS, a sync's main stream carries mesh state records, a witness
stream ends with ``/witness`` (kairos.records).  Only the latest message of each stream is
decoded per refresh, by kairos.client: the tap sees what a client program sees.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kairos import client, wire
from kairos.actors.engine import ENGINE_FIELDS
from kairos.records import MeshState, Witness

SPARK_LENGTH = 20
_COLUMN = {name: index for index, name in enumerate(ENGINE_FIELDS)}
NODE_KEYS = (
    "node",
    "device",
    "class",
    "t_mesh_ns",
    "rate_hz",
    "coherence_fast",
    "coherence_slow",
    "phase_fast",
    "phase_slow",
    "resonance_fast",
    "resonance_slow",
    "collapsed",
    "delta_p",
    "clock_offset_ns",
    "clock_uncertainty_ns",
    "gaps",
    "latency_ms",
)
#: what a mesh record of ``kairos tap --json`` repeats of the mesh state, under its keys
_MESH_SHOWN = tuple(key for key in MeshState.KEYS if key not in ("t_ns", "nodes"))
MESH_KEYS = tuple(key for key in _MESH_SHOWN if key != "phasor")


@dataclass
class Node:
    """One engine: its latest output row, its witness record and what the sync says of it."""

    name: str
    device: str | None = None
    device_class: str | None = None
    t_mesh_ns: int | None = None
    #: seq of the engine message the row comes from
    seq: int | None = None
    row: dict[str, float] | None = None
    witness: Witness | None = None
    delta_p: float | None = None
    in_sync: bool = False
    stale: bool = False
    history: deque[float] = field(default_factory=lambda: deque(maxlen=SPARK_LENGTH))

    def complete(self, needs_sync: bool) -> bool:
        return (
            self.row is not None and self.witness is not None and (self.in_sync or not needs_sync)
        )

    def record(self) -> dict[str, Any]:
        """The JSON object of ``kairos tap --json`` for this node."""
        row = self.row or {}
        witness = self.witness
        collapsed = {w: bool(row[f"collapsed_{w}"]) for w in ("fast", "slow", "pair") if row}
        return {
            "node": self.name,
            "device": self.device or (witness.device if witness else None),
            "class": self.device_class or (witness.device_class if witness else None),
            "t_mesh_ns": self.t_mesh_ns,
            "seq": self.seq,
            "rate_hz": witness.rate_hz if witness else None,
            "coherence_fast": row.get("coherence_fast"),
            "coherence_slow": row.get("coherence_slow"),
            "phase_fast": row.get("phase_fast"),
            "phase_slow": row.get("phase_slow"),
            "resonance_fast": row.get("resonance_fast"),
            "resonance_slow": row.get("resonance_slow"),
            "resonance_pair": row.get("resonance_pair"),
            "collapsed": collapsed or None,
            "collapsed_fast": collapsed.get("fast"),
            "collapsed_slow": collapsed.get("slow"),
            "collapsed_pair": collapsed.get("pair"),
            "delta_p": self.delta_p,
            "stale": self.stale,
            "clock_offset_ns": witness.clock_offset_ns if witness else None,
            "clock_uncertainty_ns": witness.clock_uncertainty_ns if witness else None,
            "gaps": witness.gaps if witness else None,
            "drops": witness.drops if witness else None,
            "decode_errors": witness.decode_errors if witness else None,
            "latency_ms": witness.latency_p50_ms if witness else None,
            "latency_p99_ms": witness.latency_p99_ms if witness else None,
        }


@dataclass
class Mesh:
    """The latest mesh state record of one sync actor."""

    sync: str
    state: MeshState
    seq: int = 0

    def record(self) -> dict[str, Any]:
        encoded = self.state.encode()
        return {
            "node": "mesh",
            "sync": self.sync,
            "t_mesh_ns": self.state.t_ns,
            "seq": self.seq,
            **{key: encoded[key] for key in _MESH_SHOWN},
        }


class MeshView:
    """Folds the latest message of each stream into node and mesh state."""

    def __init__(
        self,
        engines: Iterable[str] = (),
        syncs: Iterable[str] = (),
        node_info: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.known_engines = set(engines)
        self.known_syncs = set(syncs)
        self.nodes: dict[str, Node] = {}
        self.meshes: dict[str, Mesh] = {}
        self.decode_errors = 0
        self.updated_nodes: set[str] = set()
        self.updated_meshes: set[str] = set()
        for name in self.known_engines:
            device, device_class = (node_info or {}).get(name, (None, None))
            self.nodes[name] = Node(name, device, device_class)

    def take(self, latest: Mapping[str, list[bytes]]) -> None:
        """Decode and fold the latest frames of each stream (a dropped frame is counted)."""
        for frames in latest.values():
            try:
                received = client.decode(frames)
            except wire.WireError:
                self.decode_errors += 1
                continue
            self.fold(received)

    def fold(self, received: client.Received) -> None:
        """Fold one decoded message into the view."""
        stream = received.stream
        record = received.record
        if isinstance(record, Witness):
            actor = record.actor
            node = self.nodes.get(actor)
            if node is None and record.role == "engine":
                node = self.nodes[actor] = Node(actor)
            if node is not None:
                node.witness = record
                self.updated_nodes.add(actor)
            return
        if isinstance(record, MeshState):
            self._fold_sync(stream, record, received.seq)
            return
        if received.kind == client.ENGINE and len(received.data):
            node = self.nodes.get(stream)
            if node is None:
                node = self.nodes[stream] = Node(stream)
            last = received.data[-1]
            node.row = {name: float(last[index]) for name, index in _COLUMN.items()}
            node.t_mesh_ns = int(received.times[-1])
            node.seq = received.seq
            self.updated_nodes.add(stream)

    def _fold_sync(self, sync: str, state: MeshState, seq: int) -> None:
        self.meshes[sync] = Mesh(sync, state, seq)
        self.updated_meshes.add(sync)
        for name, info in state.nodes.items():
            node = self.nodes.get(name)
            if node is None:
                node = self.nodes[name] = Node(name)
            node.in_sync = True
            node.delta_p = info.delta_p
            node.stale = info.stale
            if node.device is None:
                node.device = info.device
            self.updated_nodes.add(name)

    def tick(self) -> None:
        """Once per refresh: push each node's slow coherence onto its sparkline."""
        for node in self.nodes.values():
            if node.row is not None:
                value = node.row["coherence_slow"]
                node.history.append(value if math.isfinite(value) else 0.0)

    def complete(self) -> bool:
        """Every expected node has a row and a witness, and every expected mesh a state."""
        needs_sync = bool(self.known_syncs or self.meshes)
        if not self.nodes:
            return False
        if any(sync not in self.meshes for sync in self.known_syncs):
            return False
        return all(node.complete(needs_sync) for node in self.engine_nodes())

    def engine_nodes(self) -> list[Node]:
        """Nodes that are engines (a sync may be a node of another sync: cells of cells)."""
        syncs = self.known_syncs | set(self.meshes)
        return sorted((n for n in self.nodes.values() if n.name not in syncs), key=lambda n: n.name)

    def missing(self) -> list[str]:
        """What a snapshot still lacks, for the --once timeout message."""
        needs_sync = bool(self.known_syncs or self.meshes)
        lacking = [f"mesh state of {s}" for s in sorted(self.known_syncs - set(self.meshes))]
        for node in self.engine_nodes():
            parts = []
            if node.row is None:
                parts.append("engine output")
            if node.witness is None:
                parts.append("witness")
            if needs_sync and not node.in_sync:
                parts.append("sync state")
            if parts:
                lacking.append(f"{node.name} ({', '.join(parts)})")
        if not self.nodes:
            lacking.append("any engine")
        return lacking

    def records(self, only_updated: bool = False) -> list[dict[str, Any]]:
        """Node records (sorted) then mesh records; ``only_updated`` resets the update marks."""
        names = sorted(self.updated_nodes) if only_updated else sorted(self.nodes)
        syncs = sorted(self.updated_meshes) if only_updated else sorted(self.meshes)
        out = [self.nodes[n].record() for n in names if self.nodes[n].row is not None]
        out.extend(self.meshes[s].record() for s in syncs)
        if only_updated:
            self.updated_nodes.clear()
            self.updated_meshes.clear()
        return out
