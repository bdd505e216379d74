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
#: a dial-out agent reconnects this often while its launcher is unreachable: after a cut,
#: the link is back in use within one interval plus one handshake (≤ 3 s, docs/sites.md)
RECONNECT_IVL_MS: Final = 500
#: where a dial-out agent binds for its start-up self-test alone (port 0: any free one)
LOOPBACK_SELF_TEST: Final = "tcp://127.0.0.1:0"


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


def dial_out(sock: zmq.Socket, endpoint: str) -> None:
    """Connect an agent's ROUTER out to ``endpoint`` (a device nothing can dial).

    The agent stays the CurveZMQ server (the handshake's roles do not depend on who dials),
    so the launcher's key is checked by the same allow-list as on a bound agent.  A connect
    attempt into a dead link gives up after CONNECT_TIMEOUT_MS instead of the kernel's SYN
    back-off, and ZeroMQ retries every RECONNECT_IVL_MS without end: the agent comes back by
    itself once the link does."""
    sock.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)
    sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MS)
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        raise AgentError(f"cannot dial the launcher: {exc}", address=endpoint) from None


def listen(sock: zmq.Socket, endpoint: str) -> str:
    """Bind a launcher's DEALER where a dial-out agent connects; a host that is not an
    address of this machine (a cloud VM's public address behind its provider's NAT) is
    bound on every interface at the same port.  The real endpoint is returned."""
    try:
        return bind(sock, endpoint)
    except AgentError:
        port = endpoint.rsplit(":", 1)[-1]
        return bind(sock, f"tcp://0.0.0.0:{port}")
