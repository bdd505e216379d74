"""Agent providers on their own: a local agent the launcher starts, the same agent reached
as a remote one, and the wait for agents that do not come up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from kairos.control.commands import Status
from kairos.errors import AgentError, SecurityError
from kairos.launch.providers import AgentLink, AgentProvider, LocalAgent, RemoteAgent, wait_ready


@pytest.fixture
def context() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def test_local_agent_starts_serves_and_stops(tmp_path: Path, context: zmq.Context) -> None:
    local = LocalAgent("box", "mac-mini", tmp_path, env={"KAIROS_TEST_MARK": "1", "PATH": ""})
    try:
        link = local.start(context)
        assert local.started is not None and local.started.proc.poll() is None
        assert link.device == "box" and not link.curve
        assert link.endpoint.startswith("tcp://127.0.0.1:") and not link.endpoint.endswith(":0")
        assert local.ready()
        hello = link.client.hello()
        assert (hello.device, hello.device_class) == ("box", "mac-mini")
        assert "local agent of box (mac-mini) at tcp://127.0.0.1:" in local.describe()
        # the provider's environment reached the agent, nothing of the launcher's
        with open(f"/proc/{local.started.proc.pid}/environ", "rb") as handle:
            variables = handle.read().split(b"\0")
        assert b"KAIROS_TEST_MARK=1" in variables and b"PATH=" in variables

        # the same agent, reached as a remote one on loopback (no CurveZMQ needed there)
        remote = RemoteAgent("box", link.endpoint, curve=None)
        remote_link = remote.start(context)
        assert remote_link.client.call(Status()).device == "box"
        assert remote.ready() and remote.started is None
        assert "remote agent of box at tcp://127.0.0.1:" in remote.describe()
        remote.stop()  # not ours to stop: the agent still answers
        assert link.client.hello().device == "box"
        remote_link.client.close()
        link.client.close()
    finally:
        local.stop()
    assert local.started.proc.poll() == 0  # SIGTERM: the agent stopped cleanly


def test_remote_agent_beyond_loopback_needs_curve(context: zmq.Context) -> None:
    with pytest.raises(SecurityError, match="without CurveZMQ"):
        RemoteAgent("far", "tcp://192.0.2.7:7700", curve=None).start(context)


class _NeverReady(AgentProvider):
    """An agent that never serves (its ready file never appears)."""

    ready_timeout_s = 0.3

    def start(self, context: zmq.Context) -> AgentLink:
        raise AssertionError("not started in this test")

    def ready(self) -> bool:
        return False

    def describe(self) -> str:
        return "never"


class _DiesWhileStarting(_NeverReady):
    def ready(self) -> bool:
        raise AgentError(f"agent of device {self.device!r} exited with 1 before serving")


def test_wait_ready_gives_up_after_the_providers_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(AgentError, match="'slow' not serving after 0 s"):
        wait_ready({"slow": _NeverReady("slow")}, lambda: None, poll_s=0.01)
    assert time.monotonic() - started >= 0.3
    with pytest.raises(AgentError, match="exited with 1"):
        wait_ready({"dead": _DiesWhileStarting("dead")}, lambda: None)


def test_wait_ready_stops_when_the_launch_is_stopped() -> None:
    def stop() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wait_ready({"slow": _NeverReady("slow")}, stop)
