"""The mesh as the tap sees it: the latest engine row, witness record and sync state.

Streams are classified by the topology when there is one, otherwise by content: an engine
stream has fields ENGINE_FIELDS, a sync's main stream carries mesh state records, a witness
stream ends with ``/witness`` (kairos.records).  Only the latest message of each stream is
decoded per refresh, by kairos.client: the tap sees what a client program sees.

What went wrong with a node is read from the witness records, which carry it as state (the
events on ``<actor>/events`` tell only its changes, once, and a tap started later would miss
them): the engine's drop totals, each input's clock fault and the engine's ``degraded``
reason, and each sync's clock fault of the node's own stream (the sync's witness
``inputs[node].clock``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kairos import client, wire
from kairos.actors.engine import ENGINE_FIELDS
from kairos.drops import Reason
from kairos.records import EngineStats, MeshState, Witness

SPARK_LENGTH = 20
_COLUMN = {name: index for index, name in enumerate(ENGINE_FIELDS)}
#: the witness drop totals a node record repeats (the witness fields are named as the reasons)
DROP_COUNTERS = tuple(
    reason.value
    for reason in (
        Reason.MALFORMED,
        Reason.QUEUE_OVERFLOW,
        Reason.FUTURE_STAMP,
        Reason.TIME_VIOLATION,
        Reason.INVALID_SAMPLE,
        Reason.UNKNOWN_CONSUMER,
    )
)
#: the engine row's values a node record repeats as published
_ROW_SHOWN = (
    "coherence_fast",
    "coherence_slow",
    "phase_fast",
    "phase_slow",
    "resonance_fast",
    "resonance_slow",
    "resonance_pair",
)
#: every key of a node record of ``kairos tap --json``, in its order (docs/tap.md, "JSON")
NODE_KEYS = (
    "node",
    "device",
    "class",
    "t_mesh_ns",
    "seq",
    "rate_hz",
    *_ROW_SHOWN,
    "collapsed",
    "collapsed_fast",
    "collapsed_slow",
    "collapsed_pair",
    "delta_p",
    "stale",
    "clock_offset_ns",
    "clock_uncertainty_ns",
    "gaps",
    *DROP_COUNTERS,
    "clock_faults",
    "degraded",
    "latency_ms",
    "latency_p99_ms",
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
    #: the engine's ``degraded`` reason (its witness, EngineStats) or None
    degraded: str | None = None
    #: sync -> the clock fault that sync reports of this node's stream (its witness inputs)
    sync_clock: dict[str, str] = field(default_factory=dict)
    history: deque[float] = field(default_factory=lambda: deque(maxlen=SPARK_LENGTH))

    def complete(self, needs_sync: bool) -> bool:
        return (
            self.row is not None and self.witness is not None and (self.in_sync or not needs_sync)
        )

    def drop_counts(self) -> dict[str, int]:
        """The witness drop totals that are not 0, by counter (DROP_COUNTERS order)."""
        if self.witness is None:
            return {}
        counts = {key: getattr(self.witness, key) for key in DROP_COUNTERS}
        return {key: count for key, count in counts.items() if count}

    def clock_faults(self) -> dict[str, str]:
        """Stream -> clock fault reason: the engine's inputs it reports wrong, then its own
        stream if a sync reports it wrong (one sync's reason if several do)."""
        faults = {}
        if self.witness is not None:
            faults = {name: s.clock for name, s in self.witness.inputs.items() if s.clock}
        for sync in sorted(self.sync_clock):
            faults.setdefault(self.name, self.sync_clock[sync])
        return faults

    def record(self) -> dict[str, Any]:
        """The JSON object of ``kairos tap --json`` for this node (keys: NODE_KEYS)."""
        row = self.row or {}
        witness = self.witness
        collapsed = {w: bool(row[f"collapsed_{w}"]) for w in ("fast", "slow", "pair") if row}
        values = {
            "node": self.name,
            "device": self.device or (witness.device if witness else None),
            "class": self.device_class or (witness.device_class if witness else None),
            "t_mesh_ns": self.t_mesh_ns,
            "seq": self.seq,
            "rate_hz": witness.rate_hz if witness else None,
            **{key: row.get(key) for key in _ROW_SHOWN},
            "collapsed": collapsed or None,
            "collapsed_fast": collapsed.get("fast"),
            "collapsed_slow": collapsed.get("slow"),
            "collapsed_pair": collapsed.get("pair"),
            "delta_p": self.delta_p,
            "stale": self.stale,
            "clock_offset_ns": witness.clock_offset_ns if witness else None,
            "clock_uncertainty_ns": witness.clock_uncertainty_ns if witness else None,
            "gaps": witness.gaps if witness else None,
            **{key: getattr(witness, key) if witness else None for key in DROP_COUNTERS},
            "clock_faults": self.clock_faults(),
            "degraded": self.degraded,
            "latency_ms": witness.latency_p50_ms if witness else None,
            "latency_p99_ms": witness.latency_p99_ms if witness else None,
        }
        return {key: values[key] for key in NODE_KEYS}


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
        #: the latest witness record of each sync (what it reports of each node's clock)
        self.sync_witnesses: dict[str, Witness] = {}
        self.decode_errors = 0
        self.updated_nodes: set[str] = set()
        self.updated_meshes: set[str] = set()
        for name in self.known_engines:
            device, device_class = (node_info or {}).get(name, (None, None))
            self.nodes[name] = Node(name, device, device_class)

    def _node(self, name: str) -> Node:
        """The node ``name``, created (with what the syncs already report of it) if new."""
        node = self.nodes.get(name)
        if node is None:
            node = self.nodes[name] = Node(name)
            for sync, witness in self.sync_witnesses.items():
                entry = witness.inputs.get(name)
                if entry is not None and entry.clock:
                    node.sync_clock[sync] = entry.clock
        return node

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
            self._fold_witness(record)
            return
        if isinstance(record, MeshState):
            self._fold_sync(stream, record, received.seq)
            return
        if received.kind == client.ENGINE and len(received.data):
            node = self._node(stream)
            last = received.data[-1]
            node.row = {name: float(last[index]) for name, index in _COLUMN.items()}
            node.t_mesh_ns = int(received.times[-1])
            node.seq = received.seq
            self.updated_nodes.add(stream)

    def _fold_witness(self, witness: Witness) -> None:
        """An engine's witness is its node's; a sync's says which nodes' clocks it finds
        wrong (and is a node's too when the sync is a node of another sync)."""
        actor = witness.actor
        if witness.role == "sync":
            self._fold_sync_witness(witness)
        node = self.nodes.get(actor)
        if node is None and witness.role == "engine":
            node = self._node(actor)
        if node is None:
            return
        node.witness = witness
        node.degraded = None
        if witness.role == "engine":
            try:
                stats = witness.role_stats()
            except wire.WireError:
                stats = None
                self.decode_errors += 1  # the engine's own fields are malformed: unknown
            if isinstance(stats, EngineStats):
                node.degraded = stats.degraded
        self.updated_nodes.add(actor)

    def _fold_sync_witness(self, witness: Witness) -> None:
        """Take what a sync reports of each node's clock; a node whose fault changed is
        updated (the others are not: a witness comes every second)."""
        sync = witness.actor
        self.sync_witnesses[sync] = witness
        for name, node in self.nodes.items():
            entry = witness.inputs.get(name)
            fault = entry.clock if entry is not None else None
            if node.sync_clock.get(sync) == fault:
                continue
            if fault:
                node.sync_clock[sync] = fault
            else:
                node.sync_clock.pop(sync, None)
            self.updated_nodes.add(name)

    def _fold_sync(self, sync: str, state: MeshState, seq: int) -> None:
        self.meshes[sync] = Mesh(sync, state, seq)
        self.updated_meshes.add(sync)
        for name, info in state.nodes.items():
            node = self._node(name)
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
        """Every expected node has a row and a witness, and every expected sync a state and
        a witness (what it reports of the nodes' clocks)."""
        needs_sync = bool(self.known_syncs or self.meshes)
        if not self.nodes:
            return False
        syncs = self.known_syncs | set(self.meshes)
        if any(s not in self.meshes or s not in self.sync_witnesses for s in syncs):
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
        syncs = sorted(self.known_syncs | set(self.meshes))
        lacking += [f"witness of {s}" for s in syncs if s not in self.sync_witnesses]
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
