"""The agent's start-up self-test: prove the allow-list refuses an unknown key.

Run after the control socket is bound and before the agent serves.  A client with a fresh
random key must be refused at the handshake and deliver nothing; a client with a key the
guard trusts for the test alone must get through, with the ``User-Id`` the agent checks on
every request.  Any other result is a :class:`~kairos.errors.SecurityError`: the agent
exits instead of serving unguarded.
"""

from __future__ import annotations

from typing import Final

import zmq

from kairos.errors import SecurityError
from kairos.security.endpoints import reachable_from_here
from kairos.security.guard import ControlGuard
from kairos.security.handshake import HandshakeWatch, Outcome
from kairos.timeouts import poll_ms

TIMEOUT_S: Final = 5.0
#: how long the router is watched for a frame the refused client must not deliver
QUIET_S: Final = 0.2
PROBE: Final = b"kairos-self-test"


def prove_refusal(
    router: zmq.Socket, endpoint: str, server_public: bytes, guard: ControlGuard
) -> None:
    """Raise SecurityError unless an unknown key is refused and a trusted one admitted."""
    if not guard.is_running():
        raise SecurityError("self-test: the ZAP authenticator is not running")
    target = reachable_from_here(endpoint)
    context = guard.context
    _, stranger_secret = zmq.curve_keypair()
    outcome, delivered = _attempt(context, router, target, server_public, stranger_secret)
    # only the probe counts: a launcher that keeps calling an agent being restarted may land
    # a request here too (it is dropped; the launcher's retry with the same id is answered)
    delivered = [frame for frame in delivered if frame[1] == PROBE]
    if outcome.status != "refused" or delivered:
        raise SecurityError(
            f"self-test: a client with an unknown key was not refused at {endpoint} "
            f"({outcome.detail}; delivered {len(delivered)} frames); not serving"
        )
    friend_public, friend_secret = zmq.curve_keypair()
    with guard.also_allowing(friend_public):
        outcome, delivered = _attempt(
            context, router, target, server_public, friend_secret, wait_for_frame=True
        )
    user_ids = [user_id for user_id, body in delivered if body == PROBE]
    if not outcome.ok or user_ids != [friend_public.decode()]:
        raise SecurityError(
            f"self-test: a trusted key was not admitted with its User-Id at {endpoint} "
            f"({outcome.detail}; got {user_ids}); not serving"
        )


def _attempt(
    context: zmq.Context,
    router: zmq.Socket,
    target: str,
    server_public: bytes,
    secret: bytes,
    *,
    wait_for_frame: bool = False,
) -> tuple[Outcome, list[tuple[str | None, bytes]]]:
    public = zmq.curve_public(secret)
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_public)
    watch = HandshakeWatch(sock)
    try:
        sock.connect(target)
        sock.send(PROBE)  # queued; delivered only if the handshake succeeds
        outcome = watch.wait(TIMEOUT_S)
        delivered = _drain(router, TIMEOUT_S if wait_for_frame and outcome.ok else QUIET_S)
    finally:
        watch.close()
        sock.close(linger=0)
    return outcome, delivered


def _drain(router: zmq.Socket, timeout_s: float) -> list[tuple[str | None, bytes]]:
    """Frames that reached the router within ``timeout_s`` (stops at the first one)."""
    got: list[tuple[str | None, bytes]] = []
    if router.poll(poll_ms(timeout_s), zmq.POLLIN):
        while True:
            try:
                frames = router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            body = frames[-1]
            user_id = body.get("User-Id")
            got.append((user_id if isinstance(user_id, str) else None, body.bytes))
    return got
