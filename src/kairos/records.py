"""The records Kairos actors publish, as typed classes: one definition of each record's keys.

A record is a wire message whose ``dtype`` is ``"msgpack"``: its payload is a map with string
keys (docs/wire.md, "Records").  Four kinds exist, told apart by the stream they travel on:

==========================  =====================  =========================================
stream                      class                  published by
==========================  =====================  =========================================
``<sync>``                  :class:`MeshState`     a sync actor, once per tick
``<sync>/pulse``            :class:`Pulse`         a sync actor, once per tick
``<actor>/events``          :class:`Event`         an engine, a sync (state changes)
``<actor>/witness``         :class:`Witness`       every actor, once a second
==========================  =====================  =========================================

Each class builds its payload (``encode()``, a plain dict that :func:`kairos.wire.encode`
packs) and parses one (``decode(payload, where)``).  Decoding never trusts the sender: a
missing key or a value of the wrong type raises :class:`~kairos.errors.WireError` (never
KeyError or TypeError), so a reader drops and counts a bad record with the same ``except``
as a bad frame.  Keys a class does not know are ignored (the witness keeps them as its
role's fields), so a newer producer can add a key without breaking an older reader.

>>> pulse = Pulse(t_ns=1_000, mesh_phase=0.5, order_parameter=0.9)
>>> Pulse.decode(pulse.encode(), "mesh/pulse") == pulse
True
>>> Pulse.decode({"t_ns": 1_000}, "mesh/pulse")
Traceback (most recent call last):
...
kairos.errors.WireError: mesh/pulse: record lacks mesh_phase, order_parameter
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import msgpack

from kairos.errors import WireError

if TYPE_CHECKING:  # records themselves need no NumPy: a plugin scan imports them
    from kairos.wire import Message

#: stream suffixes: ``<actor>/<suffix>`` (the main stream ``<actor>`` has none)
WITNESS_STREAM = "witness"
PULSE_STREAM = "pulse"
EVENTS_STREAM = "events"

#: event kinds and the windows each is about
COLLAPSE = "collapse"
EMERGENCE = "emergence"
CLOCK = "clock"
DEGRADED = "degraded"
EVENT_KINDS = (COLLAPSE, EMERGENCE, CLOCK, DEGRADED)
EVENT_WINDOWS = ("fast", "slow", "pair", "mesh")

_T = TypeVar("_T")


def stream_name(actor: str, suffix: str = "") -> str:
    """The stream ``<actor>/<suffix>``, or the actor's main stream for ``suffix == ""``."""
    return f"{actor}/{suffix}" if suffix else actor


def split_stream(stream: str) -> tuple[str, str]:
    """``(actor, suffix)`` of a stream name; ``suffix`` is ``""`` for a main stream."""
    actor, _, suffix = stream.partition("/")
    return actor, suffix


# -- reading one key, with the type the contract gives it --------------------------------------


class _Fields:
    """Typed reads from one decoded record payload; every failure is a WireError."""

    def __init__(self, payload: Any, where: str, keys: tuple[str, ...]) -> None:
        if not isinstance(payload, Mapping):
            raise WireError(f"{where}: record is not a map")
        missing = [key for key in keys if key not in payload]
        if missing:
            raise WireError(f"{where}: record lacks {', '.join(missing)}")
        self.payload = payload
        self.where = where

    def _wrong(self, key: str, wanted: str) -> WireError:
        value = self.payload[key]
        return WireError(
            f"{self.where}: record key {key!r} is {type(value).__name__} {value!r:.60}, "
            f"expected {wanted}"
        )

    def integer(self, key: str) -> int:
        value = self.payload[key]
        if type(value) is not int:
            raise self._wrong(key, "an integer")
        return value

    def number(self, key: str) -> float:
        value = self.payload[key]
        if type(value) not in (float, int):  # bool is not a number here
            raise self._wrong(key, "a number")
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return None if self.payload[key] is None else self.number(key)

    def flag(self, key: str) -> bool:
        value = self.payload[key]
        if type(value) is not bool:
            raise self._wrong(key, "true or false")
        return value

    def text(self, key: str) -> str:
        value = self.payload[key]
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        """A string or None (the key may be absent: None too)."""
        value = self.payload.get(key)
        if value is not None and not isinstance(value, str):
            raise self._wrong(key, "a string or null")
        return value

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.payload[key]
        if not isinstance(value, Mapping):
            raise self._wrong(key, "a map")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.payload[key]
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return value


def _keys(cls: type, renamed: Mapping[str, str] | None = None, skip: tuple[str, ...] = ()) -> tuple:
    """The wire keys of a record class: its field names (some renamed), in field order."""
    renamed = renamed or {}
    return tuple(renamed.get(f.name, f.name) for f in fields(cls) if f.name not in skip)


# -- pulse ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pulse:
    """The mesh pulse coupled sensors follow (docs/design.md §5.6): at ``t_ns`` the mesh phase
    is ψ = ``mesh_phase`` and turns at Ω = ``mesh_frequency`` rad/s, so a follower takes
    ψ(t) = ψ + Ω·(t − t_ns) at its own sample time t instead of holding a stale ψ."""

    t_ns: int
    mesh_phase: float
    order_parameter: float
    mesh_frequency: float = 0.0

    KEYS: ClassVar[tuple[str, ...]]
    #: keys a reader takes as 0 when a producer older than them omits them (a pulse without
    #: ``mesh_frequency`` is held, as pulses were before it existed)
    LATER_KEYS: ClassVar[tuple[str, ...]] = ("mesh_frequency",)

    def encode(self) -> dict[str, Any]:
        return {
            "t_ns": int(self.t_ns),
            "mesh_phase": float(self.mesh_phase),
            "order_parameter": float(self.order_parameter),
            "mesh_frequency": float(self.mesh_frequency),
        }

    @classmethod
    def decode(cls, payload: Any, where: str = "pulse") -> Pulse:
        read = _Fields(payload, where, cls.KEYS)
        later = {key: read.number(key) for key in cls.LATER_KEYS if key in payload}
        return cls(
            read.integer("t_ns"), read.number("mesh_phase"), read.number("order_parameter"), **later
        )

    def phase_at(self, t_ns: Any) -> Any:
        """ψ(t) = ψ + Ω·(t − t_ns), unwrapped, for one stamp or an int64 array of them."""
        return self.mesh_phase + self.mesh_frequency * ((t_ns - self.t_ns) * 1e-9)


Pulse.KEYS = _keys(Pulse, skip=Pulse.LATER_KEYS)


# -- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A change of state, told once when it happens.  Four kinds, each with its own keys:

    * ``collapse`` (an engine): a window (``fast``, ``slow`` or ``pair``) collapsed or
      released; ``value`` is the resonance that crossed the threshold;
    * ``emergence`` (a sync): the mesh emerged or fell apart (window ``mesh``); ``value`` is
      the mesh level that crossed it;
    * ``clock`` (an engine or a sync): input ``stream``'s clock is wrong — every row dropped
      for ``reason`` (``future_stamps``, ``time_violations``) or lagging the other inputs
      (``behind``) for 3 s (kairos.actors._screen);
    * ``degraded`` (an engine): every input row has been dropped for 1 s, for ``reason`` the
      most common drop reason; ``state`` false when valid rows arrive again.

    ``state`` is the new state and ``t_ns`` the sample (or tick, or mesh) time at which the
    change happened.  Keys a kind does not have are None here and absent on the wire.
    """

    kind: str
    state: bool
    t_ns: int
    window: str | None = None
    value: float | None = None
    stream: str | None = None
    reason: str | None = None

    KEYS: ClassVar[tuple[str, ...]] = ("kind", "state", "t_ns")
    #: each kind's keys, in wire order
    WIRE_KEYS: ClassVar[Mapping[str, tuple[str, ...]]] = {
        COLLAPSE: ("kind", "window", "state", "t_ns", "value"),
        EMERGENCE: ("kind", "window", "state", "t_ns", "value"),
        CLOCK: ("kind", "stream", "reason", "state", "t_ns"),
        DEGRADED: ("kind", "state", "reason", "t_ns"),
    }
    #: the keys of each kind beyond KEYS
    KIND_KEYS: ClassVar[Mapping[str, tuple[str, ...]]] = {
        kind: tuple(key for key in keys if key not in ("kind", "state", "t_ns"))
        for kind, keys in WIRE_KEYS.items()
    }

    def __post_init__(self) -> None:
        missing = [key for key in self.KIND_KEYS[self.kind] if getattr(self, key) is None]
        if missing:
            raise ValueError(f"a {self.kind} event needs {', '.join(missing)}")

    def encode(self) -> dict[str, Any]:
        values = {
            "kind": self.kind,
            "window": self.window,
            "state": bool(self.state),
            "t_ns": int(self.t_ns),
            "value": None if self.value is None else float(self.value),
            "stream": self.stream,
            "reason": self.reason,
        }
        return {key: values[key] for key in self.WIRE_KEYS[self.kind]}

    @classmethod
    def decode(cls, payload: Any, where: str = "events") -> Event:
        read = _Fields(payload, where, cls.KEYS)
        kind = read.text("kind")
        if kind not in cls.KIND_KEYS:
            raise WireError(f"{where}: event kind {kind!r:.40} is not one of {EVENT_KINDS}")
        read = _Fields(payload, where, cls.KEYS + cls.KIND_KEYS[kind])
        extra: dict[str, Any] = {}
        if "window" in cls.KIND_KEYS[kind]:
            window = read.text("window")
            if window not in EVENT_WINDOWS:
                raise WireError(
                    f"{where}: event window {window!r:.40} is not one of {EVENT_WINDOWS}"
                )
            extra["window"] = window
        if "value" in cls.KIND_KEYS[kind]:
            extra["value"] = read.number("value")
        for key in ("stream", "reason"):
            if key in cls.KIND_KEYS[kind]:
                extra[key] = read.text(key)
        return cls(kind, read.flag("state"), read.integer("t_ns"), **extra)

    @classmethod
    def collapse(cls, window: str, state: bool, t_ns: int, value: float) -> Event:
        return cls(COLLAPSE, state, t_ns, window=window, value=value)

    @classmethod
    def emergence(cls, state: bool, t_ns: int, value: float) -> Event:
        return cls(EMERGENCE, state, t_ns, window="mesh", value=value)

    @classmethod
    def clock(cls, stream: str, reason: str, t_ns: int) -> Event:
        return cls(CLOCK, True, t_ns, stream=stream, reason=reason)

    @classmethod
    def degraded(cls, state: bool, reason: str, t_ns: int) -> Event:
        return cls(DEGRADED, state, t_ns, reason=reason)


# -- mesh state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeState:
    """One node as the sync combined it at a tick (an entry of :attr:`MeshState.nodes`).

    ``delta_p`` (the node's phase offset to the mesh, ΔP) is None while the node is stale:
    it took no part in the tick.
    """

    device: str
    coherence: float
    phase: float
    resonance: float
    collapsed: bool
    weight: float
    delta_p: float | None
    stale: bool
    last_t_ns: int

    KEYS: ClassVar[tuple[str, ...]]

    def encode(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "coherence": float(self.coherence),
            "phase": float(self.phase),
            "resonance": float(self.resonance),
            "collapsed": bool(self.collapsed),
            "weight": float(self.weight),
            "delta_p": None if self.delta_p is None else float(self.delta_p),
            "stale": bool(self.stale),
            "last_t_ns": int(self.last_t_ns),
        }

    @classmethod
    def decode(cls, payload: Any, where: str) -> NodeState:
        read = _Fields(payload, where, cls.KEYS)
        return cls(
            device=read.text("device"),
            coherence=read.number("coherence"),
            phase=read.number("phase"),
            resonance=read.number("resonance"),
            collapsed=read.flag("collapsed"),
            weight=read.number("weight"),
            delta_p=read.optional_number("delta_p"),
            stale=read.flag("stale"),
            last_t_ns=read.integer("last_t_ns"),
        )


NodeState.KEYS = _keys(NodeState)


@dataclass(frozen=True)
class MeshState:
    """What a sync actor publishes on its main stream each tick (docs/design.md §5.5).

    ``phasor`` is the global phasor G (on the wire ``[re, im]``); ``stale_nodes`` names the
    nodes left out of this tick; ``nodes`` holds every node, stale or not.
    """

    t_ns: int
    global_coherence: float
    order_parameter: float
    mesh_phase: float
    phasor: complex
    emerged: bool
    stale_nodes: tuple[str, ...]
    nodes: Mapping[str, NodeState] = field(default_factory=dict)

    KEYS: ClassVar[tuple[str, ...]]

    def encode(self) -> dict[str, Any]:
        return {
            "t_ns": int(self.t_ns),
            "global_coherence": float(self.global_coherence),
            "order_parameter": float(self.order_parameter),
            "mesh_phase": float(self.mesh_phase),
            "phasor": [float(self.phasor.real), float(self.phasor.imag)],
            "emerged": bool(self.emerged),
            "stale_nodes": list(self.stale_nodes),
            "nodes": {name: node.encode() for name, node in self.nodes.items()},
        }

    def packed(self, nodes: bytes) -> bytes:
        """The state as msgpack with ``nodes`` — its nodes' map, already packed (a sync packs
        1 000 from its arrays in ~0.1 ms instead of 6.8 ms through NodeState objects,
        kairos.actors._rows) — in place of :attr:`nodes`: the bytes ``msgpack.packb``
        makes of :meth:`encode` with those nodes, ``nodes`` being the map's last key."""
        head = msgpack.packb(replace(self, nodes={}).encode(), use_bin_type=True)
        if not head.endswith(_EMPTY_NODES):
            raise AssertionError("MeshState.encode no longer ends with its nodes")
        return head[:-1] + nodes  # the empty map's one byte, replaced by the nodes' map

    @classmethod
    def decode(cls, payload: Any, where: str = "mesh state") -> MeshState:
        read = _Fields(payload, where, cls.KEYS)
        phasor = read.items("phasor")
        if len(phasor) != 2 or any(type(part) not in (float, int) for part in phasor):
            raise WireError(f"{where}: record key 'phasor' is not [re, im]")
        stale = read.items("stale_nodes")
        if not all(isinstance(name, str) for name in stale):
            raise WireError(f"{where}: record key 'stale_nodes' is not a list of names")
        nodes = {}
        for name, entry in read.mapping("nodes").items():
            nodes[name] = NodeState.decode(entry, f"{where}: node {name!r:.60}")
        return cls(
            t_ns=read.integer("t_ns"),
            global_coherence=read.number("global_coherence"),
            order_parameter=read.number("order_parameter"),
            mesh_phase=read.number("mesh_phase"),
            phasor=complex(phasor[0], phasor[1]),
            emerged=read.flag("emerged"),
            stale_nodes=tuple(stale),
            nodes=nodes,
        )

    def pulse(self) -> Pulse:
        """A pulse of this state's ψ and r that does not turn (Ω = 0).  The sync publishes a
        richer one: ψ and r advanced to the tick, and Ω (actors/sync.py ``_Pulser``)."""
        return Pulse(self.t_ns, self.mesh_phase, self.order_parameter)


MeshState.KEYS = _keys(MeshState)
#: how a packed mesh state ends when its nodes are empty: the key, then an empty map
_EMPTY_NODES = b"\xa5nodes\x80"


# -- witness -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputStats:
    """What an actor heard of one input stream (an entry of :attr:`Witness.inputs`), totals
    since it started: messages; messages lost within a publisher epoch or at the start of a
    new one (``gaps``); publisher restarts and the silence they caused (``outage_ns``); rows
    dropped per reason (docs/wire.md, "Counters"): messages that did not decode
    (``decode_errors``, of those whose topic names the stream), rows stamped too far ahead
    (``future_stamps``), not after the stream's newest row (``time_violations``), with a
    non-finite or absurd value (``invalid_samples``), messages an engine's full queue pushed
    out (``drops``); and ``clock``, the reason the stream's clock is reported wrong, or None.
    """

    msgs: int
    gaps: int
    restarts: int
    outage_ns: int
    decode_errors: int = 0
    future_stamps: int = 0
    time_violations: int = 0
    invalid_samples: int = 0
    drops: int = 0
    clock: str | None = None

    KEYS: ClassVar[tuple[str, ...]]
    #: the key of the stream's clock fault (a role reports it: Actor.witness "inputs")
    CLOCK_KEY: ClassVar[str] = "clock"
    #: keys a reader takes as 0 (None for ``clock``) when a producer older than them omits them
    LATER_KEYS: ClassVar[tuple[str, ...]] = (
        "decode_errors",
        "future_stamps",
        "time_violations",
        "invalid_samples",
        "drops",
        "clock",
    )

    def encode(self) -> dict[str, Any]:
        return {
            "msgs": self.msgs,
            "gaps": self.gaps,
            "restarts": self.restarts,
            "outage_ns": self.outage_ns,
            "decode_errors": self.decode_errors,
            "future_stamps": self.future_stamps,
            "time_violations": self.time_violations,
            "invalid_samples": self.invalid_samples,
            "drops": self.drops,
            "clock": self.clock,
        }

    @classmethod
    def decode(cls, payload: Any, where: str) -> InputStats:
        read = _Fields(payload, where, cls.KEYS)
        counts = {key: read.integer(key) for key in cls.LATER_KEYS[:-1] if key in payload}
        return cls(
            read.integer("msgs"),
            read.integer("gaps"),
            read.integer("restarts"),
            read.integer("outage_ns"),
            clock=read.optional_text("clock"),
            **counts,
        )


InputStats.KEYS = _keys(InputStats, skip=InputStats.LATER_KEYS)


@dataclass(frozen=True)
class EngineStats:
    """The engine's own fields of its witness (:attr:`Witness.role_fields`): output rows so
    far, the drop reason it is degraded by (every input row dropped, see :class:`Event`) or
    None, messages queued per input (waiting for the others to catch up), and each window's
    collapse state."""

    rows_out: int
    degraded: str | None
    queued: Mapping[str, int]
    collapsed: Mapping[str, bool]

    KEYS: ClassVar[tuple[str, ...]]

    def encode(self) -> dict[str, Any]:
        return {
            "rows_out": self.rows_out,
            "degraded": self.degraded,
            "queued": dict(self.queued),
            "collapsed": dict(self.collapsed),
        }

    @classmethod
    def decode(cls, payload: Any, where: str = "engine witness") -> EngineStats:
        read = _Fields(payload, where, cls.KEYS)
        queued, collapsed = read.mapping("queued"), read.mapping("collapsed")
        if not all(type(v) is int for v in queued.values()):
            raise WireError(f"{where}: record key 'queued' is not a map of counts")
        if not all(type(v) is bool for v in collapsed.values()):
            raise WireError(f"{where}: record key 'collapsed' is not a map of true/false")
        return cls(
            read.integer("rows_out"), read.optional_text("degraded"), dict(queued), dict(collapsed)
        )


EngineStats.KEYS = _keys(EngineStats)


@dataclass(frozen=True)
class SyncStats:
    """A sync's own fields of its witness: ticks so far, whether the mesh is emerged, and
    how many nodes it combines."""

    ticks: int
    emerged: bool
    nodes: int

    KEYS: ClassVar[tuple[str, ...]]

    def encode(self) -> dict[str, Any]:
        return {"ticks": self.ticks, "emerged": self.emerged, "nodes": self.nodes}

    @classmethod
    def decode(cls, payload: Any, where: str = "sync witness") -> SyncStats:
        read = _Fields(payload, where, cls.KEYS)
        return cls(read.integer("ticks"), read.flag("emerged"), read.integer("nodes"))


SyncStats.KEYS = _keys(SyncStats)


@dataclass(frozen=True)
class SensorStats:
    """A sensor's own fields of its witness: samples read, samples skipped (after a stall,
    or of a read that raised), adapter reads that raised (``read_errors``, docs/wire.md
    "Counters"), whether its adapter ran out (a file that ended), and the adapter's name."""

    samples: int
    skipped_samples: int
    read_errors: int
    exhausted: bool
    adapter: str

    KEYS: ClassVar[tuple[str, ...]]

    def encode(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "skipped_samples": self.skipped_samples,
            "read_errors": self.read_errors,
            "exhausted": self.exhausted,
            "adapter": self.adapter,
        }

    @classmethod
    def decode(cls, payload: Any, where: str = "sensor witness") -> SensorStats:
        read = _Fields(payload, where, cls.KEYS)
        return cls(
            read.integer("samples"),
            read.integer("skipped_samples"),
            read.integer("read_errors") if "read_errors" in payload else 0,
            read.flag("exhausted"),
            read.text("adapter"),
        )


SensorStats.KEYS = _keys(SensorStats, skip=("read_errors",))  # 0 from an older producer


@dataclass(frozen=True)
class OutputStats:
    """An output's own fields of its witness: states handed to its adapter, and the adapter."""

    writes: int
    adapter: str

    KEYS: ClassVar[tuple[str, ...]]

    def encode(self) -> dict[str, Any]:
        return {"writes": self.writes, "adapter": self.adapter}

    @classmethod
    def decode(cls, payload: Any, where: str = "output witness") -> OutputStats:
        read = _Fields(payload, where, cls.KEYS)
        return cls(read.integer("writes"), read.text("adapter"))


OutputStats.KEYS = _keys(OutputStats)

RoleStats = EngineStats | SyncStats | SensorStats | OutputStats
#: role -> the class of its own witness fields
ROLE_STATS: dict[str, Any] = {
    "engine": EngineStats,
    "sync": SyncStats,
    "sensor": SensorStats,
    "output": OutputStats,
}

_WITNESS_RENAMED = {"device_class": "class"}


@dataclass(frozen=True)
class Witness:
    """An actor's health, once a second on ``<actor>/witness`` (docs/wire.md, "Records").

    Rates (``rate_hz`` messages and ``samples_per_s`` samples out per second) and latencies
    (of the inputs received, mesh time from ``sent_ns`` to receipt) speak of the interval
    since the previous witness; counts are totals since the process started.  The latencies
    are None for an actor that received nothing in the interval.  ``role_fields`` holds the
    role's own keys (:class:`EngineStats`, :class:`SyncStats`, :class:`SensorStats`,
    :class:`OutputStats`; :meth:`role_stats`), sent beside the common ones.
    """

    actor: str
    role: str
    device: str
    device_class: str
    pid: int
    epoch: int
    t_ns: int
    rate_hz: float
    samples_per_s: float
    msgs_in: int
    msgs_out: int
    gaps: int
    decode_errors: int
    drops: int
    future_stamps: int
    time_violations: int
    invalid_samples: int
    unknown_consumers: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    cpu_percent: float
    rss_bytes: int
    clock_offset_ns: int
    clock_uncertainty_ns: int
    subscribers: int
    inputs: Mapping[str, InputStats] = field(default_factory=dict)
    role_fields: Mapping[str, Any] = field(default_factory=dict)

    KEYS: ClassVar[tuple[str, ...]]
    #: drop totals a reader takes as 0 when a producer older than them omits them
    LATER_KEYS: ClassVar[tuple[str, ...]]
    #: field name -> wire key, where they differ
    RENAMED: ClassVar[Mapping[str, str]]

    def with_role_fields(self, role_fields: Mapping[str, Any]) -> Witness:
        """This witness with the role's fields added; a role field named like a common key
        (an engine's ``drops``) sets that key instead."""
        common = {_WITNESS_FIELD_OF[k]: v for k, v in role_fields.items() if k in _WITNESS_FIELD_OF}
        own = {k: v for k, v in role_fields.items() if k not in _WITNESS_FIELD_OF}
        return replace(self, **common, role_fields={**self.role_fields, **own})

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "actor": self.actor,
            "role": self.role,
            "device": self.device,
            "class": self.device_class,
            "pid": self.pid,
            "epoch": self.epoch,
            "t_ns": self.t_ns,
            "rate_hz": self.rate_hz,
            "samples_per_s": self.samples_per_s,
            "msgs_in": self.msgs_in,
            "msgs_out": self.msgs_out,
            "gaps": self.gaps,
            "decode_errors": self.decode_errors,
            "drops": self.drops,
            "future_stamps": self.future_stamps,
            "time_violations": self.time_violations,
            "invalid_samples": self.invalid_samples,
            "unknown_consumers": self.unknown_consumers,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "cpu_percent": self.cpu_percent,
            "rss_bytes": self.rss_bytes,
            "clock_offset_ns": self.clock_offset_ns,
            "clock_uncertainty_ns": self.clock_uncertainty_ns,
            "subscribers": self.subscribers,
            "inputs": {name: entry.encode() for name, entry in self.inputs.items()},
        }
        out.update(self.role_fields)
        return out

    @classmethod
    def decode(cls, payload: Any, where: str = "witness") -> Witness:
        read = _Fields(payload, where, cls.KEYS)
        inputs = {
            name: InputStats.decode(entry, f"{where}: input {name!r:.60}")
            for name, entry in read.mapping("inputs").items()
        }
        return cls(
            actor=read.text("actor"),
            role=read.text("role"),
            device=read.text("device"),
            device_class=read.text("class"),
            pid=read.integer("pid"),
            epoch=read.integer("epoch"),
            t_ns=read.integer("t_ns"),
            rate_hz=read.number("rate_hz"),
            samples_per_s=read.number("samples_per_s"),
            msgs_in=read.integer("msgs_in"),
            msgs_out=read.integer("msgs_out"),
            gaps=read.integer("gaps"),
            decode_errors=read.integer("decode_errors"),
            drops=read.integer("drops"),
            **{key: read.integer(key) if key in payload else 0 for key in cls.LATER_KEYS},
            latency_p50_ms=read.optional_number("latency_p50_ms"),
            latency_p99_ms=read.optional_number("latency_p99_ms"),
            cpu_percent=read.number("cpu_percent"),
            rss_bytes=read.integer("rss_bytes"),
            clock_offset_ns=read.integer("clock_offset_ns"),
            clock_uncertainty_ns=read.integer("clock_uncertainty_ns"),
            subscribers=read.integer("subscribers"),
            inputs=inputs,
            role_fields={k: v for k, v in payload.items() if k not in cls.KEYS + cls.LATER_KEYS},
        )

    def role_stats(self) -> RoleStats:
        """The role's own fields, typed (WireError for an unknown role or malformed fields)."""
        cls = ROLE_STATS.get(self.role)
        if cls is None:
            raise WireError(f"{self.actor}/witness: role {self.role!r:.40} has no known fields")
        return cls.decode(self.role_fields, f"{self.actor}/witness")  # type: ignore[no-any-return]


Witness.RENAMED = _WITNESS_RENAMED
Witness.LATER_KEYS = ("future_stamps", "time_violations", "invalid_samples", "unknown_consumers")
Witness.KEYS = _keys(Witness, _WITNESS_RENAMED, skip=("role_fields", *Witness.LATER_KEYS))
#: wire key -> field name of every common witness key a role may set (not the inputs)
_WITNESS_FIELD_OF = {
    _WITNESS_RENAMED.get(f.name, f.name): f.name
    for f in fields(Witness)
    if f.name not in ("inputs", "role_fields")
}

Record = MeshState | Pulse | Event | Witness


def record_class(stream: str) -> type[MeshState] | type[Pulse] | type[Event] | type[Witness]:
    """Which record a record message on ``stream`` carries (the main stream of an actor that
    publishes records is a sync's: the mesh state).  WireError for an unknown suffix."""
    suffix = split_stream(stream)[1]
    kinds: dict[str, Any] = {
        "": MeshState,
        PULSE_STREAM: Pulse,
        EVENTS_STREAM: Event,
        WITNESS_STREAM: Witness,
    }
    try:
        return kinds[suffix]
    except KeyError:
        raise WireError(f"stream {stream!r}: no Kairos record travels on /{suffix}") from None


def decode_record(message: Message) -> Record:
    """The typed record a decoded record message carries (WireError if it is not one)."""
    if not message.is_record:
        raise WireError(f"stream {message.stream!r}: an array message, not a record")
    return record_class(message.stream).decode(message.data, message.stream)


def expect(message: Message, cls: type[_T]) -> _T:
    """``message``'s record as ``cls`` (WireError if it is another kind or malformed)."""
    if not message.is_record:
        raise WireError(f"stream {message.stream!r}: an array message, not a record")
    decoder: Any = cls
    return decoder.decode(message.data, message.stream)  # type: ignore[no-any-return]
