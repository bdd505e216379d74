"""Dial-out agents on loopback: the agent connects out, the launcher listens, and the whole
control protocol runs over that one connection under CurveZMQ, as with a bound agent.

The agent keeps its guard: a launcher whose key it does not trust gets nothing, and an agent
told to dial beyond loopback without a key pair refuses to start.  When the launcher's side
goes away and comes back (its process restarted, or the network path cut: the netns test
cuts a real link), the agent reconnects by itself and a repeated spawn finds the actor
already running (no duplicate).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import Processes, free_port, start_agent

from kairos import keys
from kairos.actors.spec import ActorProcessSpec
from kairos.control.client import ControlClient
from kairos.control.commands import Clock, Heartbeat, Spawn, Status, Stop
from kairos.control.commands.spawn import STARTED, UNCHANGED
from kairos.errors import AgentError, SecurityError
from kairos.launch.agents import agent_credentials, client_curve

pytestmark = pytest.mark.timeout(90)


def dialling_agent(
    processes: Processes, tmp_path: Path, launcher: keys.KeyPair, port: int, tag: str
) -> tuple[keys.KeyPair, str]:
    """An agent that trusts ``launcher`` and dials tcp://127.0.0.1:port."""
    credentials = agent_credentials(tmp_path / tag, "far", launcher.public)
    dial = f"tcp://127.0.0.1:{port}"
    running = start_agent(
        processes,
        tmp_path,
        tmp_path / tag / "state",
        tag,
        device="far",
        extra_args=[
            "--dial",
            dial,
            "--curve-key",
            str(credentials.pair.secret_file),
            "--trusted-dir",
            str(credentials.trusted_dir),
        ],
    )
    assert running.endpoint == dial  # what it announces is where it dials
    return credentials.pair, dial


def sensor(tmp_path: Path) -> ActorProcessSpec:
    return ActorProcessSpec(
        name="osc",
        role="sensor",
        device="far",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{free_port()}",
        adapter="oscillator",
        rate_hz=50.0,
        params={"freq_hz": 2.0},
        work_dir=str(tmp_path / "osc"),
    )


def test_the_control_protocol_runs_over_the_agents_outgoing_connection(
    processes: Processes, tmp_path: Path
) -> None:
    launcher = keys.generate(tmp_path / "launcher", "launcher")
    port = free_port()
    agent_pair, dial = dialling_agent(processes, tmp_path, launcher, port, "a")
    curve = client_curve(launcher, agent_pair.public)
    client = ControlClient(dial, curve=curve, listen=True)
    try:
        assert client.hello(timeout_s=10.0).device == "far"
        spec = sensor(tmp_path)
        assert client.call(Spawn(spec)).outcome == STARTED
        assert client.call(Status()).actor("osc").state == "running"
        assert client.call(Heartbeat()).running == 1
        t1 = client.now_ns()
        reading = client.call(Clock(t1=t1))
        assert reading.t1 == t1 and reading.t2 <= reading.t3
        # the launcher's side goes away (restarted, or its link cut) and comes back
        client.close()
        time.sleep(2.0)
        client = ControlClient(dial, curve=curve, listen=True)
        started = time.monotonic()
        client.hello(timeout_s=10.0)
        reconnect_s = time.monotonic() - started
        print(f"dial-out agent back {reconnect_s:.2f} s after the launcher listened again")
        # reconciling: the same spec again finds the same actor, no second one
        assert client.call(Spawn(spec)).outcome == UNCHANGED
        actors = client.call(Status()).actors
        assert [a.name for a in actors] == ["osc"]
        client.call(Stop())
    finally:
        client.close()


def test_a_dialling_agent_still_obeys_only_trusted_launchers(
    processes: Processes, tmp_path: Path
) -> None:
    trusted = keys.generate(tmp_path / "trusted", "launcher")
    stranger = keys.generate(tmp_path / "stranger", "launcher")
    port = free_port()
    agent_pair, dial = dialling_agent(processes, tmp_path, trusted, port, "b")
    client = ControlClient(dial, curve=client_curve(stranger, agent_pair.public), listen=True)
    try:
        with pytest.raises(AgentError):
            client.call(Status(), timeout_s=3.0)
    finally:
        client.close()


def test_dialling_beyond_loopback_without_keys_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kairos.agent",
            "--dial",
            "tcp://10.99.99.99:7700",
            "--state-dir",
            str(tmp_path / "state"),
            "--class",
            "mac-mini",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "without CurveZMQ" in done.stderr


def test_a_launcher_never_listens_for_agents_beyond_loopback_in_the_clear() -> None:
    with pytest.raises(SecurityError, match="without CurveZMQ"):
        ControlClient("tcp://10.99.99.99:7701", listen=True)
