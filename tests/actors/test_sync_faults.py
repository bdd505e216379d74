"""The sync against hostile nodes (issue 10): a node's bad rows never reach the mesh state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kairos.actors._screen import witness_counts
from kairos.actors.engine import ENGINE_FIELDS
from kairos.actors.spec import ActorProcessSpec, InputLink, NodeInfo
from kairos.actors.sync import Sync
from kairos.records import MeshState
from kairos.testing import message, records
from kairos.topologies.model import MeshSpec

T0 = 1_763_770_000_000_000_000
MS = 1_000_000
HOUR = 3600 * 1000 * MS


def sync_spec(nodes=("a", "b")) -> ActorProcessSpec:
    return ActorProcessSpec(
        name="mesh",
        role="sync",
        device="local",
        device_class="mac-mini",
        bind="tcp://127.0.0.1:1",
        inputs=tuple(InputLink(n, n, "tcp://127.0.0.1:2") for n in nodes),
        nodes=tuple(NodeInfo(n, "local", "mac-mini", 1.0) for n in nodes),
        rate_hz=10.0,
        mesh=MeshSpec(emergence_threshold=0.75, hysteresis=0.05),
    )


def engine_rows(times, coherence, phase, seq=0, stream="a", resonance=0.5):
    rows = np.zeros((len(times), len(ENGINE_FIELDS)))
    rows[:, ENGINE_FIELDS.index("coherence_slow")] = coherence
    rows[:, ENGINE_FIELDS.index("phase_slow")] = phase
    rows[:, ENGINE_FIELDS.index("resonance_slow")] = resonance
    return message(stream, times, rows, seq=seq, fields=ENGINE_FIELDS)


def all_finite(record) -> bool:
    if isinstance(record, dict):
        return all(all_finite(v) for v in record.values())
    if isinstance(record, list):
        return all(all_finite(v) for v in record)
    return not isinstance(record, float) or math.isfinite(record)


@pytest.mark.parametrize("field", ["coherence", "phase", "resonance"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 7.5])
def test_a_nodes_bad_values_are_dropped_counted_and_the_state_stays(harness_of, field, bad):
    sync = Sync(sync_spec())
    harness = harness_of(sync)
    states = []
    for k in range(50):
        t = T0 + k * 50 * MS
        values = {"coherence": 0.9, "phase": 0.3, "resonance": 0.5}
        if k % 10 == 5:
            values[field] = bad  # the newest row of every tenth message of a
        times = [t - 25 * MS, t]
        a = engine_rows(
            times,
            [0.8, values["coherence"]],
            [0.2, values["phase"]],
            k,
            "a",
            [0.4, values["resonance"]],
        )
        b = engine_rows(times, 0.9, 0.3, k, "b")
        states += records(harness.feed(a, b, now_ns=t))
    assert states and all(all_finite(s) for s in states)
    assert witness_counts(sync.screens["a"].drops, "a")["invalid_samples"] == 5
    assert witness_counts(sync.screens["a"].drops, "b")["invalid_samples"] == 0
    # the bad row is skipped: the node takes the message's previous row instead
    assert sync.nodes["a"].coherence in (0.8, 0.9)
    assert all(s["stale_nodes"] == [] for s in states)


def test_a_node_an_hour_ahead_is_dropped_and_reported_once(harness_of):
    sync = Sync(sync_spec())
    harness = harness_of(sync)
    for k in range(100):
        t = T0 + k * 50 * MS
        stamp = t + HOUR if k >= 20 else t  # a's clock jumps an hour ahead at 1 s
        harness.feed(
            engine_rows([stamp], 0.1, 0.0, k, "a"), engine_rows([t], 0.9, 0.3, k, "b"), now_ns=t
        )
    drops = sync.screens["a"].drops
    assert witness_counts(drops, "a")["future_stamps"] == 80
    assert witness_counts(drops, "b") == witness_counts(drops, "nobody")
    assert sync.witness()["inputs"]["a"]["clock"] == "future_stamps"
    state = records(harness.tick(T0 + 100 * 50 * MS))[-1]
    assert state["stale_nodes"] == ["a"]  # a says nothing usable: it is left out
    assert state["global_coherence"] == pytest.approx(0.9)


def test_a_node_going_back_in_time_is_taken_as_an_engine_with_several_inputs_is(harness_of):
    """An engine of two sensors sampling together publishes every sample time twice (one row
    per input row): the sync takes each message's newest row and counts no violation."""
    sync = Sync(sync_spec(nodes=("a",)))
    harness = harness_of(sync)
    for k in range(20):
        times = [T0 + k * 40 * MS + i * 5 * MS for i in range(8)]
        harness.feed(engine_rows(times, 0.5, 0.1, 2 * k, "a"), now_ns=times[-1])
        harness.feed(engine_rows(times, 0.7, 0.2, 2 * k + 1, "a"), now_ns=times[-1])
        assert sync.nodes["a"].coherence == 0.7  # the pooled state after both inputs
    assert witness_counts(sync.screens["a"].drops, "a")["time_violations"] == 0


def test_a_sync_records_with_bad_or_missing_numbers_are_dropped(harness_of):
    sync = Sync(sync_spec(nodes=("cell",)))
    harness = harness_of(sync)
    good = MeshState(T0, 0.8, 0.8, 0.1, complex(0.8, 0.08), True, ()).encode()
    missing = dict(good)
    del missing["global_coherence"]
    records = [
        good,
        {**good, "global_coherence": float("nan")},
        {**good, "global_coherence": "high"},
        missing,
        {**good, "mesh_phase": 1e308},
        {**good, "global_coherence": True},
    ]
    for k, record in enumerate(records):
        t = T0 + k * 50 * MS
        harness.feed(message("cell", [t], record, seq=k), now_ns=t)
    assert sync.screens["cell"].drops.counts("cell") == {"invalid_samples": 5}
    node = sync.nodes["cell"]
    assert (node.coherence, node.phase, node.collapsed) == (0.8, 0.1, True)
