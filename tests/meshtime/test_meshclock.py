"""MeshClock slewing and ClockState files, on a simulated monotonic clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kairos.meshtime import MAX_SLEW, SHIFT_ENV, ClockError, ClockState, MeshClock, sample_base_ns

SECOND = 1_000_000_000
BASE = 1_700_000_000_000_000_000


class FakeMono:
    """A CLOCK_MONOTONIC the test advances by hand."""

    def __init__(self) -> None:
        self.t = 5 * SECOND

    def __call__(self) -> int:
        return self.t


def make(tmp_path: Path, state: ClockState | None = None) -> tuple[MeshClock, FakeMono, Path]:
    mono = FakeMono()
    path = tmp_path / "clock.json"
    if state is not None:
        state.write(path)
    return MeshClock(path, monotonic_ns=mono), mono, path


def test_never_backwards_across_positive_and_negative_corrections(tmp_path: Path) -> None:
    """Agent retargets every 2 s with random corrections of ±20 ms; readings never decrease."""
    rng = np.random.default_rng(1)
    clock, mono, path = make(tmp_path, ClockState(base_ns=BASE))
    state = ClockState(base_ns=BASE)
    last = clock.now_ns()
    for k in range(200):
        mono.t += int(rng.uniform(0, 50e6))
        if k % 10 == 0:
            state = state.retarget(
                int(rng.uniform(-20e6, 20e6)),
                float(rng.uniform(-50, 50)),
                1000,
                mono.t + BASE,
                mono_ns=mono.t,
            )
            state.write(path)
            assert clock.refresh()
        now = clock.now_ns()
        assert now >= last
        last = now


def test_negative_correction_converges_at_the_slew_rate(tmp_path: Path) -> None:
    synced = ClockState(base_ns=BASE, synced=True)
    clock, mono, path = make(tmp_path, synced)
    start_local = mono.t + BASE
    before = clock.now_ns()
    assert before == start_local
    synced.retarget(-20_000_000, 0.0, 500, start_local, mono_ns=mono.t).write(path)
    assert clock.refresh()
    assert clock.now_ns() == before  # no step
    for seconds in (1, 10, 30):
        mono.t = 5 * SECOND + seconds * SECOND
        behind = 20_000_000 - seconds * SECOND * MAX_SLEW
        assert clock.correction_ns() == pytest.approx(-20_000_000 + behind, abs=2)
    mono.t = 5 * SECOND + 41 * SECOND  # 20 ms at 500 µs/s takes 40 s
    assert clock.correction_ns() == -20_000_000
    assert clock.now_ns() == mono.t + BASE - 20_000_000


def test_step_written_without_retarget_is_still_slewed_per_process(tmp_path: Path) -> None:
    """An agent that writes a plain state with a backward jump cannot move mesh time back."""
    clock, mono, path = make(tmp_path, ClockState(base_ns=BASE, synced=True))
    before = clock.now_ns()
    ClockState(base_ns=BASE, offset_ns=-8_000_000, anchor_ns=BASE, synced=True).write(path)
    assert clock.refresh()
    assert clock.now_ns() == before
    mono.t += 10 * SECOND
    assert clock.correction_ns() == pytest.approx(-8_000_000 + 3_000_000, abs=2)
    mono.t += 7 * SECOND
    assert clock.correction_ns() == -8_000_000


def test_first_sync_is_a_step_either_way(tmp_path: Path) -> None:
    """The first estimate is applied at once (chrony's makestep), forward or backward; a
    process that saw the unsynced state steps with it and learns of it from ``steps``."""
    unsynced = ClockState(base_ns=BASE)
    for shift in (30_000_000, -2_345_678_000):
        (tmp_path / str(shift)).mkdir()
        clock, mono, path = make(tmp_path / str(shift), unsynced)
        before = clock.now_ns()
        first = unsynced.retarget(shift, 0.0, 1000, mono.t + BASE, mono_ns=mono.t)
        assert (first.residual_ns, first.steps, first.synced) == (0, 1, True)
        first.write(path)
        assert clock.refresh()
        assert clock.steps == 1
        assert clock.now_ns() == before + shift  # backward too: the process starts a new epoch
        mono.t += SECOND
        assert clock.now_ns() == before + shift + SECOND


def test_a_correction_beyond_the_threshold_steps_a_smaller_one_slews(tmp_path: Path) -> None:
    threshold = 100_000_000
    clock, mono, path = make(tmp_path, ClockState(base_ns=BASE))
    state = ClockState(base_ns=BASE).retarget(0, 0.0, 1000, mono.t + BASE, mono_ns=mono.t)
    state.write(path)
    clock.refresh()
    # 50 ms: within the threshold, slewed out at 500 µs/s; time never goes back
    slewed = state.retarget(
        -50_000_000, 0.0, 1000, mono.t + BASE, mono_ns=mono.t, step_threshold_ns=threshold
    )
    assert (slewed.steps, slewed.residual_ns) == (1, 50_000_000)
    before = clock.now_ns()
    slewed.write(path)
    assert clock.refresh()
    assert clock.steps == 1 and clock.now_ns() == before
    # -2.3 s: beyond it, a step (backward), counted
    mono.t += SECOND
    stepped = slewed.retarget(
        -2_350_000_000, 0.0, 1000, mono.t + BASE, mono_ns=mono.t, step_threshold_ns=threshold
    )
    assert (stepped.steps, stepped.residual_ns) == (2, 0)
    stepped.write(path)
    assert clock.refresh()
    assert clock.steps == 2
    assert clock.now_ns() == mono.t + BASE - 2_350_000_000
    # without a threshold nothing but the first sync steps
    plain = stepped.retarget(0, 0.0, 1000, mono.t + BASE, mono_ns=mono.t)
    assert (plain.steps, plain.residual_ns) == (2, -2_350_000_000)


def test_processes_on_one_device_agree(tmp_path: Path) -> None:
    """The slew lives in the clock file, so a process started mid-slew reads the same time."""
    state = ClockState(base_ns=BASE, synced=True)
    early, mono, path = make(tmp_path, state)
    state = state.retarget(-10_000_000, -43.0, 1000, mono.t + BASE, mono_ns=mono.t)
    state.write(path)
    early.refresh()
    mono.t += 7 * SECOND
    late = MeshClock(path, monotonic_ns=mono)
    assert late.now_ns() == early.now_ns()
    mono.t += 30 * SECOND
    assert late.now_ns() == early.now_ns()


def test_base_change_keeps_mesh_time_continuous(tmp_path: Path) -> None:
    state = ClockState(base_ns=BASE, offset_ns=1_000_000, anchor_ns=BASE, synced=True)
    clock, mono, path = make(tmp_path, state)
    before = clock.now_ns()
    # the agent restarted and sampled a base 2 s earlier; its estimate follows the new base
    new_base = BASE - 2 * SECOND
    moved = state.retarget(
        2 * SECOND + 1_000_000, 0.0, 1000, mono.t + new_base, mono_ns=mono.t, base_ns=new_base
    )
    moved.write(path)
    assert clock.refresh()
    assert clock.now_ns() == before
    assert clock.local_ns() == mono.t + new_base


def test_skew_is_followed(tmp_path: Path) -> None:
    state = ClockState(
        base_ns=BASE, offset_ns=0, skew_ppm=43.0, anchor_ns=BASE + 5 * SECOND, synced=True
    )
    clock, mono, _ = make(tmp_path, state)
    mono.t += 100 * SECOND
    assert clock.correction_ns() == pytest.approx(4_300_000, abs=1)
    assert clock.offset_ns == 0
    assert clock.synced


def test_refresh_sees_two_writes_within_one_mtime_tick(tmp_path: Path) -> None:
    clock, _, path = make(tmp_path, ClockState(base_ns=BASE))
    assert not clock.refresh()  # nothing new
    ClockState(base_ns=BASE, offset_ns=1, synced=True).write(path)
    assert clock.refresh()
    ClockState(base_ns=BASE, offset_ns=2, synced=True).write(path)
    assert clock.refresh()
    assert clock.offset_ns == 2
    path.write_text("{not json")
    assert not clock.refresh()  # a broken file is ignored; the last state stays
    assert clock.offset_ns == 2


def test_without_a_file_mesh_time_is_local_time(tmp_path: Path) -> None:
    mono = FakeMono()
    clock = MeshClock(None, monotonic_ns=mono)
    assert not clock.refresh()
    assert not clock.synced
    assert clock.now_ns() == clock.local_ns()
    missing = MeshClock(tmp_path / "none.json", monotonic_ns=mono)
    assert missing.now_ns() == missing.local_ns()


def test_clock_state_validation(tmp_path: Path) -> None:
    good = ClockState(base_ns=1, offset_ns=-5, skew_ppm=1.5, uncertainty_ns=7, synced=True)
    assert ClockState.from_dict({**good.to_dict(), "future_field": 1}) == good
    cases: list[Any] = [
        [],
        {"offset_ns": 1},
        {"base_ns": "1"},
        {"base_ns": 1, "skew_ppm": "x"},
        {"base_ns": 1, "synced": 1},
        {"base_ns": 1, "uncertainty_ns": -1},
        {"base_ns": True},
    ]
    for bad in cases:
        with pytest.raises(ClockError):
            ClockState.from_dict(bad)
    (tmp_path / "bad.json").write_text(json.dumps({"base_ns": "x"}))
    assert ClockState.read(tmp_path / "bad.json") is None
    assert ClockState.read(tmp_path / "missing.json") is None
    with pytest.raises(ClockError, match="cannot write"):
        good.write(tmp_path / "no-such-dir" / "clock.json")


def test_shift_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SHIFT_ENV, "0")
    plain = sample_base_ns()
    monkeypatch.setenv(SHIFT_ENV, str(50 * SECOND))
    assert sample_base_ns() - plain == pytest.approx(50 * SECOND, abs=SECOND // 10)
    monkeypatch.setenv(SHIFT_ENV, "soon")
    with pytest.raises(ClockError, match=SHIFT_ENV):
        sample_base_ns()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from kairos.meshtime import ClockState
    path = Path(sys.argv[1])
    for k in range(1, 3001):
        # a long, varying file: a torn read would break the invariant anchor == 7 * offset
        ClockState(base_ns=k, offset_ns=k, anchor_ns=7 * k, uncertainty_ns=10**k % 10**15,
                   skew_ppm=k / 3, synced=True).write(path)
    """
)


def test_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    ClockState(base_ns=0, synced=True).write(path)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        seen = set()
        while writer.poll() is None:
            state = ClockState.read(path)
            assert state is not None
            assert state.anchor_ns == 7 * state.offset_ns
            seen.add(state.offset_ns)
        assert writer.wait(timeout=60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert len(seen) > 10  # the reader really raced the writer
    assert ClockState.read(path) == ClockState(
        base_ns=3000,
        offset_ns=3000,
        anchor_ns=21000,
        uncertainty_ns=10**3000 % 10**15,
        skew_ppm=1000.0,
        synced=True,
    )
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "clock.json"]
    assert leftovers == []


def test_the_base_is_the_closest_of_several_sandwiched_reads(monkeypatch) -> None:
    """A pre-emption between two reads (here: 80 µs in the first three) is never taken: the
    read with the smallest gap wins and half its gap is the bound reported."""
    import kairos.meshtime as meshtime

    monkeypatch.delenv(SHIFT_ENV, raising=False)
    mono_t = [1_000_000]
    gaps = iter([80_000, 80_000, 80_000, 400, 2_000] + [5_000] * 11)

    def mono() -> int:
        mono_t[0] += 100
        return mono_t[0]

    def real() -> int:
        mono_t[0] += next(gaps)  # the realtime read lands this far after the first stamp
        return BASE + mono_t[0]

    monkeypatch.setattr(meshtime.time, "monotonic_ns", mono)
    monkeypatch.setattr(meshtime.time, "time_ns", real)
    reading = meshtime.read_base()
    # the 400 ns read: gap 500 ns, realtime 50 ns after the middle
    assert reading.error_ns == 251
    assert abs(reading.base_ns - BASE) <= reading.error_ns
    assert reading.base_ns - BASE == 150
    monkeypatch.undo()
    real_reading = meshtime.read_base()
    assert 0 < real_reading.error_ns < 1_000_000
    assert abs(real_reading.base_ns - (time_ns_minus_mono())) < 5_000_000


def time_ns_minus_mono() -> int:
    import time

    return time.time_ns() - time.monotonic_ns()


def test_a_clock_file_is_written_whole_world_readable_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    """The agent writes through its own temp file and a rename; actors may run as another
    user, so the file is 0644 whatever the umask; a write that fails leaves nothing behind."""
    path = tmp_path / "clock.json"
    old = os.umask(0o077)
    try:
        for offset in (1, 2, 3):
            ClockState(base_ns=BASE, offset_ns=offset).write(path)
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["clock.json"]
    assert path.stat().st_mode & 0o777 == 0o644
    assert ClockState.read(path) == ClockState(base_ns=BASE, offset_ns=3)
    (tmp_path / "gone").mkdir()
    target = tmp_path / "gone" / "clock.json"
    target.mkdir()  # a directory where the file should go: the rename fails
    with pytest.raises(ClockError, match="cannot write clock file"):
        ClockState(base_ns=BASE).write(target)
    assert [p.name for p in (tmp_path / "gone").iterdir()] == ["clock.json"]
