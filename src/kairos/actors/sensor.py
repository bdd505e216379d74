"""The sensor role: samples an adapter on a regular mesh-time grid and publishes chunks.

Sample times sit on a grid of ``1/rate_hz`` aligned to mesh time, so sensors of the same
rate on different devices sample at the same instants.  Only whole chunks are sent; after a
stall of more than a second the sensor skips ahead and counts the skipped samples as drops.

An adapter's ``read`` that raises (an I²C error, a USB device gone for a moment) costs only
that read's samples: they are skipped, the read is counted (``read_errors``) and logged
through the drop log, and the grid moves on.  Only when ``max_read_errors`` reads in a row
have failed and the next one fails too does the actor end with a DeviceError (exit 1), so
that its restart policy reopens the device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from kairos.actors._runtime import Actor, ActorContext, Outgoing
from kairos.actors.adapters import (
    AdapterContext,
    SensorAdapter,
    construct,
    sensor_adapter,
)
from kairos.actors.spec import ActorProcessSpec
from kairos.drops import DropLog, Reason
from kairos.errors import ConfigError, DeviceError, WireError
from kairos.records import Pulse, SensorStats
from kairos.topologies.model import default_chunk
from kairos.wire import Message

#: behind by more than this, a sensor skips ahead instead of bursting out old samples
MAX_BACKLOG_NS = 1_000_000_000


class Sensor(Actor):
    """Publishes ``chunk`` samples at a time from its adapter."""

    def __init__(self, spec: ActorProcessSpec) -> None:
        if not spec.rate_hz or spec.rate_hz <= 0 or not spec.adapter:
            raise ConfigError(f"sensor {spec.name!r} needs rate_hz above 0 and an adapter")
        self.spec = spec
        self.rate_hz = float(spec.rate_hz)
        self.step_ns = round(1e9 / self.rate_hz)
        self.chunk = spec.chunk or default_chunk(self.rate_hz)
        self.adapter: SensorAdapter | None = None
        self.next_sample_ns: int | None = None
        self.samples = 0
        self.skipped = 0
        self.exhausted = False
        #: reads that raised, in all and in a row (the limit is spec.max_read_errors)
        self.read_errors = 0
        self.failing_reads = 0
        self.drops: DropLog | None = None

    def setup(self, context: ActorContext) -> None:
        cls = sensor_adapter(self.spec.adapter or "")
        self.adapter = construct(
            f"sensor adapter {self.spec.adapter!r}",
            lambda: cls(
                self.spec.params, self.rate_hz, AdapterContext(self.spec.name, context.work_dir)
            ),
        )
        self.drops = context.drops if context.drops is not None else DropLog(context.log)

    def update(self, now_ns: int, inputs: Sequence[Message]) -> Iterable[Outgoing]:
        assert self.adapter is not None  # set in setup(); update is never called before
        for message in inputs:
            if message.is_record and self.adapter.wants_pulse:
                try:
                    pulse = Pulse.decode(message.data, message.stream)
                except WireError:
                    continue  # not a pulse: nothing to follow
                self.adapter.on_pulse(pulse)
        if self.next_sample_ns is None:
            self.next_sample_ns = (now_ns // self.step_ns + 1) * self.step_ns
        if now_ns - self.next_sample_ns > MAX_BACKLOG_NS:
            fresh = (now_ns // self.step_ns) * self.step_ns
            self.skipped += (fresh - self.next_sample_ns) // self.step_ns
            self.next_sample_ns = fresh
        if self.exhausted:
            return []
        # every whole chunk that is due, read from the adapter in one call
        due = (now_ns - self.next_sample_ns) // self.step_ns + 1
        chunks = max(0, due // self.chunk)
        if chunks == 0:
            return []
        count = chunks * self.chunk
        times = np.arange(
            self.next_sample_ns,
            self.next_sample_ns + count * self.step_ns,
            self.step_ns,
            dtype=np.int64,
        )
        self.next_sample_ns += count * self.step_ns
        try:
            values = np.asarray(self.adapter.read(times))
        except Exception as exc:  # adapters are device code (plugins too): anything may fail
            self._read_failed(count, exc)
            return []
        self.failing_reads = 0
        produced = len(values)
        if produced < count:
            self.exhausted = True  # a file that ended: send what there is, then stay quiet
        self.samples += produced
        fields = self.adapter.fields
        if produced == count == self.chunk:  # the common case: one whole chunk, no slicing
            return (Outgoing("", times, values, fields),)
        return [
            Outgoing(
                "",
                times[start : min(start + self.chunk, produced)],
                values[start : start + self.chunk],
                fields,
            )
            for start in range(0, produced, self.chunk)
        ]

    def _read_failed(self, count: int, exc: Exception) -> None:
        """Skip and count the ``count`` samples of a read that raised; end the actor once
        more than ``max_read_errors`` reads in a row have failed."""
        self.read_errors += 1
        self.failing_reads += 1
        self.skipped += count
        error = f"{type(exc).__name__}: {exc}"
        assert self.drops is not None  # set in setup(), like the adapter
        self.drops.drop(self.spec.name, Reason.READ_ERROR, error=error, samples=count)
        if self.failing_reads > self.spec.max_read_errors:
            raise DeviceError(
                f"sensor {self.spec.name!r}: adapter {self.spec.adapter!r} failed "
                f"{self.failing_reads} reads in a row (max_read_errors "
                f"{self.spec.max_read_errors}); last: {error}"
            ) from exc

    def next_call_ns(self) -> int | None:
        """When the next whole chunk is due (its last sample's time)."""
        if self.exhausted or self.next_sample_ns is None:
            return None
        return self.next_sample_ns + (self.chunk - 1) * self.step_ns

    def teardown(self) -> None:
        if self.adapter is not None:
            self.adapter.close()

    def witness(self) -> dict[str, Any]:
        if self.drops is not None:
            self.drops.flush()  # the witness second is the drop log's tick
        return SensorStats(
            self.samples, self.skipped, self.read_errors, self.exhausted, self.spec.adapter or ""
        ).encode()
