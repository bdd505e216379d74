"""Actors forked from the agent's zygote (kairos.agent.zygote): what an exec'd actor would be,
told and restarted the same, and an agent that exec's when told to."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from kairos.actors._zygote import (
    ZYGOTE_MODULE,
    Exited,
    Forked,
    ForkRequest,
    Ready,
    decode,
    forkable,
    is_actor_command,
)
from kairos.agent.zygote import LOST_EXIT
from kairos.control.commands import Logs, Spawn, Status, Stop


def _is_zygote(proc: psutil.Process) -> bool:
    return ZYGOTE_MODULE in " ".join(proc.cmdline())


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_lean_actor_is_forked_and_runs_as_an_execd_one_would(
    agent, client, sensor_spec, status_of, wait
) -> None:
    pid = client.call(Spawn(sensor_spec())).pid
    actor = psutil.Process(pid)
    zygote = actor.parent()
    assert zygote is not None and _is_zygote(zygote)
    assert zygote.parent().pid == agent.proc.pid
    directory = agent.state_dir.absolute() / "actors" / "osc"
    spec = str(directory / "spec.json")
    # the title of `python -m kairos.actors SPEC`: ps, pgrep -f and the orphan check
    assert is_actor_command(actor.cmdline(), spec)
    assert actor.name() == Path(zygote.cmdline()[0]).name[:15]  # the interpreter's, as exec'd
    assert os.getsid(pid) == pid  # its own session: a Ctrl-C in a terminal does not reach it
    assert actor.cwd() == str(directory)
    fds = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)}
    assert fds == {0: os.devnull, 1: str(directory / "actor.log"), 2: str(directory / "actor.log")}
    open_files = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    assert all(os.readlink(f"/proc/{pid}/fd/{fd}") != "socket:" for fd in open_files[:3])
    wait(lambda: any("started" in line for line in client.call(Logs("osc", lines=20)).lines), 15)
    assert client.call(Stop(("osc",))).stopped == ("osc",)
    status = status_of(client, "osc")
    assert status.state == "stopped" and status.last_exit == 0 and not _alive(pid)


def test_a_forked_actor_killed_is_told_and_restarted_forked(
    client, sensor_spec, status_of, wait
) -> None:
    first = client.call(Spawn(sensor_spec())).pid
    zygote = psutil.Process(first).parent()
    os.kill(first, signal.SIGKILL)

    def restarted():
        status = status_of(client, "osc")
        return status if status.state == "running" and status.pid != first else None

    status = wait(restarted, 10, step_s=0.02)
    assert status.last_exit == -signal.SIGKILL and status.restarts == 1
    assert psutil.Process(status.pid).parent().pid == zygote.pid


def test_a_zygote_killed_soon_after_its_start_leaves_its_actors_restarted_exec_d(
    agent, client, sensor_spec, status_of, wait
) -> None:
    """A zygote that dies within a minute of its start is not started again (its imports
    cost what an actor's do): its actors are stopped and restarted exec'd."""
    pids = [client.call(Spawn(sensor_spec(name=n))).pid for n in ("a", "b")]
    zygote = psutil.Process(pids[0]).parent()
    zygote.kill()

    def restarted():
        statuses = [status_of(client, n) for n in ("a", "b")]
        fresh = all(s.state == "running" and s.pid not in pids for s in statuses)
        return statuses if fresh else None

    statuses = wait(restarted, 15, step_s=0.05)
    assert not any(_alive(p) for p in pids)
    assert all(s.last_exit == -signal.SIGKILL for s in statuses)
    assert {psutil.Process(s.pid).parent().pid for s in statuses} == {agent.proc.pid}
    assert not any(_is_zygote(p) for p in psutil.Process(agent.proc.pid).children())
    assert "every actor exec'd from now on" in agent.log_path.read_text()


def test_a_zygote_that_served_a_while_is_replaced_and_its_actors_restarted(
    tmp_path, sensor_spec, wait
) -> None:
    """In-process supervisor, real zygote and actors: one that lived past HEALTHY_AFTER_S
    dies; its actors are stopped and restarted by a new zygote."""
    from kairos.agent.supervisor import HEALTHY_AFTER_S, Supervisor

    supervisor = Supervisor(tmp_path / "state", tmp_path / "clock.json")
    try:
        supervisor.start_zygote()
        supervisor.spawn(sensor_spec(policy="always"), "hash")
        actor = supervisor.actors["osc"]
        first = actor.process.pid
        old = supervisor.zygote
        old.started_at -= HEALTHY_AFTER_S  # as if it had served a minute
        old.process.kill()

        def replaced():
            supervisor.poll()
            process = actor.process
            return process is not None and process.pid != first and actor.state == "running"

        wait(replaced, 15, step_s=0.05)
        assert supervisor.zygote is not None and supervisor.zygote is not old
        assert actor.last_exit == -signal.SIGKILL and not _alive(first)
        assert psutil.Process(actor.process.pid).parent().pid == supervisor.zygote.process.pid
    finally:
        supervisor.shutdown()


def test_a_service_manager_s_sigterm_to_every_process_stops_actors_cleanly(
    agent, client, sensor_spec
) -> None:
    """systemd's stop signals every process of the unit at once: the zygote must outlive
    the agent's stop, to tell it each actor's end."""
    pids = [client.call(Spawn(sensor_spec(name=n))).pid for n in ("a", "b")]
    zygote = psutil.Process(pids[0]).parent()
    for pid in (agent.proc.pid, zygote.pid, *pids):
        os.kill(pid, signal.SIGTERM)
    assert agent.proc.wait(timeout=15) == 0
    psutil.wait_procs([zygote], timeout=5)
    assert not _alive(zygote.pid) and not any(_alive(p) for p in pids)
    log = agent.log_path.read_text()
    assert "the zygote died" not in log and "ignored SIGTERM" not in log


def test_actor_start_exec_gives_every_actor_its_own_interpreter(
    processes, tmp_path, agent_starter, sensor_spec, wait
) -> None:
    from support import start_agent

    agent = start_agent(
        processes, tmp_path, tmp_path / "st", "x", extra_args=["--actor-start", "exec"]
    )
    with agent.client() as client:
        pid = client.call(Spawn(sensor_spec())).pid
        actor = psutil.Process(pid)
        assert actor.parent().pid == agent.proc.pid
        spec = str((tmp_path / "st" / "actors" / "osc" / "spec.json").absolute())
        assert actor.cmdline()[-3:] == ["-m", "kairos.actors", spec]
        assert not any(_is_zygote(p) for p in psutil.Process(agent.proc.pid).children())
        started = lambda: any("started" in x for x in client.call(Logs("osc", lines=20)).lines)  # noqa: E731
        wait(started, 15)  # a SIGTERM before its handlers are set ends it by the signal
        assert client.call(Stop(("osc",))).stopped == ("osc",)
        assert client.call(Status()).actor("osc").last_exit == 0


def test_only_actors_that_keep_to_the_lean_imports_are_forkable() -> None:
    assert forkable("engine", None) and forkable("sync", None) and forkable("relay", None)
    assert forkable("sensor", "oscillator") and forkable("output", "jsonl")
    assert not forkable("output", "http")  # may speak TLS: the zygote keeps ssl out
    assert not forkable("sensor", "someone.elses:Adapter")  # a plugin may import anything


def test_records_build_and_parse_themselves_and_junk_is_refused() -> None:
    for record in (
        ForkRequest("/s/spec.json", "/s/actor.log", "/s"),
        Ready(41),
        Forked(42),
        Forked(0, "cannot fork: out of memory"),
        Exited(43, -9),
    ):
        assert decode(record.encode()) == record
    for junk in (b"", b"[]", b"{}", b'{"kind": "nope"}', b'{"kind": "exited", "pid": 1}', b"\xff"):
        with pytest.raises(ValueError, match="not a zygote record"):
            decode(junk)


def test_a_forked_actor_s_title_is_recognised_and_others_are_not() -> None:
    spec = "/var/lib/kairos/agent/actors/osc/spec.json"
    assert is_actor_command(["/usr/bin/python3", "-m", "kairos.actors", spec], spec)
    # a forked actor's title, as psutil splits it
    assert is_actor_command(["/usr/bin/python3", "-m", "kairos.actors", *spec.split()], spec)
    assert not is_actor_command(["/usr/bin/python3", "-m", "kairos.actors", spec + "x"], spec)
    assert not is_actor_command(["vim", spec], spec)
    assert LOST_EXIT == 255


def test_the_zygote_ends_with_its_agent_and_its_actors_stop_as_exec_d_ones_do(
    agent, sensor_spec, wait
) -> None:
    """An actor whose agent died stops within a second or two (kairos.actors._runtime): a
    forked one sees its zygote, which ends with the agent, go."""
    with agent.client() as client:
        pid = client.call(Spawn(sensor_spec())).pid
    zygote = psutil.Process(pid).parent()
    try:
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait(timeout=10)
        psutil.wait_procs([zygote], timeout=5)
        assert not _alive(zygote.pid), "the zygote must end when its agent's channel closes"
        wait(lambda: not _alive(pid), 10)
        log = (agent.state_dir / "actors" / "osc" / "actor.log").read_text()
        assert "parent process gone; stopping" in log
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("start", ["exec", "fork"])
def test_an_actor_whose_agent_dies_while_it_starts_stops_too(
    processes, tmp_path, sensor_spec, wait, start
) -> None:
    """Killed right after the spawn, the agent dies while an exec'd actor still imports
    (0.3 s and more): the actor must compare against the agent it was started by, not the
    parent it finds once its imports are done (before, it ran on until the next agent)."""
    from support import start_agent

    agent = start_agent(
        processes, tmp_path, tmp_path / "st", start, extra_args=["--actor-start", start]
    )
    with agent.client() as client:
        pid = client.call(Spawn(sensor_spec())).pid
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait(timeout=10)
    try:
        wait(lambda: not _alive(pid), 10)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_zygote_that_cannot_start_is_not_started_again(tmp_path, sensor_spec) -> None:
    """A broken install (here: an interpreter that exits at once) must not restart its
    zygote on every supervision pass: its actors are exec'd, and that is said once."""
    from kairos.agent.config import EXEC
    from kairos.agent.supervisor import Supervisor

    supervisor = Supervisor(tmp_path / "state", tmp_path / "clock.json", python="/bin/false")
    try:
        supervisor.start_zygote()
        zygote = supervisor.zygote
        assert zygote is not None and not zygote.wait_ready()  # it exited instead
        supervisor.spawn(sensor_spec(policy="never"), "hash")  # exec'd (and fails: /bin/false)
        assert isinstance(supervisor.actors["osc"].process, subprocess.Popen)
        for _ in range(5):
            supervisor.poll()
        assert supervisor.zygote is None and supervisor.start == EXEC
    finally:
        supervisor.shutdown()


def test_the_zygote_outlives_stop_signals_and_still_forks(
    agent, client, sensor_spec, status_of, wait
) -> None:
    """SIGTERM and SIGINT are the agent's to act on; until its first fork the zygote has
    other threads (NumPy's BLAS), any of which a process-directed signal may reach: none may
    end it."""
    wait(lambda: "zygote ready" in agent.log_path.read_text(), 15)
    (zygote,) = [p for p in psutil.Process(agent.proc.pid).children() if _is_zygote(p)]
    assert len(os.listdir(f"/proc/{zygote.pid}/task")) > 1  # the threads this is about
    for _ in range(3):
        for sig in (signal.SIGTERM, signal.SIGINT):
            os.kill(zygote.pid, sig)
    first = client.call(Spawn(sensor_spec(name="a"))).pid
    assert _alive(zygote.pid) and psutil.Process(first).parent().pid == zygote.pid
    wait(lambda: any("started" in x for x in client.call(Logs("a", lines=20)).lines), 15)
    assert status_of(client, "a").state == "running"
