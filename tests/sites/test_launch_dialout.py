"""A real launch on loopback with a dial-out device: the launcher listens for the agent,
deploys over that connection, and the device's actors are read through a relay.

No root needed: the far device's agent is started by the test with ``--dial`` (as
``kairos agent install --dial`` would), trusting the launcher's key; the topology names its
``agent_key``, so the launcher speaks CurveZMQ to it although it is on loopback.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import Processes, free_port, start_agent

from kairos import keys
from kairos.launch import Launch
from kairos.launch.agents import agent_credentials

pytestmark = pytest.mark.timeout(120)


def test_a_launch_deploys_over_the_agents_dial_and_reads_its_actors_at_the_relay(
    processes: Processes, tmp_path: Path
) -> None:
    launcher = keys.generate(tmp_path / "launcher", "launcher")
    credentials = agent_credentials(tmp_path / "far", "far", launcher.public)
    dial = f"tcp://127.0.0.1:{free_port()}"
    topology = tmp_path / "loop-sites.yaml"
    topology.write_text(
        f"""name: loop-sites
mesh: {{base_port: {free_port()}}}
devices:
  far:
    class: mac-mini
    agent: {{dial: "{dial}"}}
    agent_key: "{credentials.pair.public.decode()}"
  hub: {{class: mac-mini, agent: localhost}}
actors:
  osc: {{role: sensor, device: far, adapter: oscillator, rate_hz: 100}}
  eng: {{role: engine, device: far, inputs: [osc], windows: {{fast: 0.1, slow: 1.0}}}}
  relay: {{role: relay, device: hub}}
  mesh: {{role: sync, device: hub, inputs: [eng]}}
"""
    )

    def far_agent(tag: str) -> Any:
        return start_agent(
            processes,
            tmp_path,
            tmp_path / "far" / "state",
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

    agent = far_agent("far")
    launch = Launch(topology, state_dir=tmp_path / "launch", key=str(launcher.secret_file))
    try:
        plan = launch.start()
        relay = plan.specs["relay"].endpoint
        assert plan.specs["osc"].endpoint == relay and plan.specs["eng"].endpoint == relay
        assert plan.specs["osc"].publish_to is not None
        assert launch.links["far"].curve  # CurveZMQ to the dialling agent
        status = tick_until(launch, lambda s: all_flowing(s), "every actor publishing")
        assert {a["name"]: a["state"] for a in status["actors"]} == dict.fromkeys(
            ("eng", "mesh", "osc", "relay"), "running"
        )
        assert not status["devices"]["far"]["lost"]
        first_pids = {a["name"]: a["pid"] for a in status["actors"]}
        # the far agent dies with its actors; a new one dials in: LOST, back, reconciled
        os.kill(agent.proc.pid, signal.SIGKILL)
        agent.proc.wait(timeout=10)
        tick_until(launch, lambda s: s["devices"]["far"]["lost"], "far LOST")
        far_agent("far-again")
        status = tick_until(
            launch,
            lambda s: (
                not s["devices"]["far"]["lost"]
                and all_flowing(s)
                and all(
                    a["pid"] != first_pids[a["name"]] for a in s["actors"] if a["device"] == "far"
                )
            ),
            "far back and its actors redeployed",
        )
        assert {a["name"]: a["state"] for a in status["actors"]} == dict.fromkeys(
            ("eng", "mesh", "osc", "relay"), "running"
        )
    finally:
        launch.stop()


def all_flowing(status: dict[str, Any]) -> bool:
    rates = [a["rate_hz"] for a in status["actors"]]
    mesh = status["mesh"].get("mesh")
    return all(rates) and mesh is not None and "eng" in mesh.nodes


def tick_until(
    launch: Launch, done: Callable[[dict[str, Any]], bool], what: str, timeout_s: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        launch.tick(0.05)
        status = launch.status()
        if done(status):
            return status
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:g} s: {status}"
