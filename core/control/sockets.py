"""Control-plane sockets, created in one place so every one gets the same safety options.

Every control socket has a bounded linger, bounded queues, ZeroMQ heartbeats (a dead peer is
noticed in seconds, not at the 30 s handshake timeout) and, on the agent's ROUTER,
``ROUTER_MANDATORY`` so a reply to a vanished client is an error we count rather than a
silent drop.  CurveZMQ is switched on here by passing keys; the allow-list authenticator
(ZAP) that must accompany it on the agent belongs to the security layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import zmq

from kairos.errors import AgentError

LINGER_MS: Final = 500
HWM: Final = 1000
HEARTBEAT_IVL_MS: Final = 1000
HEARTBEAT_TIMEOUT_MS: Final = 3000
HEARTBEAT_TTL_MS: Final = 3000


@dataclass(frozen=True)
class CurveKeys:
    """Z85 CurveZMQ keys of this side; ``server_public`` is set on clients only."""

    public: bytes
    secret: bytes
    server_public: bytes | None = None


def control_socket(
    context: zmq.Context, kind: int, *, curve: CurveKeys | None = None
) -> zmq.Socket:
    """A ROUTER (agent) or DEALER (client) with the control plane's options set."""
    if kind not in (zmq.ROUTER, zmq.DEALER):
        raise AgentError(f"control sockets are ROUTER or DEALER, not socket type {kind}")
    sock = context.socket(kind)
    sock.setsockopt(zmq.LINGER, LINGER_MS)
    sock.setsockopt(zmq.SNDHWM, HWM)
    sock.setsockopt(zmq.RCVHWM, HWM)
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TTL_MS)
    if kind == zmq.ROUTER:
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    else:
        # never queue a command for an agent that is not connected: it would fire late
        sock.setsockopt(zmq.IMMEDIATE, 1)
    if curve is not None:
        sock.setsockopt(zmq.CURVE_PUBLICKEY, curve.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
        if kind == zmq.ROUTER:
            sock.setsockopt(zmq.CURVE_SERVER, 1)
        elif curve.server_public is None:
            sock.close(0)
            raise AgentError("a CurveZMQ client needs the agent's public key")
        else:
            sock.setsockopt(zmq.CURVE_SERVERKEY, curve.server_public)
    return sock


def bind(sock: zmq.Socket, endpoint: str) -> str:
    """Bind and return the real endpoint (``tcp://127.0.0.1:0`` picks a free port)."""
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise AgentError(f"cannot bind control socket: {exc}", address=endpoint) from None
    real = sock.getsockopt(zmq.LAST_ENDPOINT)
    return real.decode() if isinstance(real, bytes) else str(real)
