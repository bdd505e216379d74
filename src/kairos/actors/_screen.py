"""Every input row is screened before an actor uses it: its stamp, then its value.

A failing sensor sends NaN (an I²C read error), a Pi without an RTC stamps 1970, a device
steps its clock when NTP arrives, a hostile peer sends anything.  One such row integrated
into an engine's running state poisons it for good (NaN never decays out of an exponential
mean), and one row stamped an hour ahead used to hold every other input back in sample-time
order.  So each input stream gets an :class:`InputScreen` that, per row and in this order:

* drops a row stamped more than ``mesh.max_future_s`` ahead of the receiver's mesh time
  (:attr:`Reason.FUTURE_STAMP`);
* drops a row whose time is not after the stream's newest accepted row
  (:attr:`Reason.TIME_VIOLATION`: a clock stepped back, rows out of order);
* drops a row whose value is unusable (:attr:`Reason.INVALID_SAMPLE`: NaN, ±Inf, or a
  magnitude no sensor produces, see :data:`MAX_VALUE`).

Every drop is counted and told through the actor's :class:`~kairos.drops.DropLog`.  A stream
whose rows are all dropped for one clock reason for :data:`CLOCK_PERSIST_S` of mesh time has a
wrong clock, not a glitch: that is reported once (an event record, docs/wire.md "Counters").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from kairos.drops import DropLog, Reason
from kairos.records import Event, InputStats

#: the reasons a row is dropped for, in the order they are checked
ROW_REASONS = (Reason.FUTURE_STAMP, Reason.TIME_VIOLATION, Reason.INVALID_SAMPLE)
#: every input's witness entry reports these counters (0 when none)
INPUT_REASONS = (*ROW_REASONS, Reason.QUEUE_OVERFLOW)
#: the reasons that say the stream's clock is wrong
CLOCK_REASONS = (Reason.FUTURE_STAMP, Reason.TIME_VIOLATION)
#: the clock fault of an input whose rows lag the engine's other inputs for CLOCK_PERSIST_S
BEHIND = "behind"
#: an input whose every row was dropped for a clock reason this long (mesh time) is reported
#: as a wrong clock: longer than any glitch (a one-off stamp, a 1 s NTP step), short enough
#: to be told while the fault is still fresh
CLOCK_PERSIST_S = 3.0
#: the largest |value| a sample may have.  No sensor measures 1e60 of anything: such a value
#: is a corrupt word.  The bound keeps every engine quantity finite: the resonance kernel
#: divides phasor steps by Δt (≥ 1 ns) and squares them, and the engine squares |T| again, so
#: |z| ≤ 2e60 (a lock-in's output is at most twice its input) gives |T|² ≤ 2.6e278 < 1.8e308.
MAX_VALUE = 1e60
#: the largest |z| an encoding may produce (a lock-in doubles its low-passed input)
MAX_PHASOR = 2 * MAX_VALUE

_FUTURE, _VIOLATION, _INVALID = 1, 2, 3
_CODES = dict(zip(ROW_REASONS, (_FUTURE, _VIOLATION, _INVALID), strict=True))
_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


_SHORT = (np.dtype(np.float64), np.dtype(np.complex128))


def finite_values(values: np.ndarray, bound: float = MAX_VALUE) -> np.ndarray:
    """Per row: every element finite (both parts of a complex one) and |value| ≤ ``bound``.

    Integer and bool payloads are always valid (an int64 is at most 9.3e18)."""
    values = np.asarray(values)
    kind = values.dtype.kind
    if kind not in "fc":
        return np.ones(len(values), dtype=bool)
    if values.dtype in _SHORT:  # a sensor's usual payload, an engine's phasors: the short way
        # NaN and ±Inf (in either part of a complex value) fail it like any value beyond the
        # bound, and |z| of finite parts cannot overflow short of the bound: 0.9 µs for 20
        # phasors, where the long way's five calls under np.errstate took 6.5 µs
        ok = np.abs(values) <= bound
    else:  # the bound may not fit a float32, |z| may overflow: both warn, and are handled
        with np.errstate(all="ignore"):
            ok = np.isfinite(values)
            if kind == "c":
                ok &= (np.abs(values.real) <= bound) & (np.abs(values.imag) <= bound)
            ok &= np.abs(values) <= bound
    return ok if ok.ndim == 1 else ok.reshape(len(values), -1).all(axis=1)


def classify(
    times: np.ndarray,
    valid: np.ndarray,
    last_ns: int | None,
    limit_ns: int,
    ordered: bool = True,
) -> np.ndarray:
    """Each row's fate: 0 accepted, else the code of the first reason it fails.

    Sequentially: a row is accepted if it is not beyond ``limit_ns``, later than ``last_ns``
    and every row accepted before it (unless not ``ordered``), and valid.  Vectorised: the
    rows that could raise the running newest time are the in-bound valid ones (one that is not
    after it cannot raise it), so a running maximum over those is the sequential answer.
    """
    times = np.asarray(times, dtype=np.int64)
    future = times > limit_ns
    if not ordered:
        return np.where(future, _FUTURE, np.where(valid, 0, _INVALID))
    candidate = np.where(~future & valid, times, _INT64_MIN)
    newest = np.maximum.accumulate(candidate) if len(times) else candidate
    before = np.empty_like(newest)
    if len(times):
        before[0] = _INT64_MIN
        before[1:] = newest[:-1]
    if last_ns is not None:
        np.maximum(before, last_ns, out=before)
    late = times <= before
    return np.where(future, _FUTURE, np.where(late, _VIOLATION, np.where(valid, 0, _INVALID)))


def _all_pass(times: np.ndarray, valid: np.ndarray, last_ns: int | None, limit_ns: int) -> bool:
    """Whether :func:`classify` (ordered) would accept every row, in a few NumPy calls
    instead of a dozen: every row valid, strictly later than the one before it (the first
    than ``last_ns``), and the newest not beyond ``limit_ns``.  What nearly every message of
    a working sensor is (an engine's receive path: ~10 µs a message less)."""
    n = len(times)
    return bool(
        n
        and valid.all()
        and times[n - 1] <= limit_ns
        and (last_ns is None or times[0] > last_ns)
        and (n == 1 or (times[1:] > times[:-1]).all())
    )


class InputScreen:
    """One input stream's screen: counts its dropped rows and watches its clock.

    ``ordered=False`` leaves time order unchecked, for a stream whose rows may legitimately
    go back in time: an engine with several inputs publishes one row per input row, so two
    sensors sampling together give every sample time twice (see kairos.actors.sync).
    """

    def __init__(
        self, stream: str, max_future_s: float, drops: DropLog, ordered: bool = True
    ) -> None:
        self.stream = stream
        self.ordered = ordered
        self.max_future_ns = round(max_future_s * 1e9)
        self.drops = drops
        #: the clock reason this stream is reported for, while it lasts (witness ``clock``)
        self.clock_fault: str | None = None
        self._run_reason: Reason | None = None
        self._run_since_ns = 0

    def check(
        self,
        times: np.ndarray,
        valid: np.ndarray,
        last_ns: int | None,
        now_ns: int,
        values: np.ndarray | None = None,
    ) -> tuple[np.ndarray, str | None]:
        """The mask of the rows to use, and a clock reason if it has just become persistent.

        ``valid`` says per row whether its value is usable; ``last_ns`` is the stream's newest
        accepted row; ``values`` (optional) is shown with the first invalid value logged.
        """
        limit_ns = min(now_ns + self.max_future_ns, _INT64_MAX)  # a huge max_future_s
        if self.ordered and _all_pass(times, valid, last_ns, limit_ns):
            self._clock_ok()
            return valid, None
        fate = classify(times, valid, last_ns, limit_ns, self.ordered)
        accepted = fate == 0
        if accepted.all():
            self._clock_ok()
            return accepted, None
        for reason in ROW_REASONS:
            bad = np.flatnonzero(fate == _CODES[reason])
            if len(bad):
                self.drops.drop(
                    self.stream,
                    reason,
                    len(bad),
                    **self._detail(reason, bad[0], times, values, last_ns, now_ns),
                )
        if accepted.any():
            self._clock_ok()
            return accepted, None
        return accepted, self._clock_watch(fate, now_ns)

    def _detail(
        self,
        reason: Reason,
        row: int,
        times: np.ndarray,
        values: np.ndarray | None,
        last_ns: int | None,
        now_ns: int,
    ) -> dict[str, Any]:
        t_ns = int(times[row])
        if reason is Reason.FUTURE_STAMP:
            return {"t_ns": t_ns, "ahead_s": round((t_ns - now_ns) / 1e9, 3)}
        if reason is Reason.TIME_VIOLATION:
            return {"t_ns": t_ns, "last_t_ns": last_ns}
        return {"t_ns": t_ns, "value": str(values[row]) if values is not None else None}

    @property
    def settled(self) -> bool:
        """No clock fault and no run of dropped rows: a message whose rows all pass changes
        nothing (so a caller that screened a batch at once may skip :meth:`passed`)."""
        return self.clock_fault is None and self._run_reason is None

    def passed(self) -> None:
        """Account for a message whose every row was accepted, screened by the caller (what
        :meth:`check` does when ``accepted.all()``)."""
        self._clock_ok()

    def _clock_ok(self) -> None:
        if self.clock_fault != BEHIND:  # rows that pass do not say the stream caught up
            self.clock_fault = None
        self._run_reason = None

    def _clock_watch(self, fate: np.ndarray, now_ns: int) -> str | None:
        """Extend the run of all-dropped messages; report its reason once it has persisted."""
        counts = {reason: int(np.count_nonzero(fate == _CODES[reason])) for reason in CLOCK_REASONS}
        reason = max(CLOCK_REASONS, key=counts.__getitem__)
        if counts[reason] == 0:
            return None  # only invalid values: the clock is not in question
        if reason is not self._run_reason:
            self._run_reason, self._run_since_ns = reason, now_ns
        if self.clock_fault is None and now_ns - self._run_since_ns >= CLOCK_PERSIST_S * 1e9:
            self.clock_fault = reason.value
            return reason.value
        return None


def clock_event(stream: str, reason: str, now_ns: int) -> dict[str, Any]:
    """The event record telling that ``stream``'s clock is wrong (docs/wire.md "Counters")."""
    return Event.clock(stream, reason, now_ns).encode()


def degraded_event(state: bool, reason: str, now_ns: int) -> dict[str, Any]:
    """The event record telling that every input row is being dropped (or is valid again)."""
    return Event.degraded(state, reason, now_ns).encode()


def clock_faults(screens: Mapping[str, InputScreen]) -> dict[str, dict[str, Any]]:
    """Each input's clock fault, as the role's part of its witness entry (InputStats.clock)."""
    return {name: {InputStats.CLOCK_KEY: screen.clock_fault} for name, screen in screens.items()}


def witness_counts(drops: DropLog, stream: str) -> dict[str, int]:
    """One input's drop counters for the witness record: INPUT_REASONS always, others if any."""
    counts: dict[str, int] = {reason.value: 0 for reason in INPUT_REASONS}
    counts.update(drops.counts(stream))
    return counts
