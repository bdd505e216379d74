"""One hop through a relay next to the direct hop, in the same run (docs/sites.md).

The pair is the hop benchmark's (kairos.tools.benchmarks.hop): a sensor actor publishing
64-sample chunks, a probe actor receiving them through the runtime an engine uses.  Direct:
the probe dials the sensor.  Relayed: the sensor's XPUB dials a relay actor's inbound side
(as a device behind NAT does) and the probe dials the relay's outbound side, so each message
crosses two TCP hops and one forwarding process.  Latency is measured for both at 1 kHz of
samples, one pair after the other; the relay's lossless throughput is the hop benchmark's
search (zero gaps, ≥ 95 % delivered, none later than 250 ms) with the relay in the path.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from kairos.actors.spec import ActorProcessSpec, InputLink
from kairos.ports import free_port, free_port_range
from kairos.tools.benchmarks._procs import (
    DEVICE,
    DEVICE_CLASS,
    ProcessGroup,
    Progress,
    endpoint,
    sensor_spec,
    wait_first,
)
from kairos.tools.benchmarks._report import Row, metric
from kairos.tools.benchmarks.hop import (
    PLAIN_CASE,
    SAMPLES,
    START_TIMEOUT_S,
    STREAM,
    Arrivals,
    Settings,
    Step,
    _kairos_pair,
    _sleep_watching,
    _stop_pair,
)
from kairos.topologies.model import relay_inbound

PROBE = "hop-probe"
RELAY = "hop-relay"
MAX_LATENCY_MS = 250.0
MIN_DELIVERED = 0.95
#: the relay's search starts here, not at the hop's 1 000 msgs/s, and bisects once: a relay
#: held 38 000–49 000 msgs/s on a quiet 2-core machine, and the four doublings and two
#: bisections saved (~40 s) help keep `kairos bench all` inside 10 minutes
START_RATE = 8000.0
BISECTIONS = 1


def _relayed_pair(
    group: ProcessGroup, work: Path, rate_msgs: float, out: Path
) -> tuple[str, list[str]]:
    """A relay, a sensor publishing into it, a probe reading from it; (relay endpoint, the
    receiver and sender names as hop._stop_pair wants them)."""
    relay_at = endpoint(free_port_range(2))  # its inbound side takes the next port
    relay = ActorProcessSpec(
        name=RELAY,
        role="relay",
        device=DEVICE,
        device_class=DEVICE_CLASS,
        bind=relay_at,
        work_dir=str(work / RELAY),
    )
    sensor = sensor_spec(
        STREAM,
        free_port(),
        work,
        rate_hz=rate_msgs * SAMPLES,
        chunk=SAMPLES,
        consumers=(PROBE,),
        params={"freq_hz": 8.0},
    )
    sensor = dataclasses.replace(sensor, publish_to=relay_inbound(relay_at))
    probe = ActorProcessSpec(
        name=PROBE,
        role="probe",
        device=DEVICE,
        device_class=DEVICE_CLASS,
        bind=endpoint(free_port()),
        inputs=(InputLink(actor=STREAM, stream=STREAM, endpoint=relay_at),),
        work_dir=str(work / PROBE),
    )
    probe_path = work / f"{PROBE}.json"
    probe_path.write_text(probe.to_json())
    group.start_actor(relay)
    group.start_module(PROBE, "kairos.tools.benchmarks._probe", str(probe_path), str(out))
    group.start_actor(sensor)
    return relay_at, [PROBE, STREAM]


def _run_pair(relayed: bool, work: Path, rate_msgs: float, seconds: float, out: Path) -> None:
    with ProcessGroup(work) as group:
        make = _relayed_pair if relayed else _kairos_pair
        address, names = make(group, work, rate_msgs, out)
        wait_first(address, STREAM, START_TIMEOUT_S, group)
        _sleep_watching(group, seconds)
        _stop_pair(group, names)


def _latency(work: Path, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Relayed then direct, each alone, at the hop benchmark's case that peers are compared
    at (1 000 messages/s of 64 samples)."""
    case = PLAIN_CASE
    hold = settings.warmup_s + case.seconds(settings)
    found = []
    for relayed in (True, False):
        out = work / f"{'relayed' if relayed else 'direct'}.npz"
        _run_pair(relayed, work / out.stem, case.rate, hold, out)
        arrivals = Arrivals.load(out)
        start = int(arrivals.sent[0]) + round(settings.warmup_s * 1e9) if len(arrivals.sent) else 0
        found.append(arrivals.after(start).latency_ms)
    return found[0], found[1]


def _step(work: Path, rate: float, settings: Settings) -> Step:
    out = work / f"relay-{rate:.0f}.npz"
    _run_pair(True, work / f"relay-{rate:.0f}", rate, settings.warmup_s + settings.hold_s, out)
    arrivals = Arrivals.load(out)
    if len(arrivals.sent) == 0:
        return Step(rate, False, 0.0, 0, math.inf)
    start = int(arrivals.sent[0]) + round(settings.warmup_s * 1e9)
    window = arrivals.after(start, start + round(settings.hold_s * 1e9))
    delivered = len(window.sent) / settings.hold_s
    worst = float(window.latency_ms.max()) if len(window.sent) else math.inf
    gaps = arrivals.gaps()
    held = gaps == 0 and delivered >= MIN_DELIVERED * rate and worst <= MAX_LATENCY_MS
    return Step(rate, held, delivered, gaps, worst)


def _throughput(work: Path, settings: Settings, say: Progress) -> tuple[float, bool]:
    """Doubling, then bisecting (the hop benchmark's search); (rate held, lower bound only)."""
    good: float | None = None
    bad: float | None = None
    rate = min(START_RATE, settings.max_rate)
    while rate <= settings.max_rate and (good is None or bad is None):
        step = _step(work, rate, settings)
        say(
            f"relay: {rate:,.0f} msgs/s {'held' if step.held else 'lost'} (delivered "
            f"{step.delivered_per_s:,.0f}/s, gaps {step.gaps}, worst {step.max_latency_ms:.1f} ms)"
        )
        if step.held:
            good, rate = rate, rate * 2
        else:
            bad, rate = rate, rate / 2
            if good is None and rate < 1.0:
                break
        if good is not None and bad is not None:
            break
    if good is None:
        return 0.0, False
    for _ in range(min(BISECTIONS, settings.bisections) if bad is not None else 0):
        rate = math.sqrt(good * bad)  # type: ignore[operator]
        if _step(work, rate, settings).held:
            good = rate
        else:
            bad = rate
    return good, bad is None


def run(progress: Progress | None = None, quick: bool = False) -> list[Row]:
    settings = Settings.choose(quick)
    say = progress or (lambda text: None)
    with tempfile.TemporaryDirectory(prefix="kairos-bench-relay-") as tmp:
        work = Path(tmp)
        say(f"relay: hop latency through a relay and direct, {PLAIN_CASE.label} each")
        relayed, direct = _latency(work / "latency", settings)
        say("relay: lossless throughput through a relay")
        rate, lower_bound = _throughput(work / "throughput", settings, say)
    rows = [
        metric(
            f"relay hop latency {name}",
            _percentile(relayed, q),
            "ms",
            baseline=_percentile(direct, q),
            note="baseline: the direct hop, same run",
        )
        for name, q in (("p50", 50.0), ("p99", 99.0))
    ]
    rows.append(
        metric(
            "relay lossless throughput",
            rate,
            "msgs/s",
            note=f"{SAMPLES}-sample chunks"
            + ("; lower bound: no failing rate found" if lower_bound else ""),
        )
    )
    return rows


def _percentile(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


if __name__ == "__main__":  # python -m kairos.tools.benchmarks.relay [--quick]
    for row in run(lambda text: print(text, file=sys.stderr), quick="--quick" in sys.argv):
        print(row)
