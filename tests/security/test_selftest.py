"""The start-up self-test fails when the allow-list would let a stranger in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from kairos import keys
from kairos.control.sockets import CurveKeys, bind, control_socket
from kairos.errors import SecurityError
from kairos.security.guard import ControlGuard
from kairos.security.selftest import prove_refusal


class OpenDoor(ControlGuard):
    """A broken allow-list that admits every key."""

    def trusts(self, public: bytes) -> bool:
        return True


@pytest.fixture
def context() -> Iterator[zmq.Context]:
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def serve(context: zmq.Context, guard: ControlGuard, start: bool) -> tuple[zmq.Socket, str, bytes]:
    public, secret = zmq.curve_keypair()
    if start:
        guard.start()
    sock = control_socket(context, zmq.ROUTER, curve=CurveKeys(public, secret))
    return sock, bind(sock, "tcp://127.0.0.1:0"), public


def test_self_test_passes_with_the_real_allow_list(context: zmq.Context, tmp_path: Path) -> None:
    guard = ControlGuard(context, tmp_path)
    sock, endpoint, public = serve(context, guard, start=True)
    try:
        prove_refusal(sock, endpoint, public, guard)
        assert guard.refused_handshakes == 1 and guard.allowed_handshakes == 1
    finally:
        sock.close(linger=0)
        guard.stop()


def test_self_test_fails_when_strangers_get_in(context: zmq.Context, tmp_path: Path) -> None:
    guard = OpenDoor(context, tmp_path)
    sock, endpoint, public = serve(context, guard, start=True)
    try:
        with pytest.raises(SecurityError, match="unknown key was not refused"):
            prove_refusal(sock, endpoint, public, guard)
    finally:
        sock.close(linger=0)
        guard.stop()


def test_self_test_fails_without_an_authenticator(context: zmq.Context, tmp_path: Path) -> None:
    guard = ControlGuard(context, tmp_path)
    sock, endpoint, public = serve(context, guard, start=False)
    try:
        with pytest.raises(SecurityError, match="not running"):
            prove_refusal(sock, endpoint, public, guard)
    finally:
        sock.close(linger=0)


def test_a_bad_trusted_file_is_never_trusted(context: zmq.Context, tmp_path: Path) -> None:
    good = keys.generate(tmp_path / "k", "good")
    keys.trust(tmp_path / "t", str(good.public_file))
    (tmp_path / "t" / "junk.key").write_text("not a key\n")
    guard = ControlGuard(context, tmp_path / "t")
    guard.reload()
    assert guard.trusts(good.public)
    assert guard.name_of(good.public) == "good"
    assert not guard.trusts(b"junk")
