"""The semantic layer fuzzed (issue 10): well-formed messages, hostile numbers and stamps.

Every message here decodes (it really goes through kairos.wire), so the wire fuzzers never
see it: what is random is what it says.  Payloads are random 64-bit patterns (NaN with any
payload, ±Inf, subnormals, 1e308) mixed with plausible values, so the state really
integrates between the bad rows; stamps are plausible, shuffled, an hour off, or any int64.
A real engine of every encoding and a real sync take 100 000 messages each: no exception
(warnings are errors in this suite, so a NumPy overflow counts as a crash), no non-finite
number in any row or record they publish, and every input row accounted for exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from kairos.actors._screen import ROW_REASONS
from kairos.actors.engine import ENGINE_FIELDS, Engine
from kairos.actors.spec import ActorProcessSpec, InputLink, NodeInfo
from kairos.actors.sync import Sync
from kairos.drops import Reason
from kairos.testing import ActorHarness, message
from kairos.topologies.model import Encoding, MeshSpec
from kairos.wire import PackedRecord

T0 = 1_763_770_000_000_000_000
MS = 1_000_000
HOUR = 3600 * 1000 * MS
MESSAGES = 100_000
ENCODINGS = (
    {"type": "phase"},
    {"type": "phase", "demod_hz": 8.0},
    {"type": "lockin", "freq_hz": 8.0},
    {"type": "direct"},
    {"type": "complex"},
)
STREAMS = ("a", "b")

pytestmark = pytest.mark.timeout(300)


def spec(role: str, **extra) -> ActorProcessSpec:
    return ActorProcessSpec(
        name=role,
        role=role,
        device="local",
        device_class="mac-mini",
        bind="tcp://127.0.0.1:1",
        inputs=tuple(InputLink(s, s, "tcp://127.0.0.1:2") for s in STREAMS),
        mesh=MeshSpec(collapse_threshold=0.95, hysteresis=0.05, emergence_threshold=0.75),
        checkpoint_s=0,
        **extra,
    )


class Hostile:
    """Random but reproducible messages: numbers from bit patterns, stamps of every kind."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.cursor = dict.fromkeys(STREAMS, T0)

    def numbers(self, shape: tuple[int, ...], complex_: bool = False) -> np.ndarray:
        rng = self.rng
        bits = rng.integers(0, 2**64, size=shape, dtype=np.uint64, endpoint=False).view("<f8")
        plausible = rng.normal(0.5, 0.3, size=shape)
        values = np.where(rng.random(shape) < 0.3, bits, plausible)
        if complex_:  # both parts set bit for bit (arithmetic would touch the NaN payloads)
            pair = np.empty(shape, dtype=np.complex128)
            pair.real, pair.imag = values, self.numbers(shape)
            return pair
        return values

    def stamps(self, stream: str, n: int, now_ns: int) -> np.ndarray:
        rng = self.rng
        mode = rng.random()
        if mode < 0.08:  # any int64 at all
            return rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=n)
        if mode < 0.16:  # a device up to two hours off
            return now_ns + int(rng.integers(-2 * HOUR, 2 * HOUR)) + np.arange(n) * 5 * MS
        start = max(self.cursor[stream], now_ns - 100 * MS)
        step = max(1, (now_ns - start) // n)  # a live stream stays just behind mesh time
        times = start + np.cumsum(rng.integers(1, step + 1, size=n))
        self.cursor[stream] = int(times[-1])
        if mode < 0.24:  # rows out of order, or a step back
            rng.shuffle(times) if n > 1 else None
            times = times - int(rng.integers(0, 2)) * 10_000 * MS
        return times

    def engine_messages(self, complex_: bool) -> Iterator[tuple[int, list]]:
        for k in range(MESSAGES // len(ENCODINGS)):
            now = T0 + k * 10 * MS
            batch = []
            for stream in STREAMS:
                if self.rng.random() < 0.2:
                    continue  # silence: the other input waits, then goes on
                n = int(self.rng.integers(1, 9))
                width = int(self.rng.integers(0, 3))
                shape = (n,) if width == 0 else (n, width)
                data = self.numbers(shape, complex_)
                if not complex_ and self.rng.random() < 0.1:  # float32 bit patterns
                    data = self.rng.integers(0, 2**32, size=shape, dtype=np.uint32).view("<f4")
                batch.append(message(stream, self.stamps(stream, n, now), data, seq=k))
            yield now, batch

    def sync_messages(self) -> Iterator[tuple[int, list]]:
        for k in range(MESSAGES // len(STREAMS)):
            now = T0 + k * 10 * MS
            batch = []
            for stream in STREAMS:
                if self.rng.random() < 0.5:
                    n = int(self.rng.integers(1, 5))
                    rows = self.numbers((n, len(ENGINE_FIELDS)))
                    rows[:, :8] = np.where(self.rng.random((n, 8)) < 0.7, 0.5, rows[:, :8])
                    stamps = self.stamps(stream, n, now)
                    batch.append(message(stream, stamps, rows, seq=k, fields=ENGINE_FIELDS))
                else:
                    record = {
                        "global_coherence": float(self.numbers((1,))[0]),
                        "mesh_phase": float(self.numbers((1,))[0]),
                        "emerged": bool(self.rng.random() < 0.5),
                    }
                    stamp = self.stamps(stream, 1, now)
                    batch.append(message(stream, stamp, record, seq=k))
            yield now, batch


def assert_finite_output(out) -> None:
    if isinstance(out.data, (dict, PackedRecord)):  # a sync packs its mesh state itself
        data = out.data.decode() if isinstance(out.data, PackedRecord) else out.data
        assert finite_record(data), data
    else:
        assert np.isfinite(np.asarray(out.data, dtype=np.float64)).all()


def finite_record(value) -> bool:
    if isinstance(value, dict):
        return all(finite_record(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(finite_record(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


@pytest.mark.parametrize("index", range(len(ENCODINGS)))
def test_engine_survives_hostile_numbers_and_stamps(tmp_path, index: int) -> None:
    encoding = ENCODINGS[index]
    engine = Engine(spec("engine", encoding=Encoding.from_dict(encoding), windows=(0.5, 10.0)))
    fuzz = Hostile(seed=100 + index)
    rows_in = rows_out = 0
    with ActorHarness(engine, work_dir=tmp_path) as harness:
        for now, batch in fuzz.engine_messages(complex_=encoding["type"] == "complex"):
            rows_in += sum(len(m.times) for m in batch)
            outputs = harness.feed(*batch, now_ns=now)
            for out in outputs:
                assert_finite_output(out)
                rows_out += len(out.times) if out.stream == "" else 0
            # a hostile stamp never stalls an input: nothing piles up in the queues
            assert all(len(state.queue) < 100 for state in engine.inputs.values())
        for out in harness.tick(now + 10 * 1000 * MS):  # what still waited goes out
            assert_finite_output(out)
            rows_out += len(out.times) if out.stream == "" else 0
        dropped = sum(engine.drop_log.total(reason) for reason in ROW_REASONS)
        queued = sum(len(m.times) for s in engine.inputs.values() for m in s.queue)
    assert engine.drop_log.total(Reason.QUEUE_OVERFLOW) == 0
    assert rows_in == rows_out + dropped + queued  # every row accounted for, exactly
    for reason in ROW_REASONS:  # the fuzz exercised every screen
        assert engine.drop_log.total(reason) > 0
    assert rows_out > 0.3 * rows_in  # and the engine really integrated most of it


def test_sync_survives_hostile_nodes(tmp_path) -> None:
    nodes = tuple(NodeInfo(s, "local", "mac-mini", 1.0) for s in STREAMS)
    sync = Sync(spec("sync", nodes=nodes, rate_hz=10.0))
    fuzz = Hostile(seed=7)
    states = 0
    with ActorHarness(sync, work_dir=tmp_path) as harness:
        for now, batch in fuzz.sync_messages():
            for out in harness.feed(*batch, now_ns=now):
                assert_finite_output(out)
                states += out.stream == ""
    assert states > 0.9 * (MESSAGES // len(STREAMS)) / 10  # one state per 100 ms tick
    totals = {r: sum(sync.screens[s].drops.total(r, s) for s in STREAMS) for r in ROW_REASONS}
    assert totals[Reason.FUTURE_STAMP] > 0 and totals[Reason.INVALID_SAMPLE] > 0
    assert totals[Reason.TIME_VIOLATION] == 0  # a sync does not check time order
