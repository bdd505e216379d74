"""The sync role: one mesh phase and global coherence from every node (docs/design.md §5.5).

Nodes are engines (their slow, Master window) or other syncs (cells of cells: their global
coherence and mesh phase).  On every tick of a common mesh-time grid the sync combines the
latest state of each live node, publishes the mesh state, the mesh pulse that coupled
sensors follow (§5.6), and an event whenever emergence starts or ends.  A node silent for
more than 3 of its periods is left out and listed as stale until it speaks again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kairos import kernels
from kairos.actors._runtime import Actor, Outgoing
from kairos.actors.spec import ActorProcessSpec
from kairos.errors import ConfigError, WireError
from kairos.records import (
    EMERGENCE,
    EVENTS_STREAM,
    PULSE_STREAM,
    Event,
    MeshState,
    NodeState,
    SyncStats,
)
from kairos.wire import Message

#: a node is stale after this many of its own message periods of silence…
STALE_PERIODS = 3
#: …but never sooner than this (a node's first messages say little about its period)
MIN_STALE_NS = 300_000_000


@dataclass
class _Node:
    name: str
    device: str
    weight: float
    coherence: float = 0.0
    phase: float = 0.0
    resonance: float = 0.0
    collapsed: bool = False
    last_t_ns: int = 0
    last_heard_ns: int | None = None
    period_ns: float = 0.0

    def hear(self, now_ns: int) -> None:
        if self.last_heard_ns is not None:
            interval = now_ns - self.last_heard_ns
            smoothed = 0.8 * self.period_ns + 0.2 * interval
            self.period_ns = interval if self.period_ns == 0 else smoothed
        self.last_heard_ns = now_ns

    def stale(self, now_ns: int) -> bool:
        if self.last_heard_ns is None:
            return True
        return now_ns - self.last_heard_ns > max(MIN_STALE_NS, STALE_PERIODS * self.period_ns)


class Sync(Actor):
    """Publishes the mesh state and pulse at ``rate_hz`` on a common mesh-time grid."""

    def __init__(self, spec: ActorProcessSpec) -> None:
        self.spec = spec
        rate = spec.rate_hz or spec.mesh.pulse_hz
        if not rate > 0:
            raise ConfigError(f"sync {spec.name!r} needs a tick rate above 0 Hz, not {rate}")
        self.period_ns = round(1e9 / rate)
        self.threshold = spec.mesh.emergence_threshold
        self.hysteresis = spec.mesh.hysteresis
        self.nodes = {n.name: _Node(n.name, n.device, n.weight) for n in spec.nodes}
        self.emerged = False
        self.next_tick_ns: int | None = None
        self.ticks = 0

    def update(self, now_ns: int, inputs: Sequence[Message]) -> Iterable[Outgoing]:
        for message in inputs:
            node = self.nodes.get(message.stream)
            if node is not None:
                self._take(node, message, now_ns)
        if self.next_tick_ns is None:
            self.next_tick_ns = (now_ns // self.period_ns + 1) * self.period_ns
        outgoing: list[Outgoing] = []
        if now_ns >= self.next_tick_ns:
            tick_ns = now_ns // self.period_ns * self.period_ns  # on the common grid
            outgoing.extend(self._tick(tick_ns, now_ns))
            self.next_tick_ns = tick_ns + self.period_ns
        return outgoing

    def _take(self, node: _Node, message: Message, now_ns: int) -> None:
        if message.is_record:  # a sync feeding this one: a cell of cells
            try:
                state = MeshState.decode(message.data, message.stream)
            except WireError:
                return  # not a mesh state: the node is not heard (the runtime counts inputs)
            node.coherence = state.global_coherence
            node.phase = state.mesh_phase
            node.resonance = 0.0
            node.collapsed = state.emerged
            node.last_t_ns = state.t_ns
        else:
            if len(message.times) == 0 or "coherence_slow" not in message.fields:
                return
            node.coherence = float(message.column("coherence_slow")[-1])
            node.phase = float(message.column("phase_slow")[-1])
            node.resonance = float(message.column("resonance_slow")[-1])
            node.collapsed = bool(message.column("collapsed_slow")[-1])
            node.last_t_ns = int(message.times[-1])
        node.hear(now_ns)

    def _tick(self, tick_ns: int, now_ns: int) -> list[Outgoing]:
        self.ticks += 1
        live = [n for n in self.nodes.values() if not n.stale(now_ns)]
        stale = sorted(n.name for n in self.nodes.values() if n.stale(now_ns))
        coherence = np.array([n.coherence for n in live], dtype=np.float64)
        phase = np.array([n.phase for n in live], dtype=np.float64)
        weight = np.array([n.weight for n in live], dtype=np.float64)
        g, psi, global_coherence, r, delta_p = kernels.mesh(coherence, phase, weight)
        offsets = dict(zip((n.name for n in live), delta_p.tolist(), strict=True))
        level = min(global_coherence, r) if live else 0.0
        was = self.emerged
        if not was and level >= self.threshold:
            self.emerged = True
        elif was and level < self.threshold - self.hysteresis:
            self.emerged = False
        state = MeshState(
            t_ns=tick_ns,
            global_coherence=float(global_coherence),
            order_parameter=float(r),
            mesh_phase=float(psi),
            phasor=complex(g),
            emerged=self.emerged,
            stale_nodes=tuple(stale),
            nodes={
                n.name: NodeState(
                    device=n.device,
                    coherence=n.coherence,
                    phase=n.phase,
                    resonance=n.resonance,
                    collapsed=n.collapsed,
                    weight=n.weight,
                    delta_p=offsets.get(n.name),
                    stale=n.name in stale,
                    last_t_ns=n.last_t_ns,
                )
                for n in self.nodes.values()
            },
        )
        out = [
            Outgoing("", [tick_ns], state.encode()),
            Outgoing(PULSE_STREAM, [tick_ns], state.pulse().encode()),
        ]
        if self.emerged != was:
            event = Event(EMERGENCE, "mesh", self.emerged, tick_ns, float(level))
            out.append(Outgoing(EVENTS_STREAM, [tick_ns], event.encode()))
        return out

    def next_call_ns(self) -> int | None:
        """The next tick of the common mesh-time grid."""
        return self.next_tick_ns

    def witness(self) -> dict[str, Any]:
        return SyncStats(self.ticks, self.emerged, len(self.nodes)).encode()
