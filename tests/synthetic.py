"""A synthetic mesh for tests: sensor, engine, sync and witness streams with known values.

``python synthetic.py CONFIG.json`` binds one PUB per actor and publishes until SIGTERM or
``duration``.  Values are deterministic functions of (actor, seq), so a test can check what
it received without talking to this process:

* sensor ``<f8 (chunk,)``: value[i] = seq + i / chunk
* engine ``<f8 (chunk, 13)`` with ENGINE_FIELDS: row[i, j] = engine_value(seq, i, j)
* sync record per tick: global_coherence = 0.5 + 0.01 * (seq % 10), nodes with delta_p
* ``<actor>/witness`` once a second with the configured device, class and clock offset, and
  the actor's configured faults: ``counters`` (witness drop totals), ``inputs`` (input name
  -> InputStats fields, a ``clock`` fault among them) and, engines, ``degraded``
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np
import zmq

from kairos import wire
from kairos.actors.engine import ENGINE_FIELDS
from kairos.records import EngineStats, InputStats, MeshState, NodeState, Witness


def engine_value(seq: int, i: int, j: int) -> float:
    if ENGINE_FIELDS[j].startswith("collapsed"):
        return float((seq + j) % 2)
    return ((seq * 31 + i * 7 + j) % 97) / 97.0


def engine_rows(seq: int, chunk: int) -> np.ndarray:
    return np.array(
        [[engine_value(seq, i, j) for j in range(len(ENGINE_FIELDS))] for i in range(chunk)]
    )


def sync_state(seq: int, t_ns: int, nodes: dict) -> MeshState:
    return MeshState(
        t_ns=t_ns,
        global_coherence=0.5 + 0.01 * (seq % 10),
        order_parameter=0.25 + 0.01 * (seq % 7),
        mesh_phase=-1.0 + 0.1 * (seq % 5),
        phasor=complex(0.1, 0.2),
        emerged=seq % 2 == 1,
        stale_nodes=(),
        nodes={
            name: NodeState(
                device=info["device"],
                coherence=0.5,
                phase=0.1,
                resonance=0.2,
                collapsed=False,
                weight=1.0,
                delta_p=0.001 * (seq % 100) + index,
                stale=False,
                last_t_ns=t_ns,
            )
            for index, (name, info) in enumerate(sorted(nodes.items()))
        },
    )


def witness(actor: dict, epoch: int, sent: int) -> Witness:
    """A witness record with the configured device, class, clock and faults, and fixed figures."""
    counters = actor.get("counters", {})
    quiet = {"msgs": 0, "gaps": 0, "restarts": 0, "outage_ns": 0}
    inputs = {
        name: InputStats(**{**quiet, **entry}) for name, entry in actor.get("inputs", {}).items()
    }
    record = Witness(
        actor=actor["name"],
        role=actor["role"],
        device=actor["device"],
        device_class=actor["class"],
        pid=os.getpid(),
        epoch=epoch,
        t_ns=time.time_ns(),
        rate_hz=1.0 / actor["period_s"],
        samples_per_s=actor.get("chunk", 1) / actor["period_s"],
        msgs_in=0,
        msgs_out=sent,
        gaps=3,
        decode_errors=counters.get("decode_errors", 0),
        drops=counters.get("drops", 0),
        future_stamps=counters.get("future_stamps", 0),
        time_violations=counters.get("time_violations", 0),
        invalid_samples=counters.get("invalid_samples", 0),
        unknown_consumers=counters.get("unknown_consumers", 0),
        latency_p50_ms=0.5,
        latency_p99_ms=1.5,
        cpu_percent=1.0,
        rss_bytes=1 << 20,
        clock_offset_ns=actor.get("clock_offset_ns", 0),
        clock_uncertainty_ns=2500,
        subscribers=0,
        inputs=inputs,
    )
    if actor["role"] != "engine":
        return record
    stats = EngineStats(rows_out=sent, degraded=actor.get("degraded"), queued={}, collapsed={})
    return record.with_role_fields(stats.encode())


def main(config_path: str) -> int:
    with open(config_path) as file:
        config = json.load(file)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    ctx = zmq.Context()
    actors = config["actors"]
    engines = {a["name"]: a for a in actors if a["role"] == "engine"}
    state = {}
    for actor in actors:
        sock = ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 500)
        sock.bind(actor["endpoint"])
        state[actor["name"]] = {"sock": sock, "seq": {}, "next": time.monotonic() + 0.3}
    epoch = time.time_ns()
    start = time.monotonic()
    next_witness = start + 0.3
    duration = config.get("duration", 3600)

    def send(name, stream, times, data, fields=()):
        seqs = state[name]["seq"]
        seq = seqs.get(stream, 0)
        seqs[stream] = seq + 1
        frames = wire.encode(stream, seq, epoch, time.time_ns(), times, data, fields)
        state[name]["sock"].send_multipart(frames)
        return seq

    while not stopping and time.monotonic() - start < duration:
        now = time.monotonic()
        for actor in actors:
            name = actor["name"]
            slot = state[name]
            if now < slot["next"]:
                continue
            slot["next"] += actor["period_s"]
            seq = slot["seq"].get(name, 0)
            t_ns = time.time_ns()
            if actor["role"] == "sensor":
                chunk = actor.get("chunk", 4)
                values = seq + np.arange(chunk) / chunk
                send(name, name, t_ns + np.arange(chunk), values)
            elif actor["role"] == "engine":
                chunk = actor.get("chunk", 4)
                send(name, name, t_ns + np.arange(chunk), engine_rows(seq, chunk), ENGINE_FIELDS)
            elif actor["role"] == "sync":
                send(name, name, [t_ns], sync_state(seq, t_ns, engines).encode())
        if now >= next_witness:
            next_witness += 1.0
            for actor in actors:
                sent = sum(state[actor["name"]]["seq"].values())
                send(
                    actor["name"],
                    f"{actor['name']}/witness",
                    [time.time_ns()],
                    witness(actor, epoch, sent).encode(),
                )
        wake = min([s["next"] for s in state.values()] + [next_witness])
        time.sleep(max(0.0, min(0.05, wake - time.monotonic())))
    for slot in state.values():
        slot["sock"].close()
    ctx.destroy(linger=0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
