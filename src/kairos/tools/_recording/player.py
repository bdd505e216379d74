"""Republishing a recording: XPUB sockets on the replayed actors' endpoints, a wait for the
consumers to subscribe, and a scheduler that keeps the recorded inter-message timing.

The wait is a live publisher's ready handshake (docs/wire.md): it counts only the consumers
the topology names, by their announcement (kairos.actors._ready), then lets watchers that
were already dialling connect (``_ready.first_send_at``).  A tap's or a recorder's subscription to
the streams never counts, so a recorder listening to a full replay no longer holds it for the
whole ``--wait``.

Replay follows the recorder's receive stamps (MCAP ``log_time``), divided by the speed; the
frames themselves go out verbatim (same seq, epoch, sent_ns, sample times and payload).
With a mesh key each XPUB is a CurveZMQ server admitting only holders of that key, like a
live actor's PUB; each then has its own context, since a context has one ZAP handler.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zmq

from kairos.actors._ready import Consumers, first_send_at
from kairos.errors import RecordingError
from kairos.timeouts import poll_ms
from kairos.tools._recording.reader import Recorded

if TYPE_CHECKING:
    from kairos.meshkey import MeshKey

SNDHWM = 1_000_000
LINGER_MS = 5_000
#: sleep until this close to a message's due time, then spin (sleep overshoots by ~0.1 ms)
SPIN_S = 0.001


@dataclass
class Outcome:
    messages: int = 0
    #: times a send had to wait for room below the high-water mark (nothing is ever dropped)
    stalls: int = 0
    lateness_s: float = 0.0


class Publishers:
    """One XPUB per endpoint, following the announcements of the consumers it waits for."""

    def __init__(self, streams: Mapping[str, str], mesh_key: MeshKey | None = None) -> None:
        self._context = zmq.Context()
        #: (context, ZAP authenticator) of each encrypted XPUB, stopped after it closes
        self._secured: list[tuple[zmq.Context, Any]] = []
        self._by_endpoint: dict[str, zmq.Socket] = {}
        self._socket_of: dict[str, zmq.Socket] = {}
        #: the consumers each endpoint's XPUB waits for (none until wait_for names them)
        self._consumers: dict[zmq.Socket, Consumers] = {}
        try:
            for stream, endpoint in streams.items():
                sock = self._by_endpoint.get(endpoint)
                if sock is None:
                    sock = self._socket(mesh_key)
                    self._by_endpoint[endpoint] = sock
                    try:
                        sock.bind(endpoint)
                    except zmq.ZMQError as exc:
                        raise RecordingError(
                            f"cannot bind {endpoint} to replay {stream!r}: {exc} "
                            "(is the live actor still running? use --replace)"
                        ) from None
                self._socket_of[stream] = sock
            #: every endpoint is bound from here: the watchers' grace counts from it
            self._opened_at = time.monotonic()
        except RecordingError:
            self.close(linger=0)
            raise

    def _socket(self, mesh_key: MeshKey | None) -> zmq.Socket:
        """An XPUB with the replay options; encrypted (on its own context) with a key."""
        context = self._context
        if mesh_key is not None:
            context = zmq.Context()
        sock = context.socket(zmq.XPUB)
        sock.setsockopt(zmq.LINGER, LINGER_MS)
        sock.setsockopt(zmq.SNDHWM, SNDHWM)
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        sock.setsockopt(zmq.XPUB_NODROP, 1)
        if mesh_key is not None:
            from kairos.meshkey import serve_encrypted

            self._secured.append((context, serve_encrypted(context, sock, mesh_key)))
        return sock

    def wait_for(
        self, expected: Mapping[str, Iterable[str]], timeout_s: float
    ) -> dict[str, list[str]]:
        """Wait until every endpoint's expected consumers (actor names) have announced
        themselves, at most ``timeout_s``, then until watchers dialling in are connected
        (``_ready.first_send_at``, from the latest bind).

        Returns the consumers still missing, by endpoint (empty when everyone arrived).
        """
        for endpoint, sock in self._by_endpoint.items():
            self._consumers[sock] = Consumers(expected.get(endpoint, ()))
        deadline = time.monotonic() + timeout_s
        while True:
            self._collect()
            missing = {
                endpoint: self._consumers[sock].missing()
                for endpoint, sock in self._by_endpoint.items()
                if not self._consumers[sock].complete
            }
            if not missing or not self._poll_until(deadline):
                break
        grace_end = first_send_at(self._opened_at, time.monotonic())
        while self._poll_until(grace_end):
            self._collect()
        return missing

    def _poll_until(self, deadline: float) -> bool:
        """Wait for subscription events until ``deadline``; False once it has passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        poller = zmq.Poller()
        for sock in self._by_endpoint.values():
            poller.register(sock, zmq.POLLIN)
        poller.poll(poll_ms(min(remaining, 0.05)))
        return True

    def _collect(self) -> None:
        for sock in self._by_endpoint.values():
            consumers = self._consumers.get(sock)
            while True:
                try:
                    event = sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if consumers is not None:
                    consumers.take(event)

    def send(self, stream: str, frames: list[bytes], outcome: Outcome) -> None:
        """Send without ever dropping: wait for room when the high-water mark is reached."""
        sock = self._socket_of[stream]
        while True:
            try:
                sock.send_multipart(frames, zmq.NOBLOCK)
                return
            except zmq.Again:
                outcome.stalls += 1
                self._collect()  # keep subscription traffic flowing while blocked
                sock.poll(100, zmq.POLLOUT)

    def close(self, linger: int = LINGER_MS) -> None:
        for sock in self._by_endpoint.values():
            sock.close(linger)
        self._by_endpoint.clear()
        for context, auth in self._secured:
            auth.stop()
            context.term()
        self._secured.clear()
        self._context.term()


def play(
    messages: Iterable[Recorded],
    publishers: Publishers,
    speed: float | None,
    should_stop: Callable[[], bool],
    progress: Callable[[int], None],
) -> Outcome:
    """Send ``messages`` in order; ``speed`` None means as fast as the sockets allow.

    A message recorded ``d`` ns after the first is sent ``d / speed`` after the first was
    (absolute schedule: lateness never accumulates).  ``progress`` gets each log_time.
    """
    outcome = Outcome()
    first_log: int | None = None
    start = 0.0
    for message in messages:
        if should_stop():
            break
        if first_log is None:
            first_log = message.log_time
            start = time.perf_counter()
        if speed is not None:
            due = start + (message.log_time - first_log) / 1e9 / speed
            _wait_until(due)
            outcome.lateness_s = max(outcome.lateness_s, time.perf_counter() - due)
        publishers.send(
            message.stream,
            [message.stream.encode(), message.header, message.times, message.payload],
            outcome,
        )
        outcome.messages += 1
        progress(message.log_time)
    return outcome


def _wait_until(due: float) -> None:
    remaining = due - time.perf_counter()
    if remaining > SPIN_S:
        time.sleep(remaining - SPIN_S)
    while time.perf_counter() < due:
        pass  # spin the last SPIN_S: sleep() alone overshoots by up to a millisecond
