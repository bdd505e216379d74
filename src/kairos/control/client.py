"""The client side of the control plane: one DEALER talking to one agent.

A caller hands it a command of :mod:`kairos.control.commands` (``client.call(Status())``)
and gets the command's typed result back; the command, not the caller, spells its name and
arguments.  Every request carries a fresh id and an expiry on the agent's clock; every wait is
bounded by a poll.  A client learns the agent's clock from its replies (``now_ns``), so an
agent whose clock is far from ours does not refuse our commands as expired.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

import zmq

from kairos import PROTOCOL_VERSION
from kairos.control.commands import Command, Hello, HelloResult, Result
from kairos.control.protocol import (
    EXPIRED,
    Reply,
    Request,
    VersionMismatch,
)
from kairos.control.sockets import CurveKeys, control_socket
from kairos.control.sockets import listen as listen_at
from kairos.errors import AgentError, ProtocolError, SecurityError
from kairos.loopback import is_loopback
from kairos.meshtime import sample_base_ns
from kairos.timeouts import poll_ms

R = TypeVar("R", bound=Result)

DEFAULT_TIMEOUT_S = 5.0
#: how long a request stays valid on the agent
DEFAULT_TTL_S = 10.0


class ControlClient:
    """Requests to one agent; ``call`` waits for its own reply, ``send``/``collect`` pipeline."""

    def __init__(
        self,
        endpoint: str,
        *,
        context: zmq.Context | None = None,
        curve: CurveKeys | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ttl_s: float = DEFAULT_TTL_S,
        listen: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.ttl_s = ttl_s
        self._context = context or zmq.Context.instance()
        self._sock = control_socket(self._context, zmq.DEALER, curve=curve)
        if listen and curve is None and not is_loopback(endpoint):
            self._sock.close(0)
            raise SecurityError(
                f"refusing to listen for an agent at {endpoint} without CurveZMQ: whoever "
                "connected would receive the commands"
            )
        if listen:
            # a dial-out agent (docs/sites.md) connects to us; commands wait (bounded, like
            # any unreachable agent) until it has, and go nowhere else: IMMEDIATE, and the
            # CurveZMQ handshake proves the agent's key
            try:
                self.endpoint = listen_at(self._sock, endpoint)
            except AgentError:
                self._sock.close(0)
                raise
        else:
            self._sock.connect(endpoint)
        self._base_ns = sample_base_ns()
        #: agent clock − our clock, learnt from replies (0 until one arrives)
        self.agent_offset_ns = 0
        self._mailbox: dict[str, Reply] = {}
        #: replies that did not decode (counted, never raised from collect)
        self.bad_replies = 0

    def now_ns(self) -> int:
        """This client's local clock (same definition as an agent's, see kairos.meshtime)."""
        return time.monotonic_ns() + self._base_ns

    # -- pipelined use -------------------------------------------------------------------

    def send(self, command: Command[Any], request_id: str | None = None) -> str:
        """Queue one command without waiting; returns its request id, or raises AgentError
        if the agent is not connected (the socket never queues for an absent agent).  Its
        reply comes back from :meth:`collect` or :meth:`wait`; ``command.parse_result``
        reads it."""
        request = self.request(command, request_id)
        self._send(request)
        return request.id

    def collect(self, timeout_s: float = 0.0) -> list[Reply]:
        """Every reply that arrives within ``timeout_s`` (plus any already waiting)."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            if not self._sock.poll(poll_ms(remaining), zmq.POLLIN):
                break
            self._receive_one()
        replies = list(self._mailbox.values())
        self._mailbox.clear()
        return replies

    # -- request/reply -------------------------------------------------------------------

    def call(
        self,
        command: Command[R],
        *,
        timeout_s: float | None = None,
        request_id: str | None = None,
    ) -> R:
        """Send one command and wait for its reply; its typed result, or AgentError with the
        reply's code (ProtocolError when the result does not parse)."""
        reply = self.call_reply(command, timeout_s=timeout_s, request_id=request_id)
        if reply.code == EXPIRED and request_id is None:
            # our idea of the agent's clock was wrong; the reply taught us, try once more
            reply = self.call_reply(command, timeout_s=timeout_s)
        if not reply.ok:
            raise AgentError(
                f"{command.name} refused: {reply.code}: {reply.error}",
                address=self.endpoint,
                code=reply.code,
            )
        return command.parse_result(reply.result)

    def call_reply(
        self,
        command: Command[Any],
        *,
        timeout_s: float | None = None,
        request_id: str | None = None,
    ) -> Reply:
        """Like :meth:`call` but returns the Reply, whatever its code."""
        return self.exchange(self.request(command, request_id), timeout_s=timeout_s)

    def exchange(self, request: Request, *, timeout_s: float | None = None) -> Reply:
        """Send one request as it is and wait for its Reply, whatever its code.

        For requests no command builds (a hostile-input test, a fuzzer's seed); everything
        else goes through :meth:`call`."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._send(request)
                break
            except AgentError:
                if time.monotonic() >= deadline:
                    raise AgentError(
                        f"{request.cmd}: agent not reachable within {timeout:.1f} s",
                        address=self.endpoint,
                    ) from None
                time.sleep(0.02)
        return self.wait(request.id, max(0.0, deadline - time.monotonic()), request.cmd)

    def wait(self, request_id: str, timeout_s: float, cmd: str = "request") -> Reply:
        """Wait for the reply to ``request_id``; other replies are kept for ``collect``."""
        deadline = time.monotonic() + timeout_s
        while request_id not in self._mailbox:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sock.poll(poll_ms(remaining), zmq.POLLIN):
                if request_id in self._mailbox:
                    break
                raise AgentError(
                    f"{cmd}: no reply within {timeout_s:.1f} s",
                    address=self.endpoint,
                    code="timeout",
                )
            self._receive_one()
        return self._mailbox.pop(request_id)

    def timed_exchange(self, request: Request, timeout_s: float) -> tuple[Reply, int, int]:
        """Send ``request`` and wait for its Reply, stamping this client's local clock just
        before the send and just after the receipt (t1, t4 of a clock probe).

        Encoding the request and decoding the reply stay outside the two stamps, as the
        agent's t2 and t3 leave out its own decoding and encoding: ~10–20 µs of Python on
        each side that would otherwise widen the round trip and, being on one side only,
        bias the offset by half of it."""
        payload = request.encode()
        deadline = time.monotonic() + timeout_s
        while True:  # a socket that is still connecting refuses the send: retry it
            t1 = self.now_ns()
            try:
                self._sock.send(payload, zmq.NOBLOCK)
                break
            except zmq.Again:
                if time.monotonic() >= deadline:
                    raise AgentError(
                        f"{request.cmd}: agent not connected",
                        address=self.endpoint,
                        code="unreachable",
                    ) from None
                time.sleep(0.02)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sock.poll(poll_ms(remaining), zmq.POLLIN):
                raise AgentError(
                    f"{request.cmd}: no reply within {timeout_s:.2f} s",
                    address=self.endpoint,
                    code="timeout",
                )
            frames = self._sock.recv_multipart(zmq.NOBLOCK, copy=True)
            t4 = self.now_ns()
            reply = self._take(frames)
            if reply is not None and reply.id == request.id:
                del self._mailbox[reply.id]
                return reply, t1, t4

    def hello(self, timeout_s: float | None = None) -> HelloResult:
        """The version handshake: the agent's identity, or one clear error on a mismatch."""
        result = self.call(Hello(), timeout_s=timeout_s)
        if result.version != PROTOCOL_VERSION:
            raise VersionMismatch(
                f"agent {self.endpoint} speaks control protocol {result.version!r}, "
                f"this client speaks {PROTOCOL_VERSION}"
            )
        return result

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def expires_ns(self) -> int:
        """When a request sent now should expire, on the agent's clock as far as we know it."""
        return self.now_ns() + self.agent_offset_ns + int(self.ttl_s * 1e9)

    def request(self, command: Command[Any], request_id: str | None = None) -> Request:
        """``command`` as a request valid for ``ttl_s`` on the agent's clock."""
        return command.request(self.expires_ns(), request_id)

    # -- internals -----------------------------------------------------------------------

    def _send(self, request: Request) -> None:
        try:
            self._sock.send(request.encode(), zmq.NOBLOCK)
        except zmq.Again:
            raise AgentError(
                f"{request.cmd}: agent not connected", address=self.endpoint, code="unreachable"
            ) from None

    def _receive_one(self) -> Reply | None:
        return self._take(self._sock.recv_multipart(zmq.NOBLOCK, copy=True))

    def _take(self, frames: list[bytes]) -> Reply | None:
        """Decode one reply into the mailbox (None: malformed, counted)."""
        if len(frames) != 1:
            self.bad_replies += 1
            return None
        try:
            reply = Reply.decode(frames[0])
        except VersionMismatch:
            raise  # one clear error, never counted away
        except ProtocolError:
            self.bad_replies += 1
            return None
        now = reply.result.get("now_ns") if isinstance(reply.result, dict) else None
        if type(now) is int:
            self.agent_offset_ns = now - self.now_ns()
        self._mailbox[reply.id] = reply
        return reply
