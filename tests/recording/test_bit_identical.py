"""Record a live run, replay its sensors into a fresh launch of the same engines, and get
bit-identical engine outputs, message for message (DESIGN §8, issue 5)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest
from support import free_port

from kairos import wire
from kairos.tools._recording.reader import read

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
