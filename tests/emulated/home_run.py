"""The home topology launched on an emulated cluster, watched from the root namespace.

One launch serves the whole module (building namespaces and starting Python on a 0.1-CPU
device takes seconds): a thread ticks the launcher and records every mesh-time round and
every LOST/back change; a tap thread subscribes to every actor's endpoint and keeps each
stream's messages (with the launch's mesh key: home.yaml's devices are off loopback, so its
data plane is encrypted by default).  Tests read both under locks.  ``HomeRun.close()``
tears everything down; the fixture calls it on every path, and the clean-up test calls it
explicitly.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import zmq
from meshtime.fakeclock import episode_problems

from kairos import wire
from kairos.clocksync import ClockEstimate, MeshOffsets
from kairos.errors import WireError
from kairos.launch import Launch
from kairos.meshkey import MeshKey, connect_encrypted

HOME = Path(__file__).resolve().parents[2] / "topologies" / "home.yaml"
#: the clock shift injected into the pi-zero's agent (its local clock runs this far behind)
KITCHEN_SHIFT_NS = -2_345_678
#: how long every actor must have published before the run counts as started
READY_TIMEOUT_S = 60.0


def coverage_problems(estimates: list[ClockEstimate], truth: float) -> list[str]:
    """What breaks the per-run coverage rule (``meshtime.fakeclock.episode_problems``: one
    episode of misses, each within twice its uncertainty) for one device's estimates, one
    per round in order (empty: nothing)."""
    return episode_problems(
        (k, e.offset_ns - truth, e.uncertainty_ns) for k, e in enumerate(estimates)
    )


@dataclass
class Received:
    """One message as the tap saw it (array payloads are summarised, records kept)."""

    at: float  # monotonic receive time
    seq: int
    epoch: int
    first_t: int
    last_t: int
    count: int
    record: dict[str, Any] | None = None


class Tap:
    """A SUB socket on every actor endpoint, all topics, in its own thread and context."""

    def __init__(self, endpoints: list[str], mesh_key: MeshKey | None) -> None:
        self._context = zmq.Context()
        self._sock = self._context.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        if mesh_key is not None:
            connect_encrypted(self._sock, mesh_key)
        self._sock.setsockopt(zmq.RCVHWM, 0)  # the test must not lose what actors sent
        self._sock.setsockopt(zmq.SUBSCRIBE, b"")
        for endpoint in endpoints:
            self._sock.connect(endpoint)
        self.lock = threading.Lock()
        self.streams: dict[str, list[Received]] = {}
        self.bad_frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tap", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._sock.poll(100, zmq.POLLIN):
                continue
            while True:
                try:
                    frames = self._sock.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                now = time.monotonic()
                try:
                    message = wire.decode(frames)
                except WireError:
                    self.bad_frames += 1
                    continue
                times = message.times
                entry = Received(
                    at=now,
                    seq=message.seq,
                    epoch=message.epoch,
                    first_t=int(times[0]) if len(times) else 0,
                    last_t=int(times[-1]) if len(times) else 0,
                    count=len(times),
                    record=dict(message.data) if message.is_record else None,
                )
                with self.lock:
                    self.streams.setdefault(message.stream, []).append(entry)

    def messages(self, stream: str, since: float = 0.0) -> list[Received]:
        with self.lock:
            return [m for m in self.streams.get(stream, []) if m.at >= since]

    def latest(self, stream: str) -> Received | None:
        with self.lock:
            found = self.streams.get(stream)
            return found[-1] if found else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close(linger=0)
        self._context.destroy(linger=0)


@dataclass
class DeviceEvent:
    device: str
    lost: bool
    at: float


class Driver:
    """Ticks the launcher in a thread; records mesh-time rounds and LOST/back changes."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        self.lock = threading.Lock()
        self.rounds: list[tuple[float, MeshOffsets]] = []
        self.events: list[DeviceEvent] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="launcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        lost: dict[str, bool] = {}
        try:
            while not self._stop.is_set():
                with self.lock:
                    self.launch.tick(0.05)
                    mesh = self.launch.mesh_time
                    devices = self.launch.status()["devices"]
                now = time.monotonic()
                if mesh is not None and (not self.rounds or self.rounds[-1][1] is not mesh):
                    self.rounds.append((now, mesh))
                for name, info in devices.items():
                    if info["lost"] != lost.get(name, False):
                        self.events.append(DeviceEvent(name, info["lost"], now))
                    lost[name] = info["lost"]
                time.sleep(0.01)  # let the test thread take the lock
        except BaseException as exc:  # reported by check(), never lost in the thread
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"the launcher's loop failed: {self.error!r}") from self.error

    def status(self) -> dict[str, Any]:
        self.check()
        with self.lock:
            return self.launch.status()

    def call(self, fn: Callable[[Launch], Any]) -> Any:
        """Run ``fn(launch)`` between two ticks."""
        self.check()
        with self.lock:
            return fn(self.launch)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@dataclass
class HomeRun:
    """The launched home topology, its driver and tap, and what teardown must remove."""

    launch: Launch
    driver: Driver
    tap: Tap
    state_dir: Path
    cluster_id: str
    actors: list[str]
    #: monotonic time at which every actor had published
    ready_at: float
    #: every agent and actor pid seen, to prove none survives teardown
    pids: set[int] = field(default_factory=set)
    closed: bool = False

    def wait(self, predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            self.driver.check()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout_s:g} s")
            time.sleep(0.05)

    def witness(self, actor: str) -> dict[str, Any] | None:
        latest = self.tap.latest(f"{actor}/witness")
        return latest.record if latest is not None else None

    def mesh_states(self, since: float = 0.0) -> list[dict[str, Any]]:
        return [m.record for m in self.tap.messages("mesh", since) if m.record is not None]

    def clock_base(self, device: str) -> int:
        """The local clock base the device's agent sampled (its clock file)."""
        state = json.loads((self.state_dir / "agents" / device / "clock.json").read_text())
        return int(state["base_ns"])

    def actor_processes(self) -> dict[str, list[int]]:
        """Every live ``python -m kairos.actors`` process of this launch, per actor name."""
        found: dict[str, list[int]] = {}
        for proc in psutil.process_iter(["cmdline", "status"]):
            cmdline = proc.info["cmdline"] or []
            if proc.info["status"] == psutil.STATUS_ZOMBIE or "kairos.actors" not in cmdline:
                continue
            spec = Path(cmdline[-1])
            if str(spec).startswith(str(self.state_dir)):
                found.setdefault(spec.parent.name, []).append(proc.pid)
        return found

    def remember_pids(self) -> None:
        for pids in self.actor_processes().values():
            self.pids.update(pids)
        for link in self.launch.links.values():
            if link.started is not None:
                self.pids.add(link.started.proc.pid)

    def close(self) -> None:
        """Stop the launcher loop, the launch (actors, agents, cluster) and the tap."""
        if self.closed:
            return
        self.closed = True
        self.remember_pids()
        try:
            self.driver.stop()
            self.launch.stop()
        finally:
            self.tap.close()


def start_home(state_dir: Path) -> HomeRun:
    return start_run(HOME, state_dir, {"kitchen": KITCHEN_SHIFT_NS})


def start_run(
    topology: Path,
    state_dir: Path,
    shifts_ns: dict[str, int],
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> HomeRun:
    """Launch ``topology`` emulated, each device of ``shifts_ns`` on a clock shifted that much;
    return once every actor publishes its witness (the tap reads each endpoint once: actors
    behind a relay share its endpoint)."""
    launch = Launch(
        topology,
        state_dir=state_dir,
        emulate=True,
        agent_env={d: {"KAIROS_CLOCK_SHIFT_NS": str(s)} for d, s in shifts_ns.items()},
    )
    try:
        plan = launch.start()
    except BaseException:
        launch.stop()
        raise
    key = MeshKey.read(launch.mesh_key_file) if launch.mesh_key_file is not None else None
    tap = Tap(sorted({a.endpoint for a in plan.actors}), key)
    run = HomeRun(
        launch=launch,
        driver=Driver(launch),
        tap=tap,
        state_dir=state_dir,
        cluster_id=launch.cluster.cluster_id,
        actors=[a.name for a in plan.actors],
        ready_at=0.0,
    )
    try:
        run.wait(
            lambda: all(run.witness(a) is not None for a in run.actors),
            ready_timeout_s,
            "every actor publishing its witness",
        )
        run.ready_at = time.monotonic()
        run.remember_pids()
    except BaseException:
        run.close()
        raise
    return run


def needs_root_reason() -> str | None:
    """Why the emulated cluster cannot run here (None: it can)."""
    if not sys.platform.startswith("linux"):
        return f"the emulated cluster needs Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "the emulated cluster needs root (namespaces, veths, cgroups)"
    return None
