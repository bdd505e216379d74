"""The sync's pulse carries the mesh phase at the tick and the mesh frequency (design.md §5.6):
node rows that are tens of ms old at the tick do not make the pulse late."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kairos.actors.engine import ENGINE_FIELDS
from kairos.actors.spec import ActorProcessSpec, InputLink, NodeInfo
from kairos.actors.sync import Sync
from kairos.records import PULSE_STREAM, MeshState, Pulse
from kairos.testing import message, records
from kairos.topologies.model import MeshSpec

T0 = 1_763_770_000_000_000_000
MS = 1_000_000

OMEGA = 1.3  # rad/s, the nodes' common rotation
OFFSETS = {"a": 0.0, "b": 0.4, "c": -0.9}
AGES_MS = {"a": 5, "b": 37, "c": 80}  # how old each node's newest row is at the tick
#: ticks (100 ms) after which Ω, starting from 0 with a 1 s time constant, is OMEGA to 1e-9:
#: OMEGA·e^(−30) = 1.2e-13
SETTLED = 300


def sync_spec(nodes: tuple[str, ...]) -> ActorProcessSpec:
    return ActorProcessSpec(
        name="mesh",
        role="sync",
        device="local",
        device_class="mac-mini",
        bind="tcp://127.0.0.1:1",
        inputs=tuple(InputLink(n, n, "tcp://127.0.0.1:2") for n in nodes),
        nodes=tuple(NodeInfo(n, "local", "mac-mini", 1.0) for n in nodes),
        rate_hz=10.0,
        mesh=MeshSpec(),
    )


def engine_rows(t: int, phase: float, seq: int, stream: str):
    rows = np.zeros((1, len(ENGINE_FIELDS)))
    rows[:, ENGINE_FIELDS.index("coherence_slow")] = 1.0
    rows[:, ENGINE_FIELDS.index("phase_slow")] = phase
    return message(stream, [t], rows, seq=seq, fields=ENGINE_FIELDS)


def true_phase(name: str, t_ns: int) -> float:
    return math.remainder(OMEGA * (t_ns - T0) * 1e-9 + OFFSETS[name], 2 * math.pi)


def run(harness, ticks: int, names=("a", "b", "c"), start: int = 0):
    pulses, states = [], []
    for k in range(start, start + ticks):
        tick = T0 + (k + 1) * 100 * MS
        rows = []
        for name in names:
            t = tick - AGES_MS[name] * MS
            rows.append(engine_rows(t, true_phase(name, t), k, name))
        for out in harness.feed(*rows, now_ns=tick):
            if out.stream == PULSE_STREAM:
                pulses.append(Pulse.decode(out.data))
            elif out.stream == "":
                states.append(MeshState.decode(records([out])[0]))
    return pulses, states


def want_psi(t_ns: int, names=("a", "b", "c")) -> float:
    return float(np.angle(sum(np.exp(1j * true_phase(n, t_ns)) for n in names)))


def test_the_pulse_is_the_mesh_phase_at_the_tick_turning_at_the_mesh_frequency(harness_of):
    harness = harness_of(Sync(sync_spec(("a", "b", "c"))))
    pulses, states = run(harness, SETTLED)
    last, state = pulses[-1], states[-1]
    assert last.t_ns == state.t_ns
    assert last.mesh_frequency == pytest.approx(OMEGA, abs=1e-9)
    assert last.mesh_phase == pytest.approx(want_psi(last.t_ns), abs=1e-9)
    true_r = abs(sum(np.exp(1j * true_phase(n, last.t_ns)) for n in OFFSETS)) / 3
    assert last.order_parameter == pytest.approx(true_r, abs=1e-9)
    # the mesh state combines rows as they are: its ψ lags the tick by the rows' mean age
    lag = math.remainder(last.mesh_phase - state.mesh_phase, 2 * math.pi)
    assert lag == pytest.approx(OMEGA * np.mean(list(AGES_MS.values())) * 1e-3, abs=0.01)
    # a follower carries it forward: half a second later it is still the mesh phase
    later = last.t_ns + 500 * MS
    assert math.remainder(last.phase_at(later) - want_psi(later), 2 * math.pi) == pytest.approx(
        0.0, abs=1e-9
    )


def test_a_node_joining_does_not_disturb_the_mesh_frequency(harness_of):
    harness = harness_of(Sync(sync_spec(("a", "b", "c"))))
    run(harness, SETTLED, names=("a", "b"))
    pulses, _ = run(harness, 5, start=SETTLED)  # c joins: ψ jumps, that tick is not a rate
    assert all(p.mesh_frequency == pytest.approx(OMEGA, abs=1e-9) for p in pulses)


def test_no_live_node_no_rate(harness_of):
    harness = harness_of(Sync(sync_spec(("a", "b", "c"))))
    pulses, _ = run(harness, SETTLED)
    assert pulses[-1].mesh_frequency == pytest.approx(OMEGA, abs=1e-9)
    silent = T0 + (SETTLED + 1) * 100 * MS + 1000 * MS  # every node stale: no mesh, nothing turns
    out = harness.tick(silent) + harness.tick(silent + 100 * MS)
    after = [Pulse.decode(o.data) for o in out if o.stream == PULSE_STREAM]
    assert after and all(p == Pulse(p.t_ns, 0.0, 0.0, 0.0) for p in after)


def test_the_mesh_frequency_starts_from_rest(harness_of):
    """Ω starts at 0 and moves towards each tick's rate by its 1 − e^(−Δt/τ) share: a mesh
    that has just formed, whose ψ jumps from tick to tick, does not carry its first jump on
    as a rate (the 16-oscillator Kuramoto mesh once took Ω = −13.4 rad/s from its first
    usable tick and locked seconds late)."""
    harness = harness_of(Sync(sync_spec(("a", "b", "c"))))
    pulses, _ = run(harness, 2)  # the first feed only sets the tick grid
    assert [p.mesh_frequency for p in pulses] == [0.0]  # one tick: no rate yet
    pulses, _ = run(harness, 1, start=2)
    share = -math.expm1(-0.1)  # the rows are 100 ms apart, τ = 1 s
    assert pulses[-1].mesh_frequency == pytest.approx(share * OMEGA, rel=1e-9)
    pulses, _ = run(harness, 10, start=3)
    assert pulses[-1].mesh_frequency == pytest.approx(OMEGA * (1 - math.exp(-1.1)), rel=1e-9)
