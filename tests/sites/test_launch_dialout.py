"""A real launch on loopback with a dial-out device: the launcher listens for the agent,
deploys over that connection, and the device's actors are read through a relay.

No root needed: the far device's agent is started by the test with ``--dial`` (as
``kairos agent install --dial`` would), trusting the launcher's key; the topology names its
``agent_key``, so the launcher speaks CurveZMQ to it although it is on loopback.
"""

from __future__ import annotations

import time
from pathlib import Path

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
    start_agent(
        processes,
        tmp_path,
        tmp_path / "far" / "state",
        "far",
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
    launch = Launch(topology, state_dir=tmp_path / "launch", key=str(launcher.secret_file))
    try:
        plan = launch.start()
        relay = plan.specs["relay"].endpoint
        assert plan.specs["osc"].endpoint == relay and plan.specs["eng"].endpoint == relay
        assert plan.specs["osc"].publish_to is not None
        assert launch.links["far"].curve  # CurveZMQ to the dialling agent
        deadline = time.monotonic() + 60.0
        while True:
            launch.tick(0.05)
            status = launch.status()
            rates = {a["name"]: a["rate_hz"] for a in status["actors"]}
            mesh = status["mesh"].get("mesh")
            if all(rates.values()) and mesh is not None and "eng" in mesh.nodes:
                break
            assert time.monotonic() < deadline, (rates, mesh)
        assert {a["name"]: a["state"] for a in status["actors"]} == dict.fromkeys(
            ("eng", "mesh", "osc", "relay"), "running"
        )
        assert not status["devices"]["far"]["lost"]
    finally:
        launch.stop()
