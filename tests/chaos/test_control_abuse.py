"""A hostile neighbour on an agent's control port, while a legitimate launcher uses it.

The agent runs with CurveZMQ and an allow-list on 127.0.0.1.  For 10 s an attacker process
(``attacker.py``) holds 200 half-open TCP connections, opens 100 connections a second that
spew random bytes, and tries 100 fresh unknown keys that each send ``stop all``.  Meanwhile a
trusted client sends heartbeats and times them.  The baseline is the same attacker aimed at
a decoy listener of its own, so both phases pay for the same CPU load on this machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chaos.harness import percentile, record_result, wait_for
from support import Processes, free_port

from kairos import keys
from kairos.actors.spec import ActorProcessSpec
from kairos.control.client import ControlClient
from kairos.control.commands import Heartbeat, Spawn, Status, StatusResult
from kairos.control.sockets import CurveKeys
from kairos.errors import AgentError

pytestmark = [pytest.mark.chaos]

ATTACKER = Path(__file__).with_name("attacker.py")
ATTACK_S = 10.0
UNKNOWN_KEYS = 100
BEAT_EVERY_S = 0.01


@dataclass
class Phase:
    latencies_ms: list[float]
    attacker: dict[str, Any]
    unanswered: int = 0

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)


@dataclass
class Abuse:
    phases: dict[str, Phase] = field(default_factory=dict)
    status: StatusResult | None = None
    agent_alive: bool = False
    agent_log: str = ""


def _attack(
    processes: Processes, target: list[str], client: ControlClient, server_key: bytes
) -> Phase:
    """Run the attacker for ATTACK_S while timing heartbeats of the trusted client."""
    proc = processes.start(
        [
            sys.executable,
            str(ATTACKER),
            *target,
            "--duration",
            str(ATTACK_S),
            "--server-key",
            server_key.decode(),
            "--unknown-keys",
            str(UNKNOWN_KEYS),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # its half-open connections are in place
    latencies = []
    unanswered = 0
    end = time.monotonic() + ATTACK_S - 1.5
    while time.monotonic() < end:
        sent = time.perf_counter()
        try:
            client.call(Heartbeat(), timeout_s=5.0)
        except AgentError:
            unanswered += 1
        else:
            latencies.append((time.perf_counter() - sent) * 1e3)
        time.sleep(BEAT_EVERY_S)
    out, _ = proc.communicate(timeout=ATTACK_S + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"attacker exited {proc.returncode}")
    return Phase(latencies, json.loads(out.strip().splitlines()[-1]), unanswered)


@pytest.fixture(scope="module")
def abuse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Abuse]:
    tmp = tmp_path_factory.mktemp("abuse")
    agent_pair = keys.generate(tmp / "keys", "agent")
    launcher = keys.generate(tmp / "keys", "launcher")
    trusted = tmp / "trusted"
    keys.trust(trusted, str(launcher.public_file))
    assert launcher.secret is not None
    port = free_port()
    ready = tmp / "ready"
    log_path = tmp / "agent.log"
    processes = Processes()
    try:
        with open(log_path, "wb") as log:
            agent = processes.start(
                [
                    sys.executable,
                    "-m",
                    "kairos.agent",
                    "--bind",
                    f"tcp://127.0.0.1:{port}",
                    "--ready-file",
                    str(ready),
                    "--class",
                    "mac-mini",
                    "--device",
                    "box",
                    "--state-dir",
                    str(tmp / "state"),
                    "--curve-key",
                    str(agent_pair.secret_file),
                    "--trusted-dir",
                    str(trusted),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: ready.exists() or agent.poll() is not None, 30, 0.05)
        if agent.poll() is not None:
            raise RuntimeError(f"agent exited: {log_path.read_text()[-2000:]}")
        curve = CurveKeys(launcher.public, launcher.secret, agent_pair.public)
        result = Abuse()
        with ControlClient(ready.read_text().strip(), curve=curve) as client:
            client.hello()
            spec = ActorProcessSpec(
                name="osc",
                role="sensor",
                device="box",
                device_class="mac-mini",
                bind=f"tcp://127.0.0.1:{free_port()}",
                adapter="oscillator",
                params={"freq_hz": 2.0},
                rate_hz=50.0,
            )
            client.call(Spawn(spec))
            decoy, target = ["--decoy"], ["--target", f"127.0.0.1:{port}"]
            result.phases["baseline"] = _attack(processes, decoy, client, agent_pair.public)
            result.phases["attack"] = _attack(processes, target, client, agent_pair.public)
            result.status = client.call(Status())
        result.agent_alive = agent.poll() is None
        result.agent_log = log_path.read_text(errors="replace")
        yield result
    finally:
        processes.cleanup()


def test_unknown_keys_are_refused_and_nothing_is_delivered(abuse: Abuse) -> None:
    attacker = abuse.phases["attack"].attacker
    assert abuse.status is not None
    counters = abuse.status.counters
    record_result(
        "control_unknown_keys",
        attempts=attacker["unknown_key_attempts"],
        outcomes=attacker["unknown_key_outcomes"],
        replies=attacker["unknown_key_replies"],
        agent_handshakes_refused=counters.get("handshakes_refused"),
    )
    assert attacker["unknown_key_attempts"] == UNKNOWN_KEYS
    assert attacker["unknown_key_outcomes"] == {"refused": UNKNOWN_KEYS}
    assert attacker["unknown_key_replies"] == 0
    assert counters["handshakes_refused"] >= UNKNOWN_KEYS
    # "stop all" from a stranger would have stopped it
    assert [(a.name, a.state) for a in abuse.status.actors] == [("osc", "running")]
    assert abuse.agent_alive


def test_garbage_and_half_open_leave_every_command_answered(abuse: Abuse) -> None:
    """Every heartbeat of the trusted launcher is answered while the port is flooded.

    The heartbeat latencies of both phases are recorded (``record_result``), not asserted:
    speed is measured by benchmarks, never by a timed assertion, and on 2 shared cores a p99
    comparison failed under unrelated load (3.85 vs 0.76 ms) while passing alone.
    """
    baseline, attack = abuse.phases["baseline"], abuse.phases["attack"]
    record_result(
        "control_garbage_latency",
        attack_s=ATTACK_S,
        half_open=attack.attacker["half_open"],
        garbage_connections=attack.attacker["garbage_connections"],
        garbage_bytes=attack.attacker["garbage_bytes"],
        baseline_p50_ms=round(baseline.p50, 3),
        baseline_p99_ms=round(baseline.p99, 3),
        attack_p50_ms=round(attack.p50, 3),
        attack_p99_ms=round(attack.p99, 3),
        samples=[len(baseline.latencies_ms), len(attack.latencies_ms)],
        unanswered=[baseline.unanswered, attack.unanswered],
    )
    assert attack.attacker["half_open"] == baseline.attacker["half_open"] == 200
    assert attack.attacker["garbage_connections"] > 0.5 * 100 * ATTACK_S
    assert abuse.agent_alive
    assert len(attack.latencies_ms) > 0
    assert (baseline.unanswered, attack.unanswered) == (0, 0)
