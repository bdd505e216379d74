"""kill -9 of an agent: the launcher loses the device, then reconciles without duplicates.

The agent is started on a fixed port (not by the launcher), so a restarted agent is found
again at the same endpoint, as a service manager would restart it on a real device.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from chaos.harness import actor_processes, drive, record_result, start_agent
from support import Processes, free_port

from kairos.launch import Launch

pytestmark = [pytest.mark.chaos]

PLANNED = {"osc", "eng"}


def _topology(path: Path, agent_port: int) -> Path:
    path.write_text(
        "name: chaos-agent\n"
        f"mesh: {{base_port: {free_port()}, clock: consensus}}\n"
        "devices:\n"
        f"  box: {{class: mac-mini, agent: 'tcp://127.0.0.1:{agent_port}'}}\n"
        "actors:\n"
        "  osc: {role: sensor, device: box, adapter: oscillator, rate_hz: 200,\n"
        "        params: {freq_hz: 4.0}}\n"
        "  eng: {role: engine, device: box, inputs: [osc],\n"
        "        encoding: {type: lockin, freq_hz: 4.0}, windows: {fast: 0.5, slow: 10}}\n"
    )
    return path


@dataclass
class AgentKill:
    lost_s: float  # kill -> the launcher reports the device LOST
    ready_s: float  # agent restart (process start) -> serving
    reconciled_s: float  # agent restart (process start) -> every planned actor runs again
    most_copies: dict[str, int] = field(default_factory=dict)  # per actor, at any sample
    final: dict[str, list[int]] = field(default_factory=dict)
    old_pids: set[int] = field(default_factory=set)


@pytest.fixture(scope="module")
def agent_kill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentKill]:
    tmp = tmp_path_factory.mktemp("agent-kill")
    port = free_port()
    state = tmp / "agent-state"
    processes = Processes()
    launch: Launch | None = None
    most: dict[str, int] = {}

    def count_copies() -> dict[str, list[int]]:
        found = actor_processes(state)
        for spec, pids in found.items():
            name = Path(spec).parent.name
            most[name] = max(most.get(name, 0), len(pids))
        return found

    def states() -> dict[str, str]:
        assert launch is not None
        return {a["name"]: a["state"] for a in launch.status()["actors"]}

    try:
        agent = start_agent(processes, port, state, "box")
        launch = Launch(_topology(tmp / "agent.yaml", port), state_dir=tmp / "launch")
        launch.start()
        drive(launch, lambda: states() == dict.fromkeys(PLANNED, "running"), 15)
        old_pids = {pid for pids in count_copies().values() for pid in pids}

        # its actors stop once they see it gone (within a second or two), or the next agent
        # stops them as orphans: never two copies of one actor
        agent.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        agent.wait(timeout=10)

        def lost() -> bool:
            count_copies()
            return bool(launch.status()["devices"]["box"]["lost"])

        drive(launch, lost, 15)
        lost_s = time.monotonic() - killed

        restarted = time.monotonic()
        start_agent(processes, port, state, "box")  # stops the orphans, starts empty
        ready_s = time.monotonic() - restarted

        def reconciled() -> bool:
            found = count_copies()
            return (
                not launch.status()["devices"]["box"]["lost"]
                and states() == dict.fromkeys(PLANNED, "running")
                and {Path(s).parent.name for s in found} == PLANNED
                and not {p for pids in found.values() for p in pids} & old_pids
            )

        drive(launch, reconciled, 20)
        reconciled_s = time.monotonic() - restarted
        drive(launch, lambda: count_copies() and time.monotonic() > restarted + 8, 10)
        yield AgentKill(lost_s, ready_s, reconciled_s, most, count_copies(), old_pids)
    finally:
        if launch is not None:
            launch.stop()
        processes.cleanup()


def test_device_lost_within_3s(agent_kill: AgentKill) -> None:
    record_result(
        "agent_kill_lost",
        lost_s=round(agent_kill.lost_s, 3),
    )
    assert agent_kill.lost_s <= 3.0


def test_reconciled_within_5s_of_agent_restart(agent_kill: AgentKill) -> None:
    record_result(
        "agent_kill_reconcile",
        agent_ready_s=round(agent_kill.ready_s, 3),
        reconciled_s=round(agent_kill.reconciled_s, 3),
    )
    assert agent_kill.reconciled_s <= 5.0


def test_no_duplicate_actors(agent_kill: AgentKill) -> None:
    record_result("agent_kill_duplicates", most_copies_seen=agent_kill.most_copies)
    assert agent_kill.most_copies == dict.fromkeys(PLANNED, 1)
    assert {Path(s).parent.name: len(p) for s, p in agent_kill.final.items()} == dict.fromkeys(
        PLANNED, 1
    )
    assert not {p for pids in agent_kill.final.values() for p in pids} & agent_kill.old_pids
