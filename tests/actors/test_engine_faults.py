"""The engine against hostile input (issue 10): non-finite samples, wrong clocks, disorder.

Every test compares a faulty run with the clean run of the same data and checks the three
promises: outputs stay finite, the state is not poisoned (coherence within 0.01 of the clean
run at every common sample time), and every dropped row is counted exactly, per input.
"""

from __future__ import annotations

import numpy as np
import pytest

from kairos.actors._screen import CLOCK_PERSIST_S, witness_counts
from kairos.actors.engine import DEGRADED_AFTER_S, ENGINE_FIELDS, MIN_STALE_S, Engine
from kairos.actors.spec import ActorProcessSpec, InputLink
from kairos.testing import message
from kairos.topologies.model import Encoding, MeshSpec

T0 = 1_763_770_000_000_000_000
STEP = 5_000_000  # 200 Hz
CHUNK = 20
HOUR = 3600 * 1_000_000_000
COHERENCE = ENGINE_FIELDS.index("coherence_slow")


def engine_spec(inputs=("mic",), encoding=None, mesh=None) -> ActorProcessSpec:
    return ActorProcessSpec(
        name="eng",
        role="engine",
        device="local",
        device_class="mac-mini",
        bind="tcp://127.0.0.1:1",
        inputs=tuple(InputLink(s, s, "tcp://127.0.0.1:2") for s in inputs),
        encoding=Encoding.from_dict(encoding or {"type": "phase"}),
        windows=(0.5, 10.0),
        mesh=MeshSpec(**{"collapse_threshold": 0.95, "hysteresis": 0.05, **(mesh or {})}),
        checkpoint_s=0,
    )


def signal(n: int, seed: int = 5) -> np.ndarray:
    """A phase that holds 0.7 with noise: coherent, but not trivially 1."""
    return 0.7 + np.random.default_rng(seed).normal(scale=0.6, size=n)


def run(engine_harness, streams, now_of=None):
    """Feed each step's messages of every stream together; returns (rows by time, events)."""
    rows: dict[int, np.ndarray] = {}
    events = []
    steps = max(len(chunks) for chunks in streams.values())
    for k in range(steps):
        batch = [chunks[k] for chunks in streams.values() if k < len(chunks)]
        now = now_of(k) if now_of else T0 + ((k + 1) * CHUNK - 1) * STEP
        for out in engine_harness.feed(*batch, now_ns=now):
            if out.stream == "":
                for t, row in zip(np.asarray(out.times).tolist(), out.data, strict=True):
                    rows[t] = row
            else:
                events.append(out.data)
    return rows, events


def chunked(stream, times, values):
    return [
        message(stream, times[i : i + CHUNK], values[i : i + CHUNK], seq=k)
        for k, i in enumerate(range(0, len(times), CHUNK))
    ]


def assert_finite(rows) -> None:
    assert rows, "no output at all"
    assert all(np.isfinite(row).all() for row in rows.values())


def assert_close_to(clean, faulty, tolerance=0.01) -> None:
    common = sorted(set(clean) & set(faulty))
    assert len(common) >= 0.9 * len(clean)
    worst = max(abs(clean[t][COHERENCE] - faulty[t][COHERENCE]) for t in common)
    assert worst <= tolerance


@pytest.mark.parametrize("encoding", ["phase", "lockin", "direct"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_skipped_counted_and_never_integrated(harness_of, encoding, bad):
    n = 4000  # 20 s
    times = T0 + STEP * np.arange(n)
    spec = {"type": encoding, "freq_hz": 8.0} if encoding == "lockin" else {"type": encoding}
    values = signal(n) if encoding != "lockin" else np.cos(2 * np.pi * 8.0 * (times - T0) / 1e9)
    hit = np.random.default_rng(1).choice(n, size=n // 100, replace=False)  # 1 %
    faulty_values = values.copy()
    faulty_values[hit] = bad
    clean = harness_of(Engine(engine_spec(encoding=spec)))
    faulty_engine = Engine(engine_spec(encoding=spec))
    faulty = harness_of(faulty_engine)
    clean_rows, _ = run(clean, {"mic": chunked("mic", times, values)})
    faulty_rows, events = run(faulty, {"mic": chunked("mic", times, faulty_values)})
    assert_finite(faulty_rows)
    assert len(faulty_rows) == n - len(hit)
    assert not set(times[hit].tolist()) & set(faulty_rows)  # no output for a skipped row
    assert_close_to(clean_rows, faulty_rows)
    assert witness_counts(faulty_engine.drop_log, "mic") == {
        "invalid_samples": len(hit),
        "time_violations": 0,
        "future_stamps": 0,
        "drops": 0,
    }
    assert events == [e for e in events if e["kind"] == "collapse"]  # no clock, no degraded


def test_non_finite_complex_values_and_used_columns_only(harness_of):
    n = 400
    times = T0 + STEP * np.arange(n)
    z = np.exp(1j * signal(n))
    z[10] = complex(1.0, np.nan)  # imaginary part only
    z[20] = complex(np.inf, 0.0)
    engine = Engine(engine_spec(encoding={"type": "complex"}))
    rows, _ = run(harness_of(engine), {"mic": chunked("mic", times, z)})
    assert_finite(rows)
    assert engine.drop_log.counts("mic") == {"invalid_samples": 2}
    # a two-column sensor: the engine follows column 0; NaN in column 1 is not its business
    table = np.column_stack([signal(n), np.zeros(n)])
    table[5, 0] = np.nan
    table[6, 1] = np.nan
    engine = Engine(engine_spec())
    rows, _ = run(harness_of(engine), {"mic": chunked("mic", times, table)})
    assert_finite(rows)
    assert engine.drop_log.counts("mic") == {"invalid_samples": 1}
    assert times[6] in rows and times[5] not in rows


def test_huge_finite_values_cannot_overflow_the_state(harness_of):
    n = 400
    times = T0 + STEP * np.arange(n)
    values = signal(n)
    values[[3, 50, 51]] = [1e308, -1e300, 1e61]  # finite, but no sensor reads them
    engine = Engine(engine_spec(encoding={"type": "direct"}))
    rows, _ = run(harness_of(engine), {"mic": chunked("mic", times, values)})
    assert_finite(rows)
    assert engine.drop_log.counts("mic") == {"invalid_samples": 3}


def test_a_message_an_hour_ahead_is_dropped_and_holds_nothing_back(harness_of):
    n = 2000
    times = T0 + STEP * np.arange(n)
    a, b = chunked("a", times, signal(n, 1)), chunked("b", times, signal(n, 2))
    ahead = message("a", times[200:220] + HOUR, signal(20, 3), seq=10)
    a_faulty = [*a[:10], ahead, *a[11:]]
    clean_rows, _ = run(harness_of(Engine(engine_spec(inputs=("a", "b")))), {"a": a, "b": b})
    engine = Engine(engine_spec(inputs=("a", "b")))
    harness = harness_of(engine)
    rows: dict[int, np.ndarray] = {}
    emitted = 0
    for k in range(len(a)):
        now = T0 + ((k + 1) * CHUNK - 1) * STEP
        for out in harness.feed(a_faulty[k], b[k], now_ns=now):
            if out.stream == "":
                emitted += len(out.times)
                rows.update(zip(np.asarray(out.times).tolist(), out.data, strict=True))
        # nothing waits longer than one message: the dropped one does not stall b
        assert all(len(s.queue) <= 1 for s in engine.inputs.values())
    assert_finite(rows)
    assert witness_counts(engine.drop_log, "a")["future_stamps"] == 20
    assert witness_counts(engine.drop_log, "b") == witness_counts(engine.drop_log, "nobody")
    assert emitted == 2 * n - 20  # one row per accepted input row, of a and of b
    assert set(rows) == set(clean_rows)  # b still covers the sample times of a's 20
    assert_close_to(clean_rows, rows)
    assert engine.screens["a"].clock_fault is None  # one message is a glitch, not a clock


def test_a_device_an_hour_ahead_is_reported_once_and_the_other_input_runs_on(harness_of):
    n = 2000  # 10 s; from 2 s on every message of a is an hour ahead
    times = T0 + STEP * np.arange(n)
    a, b = chunked("a", times, signal(n, 1)), chunked("b", times, signal(n, 2))
    a = [m if k < 20 else message("a", m.times + HOUR, m.data, seq=k) for k, m in enumerate(a)]
    engine = Engine(engine_spec(inputs=("a", "b")))
    harness = harness_of(engine)
    rows, events = run(harness, {"a": a, "b": b})
    assert_finite(rows)
    assert witness_counts(engine.drop_log, "a")["future_stamps"] == n - 20 * CHUNK
    clock = [e for e in events if e["kind"] == "clock"]
    assert len(clock) == 1
    assert clock[0]["stream"] == "a" and clock[0]["reason"] == "future_stamps"
    # reported after CLOCK_PERSIST_S of nothing but future stamps
    assert clock[0]["t_ns"] - times[20 * CHUNK] >= CLOCK_PERSIST_S * 1e9
    assert engine.witness()["inputs"]["a"]["clock"] == "future_stamps"
    assert engine.witness()["inputs"]["b"]["clock"] is None
    assert times[-1] in rows  # b is processed to its last row: never held back
    assert engine.degraded is None  # b is valid input


def test_a_clock_stepped_back_10_s_gives_time_violations_then_recovers(harness_of):
    n = 4000  # 20 s of true time; at 5 s the device clock steps back 10 s
    true_times = T0 + STEP * np.arange(n)
    stamps = np.where(np.arange(n) < 1000, true_times, true_times - 10_000_000_000)
    engine = Engine(engine_spec())
    rows, events = run(
        harness_of(engine),
        {"mic": chunked("mic", stamps, signal(n))},
        now_of=lambda k: T0 + ((k + 1) * CHUNK - 1) * STEP,
    )
    assert_finite(rows)
    # stamps from 5 s − 10 s up to 5 s are not after the last accepted row (4.995 s)
    assert witness_counts(engine.drop_log, "mic")["time_violations"] == 2000
    assert len(rows) == n - 2000
    clock = [e for e in events if e["kind"] == "clock"]
    assert [(e["stream"], e["reason"]) for e in clock] == [("mic", "time_violations")]
    assert engine.screens["mic"].clock_fault is None  # rows pass again: the fault is over
    assert [e["state"] for e in events if e["kind"] == "degraded"] == [True, False]


def test_rows_out_of_order_inside_a_message_are_dropped_and_counted(harness_of):
    n = 400
    times = T0 + STEP * np.arange(n)
    messages = chunked("mic", times, signal(n))
    for k in range(0, 20, 2):  # in 10 messages, rows 5 and 6 swapped
        swapped = messages[k].times.copy()
        swapped[[5, 6]] = swapped[[6, 5]]
        messages[k] = message("mic", swapped, messages[k].data, seq=k)
    messages.insert(7, messages[6])  # one message delivered twice: 20 rows not after the last
    engine = Engine(engine_spec())
    rows, _ = run(harness_of(engine), {"mic": messages})
    assert_finite(rows)
    assert witness_counts(engine.drop_log, "mic")["time_violations"] == 10 + 20
    assert len(rows) == n - 10


def test_an_engine_whose_every_row_is_dropped_reports_itself_degraded(harness_of):
    n = 1000  # 5 s: valid, then 2 s of NaN only, then valid again
    times = T0 + STEP * np.arange(n)
    values = signal(n)
    values[200:600] = np.nan
    engine = Engine(engine_spec())
    harness = harness_of(engine)
    published_while_degraded = 0
    events = []
    for m in chunked("mic", times, values):
        out = harness.feed(m, now_ns=int(m.times[-1]))
        events += [o.data for o in out if o.stream == "events" and o.data["kind"] == "degraded"]
        if engine.degraded is not None:
            published_while_degraded += sum(len(o.times) for o in out if o.stream == "")
            assert engine.witness()["degraded"] == "invalid_samples"
    assert published_while_degraded == 0  # no stale number goes out as if nothing happened
    assert [(e["state"], e["reason"]) for e in events] == [
        (True, "invalid_samples"),
        (False, "invalid_samples"),
    ]
    assert events[0]["t_ns"] - times[199] >= DEGRADED_AFTER_S * 1e9  # after the last valid row
    assert events[1]["t_ns"] == times[619]  # the first message with valid rows again
    assert engine.witness()["degraded"] is None


def test_an_input_an_hour_behind_does_not_stall_the_other(harness_of):
    n = 2000
    times = T0 + STEP * np.arange(n)
    a = chunked("a", times - HOUR, signal(n, 1))  # a device without its clock set
    b = chunked("b", times, signal(n, 2))
    engine = Engine(engine_spec(inputs=("a", "b")))
    harness = harness_of(engine)
    rows_of_b = 0
    events = []
    for k in range(len(a)):
        out = harness.feed(a[k], b[k], now_ns=T0 + ((k + 1) * CHUNK - 1) * STEP)
        rows_of_b += sum(int((np.asarray(o.times) >= T0).sum()) for o in out if o.stream == "")
        events += [o.data for o in out if o.stream == "events" and o.data["kind"] == "clock"]
        assert all(len(s.queue) == 0 for s in engine.inputs.values())
    assert rows_of_b == n  # every row of b went out as it came
    assert [(e["stream"], e["reason"]) for e in events] == [("a", "behind")]
    assert engine.witness()["inputs"]["a"]["clock"] == "behind"
    assert engine.drop_log.counts("a") == {} and engine.drop_log.counts("b") == {}


def test_max_future_s_comes_from_the_mesh(harness_of):
    times = T0 + STEP * np.arange(40)
    engine = Engine(engine_spec(mesh={"max_future_s": 5.0}))
    harness = harness_of(engine)
    harness.feed(message("mic", times[:20] + 4_000_000_000, signal(20)), now_ns=int(times[0]))
    harness.feed(message("mic", times[20:] + 6_000_000_000, signal(20)), now_ns=int(times[0]))
    assert engine.drop_log.counts("mic") == {"future_stamps": 20}


def test_a_silent_input_is_still_waited_for_up_to_the_stale_limit(harness_of):
    """The screen does not change ordering for well-behaved inputs: determinism holds."""
    times = T0 + STEP * np.arange(40)
    harness = harness_of(Engine(engine_spec(inputs=("a", "b"))))
    assert harness.feed(message("a", times, signal(40)), now_ns=T0) == []
    later = harness.tick(T0 + int(MIN_STALE_S * 1e9) + 1_000_000_000)
    assert sum(len(o.times) for o in later if o.stream == "") == 40
