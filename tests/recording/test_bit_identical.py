"""Record a live run, replay its sensors into a fresh launch of the same engines, and get
bit-identical engine outputs, message for message (docs/design.md §8, issue 5)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from support import free_port

from kairos import wire
from kairos.tools._recording.reader import read
from kairos.topologies.loader import load

SENSORS = ("osc-a", "osc-b", "noise")
ENGINES = ("coherent", "noisy")


def _topology(tmp_path: Path) -> Path:
    ports = [free_port() for _ in range(6)]
    path = tmp_path / "replay-test.yaml"
    path.write_text(
        f"""name: replay-test
mesh: {{clock: consensus, pulse_hz: 10}}
devices:
  local: {{class: mac-mini, agent: localhost}}
actors:
  osc-a: {{role: sensor, device: local, adapter: oscillator, rate_hz: 1000, chunk: 32,
          port: {ports[0]}, params: {{freq_hz: 40.0, amplitude: 1.0, noise: 0.05}}}}
  osc-b: {{role: sensor, device: local, adapter: oscillator, rate_hz: 1000, chunk: 32,
          port: {ports[1]}, params: {{freq_hz: 40.0, amplitude: 1.0, noise: 0.05, phase: 0.2}}}}
  noise: {{role: sensor, device: local, adapter: oscillator, rate_hz: 1000, chunk: 32,
          port: {ports[2]}, params: {{freq_hz: 40.0, amplitude: 0.0, noise: 1.0}}}}
  coherent: {{role: engine, device: local, inputs: [osc-a, osc-b], port: {ports[3]},
             encoding: {{type: lockin, freq_hz: 40.0}}, windows: {{fast: 0.5, slow: 10}}}}
  noisy: {{role: engine, device: local, inputs: [noise], port: {ports[4]}, weight: 0.1,
          encoding: {{type: lockin, freq_hz: 40.0}}, windows: {{fast: 0.5, slow: 10}}}}
  mesh: {{role: sync, device: local, inputs: [coherent, noisy], rate_hz: 10, port: {ports[5]}}}
"""
    )
    return path


def _stop(proc, timeout: float = 30) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=timeout) == 0


def _engine_messages(path: Path) -> dict[str, list[wire.Message]]:
    out: dict[str, list[wire.Message]] = {name: [] for name in ENGINES}
    for m in read(path):
        if m.stream in out:
            out[m.stream].append(wire.decode([m.stream.encode(), m.header, m.times, m.payload]))
    return out


def _wait_until_serving(topology: Path, actors: tuple[str, ...], timeout_s: float = 30) -> None:
    """Return once every actor's witness record arrives from its endpoint.

    The first witness comes a second after an actor starts, so by then it has been bound for
    about a second and a recorder started earlier (ZeroMQ redials every 100 ms) has connected.
    Without this wait, an engine's first output can beat the recorder's connection (the
    slow-joiner trap; CI missed seq 0 once).
    """
    plan = load(topology)
    context = zmq.Context()
    try:
        probe = context.socket(zmq.SUB)
        for actor in actors:
            probe.connect(plan.endpoint(actor))
            probe.setsockopt(zmq.SUBSCRIBE, f"{actor}/witness".encode())
        waiting = set(actors)
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            if probe.poll(200):
                waiting.discard(probe.recv_multipart()[0].decode().split("/")[0])
        assert not waiting, f"no witness record from {sorted(waiting)} in {timeout_s} s"
    finally:
        context.destroy(linger=0)


def _run(processes, kairos, kairos_cmd, tmp_path: Path, seconds: int) -> None:
    topology = _topology(tmp_path)
    live = tmp_path / "live.mcap"
    recorder = processes.start(kairos_cmd("record", str(topology), "-o", str(live)))
    time.sleep(1.0)
    launch = kairos(
        "launch",
        str(topology),
        "--duration",
        str(seconds),
        "--no-status",
        "--state-dir",
        str(tmp_path / "live-state"),
        timeout=seconds + 60,
    )
    assert launch.returncode == 0, launch.stderr
    _stop(recorder)
    sensors_seen = {m.stream: m for m in read(live) if m.stream in SENSORS}
    assert set(sensors_seen) == set(SENSORS)

    # the same engines, fresh (own state dir: no checkpoint of the live run), sensors replayed
    again = tmp_path / "again.mcap"
    recorder = processes.start(
        kairos_cmd("record", str(topology), "-o", str(again), "--streams", *ENGINES)
    )
    time.sleep(1.0)
    engines = processes.start(
        kairos_cmd(
            "launch",
            str(topology),
            "--no-status",
            "--exclude",
            *SENSORS,
            "--state-dir",
            str(tmp_path / "replay-state"),
        )
    )
    _wait_until_serving(topology, ENGINES)
    replay = kairos(
        "replay",
        str(live),
        "--topology",
        str(topology),
        "--replace",
        *SENSORS,
        "--wait",
        "30",
        timeout=seconds + 90,
    )
    assert replay.returncode == 0, replay.stderr
    time.sleep(2.0)  # let the engines finish the last inputs
    _stop(engines)
    _stop(recorder)

    live_out, replay_out = _engine_messages(live), _engine_messages(again)
    for engine in ENGINES:
        first, second = live_out[engine], replay_out[engine]
        common = min(len(first), len(second))
        assert common > 0.9 * len(first), (engine, len(first), len(second))
        for a, b in zip(first[:common], second[:common], strict=True):
            assert a.seq == b.seq
            assert np.array_equal(a.times, b.times)  # stamped with sample time
            assert a.data.tobytes() == b.data.tobytes(), (engine, a.seq)


def test_replay_into_fresh_engines_is_bit_identical(
    processes, kairos, kairos_cmd, tmp_path: Path
) -> None:
    _run(processes, kairos, kairos_cmd, tmp_path, seconds=8)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_thirty_seconds_at_1khz_bit_identical(
    processes, kairos, kairos_cmd, tmp_path: Path
) -> None:
    _run(processes, kairos, kairos_cmd, tmp_path, seconds=30)
