"""A real engine process fed hostile input: every drop is in its witness record and its log.

The test is the engine's only publisher (an XPUB on 127.0.0.1), so it knows exactly what it
injected: 3 NaN rows, one message an hour ahead, a message sent twice, 3 malformed messages
on the engine's input stream and 2 on a stream of another name.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zmq
from support import free_port

from kairos import wire
from kairos.actors.spec import ActorProcessSpec, InputLink
from kairos.topologies.model import Encoding

HOUR = 3600 * 1_000_000_000
MS = 1_000_000


def engine_spec(tmp_path: Path, feed_port: int, engine_port: int) -> ActorProcessSpec:
    return ActorProcessSpec(
        name="eng",
        role="engine",
        device="local",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{engine_port}",
        inputs=(InputLink("mic", "mic", f"tcp://127.0.0.1:{feed_port}"),),
        encoding=Encoding(),
        windows=(0.5, 10.0),
        checkpoint_s=0,
        work_dir=str(tmp_path / "eng"),
    )


def witness_when(sub: zmq.Socket, ready, timeout_s: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sub.poll(500):
            record = wire.decode(sub.recv_multipart()).data
            if ready(record):
                return record
    raise AssertionError("no witness record with every injected drop")


def test_every_drop_is_counted_per_input_and_logged_once(tmp_path, processes) -> None:
    feed_port, engine_port = free_port(), free_port()
    context = zmq.Context()
    pub = context.socket(zmq.XPUB)
    sub = context.socket(zmq.SUB)
    try:
        pub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.LINGER, 0)
        pub.bind(f"tcp://127.0.0.1:{feed_port}")
        spec_path = tmp_path / "eng.json"
        spec_path.write_text(engine_spec(tmp_path, feed_port, engine_port).to_json())
        log_path = tmp_path / "eng.log"
        with open(log_path, "wb") as log:
            proc = processes.start(
                [sys.executable, "-m", "kairos.actors", str(spec_path)],
                cwd=tmp_path,
                stderr=log,
                stdout=subprocess.DEVNULL,
            )
        assert pub.poll(10_000)  # the engine subscribed
        sub.setsockopt(zmq.SUBSCRIBE, b"eng/witness")
        sub.connect(f"tcp://127.0.0.1:{engine_port}")  # witness counts are cumulative

        t0 = time.time_ns()
        times = [t0 + i * MS for i in range(10)]
        values = np.full(10, 0.3)
        values[[2, 5, 7]] = [np.nan, np.inf, -np.inf]
        pub.send_multipart(wire.encode("mic", 0, 1, times[-1], times, values))
        ahead = [t + HOUR for t in times[:5]]
        pub.send_multipart(wire.encode("mic", 1, 1, ahead[-1], ahead, np.zeros(5)))
        pub.send_multipart(wire.encode("mic", 2, 1, times[-1], times, np.zeros(10)))  # again
        later = [t + 20 * MS for t in times]
        pub.send_multipart(wire.encode("mic", 3, 1, later[-1], later, np.zeros(10)))
        for topic in (b"mic", b"mic", b"mic", b"microphone", b"microphone"):
            pub.send_multipart([topic, b"\x81\xa1x\x01", b"", b""])  # a header, but no message

        record = witness_when(
            sub, lambda r: r["decode_errors"] == 5 and r["inputs"].get("mic", {}).get("msgs") == 4
        )
        mic = record["inputs"]["mic"]
        assert {k: mic[k] for k in ("invalid_samples", "future_stamps", "time_violations")} == {
            "invalid_samples": 3,
            "future_stamps": 5,
            "time_violations": 10,
        }
        assert mic["decode_errors"] == 3 and mic["drops"] == 0 and mic["clock"] is None
        assert record["invalid_samples"] == 3 and record["future_stamps"] == 5
        assert record["time_violations"] == 10 and record["drops"] == 0
        assert record["degraded"] is None
        assert record["rows_out"] == 7 + 10

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        sub.close(linger=0)
        pub.close(linger=0)
        context.term()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    told = sorted((e["stream"], e["reason"]) for e in lines if e["event"] == "input dropped")
    assert told == [
        ("(unknown)", "decode_errors"),
        ("mic", "decode_errors"),
        ("mic", "future_stamps"),
        ("mic", "invalid_samples"),
        ("mic", "time_violations"),
    ]
    assert all(e["level"] == "warning" for e in lines if e["event"] == "input dropped")
