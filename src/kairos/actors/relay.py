"""The relay role: an XSUB/XPUB forwarder for devices nothing can dial (docs/sites.md).

A device behind NAT can open connections but never accept one.  Its actors therefore
*connect* their publishing XPUB to the relay's inbound XSUB (bound at the relay's port + 1,
:func:`kairos.topologies.model.relay_inbound`), and every consumer of a relayed stream
connects its SUB to the relay's XPUB (the relay's own endpoint).  Both sides are the mesh's
CurveZMQ server when ``mesh.encrypt`` is on, with one ZAP authenticator admitting the mesh key.

What passes is passed as it came: the four frames of a message are forwarded untouched, so
its seq, epoch and stamps reach the subscriber as the publisher wrote them and the
subscriber counts gaps and restarts exactly as on a direct link (a relay restart is a hole
in seq, never a new epoch).  Subscriptions go the other way untouched, the ready handshake's
announcements among them, to every publisher connected (a publisher behind a relay hears
the consumers of every relayed stream; :class:`kairos.actors._runtime.ReadyGate` counts only
its own).  The relay decodes each message's header to witness itself once a second: the
messages forwarded and their rate, what it saw of each stream (its own gap count: a loss
*before* the relay), the messages it had to drop because a subscriber's queue was full
(``XPUB_NODROP``: the send fails and is counted, rather than vanishing), and the consumers
announced on its outbound side.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import zmq

from kairos import _log, wire
from kairos._usage import ProcessUsage
from kairos.actors._metrics import StreamTrack
from kairos.actors._runtime import (
    LINGER_MS,
    RCVHWM,
    SNDHWM,
    WITNESS_INTERVAL_S,
    _mesh_key,
    _set_heartbeats,
    open_publisher,
    witness_phase_s,
)
from kairos.actors._screen import witness_counts
from kairos.actors.spec import ActorProcessSpec
from kairos.drops import DropLog, Reason
from kairos.errors import WireError
from kairos.meshtime import MeshClock
from kairos.records import WITNESS_STREAM, InputStats, Witness
from kairos.timeouts import poll_ms
from kairos.topologies.model import relay_inbound

#: messages forwarded per wake-up before the other side gets a turn
MAX_BATCH = 512
_SUBSCRIBE = 1
_UNSUBSCRIBE = 0


class Relay:
    """One relay process: ``run()`` forwards until SIGTERM/SIGINT."""

    def __init__(self, spec: ActorProcessSpec, parent_pid: int | None = None) -> None:
        self.spec = spec
        self.log = _log.get("actor", actor=spec.name, role=spec.role)
        self.clock = MeshClock(Path(spec.clock_file) if spec.clock_file else None)
        self.epoch = self.clock.now_ns()
        self.drops = DropLog(self.log)
        self.tracks: dict[str, StreamTrack] = {}
        #: consumer announcements held on the outbound side now, by name (libzmq reports a
        #: name's unsubscription only when its last holder goes: see kairos.actors._ready)
        self.consumers: set[str] = set()
        self.forwarded = 0
        self.msgs_in = 0
        self._seq = 0
        self._stopping = False
        #: the process whose end stops the relay (as an actor's: kairos.actors._runtime)
        self._parent_pid = os.getppid() if parent_pid is None else parent_pid
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._ctx = zmq.Context()
        key = _mesh_key(spec)
        # outbound: an actor's XPUB in every respect (verbose, heartbeats, the mesh key's
        # authenticator), where subscribers of relayed streams connect
        self.outbound, self._auth = open_publisher(self._ctx, spec.bind, key)
        # a full subscriber queue fails the send (counted) instead of a silent drop
        self.outbound.setsockopt(zmq.XPUB_NODROP, 1)
        self.inbound = self._ctx.socket(zmq.XSUB)
        self.inbound.setsockopt(zmq.LINGER, 0)
        self.inbound.setsockopt(zmq.RCVHWM, RCVHWM)
        self.inbound.setsockopt(zmq.SNDHWM, SNDHWM)
        self.inbound.setsockopt(zmq.MAXMSGSIZE, wire.MAX_PAYLOAD_BYTES + 65536)
        _set_heartbeats(self.inbound)
        if key is not None:
            from kairos.meshkey import serve_also

            serve_also(self.inbound, key)  # the authenticator above answers for both
        self.inbound_endpoint = relay_inbound(spec.bind)
        try:
            self.inbound.bind(self.inbound_endpoint)
        except zmq.ZMQError:
            self._close()
            raise
        self._usage = ProcessUsage()
        self._last_at = time.monotonic()
        self._last_forwarded = 0

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        self.log.info(
            "relay started", outbound=self.spec.bind, inbound=self.inbound_endpoint, pid=os.getpid()
        )
        try:
            self._loop()
        finally:
            with contextlib.suppress(zmq.ZMQError):
                self._publish_witness()
            self._close()
            self.log.info("relay stopped", forwarded=self.forwarded)
        return 0

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.inbound, zmq.POLLIN)
        poller.register(self.outbound, zmq.POLLIN)
        poller.register(self._wake_r.fileno(), zmq.POLLIN)
        next_witness = time.monotonic() + witness_phase_s(self.spec.name)
        while not self._stopping:
            ready = dict(poller.poll(poll_ms(next_witness - time.monotonic())))
            if self.outbound in ready:
                self._subscriptions()
            if self.inbound in ready:
                self._forward()
            now = time.monotonic()
            if now >= next_witness:
                self.clock.refresh()
                self.drops.flush()
                self._publish_witness()
                next_witness = max(next_witness + WITNESS_INTERVAL_S, now)
                if os.getppid() != self._parent_pid:
                    self.log.warning("parent process gone; stopping", parent=self._parent_pid)
                    self._stopping = True

    def _subscriptions(self) -> None:
        """Pass each (un)subscription up to the publishers, and follow the consumers."""
        for _ in range(MAX_BATCH):
            try:
                event = self.outbound.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.inbound.send(event)
            if len(event) < 1 or event[0] not in (_SUBSCRIBE, _UNSUBSCRIBE):
                continue
            topic = event[1:]
            if topic.startswith(wire.CONSUMER_MARK):
                name = topic[len(wire.CONSUMER_MARK) :].decode("utf-8", "replace")
                if event[0] == _SUBSCRIBE:
                    self.consumers.add(name)
                else:
                    self.consumers.discard(name)

    def _forward(self) -> None:
        for _ in range(MAX_BATCH):
            try:
                frames = self.inbound.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.msgs_in += 1
            try:
                message = wire.decode(frames)
            except WireError as exc:
                # a relay passes the mesh's messages, not whatever a peer sends
                topic = frames[0].decode("utf-8", "replace")[: wire.MAX_STREAM_NAME]
                self.drops.drop(topic, Reason.MALFORMED, error=str(exc))
                continue
            self.tracks.setdefault(message.stream, StreamTrack()).observe(message)
            try:
                self.outbound.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                self.drops.drop(message.stream, Reason.QUEUE_OVERFLOW, seq=message.seq)
                continue
            self.forwarded += 1

    def _publish_witness(self) -> None:
        now = self.clock.now_ns()
        record = self.witness_record().encode()
        frames = wire.encode(
            f"{self.spec.name}/{WITNESS_STREAM}", self._seq, self.epoch, now, [now], record
        )
        self._seq += 1
        self.outbound.send_multipart(frames, zmq.NOBLOCK)

    def witness_record(self) -> Witness:
        now = time.monotonic()
        elapsed = max(1e-9, now - self._last_at)
        rate = (self.forwarded - self._last_forwarded) / elapsed
        self._last_at, self._last_forwarded = now, self.forwarded
        inputs = {
            name: InputStats.decode(
                {**track.as_record().encode(), **witness_counts(self.drops, name)}, name
            )
            for name, track in sorted(self.tracks.items())
        }
        return Witness(
            actor=self.spec.name,
            role=self.spec.role,
            device=self.spec.device,
            device_class=self.spec.device_class,
            pid=os.getpid(),
            epoch=self.epoch,
            t_ns=self.clock.now_ns(),
            rate_hz=rate,
            samples_per_s=0.0,
            msgs_in=self.msgs_in,
            msgs_out=self.forwarded,
            gaps=sum(t.gaps for t in self.tracks.values()),
            decode_errors=self.drops.total(Reason.MALFORMED),
            drops=self.drops.total(Reason.QUEUE_OVERFLOW),
            future_stamps=0,
            time_violations=0,
            invalid_samples=0,
            unknown_consumers=0,
            latency_p50_ms=None,
            latency_p99_ms=None,
            cpu_percent=self._usage.cpu_percent(),
            rss_bytes=self._usage.rss_bytes(),
            clock_offset_ns=self.clock.offset_ns,
            clock_uncertainty_ns=self.clock.uncertainty_ns,
            subscribers=len(self.consumers),
            inputs=inputs,
        ).with_role_fields({"relayed_streams": len(self.tracks), "inbound": self.inbound_endpoint})

    def _close(self) -> None:
        self.inbound.close(linger=0)
        self.outbound.close(linger=LINGER_MS)
        if self._auth is not None:
            self._auth.stop()
        self._ctx.term()
        self._wake_r.close()
        self._wake_w.close()


def run(spec: ActorProcessSpec, parent_pid: int | None = None) -> int:
    """Run the relay of ``spec`` until SIGTERM (``python -m kairos.actors`` calls this)."""
    return Relay(spec, parent_pid).run()
