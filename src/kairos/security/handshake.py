"""Watch a CurveZMQ client's handshake, so a refused or mismatched key is an error.

A CurveZMQ client whose key is refused, or that holds the wrong server key, never hears
anything: libzmq retries quietly forever.  A socket monitor sees the handshake's outcome;
:func:`wait_handshake` turns it into a result within a bounded time.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import zmq
from zmq.utils.monitor import recv_monitor_message

from kairos.timeouts import poll_ms

EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


@dataclass(frozen=True)
class Outcome:
    """How a handshake ended: ``ok``, ``refused`` (ZAP said no), ``failed`` or ``timeout``."""

    status: str
    detail: str
    connected: bool

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class HandshakeWatch:
    """A monitor on one socket; create it *before* connecting the socket."""

    def __init__(self, sock: zmq.Socket) -> None:
        self._sock = sock
        self._monitor = sock.get_monitor_socket(EVENTS)
        self.connected = False

    def wait(self, timeout_s: float) -> Outcome:
        """The first handshake outcome within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        disconnects = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._monitor.poll(poll_ms(remaining)):
                detail = (
                    "connected but no CurveZMQ handshake completed: the server's public key "
                    "is probably wrong"
                    if self.connected
                    else "could not connect"
                )
                if disconnects:
                    detail += f" ({disconnects} disconnects)"
                return Outcome("timeout", detail, self.connected)
            event = recv_monitor_message(self._monitor)
            kind, value = event["event"], event["value"]
            if kind == zmq.EVENT_CONNECTED:
                self.connected = True
            elif kind == zmq.EVENT_DISCONNECTED:
                disconnects += 1
            elif kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                return Outcome("ok", "handshake succeeded", True)
            elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                return Outcome("refused", f"our key was refused (ZAP status {value})", True)
            else:
                return Outcome("failed", f"handshake failed ({_name(kind)}, {value})", True)

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):  # a closed socket took its monitor along
            self._sock.disable_monitor()
        self._monitor.close(linger=0)


def _name(kind: int) -> str:
    try:
        return zmq.Event(kind).name or str(kind)
    except ValueError:
        return str(kind)
