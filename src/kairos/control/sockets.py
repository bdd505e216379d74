"""Control-plane sockets, created in one place so every one gets the same safety options.

Every control socket has a bounded linger, bounded queues, ZeroMQ heartbeats (a dead peer is
noticed in seconds, not at the 30 s handshake timeout) and, on the agent's ROUTER,
``ROUTER_MANDATORY`` so a reply to a vanished client is an error we count rather than a
silent drop.  Every one has a maximum message size, so an oversize frame costs the peer
its connection instead of costing us memory.  CurveZMQ is switched on here by passing keys;
a CurveZMQ server (the agent's ROUTER) also requires a ZAP answer for every handshake, so
without the allow-list authenticator of :mod:`kairos.security.guard` running on the same
context it admits nobody (libzmq would otherwise admit everyone).
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
CONNECT_TIMEOUT_MS: Final = 1000
#: largest control frame a socket accepts at all: the protocol refuses (and answers) frames
#: above 1 MiB; beyond this hard limit libzmq drops the connection without reading them
MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024
#: ZAP domain of the control plane's CurveZMQ server
ZAP_DOMAIN: Final = b"kairos-control"


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
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    if kind == zmq.ROUTER:
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    else:
        # never queue a command for an agent that is not connected: it would fire late
        sock.setsockopt(zmq.IMMEDIATE, 1)
        # a reconnect begun while a link was down must not wait out the kernel's SYN
        # back-off (seconds) once the link is back
        sock.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)
    if curve is not None:
        sock.setsockopt(zmq.CURVE_PUBLICKEY, curve.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
        if kind == zmq.ROUTER:
            sock.setsockopt(zmq.CURVE_SERVER, 1)
            # no ZAP handler answering: refuse the handshake instead of admitting anyone
            sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
            sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
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
