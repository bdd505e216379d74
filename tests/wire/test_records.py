"""kairos.records: each record survives encode → wire → decode, goes out byte for byte as the
dicts the actors built before the classes existed (docs/wire.md is a contract), and every
malformed record is refused with WireError, never KeyError or TypeError."""

from __future__ import annotations

import copy
from dataclasses import replace

import msgpack
import numpy as np
import pytest

from kairos import records, wire
from kairos.errors import WireError
from kairos.records import (
    EngineStats,
    Event,
    InputStats,
    MeshState,
    NodeState,
    Pulse,
    SensorStats,
    Witness,
    decode_record,
    expect,
)
from kairos.tools._fuzz.records import seed_state, seed_witness


def _through_the_wire(stream: str, record: records.Record) -> wire.Message:
    frames = wire.encode(stream, 3, 1, 2, [record.t_ns], record.encode())
    return wire.decode([bytes(f) for f in frames])


@pytest.mark.parametrize(
    ("stream", "record"),
    [
        ("mesh", seed_state()),
        ("mesh/pulse", seed_state().pulse()),
        ("eng/events", Event.collapse("pair", False, 7, 0.5)),
        ("mesh/events", Event.emergence(True, 8, 0.8)),
        ("eng/events", Event.clock("osc", "future_stamps", 9)),
        ("eng/events", Event.degraded(True, "invalid_samples", 10)),
        ("eng/witness", seed_witness()),
    ],
)
def test_every_record_survives_the_wire(stream: str, record: records.Record) -> None:
    message = _through_the_wire(stream, record)
    assert decode_record(message) == record
    assert expect(message, type(record)) == record


def test_mesh_state_bytes_are_those_of_the_dict_the_sync_built() -> None:
    state = seed_state()
    before = {  # what actors/sync.py spelled by hand until kairos.records
        "t_ns": 10,
        "global_coherence": 0.8,
        "order_parameter": 0.9,
        "mesh_phase": 0.3,
        "phasor": [0.7, 0.2],
        "emerged": True,
        "stale_nodes": ["b"],
        "nodes": {
            "a": {
                "device": "pc", "coherence": 0.9, "phase": 0.1, "resonance": 0.2,
                "collapsed": False, "weight": 1.0, "delta_p": 0.05, "stale": False,
                "last_t_ns": 10,
            },
            "b": {
                "device": "pi", "coherence": 0.2, "phase": -0.4, "resonance": 0.0,
                "collapsed": False, "weight": 0.5, "delta_p": None, "stale": True,
                "last_t_ns": 3,
            },
        },
    }  # fmt: skip
    assert msgpack.packb(state.encode()) == msgpack.packb(before)
    pulse = {"t_ns": 10, "mesh_phase": 0.3, "order_parameter": 0.9, "mesh_frequency": 0.0}
    assert msgpack.packb(state.pulse().encode()) == msgpack.packb(pulse)
    event = {"kind": "collapse", "window": "slow", "state": True, "t_ns": 4, "value": 0.96}
    assert msgpack.packb(Event.collapse("slow", True, 4, 0.96).encode()) == msgpack.packb(event)
    clock = {"kind": "clock", "stream": "osc", "reason": "behind", "state": True, "t_ns": 5}
    assert msgpack.packb(Event.clock("osc", "behind", 5).encode()) == msgpack.packb(clock)
    degraded = {"kind": "degraded", "state": False, "reason": "invalid_samples", "t_ns": 6}
    assert msgpack.packb(Event.degraded(False, "invalid_samples", 6).encode()) == msgpack.packb(
        degraded
    )


def test_a_mesh_state_packed_with_its_nodes_map_is_the_state_packed_whole() -> None:
    state = seed_state()
    nodes = msgpack.packb({name: node.encode() for name, node in state.nodes.items()})
    whole = msgpack.packb(state.encode(), use_bin_type=True)
    assert state.packed(nodes) == whole
    assert replace(state, nodes={}).packed(msgpack.packb({})) == msgpack.packb(
        replace(state, nodes={}).encode()
    )
    assert records.MeshState.decode(msgpack.unpackb(state.packed(nodes))) == state


def test_an_event_of_a_kind_has_that_kinds_keys() -> None:
    with pytest.raises(ValueError, match="clock event needs stream"):
        Event("clock", True, 1, reason="behind")
    with pytest.raises(WireError, match="lacks reason"):
        Event.decode({"kind": "degraded", "state": True, "t_ns": 1})
    with pytest.raises(WireError, match="event kind 'shell'"):
        Event.decode({"kind": "shell", "state": True, "t_ns": 1})


def test_witness_bytes_are_those_of_the_dict_the_runtime_built() -> None:
    before = {  # actors/_runtime.py's dict, then the engine's witness() merged into it
        "actor": "eng", "role": "engine", "device": "pc", "class": "mac-mini", "pid": 42,
        "epoch": 1, "t_ns": 2, "rate_hz": 10.0, "samples_per_s": 80.0, "msgs_in": 5,
        "msgs_out": 6, "gaps": 0, "decode_errors": 0, "drops": 2, "future_stamps": 1,
        "time_violations": 0, "invalid_samples": 3, "unknown_consumers": 0,
        "latency_p50_ms": None,
        "latency_p99_ms": 1.5, "cpu_percent": 3.0, "rss_bytes": 1 << 20, "clock_offset_ns": -5,
        "clock_uncertainty_ns": 100, "subscribers": 1,
        "inputs": {"osc": {
            "msgs": 5, "gaps": 1, "restarts": 0, "outage_ns": 0, "decode_errors": 0,
            "future_stamps": 1,
            "time_violations": 0, "invalid_samples": 3, "drops": 0, "clock": None,
        }},
    }  # fmt: skip
    before.update(
        {"rows_out": 9, "degraded": None, "queued": {"osc": 0}, "collapsed": {"fast": False}}
    )
    witness = seed_witness()
    assert witness.role_stats() == EngineStats(9, None, {"osc": 0}, {"fast": False})
    assert msgpack.packb(witness.encode()) == msgpack.packb(before)
    assert Witness.decode(before, "eng/witness") == witness


def test_a_witness_from_before_the_drop_counters_reads_them_as_0() -> None:
    older = seed_witness().encode()
    for key in Witness.LATER_KEYS:
        del older[key]
    for key in InputStats.LATER_KEYS:
        del older["inputs"]["osc"][key]
    decoded = Witness.decode(older, "eng/witness")
    assert (decoded.future_stamps, decoded.invalid_samples, decoded.time_violations) == (0, 0, 0)
    assert decoded.inputs["osc"] == InputStats(5, 1, 0, 0)


def test_unknown_keys_are_ignored_and_a_witness_keeps_its_roles() -> None:
    payload = {**seed_state().encode(), "added_later": 1}
    assert MeshState.decode(payload) == seed_state()
    own = {"samples": 80, "skipped_samples": 0, "exhausted": False, "adapter": "file"}
    sensor = {**seed_witness().encode(), "role": "sensor", **own}
    for key in ("rows_out", "degraded", "queued", "collapsed"):
        del sensor[key]
    decoded = Witness.decode(sensor, "mic/witness")
    assert decoded.role_fields == own
    assert decoded.role_stats() == SensorStats(80, 0, 0, False, "file")  # no read_errors: 0
    with pytest.raises(WireError, match="role 'relay' has no known fields"):
        replace(decoded, role="relay").role_stats()
    with pytest.raises(WireError, match="lacks skipped_samples"):
        replace(decoded, role_fields={"samples": 1}).role_stats()


def _malformed() -> list[tuple[str, object]]:
    state, witness = seed_state().encode(), seed_witness().encode()
    cases: list[tuple[str, object]] = [("mesh", [1]), ("mesh", None), ("mesh/pulse", {})]
    for key in MeshState.KEYS:
        broken = copy.deepcopy(state)
        del broken[key]
        cases.append(("mesh", broken))
        wrong = copy.deepcopy(state)
        wrong[key] = "x" if key != "stale_nodes" else [1]
        cases.append(("mesh", wrong))
    for key in NodeState.KEYS:
        broken = copy.deepcopy(state)
        broken["nodes"]["a"][key] = [] if key != "device" else 3
        cases.append(("mesh", broken))
    for key in Witness.KEYS:
        broken = copy.deepcopy(witness)
        broken[key] = True if key != "role" else 1  # bool is neither a count nor a text
        cases.append(("eng/witness", broken))
    for key in InputStats.KEYS:
        broken = copy.deepcopy(witness)
        broken["inputs"]["osc"][key] = 1.5
        cases.append(("eng/witness", broken))
    for key, value in (("kind", "boom"), ("window", "sideways"), ("state", 1), ("value", "1")):
        event = {"kind": "collapse", "window": "fast", "state": True, "t_ns": 1, "value": 0.9}
        event[key] = value
        cases.append(("eng/events", event))
    return cases


@pytest.mark.parametrize(("stream", "payload"), _malformed())
def test_a_malformed_record_is_a_wire_error(stream: str, payload: object) -> None:
    message = wire.Message(stream, 0, 0, 0, np.zeros(1, dtype=np.int64), payload)
    with pytest.raises(WireError, match=stream):
        records.record_class(stream).decode(payload, stream)
    if isinstance(payload, dict):
        with pytest.raises(WireError):
            decode_record(message)


def test_a_pulse_from_before_the_mesh_frequency_is_held() -> None:
    older = {"t_ns": 10, "mesh_phase": 0.3, "order_parameter": 0.9}
    assert Pulse.decode(older, "mesh/pulse") == Pulse(10, 0.3, 0.9, mesh_frequency=0.0)
    turning = Pulse.decode({**older, "mesh_frequency": 2.0}, "mesh/pulse")
    assert turning.phase_at(10 + 250_000_000) == pytest.approx(0.3 + 2.0 * 0.25)
    with pytest.raises(WireError, match="mesh_frequency"):
        Pulse.decode({**older, "mesh_frequency": "fast"}, "mesh/pulse")


def test_records_travel_only_on_kairos_streams() -> None:
    with pytest.raises(WireError, match="no Kairos record travels on /status"):
        records.record_class("eng/status")
    samples = wire.Message("mic", 0, 0, 0, np.zeros(1, dtype=np.int64), np.zeros(1))
    with pytest.raises(WireError, match="an array message"):
        decode_record(samples)
    with pytest.raises(WireError):  # a pulse is not a mesh state
        expect(_through_the_wire("mesh/pulse", seed_state().pulse()), MeshState)


def test_streams_are_named_in_one_place() -> None:
    assert records.stream_name("eng", records.EVENTS_STREAM) == "eng/events"
    assert records.stream_name("eng") == "eng"
    assert records.split_stream("mesh/pulse") == ("mesh", records.PULSE_STREAM)
    assert records.split_stream("mic") == ("mic", "")
    assert Pulse.KEYS == ("t_ns", "mesh_phase", "order_parameter")
