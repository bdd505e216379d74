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
from typing import Any

import numpy as np

from kairos import _log, kernels
from kairos.actors import _rows
from kairos.actors._rows import NODE_FIELDS, NodeMap, NodeRows
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
    Pulse,
    SyncStats,
)
from kairos.wire import Message, PackedRecord

#: a node is stale after this many of its own message periods of silence…
STALE_PERIODS = 3
#: …but never sooner than this (a node's first messages say little about its period)
MIN_STALE_NS = 300_000_000
#: time constant of the smoothing of the mesh frequency Ω the pulse carries: long enough to
#: average out the tick-to-tick jitter of ψ (a node updates between ticks or not), short
#: next to how fast a mesh's common frequency changes
MESH_FREQUENCY_TAU_S = 1.0
_INT64_MAX = int(np.iinfo(np.int64).max)
#: field lists whose NODE_FIELDS columns are remembered (engines send one; more is noise)
MAX_FIELD_LAYOUTS = 64


class _NodeArrays:
    """Every node's state as one array per quantity: what the kernels fold a batch of
    messages into (kairos.kernels.nodes_take) and a tick reads (nodes_stale, mesh), so the
    per-node work is compiled code per tick, not Python per message.  Before: 34 % of a core
    for 1 000 nodes at 10 Hz, about half of it taking messages one by one."""

    def __init__(self, count: int) -> None:
        self.coherence = np.zeros(count)
        self.phase = np.zeros(count)
        self.resonance = np.zeros(count)
        self.collapsed = np.zeros(count, dtype=np.uint8)
        self.last_t = np.zeros(count, dtype=np.int64)
        self.heard = np.zeros(count, dtype=np.uint8)
        self.last_heard = np.zeros(count, dtype=np.int64)
        self.period = np.zeros(count)

    def state(self) -> tuple[np.ndarray, ...]:
        """The arrays in the order kernels.nodes_take takes them."""
        return (
            self.coherence,
            self.phase,
            self.resonance,
            self.collapsed,
            self.last_t,
            self.heard,
            self.last_heard,
            self.period,
        )


class _Node:
    """One node: its name, device and weight, and a view of its entry in the arrays."""

    __slots__ = ("_arrays", "device", "index", "name", "weight")

    def __init__(self, name: str, device: str, weight: float, index: int, arrays: _NodeArrays):
        self.name, self.device, self.weight, self.index = name, device, weight, index
        self._arrays = arrays

    @property
    def coherence(self) -> float:
        return float(self._arrays.coherence[self.index])

    @property
    def phase(self) -> float:
        return float(self._arrays.phase[self.index])

    @property
    def resonance(self) -> float:
        return float(self._arrays.resonance[self.index])

    @property
    def collapsed(self) -> bool:
        return bool(self._arrays.collapsed[self.index])

    @property
    def last_t_ns(self) -> int:
        return int(self._arrays.last_t[self.index])

    @property
    def last_heard_ns(self) -> int | None:
        heard = self._arrays.heard[self.index]
        return int(self._arrays.last_heard[self.index]) if heard else None

    @property
    def period_ns(self) -> float:
        return float(self._arrays.period[self.index])


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
        self._arrays = _NodeArrays(len(spec.nodes))
        self.nodes = {
            n.name: _Node(n.name, n.device, n.weight, i, self._arrays)
            for i, n in enumerate(spec.nodes)
        }
        self._weights = np.array([n.weight for n in spec.nodes], dtype=np.float64)
        self._node_map = NodeMap([n.name for n in spec.nodes], [n.device for n in spec.nodes])
        #: (fields of a message) → where NODE_FIELDS sit among them (-1: absent)
        self._columns: dict[tuple[str, ...], np.ndarray | None] = {}
        #: the nodes whose screen holds a clock fault or a run of dropped rows
        self._unsettled: set[str] = set()
        self.emerged = False
        self.next_tick_ns: int | None = None
        self.ticks = 0
        self.pulser = _Pulser()
        self.log: Any = _log.get("sync", actor=spec.name)  # the runtime's, once set up
        self._init_screens(DropLog(self.log))

    def _init_screens(self, drops: DropLog) -> None:
        max_future_s = self.spec.mesh.max_future_s
        self._max_future_ns = round(max_future_s * 1e9)
        self.screens = {
            name: InputScreen(name, max_future_s, drops, ordered=False) for name in self.nodes
        }
        self._rows = NodeRows(list(self.nodes), self._fold, self._max_future_ns)

    def _fold(
        self, node: np.ndarray, times: np.ndarray, values: np.ndarray, heard: np.ndarray
    ) -> None:
        """Fold the newest row of each message the compiled drain took (kairos.actors._rows),
        each heard when it was read."""
        kernels.nodes_take(node, times, values, 0, *self._arrays.state(), heard_ns=heard)

    def row_sink(self) -> NodeRows | None:
        """The node streams, for the runtime's compiled drain (None where it cannot run)."""
        return self._rows if _rows.COMPILED else None

    def setup(self, context: ActorContext) -> None:
        self.log = context.log
        # which receive path the node streams take (kairos.actors._rows), said once
        self.log.info("node streams", reader=_rows.DRAIN_REASON, nodes=len(self.nodes))
        if context.drops is not None:
            self._init_screens(context.drops)

    def update(self, now_ns: int, inputs: Sequence[Message]) -> Iterable[Outgoing]:
        outgoing: list[Outgoing] = []
        if inputs:
            outgoing.extend(self._take_all(inputs, now_ns))
        nodes = self.nodes
        self._rows.settle([nodes[name].index for name in self._unsettled])
        if self.next_tick_ns is None:
            self.next_tick_ns = (now_ns // self.period_ns + 1) * self.period_ns
        if now_ns >= self.next_tick_ns:
            tick_ns = now_ns // self.period_ns * self.period_ns  # on the common grid
            outgoing.extend(self._tick(tick_ns, now_ns))
            self.next_tick_ns = tick_ns + self.period_ns
        return outgoing

    def _take_all(self, inputs: Sequence[Message], now_ns: int) -> list[Outgoing]:
        """Take every node message that arrived since the last call.

        The engine rows of the batch are screened at once and folded into the node arrays by
        one kernel call; only a batch in which some row is dropped (or a node sends other
        messages in the same batch) goes message by message through :meth:`_take`, which
        counts and tells each drop: the outcome is the same either way."""
        nodes = self.nodes
        batch: list[Message] = []
        others: list[Message] = []
        for message in inputs:
            if message.stream in nodes:
                if message.is_record or not len(message.times):
                    others.append(message)
                else:
                    batch.append(message)
        if batch and not self._take_batch(batch, {m.stream for m in others}, now_ns):
            others = [m for m in inputs if m.stream in nodes]  # all of them, in order
        events: list[Outgoing] = []
        for message in others:
            node = nodes[message.stream]
            events.extend(self._take(node, message, now_ns))
            if self.screens[node.name].settled:
                self._unsettled.discard(node.name)
            else:
                self._unsettled.add(node.name)
        return events

    def _take_batch(self, batch: list[Message], others: set[str], now_ns: int) -> bool:
        """Fold engine messages whose every row passes the screen; False (nothing taken)
        when one row would be dropped, or a message is not a plain engine row set."""
        fields = batch[0].fields
        columns = self._columns.get(fields)
        if columns is None and fields not in self._columns:
            if len(self._columns) >= MAX_FIELD_LAYOUTS:  # a peer inventing field lists
                self._columns.clear()
            columns = _node_columns(fields)
            self._columns[fields] = columns
        if columns is None:
            return False
        streams = []
        for message in batch:
            if message.fields != fields or message.stream in others:
                return False
            streams.append(message.stream)
        data = np.concatenate([m.data for m in batch]) if len(batch) > 1 else batch[0].data
        if data.dtype.kind not in "biuf" or data.ndim != 2 or data.shape[1] != len(fields):
            return False
        values = np.zeros((len(data), len(NODE_FIELDS)), dtype=np.float64)
        for index, column in enumerate(columns.tolist()):
            if column >= 0:
                values[:, index] = data[:, column]
        times = np.concatenate([m.times for m in batch]) if len(batch) > 1 else batch[0].times
        limit = min(now_ns + self._max_future_ns, _INT64_MAX)
        if not (_in_range(values).all() and (times <= limit).all()):
            return False
        last = np.cumsum([len(m.times) for m in batch]) - 1
        node_index = [self.nodes[name].index for name in streams]
        kernels.nodes_take(node_index, times[last], values[last], now_ns, *self._arrays.state())
        if self._unsettled:
            for name in self._unsettled.intersection(streams):
                self.screens[name].passed()
                if self.screens[name].settled:
                    self._unsettled.discard(name)
        return True

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
            row = taken[-1:]
            kernels.nodes_take([node.index], times[row], values[row], now_ns, *self._arrays.state())
        return events

    def _tick(self, tick_ns: int, now_ns: int) -> list[Outgoing]:
        self.ticks += 1
        arrays = self._arrays
        stale_mask = kernels.nodes_stale(
            arrays.heard, arrays.last_heard, arrays.period, now_ns, MIN_STALE_NS, STALE_PERIODS
        ).view(bool)
        live = ~stale_mask
        g, psi, global_coherence, r, delta_p = kernels.mesh(
            arrays.coherence[live], arrays.phase[live], self._weights[live]
        )
        offsets = np.zeros(len(self.nodes))
        offsets[live] = delta_p
        names = list(self.nodes)
        stale = sorted(names[i] for i in np.flatnonzero(stale_mask).tolist())
        level = min(global_coherence, r) if live.any() else 0.0
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
        )
        # every node packed from the arrays (NodeMap: the bytes of the NodeState records)
        nodes = self._node_map.pack(
            arrays.coherence, arrays.phase, arrays.resonance, arrays.collapsed,
            self._weights, offsets, stale_mask.view(np.uint8), arrays.last_t,
        )  # fmt: skip
        payload = PackedRecord(state.packed(nodes))
        out = [
            Outgoing("", [tick_ns], payload),
            Outgoing(PULSE_STREAM, [tick_ns], self._pulse(tick_ns, live, float(psi)).encode()),
        ]
        if self.emerged != was:
            event = Event.emergence(self.emerged, tick_ns, float(level))
            out.append(Outgoing(EVENTS_STREAM, [tick_ns], event.encode()))
        return out

    def _pulse(self, tick_ns: int, live: np.ndarray, psi: float) -> Pulse:
        """The tick's pulse from the live nodes' entries in the arrays (``live``: a mask)."""
        arrays, names = self._arrays, list(self.nodes)
        return self.pulser.pulse(
            tick_ns,
            tuple(names[i] for i in np.flatnonzero(live).tolist()),
            self._weights[live],
            arrays.last_t[live],
            arrays.phase[live],
            arrays.coherence[live],
            psi,
        )

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
    constant MESH_FREQUENCY_TAU_S, starting from Ω = 0.  Not from the first rate: a mesh that
    has just formed is incoherent, and its ψ jumps from tick to tick (16 Kuramoto oscillators:
    −13.4 rad/s from their first usable tick), a rate that smoothing then carried for seconds
    and that, applied to rows 50 ms old, turned the pulse by −0.6 rad; the oscillators locked
    at 3.7–10.4 s in three launches, against 4.1–4.3 s in five from Ω = 0.  A tick whose live
    nodes differ from the previous tick's (ψ jumps when a node joins or leaves) or whose nodes
    have no newer row is skipped; a tick without live nodes starts over (Ω = 0).  ψ and r at the
    tick: each live node's phase is advanced by Ω·(t_tick − its row's time) before they are
    combined as for the mesh state.
    """

    def __init__(self) -> None:
        self.omega = 0.0
        self.last: tuple[tuple[str, ...], float, float, int] | None = None

    def pulse(
        self,
        tick_ns: int,
        names: tuple[str, ...],
        weight: np.ndarray,
        times: np.ndarray,
        phases: np.ndarray,
        coherence: np.ndarray,
        psi: float,
    ) -> Pulse:
        """The pulse of a tick from its live nodes: their names, weights, row times (ns),
        phases and coherences, and the tick's mesh phase ψ."""
        if not names:  # no mesh: nothing turns; the next live nodes start a new estimate
            self.last, self.omega = None, 0.0
            return Pulse(tick_ns, 0.0, 0.0, 0.0)
        mean_t = float(np.average(times - times[0], weights=weight)) if weight.sum() > 0 else 0.0
        if self.last is not None and self.last[0] == names:
            dt = (int(times[0]) - self.last[3] + mean_t - self.last[2]) * 1e-9
            if dt > 0.0:
                rate = math.remainder(psi - self.last[1], 2 * math.pi) / dt
                self.omega += -math.expm1(-dt / MESH_FREQUENCY_TAU_S) * (rate - self.omega)
        self.last = (names, psi, mean_t, int(times[0]))
        ages = (tick_ns - times) * 1e-9
        phase = phases + self.omega * ages
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


def _node_columns(fields: tuple[str, ...]) -> np.ndarray | None:
    """Where each of NODE_FIELDS sits in ``fields`` (-1 when absent), or None when the
    required ones (coherence_slow, phase_slow) are missing."""
    if not {"coherence_slow", "phase_slow"} <= set(fields):
        return None
    return np.array([fields.index(f) if f in fields else -1 for f in NODE_FIELDS], dtype=np.int64)


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
