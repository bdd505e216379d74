"""Fuzz target ``records``: reading a Kairos record (kairos.records) may raise only WireError.

An input is one byte choosing the stream the record arrived on (its value modulo 4: a sync's
main stream, ``/pulse``, ``/events`` or ``/witness``), then the record payload, a msgpack
map as frame 3 of a record message carries it.  The payload goes through the wire decoder's
record path first, as a receiver's would, then :func:`kairos.records.decode_record`; a record
that decodes must encode back to a payload that decodes to an equal record.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import msgpack
import numpy as np

from kairos import records, wire
from kairos.errors import WireError
from kairos.tools._fuzz._mutate import mutate_msgpack
from kairos.tools._fuzz._target import ContractViolation, Target, stateless

#: the stream each selector byte stands for (modulo its length)
STREAMS = ("mesh", "mesh/pulse", "eng/events", "eng/witness")


def run(data: bytes) -> None:
    if not data:
        raise WireError("empty input")
    stream = STREAMS[data[0] % len(STREAMS)]
    payload = data[1:]
    frames = wire.encode(stream, 0, 0, 0, [0], {})
    frames[3] = payload  # the record payload as received, whatever it holds
    message = wire.decode([bytes(frames[0]), bytes(frames[1]), bytes(frames[2]), payload])
    record = records.decode_record(message)
    encoded = msgpack.packb(record.encode(), use_bin_type=True)
    again = type(record).decode(msgpack.unpackb(encoded), stream)
    if msgpack.packb(again.encode(), use_bin_type=True) != encoded:  # bytes: NaN == NaN
        raise ContractViolation(f"{type(record).__name__} does not survive encode → decode")


def seed_state() -> records.MeshState:
    """A mesh state of two nodes, one stale (a seed here and in the wire target)."""
    node = records.NodeState("pc", 0.9, 0.1, 0.2, False, 1.0, 0.05, False, 10)
    stale = records.NodeState("pi", 0.2, -0.4, 0.0, False, 0.5, None, True, 3)
    return records.MeshState(
        10, 0.8, 0.9, 0.3, complex(0.7, 0.2), True, ("b",), {"a": node, "b": stale}
    )


def seed_witness() -> records.Witness:
    """An engine's witness with one input and its engine fields (a seed here and elsewhere)."""
    return records.Witness(
        actor="eng",
        role="engine",
        device="pc",
        device_class="mac-mini",
        pid=42,
        epoch=1,
        t_ns=2,
        rate_hz=10.0,
        samples_per_s=80.0,
        msgs_in=5,
        msgs_out=6,
        gaps=0,
        decode_errors=0,
        drops=2,
        future_stamps=1,
        time_violations=0,
        invalid_samples=3,
        unknown_consumers=0,
        latency_p50_ms=None,
        latency_p99_ms=1.5,
        cpu_percent=3.0,
        rss_bytes=1 << 20,
        clock_offset_ns=-5,
        clock_uncertainty_ns=100,
        subscribers=1,
        inputs={"osc": records.InputStats(5, 1, 0, 0, future_stamps=1, invalid_samples=3)},
    ).with_role_fields(records.EngineStats(9, None, {"osc": 0}, {"fast": False}).encode())


def seeds() -> list[bytes]:
    state = seed_state()
    witness = seed_witness()
    payloads = [
        (0, state.encode()),
        (1, state.pulse().encode()),
        (2, records.Event.collapse("slow", True, 10, float(np.float64(0.97))).encode()),
        (2, records.Event.clock("osc", "future_stamps", 11).encode()),
        (3, witness.encode()),
    ]
    out = [bytes([i]) + msgpack.packb(p, use_bin_type=True) for i, p in payloads]
    out.append(bytes([0]) + msgpack.packb({"t_ns": 1}))  # a mesh state lacking its keys
    out.append(bytes([3]) + b"\xc1")  # not msgpack
    return out


def mutate_record(data: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    """Keep or change the stream byte; mutate the payload as msgpack."""
    if not data:
        return bytes([rng.randrange(len(STREAMS))])
    head = bytes([rng.randrange(256)]) if rng.random() < 0.1 else data[:1]
    return head + mutate_msgpack(data[1:], rng, [p[1:] for p in pool if p])


TARGET = Target(
    name="records",
    description="kairos.records.decode_record of a record payload on each Kairos stream",
    expected=WireError,
    seeds=seeds,
    session=lambda: stateless(run),
    mutators=(mutate_record,),
)
