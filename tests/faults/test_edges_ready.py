"""The ready handshake against churn, duplicates and forgeries: a real sensor process.

A sensor whose topology consumers are ``eng`` and ``out`` is watched by a plain SUB (not a
consumer); test sockets announce, repeat, forge and withdraw consumer names, and after each
step the witness ``subscribers`` count must equal the number of expected names some live
connection announces, exactly.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import zmq
from support import free_port, wait_for

from kairos import wire
from kairos.actors.spec import ActorProcessSpec

#: a witness is published every second: a count must have settled within a few
SETTLE_S = 10.0


class Mesh:
    """Test-side sockets on one actor's endpoint, every one closed at the end."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.context = zmq.Context()
        self.sockets: list[zmq.Socket] = []
        self.watcher = self.socket(zmq.SUB)
        self.watcher.setsockopt(zmq.SUBSCRIBE, b"")
        self.watcher.connect(endpoint)
        self.witnesses: list[dict[str, Any]] = []
        self.data_at: float | None = None

    def socket(self, kind: int) -> zmq.Socket:
        sock = self.context.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        self.sockets.append(sock)
        return sock

    def announce(self, name: str) -> zmq.Socket:
        """A consumer as the runtime makes one: a SUB announcing ``name``."""
        sub = self.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription(name))
        sub.connect(self.endpoint)
        return sub

    def forger(self) -> zmq.Socket:
        """An XSUB: it can send any subscription bytes, repeated, as a hostile peer would."""
        xsub = self.socket(zmq.XSUB)
        xsub.setsockopt(zmq.SNDHWM, 0)  # queue the whole flood until the actor has bound
        xsub.connect(self.endpoint)
        return xsub

    def close(self, sock: zmq.Socket) -> None:
        sock.close(linger=0)
        self.sockets.remove(sock)

    def pump(self, seconds: float) -> None:
        """Read what the actor published for ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if not self.watcher.poll(max(1, int(left * 1000))):
                continue
            message = wire.decode(self.watcher.recv_multipart())
            if message.stream.endswith("/witness"):
                self.witnesses.append(message.data)
            elif self.data_at is None:
                self.data_at = time.monotonic()

    def subscribers(self, expected: int) -> int:
        """The witness count once it reached ``expected`` and held for two more records."""

        def settled() -> bool:
            self.pump(0.2)
            tail = self.witnesses[-3:]
            return len(tail) == 3 and all(w["subscribers"] == expected for w in tail)

        with contextlib.suppress(TimeoutError):  # the caller's assertion shows what it was
            wait_for(settled, SETTLE_S, step_s=0)
        return self.witnesses[-1]["subscribers"] if self.witnesses else -1

    def shutdown(self) -> None:
        for sock in self.sockets:
            sock.close(linger=0)
        self.context.term()


def _start_sensor(processes, tmp_path: Path, consumers: tuple[str, ...]) -> tuple[Any, str, Path]:
    port = free_port()
    spec = ActorProcessSpec(
        name="mic",
        role="sensor",
        device="here",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{port}",
        adapter="oscillator",
        params={"freq_hz": 5.0},
        rate_hz=100.0,
        chunk=10,
        consumers=consumers,
        work_dir=str(tmp_path / "mic"),
    )
    path = tmp_path / "mic.json"
    path.write_text(spec.to_json())
    log = tmp_path / "mic.log"
    with open(log, "wb") as out:
        proc = processes.start(
            [sys.executable, "-m", "kairos.actors", str(path)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, spec.bind, log


def _log_events(log: Path, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


@pytest.fixture
def sensor(processes, tmp_path: Path):
    proc, endpoint, log = _start_sensor(processes, tmp_path, ("eng", "out"))
    mesh = Mesh(endpoint)
    yield mesh, proc, log
    mesh.shutdown()


def test_subscribers_equal_the_live_consumers_after_any_churn(sensor) -> None:
    mesh, proc, _ = sensor
    first_eng = mesh.announce("eng")
    second_eng = mesh.announce("eng")  # the same name from a second connection: counted once
    out = mesh.announce("out")
    assert mesh.subscribers(2) == 2
    assert mesh.data_at is not None  # both consumers in: released
    mesh.close(first_eng)  # the other connection still announces eng
    assert mesh.subscribers(2) == 2
    mesh.close(second_eng)
    assert mesh.subscribers(1) == 1
    again = [mesh.announce("eng") for _ in range(3)]
    assert mesh.subscribers(2) == 2
    for sock in again:
        mesh.close(sock)
    mesh.close(out)
    assert mesh.subscribers(0) == 0
    back = mesh.announce("out")
    assert mesh.subscribers(1) == 1
    mesh.close(back)
    assert mesh.subscribers(0) == 0
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_forged_announcements_neither_inflate_the_count_nor_release_the_publisher(
    sensor,
) -> None:
    """1000 made-up names, 200 repeats of one real name and 200 empty names from one peer:
    the publisher is released only by its 5 s ready timeout (logged, naming who is missing),
    the count never exceeds the real names announced, every foreign name is counted and the
    first is told."""
    mesh, proc, log = sensor
    forger = mesh.forger()
    for k in range(1000):
        forger.send(b"\x01" + wire.consumer_subscription(f"evil-{k}"))
    for _ in range(200):
        forger.send(b"\x01" + wire.consumer_subscription("out"))  # a real name, repeated
        forger.send(b"\x01" + wire.consumer_subscription(""))
    # out is announced (by a liar, but nothing tells it from out): one of two, so it waits
    timed_out = wait_for(
        lambda: _log_events(log, "not every subscriber arrived; publishing anyway"), 30
    )
    assert timed_out[0]["missing"] == ["eng"] and timed_out[0]["subscribed"] == 1
    assert mesh.subscribers(1) == 1
    # every made-up and empty name refused and counted; told once, the flood summarised later
    assert mesh.witnesses[-1]["unknown_consumers"] == 1000 + 200
    ignored = [
        line
        for line in _log_events(log, "input dropped")
        if line.get("reason") == "unknown_consumers"
    ]
    assert len(ignored) == 1 and ignored[0]["consumer"] == "evil-0"
    assert _log_events(log, "inputs dropped") == []  # no summary within the first 10 s
    eng = mesh.announce("eng")
    assert mesh.subscribers(2) == 2
    mesh.close(forger)  # its out goes with it: the last connection announcing out
    assert mesh.subscribers(1) == 1
    mesh.close(eng)
    assert mesh.subscribers(0) == 0
    assert proc.poll() is None
