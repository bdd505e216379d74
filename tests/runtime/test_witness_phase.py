"""The first witness of an actor comes 0.5-1 s after its start, by its name: a device's
actors, started together, do not all spend their witness second in the same CFS period."""

from __future__ import annotations

from kairos.actors._runtime import WITNESS_INTERVAL_S, witness_phase_s


def test_the_phase_is_within_the_second_half_of_an_interval_and_fixed_by_the_name() -> None:
    names = [f"actor-{i}" for i in range(200)]
    phases = [witness_phase_s(name) for name in names]
    assert all(0.5 * WITNESS_INTERVAL_S < p <= WITNESS_INTERVAL_S for p in phases)
    assert phases == [witness_phase_s(name) for name in names]  # the same on every start


def test_a_devices_actors_spread_over_the_half_interval() -> None:
    demo = ["osc-a", "osc-b", "noise", "eng-a", "eng-b", "eng-noise", "sync", "out"]
    phases = sorted(witness_phase_s(name) for name in demo)
    assert len(set(phases)) == len(demo)
    # 200 names fill the half interval: no two 100 ms bins are empty
    bins = {int(witness_phase_s(f"actor-{i}") * 10) for i in range(200)}
    assert bins >= {5, 6, 7, 8, 9}
