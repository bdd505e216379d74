"""Publishers under stress: a subscriber that stops reading, and a SIGTERM at 1 kHz.

* A slow subscriber must never block its publisher (ZeroMQ drops at the high-water mark),
  and what it lost must be counted exactly (seq gaps in its witness) and shown (``kairos
  tap``).  The slow subscriber here is an engine frozen with SIGSTOP long enough to overflow
  every queue between it and the sensor.
* SIGTERM to a sensor publishing 1000 messages a second: everything it sent before the
  signal reaches its subscribers (bounded linger, last witness).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from chaos.harness import Observer, drive, record_result
from support import free_port, run_kairos

from kairos.control.client import ControlClient
from kairos.control.commands import ActorStatus, Status
from kairos.launch import Launch
from kairos.wire import Message

pytestmark = [pytest.mark.chaos]

#: 2500 messages a second of 40 samples.  A frozen subscriber stops answering ZeroMQ's
#: heartbeats, so its publisher drops the connection with everything queued for it after the
#: heartbeat TTL (3 s): the 8 s freeze loses ~20 300 messages, more than it lasted (20 000);
#: what the engine had in its socket buffer when it thawed, it then works off in runs
SLOW_RATE_HZ = 100_000
SLOW_CHUNK = 40
FREEZE_S = 8.0


def _topology(path: Path, rate_hz: int, chunk: int = 1) -> Path:
    path.write_text(
        "name: chaos-pub\n"
        f"mesh: {{base_port: {free_port()}, clock: consensus}}\n"
        "devices:\n"
        "  box: {class: mac-mini, agent: localhost}\n"
        "actors:\n"
        "  src: {role: sensor, device: box, adapter: oscillator,\n"
        f"        rate_hz: {rate_hz}, chunk: {chunk}, params: {{freq_hz: 40.0, noise: 0.1}}}}\n"
        "  eng: {role: engine, device: box, inputs: [src],\n"
        "        encoding: {type: lockin, freq_hz: 40.0}, windows: {fast: 0.5, slow: 10}}\n"
    )
    return path


def _pid(state: Path, actor: str) -> int:
    return int(json.loads((state / "agents" / "box" / "actors" / actor / "pid").read_text())["pid"])


def _seq_gaps(messages: list[Message]) -> int:
    seqs = [m.seq for m in messages]
    return sum(b - a - 1 for a, b in itertools.pairwise(seqs) if b > a + 1)


# -- a slow subscriber -------------------------------------------------------------------


@dataclass
class SlowSubscriber:
    sensor_times: np.ndarray
    sensor_seq_gaps: int
    sensor_witness: dict[str, Any]
    max_send_lag_s: float  # worst sent_ns - sample time of the sensor (a blocked send grows it)
    engine_times: np.ndarray
    engine_witness: dict[str, Any]
    tap_node: dict[str, Any]

    @functools.cached_property
    def real_loss(self) -> int:
        """Sensor messages the engine never processed (its rows carry the sample times)."""
        span = (self.sensor_times >= self.engine_times[0]) & (
            self.sensor_times <= self.engine_times[-1]
        )
        missing = len(np.setdiff1d(self.sensor_times[span], self.engine_times))
        if missing % SLOW_CHUNK:
            raise AssertionError(f"{missing} samples missing: not whole messages")
        return missing // SLOW_CHUNK


@pytest.fixture(scope="module")
def slow_subscriber(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlowSubscriber]:
    tmp = tmp_path_factory.mktemp("slow")
    topology = _topology(tmp / "slow.yaml", SLOW_RATE_HZ, SLOW_CHUNK)
    state = tmp / "launch"
    launch = Launch(topology, state_dir=state)
    observer: Observer | None = None
    try:
        plan = launch.start()
        observer = Observer([a.endpoint for a in plan.actors], ["src", "eng"])
        drive(launch, lambda: observer.latest("eng/witness"), 20)
        eng = _pid(state, "eng")
        os.kill(eng, signal.SIGSTOP)
        try:
            frozen = time.monotonic()
            drive(launch, lambda: time.monotonic() > frozen + FREEZE_S, FREEZE_S + 5)
        finally:
            os.kill(eng, signal.SIGCONT)

        seen: dict[str, Any] = {}  # what the last look saw, for the message of a timeout

        def caught_up() -> bool:
            src, rows = observer.latest("src"), observer.latest("eng")
            witness = observer.latest("eng/witness")
            if src and rows:
                seen["engine_lag_s"] = (int(src.times[-1]) - int(rows.times[-1])) / 1e9
            if witness:
                seen["witness_gaps"] = witness.data["inputs"].get("src", {}).get("gaps", 0)
            return seen.get("engine_lag_s", 1e9) < 1.0 and seen.get("witness_gaps", 0) > 0

        try:
            drive(launch, caught_up, 60)
        except TimeoutError as e:
            raise TimeoutError(f"the engine did not catch up after its freeze: {seen}") from e
        settle = time.monotonic()
        drive(launch, lambda: time.monotonic() > settle + 2.5, 5)
        tap = run_kairos("tap", str(topology), "--once", "--json", timeout=60)
        observer.close()
        src = [s.message for s in observer.messages("src")]
        rows = [s.message for s in observer.messages("eng")]
        if tap.returncode != 0:
            raise RuntimeError(f"kairos tap --once failed: {tap.stderr[-2000:]}")
        nodes = [json.loads(line) for line in tap.stdout.splitlines() if line.startswith("{")]
        yield SlowSubscriber(
            sensor_times=np.concatenate([m.times for m in src]),
            sensor_seq_gaps=_seq_gaps(src),
            sensor_witness=observer.latest("src/witness").data,  # type: ignore[union-attr]
            max_send_lag_s=max((m.sent_ns - int(m.times[-1])) / 1e9 for m in src),
            engine_times=np.concatenate([m.times for m in rows]),
            engine_witness=observer.latest("eng/witness").data,  # type: ignore[union-attr]
            tap_node=next((n for n in nodes if n.get("node") == "eng"), {}),
        )
    finally:
        if observer is not None:
            observer.close()
        launch.stop()


@pytest.mark.timeout(300)  # the frozen engine's backlog takes long to drain on a busy machine
def test_slow_subscriber_never_blocks_the_publisher(slow_subscriber: SlowSubscriber) -> None:
    s = slow_subscriber
    steps = np.diff(s.sensor_times)
    record_result(
        "slow_subscriber_publisher",
        rate_hz=SLOW_RATE_HZ,
        messages_per_s=SLOW_RATE_HZ // SLOW_CHUNK,
        frozen_s=FREEZE_S,
        fast_subscriber_seq_gaps=s.sensor_seq_gaps,
        sensor_skipped_samples=s.sensor_witness.get("skipped_samples"),
        max_send_lag_ms=round(s.max_send_lag_s * 1e3, 3),
    )
    assert s.sensor_seq_gaps == 0
    assert s.sensor_witness["skipped_samples"] == 0
    assert np.all(steps == 1_000_000_000 // SLOW_RATE_HZ), "the sensor's sample grid has holes"
    assert s.max_send_lag_s < 1.0


def test_slow_subscriber_drops_are_counted_exactly_and_shown(
    slow_subscriber: SlowSubscriber,
) -> None:
    s = slow_subscriber
    reported = s.engine_witness["inputs"]["src"]
    record_result(
        "slow_subscriber_drops",
        real_loss_messages=s.real_loss,
        engine_witness_gaps=reported["gaps"],
        engine_witness_total_gaps=s.engine_witness["gaps"],
        engine_witness_drops=s.engine_witness["drops"],
        tap_gaps=s.tap_node.get("gaps"),
        tap_drops=s.tap_node.get("drops"),
    )
    assert s.real_loss > 0, "the frozen engine lost nothing: the test did not overflow a queue"
    assert reported["gaps"] == s.real_loss
    assert s.engine_witness["gaps"] == s.real_loss
    assert s.tap_node.get("gaps") == s.real_loss


# -- SIGTERM to a publisher ----------------------------------------------------------------


@dataclass
class TermedPublisher:
    final_witness: dict[str, Any]
    observed: list[Message]
    engine_input: dict[str, Any]
    engine_rows_out: int
    exit_code: int | None  # as the agent saw it
    state_after: str
    term_after_messages: int


@pytest.fixture(scope="module")
def termed_publisher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TermedPublisher]:
    tmp = tmp_path_factory.mktemp("sigterm")
    topology = _topology(tmp / "term.yaml", 1000)
    state = tmp / "launch"
    launch = Launch(topology, state_dir=state)
    observer: Observer | None = None
    try:
        plan = launch.start()
        observer = Observer([a.endpoint for a in plan.actors], ["src", "eng/witness"])
        drive(launch, lambda: len(observer.messages("src")) > 3000, 30)
        sensor = psutil.Process(_pid(state, "src"))
        sent_before = len(observer.messages("src"))
        sensor.send_signal(signal.SIGTERM)
        sensor.wait(timeout=10)
        with ControlClient(launch.links["box"].endpoint) as client:

            def exited() -> ActorStatus | None:
                src = client.call(Status()).actor("src")
                return src if src is not None and src.state != "running" else None

            sensor_after = drive(launch, exited, 5)

        def engine_settled() -> dict[str, Any] | None:
            witness = observer.latest("eng/witness")
            final = observer.latest("src/witness")
            if witness is None or final is None:
                return None
            heard = witness.data["inputs"].get("src", {})
            return heard if heard.get("msgs") == final.data["samples"] else None

        with contextlib.suppress(TimeoutError):  # the assertions below say what is missing
            drive(launch, engine_settled, 5)
        time.sleep(1.2)  # one more engine witness, so rows_out is final too
        observer.close()
        engine = observer.latest("eng/witness")
        yield TermedPublisher(
            final_witness=observer.latest("src/witness").data,  # type: ignore[union-attr]
            observed=[s.message for s in observer.messages("src")],
            engine_input=engine.data["inputs"].get("src", {}) if engine else {},
            engine_rows_out=engine.data["rows_out"] if engine else -1,
            exit_code=sensor_after.last_exit,
            state_after=sensor_after.state,
            term_after_messages=sent_before,
        )
    finally:
        if observer is not None:
            observer.close()
        launch.stop()


def test_sigterm_loses_nothing_sent_before_the_signal(termed_publisher: TermedPublisher) -> None:
    t = termed_publisher
    published = t.final_witness["samples"]  # one sample per message (chunk 1)
    observed = t.observed
    record_result(
        "sigterm_publisher",
        rate_hz=1000,
        messages_published=published,
        observer_last_seq=observed[-1].seq,
        observer_seq_gaps=_seq_gaps(observed),
        engine_msgs=t.engine_input.get("msgs"),
        engine_gaps=t.engine_input.get("gaps"),
        engine_rows_out=t.engine_rows_out,
        exit_code=t.exit_code,
        state_after=t.state_after,
    )
    assert t.exit_code == 0 and t.state_after == "stopped"
    assert published >= t.term_after_messages
    assert _seq_gaps(observed) == 0 and observed[-1].seq == published - 1
    assert t.engine_input["msgs"] == published and t.engine_input["gaps"] == 0
    assert t.engine_rows_out == published
