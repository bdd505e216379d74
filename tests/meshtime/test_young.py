"""A young estimator: fast rounds (iburst), a fit from enough samples whatever their span, and
a correction fitted to paired samples, whose shared disturbances cancel (no sockets)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from meshtime.simclock import T0, SimDevice, SimNetwork, burst

from kairos.clocksync import (
    BURST_INTERVAL_S,
    FIT_SAMPLES,
    YOUNG_INTERVAL_S,
    YOUNG_SAMPLES,
    ClockError,
    ClockEstimate,
    OffsetEstimator,
    ProbeSample,
    mesh_offsets,
    paired_correction,
    paired_corrections,
)
from kairos.launch.meshtime import MeshTimeKeeper

SECOND = 1_000_000_000
STEP = round(YOUNG_INTERVAL_S * SECOND)


def quiet_net(seed: int) -> SimNetwork:
    return SimNetwork(np.random.default_rng(seed), stall_probe_p=0.0, stall_burst_p=0.0)


def test_an_estimator_is_young_until_it_holds_a_window_and_again_after_a_clock_step() -> None:
    device, net, est = SimDevice(2_000_000, 10.0), quiet_net(1), OffsetEstimator()
    t = T0
    for k in range(YOUNG_SAMPLES):
        assert est.young, k
        est.add_burst(burst(device, net, t))
        t += STEP
    assert not est.young
    device.offset_ns += 50_000_000  # the agent restarted and re-read its base
    est.add_burst(burst(device, net, t))
    assert est.resets == 1 and est.young


def test_the_keeper_bursts_fast_while_any_device_is_young() -> None:
    keeper = MeshTimeKeeper("ref")
    assert keeper.interval(["ref"]) == YOUNG_INTERVAL_S  # never probed: no estimator yet
    device, net = SimDevice(0, 0.0), quiet_net(2)
    grown = OffsetEstimator()
    for k in range(YOUNG_SAMPLES):
        grown.add_burst(burst(device, net, T0 + k * STEP))
    keeper.estimators["ref"] = grown
    assert keeper.interval(["ref"]) == BURST_INTERVAL_S
    young = OffsetEstimator()
    young.add_burst(burst(device, net, T0))
    keeper.estimators["new"] = young
    assert keeper.interval(["ref", "new"]) == YOUNG_INTERVAL_S
    assert keeper.interval(["ref"]) == BURST_INTERVAL_S  # a device not live does not count
    assert keeper.interval([]) == BURST_INTERVAL_S


def test_the_fit_starts_at_fit_samples_whatever_their_span_and_covers_the_truth() -> None:
    """At 0.25 s, 8 samples span 1.75 s, well short of the 5 s span rule: fitted from the
    8th, the uncertainty is far below the hard bound (half a round trip, ≥ 60 µs here) and
    still covers a 30 ppm clock in every trial."""
    covered = narrower = trials = 0
    for seed in range(40):
        device, net, est = SimDevice(1_000_000, 30.0), quiet_net(100 + seed), OffsetEstimator()
        for k in range(FIT_SAMPLES):
            samples = burst(device, net, T0 + k * STEP)
            est.add_burst(samples)
            at = samples[-1].t4
            e = est.estimate(at)
            assert e.fitted == (k + 1 >= FIT_SAMPLES), (k, e)
        trials += 1
        covered += e.contains(device.true_offset(at))
        narrower += e.uncertainty_ns < 60_000
    assert covered == trials
    assert narrower >= 0.9 * trials


def common_rounds(seed: int, rounds: int) -> tuple[OffsetEstimator, OffsetEstimator, int, float]:
    """Two devices probed in the same rounds, each round's probes all delayed on the way out
    by one launcher-side disturbance (shared by both, up to 40 µs): the reference's and the
    device's estimators, the prober time of the last round, the device's true correction."""
    rng = np.random.default_rng(seed)
    ref, dev = SimDevice(0, 12.0), SimDevice(3_000_000, -20.0)
    est_ref, est_dev = OffsetEstimator(), OffsetEstimator()
    t = T0
    for _ in range(rounds):
        shared = float(rng.uniform(0, 40_000))
        for device, est in ((ref, est_ref), (dev, est_dev)):
            samples = []
            for _ in range(8):
                out = 60_000 + shared + rng.exponential(2_000)
                back = 60_000 + rng.exponential(2_000)
                t2 = device.read(int(t + out))
                t3 = device.read(int(t + out + 20_000))
                samples.append(ProbeSample(t, t2, t3, int(t + out + 20_000 + back)))
                t = samples[-1].t4 + 1_000
            est.add_burst(samples)
        t += STEP
    truth = ref.true_offset(t) - dev.true_offset(t)
    return est_ref, est_dev, t, truth


def test_a_paired_correction_cancels_what_the_two_offsets_share() -> None:
    """Each offset to the launcher errs by half the shared disturbance (up to 20 µs, varying
    from round to round); the correction, their difference, does not.  Fitted to the paired
    differences it is far tighter than the two uncertainties in quadrature, and still covers
    the truth."""
    tighter = 0
    for seed in range(20):
        est_ref, est_dev, at, truth = common_rounds(seed, 24)
        paired = paired_correction(est_ref, est_dev, at)
        assert paired is not None and paired.fitted and paired.n == 24
        assert abs(paired.offset_ns - truth) <= paired.uncertainty_ns, (seed, paired, truth)
        r, d = est_ref.estimate(at), est_dev.estimate(at)
        quadrature = math.hypot(r.uncertainty_ns, d.uncertainty_ns)
        tighter += paired.uncertainty_ns < 0.5 * quadrature
        assert abs(paired.skew_ppm - (12.0 + 20.0)) < 1.0, paired  # skew_R − skew_i
    assert tighter >= 18


def test_paired_corrections_need_enough_pairs_and_a_named_reference() -> None:
    est_ref, est_dev, at, _ = common_rounds(7, FIT_SAMPLES - 1)
    assert paired_correction(est_ref, est_dev, at) is None
    est_ref, est_dev, at, _ = common_rounds(7, FIT_SAMPLES)
    estimators = {"ref": est_ref, "dev": est_dev}
    assert paired_corrections(estimators, None, at) == {}  # consensus: no single reference
    paired = paired_corrections(estimators, "ref", at, {"ref": 40, "dev": 60})
    assert set(paired) == {"dev"}
    bare = paired_correction(est_ref, est_dev, at)
    assert bare is not None
    assert paired["dev"].uncertainty_ns == bare.uncertainty_ns + 100  # both base errors

    # mesh_offsets sends the paired correction, anchored at the device's local time
    estimates = {name: e.estimate(at) for name, e in estimators.items()}
    mesh = mesh_offsets(estimates, "ref", paired=paired)
    assert mesh.offsets["dev"] == paired["dev"]
    assert mesh.correction("dev").anchor_ns == at + estimates["dev"].offset_ns
    assert mesh.offsets["ref"].offset_ns == 0 and mesh.offsets["ref"].uncertainty_ns == 0
    late = ClockEstimate(0, 0.0, 1, 1, at_ns=at + 1, fitted=True)
    with pytest.raises(ClockError, match="prober instant"):
        mesh_offsets(estimates, "ref", paired={"dev": late})


def shared_reference_bias(
    seed: int, rounds: int
) -> tuple[dict[str, OffsetEstimator], int, dict[str, float]]:
    """A reference whose path carries one steady queue on the way out (16 µs for the whole
    window: every one of its samples 8 µs off, which no scatter shows), a device on a quiet
    path, and two on paths that queue a random 0–60 µs on one side or the other in each
    round: the estimators, the prober time of the last round, each device's true correction."""
    rng = np.random.default_rng(seed)
    clocks = {
        "ref": SimDevice(0, 12.0),
        "quiet": SimDevice(3_000_000, -20.0),
        "a": SimDevice(-1_000_000, 5.0),
        "b": SimDevice(7_000_000, 0.0),
    }
    estimators = {name: OffsetEstimator() for name in clocks}
    t = T0
    for _ in range(rounds):
        for name, device in clocks.items():
            queue = {"ref": 16_000.0, "quiet": 0.0}.get(name, float(rng.uniform(0, 60_000)))
            out_queue = queue if name == "ref" or rng.random() < 0.5 else 0.0
            samples = []
            for _ in range(8):
                out = 60_000 + out_queue + rng.exponential(1_000)
                back = 60_000 + (queue - out_queue) + rng.exponential(1_000)
                t2 = device.read(int(t + out))
                t3 = device.read(int(t + out + 20_000))
                samples.append(ProbeSample(t, t2, t3, int(t + out + 20_000 + back)))
                t = samples[-1].t4 + 1_000
            estimators[name].add_burst(samples)
        t += STEP
    ref = clocks["ref"].true_offset(t)
    truths = {name: ref - device.true_offset(t) for name, device in clocks.items()}
    return estimators, t, truths


def test_paired_corrections_pool_the_scale_of_every_device_paired_with_the_reference() -> None:
    """The reference's steady queue moves every difference by 8 µs alike.  The quiet
    device's own differences scatter by about 1 µs, so alone it claims a few µs and misses
    that bias; the scale pooled with the two devices whose differences show how these paths
    scatter covers it, and theirs too."""
    alone_missed = 0
    for seed in range(10):
        estimators, at, truths = shared_reference_bias(seed, 20)
        pooled = paired_corrections(estimators, "ref", at)
        assert set(pooled) == {"quiet", "a", "b"}
        for name, e in pooled.items():
            assert abs(e.offset_ns - truths[name]) <= e.uncertainty_ns, (seed, name, e)
        alone = paired_correction(estimators["ref"], estimators["quiet"], at)
        assert alone is not None and alone.offset_ns == pooled["quiet"].offset_ns
        assert alone.uncertainty_ns < pooled["quiet"].uncertainty_ns
        alone_missed += abs(alone.offset_ns - truths["quiet"]) > alone.uncertainty_ns
    assert alone_missed >= 8
