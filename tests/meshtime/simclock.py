"""Simulated clocks and networks for the clock-estimation tests (no sockets).

True time is the prober's clock.  A device clock reads ``offset + (1 + skew)·t``; each probe
crosses a network whose one-way delays are a fixed minimum plus exponential jitter, different
in each direction (asymmetric), and now and then a Wi-Fi-style stall of tens to hundreds of
milliseconds, either on single probes or on a whole burst (a radio waking from power save).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kairos.clocksync import BURST_SIZE, ProbeSample

#: Prober time at which the simulation starts (an epoch-like value, to exercise big ints).
T0 = 1_700_000_000_000_000_000


@dataclass
class SimDevice:
    """A device clock with a known offset (ns at T0) and skew (ppm)."""

    offset_ns: float
    skew_ppm: float

    def read(self, t: int) -> int:
        return int(t + self.offset_ns + self.skew_ppm * 1e-6 * (t - T0))

    def true_offset(self, t: int) -> float:
        """Device clock − prober clock at prober time ``t``."""
        return self.offset_ns + self.skew_ppm * 1e-6 * (t - T0)


@dataclass
class SimNetwork:
    """Asymmetric random delays with occasional huge stalls."""

    rng: np.random.Generator
    min_out_ns: float = 60_000
    min_back_ns: float = 60_000
    jitter_out_ns: float = 30_000
    jitter_back_ns: float = 120_000
    stall_probe_p: float = 0.05
    stall_burst_p: float = 0.1
    turnaround_ns: float = 20_000

    def stall(self) -> float:
        return float(self.rng.uniform(10e6, 800e6))

    def one_way(self, minimum: float, jitter: float, stalled: bool) -> float:
        delay = minimum + self.rng.exponential(jitter)
        if stalled or self.rng.random() < self.stall_probe_p:
            delay += self.stall()
        return delay


def probe(device: SimDevice, net: SimNetwork, t: int, stalled: bool = False) -> ProbeSample:
    """One probe sent at prober time ``t``."""
    out = net.one_way(net.min_out_ns, net.jitter_out_ns, stalled)
    back = net.one_way(net.min_back_ns, net.jitter_back_ns, False)
    turn = net.turnaround_ns * (0.5 + net.rng.random())
    t1 = t
    t2 = device.read(int(t + out))
    t3 = device.read(int(t + out + turn))
    t4 = int(t + out + turn + back)
    return ProbeSample(t1, t2, t3, t4)


def burst(device: SimDevice, net: SimNetwork, t: int) -> list[ProbeSample]:
    """A burst of probes starting at ``t``, each sent when the previous one came back."""
    stalled = net.rng.random() < net.stall_burst_p
    samples = []
    for _ in range(BURST_SIZE):
        sample = probe(device, net, t, stalled)
        samples.append(sample)
        t = sample.t4 + 1000
    return samples
