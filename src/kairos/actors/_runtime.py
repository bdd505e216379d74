"""The actor runtime: one process, one PUB socket, the actor's inputs, and its metrics.

The runtime owns everything an actor should not have to think about: sockets and their
options, the wait for subscribers (the slow-joiner trap), sequence numbers per stream, gap
and restart counting per input, the once-a-second witness record, mesh time, signals and a
bounded shutdown.  A role only implements :meth:`Actor.update`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
import zmq

from kairos import _log, wire
from kairos._usage import ProcessUsage
from kairos.actors._metrics import Counters, InputPositions, LatencyWindow, StreamTrack
from kairos.actors._ready import Consumers, first_send_at
from kairos.actors._screen import witness_counts
from kairos.actors.spec import ActorProcessSpec
from kairos.drops import DropLog, Reason
from kairos.errors import WireError
from kairos.meshtime import MeshClock
from kairos.records import WITNESS_STREAM, InputStats, Witness
from kairos.timeouts import poll_ms

if TYPE_CHECKING:
    from kairos.actors._rows import NodeRows

LINGER_MS = 500
SNDHWM = 10_000
RCVHWM = 10_000
READY_TIMEOUT_S = 5.0
WITNESS_INTERVAL_S = 1.0


def witness_phase_s(actor: str) -> float:
    """When, after its start, an actor publishes its first witness record: between half an
    interval and a whole one, by its name.  A device's actors start together, and a witness
    second costs an actor ~1 ms of CPU on this machine (more on a Pi): if all of them
    published theirs in the same instant, their spikes would add up in one 100 ms CFS period
    of the device's CPU budget, where a Pi Zero's 0.1 CPU allows 10 ms."""
    return WITNESS_INTERVAL_S * (1.0 - (zlib.crc32(actor.encode()) % 500) / 1000)


#: how late Linux may fire this thread's timers (its "timer slack"; 50 µs by default, so that
#: it can gather wake-ups): see precise_timers
TIMER_SLACK_NS = 1_000
_PR_SET_TIMERSLACK = 29  # <linux/prctl.h>


def precise_timers() -> None:
    """Let the calling thread's timed waits end on time (Linux; elsewhere nothing).

    A sensor sends each chunk when its last sample is due and a sync each tick on its grid,
    after a sleep.  With the default 50 µs of timer slack a 1 kHz sensor woke 106–130 µs after
    its chunk was due (p50), with 1 µs 71–77 µs; its send time minus its last sample's time
    went from 263–296 to 217–251 µs p50 (three alternating pairs of 12 s runs).  ctypes is
    already imported by NumPy, so this costs an actor no memory."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0)


MAX_BATCH = 512
#: below this, the wait for a timed call is slept rather than polled (see _loop)
SUB_MS_SLEEP_S = 0.002
#: payloads at least this big are sent without a copy (pyzmq's own threshold)
ZERO_COPY_BYTES = 65536
# The receive path talks to pyzmq's backend with plain ints: its friendly layer wraps every
# flag and option value in an Enum, which costs more per message than decoding the header.
_SNDMORE = int(zmq.SNDMORE)
_NOBLOCK = int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_socket_recv = zmq.backend.Socket.recv
_socket_get = zmq.backend.Socket.get
_socket_send = zmq.backend.Socket.send
_zmq_poll = zmq.backend.zmq_poll


def _events(sock: zmq.Socket) -> int:
    return cast(int, _socket_get(sock, _EVENTS))


def _recv_frames(sock: zmq.Socket) -> list[bytes]:
    """One whole multipart message as bytes.

    Each frame is taken as a zmq.Frame only to read its ``more`` flag, then as bytes: asking
    the socket for RCVMORE goes through pyzmq's option Enum (~0.9 µs a frame, 4 a message),
    a Frame's flag and its bytes cost ~0.1 µs.
    """
    frame = _socket_recv(sock, _NOBLOCK, False)
    frames = [frame.bytes]
    while frame.more:
        frame = _socket_recv(sock, _NOBLOCK, False)
        frames.append(frame.bytes)
    return frames


POSITIONS_FILE = "inputs.pos"
#: the stream a malformed message is counted under when its topic names none of the inputs
#: (keeping a hostile peer's random topics from growing the counts without bound)
UNKNOWN_STREAM = "(unknown)"
HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 3000
CONNECT_TIMEOUT_MS = 1000
#: what an XPUB reads is subscriptions (a byte and a stream name): nothing needs more
MAX_SUBSCRIPTION_BYTES = 64 * 1024


def _set_heartbeats(sock: zmq.Socket) -> None:
    """ZMTP heartbeats: a peer behind a dead link is dropped in seconds and reconnected when
    the link returns, instead of the connection hanging until TCP gives up."""
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


def open_publisher(
    context: zmq.Context, bind: str, mesh_key: Any = None, relay: str | None = None
) -> tuple[zmq.Socket, Any]:
    """The XPUB an actor publishes on, bound at ``bind``, and its ZAP authenticator (None
    unless ``mesh_key``, a :class:`kairos.meshkey.MeshKey`, encrypts it).

    XPUB rather than PUB: its subscription events are how the ready handshake counts the
    topology's consumers (:class:`ReadyGate`).  Stop the authenticator before the context.
    With ``relay`` (a relay's inbound endpoint, kairos.actors.relay) the XPUB dials out to
    it instead of binding, a CurveZMQ client of the mesh when encrypted: what a device
    behind NAT does, since nothing can dial it.
    """
    pub = context.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, LINGER_MS)
    pub.setsockopt(zmq.SNDHWM, SNDHWM)
    pub.setsockopt(zmq.RCVHWM, RCVHWM)
    pub.setsockopt(zmq.MAXMSGSIZE, MAX_SUBSCRIPTION_BYTES)
    pub.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscriber's subscription, not just the first
    _set_heartbeats(pub)
    if relay is not None:
        pub.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)
        if mesh_key is not None:
            from kairos.meshkey import connect_encrypted

            connect_encrypted(pub, mesh_key)
        pub.connect(relay)
        return pub, None
    auth = None
    if mesh_key is not None:
        from kairos.meshkey import serve_encrypted

        auth = serve_encrypted(context, pub, mesh_key)
    try:
        pub.bind(bind)
    except zmq.ZMQError:
        pub.close(linger=0)
        if auth is not None:
            auth.stop()
        raise
    return pub, auth


class ReadyGate:
    """The ready handshake of a publisher (docs/wire.md): follows the announcements of the
    topology consumers named in ``expected`` on ``pub`` (kairos.actors._ready.Consumers:
    names, so a name announced twice counts once and an unknown name not at all) and holds
    the first message until every one of them is in."""

    def __init__(
        self,
        pub: zmq.Socket,
        expected: Iterable[str],
        log: Any,
        drops: DropLog | None,
        stream: str,
    ) -> None:
        self.pub = pub
        self.consumers = Consumers(expected, drops, stream)
        self.log = log
        #: the publisher's socket is open (bound, or dialled to a relay) from here
        self.opened_at = time.monotonic()

    @property
    def subscribed(self) -> int:
        """Topology consumers subscribed now (the witness ``subscribers``)."""
        return self.consumers.count

    def wait(self, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Hold until every consumer subscribed (at most READY_TIMEOUT_S, then a warning),
        then until watchers dialling in are connected too (``_ready.first_send_at``: 0.3 s
        after the socket opened, 50 ms after the last consumer).  True when every consumer
        came."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.consumers.complete and not stopping():
            if time.monotonic() >= deadline:
                self.log.warning(
                    "not every subscriber arrived; publishing anyway",
                    expected=len(self.consumers.expected),
                    subscribed=self.consumers.count,
                    missing=self.consumers.missing(),
                )
                break
            self._take(deadline)
        grace_end = first_send_at(self.opened_at, time.monotonic())
        while not stopping() and time.monotonic() < grace_end:
            self._take(grace_end)
        return self.consumers.complete

    def _take(self, until: float) -> None:
        """Wait (at most until ``until``) for subscription events and count those that came."""
        remaining = max(0.0, until - time.monotonic())
        if self.pub.poll(poll_ms(remaining), zmq.POLLIN):
            self.drain()

    def drain(self) -> None:
        """Follow every subscription event waiting on the XPUB."""
        while True:
            try:
                event = self.pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.consumers.take(event)


def send_frames(pub: zmq.Socket, frames: Sequence[Any]) -> None:
    """Send the four frames of one message from :func:`kairos.wire.encode`.

    Frame by frame through pyzmq's backend with plain int flags: its send_multipart costs
    ~4x more for small frames, and even its Socket.send checks for routing ids and groups on
    every frame; only a large payload is worth handing over without a copy.
    """
    topic, header, times, payload = frames
    _socket_send(pub, topic, _SNDMORE)
    _socket_send(pub, header, _SNDMORE)
    _socket_send(pub, times, _SNDMORE)
    size = payload.nbytes if type(payload) is np.ndarray else len(payload)
    _socket_send(pub, payload, 0, size < ZERO_COPY_BYTES)


class Outgoing(NamedTuple):
    """A message an actor wants published: ``stream`` is relative to the actor's name.

    ``""`` is the actor's main stream, ``"events"`` becomes ``<actor>/events``.  Immutable;
    a NamedTuple rather than a frozen dataclass, whose ``__init__`` cost ~1 µs per message.
    """

    stream: str
    times: np.ndarray | Sequence[int]
    data: np.ndarray | dict[str, Any] | wire.PackedRecord
    fields: tuple[str, ...] = ()


@dataclass
class ActorContext:
    """What an actor may use during setup: its spec, the mesh clock, a logger, a work dir,
    and the runtime's DropLog (None outside a runtime: the actor keeps its own)."""

    spec: ActorProcessSpec
    clock: MeshClock
    log: Any
    work_dir: Path
    #: counts and tells every input the actor drops; flushed on the witness second
    drops: DropLog | None = None


class Actor(ABC):
    """The actor contract: turn the messages that arrived into messages to publish."""

    def setup(self, context: ActorContext) -> None:  # noqa: B027 - optional hook
        """Open adapters and files; called once before the first update."""

    @abstractmethod
    def update(self, now_ns: int, inputs: Sequence[wire.Message]) -> Iterable[Outgoing]:
        """Handle the messages received since the last call (maybe none) at mesh time now."""

    def row_sink(self) -> NodeRows | None:
        """Node streams whose plain rows the runtime may fold straight into the actor's
        arrays (a sync's, kairos.actors._rows), or None: every message reaches update()."""
        return None

    def next_call_ns(self) -> int | None:
        """Mesh time at which update() should next be called even without input (a sensor's
        next whole chunk, a sync's next tick), or None to be called only on input."""
        return None

    def witness(self) -> dict[str, Any]:
        """The role's own fields of the witness record (:attr:`kairos.records.Witness.role_fields`;
        a field named like a common key sets that key; ``inputs`` maps an input stream to
        fields of its :class:`~kairos.records.InputStats`, such as its ``clock`` fault)."""
        return {}

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Flush and close; called once after the last update."""


class ActorRuntime:
    """Runs one actor until SIGTERM/SIGINT, then shuts it down within a bounded linger."""

    def __init__(self, spec: ActorProcessSpec, actor: Actor, parent_pid: int | None = None) -> None:
        self.spec = spec
        self.actor = actor
        self.log = _log.get("actor", actor=spec.name, role=spec.role)
        self.clock = MeshClock(Path(spec.clock_file) if spec.clock_file else None)
        self.epoch = self.clock.now_ns()
        #: the clock's step count this epoch began under (a step starts a new epoch)
        self._clock_steps = self.clock.steps
        self.counters = Counters()
        self.drops = DropLog(self.log)
        self.latency = LatencyWindow()
        self.tracks: dict[str, StreamTrack] = {}
        self._seqs: dict[str, int] = {}
        #: an Outgoing's relative stream → the full stream name it is published under
        self._stream_names: dict[str, str] = {}
        self._stopping = False
        # the agent that started us (or its zygote, which ends with it: kairos.actors._zygote),
        # as ``python -m kairos.actors`` saw it before its imports; an actor whose agent died
        # stops too (checked each second)
        self._parent_pid = os.getppid() if parent_pid is None else parent_pid
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._ctx = zmq.Context()
        self._mesh_key = _mesh_key(spec)
        # the XPUB and, when encrypted, the mesh key's ZAP authenticator
        self._pub, self._auth = open_publisher(
            self._ctx, spec.bind, self._mesh_key, spec.publish_to
        )
        # behind a relay every consumer of every relayed stream announces itself here: a
        # name that is not ours is normal there, not a drop worth counting
        drops = self.drops if spec.publish_to is None else None
        self._gate = ReadyGate(self._pub, spec.consumers, self.log, drops, spec.name)
        self._subs = self._make_subscribers()
        self._wanted = {link.stream for link in spec.inputs}
        if spec.pulse is not None:
            self._wanted.add(spec.pulse.stream)
        work_dir = Path(spec.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        self._positions = InputPositions(work_dir / POSITIONS_FILE, sorted(self._wanted))
        self.tracks.update(self._positions.load())
        self._usage = ProcessUsage()
        self._last_witness_at = time.monotonic()
        self._last_msgs_out = 0
        self._last_samples_out = 0
        #: the actor's row streams, read by the compiled drain (None: every message in Python)
        self._rows: NodeRows | None = None

    # -- sockets ---------------------------------------------------------------------------
    def _make_subscribers(self) -> list[zmq.Socket]:
        by_endpoint: dict[str, set[str]] = {}
        for link in self.spec.inputs:
            by_endpoint.setdefault(link.endpoint, set()).add(link.stream)
        # an input's publisher waits for this actor: announce it (the pulse is not waited for)
        consuming = set(by_endpoint)
        if self.spec.pulse is not None:
            by_endpoint.setdefault(self.spec.pulse.endpoint, set()).add(self.spec.pulse.stream)
        sockets = []
        for endpoint, streams in by_endpoint.items():
            sub = self._ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.RCVHWM, RCVHWM)
            sub.setsockopt(zmq.SNDHWM, SNDHWM)
            sub.setsockopt(zmq.MAXMSGSIZE, wire.MAX_PAYLOAD_BYTES + 65536)
            sub.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)
            _set_heartbeats(sub)
            if self._mesh_key is not None:
                from kairos.meshkey import connect_encrypted

                connect_encrypted(sub, self._mesh_key)
            for stream in sorted(streams):
                sub.setsockopt(zmq.SUBSCRIBE, stream.encode())
            if endpoint in consuming:
                sub.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription(self.spec.name))
            sub.connect(endpoint)
            sockets.append(sub)
        return sockets

    # -- lifecycle -------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True
        # the wake-up byte only ends the poll early; the flag is what counts
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        work_dir = Path(self.spec.work_dir)
        context = ActorContext(self.spec, self.clock, self.log, work_dir, self.drops)
        try:
            self.actor.setup(context)
            self._rows = self.actor.row_sink()
            if self._rows is not None:
                self._rows.only(self._wanted)
                self._rows.attach(self.tracks, StreamTrack, self._positions.record)
            self.log.info("started", bind=self.spec.bind, pid=os.getpid())
            self._gate.wait(lambda: self._stopping)
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _loop(self) -> None:
        # zmq_poll itself, with int flags: the Poller's register/dict dance is pure overhead
        # on a path taken once per message.  The XPUB is not polled: zmq_poll asks every
        # ZeroMQ socket it holds for ZMQ_EVENTS on each pass, before and after it sleeps, so
        # each one costs every wake-up microseconds; its subscription events only update the
        # witness's consumer count and are followed each witness second instead
        precise_timers()
        subs = tuple(self._subs)
        items: list[Any] = [*((sub, _POLLIN) for sub in subs), (self._wake_r.fileno(), _POLLIN)]
        actor, clock, monotonic = self.actor, self.clock, time.monotonic
        rows = self._rows
        addresses = [int(sub.underlying) for sub in subs]
        next_witness = monotonic() + witness_phase_s(self.spec.name)
        self._publish(actor.update(clock.now_ns(), ()))
        while not self._stopping:
            wake_ns = actor.next_call_ns()
            now = monotonic()
            deadline = next_witness
            if wake_ns is not None:
                deadline = min(deadline, now + max(0, wake_ns - clock.now_ns()) / 1e9)
            # poll counts whole milliseconds: wait the whole ones there, sleep out the rest,
            # so a chunk or a tick goes out within ~0.1 ms of its time instead of up to 1 ms
            # late (rounded up, a 1 kHz sensor's every chunk waited for the next millisecond)
            batch: list[wire.Message] = []
            if rows is not None:  # the poll and the reads in compiled code (_rows)
                if not self._serve(rows, addresses, int(deadline * 1e9), batch):
                    remaining = deadline - monotonic()
                    if 0 < remaining < SUB_MS_SLEEP_S:
                        time.sleep(remaining)
            else:
                ready = _zmq_poll(items, max(0, int((deadline - now) * 1000)))
                if not ready:
                    remaining = deadline - monotonic()
                    if 0 < remaining < SUB_MS_SLEEP_S:
                        time.sleep(remaining)
                for sock, _event in ready:
                    if type(sock) is not int:  # not the wake-up fd
                        self._receive(cast(zmq.Socket, sock), batch)
            mesh_now = clock.now_ns()
            if batch or (wake_ns is not None and mesh_now >= wake_ns):
                self._publish(actor.update(mesh_now, batch))
            now = monotonic()
            if now >= next_witness:
                self._gate.drain()
                if self.clock.refresh() and self.clock.steps != self._clock_steps:
                    self._restart_epoch()
                self.drops.flush()
                self._publish_witness()
                next_witness = max(next_witness + WITNESS_INTERVAL_S, now)
                if os.getppid() != self._parent_pid:
                    self.log.warning("parent process gone; stopping", parent=self._parent_pid)
                    self._stopping = True

    def _restart_epoch(self) -> None:
        """The agent stepped the clock (docs/meshtime.md, "Steps and slews"): start a new
        epoch with every seq from 0, so each subscriber counts one explicit discontinuity
        (a restart) instead of seeing time jump within a stream."""
        self._clock_steps = self.clock.steps
        self.epoch = self.clock.now_ns()
        self._seqs.clear()
        self.log.warning("clock stepped: new epoch", epoch=self.epoch, steps=self._clock_steps)

    def _receive(self, sub: zmq.Socket, messages: list[wire.Message]) -> None:
        """Append to ``messages`` what ``sub`` holds now (at most MAX_BATCH messages)."""
        take = self._take_frames
        for index in range(MAX_BATCH):
            try:
                frames = _recv_frames(sub)
            except zmq.Again:
                break
            self.counters.msgs_in += 1
            take(frames, messages)
            # after the first message ask whether more is waiting rather than provoke
            # zmq.Again: after an idle wake-up that exception alone costs ~30 µs of a
            # message's latency.  When more is waiting, read on until zmq.Again: asking
            # ZMQ_EVENTS costs 1-2.5 µs a message (it processes the socket's commands), one
            # exception a batch is cheaper (a sync reads ~50 messages a wake-up)
            if index == 0 and not _events(sub) & _POLLIN:
                break

    def _serve(
        self, rows: NodeRows, addresses: list[int], deadline_ns: int, messages: list[wire.Message]
    ) -> int:
        """Wait until ``deadline_ns`` (monotonic) while the compiled drain reads the actor's
        row streams (kairos.actors._rows): the rows it takes are folded into the actor's
        arrays there, without a return to Python per wake-up; every other message comes
        back as frames, ends the wait, and goes the way :meth:`_take_frames` takes any
        message.  Returns how many messages were read."""
        read, slow = rows.serve(addresses, self._wake_r.fileno(), deadline_ns, self.clock.now_ns())
        self.counters.msgs_in += read
        if rows.taken:
            add = self.latency.add
            for value in rows.latencies():
                add(value)
        for frames in slow:
            message = self._take_frames(frames, messages)
            if message is not None:
                rows.learn(message)
        return read

    def _take_frames(
        self, frames: list[bytes], messages: list[wire.Message]
    ) -> wire.Message | None:
        """Decode one message and account for it: a malformed one is dropped and counted
        under its stream (or UNKNOWN_STREAM); a wanted one is stamped, tracked, timed, joins
        ``messages`` and is returned."""
        try:
            message = wire.decode(frames)
        except WireError as exc:
            topic = frames[0].decode("utf-8", "replace")
            stream = topic if topic in self._wanted else UNKNOWN_STREAM
            self.drops.drop(stream, Reason.MALFORMED, error=str(exc))
            return None
        if message.stream not in self._wanted:
            return None
        received = message.received_ns = self.clock.now_ns()
        track = self.tracks.get(message.stream)
        if track is None:
            track = self.tracks[message.stream] = StreamTrack()
        track.observe(message)
        self._positions.record(message.stream, track)
        self.latency.add((received - message.sent_ns) / 1e6)
        messages.append(message)
        return message

    def _publish(self, outgoing: Iterable[Outgoing]) -> None:
        names, seqs, counters, now_ns = (
            self._stream_names,
            self._seqs,
            self.counters,
            self.clock.now_ns,
        )
        for out in outgoing:
            stream = names.get(out.stream)
            if stream is None:  # the actor's streams are few: each name is built once
                stream = f"{self.spec.name}/{out.stream}" if out.stream else self.spec.name
                names[out.stream] = stream
            seq = seqs.get(stream, 0)
            seqs[stream] = seq + 1
            data = out.data
            send_frames(
                self._pub,
                wire.encode(stream, seq, self.epoch, now_ns(), out.times, data, out.fields),
            )
            counters.msgs_out += 1
            if not isinstance(data, (dict, wire.PackedRecord)):
                counters.samples_out += len(out.times)

    def _publish_witness(self) -> None:
        record = self.witness_record().encode()
        self._publish([Outgoing(WITNESS_STREAM, [self.clock.now_ns()], record)])

    def witness_record(self) -> Witness:
        now = time.monotonic()
        elapsed = max(1e-9, now - self._last_witness_at)
        out_delta = self.counters.msgs_out - self._last_msgs_out
        samples_delta = self.counters.samples_out - self._last_samples_out
        self._last_witness_at = now
        self._last_msgs_out = self.counters.msgs_out
        self._last_samples_out = self.counters.samples_out
        p50, p99 = self.latency.percentiles()
        self.latency.clear()  # each record speaks of its own interval, not of start-up
        role_fields = self.actor.witness()
        role_inputs = role_fields.pop("inputs", {})
        record = Witness(
            actor=self.spec.name,
            role=self.spec.role,
            device=self.spec.device,
            device_class=self.spec.device_class,
            pid=os.getpid(),
            epoch=self.epoch,
            t_ns=self.clock.now_ns(),
            rate_hz=out_delta / elapsed,
            samples_per_s=samples_delta / elapsed,
            msgs_in=self.counters.msgs_in,
            msgs_out=self.counters.msgs_out,
            gaps=sum(t.gaps for t in self.tracks.values()),
            decode_errors=self.drops.total(Reason.MALFORMED),
            drops=self.drops.total(Reason.QUEUE_OVERFLOW),
            future_stamps=self.drops.total(Reason.FUTURE_STAMP),
            time_violations=self.drops.total(Reason.TIME_VIOLATION),
            invalid_samples=self.drops.total(Reason.INVALID_SAMPLE),
            unknown_consumers=self.drops.total(Reason.UNKNOWN_CONSUMER),
            latency_p50_ms=p50,
            latency_p99_ms=p99,
            cpu_percent=self._usage.cpu_percent(),
            rss_bytes=self._usage.rss_bytes(),
            clock_offset_ns=self.clock.offset_ns,
            clock_uncertainty_ns=self.clock.uncertainty_ns,
            subscribers=self._gate.subscribed,
            inputs=self._input_stats(role_inputs),
        )
        return record.with_role_fields(role_fields)

    def _input_stats(self, role_inputs: dict[str, dict[str, Any]]) -> dict[str, InputStats]:
        """Per input: the runtime's stream bookkeeping, its drop counts, and what the role
        adds (an engine's or sync's ``clock`` fault)."""
        names = sorted(set(self.tracks) | set(role_inputs))
        return {
            name: InputStats.decode(
                {
                    **self.tracks.get(name, StreamTrack()).as_record().encode(),
                    **witness_counts(self.drops, name),
                    **role_inputs.get(name, {}),
                },
                name,
            )
            for name in names
        }

    def _shutdown(self) -> None:
        try:
            self.actor.teardown()
            self._gate.drain()
            self._publish_witness()
        finally:
            for sub in self._subs:
                sub.close(linger=0)
            self._pub.close(linger=LINGER_MS)
            self._positions.close()
            if self._auth is not None:
                self._auth.stop()  # its ZAP socket must close before the context ends
            self._ctx.term()
            self._wake_r.close()
            self._wake_w.close()
            self.log.info("stopped", msgs_out=self.counters.msgs_out)


def _mesh_key(spec: ActorProcessSpec) -> Any:
    """The spec's mesh key pair (``mesh.encrypt``), or None; loaded only when encrypted."""
    if spec.curve is None:
        return None
    from kairos.meshkey import MeshKey

    return MeshKey.from_spec(spec.curve)
