"""Sensor → engine → sync → output with 8 sensors at 1 kHz: where the time goes, per stage.

Eight oscillator sensors (1 kHz, 20-sample chunks) feed eight engines, one sync combines
them on its 10 Hz tick and one ``jsonl`` output writes each mesh state into a FIFO the bench
reads, so the write time is seen as it happens.  Measured per message or per tick:

* sample → engine output: the engine message's send time − the sample time of its last row;
* engine → sync hop: the sync's own witness latency (receive − send, last 2048 messages);
* sync tick → output write: the FIFO line's arrival − the tick time it carries;
* pipeline: the sum of those three p50 (p99) — the processing latency, without the tick wait;
* sample → output write: the line's arrival − the sample time of each node's newest sample in
  that state: the age of the data when it is written, which includes waiting for the tick.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kairos import wire
from kairos.actors.spec import ActorProcessSpec, InputLink, NodeInfo
from kairos.errors import WireError
from kairos.ports import free_port
from kairos.records import MeshState, Witness, expect
from kairos.tools.benchmarks._procs import (
    DEVICE,
    DEVICE_CLASS,
    MESH,
    BenchmarkError,
    ProcessGroup,
    Progress,
    StreamWatch,
    endpoint,
    engine_spec,
    sensor_spec,
    wait_first,
)
from kairos.tools.benchmarks._report import Row, metric

SENSORS = 8
SAMPLE_RATE_HZ = 1000.0
CHUNK = 20
TICK_HZ = 10.0
START_TIMEOUT_S = 30.0


class _Fifo:
    """The read end of the output's FIFO: complete lines with the time they arrived."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        # opened before the writer exists, so the output's non-blocking open succeeds
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._partial = b""
        self.lines: list[tuple[int, dict[str, Any]]] = []

    def on_readable(self, now_ns: int) -> None:
        import json

        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        for line in complete:
            with contextlib.suppress(ValueError):
                self.lines.append((now_ns, json.loads(line)))

    def close(self) -> None:
        os.close(self.fd)


def run(progress: Progress | None = None, quick: bool = False) -> list[Row]:
    say = progress or (lambda text: None)
    warmup_s, measure_s = (2.0, 4.0) if quick else (3.0, 20.0)
    with tempfile.TemporaryDirectory(prefix="kairos-bench-pipeline-") as tmp:
        work = Path(tmp)
        fifo = _Fifo(work / "output.fifo")
        try:
            with ProcessGroup(work) as group, StreamWatch() as watch:
                specs = _specs(work, work / "output.fifo")
                for spec in specs.values():
                    group.start_actor(spec)
                say(f"pipeline: {len(specs)} actors starting")
                wait_first(specs["pipe-sync"].bind, "pipe-sync", START_TIMEOUT_S, group)
                collected = _Collected()
                for spec in specs.values():
                    topics = [f"{spec.name}/witness"]
                    if spec.role in ("engine", "sync"):
                        topics.append(spec.name)
                    watch.watch(spec.bind, topics)
                fds = {fifo.fd: fifo.on_readable}
                watch.poll(warmup_s, None, fds)
                fifo.lines.clear()
                say(f"pipeline: measuring for {measure_s:g} s")
                deadline = time.monotonic() + measure_s
                while time.monotonic() < deadline:
                    watch.poll(min(1.0, deadline - time.monotonic()), collected.take, fds)
                    group.check_alive()
                lines = list(fifo.lines)
                # one more witness round, so the witnesses cover the measured interval
                watch.poll(1.2, None, fds)
                witnesses = dict(watch.witness)
        finally:
            fifo.close()
    return _rows(collected, lines, witnesses)


class _Collected:
    def __init__(self) -> None:
        self.engine_latency_ms: list[float] = []
        self.states: dict[int, MeshState] = {}

    def take(self, message: wire.Message, received_ns: int) -> None:
        if message.stream.startswith("pipe-engine-") and "/" not in message.stream:
            if len(message.times):
                self.engine_latency_ms.append((message.sent_ns - int(message.times[-1])) / 1e6)
        elif message.stream == "pipe-sync" and message.is_record:
            with contextlib.suppress(WireError):  # a malformed state dates no write
                state = expect(message, MeshState)
                self.states[state.t_ns] = state


def _rows(
    collected: _Collected, lines: list[tuple[int, dict[str, Any]]], witnesses: dict[str, Witness]
) -> list[Row]:
    if not collected.engine_latency_ms or not lines:
        raise BenchmarkError("pipeline: no engine output or no output write was seen")
    tick_to_write = np.array([(at - int(line["t_ns"])) / 1e6 for at, line in lines])
    ages = []
    for at, line in lines:
        state = collected.states.get(int(line["t_ns"]))
        if state is None:
            continue
        for node in state.nodes.values():
            if node.last_t_ns:
                ages.append((at - node.last_t_ns) / 1e6)
    engine = np.array(collected.engine_latency_ms)
    sync = witnesses.get("pipe-sync")
    hop_p50 = sync.latency_p50_ms if sync is not None else None
    hop_p99 = sync.latency_p99_ms if sync is not None else None
    engines = [w for name, w in witnesses.items() if name.startswith("pipe-engine-")]
    sensor_hop_p50 = [w.latency_p50_ms for w in engines if w.latency_p50_ms is not None]
    sensor_hop_p99 = [w.latency_p99_ms for w in engines if w.latency_p99_ms is not None]
    gaps = sum(w.gaps for w in witnesses.values())
    rows = [
        metric("sample → engine output p50", float(np.percentile(engine, 50)), "ms"),
        metric("sample → engine output p99", float(np.percentile(engine, 99)), "ms"),
        metric(
            "sensor → engine hop p50 (median of engines)",
            float(np.median(sensor_hop_p50)) if sensor_hop_p50 else None,
            "ms",
        ),
        metric(
            "sensor → engine hop p99 (worst engine)",
            max(sensor_hop_p99) if sensor_hop_p99 else None,
            "ms",
        ),
        metric("engine → sync hop p50", hop_p50, "ms"),
        metric("engine → sync hop p99", hop_p99, "ms"),
        metric("sync tick → output write p50", float(np.percentile(tick_to_write, 50)), "ms"),
        metric("sync tick → output write p99", float(np.percentile(tick_to_write, 99)), "ms"),
    ]
    if hop_p50 is not None and hop_p99 is not None:
        first, last = engine, tick_to_write
        p50 = float(np.percentile(first, 50)) + hop_p50 + float(np.percentile(last, 50))
        p99 = float(np.percentile(first, 99)) + hop_p99 + float(np.percentile(last, 99))
        rows.append(metric("pipeline p50 (stages, without tick wait)", p50, "ms"))
        rows.append(
            metric(
                "pipeline p99 (stages, without tick wait)",
                p99,
                "ms",
                target="≤ 3 ms",
            )
        )
    if ages:
        rows.append(metric("sample → output write p50 (data age)", float(np.median(ages)), "ms"))
        rows.append(
            metric("sample → output write p99 (data age)", float(np.percentile(ages, 99)), "ms")
        )
    rows.append(metric("output writes", len(lines), "writes"))
    rows.append(metric("gaps (all actors)", gaps, "messages"))
    return rows


def _specs(work: Path, fifo: Path) -> dict[str, ActorProcessSpec]:
    specs: dict[str, ActorProcessSpec] = {}
    engines = []
    for i in range(SENSORS):
        sensor, engine = f"pipe-sensor-{i}", f"pipe-engine-{i}"
        s_port, e_port = free_port(), free_port()
        specs[sensor] = sensor_spec(
            sensor,
            s_port,
            work,
            rate_hz=SAMPLE_RATE_HZ,
            chunk=CHUNK,
            consumers=(engine,),
            params={"freq_hz": 8.0, "noise": 0.05, "phase": 0.1 * i},
        )
        specs[engine] = engine_spec(
            engine, e_port, work, [(sensor, s_port)], consumers=("pipe-sync",)
        )
        engines.append((engine, e_port))
    sync_port, output_port = free_port(), free_port()
    specs["pipe-sync"] = ActorProcessSpec(
        name="pipe-sync",
        role="sync",
        device=DEVICE,
        device_class=DEVICE_CLASS,
        bind=endpoint(sync_port),
        inputs=tuple(InputLink(actor=n, stream=n, endpoint=endpoint(p)) for n, p in engines),
        nodes=tuple(NodeInfo(n, DEVICE, DEVICE_CLASS, 1.0) for n, _ in engines),
        rate_hz=TICK_HZ,
        mesh=dataclasses.replace(MESH, pulse_hz=TICK_HZ),
        consumers=("pipe-output",),
        work_dir=str(work / "pipe-sync"),
    )
    specs["pipe-output"] = ActorProcessSpec(
        name="pipe-output",
        role="output",
        device=DEVICE,
        device_class=DEVICE_CLASS,
        bind=endpoint(output_port),
        inputs=(InputLink(actor="pipe-sync", stream="pipe-sync", endpoint=endpoint(sync_port)),),
        adapter="jsonl",
        params={"path": str(fifo)},
        work_dir=str(work / "pipe-output"),
    )
    return specs


if __name__ == "__main__":  # python -m kairos.tools.benchmarks.pipeline [--quick]
    for row in run(lambda text: print(text, file=sys.stderr), quick="--quick" in sys.argv):
        print(row)
