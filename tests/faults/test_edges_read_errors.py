"""A sensor adapter that raises from ``read``: real actor processes, real sockets.

The adapter is a plugin (an entry point on a distribution put on the actor's PYTHONPATH) that
raises ``OSError`` on chosen calls, as an I²C read does, and at close writes how many reads it
failed and how many samples those reads were asked for: the ground truth the witness must
match exactly.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
from faults.flaky import FLAKY_MODULE, FLAKY_SOURCE
from support import free_port, start_agent, wait_for

from kairos import wire
from kairos.actors.spec import ActorProcessSpec
from kairos.control.commands import ActorStatus, Logs, Spawn, Status
from kairos.topologies.model import RestartPolicy

RATE_HZ = 200.0
CHUNK = 4
STEP_NS = round(1e9 / RATE_HZ)


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A directory holding the flaky adapter and an installed-looking distribution naming it."""
    root = tmp_path / "plugins"
    root.mkdir()
    (root / f"{FLAKY_MODULE}.py").write_text(FLAKY_SOURCE)
    dist = root / "kairos_edges_flaky-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kairos-edges-flaky\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(f"[kairos.adapters]\nflaky = {FLAKY_MODULE}:Flaky\n")
    return root


def _env(plugin_path: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(plugin_path)}


def _spec(tmp_path: Path, port: int, params: dict[str, Any], **extra: Any) -> ActorProcessSpec:
    return ActorProcessSpec(
        name="flaky",
        role="sensor",
        device="here",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{port}",
        adapter="flaky",
        params=params,
        rate_hz=RATE_HZ,
        chunk=CHUNK,
        consumers=("probe",),
        work_dir=str(tmp_path / "work"),
        **extra,
    )


def test_a_read_that_raises_costs_its_samples_only_and_is_counted_exactly(
    processes, tmp_path: Path, plugin_path: Path
) -> None:
    """5 % of reads raise: the actor lives on, the witness counts every failed read and
    skipped sample exactly, and the log has one line (the first drop) in a run under 10 s."""
    port = free_port()
    spec = _spec(tmp_path, port, {"fail_every": 20})
    path = tmp_path / "flaky.json"
    path.write_text(spec.to_json())
    log = tmp_path / "actor.log"
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"flaky")  # the data and flaky/witness
    sub.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription("probe"))
    sub.connect(f"tcp://127.0.0.1:{port}")
    try:
        with open(log, "wb") as out:
            proc = processes.start(
                [sys.executable, "-m", "kairos.actors", str(path)],
                env=_env(plugin_path),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        stamps: list[int] = []
        witnesses: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        # run until at least 8 reads have failed (the 160th read; ~3.5 s at 50 reads/s)
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            if not sub.poll(200):
                continue
            message = wire.decode(sub.recv_multipart())
            if message.stream == "flaky":
                stamps.extend(message.times.tolist())
            elif message.stream == "flaky/witness":
                witnesses.append(message.data)
                if message.data["read_errors"] >= 8:
                    break
        assert witnesses and witnesses[-1]["read_errors"] >= 8, witnesses[-1:]
        assert proc.poll() is None, "the sensor died of its adapter's read errors"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        # the last witness, published on the way out after the adapter closed
        while sub.poll(2000):
            message = wire.decode(sub.recv_multipart())
            if message.stream == "flaky":
                stamps.extend(message.times.tolist())
            elif message.stream == "flaky/witness":
                witnesses.append(message.data)
    finally:
        sub.close()
        context.term()
    truth = json.loads((tmp_path / "work" / "flaky.json").read_text())
    last = witnesses[-1]
    assert truth["raised"] == truth["calls"] // 20
    assert last["read_errors"] == truth["raised"]
    # the failed reads' samples are holes in the grid the adapter was asked for, and only they
    holes = (truth["last_t"] - stamps[0]) // STEP_NS + 1 - len(stamps)
    assert np.all(np.diff(stamps) > 0)
    assert last["skipped_samples"] == truth["lost"] == holes, (last, truth, holes)
    assert last["samples"] == len(stamps)
    drops = [
        line
        for line in log.read_text().splitlines()
        if line.startswith("{") and json.loads(line).get("reason") == "read_errors"
    ]
    assert len(drops) == 1, drops  # the first at once; no summary before 10 s
    first = json.loads(drops[0])
    assert first["event"] == "input dropped" and first["stream"] == "flaky"
    assert "I2C read failed" in first["error"] and first["samples"] == CHUNK


def test_persistent_read_errors_end_the_actor_and_its_restart_policy_applies(
    processes, tmp_path: Path, plugin_path: Path
) -> None:
    """Every read from the 5th on raises, max_read_errors 3: the 4th failure in a row ends
    the actor with exit status 1 and the agent restarts it per its policy (2 restarts)."""
    agent = start_agent(
        processes, tmp_path, tmp_path / "state", "flaky", device="here", env=_env(plugin_path)
    )
    spec = _spec(
        tmp_path,
        free_port(),
        {"fail_from": 5},
        max_read_errors=3,
        restart=RestartPolicy(policy="on-failure", max_restarts=2, backoff_s=0.1),
    )
    spec = dataclasses.replace(spec, consumers=())  # nobody to wait for: it reads at once
    with agent.client() as client:
        client.call(Spawn(spec))

        def settled() -> ActorStatus | None:
            status = client.call(Status()).actor("flaky")
            return status if status is not None and status.state == "failed" else None

        status = wait_for(settled, 60, step_s=0.1)
        assert status.restarts == 2 and status.last_exit == 1, status
        logs = client.call(Logs("flaky", lines=1000)).lines
    failures = [json.loads(line) for line in logs if '"actor failed"' in line]
    assert len(failures) == 3, logs  # the first run and both restarts
    for failure in failures:
        assert "failed 4 reads in a row (max_read_errors 3)" in failure["error"]
        assert "I2C read failed" in failure["error"]
