"""``kairos replay``: verbatim frames, per-stream order, original timing, selections."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from kairos.tools._recording.reader import Recorded, header_of, read

_PROBE = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))"


def _realtime_allowed() -> bool:
    return subprocess.run([sys.executable, "-c", _PROBE], capture_output=True).returncode == 0


def _record(kairos, mesh, out: Path, seconds: float) -> None:
    result = kairos("record", *mesh.connect, "-o", str(out), "--duration", str(seconds))
    assert result.returncode == 0, result.stderr


def _by_stream(path: Path) -> dict[str, list[Recorded]]:
    streams: dict[str, list[Recorded]] = defaultdict(list)
    for message in read(path):
        streams[message.stream].append(message)
    return streams


def _replay_and_record(
    processes,
    kairos,
    kairos_cmd,
    source: Path,
    out: Path,
    connect: list[str],
    *replay_args: str,
    recorder_args: tuple[str, ...] = (),
):
    recorder = processes.start(kairos_cmd("record", *connect, "-o", str(out), *recorder_args))
    time.sleep(0.5)
    result = kairos("replay", str(source), "--wait", "10", *replay_args, timeout=90)
    time.sleep(0.5)
    recorder.send_signal(signal.SIGINT)
    assert recorder.wait(timeout=20) == 0
    return result


@pytest.mark.slow
def test_replay_is_verbatim_complete_and_on_time(
    mesh, processes, kairos, kairos_cmd, tmp_path: Path
) -> None:
    """p95 of |replayed − recorded| inter-message interval ≤ 2 ms, over every stream.

    What this guards is the schedule: a replay that loses its absolute schedule, or sends at
    the wrong speed, errs by whole message periods (20–100 ms here).  The bound is not the
    replay's precision: two recorders' receive stamps add their hiccups to every error.  On
    a quiet machine the p95 came out at 0.27–0.41 ms (p99 0.45–1.5 ms); inside a full CI run
    on the 2 shared cores, at 1.17 ms (p99 2.8, max 9 ms); docs/recording.md has the figures.

    Both the replay's sender and the recorders run with --realtime: on this shared 2-core
    machine a normal process can wait several milliseconds for a CPU after a sleep.
    """
    if not _realtime_allowed():
        pytest.skip("SCHED_FIFO is not permitted here (needs root or CAP_SYS_NICE)")
    original = tmp_path / "live.mcap"
    result = kairos("record", *mesh.connect, "-o", str(original), "--duration", "8", "--realtime")
    assert result.returncode == 0, result.stderr
    connect = mesh.connect
    mesh.proc.kill()  # free the endpoints for the replay
    mesh.proc.wait(timeout=10)

    replayed = tmp_path / "replayed.mcap"
    result = _replay_and_record(
        processes,
        kairos,
        kairos_cmd,
        original,
        replayed,
        connect,
        "--realtime",
        recorder_args=("--realtime",),
    )
    assert result.returncode == 0, result.stderr

    live, again = _by_stream(original), _by_stream(replayed)
    assert set(live) == set(again)
    errors = []
    for stream, messages in live.items():
        # every frame verbatim (same seq, epoch, sent_ns, times, payload), in order
        assert [(m.header, m.times, m.payload) for m in again[stream]] == [
            (m.header, m.times, m.payload) for m in messages
        ], stream
        recorded = np.diff([m.log_time for m in messages])
        replayed_gaps = np.diff([m.log_time for m in again[stream]])
        errors.extend(np.abs(replayed_gaps - recorded) / 1e6)
    p95, p99 = (float(np.percentile(errors, q)) for q in (95, 99))
    print(
        f"inter-message timing error: p95 {p95:.3f} ms, p99 {p99:.3f} ms, "
        f"max {max(errors):.3f} ms over {len(errors)} intervals"
    )
    assert p95 <= 2.0, (p95, p99)


def test_max_speed_streams_and_time_range(
    mesh, processes, kairos, kairos_cmd, tmp_path: Path
) -> None:
    original = tmp_path / "live.mcap"
    _record(kairos, mesh, original, 3.0)
    connect = mesh.connect
    mesh.proc.kill()
    mesh.proc.wait(timeout=10)
    live = _by_stream(original)
    start_ns = min(m[0].log_time for m in live.values())

    out = tmp_path / "fast.mcap"
    args = ("--max-speed", "--streams", "mic", "eng", "--start", "1", "--end", "2")
    began = time.monotonic()
    result = _replay_and_record(processes, kairos, kairos_cmd, original, out, connect, *args)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - began < 30
    again = _by_stream(out)
    assert set(again) == {"mic", "eng"}
    for stream in ("mic", "eng"):
        window = [m.header for m in live[stream] if start_ns + 1e9 <= m.log_time < start_ns + 2e9]
        assert [m.header for m in again[stream]] == window
        assert len(window) > 5


def test_replace_needs_known_actors(mesh, kairos, tmp_path: Path) -> None:
    original = tmp_path / "live.mcap"
    _record(kairos, mesh, original, 1.5)
    result = kairos("replay", str(original), "--replace", "nobody")
    assert result.returncode == 1
    assert "nobody" in result.stderr and "Traceback" not in result.stderr


def test_replay_onto_a_live_endpoint_is_one_clear_error(mesh, kairos, tmp_path: Path) -> None:
    original = tmp_path / "live.mcap"
    _record(kairos, mesh, original, 1.5)
    result = kairos("replay", str(original), "--wait", "0")  # the synthetic mesh still binds
    assert result.returncode == 1
    assert "cannot bind" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_headers_survive(mesh, kairos, tmp_path: Path) -> None:
    original = tmp_path / "live.mcap"
    _record(kairos, mesh, original, 1.5)
    first = next(iter(read(original)))
    header = header_of(first)
    assert header["stream"] == first.stream and header["version"] == 1
