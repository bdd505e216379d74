"""A hostile sensor: a publisher written from docs/wire.md alone, with faults on purpose.

It stands in for one sensor of a launched topology (``Launch(..., exclude=[name])``): it
binds that sensor's planned endpoint, waits for its topology consumer's ready announcement
as a real publisher does, and then sends a clean 40 Hz oscillator at 400 samples a second
in messages of 8 rows (the demo sensors' rates) — except where its :class:`Faults` say
otherwise.  It counts exactly the rows it spoiled, per kind, so a test can demand that the
receivers' counters equal them.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import zmq

from kairos import wire

RATE_HZ = 400
CHUNK = 8
FREQ_HZ = 40.0
PERIOD_NS = 1_000_000_000 // RATE_HZ
HOUR_NS = 3600 * 1_000_000_000


@dataclass(frozen=True)
class Faults:
    """What the publisher spoils; message indices count from its first message (0)."""

    #: every ``every``-th sample (1 %: 100) carries this value (NaN, +Inf or −Inf)
    value: float | None = None
    every: int = 100
    #: these messages are stamped one hour ahead
    future_messages: tuple[int, ...] = ()
    #: from this message on, stamps are 10 s behind (the device's clock stepped back)
    step_back_from: int | None = None
    #: every ``swap_every``-th message has its rows 3 and 4 swapped (out of order inside it)
    swap_every: int = 0


@dataclass
class Sent:
    """What the hostile publisher really sent, and how many rows of each fault."""

    messages: int = 0
    rows: int = 0
    invalid_rows: int = 0
    future_rows: int = 0
    #: rows whose stamp is not after the previous row that a receiver accepted
    time_violation_rows: int = 0
    first_fault_at: float | None = None
    stamps: list[int] = field(default_factory=list)


class HostilePublisher:
    """Publishes ``stream`` on ``endpoint`` in a thread until :meth:`stop`."""

    def __init__(self, stream: str, endpoint: str, consumer: str, faults: Faults) -> None:
        self.stream = stream
        self.endpoint = endpoint
        self.consumer = consumer
        self.faults = faults
        self.sent = Sent()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._guarded, daemon=True)

    def start(self, ready_timeout_s: float = 20.0) -> None:
        self._thread.start()
        if not self._ready.wait(ready_timeout_s):
            self.stop()
            raise TimeoutError(f"{self.consumer!r} never subscribed to {self.endpoint}")

    def stop(self) -> Sent:
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise RuntimeError(f"hostile publisher failed: {self.error!r}") from self.error
        return self.sent

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # handed to the test thread by stop()
            self.error = exc
            self._ready.set()

    def _run(self) -> None:
        context = zmq.Context()
        pub = context.socket(zmq.XPUB)
        pub.setsockopt(zmq.LINGER, 1000)
        pub.setsockopt(zmq.SNDHWM, 100_000)
        try:
            pub.bind(self.endpoint)
            self._await_consumer(pub)
            self._ready.set()
            self._publish(pub)
        finally:
            pub.close()
            context.term()

    def _await_consumer(self, pub: zmq.Socket) -> None:
        wanted = b"\x01" + wire.consumer_subscription(self.consumer)
        while not self._stop.is_set():
            if pub.poll(100) and pub.recv() == wanted:
                time.sleep(0.3)  # as a real publisher: let watchers dial in (docs/wire.md)
                return

    def _publish(self, pub: zmq.Socket) -> None:
        faults, sent = self.faults, self.sent
        epoch = time.time_ns()
        # the first sample lies one chunk in the past, as a sensor's would
        next_ns = (time.time_ns() // PERIOD_NS - CHUNK) * PERIOD_NS
        last_accepted = -1
        sample = 0
        while not self._stop.is_set():
            index = sent.messages
            times = np.arange(next_ns, next_ns + CHUNK * PERIOD_NS, PERIOD_NS, dtype=np.int64)
            next_ns += CHUNK * PERIOD_NS
            values = np.cos(2 * math.pi * FREQ_HZ * times.astype(np.float64) / 1e9)
            stamps = times.copy()
            if index in faults.future_messages:
                stamps += HOUR_NS
                sent.future_rows += CHUNK
                self._mark()
            if faults.step_back_from is not None and index >= faults.step_back_from:
                stamps -= 10_000_000_000
            if faults.swap_every and index % faults.swap_every == faults.swap_every - 1:
                stamps[[3, 4]] = stamps[[4, 3]]
                values[[3, 4]] = values[[4, 3]]
            if faults.value is not None:
                hit = (np.arange(sample, sample + CHUNK) % faults.every) == faults.every - 1
                values[hit] = faults.value
                sent.invalid_rows += int(hit.sum())
                if hit.any():
                    self._mark()
            if index not in faults.future_messages:
                for stamp in stamps:
                    if stamp > last_accepted:
                        last_accepted = int(stamp)
                    else:
                        sent.time_violation_rows += 1
                        self._mark()
            sample += CHUNK
            delay = (int(times[-1]) - time.time_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
            pub.send_multipart(
                wire.encode(self.stream, index, epoch, time.time_ns(), stamps, values),
                copy=False,
            )
            sent.messages += 1
            sent.rows += CHUNK
            sent.stamps.extend(int(s) for s in stamps)
            if pub.poll(0):  # drain subscription events so the XPUB queue never fills
                while pub.poll(0):
                    pub.recv()

    def _mark(self) -> None:
        if self.sent.first_fault_at is None:
            self.sent.first_fault_at = time.monotonic()
