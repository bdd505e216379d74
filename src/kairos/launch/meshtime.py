"""Mesh time from the launcher: probe every agent, estimate offsets, send corrections.

Every 2 s (every 0.25 s while some device's estimator is young, as NTP's ``iburst``:
:meth:`MeshTimeKeeper.interval`) each reachable agent gets a burst of 8 ``clock`` probes;
each device's :class:`~kairos.clocksync.OffsetEstimator` takes the burst in; the estimates,
evaluated at one launcher instant, become corrections
(:func:`~kairos.clocksync.mesh_offsets`; with a named reference, fitted to the differences
of the two devices' samples, the residuals' scale pooled over the devices:
:func:`~kairos.clocksync.paired_corrections`) sent with
``clock_set``.  Corrections are sent without waiting for their replies (the launcher's loop
hands them back through :meth:`MeshTimeKeeper.settle`): an agent that dies between its
probes and its correction must not stall the heartbeats that will report it lost.

Before any actor is spawned, :meth:`MeshTimeKeeper.join` runs one round and waits for its
corrections: an agent's first correction is applied as a step, so a device that joins
seconds off publishes on mesh time from its first message.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Iterable, Mapping

from kairos import _log
from kairos.clocksync import (
    BURST_INTERVAL_S,
    BURST_SIZE,
    YOUNG_INTERVAL_S,
    ClockEstimate,
    MeshOffsets,
    OffsetEstimator,
    ProbeSample,
    mesh_offsets,
    paired_corrections,
)
from kairos.control.client import ControlClient
from kairos.control.commands import Clock, ClockSet
from kairos.control.protocol import Reply
from kairos.errors import AgentError, KairosError
from kairos.meshtime import DEFAULT_STEP_THRESHOLD_S

PROBE_TIMEOUT_S = 0.25
#: consecutive lost probes that end a burst
MAX_LOST_IN_A_ROW = 2


class MeshTimeKeeper:
    """One estimator per device; ``round()`` probes and corrects every given agent."""

    def __init__(
        self, reference: str | None, step_threshold_s: float = DEFAULT_STEP_THRESHOLD_S
    ) -> None:
        self.reference = reference
        #: a correction that moves a device's mesh time further than this is a step
        self.step_threshold_s = step_threshold_s
        self.estimators: dict[str, OffsetEstimator] = {}
        #: each device's bound on its base's error (from its clock replies), added to its
        #: uncertainty: mesh time is meant to be the reference's true time, not its reading
        self.base_errors: dict[str, int] = {}
        self.last: MeshOffsets | None = None
        #: clock_set requests sent and not yet answered: request id -> device
        self.pending: dict[str, str] = {}
        self._log = _log.get("launch.meshtime")

    def interval(self, devices: Iterable[str]) -> float:
        """Seconds until the next round: :data:`~kairos.clocksync.YOUNG_INTERVAL_S` while any
        of ``devices`` has no estimator yet or a young one, else
        :data:`~kairos.clocksync.BURST_INTERVAL_S`."""
        for device in devices:
            estimator = self.estimators.get(device)
            if estimator is None or estimator.young:
                return YOUNG_INTERVAL_S
        return BURST_INTERVAL_S

    def round(self, clients: Mapping[str, ControlClient]) -> MeshOffsets | None:
        """Probe each agent once (a burst), then send every device that answered its correction.

        A device none of whose probes came back (an agent that just died) still counts
        in the estimates through its history, but gets no ``clock_set``.  Replies to the
        corrections come back through the launcher's loop (:meth:`settle`).
        """
        self.pending.clear()  # a correction unanswered for a whole round is moot: forget it
        answered: set[str] = set()
        for device, client in clients.items():
            burst = probe_burst(client, base_errors=self.base_errors, device=device)
            if burst:
                answered.add(device)
                self.estimators.setdefault(device, OffsetEstimator()).add_burst(burst)
        any_client = next(iter(clients.values()), None)
        if any_client is None:
            return None
        now = any_client.now_ns()
        estimates: dict[str, ClockEstimate] = {}
        for device in clients:
            estimator = self.estimators.get(device)
            if estimator is None:
                continue
            try:
                estimate = estimator.estimate(now)
            except KairosError:
                continue
            estimates[device] = dataclasses.replace(
                estimate,
                uncertainty_ns=estimate.uncertainty_ns + self.base_errors.get(device, 0),
            )
        reference = self.reference if self.reference in estimates else None
        if self.reference is not None and reference is None:
            return None  # the reference device is not reachable: keep the last corrections
        # with a named reference each correction is fitted to the differences of paired
        # samples, in which what disturbs the launcher cancels, with the residuals' scale
        # pooled over the devices probed now (clocksync.paired_corrections)
        live = {device: self.estimators[device] for device in estimates}
        paired = paired_corrections(live, reference, now, self.base_errors)
        try:
            offsets = mesh_offsets(estimates, reference, paired=paired)
        except KairosError as exc:
            self._log.warning("mesh time not estimated", error=str(exc))
            return None
        for device in offsets.offsets:
            if device not in answered:
                continue
            correction = offsets.correction(device)
            command = ClockSet(
                offset_ns=correction.offset_ns,
                skew_ppm=correction.skew_ppm,
                uncertainty_ns=correction.uncertainty_ns,
                anchor_ns=correction.anchor_ns,
                step_threshold_ns=round(self.step_threshold_s * 1e9),
            )
            try:
                self.pending[clients[device].send(command)] = device
            except AgentError as exc:
                self._log.warning("clock_set failed", device=device, error=str(exc))
        if offsets.falsetickers and (
            self.last is None or offsets.falsetickers != self.last.falsetickers
        ):
            self._log.warning(
                "falsetickers left out of mesh time", devices=sorted(offsets.falsetickers)
            )
        self.last = offsets
        return offsets

    def join(self, clients: Mapping[str, ControlClient], timeout_s: float = 2.0) -> set[str]:
        """One round, waiting for its corrections: the devices whose clock is now synced.

        Called before any actor is spawned: each agent takes its first correction as a step,
        so its actors publish on mesh time from their first message.  A device that does
        not answer in time is synced by a later round (a step too, and its actors then
        start a new epoch)."""
        self.round(clients)
        synced: set[str] = set()
        deadline = time.monotonic() + timeout_s
        for request_id, device in list(self.pending.items()):
            try:
                reply = clients[device].wait(request_id, max(0.0, deadline - time.monotonic()))
            except AgentError as exc:
                self._log.warning("first clock_set not answered", device=device, error=str(exc))
                continue
            if self.settle(reply) and reply.ok:
                synced.add(device)
        return synced

    def settle(self, reply: Reply) -> bool:
        """Take the reply to a ``clock_set`` this keeper sent (False: not one of ours)."""
        device = self.pending.pop(reply.id, None)
        if device is None:
            return False
        if not reply.ok:
            self._log.warning(
                "clock_set refused", device=device, code=reply.code, error=reply.error
            )
            return True
        try:
            result = ClockSet.parse_result(reply.result)
        except KairosError:
            return True
        if result.stepped:
            self._log.info(
                "clock stepped", device=device, steps=result.steps, offset_ns=result.offset_ns
            )
        return True


def probe_burst(
    client: ControlClient,
    size: int = BURST_SIZE,
    *,
    base_errors: dict[str, int] | None = None,
    device: str = "",
) -> list[ProbeSample]:
    """Up to ``size`` probes back to back; the lost ones are left out.  The agent's bound on
    its base's error is stored in ``base_errors[device]`` when given.

    The burst ends early after ``MAX_LOST_IN_A_ROW`` consecutive losses: an agent that just
    died would otherwise hold the launcher's loop for ``size × PROBE_TIMEOUT_S``, delaying
    the heartbeats that report it lost.
    """
    samples: list[ProbeSample] = []
    delays: list[int] = []
    lost_in_a_row = 0
    for _ in range(size):
        sample = probe(client, base_errors, device, delays)
        if sample is None:
            lost_in_a_row += 1
            if lost_in_a_row >= MAX_LOST_IN_A_ROW:
                break
            continue
        lost_in_a_row = 0
        samples.append(sample)
    measured = [d for d in delays if d > 0]
    if measured:
        # the agent's replies reach its socket this long after their t3: count it on the
        # agent's side, not as network time on the way back (it biased offsets by −2…−3 µs)
        delay = int(statistics.median(measured))
        samples = [
            ProbeSample(s.t1, s.t2, min(s.t3 + delay, s.t2 + (s.t4 - s.t1)), s.t4) for s in samples
        ]
    return samples


def probe(
    client: ControlClient,
    base_errors: dict[str, int] | None = None,
    device: str = "",
    delays: list[int] | None = None,
) -> ProbeSample | None:
    """One four-timestamp probe, or None when it is lost or inconsistent (the agent's base
    error goes to ``base_errors[device]`` when given)."""
    try:
        # t1 and t4 are stamped around the socket calls, not around the encoding
        reply, t1, t4 = client.timed_exchange(client.request(Clock()), PROBE_TIMEOUT_S)
    except AgentError:
        return None
    if not reply.ok:
        return None
    try:
        reading = Clock.parse_result(reply.result)
        if base_errors is not None:
            base_errors[device] = reading.base_error_ns
        if delays is not None:
            delays.append(reading.send_delay_ns)
        return ProbeSample(t1, reading.t2, reading.t3, t4)
    except KairosError:
        return None
