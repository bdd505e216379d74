"""Shared pieces of the chaos suite: measured figures, stream observers, launch driving.

Every chaos test measures something (a delay, a gap, a count) and writes it to
``tests/chaos/results.json`` under its own key, so docs/chaos.md can quote what the suite
really saw, not what it hoped for.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import psutil
import zmq
from support import wait_for

from kairos.launch import Launch
from kairos.wire import Message, decode

RESULTS = Path(__file__).with_name("results.json")
T = TypeVar("T")


def record_result(key: str, **figures: Any) -> None:
    """Merge one scenario's measured figures into results.json (atomic replace)."""
    try:
        data = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        data = {}
    data[key] = {**figures, "measured_at": datetime.now(timezone.utc).isoformat()}
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, RESULTS)


def drive(launch: Launch, predicate: Callable[[], T], timeout_s: float) -> T:
    """Keep the launcher watching (heartbeats, reconciliation) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        launch.tick(0.02)
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {timeout_s} s: {launch.status()}")


def actor_state(launch: Launch, name: str) -> dict[str, Any]:
    return next(a for a in launch.status()["actors"] if a["name"] == name)


@dataclass
class Seen:
    """One message an observer received, with its local receive instant."""

    at: float  # time.monotonic()
    message: Message


@dataclass
class Observer:
    """A SUB socket in its own thread that keeps every message of streams under ``topics``.

    It reads as fast as messages come (a thread owning its socket), so it is the suite's
    ground truth of what a publisher really sent.  Like a tap, it is never one of the
    consumers an actor waits for before publishing (kairos.wire.CONSUMER_MARK).
    """

    endpoints: Iterable[str]
    topics: Iterable[str]
    rcvhwm: int = 1_000_000
    seen: list[Seen] = field(default_factory=list)
    bad_frames: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("observer thread did not start")

    def _run(self) -> None:
        context = zmq.Context()
        sock = context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, self.rcvhwm)
        sock.setsockopt(zmq.RECONNECT_IVL, 20)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        prefixes = tuple(self.topics)
        for endpoint in self.endpoints:
            sock.connect(endpoint)
        self._ready.set()
        try:
            while not self._stop.is_set():
                if not sock.poll(50):
                    continue
                while True:
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    at = time.monotonic()
                    if not frames[0].decode(errors="replace").startswith(prefixes):
                        continue
                    try:
                        message = decode(frames)
                    except Exception:  # the observer counts what does not decode, never dies
                        self.bad_frames += 1
                        continue
                    with self._lock:
                        self.seen.append(Seen(at, message))
        finally:
            sock.close(0)
            context.destroy(linger=0)

    def messages(self, stream: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.message.stream == stream]

    def latest(self, stream: str) -> Message | None:
        with self._lock:
            for seen in reversed(self.seen):
                if seen.message.stream == stream:
                    return seen.message
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def write_topology(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def start_agent(
    processes: Any, port: int, state: Path, device: str, device_class: str = "mac-mini"
) -> subprocess.Popen[Any]:
    """A separately started agent on a fixed port (so a restarted one is found again)."""
    ready = state / "ready"
    state.mkdir(parents=True, exist_ok=True)
    ready.unlink(missing_ok=True)
    log = open(state.parent / f"{device}-agent.log", "ab")  # noqa: SIM115 - handed to the child
    proc = processes.start(
        [
            sys.executable,
            "-m",
            "kairos.agent",
            "--bind",
            f"tcp://127.0.0.1:{port}",
            "--class",
            device_class,
            "--device",
            device,
            "--state-dir",
            str(state),
            "--ready-file",
            str(ready),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    wait_for(lambda: ready.exists() or proc.poll() is not None, 30, 0.02)
    if proc.poll() is not None:
        raise RuntimeError(f"agent exited with {proc.returncode}; see {state.parent}")
    return proc


def actor_processes(state: Path) -> dict[str, list[int]]:
    """Live kairos actor processes whose spec lies under ``state``, per spec path."""
    found: dict[str, list[int]] = {}
    for proc in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            cmdline = proc.info["cmdline"] or []
            if (
                proc.info["status"] != psutil.STATUS_ZOMBIE
                and cmdline[-3:-1] == ["-m", "kairos.actors"]
                and cmdline[-1].startswith(str(state))
            ):
                found.setdefault(cmdline[-1], []).append(proc.pid)
    return found


def json_log_lines(path: Path, event: str) -> list[dict[str, Any]]:
    """Records of a JSON actor log whose event is ``event``."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if event not in line:
            continue
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


_ID = re.compile(r"\bid=([0-9a-f]{8,64})\b")


def command_ids(log_text: str) -> list[str]:
    """Request ids of every command an agent logged as executed (console or JSON logs)."""
    ids = []
    for line in log_text.splitlines():
        if "command" not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            match = _ID.search(line)
            if match and re.search(r"\bcommand\b", line):
                ids.append(match.group(1))
            continue
        if record.get("event") == "command" and isinstance(record.get("id"), str):
            ids.append(record["id"])
    return ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
