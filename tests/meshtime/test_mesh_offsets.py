"""mesh_offsets: reference and consensus corrections, falseticker detection."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from meshtime.simclock import T0, SimDevice, SimNetwork, burst

from kairos.clocksync import (
    ClockError,
    ClockEstimate,
    Correction,
    OffsetEstimator,
    find_falsetickers,
    mesh_offsets,
)

SECOND = 1_000_000_000


def simulate(devices: dict[str, SimDevice], seed: int, bursts: int = 12):
    """Probe every device from one prober; return estimates at one common instant."""
    rng = np.random.default_rng(seed)
    net = SimNetwork(rng)
    estimators = {name: OffsetEstimator() for name in devices}
    t = T0
    for _ in range(bursts):
        for name, device in devices.items():
            samples = burst(device, net, t)
            estimators[name].add_burst(samples)
            t = samples[-1].t4 + 1000
        t += 2 * SECOND
    at = t
    return {name: est.estimate(at) for name, est in estimators.items()}, at


def est(offset: int, u: int = 100_000, skew: float = 0.0) -> ClockEstimate:
    return ClockEstimate(offset_ns=offset, skew_ppm=skew, uncertainty_ns=u, n=10)


def test_consensus_excludes_a_falseticker_50ms_off() -> None:
    """Five honest clocks spread over ±2 ms (beyond their uncertainties) and one 50 ms off."""
    honest = [-2.1e6, -0.7e6, 0.0, 0.9e6, 1.8e6]
    skews = [-43.0, 12.0, -5.0, 30.0, -20.0]
    devices = {f"d{i}": SimDevice(o, s) for i, (o, s) in enumerate(zip(honest, skews, strict=True))}
    devices["liar"] = SimDevice(50e6 + 0.4e6, 8.0)
    estimates, at = simulate(devices, seed=21)
    mesh = mesh_offsets(estimates, None)
    assert mesh.falsetickers == {"liar"}
    truth = {name: d.true_offset(at) for name, d in devices.items()}
    consensus = statistics.median(truth[n] for n in devices if n != "liar")
    for name, e in mesh.offsets.items():
        # mesh = local + correction: the true correction is consensus − device offset
        assert e.contains(consensus - truth[name]), name
    # the falseticker is still corrected onto mesh time
    assert mesh.offsets["liar"].offset_ns == pytest.approx(consensus - truth["liar"], abs=400_000)


def test_consensus_marzullo_when_clocks_agree() -> None:
    """Clocks that agree within their uncertainty: Marzullo's majority leaves out the odd one."""
    estimates = {"a": est(0), "b": est(30_000), "c": est(-50_000), "d": est(50_000_000)}
    assert find_falsetickers(estimates) == {"d"}
    mesh = mesh_offsets(estimates, None)
    assert mesh.falsetickers == {"d"}
    # consensus is the median of a, b, c (0), bounded by the medians of the interval ends
    assert mesh.offsets["a"].offset_ns == 0
    assert mesh.offsets["b"].offset_ns == -30_000
    assert mesh.offsets["d"].offset_ns == -50_000_000
    # consensus ± 100 µs and a's own 100 µs, in quadrature
    assert mesh.offsets["a"].uncertainty_ns == math.ceil(math.hypot(100_000, 100_000))


def test_no_falsetickers_without_a_majority_or_with_too_few_devices() -> None:
    assert find_falsetickers({"a": est(0), "b": est(90_000_000)}) == set()
    # clocks seconds apart and evenly spread: nobody stands out
    spread = {f"d{i}": est(i * 1_000_000_000) for i in range(5)}
    assert find_falsetickers(spread) == set()
    # two camps of two: no strict majority, nobody is left out
    camps = {"a": est(0), "b": est(1000), "c": est(80_000_000), "d": est(80_001_000)}
    assert find_falsetickers(camps) == set()


def test_named_reference() -> None:
    devices = {
        "living-room": SimDevice(3e6, -43.0),
        "kitchen": SimDevice(-1e6, 20.0),
        "desk": SimDevice(0.0, 0.0),
    }
    estimates, at = simulate(devices, seed=5)
    mesh = mesh_offsets(estimates, "living-room")
    assert mesh.reference == "living-room"
    ref = mesh.offsets["living-room"]
    assert (ref.offset_ns, ref.skew_ppm, ref.uncertainty_ns) == (0, 0.0, 0)
    for name in ("kitchen", "desk"):
        true_correction = devices["living-room"].true_offset(at) - devices[name].true_offset(at)
        e = mesh.offsets[name]
        assert e.contains(true_correction)
        assert e.uncertainty_ns == math.ceil(
            math.hypot(estimates["living-room"].uncertainty_ns, estimates[name].uncertainty_ns)
        )
        assert e.skew_ppm == pytest.approx(
            devices["living-room"].skew_ppm - devices[name].skew_ppm, abs=2
        )


def test_correction_anchor_is_device_local_time() -> None:
    estimates = {
        "a": ClockEstimate(5_000, -43.0, 100, 5, at_ns=T0),
        "b": ClockEstimate(-7_000, 0.0, 200, 5, at_ns=T0),
    }
    mesh = mesh_offsets(estimates, "b")
    # uncertainties add in quadrature: ceil(hypot(100, 200)) = 224
    assert mesh.correction("a") == Correction(
        offset_ns=-12_000, skew_ppm=43.0, uncertainty_ns=224, anchor_ns=T0 + 5_000
    )
    with pytest.raises(ClockError, match="no mesh offset"):
        mesh.correction("c")


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ClockError, match="reference 'x'"):
        mesh_offsets({"a": est(0)}, "x")
    mixed = {"a": ClockEstimate(0, 0.0, 1, 1, at_ns=1), "b": ClockEstimate(0, 0.0, 1, 1, at_ns=2)}
    with pytest.raises(ClockError, match="same time"):
        mesh_offsets(mixed, None)
    assert mesh_offsets({}, None).offsets == {}
