"""Supervision over a real agent: spawn, stop, status, logs, restarts, shutdown, orphans."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time

import psutil
import pytest

from kairos.control.commands import Health, Logs, Spawn, Status, Stop
from kairos.control.protocol import REFUSED, Reply


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _actor_pids(spec_path: str) -> list[int]:
    """Every live process that is a kairos actor of this spec file."""
    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if cmdline[-3:] == ["-m", "kairos.actors", spec_path] and _alive(proc.pid):
            pids.append(proc.pid)
    return pids


def test_spawn_status_logs_stop(agent, client, sensor_spec, status_of, wait) -> None:
    reply = client.call(Spawn(sensor_spec()))
    assert reply.outcome == "started"
    status = status_of(client, "osc")
    assert status.state == "running" and _alive(status.pid)
    assert status.spec_hash == reply.spec_hash
    spec_file = agent.state_dir / "actors" / "osc" / "spec.json"
    import json

    written = json.loads(spec_file.read_text())
    assert written["clock_file"] == str(agent.state_dir / "clock.json")
    lines = wait(lambda: client.call(Logs("osc", lines=20)).lines, 15)
    assert any("osc" in line for line in lines)
    health = client.call(Health())
    assert health.agent_rss_bytes > 0 and 0 <= health.memory_percent <= 100
    assert client.call(Stop(("osc",))).stopped == ("osc",)
    assert not _alive(status.pid)
    assert status_of(client, "osc").state == "stopped"


def test_spawn_identical_is_noop_and_different_restarts(client, sensor_spec, status_of) -> None:
    spec = sensor_spec()
    first = client.call(Spawn(spec))
    same = client.call(Spawn(spec))
    assert same.outcome == "unchanged" and same.pid == first.pid
    changed = client.call(Spawn(dataclasses.replace(spec, rate_hz=20.0)))
    assert changed.outcome == "restarted" and changed.pid != first.pid
    assert not _alive(first.pid)
    assert status_of(client, "osc").spec_hash == changed.spec_hash != first.spec_hash


def test_roles_and_adapters_not_installed_are_refused(client, sensor_spec) -> None:
    for bad in (
        sensor_spec(role="shell"),
        sensor_spec(adapter="rm-rf"),
        sensor_spec(name="../escape"),
        sensor_spec(name=["not", "a", "name"]),
        sensor_spec(
            role="engine",
            adapter=None,
            params={},
            windows=[0.5, 5.0],
            encoding={"type": "no-such-encoding"},
        ),
    ):
        reply: Reply = client.call_reply(Spawn(bad))
        assert reply.code == REFUSED, (bad, reply)
    # a spec with a field no spec has, or a mesh key of the wrong type: the spawn request's
    # own args, tampered with
    for tampering, word in (
        ({"no_such_field": 1}, "no_such_field"),
        ({"mesh": {"hysteresis": "wide"}}, "hysteresis"),
    ):
        request = client.request(Spawn(sensor_spec()))  # a fresh request id each time
        ((key, spec),) = request.args.items()
        tampered = {key: {**spec, **tampering}}
        reply = client.exchange(dataclasses.replace(request, args=tampered))
        assert reply.code == "bad-request" and word in (reply.error or ""), reply
    assert client.call(Status()).actors == ()


def test_an_actor_refusing_its_params_exits_2_saying_why(client, sensor_spec, wait) -> None:
    # the agent checks names only; the adapter checks its params when the actor starts
    spec = sensor_spec(policy="never", params={"freq_hz": "fast", "volume": 3})
    assert client.call(Spawn(spec)).outcome == "started"

    def failed():
        (actor,) = client.call(Status()).actors
        return actor if actor.state == "failed" else None

    assert wait(failed, 30).last_exit == 2
    lines = client.call(Logs("osc", lines=50)).lines
    refusal = [line for line in lines if "refuses its params" in line]
    assert refusal, lines
    assert "unknown key volume" in refusal[0] and "freq_hz: must be a number" in refusal[0]


@pytest.mark.exclusive  # a restart held to 2 s
def test_kill9_actor_is_restarted_within_2s(client, sensor_spec, status_of, wait) -> None:
    pid = client.call(Spawn(sensor_spec())).pid
    time.sleep(0.5)
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    def restarted():
        status = status_of(client, "osc")
        return status if status.state == "running" and status.pid != pid else None

    status = wait(restarted, 10, step_s=0.02)
    elapsed = time.monotonic() - killed_at
    assert elapsed < 2.0, f"restarted after {elapsed:.2f} s"
    assert status.restarts == 1
    assert status.last_exit == -signal.SIGKILL
    assert _alive(status.pid)


def test_policy_never_is_not_restarted(client, sensor_spec, status_of, wait) -> None:
    pid = client.call(Spawn(sensor_spec(policy="never"))).pid
    os.kill(pid, signal.SIGKILL)
    wait(lambda: status_of(client, "osc").state == "failed", 10)
    time.sleep(1.0)  # longer than the first backoff: a restart would have happened by now
    status = status_of(client, "osc")
    assert status.state == "failed" and status.restarts == 0 and status.pid is None


def test_sigterm_stops_every_actor(agent, client, sensor_spec) -> None:
    pids = [client.call(Spawn(sensor_spec(name=n))).pid for n in ("a", "b")]
    assert all(_alive(p) for p in pids)
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=10) == 0
    assert not any(_alive(p) for p in pids)


def test_orphans_of_a_killed_agent_are_stopped_on_restart(
    agent, agent_starter, sensor_spec
) -> None:
    with agent.client() as client:
        pids = [client.call(Spawn(sensor_spec(name=n))).pid for n in ("a", "b")]
    orphans = list(pids)
    try:
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait(timeout=10)
        assert all(_alive(p) for p in pids), "actors must outlive their agent"
        second = agent_starter(agent.state_dir, "b")
        assert not any(_alive(p) for p in pids), "orphans were not stopped"
        with second.client() as client:
            assert client.call(Status()).actors == ()
            orphans.append(client.call(Spawn(sensor_spec(name="a"))).pid)
            spec_path = str(agent.state_dir / "actors" / "a" / "spec.json")
            assert len(_actor_pids(spec_path)) == 1
    finally:
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
