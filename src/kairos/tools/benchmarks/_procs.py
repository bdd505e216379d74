"""Processes the benchmarks start: actor processes built from specs, helpers, their witnesses.

Every benchmark starts real processes (``python -m kairos.actors SPEC.json`` and the bench's
own probe and raw-pyzmq processes) on 127.0.0.1 and must leave none behind, whatever fails:
:class:`ProcessGroup` owns them and stops them on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import zmq

from kairos import wire
from kairos.actors.spec import ActorProcessSpec, InputLink
from kairos.errors import KairosError, WireError
from kairos.meshtime import MeshClock
from kairos.records import WITNESS_STREAM, RoleStats, Witness, split_stream
from kairos.timeouts import poll_ms
from kairos.topologies.model import Encoding, MeshSpec

DEVICE = "bench"
DEVICE_CLASS = "mac-mini"
#: engine windows and encoding used by every benchmark engine (those of the demo topology)
ENGINE_WINDOWS = (0.5, 10.0)
ENGINE_ENCODING = Encoding(type="lockin", params={"freq_hz": 8.0, "lp_cycles": 2.0})
MESH = MeshSpec()

Progress = Callable[[str], None]
_Stats = TypeVar("_Stats", bound=RoleStats)


class BenchmarkError(KairosError):
    """Raised when a benchmark cannot run: a process died, a stream never started."""


def role_stats(witness: Witness, cls: type[_Stats]) -> _Stats:
    """The role's own fields of ``witness`` as ``cls`` (a bench reads an engine's rows or a
    sensor's skipped samples from them); BenchmarkError if the actor has another role."""
    stats = witness.role_stats()
    if not isinstance(stats, cls):
        raise BenchmarkError(f"{witness.actor}: a {witness.role}, not a {cls.__name__} witness")
    return stats


def endpoint(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


def sensor_spec(
    name: str,
    port: int,
    work_dir: Path,
    *,
    rate_hz: float,
    chunk: int,
    consumers: Sequence[str],
    params: dict[str, Any] | None = None,
) -> ActorProcessSpec:
    """An oscillator sensor actor that waits for ``consumers`` (actor names)."""
    return ActorProcessSpec(
        name=name,
        role="sensor",
        device=DEVICE,
        device_class=DEVICE_CLASS,
        bind=endpoint(port),
        adapter="oscillator",
        params=params if params is not None else {"freq_hz": 8.0, "noise": 0.05},
        rate_hz=rate_hz,
        chunk=chunk,
        mesh=MESH,
        consumers=tuple(consumers),
        work_dir=str(work_dir / name),
    )


def engine_spec(
    name: str,
    port: int,
    work_dir: Path,
    inputs: Sequence[tuple[str, int]],
    *,
    consumers: Sequence[str],
) -> ActorProcessSpec:
    """A lock-in engine actor over ``inputs`` (actor name, port), waiting for ``consumers``."""
    return ActorProcessSpec(
        name=name,
        role="engine",
        device=DEVICE,
        device_class=DEVICE_CLASS,
        bind=endpoint(port),
        inputs=tuple(InputLink(actor=a, stream=a, endpoint=endpoint(p)) for a, p in inputs),
        encoding=ENGINE_ENCODING,
        windows=ENGINE_WINDOWS,
        mesh=MESH,
        consumers=tuple(consumers),
        work_dir=str(work_dir / name),
    )


@dataclass
class ProcessGroup:
    """Starts processes with their output in ``work_dir`` and stops every one at the end."""

    work_dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    _logs: list[TextIO] = field(default_factory=list)

    def __enter__(self) -> ProcessGroup:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, name: str, argv: Sequence[str]) -> subprocess.Popen:
        """Start ``argv`` as process ``name``; its stdout and stderr go to ``<name>.log``."""
        log = (self.work_dir / f"{name}.log").open("w")
        self._logs.append(log)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.work_dir,
            env=env,
        )
        self.procs[name] = proc
        return proc

    def start_actor(self, spec: ActorProcessSpec) -> subprocess.Popen:
        """Start one actor process the way an agent does: ``python -m kairos.actors SPEC``."""
        path = self.work_dir / f"{spec.name}.json"
        path.write_text(spec.to_json())
        return self.start(spec.name, [sys.executable, "-m", "kairos.actors", str(path)])

    def start_module(self, name: str, module: str, *args: str) -> subprocess.Popen:
        return self.start(name, [sys.executable, "-m", module, *args])

    def check_alive(self, names: Iterable[str] | None = None) -> None:
        """Raise if any of these processes already exited, naming it and its log's tail."""
        for name in names if names is not None else list(self.procs):
            proc = self.procs[name]
            if proc.poll() is not None:
                raise BenchmarkError(
                    f"process {name!r} exited with status {proc.returncode}: {self.tail(name)}"
                )

    def tail(self, name: str, lines: int = 5) -> str:
        try:
            text = (self.work_dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def stop(self, names: Iterable[str], timeout: float = 5.0) -> dict[str, int]:
        """SIGTERM these processes, wait, SIGKILL the stragglers; returns exit statuses."""
        chosen = [n for n in names if n in self.procs]
        for name in chosen:
            with contextlib.suppress(ProcessLookupError):
                self.procs[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        statuses = {}
        for name in chosen:
            proc = self.procs.pop(name)
            try:
                statuses[name] = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                statuses[name] = proc.wait(timeout=timeout)
        return statuses

    def stop_all(self) -> None:
        self.stop(list(self.procs))
        for log in self._logs:
            log.close()
        self._logs.clear()


class StreamWatch:
    """A SUB socket on some actors' endpoints that keeps what the benchmarks need to see.

    Watching never counts as one of the consumers an actor waits for before publishing:
    only actors announce themselves (``kairos.wire.CONSUMER_MARK``).
    """

    def __init__(self) -> None:
        self.clock = MeshClock()
        self._ctx = zmq.Context()
        self._sub = self._ctx.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, 100_000)
        # endpoints watched before they are bound are retried every 10 ms, not every 100 ms
        self._sub.setsockopt(zmq.RECONNECT_IVL, 10)
        self._connected: set[str] = set()
        #: the latest witness of each watched actor, and every one received, typed
        self.witness: dict[str, Witness] = {}
        self.witness_history: dict[str, list[Witness]] = {}
        self.first_seen_ns: dict[str, int] = {}

    def watch(self, address: str, topics: Iterable[str]) -> None:
        if address not in self._connected:
            self._sub.connect(address)
            self._connected.add(address)
        for topic in topics:
            self._sub.setsockopt(zmq.SUBSCRIBE, topic.encode())

    def poll(
        self,
        seconds: float,
        on_message: Callable[[wire.Message, int], None] | None = None,
        fds: Mapping[int, Callable[[int], None]] | None = None,
    ) -> None:
        """Receive for ``seconds``; ``on_message(message, receive_time_ns)`` sees each one.

        ``fds`` maps other readable file descriptors to a callback given the mesh time at
        which the descriptor was found readable.
        """
        poller = zmq.Poller()
        poller.register(self._sub, zmq.POLLIN)
        for fd in fds or {}:
            poller.register(fd, zmq.POLLIN)
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            ready = dict(poller.poll(max(1, poll_ms(remaining))))
            now = self.clock.now_ns()
            for fd, callback in (fds or {}).items():
                if fd in ready:
                    callback(now)
            if self._sub in ready:
                self._drain(on_message)

    def _drain(self, on_message: Callable[[wire.Message, int], None] | None) -> None:
        while True:
            try:
                frames = self._sub.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            now = self.clock.now_ns()
            try:
                message = wire.decode(frames)
            except KairosError:
                continue
            self.first_seen_ns.setdefault(message.stream, now)
            actor, suffix = split_stream(message.stream)
            if suffix == WITNESS_STREAM and message.is_record:
                try:
                    witness: Witness | None = Witness.decode(message.data, message.stream)
                except WireError:
                    witness = None  # a malformed witness measures nothing
                if witness is not None:
                    self.witness[actor] = witness
                    self.witness_history.setdefault(actor, []).append(witness)
            if on_message is not None:
                on_message(message, now)

    def close(self) -> None:
        self._sub.close(linger=0)
        self._ctx.term()

    def __enter__(self) -> StreamWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_first(
    address: str, stream: str, timeout: float, group: ProcessGroup | None = None
) -> list[bytes]:
    """Block until ``address`` publishes on ``stream`` (watching: not one of its consumers);
    the frames of that first message."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, stream.encode())
    sub.connect(address)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if group is not None:
                group.check_alive()
            if sub.poll(100):
                frames = sub.recv_multipart()
                if frames[0] == stream.encode():
                    return frames
        raise BenchmarkError(f"{address} did not publish {stream!r} within {timeout:g} s")
    finally:
        sub.close(linger=0)
        ctx.term()
