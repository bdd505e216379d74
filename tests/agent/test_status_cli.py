"""``kairos agent status``: the typed replies of a live agent, as JSON and as text."""

from __future__ import annotations

import json
import subprocess
import sys

from kairos.control.commands import Health, Hello, Spawn, Status


def _status(endpoint: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kairos.tools.cli", "agent", "status"]
    return subprocess.run(
        [*command, "--endpoint", endpoint, *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_json_parses_into_the_commands_results(agent, client, sensor_spec) -> None:
    client.call(Spawn(sensor_spec()))
    done = _status(agent.endpoint, "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == {Hello.name, Status.name, Health.name}
    hello = Hello.parse_result(printed[Hello.name])
    status = Status.parse_result(printed[Status.name])
    health = Health.parse_result(printed[Health.name])
    assert (hello.device, hello.device_class) == ("test-device", "mac-mini")
    assert [(a.name, a.state) for a in status.actors] == [("osc", "running")]
    assert health.agent_rss_bytes > 0 and health.security["curve"] is False


def test_status_text_names_the_device_and_each_actor(agent, client, sensor_spec) -> None:
    pid = client.call(Spawn(sensor_spec())).pid
    done = _status(agent.endpoint)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"agent {agent.endpoint}: device test-device (mac-mini)")
    assert any(line.split()[:2] == ["osc", "running"] and str(pid) in line for line in lines)


def test_status_of_an_absent_agent_fails_with_exit_1(port: int) -> None:
    done = _status(f"tcp://127.0.0.1:{port}", "--timeout", "0.5")
    assert done.returncode == 1
    assert "not reachable" in done.stderr or "no reply" in done.stderr
