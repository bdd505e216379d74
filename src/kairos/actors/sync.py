"""The sync role: one mesh phase and global coherence from every node (docs/design.md §5.5).

Nodes are engines (their slow, Master window) or other syncs (cells of cells: their global
coherence and mesh phase).  On every tick of a common mesh-time grid the sync combines the
latest state of each live node, publishes the mesh state, the mesh pulse that coupled
sensors follow (§5.6), and an event whenever emergence starts or ends.  A node silent for
more than 3 of its periods is left out and listed as stale until it speaks again.

A node's rows are screened as an engine screens its inputs (kairos.actors._screen): a row
stamped ahead of mesh time, or with a value no engine or sync produces (non-finite, a
coherence or resonance outside [0, 1], a phase outside [−π, π]) is dropped and counted, and
the node keeps its previous state: one hostile node can never make the mesh state
non-finite.  A node whose every row is dropped falls silent, so it goes stale like a node
that stopped talking.  Time order is not checked: an engine with several inputs publishes
one row per input row in sample-time order of its messages, so its stream goes back in time
between messages (two sensors sampling together give every time twice: 4328 of 8700 rows of
the demo's `coherent` engine in 11 s); the node's state is the newest row of each message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kairos import _log, kernels
from kairos.actors._runtime import Actor, ActorContext, Outgoing
from kairos.actors._screen import InputScreen, clock_event, clock_faults
from kairos.actors.spec import ActorProcessSpec
from kairos.drops import DropLog
from kairos.errors import ConfigError, WireError
from kairos.records import (
    EVENTS_STREAM,
    PULSE_STREAM,
    Event,
    MeshState,
    NodeState,
    Pulse,
    SyncStats,
)
from kairos.wire import Message

#: a node is stale after this many of its own message periods of silence…
STALE_PERIODS = 3
#: …but never sooner than this (a node's first messages say little about its period)
MIN_STALE_NS = 300_000_000
#: time constant of the smoothing of the mesh frequency Ω the pulse carries: long enough to
#: average out the tick-to-tick jitter of ψ (a node updates between ticks or not), short
#: next to how fast a mesh's common frequency changes
MESH_FREQUENCY_TAU_S = 1.0
#: the engine columns a sync reads; the first two are required, the others default to 0
NODE_FIELDS = ("coherence_slow", "phase_slow", "resonance_slow", "collapsed_slow")


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
        self.pulser = _Pulser()
        self.log: Any = _log.get("sync", actor=spec.name)  # the runtime's, once set up
        self._init_screens(DropLog(self.log))

    def _init_screens(self, drops: DropLog) -> None:
        max_future_s = self.spec.mesh.max_future_s
        self.screens = {
            name: InputScreen(name, max_future_s, drops, ordered=False) for name in self.nodes
        }

    def setup(self, context: ActorContext) -> None:
        self.log = context.log
        if context.drops is not None:
            self._init_screens(context.drops)

    def update(self, now_ns: int, inputs: Sequence[Message]) -> Iterable[Outgoing]:
        outgoing: list[Outgoing] = []
        for message in inputs:
            node = self.nodes.get(message.stream)
            if node is not None:
                outgoing.extend(self._take(node, message, now_ns))
        if self.next_tick_ns is None:
            self.next_tick_ns = (now_ns // self.period_ns + 1) * self.period_ns
        if now_ns >= self.next_tick_ns:
            tick_ns = now_ns // self.period_ns * self.period_ns  # on the common grid
            outgoing.extend(self._tick(tick_ns, now_ns))
            self.next_tick_ns = tick_ns + self.period_ns
        return outgoing

    def _take(self, node: _Node, message: Message, now_ns: int) -> list[Outgoing]:
        """Take the node's newest acceptable row; returns a clock event if one is due."""
        rows = _node_rows(message)
        if rows is None:
            return []
        times, values, valid = rows
        screen = self.screens[node.name]
        accepted, clock = screen.check(times, valid, None, now_ns, values[:, 0])
        events = []
        if clock is not None:
            self.log.warning("input clock is wrong", stream=node.name, reason=clock)
            events.append(Outgoing(EVENTS_STREAM, [now_ns], clock_event(node.name, clock, now_ns)))
        taken = np.flatnonzero(accepted)
        if len(taken):
            row = taken[-1]
            node.coherence, node.phase, node.resonance = (float(v) for v in values[row, :3])
            node.collapsed = bool(values[row, 3])
            node.last_t_ns = int(times[row])
            node.hear(now_ns)
        return events

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
            Outgoing(PULSE_STREAM, [tick_ns], self.pulser.pulse(tick_ns, live, psi).encode()),
        ]
        if self.emerged != was:
            event = Event.emergence(self.emerged, tick_ns, float(level))
            out.append(Outgoing(EVENTS_STREAM, [tick_ns], event.encode()))
        return out

    def next_call_ns(self) -> int | None:
        """The next tick of the common mesh-time grid."""
        return self.next_tick_ns

    def witness(self) -> dict[str, Any]:
        stats = SyncStats(self.ticks, self.emerged, len(self.nodes))
        # each node's clock fault joins the runtime's per-input entry (InputStats.clock)
        return {**stats.encode(), "inputs": clock_faults(self.screens)}


class _Pulser:
    """Builds the pulse of a tick: the mesh phase ψ and order parameter r *at the tick* and the
    mesh frequency Ω, so a follower extrapolates ψ(t) = ψ + Ω·(t − t_tick) (design.md §5.6).

    Ω: on each tick, the change of the mesh state's ψ since the previous tick (wrapped into
    (−π, π], so |Ω| must stay below π·pulse_hz) over the change of the live nodes' mean sample
    time (their ψ is as of their rows, not of the tick), smoothed exponentially with time
    constant MESH_FREQUENCY_TAU_S; the first rate is taken as it is.  A tick whose live nodes
    differ from the previous tick's (ψ jumps when a node joins or leaves) or whose nodes have
    no newer row is skipped; a tick without live nodes starts over (Ω = 0).  ψ and r at the
    tick: each live node's phase is advanced by Ω·(t_tick − its row's time) before they are
    combined as for the mesh state.
    """

    def __init__(self) -> None:
        self.omega = 0.0
        self.started = False
        self.last: tuple[tuple[str, ...], float, float, int] | None = None

    def pulse(self, tick_ns: int, live: Sequence[_Node], psi: float) -> Pulse:
        if not live:  # no mesh: nothing turns; the next live nodes start a new estimate
            self.last, self.omega, self.started = None, 0.0, False
            return Pulse(tick_ns, 0.0, 0.0, 0.0)
        names = tuple(n.name for n in live)
        weight = np.array([n.weight for n in live], dtype=np.float64)
        times = np.array([n.last_t_ns for n in live], dtype=np.int64)
        mean_t = float(np.average(times - times[0], weights=weight)) if weight.sum() > 0 else 0.0
        if self.last is not None and self.last[0] == names:
            dt = (int(times[0]) - self.last[3] + mean_t - self.last[2]) * 1e-9
            if dt > 0.0:
                rate = math.remainder(psi - self.last[1], 2 * math.pi) / dt
                if self.started:
                    alpha = -math.expm1(-dt / MESH_FREQUENCY_TAU_S)
                    self.omega += alpha * (rate - self.omega)
                else:
                    self.omega, self.started = rate, True
        self.last = (names, psi, mean_t, int(times[0]))
        ages = (tick_ns - times) * 1e-9
        phase = np.array([n.phase for n in live], dtype=np.float64) + self.omega * ages
        coherence = np.array([n.coherence for n in live], dtype=np.float64)
        _, psi_now, _, r_now, _ = kernels.mesh(coherence, kernels.wrap_phase(phase), weight)
        return Pulse(tick_ns, float(psi_now), float(r_now), self.omega)


def _node_rows(message: Message) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A node message as (times, rows of NODE_FIELDS, whether each row is valid), or None when
    it carries no node state at all (an empty message, an engine stream without the fields).

    A valid row has a finite coherence and resonance in [0, 1] and a phase in [−π, π]: what
    every engine (np.angle) and sync (atan2) produces.
    """
    if message.is_record:  # a sync feeding this one: a cell of cells
        stamp = int(message.times[-1]) if len(message.times) else message.sent_ns
        try:
            state = MeshState.decode(message.data, message.stream)
        except WireError:  # not a mesh state: an invalid row, counted as one
            state = None
        valid = state is not None and all(
            math.isfinite(v) for v in (state.global_coherence, state.mesh_phase)
        )
        row = (
            [state.global_coherence, state.mesh_phase, 0.0, float(state.emerged)]
            if state is not None and valid
            else [0.0] * 4
        )
        values = np.array([row], dtype=np.float64)
        times = np.array([stamp], dtype=np.int64)
        return times, values, np.array([valid]) & _in_range(values)
    if len(message.times) == 0 or not {"coherence_slow", "phase_slow"} <= set(message.fields):
        return None
    n = len(message.times)
    values = np.zeros((n, len(NODE_FIELDS)), dtype=np.float64)
    usable = np.ones(n, dtype=bool)
    for index, name in enumerate(NODE_FIELDS):
        if name not in message.fields:
            continue
        column = message.column(name)
        if column.dtype.kind not in "biuf":  # a complex column is not a node state
            usable[:] = False
            continue
        values[:, index] = column
    return np.asarray(message.times, dtype=np.int64), values, usable & _in_range(values)


def _in_range(values: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        coherence, phase, resonance = values[:, 0], values[:, 1], values[:, 2]
        return (
            (coherence >= 0.0)
            & (coherence <= 1.0)
            & (np.abs(phase) <= np.pi)
            & (resonance >= 0.0)
            & (resonance <= 1.0)
        )
