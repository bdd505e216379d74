"""SIGSTOP of an actor for 10 s: someone must say it is hung; SIGCONT must bring it back.

A stopped process is alive to its agent (``poll()`` says running), so only its missing
witness records can reveal it.  The launcher already notices that the witness went silent
(its ``rate_hz`` turns to None after 3 s) but does not report the actor as hung.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from chaos.harness import Observer, actor_state, drive, record_result
from support import free_port

from kairos.launch import Launch
from kairos.launch.view import plain_lines

pytestmark = [pytest.mark.chaos]

STOP_S = 10.0


@dataclass
class HungActor:
    hung_reported_s: float | None  # SIGSTOP -> the launcher's status says "hung"
    rate_gone_s: float | None  # SIGSTOP -> the launcher's rate for it turns to None
    agent_states: set[str] = field(default_factory=set)  # what the agent said meanwhile
    after: dict[str, Any] = field(default_factory=dict)  # the actor row 3 s after SIGCONT
    old_pid: int = 0
    witness_after: dict[str, Any] | None = None


@pytest.fixture(scope="module")
def hung_actor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HungActor]:
    tmp = tmp_path_factory.mktemp("hung")
    topology = tmp / "hung.yaml"
    topology.write_text(
        "name: chaos-hung\n"
        f"mesh: {{base_port: {free_port()}, clock: consensus}}\n"
        "devices:\n"
        "  box: {class: mac-mini, agent: localhost}\n"
        "actors:\n"
        "  osc: {role: sensor, device: box, adapter: oscillator, rate_hz: 200,\n"
        "        params: {freq_hz: 4.0}}\n"
        "  eng: {role: engine, device: box, inputs: [osc],\n"
        "        encoding: {type: lockin, freq_hz: 4.0}, windows: {fast: 0.5, slow: 10}}\n"
    )
    state = tmp / "launch"
    launch = Launch(topology, state_dir=state)
    observer: Observer | None = None
    try:
        plan = launch.start()
        endpoints = [a.endpoint for a in plan.actors]
        observer = Observer(endpoints, ["eng/witness"])
        drive(launch, lambda: actor_state(launch, "eng")["rate_hz"], 20)
        pid_file = state / "agents" / "box" / "actors" / "eng" / "pid"
        pid = json.loads(pid_file.read_text())["pid"]
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        hung_at: float | None = None
        rate_gone_at: float | None = None
        agent_states: set[str] = set()
        try:
            while time.monotonic() < stopped + STOP_S:
                launch.tick(0.05)
                status = launch.status()
                row = actor_state(launch, "eng")
                agent_states.add(row["state"])
                shown = row["state"] == "hung" or any(
                    "eng" in line and "hung" in line.lower() for line in plain_lines(status)
                )
                if hung_at is None and shown:
                    hung_at = time.monotonic()
                if rate_gone_at is None and row["rate_hz"] is None:
                    rate_gone_at = time.monotonic()
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        drive(launch, lambda: time.monotonic() > resumed + 3, 10)
        witness = observer.latest("eng/witness")
        yield HungActor(
            hung_reported_s=None if hung_at is None else hung_at - stopped,
            rate_gone_s=None if rate_gone_at is None else rate_gone_at - stopped,
            agent_states=agent_states,
            after=actor_state(launch, "eng"),
            old_pid=pid,
            witness_after=None if witness is None else witness.data,
        )
    finally:
        if observer is not None:
            observer.close()
        launch.stop()


def test_stopped_actor_reported_hung_within_3s(hung_actor: HungActor) -> None:
    record_result(
        "sigstop_hung",
        stopped_s=STOP_S,
        hung_reported_s=hung_actor.hung_reported_s,
        launcher_rate_blank_s=hung_actor.rate_gone_s,
        agent_states_seen=sorted(hung_actor.agent_states),
    )
    assert hung_actor.hung_reported_s is not None and hung_actor.hung_reported_s <= 3.0


def test_stopped_actor_resumes_after_sigcont(hung_actor: HungActor) -> None:
    after = hung_actor.after
    record_result(
        "sigstop_resume",
        state_after=after["state"],
        restarts_after=after["restarts"],
        rate_hz_3s_after=after["rate_hz"],
    )
    assert after["state"] == "running" and after["pid"] == hung_actor.old_pid
    assert after["restarts"] == 0
    assert after["rate_hz"] is not None and after["rate_hz"] > 0
    witness = hung_actor.witness_after
    assert witness is not None and witness["pid"] == hung_actor.old_pid
