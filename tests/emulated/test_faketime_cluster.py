"""Mesh time against libfaketime on the emulated cluster's links (issue 15).

Three devices in their own network namespaces, linked by the cluster's bridge: the reference
(not faked, so mesh time is true time), one 2.345678 s ahead and one 0.5 s behind, injected
with libfaketime into their agents (and so into every actor they start).  The launcher's own
rounds (every 0.25 s while an estimator is young, as NTP's iburst, then every 2 s) are
checked against the injected offsets; the sensor on the device that joined ahead stamps on
mesh time from its first sample.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import zmq
from emulated.home_run import needs_root_reason
from meshtime.fakeclock import CASES, Tally, episode_problems, record_probes
from meshtime.fakeclock import skip_reason as faketime_missing

from kairos import wire
from kairos.clocksync import MeshOffsets
from kairos.launch.session import Launch
from kairos.meshtime import ClockState

pytestmark = [
    pytest.mark.emulated,
    pytest.mark.skipif(needs_root_reason() is not None, reason=str(needs_root_reason())),
    pytest.mark.skipif(faketime_missing() is not None, reason=str(faketime_missing())),
]

TOPOLOGY = """\
name: fakeclock
mesh: {clock: {reference: ref}, encrypt: false}
devices:
  ref:    {class: mac-mini, agent: tcp://10.77.0.11:7700}
  ahead:  {class: mac-mini, agent: tcp://10.77.0.12:7700}
  behind: {class: mac-mini, agent: tcp://10.77.0.13:7700}
actors:
  tone: {role: sensor, device: ahead, adapter: oscillator, rate_hz: 100, chunk: 10}
  eng: {role: engine, device: ref, inputs: [tone], encoding: {type: lockin, freq_hz: 5.0}}
"""
FAKED = ("ahead", "behind")
RUN_S = 20.0
P95_NS = 50_000


@pytest.mark.timeout(120)
def test_offsets_injected_by_libfaketime_are_estimated_across_the_emulated_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truths = {name: CASES[name].offset_ns for name in FAKED}
    record_probes(monkeypatch, "emulated", truths, os.environ.get("KAIROS_PROBE_DUMP"))
    path = tmp_path / "fakeclock.yaml"
    path.write_text(TOPOLOGY)
    launch = Launch(
        path,
        state_dir=tmp_path / "state",
        emulate=True,
        agent_env={name: CASES[name].env() for name in FAKED},
    )
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    try:
        started = time.monotonic()
        plan = launch.start()
        for name in FAKED:
            state = ClockState.read(tmp_path / "state" / "agents" / name / "clock.json")
            assert state is not None and state.steps == 1, (name, state)  # before any actor
        sub.connect(next(a.endpoint for a in plan.actors if a.name == "tone"))
        sub.setsockopt(zmq.SUBSCRIBE, b"tone")
        rounds: list[MeshOffsets] = []
        stamps: list[tuple[int, int]] = []
        first_at: float | None = None
        end = time.monotonic() + RUN_S
        while time.monotonic() < end:
            launch.tick(timeout_s=0.0)
            offsets = launch.mesh_time
            if offsets is not None and (not rounds or offsets is not rounds[-1]):
                rounds.append(offsets)
            if sub.poll(20):
                frames = sub.recv_multipart()
                now = time.time_ns()
                message = wire.decode(frames)
                if message.stream == "tone":
                    first_at = first_at or time.monotonic()
                    stamps.append((message.sent_ns, now))
        tally = Tally()
        for offsets in rounds:
            for name in FAKED:
                e = offsets.offsets[name]
                tally.add(e.offset_ns + CASES[name].offset_ns, e.uncertainty_ns, e.fitted)
        tally.dump("emulated", os.environ.get("KAIROS_FAKETIME_DUMP"))
        figures = tally.figures()
        assert first_at is not None, "no sample from the device that joined ahead"
        print(
            "emulated links:",
            json.dumps(figures),
            f"first sample {first_at - started:.2f} s after the launch began",
        )
        # the young estimators were probed in fast rounds (32 of them take 8 s; at the
        # steady 2 s cadence 20 s hold 10), and most corrections are fitted ones
        assert figures["n"] >= 2 * 20, figures
        assert tally.figures(only_fitted=True)["n"] >= figures["n"] // 2, figures
        assert figures["p95_us"] * 1e3 <= P95_NS, figures
        # ~75 corrections whose misses come in episodes: one is chance, not a fault
        # (episode_problems).  The 99 % and 5× are asserted over the pooled
        # recorded runs (tests/meshtime/test_replay.py: 100 %, 4.6×); one run's ratio came
        # out at 3.2–6.6× (docs/meshtime.md), so it is printed, not asserted
        pairs = zip(tally.errors, tally.uncertainties, strict=True)  # FAKED per round
        problems = episode_problems((k // len(FAKED), e, u) for k, (e, u) in enumerate(pairs))
        assert not problems, (figures, problems)
        # its stamps were on mesh time from the first: never ahead of the true time they
        # arrived at by more than the uncertainty, never seconds behind
        u = max(e.uncertainty_ns for offsets in rounds for e in offsets.offsets.values())
        assert all(-100_000_000 - u <= sent - now <= u for sent, now in stamps), stamps[:3]
    finally:
        sub.close()
        context.term()
        launch.stop()
