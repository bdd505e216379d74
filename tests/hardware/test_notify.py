"""sd_notify over a real AF_UNIX datagram socket, as systemd would listen."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kairos.agent.notify import READY, STOPPING, WATCHDOG, notify, watchdog_interval_s
from kairos.errors import AgentError

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs AF_UNIX")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        yield sock, str(path)
    finally:
        sock.close()


def test_unset_socket_is_a_no_op() -> None:
    assert notify(READY, env={}) is False
    assert notify(READY, env={"NOTIFY_SOCKET": ""}) is False


def test_states_arrive_as_datagrams(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    env = {"NOTIFY_SOCKET": path}
    for state in (READY, WATCHDOG, "STATUS=serving 3 actors\nWATCHDOG=1", STOPPING):
        assert notify(state, env=env) is True
        assert sock.recv(4096).decode() == state


def test_reads_notify_socket_from_the_environment(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert notify(READY) is True
    assert sock.recv(4096) == b"READY=1"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux")
def test_abstract_socket_name() -> None:
    name = f"kairos-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert notify(WATCHDOG, env={"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_missing_socket_is_an_error(tmp_path: Path) -> None:
    gone = str(tmp_path / "nobody-listens.sock")
    with pytest.raises(AgentError, match="nobody-listens"):
        notify(READY, env={"NOTIFY_SOCKET": gone})


def test_relative_socket_is_refused() -> None:
    with pytest.raises(AgentError, match="NOTIFY_SOCKET"):
        notify(READY, env={"NOTIFY_SOCKET": "relative.sock"})


def test_watchdog_interval_is_half_the_timeout() -> None:
    assert watchdog_interval_s(env={}) is None
    assert watchdog_interval_s(env={"WATCHDOG_USEC": "10000000"}) == 5.0
    mine = {"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval_s(env=mine) == 1.5
    theirs = {"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert watchdog_interval_s(env=theirs) is None
    assert watchdog_interval_s(env={"WATCHDOG_USEC": "0"}) is None
    with pytest.raises(AgentError, match="WATCHDOG_USEC"):
        watchdog_interval_s(env={"WATCHDOG_USEC": "ten"})
