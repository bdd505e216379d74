"""The sync role through the test double: mesh formulas, staleness, emergence hysteresis."""

from __future__ import annotations

import numpy as np
import pytest

from kairos.actors.engine import ENGINE_FIELDS
from kairos.testing import START_NS as T0
from kairos.testing import message, records

MS = 1_000_000


def sync(role_of, nodes=("a", "b"), weights=(1.0, 1.0)):
    """A sync ticking at 10 Hz over engines ``nodes`` of mesh weights ``weights``."""
    return role_of(
        "sync",
        name="mesh",
        inputs={n: {"weight": w} for n, w in zip(nodes, weights, strict=True)},
        rate_hz=10.0,
        mesh={"emergence_threshold": 0.75, "hysteresis": 0.05},
    )


def engine_row(t, coherence, phase, seq=0, stream="a"):
    row = np.zeros((1, len(ENGINE_FIELDS)))
    row[0, ENGINE_FIELDS.index("coherence_slow")] = coherence
    row[0, ENGINE_FIELDS.index("phase_slow")] = phase
    return message(stream, [t], row, seq=seq, fields=ENGINE_FIELDS)


def test_mesh_state_follows_the_formulas(role_of):
    harness = sync(role_of, weights=(1.0, 3.0))
    harness.feed(
        engine_row(T0, 0.8, 0.0, stream="a"), engine_row(T0, 0.4, np.pi / 2, stream="b"), now_ns=T0
    )
    state = records(harness.tick(T0 + 150 * MS))[-1]
    g = (1.0 * 0.8 * np.exp(0j) + 3.0 * 0.4 * np.exp(1j * np.pi / 2)) / 4.0
    assert state["global_coherence"] == pytest.approx((0.8 + 3 * 0.4) / 4)
    assert state["mesh_phase"] == pytest.approx(np.angle(g))
    assert state["phasor"] == pytest.approx([g.real, g.imag])
    assert state["order_parameter"] == pytest.approx(abs(1 + 3j) / 4)
    assert state["nodes"]["a"]["delta_p"] == pytest.approx(np.angle(g))
    assert state["stale_nodes"] == []


def test_ticks_sit_on_the_common_grid_with_a_pulse(role_of):
    harness = sync(role_of)
    harness.tick(T0 + 3 * MS)
    out = harness.tick(T0 + 117 * MS)
    assert [o.stream for o in out][:2] == ["", "pulse"]
    assert records(out)[0]["t_ns"] % (100 * MS) == 0


def test_silent_node_goes_stale_and_comes_back(role_of):
    harness = sync(role_of)
    for k in range(5):
        t = T0 + k * 100 * MS
        harness.feed(engine_row(t, 0.9, 0.1, k, "a"), engine_row(t, 0.9, 0.1, k, "b"), now_ns=t)
    # b falls silent; a keeps talking
    for k in range(5, 15):
        t = T0 + k * 100 * MS
        out = harness.feed(engine_row(t, 0.9, 0.1, k, "a"), now_ns=t)
    state = records(out)[-1]
    assert state["stale_nodes"] == ["b"]
    assert state["nodes"]["b"]["stale"] is True
    assert state["global_coherence"] == pytest.approx(0.9)
    t = T0 + 15 * 100 * MS
    harness.feed(engine_row(t, 0.9, 0.1, 15, "b"), now_ns=t)
    state = records(harness.tick(t + 100 * MS))[-1]
    assert state["stale_nodes"] == []


def test_emergence_has_hysteresis_and_events(role_of):
    harness = sync(role_of, nodes=("a",), weights=(1.0,))
    events = []
    for k, coherence in enumerate([0.5, 0.8, 0.74, 0.72, 0.69, 0.8]):
        t = T0 + k * 100 * MS
        out = harness.feed(engine_row(t, coherence, 0.0, k, "a"), now_ns=t + 50 * MS)
        events += [o.data["state"] for o in out if o.stream == "events"]
        if k == 3:
            assert records(out)[-1]["emerged"] is True  # 0.72 is within the hysteresis band
    assert events == [True, False, True]
