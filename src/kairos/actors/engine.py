"""The engine role: streaming phase, coherence, resonance and collapse (docs/design.md §5.1–5.4).

Each input stream is encoded to phasors and integrated over the fast (Emissary) and slow
(Master) windows with its own state, so every stream keeps exact time handling under
irregular sampling.  An engine with several inputs is one node: its state is the pooled
phasor of its inputs, C = |Σ s_i| / Σ m_i and R = |Σ T_i|² / (Σ E_i · Σ E′_i).

Input messages are processed in sample-time order, not arrival order (a message waits until
every other live input has caught up with it), so the same input messages always give the
same outputs, bit for bit: what makes a replay reproduce a live run.

Every input row is screened before it is queued (kairos.actors._screen, docs/wire.md
"Counters"): a row stamped beyond mesh time + ``mesh.max_future_s``, not after its stream's
newest accepted row, or with a non-finite value is dropped and counted, and never reaches the
state.  So a stream with a wrong clock cannot hold the others back: its dropped rows never
enter the sample-time order, and one whose rows lag the others by far is not waited for.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kairos import _log, kernels
from kairos.actors._checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from kairos.actors._runtime import Actor, ActorContext, Outgoing
from kairos.actors._screen import (
    BEHIND,
    CLOCK_PERSIST_S,
    MAX_PHASOR,
    ROW_REASONS,
    InputScreen,
    clock_event,
    clock_faults,
    degraded_event,
    finite_values,
)
from kairos.actors.encodings import Encoder, make_encoder
from kairos.actors.spec import ActorProcessSpec
from kairos.drops import DropLog, Reason
from kairos.errors import ConfigError
from kairos.records import EVENTS_STREAM, EngineStats, Event
from kairos.topologies.model import Encoding
from kairos.wire import Message

#: an engine row's columns and windows: the kernels' (kairos.kernels.node_step)
ENGINE_FIELDS = kernels.NODE_COLUMNS
WINDOWS = kernels.NODE_WINDOWS
#: the node's collapse flags (each window's, then the pair's) and where a row carries each
COLLAPSE_FLAGS = kernels.COLLAPSE_FLAGS
COLUMN = {name: i for i, name in enumerate(ENGINE_FIELDS)}
#: what one pass found for a flag: (flag, rows where it changed, its column, the resonances)
_Changes = tuple[str, np.ndarray, np.ndarray, np.ndarray]
#: an input silent this long (and at least 3 of its message periods) no longer holds others back
MIN_STALE_S = 1.0
CHECKPOINT_FILE = "checkpoint.bin"
#: messages an input may queue while it waits for the others; beyond, the oldest are dropped
#: (and counted): a stalled input can never eat the device's memory
MAX_QUEUED = 4096
#: an engine that has dropped every input row (of every input) for this long reports itself
#: degraded: a second is 5 to 50 messages of a sensor, never a single glitch
DEGRADED_AFTER_S = 1.0
#: at most this many rows of one input go through the kernels in one pass.  When several
#: messages of an input wait (a backlog after a stall, or a fast input that waited for a
#: slow one), a pass costs mostly per call, not per row: a 40-row lock-in message takes
#: 136-155 µs alone, 33-54 µs a message in runs of 25 or more (131-158 µs whatever the
#: backlog before runs), so a run is what lets a stalled engine catch up; each input message
#: still gives its own row message, bit for bit the one it gives alone
#: (tests/actors/test_engine_runs.py)
MAX_RUN_ROWS = 4096


@dataclass
class _WindowState:
    """One stream's running state in one window, and its latest pooled contributions."""

    integrate: Any = None
    resonance: Any = None
    s: complex = 0j
    m: float = 0.0
    t: complex = 0j
    e: float = 0.0
    e_lag: float = 0.0

    def states(self) -> kernels.WindowStates:
        return kernels.WindowStates(self.integrate, self.resonance)

    def advance(self, states: kernels.WindowStates) -> None:
        """Take the states a kernel pass left; its latest contributions are theirs."""
        self.integrate, self.resonance = states
        if states.integrate is not None:
            self.s, self.m = states.integrate.s, states.integrate.m
        if states.resonance is not None:
            self.t, self.e, self.e_lag = (
                states.resonance.t,
                states.resonance.e,
                states.resonance.e_lag,
            )

    def snapshot(self) -> dict[str, Any]:
        return {
            "integrate": list(self.integrate) if self.integrate else None,
            "resonance": list(self.resonance) if self.resonance else None,
            "pooled": [self.s, self.m, self.t, self.e, self.e_lag],
        }

    def restore(self, saved: dict[str, Any]) -> None:
        if saved["integrate"]:
            self.integrate = kernels.IntegrateState(*saved["integrate"])
        if saved["resonance"]:
            started, t_prev, z_prev, ring, t, e, e_lag = saved["resonance"]
            self.resonance = kernels.ResonanceState(
                started, t_prev, z_prev, tuple(ring), t, e, e_lag
            )
        self.s, self.m, self.t, self.e, self.e_lag = saved["pooled"]


@dataclass
class _InputState:
    stream: str
    index: int
    encoder: Encoder
    windows: dict[str, _WindowState] = field(
        default_factory=lambda: {w: _WindowState() for w in WINDOWS}
    )
    queue: deque[Message] = field(default_factory=deque)
    last_time: int | None = None
    last_heard_ns: int | None = None
    period_ns: float = 0.0
    #: smoothed sample time its messages advance by (their span, whatever the arrival rate)
    span_ns: float = 0.0
    #: mesh time since which its rows lag the engine's other inputs (see Engine._lags)
    behind_since_ns: int | None = None
    #: every row of its latest message was dropped: it holds no other input back
    dropping: bool = False

    def note_arrival(self, message: Message, now_ns: int) -> int:
        """Queue one message; returns how many old ones had to be dropped for it (0 or 1)."""
        if len(message.times) and self.last_time is not None:
            advance = int(message.times[-1]) - self.last_time
            self.span_ns = advance if self.span_ns == 0 else 0.9 * self.span_ns + 0.1 * advance
        if self.last_heard_ns is not None:
            interval = now_ns - self.last_heard_ns
            self.period_ns = (
                interval if self.period_ns == 0 else 0.9 * self.period_ns + 0.1 * interval
            )
        self.last_heard_ns = now_ns
        dropped = 0
        if len(self.queue) >= MAX_QUEUED:
            self.queue.popleft()
            dropped = 1
        self.queue.append(message)
        if len(message.times):
            last = int(message.times[-1])
            self.last_time = last if self.last_time is None else max(self.last_time, last)
        return dropped

    def stale(self, now_ns: int, started_ns: int) -> bool:
        limit = max(MIN_STALE_S * 1e9, 3 * self.period_ns)
        reference = self.last_heard_ns if self.last_heard_ns is not None else started_ns
        return now_ns - reference > limit


class Engine(Actor):
    """Integrates its inputs into one node's phase, coherence, resonance and collapse."""

    def __init__(self, spec: ActorProcessSpec) -> None:
        if spec.windows is None or len(spec.windows) != 2:
            raise ConfigError(f"engine {spec.name!r} needs windows (fast, slow): {spec.windows}")
        self.spec = spec
        self.taus = dict(zip(WINDOWS, spec.windows, strict=True))
        self.threshold = spec.mesh.collapse_threshold
        self.hysteresis = spec.mesh.hysteresis
        self.encoding = spec.encoding or Encoding()
        self.inputs = {
            link.stream: _InputState(
                link.stream, i, make_encoder(self.encoding.type, self.encoding.params)
            )
            for i, link in enumerate(spec.inputs)
        }
        self.collapsed = {"fast": False, "slow": False, "pair": False}
        self.started_ns: int | None = None
        self.last_now_ns: int | None = None
        self.rows_out = 0
        self.checkpoint_path: Path | None = None
        self.next_checkpoint_ns: int | None = None
        self.restored_from_ns: int | None = None
        self.log: Any = _log.get("engine", actor=spec.name)  # the runtime's, once set up
        self._init_screens(DropLog(self.log))

    def _init_screens(self, drops: DropLog) -> None:
        """Every input's screen, counting into ``drops`` (the runtime's, once set up)."""
        self.drop_log = drops
        max_future_s = self.spec.mesh.max_future_s
        self.screens = {name: InputScreen(name, max_future_s, drops) for name in self.inputs}
        #: the drop reason the engine is degraded by (every input row dropped), or None
        self.degraded: str | None = None
        self._healthy_ns: int | None = None  # mesh time of the last accepted row
        self._totals_healthy = dict.fromkeys(ROW_REASONS, 0)
        self._count_healthy = -1  # the drop log's count when they were taken (-1: never)

    def setup(self, context: ActorContext) -> None:
        self.log = context.log
        if context.drops is not None:
            self._init_screens(context.drops)
        if self.spec.checkpoint_s <= 0:
            return
        self.checkpoint_path = context.work_dir / CHECKPOINT_FILE
        if self.checkpoint_path.exists():
            try:
                self.restore(read_checkpoint(self.checkpoint_path))
            except (CheckpointError, KeyError, TypeError, ValueError) as exc:
                self.log.warning("ignoring unusable checkpoint", error=str(exc))
            else:
                self.log.info("resumed from checkpoint", t_ns=self.restored_from_ns)

    def _identity(self) -> dict[str, Any]:
        """What must match for a checkpoint to be continued: windows, encoding, inputs."""
        return {
            "windows": list(self.spec.windows or ()),
            "encoding": self.encoding.to_dict(),
            "inputs": sorted(self.inputs),
            "lag": self.spec.lag,
            "omega_hz": self.spec.omega_hz,
        }

    def snapshot(self, now_ns: int) -> dict[str, Any]:
        """The integration state of every input and window, as a checkpoint document."""
        return {
            "engine": self.spec.name,
            "t_ns": now_ns,
            "identity": self._identity(),
            "collapsed": dict(self.collapsed),
            "inputs": {
                name: {
                    "encoder": state.encoder.state(),
                    "last_time": state.last_time,
                    "windows": {w: state.windows[w].snapshot() for w in WINDOWS},
                }
                for name, state in self.inputs.items()
            },
        }

    def restore(self, document: dict[str, Any]) -> None:
        if document.get("identity") != self._identity():
            raise CheckpointError("checkpoint belongs to an engine with other windows or inputs")
        for name, saved in document["inputs"].items():
            state = self.inputs[name]
            if saved["encoder"] is not None:
                state.encoder.restore(saved["encoder"])
            state.last_time = saved["last_time"]
            for window in WINDOWS:
                state.windows[window].restore(saved["windows"][window])
        self.collapsed.update(document["collapsed"])
        self.restored_from_ns = int(document["t_ns"])

    def _maybe_checkpoint(self, now_ns: int, force: bool = False) -> None:
        if self.checkpoint_path is None:
            return
        if self.next_checkpoint_ns is None:
            self.next_checkpoint_ns = now_ns + int(self.spec.checkpoint_s * 1e9)
        if force or now_ns >= self.next_checkpoint_ns:
            write_checkpoint(self.checkpoint_path, self.snapshot(now_ns))
            self.next_checkpoint_ns = now_ns + int(self.spec.checkpoint_s * 1e9)

    def update(self, now_ns: int, inputs: Sequence[Message]) -> Iterable[Outgoing]:
        if self.started_ns is None:
            self.started_ns = now_ns  # inputs never heard of count as silent from here
        self.last_now_ns = now_ns
        outgoing: list[Outgoing] = []
        rows_in = rows_taken = 0
        for message in inputs:
            state = self.inputs.get(message.stream)
            if state is not None and not message.is_record:
                rows_in += len(message.times)
                taken = self._admit(state, message, now_ns, outgoing)
                state.dropping = taken is None and len(message.times) > 0
                if taken is not None:
                    rows_taken += len(taken.times)
                    if state.note_arrival(taken, now_ns):
                        self.drop_log.drop(state.stream, Reason.QUEUE_OVERFLOW, queued=MAX_QUEUED)
        outgoing.extend(self._health(now_ns, rows_in, rows_taken))
        outgoing.extend(self._watch_lag(now_ns))
        while (ready := self._next_ready(now_ns)) is not None:
            run = [ready.queue.popleft()]
            rows = len(run[0].times)
            while (
                ready.queue
                and rows + len(ready.queue[0].times) <= MAX_RUN_ROWS
                and self._next_ready(now_ns) is ready
            ):
                run.append(ready.queue.popleft())
                rows += len(run[-1].times)
            outgoing.extend(self._process(ready, run))
        self._maybe_checkpoint(now_ns)
        return outgoing

    def teardown(self) -> None:
        if self.last_now_ns is not None:
            self._maybe_checkpoint(self.last_now_ns, force=True)

    def _admit(
        self, state: _InputState, message: Message, now_ns: int, events: list[Outgoing]
    ) -> Message | None:
        """The message with only its acceptable rows (None if none is): a row stamped beyond
        mesh time + ``max_future_s``, not after the input's newest accepted row, or whose
        value is not finite is dropped, counted and told (kairos.actors._screen)."""
        times = np.asarray(message.times, dtype=np.int64)
        values = state.encoder.used_values(np.asarray(message.data))
        valid = finite_values(values) if values is not None else np.zeros(len(times), dtype=bool)
        accepted, clock = self.screens[state.stream].check(
            times, valid, state.last_time, now_ns, values
        )
        if clock is not None:
            self.log.warning("input clock is wrong", stream=state.stream, reason=clock)
            events.append(
                Outgoing(EVENTS_STREAM, [now_ns], clock_event(state.stream, clock, now_ns))
            )
        if accepted.all():
            return message
        if not accepted.any():
            return None
        return dataclasses.replace(message, times=times[accepted], data=message.data[accepted])

    def _health(self, now_ns: int, rows_in: int, rows_taken: int) -> list[Outgoing]:
        """Degraded after DEGRADED_AFTER_S of every input row dropped; recovered at the next
        accepted row.  Told by one event record each way (never a stale number instead)."""
        if self._healthy_ns is None:
            self._healthy_ns = now_ns
        if rows_taken:
            self._healthy_ns = now_ns
            if self.drop_log.count != self._count_healthy:  # 6 µs a message otherwise
                self._count_healthy = self.drop_log.count
                self._totals_healthy = {r: self.drop_log.total(r) for r in ROW_REASONS}
            if self.degraded is None:
                return []
            reason, self.degraded = self.degraded, None
            self.log.warning("engine recovered: valid input again", reason=reason)
            return [Outgoing(EVENTS_STREAM, [now_ns], degraded_event(False, reason, now_ns))]
        if not rows_in or self.degraded is not None:
            return []
        if now_ns - self._healthy_ns < DEGRADED_AFTER_S * 1e9:
            return []
        since = {r: self.drop_log.total(r) - self._totals_healthy[r] for r in ROW_REASONS}
        self.degraded = max(ROW_REASONS, key=since.__getitem__).value
        self.log.warning("engine degraded: every input row dropped", reason=self.degraded)
        return [Outgoing(EVENTS_STREAM, [now_ns], degraded_event(True, self.degraded, now_ns))]

    def _lags(self, state: _InputState, time_ns: int) -> bool:
        """Whether ``state``'s newest row lags ``time_ns`` by more than any live input would:
        its clock is behind (a Pi without an RTC in 1970, a device an hour slow), and waiting
        for it to catch up in sample time would stall the others."""
        if state.last_time is None:
            return False
        return time_ns - state.last_time > max(MIN_STALE_S * 1e9, 3 * state.span_ns)

    def _watch_lag(self, now_ns: int) -> list[Outgoing]:
        """Report once an input whose rows have lagged the others for CLOCK_PERSIST_S."""
        start = self.started_ns or now_ns
        live = [s for s in self.inputs.values() if not s.stale(now_ns, start)]
        newest = max((s.last_time for s in live if s.last_time is not None), default=None)
        events = []
        for state in live:
            screen = self.screens[state.stream]
            if newest is None or not self._lags(state, newest):
                state.behind_since_ns = None
                if screen.clock_fault == BEHIND:
                    screen.clock_fault = None
                continue
            if state.behind_since_ns is None:
                state.behind_since_ns = now_ns
            persisted = now_ns - state.behind_since_ns >= CLOCK_PERSIST_S * 1e9
            if persisted and screen.clock_fault is None:
                screen.clock_fault = BEHIND
                self.log.warning("input clock is wrong", stream=state.stream, reason=BEHIND)
                events.append(
                    Outgoing(EVENTS_STREAM, [now_ns], clock_event(state.stream, BEHIND, now_ns))
                )
        return events

    def _next_ready(self, now_ns: int) -> _InputState | None:
        """The input whose head message is next in sample-time order, if it may go now."""
        heads = [s for s in self.inputs.values() if s.queue]
        if not heads:
            return None
        candidate = min(heads, key=lambda s: (_first_time(s.queue[0]), s.index))
        first = _first_time(candidate.queue[0])
        for other in self.inputs.values():
            if other is candidate or other.queue:
                continue
            caught_up = other.last_time is not None and other.last_time >= first
            if caught_up or other.dropping or self._lags(other, first):
                continue
            if not other.stale(now_ns, self.started_ns or now_ns):
                return None
        return candidate

    def _process(self, source: _InputState, run: list[Message]) -> list[Outgoing]:
        """Integrate ``run``, consecutive messages of ``source`` in sample-time order, in one
        pass of the kernels, and give one row message per input message that kept a row."""
        pieces = [p for p in (self._phasors(source, m) for m in run) if len(p[0])]
        if not pieces:
            return []
        if len(pieces) == 1:
            times, z = pieces[0]
        else:
            times = np.concatenate([t for t, _ in pieces])
            z = np.concatenate([z for _, z in pieces])
        others = [s for s in self.inputs.values() if s is not source]
        step = kernels.node_step(
            times,
            z,
            (self.taus["fast"], self.taus["slow"]),
            self.spec.omega_hz,
            self.spec.lag,
            (source.windows["fast"].states(), source.windows["slow"].states()),
            (_pooled(others, "fast"), _pooled(others, "slow")) if others else None,
            self.threshold,
            self.hysteresis,
            (self.collapsed["fast"], self.collapsed["slow"], self.collapsed["pair"]),
        )
        for window, states in zip(WINDOWS, step.windows, strict=True):
            source.windows[window].advance(states)
        self.collapsed.update(zip(COLLAPSE_FLAGS, step.collapsed, strict=True))
        rows = step.rows
        changed = [
            (
                flag,
                changes,
                rows[:, COLUMN[f"collapsed_{flag}"]],
                rows[:, COLUMN[f"resonance_{flag}"]],
            )
            for flag, changes in zip(COLLAPSE_FLAGS, step.changes, strict=True)
        ]
        self.rows_out += len(rows)
        if len(pieces) == 1:
            return [Outgoing("", times, rows, ENGINE_FIELDS), *self._events(changed, times)]
        bounds = np.cumsum([len(t) for t, _ in pieces[:-1]])
        out = [
            Outgoing("", t, part, ENGINE_FIELDS)
            for (t, _), part in zip(pieces, np.split(rows, bounds), strict=True)
        ]
        return [*out, *self._events(changed, times, bounds)]

    def _phasors(self, source: _InputState, message: Message) -> tuple[np.ndarray, np.ndarray]:
        """One message's sample times and their usable phasors (its encoder's state goes on)."""
        times = np.ascontiguousarray(message.times, dtype=np.int64)
        if len(times) == 0:
            return times, np.zeros(0, dtype=np.complex128)
        z = source.encoder.encode(times, np.asarray(message.data))
        return self._usable_phasors(source, times, z)

    def _usable_phasors(
        self, source: _InputState, times: np.ndarray, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Defence in depth: the rows whose phasor is finite and bounded (MAX_PHASOR); the
        inputs were screened, so a drop here means an encoding misbehaved."""
        ok = finite_values(z, MAX_PHASOR)
        if ok.all():
            return times, z
        bad = np.flatnonzero(~ok)
        self.drop_log.drop(
            source.stream,
            Reason.INVALID_SAMPLE,
            len(bad),
            t_ns=int(times[bad[0]]),
            phasor=str(z[bad[0]]),
        )
        return times[ok], z[ok]

    def _events(
        self,
        changed: list[_Changes],
        times: np.ndarray,
        bounds: np.ndarray | None = None,
    ) -> list[Outgoing]:
        """One collapse event per state change, for each window's ``(window, changes,
        collapsed, resonance)``.  In the order one message at a time gives them: by input
        message (``bounds`` split a run's rows into its messages), then by window, then by
        row."""
        found = [
            (i, rank, window, collapsed, values)
            for rank, (window, changes, collapsed, values) in enumerate(changed)
            for i in changes.tolist()
        ]
        if bounds is not None and len(found) > 1:
            message_of = np.searchsorted(bounds, [f[0] for f in found], side="right").tolist()
            order = sorted(range(len(found)), key=lambda k: (message_of[k], found[k][1]))
            found = [found[k] for k in order]  # stable: rows stay in order within a window
        return [
            Outgoing(
                EVENTS_STREAM,
                [int(times[i])],
                Event.collapse(
                    window, bool(collapsed[i]), int(times[i]), float(values[i])
                ).encode(),
            )
            for i, _rank, window, collapsed, values in found
        ]

    def witness(self) -> dict[str, Any]:
        stats = EngineStats(
            rows_out=self.rows_out,
            degraded=self.degraded,
            queued={name: len(s.queue) for name, s in self.inputs.items()},
            collapsed=dict(self.collapsed),
        )
        # each input's clock fault joins the runtime's per-input entry (InputStats.clock)
        return {**stats.encode(), "inputs": clock_faults(self.screens)}


def _first_time(message: Message) -> int:
    return int(message.times[0]) if len(message.times) else message.sent_ns


def _pooled(others: list[_InputState], window: str) -> kernels.Pooled:
    """What ``others`` add to ``window``, each as it last stood."""
    states = [o.windows[window] for o in others]
    return kernels.Pooled(
        sum(w.s for w in states),
        sum(w.m for w in states),
        sum(w.t for w in states),
        sum(w.e for w in states),
        sum(w.e_lag for w in states),
    )
