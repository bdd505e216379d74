"""Issue 10 end to end: a hostile sensor in a launched mesh never poisons it, and is told.

A two-branch mesh runs for real: ``good`` → ``clean`` engine and ``bad`` → ``victim``
engine, both into one sync.  The ``bad`` sensor is excluded from the launch and replaced by
:class:`hostile.HostilePublisher`, which sends the same clean oscillator but spoils rows on
purpose, one kind per scenario.  In every scenario:

* every engine, sync and output value the observer saw is finite;
* the clean engine's coherence and the mesh's global coherence over the last seconds are
  within 0.01 of a clean run's, and the mesh emerged in both;
* the victim's witness counts exactly the rows the publisher spoiled, no more, no fewer;
* the victim's log has the first drop line at once and at most one line per stream and
  reason per 10 s after it.

Figures go to tests/chaos/results.json (key ``faults/<scenario>``) for docs/chaos.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chaos.harness import Observer, drive, record_result
from faults.hostile import Faults, HostilePublisher, Sent
from support import free_port, run_kairos

from kairos.launch import Launch
from kairos.topologies.loader import load
from kairos.wire import Message

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

#: seconds the hostile publisher runs; the NaN scenario runs past one summary interval
RUN_S = 8.0
LONG_RUN_S = 13.0
#: the figures compared with the clean run: means over this many final seconds
WINDOW_S = 3.0
TOLERANCE = 0.01
COUNTER = {
    "invalid": "invalid_samples",
    "future": "future_stamps",
    "time": "time_violations",
}


def _topology(path: Path) -> Path:
    path.write_text(
        "name: faults\n"
        f"mesh: {{base_port: {free_port()}, clock: consensus, emergence_threshold: 0.75}}\n"
        "devices:\n"
        "  box: {class: mac-mini, agent: localhost}\n"
        "actors:\n"
        "  good: {role: sensor, device: box, adapter: oscillator, rate_hz: 400,\n"
        "         params: {freq_hz: 40.0, amplitude: 1.0, noise: 0.05}}\n"
        "  bad: {role: sensor, device: box, adapter: oscillator, rate_hz: 400,\n"
        "        params: {freq_hz: 40.0}}\n"
        "  clean: {role: engine, device: box, inputs: [good],\n"
        "          encoding: {type: lockin, freq_hz: 40.0}, windows: {fast: 0.5, slow: 5}}\n"
        "  victim: {role: engine, device: box, inputs: [bad],\n"
        "           encoding: {type: lockin, freq_hz: 40.0}, windows: {fast: 0.5, slow: 5}}\n"
        "  mesh: {role: sync, device: box, inputs: [clean, victim], rate_hz: 10}\n"
        "  journal: {role: output, device: box, inputs: [mesh], adapter: jsonl,\n"
        "            params: {path: mesh.jsonl}}\n"
    )
    return path


@dataclass
class Run:
    """What one scenario's launch produced."""

    sent: Sent
    clean_rows: list[Message]
    victim_rows: list[Message]
    mesh: list[Message]
    victim_witness: dict[str, Any]
    victim_events: list[dict[str, Any]]
    log_lines: list[dict[str, Any]]
    journal: list[str]
    tap_json: str

    def clean_coherence(self) -> float:
        return _tail_mean(self.clean_rows, "coherence_slow")

    def global_coherence(self) -> float:
        last = self.mesh[-1].times[-1]
        values = [
            m.data["global_coherence"]
            for m in self.mesh
            if int(m.times[-1]) >= last - WINDOW_S * 1e9
        ]
        return float(np.mean(values))

    def emerged(self) -> bool:
        return bool(self.mesh[-1].data["emerged"])


def _tail_mean(rows: list[Message], column: str) -> float:
    last = int(rows[-1].times[-1])
    values = np.concatenate([m.column(column)[m.times >= last - WINDOW_S * 1e9] for m in rows])
    return float(np.mean(values))


_KV = re.compile(r"(\w+)=(\S+)")


def _drop_lines(log: Path) -> list[dict[str, Any]]:
    """The victim's drop lines ('input dropped', 'inputs dropped'), JSON or console."""
    lines = []
    for text in log.read_text(errors="replace").splitlines():
        if "dropped" not in text:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            record = {k: v.strip("'\"") for k, v in _KV.findall(text)}
            record["event"] = "inputs dropped" if "inputs dropped" in text else "input dropped"
        if record.get("event") in ("input dropped", "inputs dropped"):
            lines.append(record)
    return lines


def _run(tmp: Path, faults: Faults, run_s: float = RUN_S) -> Run:
    topology = _topology(tmp / "faults.yaml")
    endpoints = {name: load(topology).endpoint(name) for name in ("bad", "clean", "victim", "mesh")}
    state = tmp / "launch"
    launch = Launch(topology, state_dir=state, exclude=["bad"])
    observer: Observer | None = None
    publisher = HostilePublisher("bad", endpoints["bad"], "victim", faults)
    try:
        launch.start()
        observer = Observer(
            [endpoints["clean"], endpoints["victim"], endpoints["mesh"]],
            ["clean", "victim", "mesh"],
        )
        publisher.start()
        started = time.monotonic()
        drive(launch, lambda: time.monotonic() > started + run_s, run_s + 10)
        tap = run_kairos("tap", str(topology), "--once", "--json", timeout=60)
        sent = publisher.stop()
        stopped = time.monotonic()
        # two witness seconds after the last message: its counters include every row sent
        drive(
            launch,
            lambda: sum(1 for s in observer.messages("victim/witness") if s.at > stopped) >= 2,
            15,
        )
        observer.close()
        log = state / "agents" / "box" / "actors" / "victim" / "actor.log"
        journal_path = state / "agents" / "box" / "actors" / "journal" / "mesh.jsonl"
        return Run(
            sent=sent,
            clean_rows=[s.message for s in observer.messages("clean")],
            victim_rows=[s.message for s in observer.messages("victim")],
            mesh=[s.message for s in observer.messages("mesh")],
            victim_witness=observer.latest("victim/witness").data,  # type: ignore[union-attr]
            victim_events=[s.message.data for s in observer.messages("victim/events")],
            log_lines=_drop_lines(log),
            journal=journal_path.read_text().splitlines() if journal_path.exists() else [],
            tap_json=tap.stdout if tap.returncode == 0 else f"tap failed: {tap.stderr[-2000:]}",
        )
    finally:
        with contextlib.suppress(Exception):
            publisher.stop()
        if observer is not None:
            observer.close()
        launch.stop()


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp("clean"), Faults())


SCENARIOS: dict[str, tuple[Faults, str, float]] = {
    "nan": (Faults(value=math.nan), "invalid", LONG_RUN_S),
    "plus-inf": (Faults(value=math.inf), "invalid", RUN_S),
    "minus-inf": (Faults(value=-math.inf), "invalid", RUN_S),
    "hour-ahead": (Faults(future_messages=(150,)), "future", RUN_S),
    "clock-step-back": (Faults(step_back_from=200), "time", RUN_S),
    "out-of-order": (Faults(swap_every=10), "time", RUN_S),
}


def _strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _all_finite(run: Run) -> bool:
    arrays = [m.data for m in run.clean_rows + run.victim_rows]
    numbers = [
        value
        for m in run.mesh
        for value in (m.data["global_coherence"], m.data["order_parameter"], m.data["mesh_phase"])
    ]
    return all(np.isfinite(a).all() for a in arrays) and all(math.isfinite(v) for v in numbers)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_hostile_sensor_never_poisons_the_mesh_and_every_drop_is_counted(
    name: str, clean_run: Run, tmp_path: Path
) -> None:
    faults, kind, run_s = SCENARIOS[name]
    run = _run(tmp_path, faults, run_s)
    inputs = run.victim_witness["inputs"]["bad"]
    expected = {
        "invalid": run.sent.invalid_rows,
        "future": run.sent.future_rows,
        "time": run.sent.time_violation_rows,
    }
    counted = {key: int(inputs.get(counter, 0)) for key, counter in COUNTER.items()}
    record_result(
        f"faults/{name}",
        rows_sent=run.sent.rows,
        rows_spoiled=expected[kind],
        counted=counted,
        gaps=inputs.get("gaps"),
        clean_coherence=round(run.clean_coherence(), 4),
        clean_coherence_clean_run=round(clean_run.clean_coherence(), 4),
        global_coherence=round(run.global_coherence(), 4),
        global_coherence_clean_run=round(clean_run.global_coherence(), 4),
        log_lines=len(run.log_lines),
    )
    assert expected[kind] > 0, "the scenario spoiled nothing: it would prove nothing"
    assert inputs["gaps"] == 0, "a lost message would make the counts inexact"
    assert counted == expected  # the spoiled kind exactly, the others zero
    assert _all_finite(run)
    assert abs(run.clean_coherence() - clean_run.clean_coherence()) <= TOLERANCE
    assert abs(run.global_coherence() - clean_run.global_coherence()) <= TOLERANCE
    assert run.emerged() and clean_run.emerged()
    for line in run.journal:
        _strict(line)
    for line in run.tap_json.splitlines():
        _strict(line)  # `kairos tap --json` is strict JSON while the mesh is under attack
    # told: the first drop at once, then at most one summary per 10 s of the run
    reason = COUNTER[kind]
    told = [line for line in run.log_lines if line.get("reason") == reason]
    assert told and told[0]["event"] == "input dropped"
    assert len(told) <= 1 + math.floor(run_s / 10.0) + 1  # + the summary flushed at stop
    assert all(line.get("reason") == reason for line in run.log_lines)
    if run_s > 10.0:  # past one interval, the flood is summarised, with counts that add up
        assert any(line["event"] == "inputs dropped" for line in told)
        assert sum(int(line["count"]) for line in told) <= expected[kind]


def test_the_clean_run_drops_nothing(clean_run: Run) -> None:
    inputs = clean_run.victim_witness["inputs"]["bad"]
    assert all(int(inputs.get(counter, 0)) == 0 for counter in COUNTER.values())
    assert clean_run.log_lines == []
    assert clean_run.emerged()
