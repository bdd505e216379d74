"""Machine-readable output is always valid, and a closed pipe is never a traceback.

Every ``--json`` output of the CLI is parsed with a strict parser (``NaN``/``Infinity``
raise); a stream carrying NaN and ±Inf samples comes out of ``kairos tap --json`` as
``null``.  Every command with ``--json`` is run twice more: into ``| head -1`` (exit status
0 or 1, nothing on stderr) and into a pipe whose reader has already gone (status 1, nothing
on stderr: the write fails for certain, however little is written).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zmq
from support import Processes, free_port, start_agent
from synthetic_mesh import mesh_config, start_mesh

from kairos import wire

TOPOLOGY = Path(__file__).resolve().parents[2] / "topologies" / "home.yaml"
KAIROS = [sys.executable, "-m", "kairos.tools.cli"]
FUZZ = [sys.executable, "-m", "kairos.tools.fuzz"]


def strict(text: str) -> object:
    """json.loads that refuses NaN, Infinity and -Infinity (what JSON.parse refuses)."""

    def refuse(constant: str) -> object:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@dataclass
class Command:
    name: str
    argv: list[str]
    #: one JSON document, or one JSON value per line
    lines: bool = False
    #: runs until stopped: read its first lines, then end it
    endless: bool = False


@dataclass
class World:
    """What the commands need: a mesh, a recording, an agent, a config dir, a NaN stream."""

    commands: list[Command]
    env: dict[str, str]


class NanPublisher:
    """A publisher of stream ``bad``: float64 samples, NaN, +Inf and −Inf among them."""

    def __init__(self) -> None:
        self.context = zmq.Context()
        self.pub = self.context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.pub.bind(self.endpoint)
        self.seq = 0

    def send(self) -> None:
        now = time.time_ns()
        values = np.array([np.nan, np.inf, -np.inf, 0.5])
        times = now + np.arange(4, dtype=np.int64)
        self.pub.send_multipart(wire.encode("bad", self.seq, now, now, times, values))
        self.seq += 1

    def close(self) -> None:
        self.pub.close()
        self.context.term()


@pytest.fixture
def nan_stream() -> Iterator[NanPublisher]:
    publisher = NanPublisher()
    yield publisher
    publisher.close()


def _start_agent(processes: Processes, tmp_path: Path) -> str:
    return start_agent(processes, tmp_path, tmp_path / "agent", "json", device="here").endpoint


@pytest.fixture
def world(processes: Processes, tmp_path: Path) -> World:
    mesh = start_mesh(processes, tmp_path, mesh_config())
    connect = [arg for e in mesh.endpoints.values() for arg in ("--connect", e)]
    env = {**os.environ, "KAIROS_CONFIG_DIR": str(tmp_path / "config")}
    generated = subprocess.run(
        [*KAIROS, "keys", "generate", "--name", "launcher"], env=env, capture_output=True
    )
    assert generated.returncode == 0, generated.stderr
    recording = tmp_path / "rec.mcap"
    recorded = subprocess.run(
        [*KAIROS, "record", *connect, "-o", str(recording), "--duration", "1"],
        capture_output=True,
        timeout=60,
    )
    assert recorded.returncode == 0, recorded.stderr
    agent = _start_agent(processes, tmp_path)
    many = [str(TOPOLOGY)] * 40  # well over a pipe's 64 KiB
    commands = [
        Command("validate", [*KAIROS, "validate", "--json", str(TOPOLOGY)]),
        Command("validate many", [*KAIROS, "validate", "--json", *many]),
        Command("devices", [*KAIROS, "devices", "--json"]),
        Command("devices --list", [*KAIROS, "devices", "--list", "--json"]),
        Command("keys list", [*KAIROS, "keys", "list", "--json"]),
        Command("record info", [*KAIROS, "record", "info", str(recording), "--json"]),
        Command("agent status", [*KAIROS, "agent", "status", "--endpoint", agent, "--json"]),
        Command("tap view", [*KAIROS, "tap", *connect, "--json", "--once"], lines=True),
        Command("tap view live", [*KAIROS, "tap", *connect, "--json"], lines=True, endless=True),
        Command("tap echo", [*KAIROS, "tap", *connect, "--stream", "mic", "--json"], True, True),
        Command("tap hz", [*KAIROS, "tap", *connect, "--hz", "--json"], True, True),
        Command("tap bw", [*KAIROS, "tap", *connect, "--bw", "--json"], True, True),
        Command("emulate list", [*KAIROS, "emulate", "list", "--json"]),
        Command("bench", [*KAIROS, "bench", "kernels", "--quick", "--json"]),
        Command("fuzz", [*FUZZ, "--target", "wire", "--inputs", "200", "--json"], lines=True),
    ]
    return World(commands, env)


def _output(command: Command, env: dict[str, str]) -> str:
    if not command.endless:
        done = subprocess.run(command.argv, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (command.name, done.stderr)
        return done.stdout
    proc = subprocess.Popen(command.argv, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        return "".join(proc.stdout.readline() for _ in range(3))
    finally:
        proc.kill()
        proc.communicate(timeout=20)


def test_every_json_output_parses_strictly(world: World) -> None:
    for command in world.commands:
        text = _output(command, world.env)
        assert text.strip(), command.name
        values = [strict(line) for line in text.splitlines()] if command.lines else [strict(text)]
        assert all(v is not None for v in values), command.name


def test_nan_and_infinity_are_null_in_tap_json(nan_stream: NanPublisher) -> None:
    proc = subprocess.Popen(
        [*KAIROS, "tap", "--connect", nan_stream.endpoint, "--stream", "bad", "--json", "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while proc.poll() is None:
            nan_stream.send()  # until the tap has joined and printed one
            time.sleep(0.05)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    echoed = strict(out)
    assert isinstance(echoed, dict)
    assert echoed["data"] == [None, None, None, 0.5]


def test_every_json_command_ends_quietly_on_a_closed_pipe(world: World) -> None:
    for command in world.commands:
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first write
        try:
            done = subprocess.run(
                command.argv, env=world.env, stdout=write, stderr=subprocess.PIPE, timeout=120
            )
        finally:
            os.close(write)
        assert (command.name, done.returncode, done.stderr) == (command.name, 1, b"")


def test_every_json_command_into_head_1_exits_0_or_1_without_a_word(world: World) -> None:
    for command in world.commands:
        shell = f"{shlex.join(command.argv)} | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}"
        done = subprocess.run(
            ["bash", "-c", shell], env=world.env, capture_output=True, timeout=120
        )
        assert (command.name, done.returncode in (0, 1), done.stderr) == (
            command.name,
            True,
            b"",
        )
