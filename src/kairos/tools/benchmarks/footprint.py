"""What Kairos costs at rest: the idle agent, one actor of each role, and the demo's launch time.

* idle agent: ``kairos agent run`` with no actors, once it wrote its ready file and settled:
  RSS, and CPU % averaged over the whole measuring interval (psutil CPU times ÷ wall time);
  and beside it the RSS of its zygote, the process it forks actors from (Linux), which an
  idle agent holds too;
* actors: the ``rss_bytes`` each actor of ``topologies/demo.yaml`` reports in its witness,
  the largest of each role, read after the demo ran for a few seconds;
* what the demo costs the machine, from each process's ``/proc/PID/smaps_rollup`` at the
  same moment: per role the largest USS (memory only that actor holds: what one more actor
  of the role costs), and the PSS of the agent, its zygote and the actors summed (each
  shared page divided among the processes that map it), with the zygote's own RSS;
* the floor of an actor's RSS, the actor rows' baseline: a Python process that imported NumPy
  and pyzmq (the libraries every actor needs) and opened one ZeroMQ socket, nothing else;
* launch: from starting ``kairos launch`` on the demo (a copy with free ports) until every
  sensor, engine and sync published its first message on its main stream (the sync waits
  for its outputs to subscribe first, so this includes them), and until every actor,
  outputs included, published its first witness (once a second after it starts).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from kairos.actors._zygote import ACTOR_COMMAND, ZYGOTE_MODULE
from kairos.meshtime import MeshClock
from kairos.ports import free_port_range
from kairos.registry import ROLES
from kairos.tools.benchmarks._procs import (
    BenchmarkError,
    ProcessGroup,
    Progress,
    StreamWatch,
)
from kairos.tools.benchmarks._report import Row, metric
from kairos.topologies import example

MB = 1024 * 1024
DEMO = example("demo")
READY_TIMEOUT_S = 20.0
LAUNCH_TIMEOUT_S = 30.0


def run(progress: Progress | None = None, quick: bool = False) -> list[Row]:
    say = progress or (lambda text: None)
    idle_s = 3.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="kairos-bench-footprint-") as tmp:
        work = Path(tmp)
        say(f"footprint: idle agent for {idle_s:g} s")
        rss, cpu, zygote = _idle_agent(work / "agent", idle_s)
        say("footprint: launching the demo topology")
        launch = _demo_launch(work / "demo", settle_s=3.0 if quick else 5.0)
    floor = _floor_rss()
    rows = [
        metric("idle agent RSS", rss / MB, "MB", target="≤ 25 MB"),
        metric("idle agent CPU", cpu, "%", target="≤ 0.3 %"),
        metric(
            "idle agent's zygote RSS",
            None if zygote is None else zygote / MB,
            "MB",
            note="no zygote: actors are exec'd here" if zygote is None else None,
        ),
    ]
    for role in (r for r in ROLES if r in launch.roles):
        value = launch.rss_by_role.get(role)
        rows.append(
            metric(
                f"{role} actor RSS",
                None if value is None else value / MB,
                "MB",
                baseline=floor / MB,
                target="≤ 32 MB",
                note="baseline: Python with NumPy and pyzmq imported and one socket open",
            )
        )
    for role in (r for r in ROLES if r in launch.uss_by_role):
        rows.append(
            metric(
                f"{role} actor USS",
                launch.uss_by_role[role] / MB,
                "MB",
                note="memory only this actor holds: what one more costs",
            )
        )
    rows.append(
        metric(
            "demo PSS: agent, zygote and actors",
            None if launch.pss is None else launch.pss / MB,
            "MB",
            note=f"{launch.processes} processes",
        )
    )
    rows.append(
        metric(
            "zygote RSS",
            None if launch.zygote_rss is None else launch.zygote_rss / MB,
            "MB",
            note="none: the actors were exec'd" if launch.zygote_rss is None else None,
        )
    )
    rows.append(
        metric(
            "demo launch → every actor publishing",
            launch.streams_s,
            "s",
            target="≤ 1.5 s",
            note="first message on every sensor, engine and sync main stream",
        )
    )
    rows.append(metric("demo launch → every actor's first witness", launch.witness_s, "s"))
    return rows


def _kairos(*args: str) -> list[str]:
    return [sys.executable, "-m", "kairos.tools.cli", *args]


#: the floor process: what every actor imports and holds before any Kairos code
_FLOOR = """
import sys
import numpy
import zmq
context = zmq.Context()
socket = context.socket(zmq.SUB)
socket.connect("tcp://127.0.0.1:9")
print("ready", flush=True)
sys.stdin.read()
"""


def _floor_rss() -> int:
    """The RSS of :data:`_FLOOR` once its socket is open (its I/O thread running)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _FLOOR],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":  # its traceback went to our stderr
            raise BenchmarkError("the floor process (NumPy, pyzmq, one socket) did not start")
        time.sleep(0.3)  # as an actor's figure, read after start-up settled
        return int(psutil.Process(proc.pid).memory_info().rss)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _idle_agent(work: Path, idle_s: float) -> tuple[int, float, int | None]:
    ready = work / "ready"
    with ProcessGroup(work) as group:
        proc = group.start(
            "agent",
            _kairos(
                "agent", "run", "--bind", "tcp://127.0.0.1:0",
                "--ready-file", str(ready), "--state-dir", str(work / "state"),
            ),
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            group.check_alive()
            if time.monotonic() > deadline:
                raise BenchmarkError(f"the agent wrote no ready file in {READY_TIMEOUT_S:g} s")
            time.sleep(0.05)
        time.sleep(1.0)  # let start-up work finish: idle means after it
        agent = psutil.Process(proc.pid)
        before = agent.cpu_times()
        started = time.monotonic()
        time.sleep(idle_s)
        after = agent.cpu_times()
        elapsed = time.monotonic() - started
        rss = int(agent.memory_info().rss)
        zygotes = [p for p in agent.children() if ZYGOTE_MODULE in " ".join(p.cmdline())]
        zygote = int(zygotes[0].memory_info().rss) if zygotes else None
        group.check_alive()
    busy = (after.user - before.user) + (after.system - before.system)
    return rss, 100.0 * busy / elapsed, zygote


class _Launch:
    def __init__(self) -> None:
        self.streams_s: float | None = None
        self.witness_s: float | None = None
        self.rss_by_role: dict[str, int] = {}
        self.uss_by_role: dict[str, int] = {}
        self.pss: int | None = None
        self.processes = 0
        self.zygote_rss: int | None = None
        #: the roles the demo runs (a relay is not among them: `kairos bench relay` runs one)
        self.roles: tuple[str, ...] = ()


def _demo_copy(work: Path) -> Path:
    """The demo topology with its ports moved to a free range, so it cannot collide."""
    text = DEMO.read_text()
    base = free_port_range(20)
    copy = work / "demo.yaml"
    work.mkdir(parents=True, exist_ok=True)
    copy.write_text(re.sub(r"base_port:\s*\d+", f"base_port: {base}", text))
    return copy


def _demo_launch(work: Path, settle_s: float) -> _Launch:
    from kairos.topologies.loader import load

    path = _demo_copy(work)
    topology = load(path)
    result = _Launch()
    result.roles = tuple({a.role: None for a in topology.actors.values()})
    clock = MeshClock()
    with ProcessGroup(work) as group, StreamWatch() as watch:
        for name in topology.actors:
            watch.watch(topology.endpoint(name), [""])  # every topic
        main = [n for n, a in topology.actors.items() if a.role != "output"]
        started = clock.now_ns()
        group.start(
            "launch",
            _kairos("launch", str(path), "--no-status", "--state-dir", str(work / "state")),
        )
        deadline = time.monotonic() + LAUNCH_TIMEOUT_S
        while time.monotonic() < deadline:
            watch.poll(0.05)
            group.check_alive()
            seen = watch.first_seen_ns
            if result.streams_s is None and all(n in seen for n in main):
                result.streams_s = (max(seen[n] for n in main) - started) / 1e9
            witnesses = [f"{n}/witness" for n in topology.actors]
            if result.witness_s is None and all(w in seen for w in witnesses):
                result.witness_s = (max(seen[w] for w in witnesses) - started) / 1e9
            if result.streams_s is not None and result.witness_s is not None:
                break
        else:
            missing = [n for n in main if n not in watch.first_seen_ns]
            raise BenchmarkError(
                f"demo launch: {', '.join(missing) or 'some witnesses'} never published "
                f"within {LAUNCH_TIMEOUT_S:g} s"
            )
        watch.poll(settle_s)
        for name, history in watch.witness_history.items():
            role = topology.actors[name].role
            rss = max(w.rss_bytes for w in history)
            result.rss_by_role[role] = max(result.rss_by_role.get(role, 0), rss)
        _shared_memory(group.procs["launch"].pid, topology, result)
        status = group.stop(["launch"], timeout=15.0)
    if status.get("launch") != 0:
        raise BenchmarkError(f"kairos launch exited with status {status.get('launch')}")
    return result


def _shared_memory(launcher_pid: int, topology: Any, result: _Launch) -> None:
    """The demo's USS by role, its processes' PSS summed and the zygote's RSS (every
    process the launcher started, at once)."""
    try:
        processes = psutil.Process(launcher_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return
    pss = found = 0
    for proc in processes:
        try:
            cmdline = " ".join(proc.cmdline())
            memory = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found += 1
        pss += int(getattr(memory, "pss", 0))
        if ZYGOTE_MODULE in cmdline:
            result.zygote_rss = int(memory.rss)
        elif f" {ACTOR_COMMAND} " in cmdline:
            name = Path(cmdline.rsplit(" ", 1)[-1]).parent.name
            actor = topology.actors.get(name)
            if actor is not None:
                uss = int(memory.uss)
                result.uss_by_role[actor.role] = max(result.uss_by_role.get(actor.role, 0), uss)
    if found and sys.platform.startswith("linux"):
        result.pss, result.processes = pss, found


if __name__ == "__main__":  # python -m kairos.tools.benchmarks.footprint [--quick]
    for row in run(lambda text: print(text, file=sys.stderr), quick="--quick" in sys.argv):
        print(row)
