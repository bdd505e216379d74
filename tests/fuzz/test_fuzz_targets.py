"""100 000 mutated inputs per target with the in-process engine: no crash, no hang.

A target whose reported bug the fuzzer still hits is a strict xfail naming the bug (see
``corpus.KNOWN_BUGS``); fixing the bug makes the xfail fail until the mark is removed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kairos.tools._fuzz import load_target, topology
from kairos.tools._fuzz._random import run
from kairos.tools._fuzz._target import Target

INPUTS = 100_000
#: per input, generous on a loaded 2-core machine: a hang, not a slow input
INPUT_TIMEOUT_S = 10.0

#: target -> the reported bug the fuzzer still hits there (a strict xfail until fixed)
OPEN_BUGS: dict[str, str] = {}


def _fuzz(target: Target, tmp_path: Path) -> None:
    stats = run(
        target,
        max_inputs=INPUTS,
        seed=2024,
        input_timeout=INPUT_TIMEOUT_S,
        crash_dir=tmp_path / "crashes",
    )
    print(stats.to_json())  # shown with -s or on failure: inputs, seconds, max time per input
    assert stats.hang_guard
    assert stats.crash is None, f"{stats.crash.kind}: {stats.crash.error}\n{stats.crash.details}"
    assert stats.inputs == INPUTS
    assert set(stats.errors) <= {cls.__name__ for cls in _subclasses(target.expected)}, stats.errors


def _subclasses(cls: type) -> set[type]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


def _param(name: str) -> object:
    marks = []
    if name in OPEN_BUGS:
        marks.append(pytest.mark.xfail(strict=True, reason=f"reported bug: {OPEN_BUGS[name]}"))
    return pytest.param(name, id=name, marks=marks)


@pytest.mark.timeout(240, method="thread")  # the fuzz engine owns SIGALRM
@pytest.mark.parametrize("name", [_param(n) for n in ("wire", "control", "recording", "records")])
def test_target_survives_100k_inputs(name: str, tmp_path: Path) -> None:
    _fuzz(load_target(name), tmp_path)


@pytest.mark.timeout(240, method="thread")  # the fuzz engine owns SIGALRM
@pytest.mark.parametrize("name", [_param("topology")])
def test_topology_loader_survives_100k_inputs(name: str, tmp_path: Path) -> None:
    # small seeds: the examples cost ~3 ms per input, too slow for 100 000 in CI; the
    # CLI fuzzes from the examples too
    small = dataclasses.replace(
        load_target(name), seeds=lambda: [topology.MINIMAL, topology.ANCHORED, b"name: x\n"]
    )
    _fuzz(small, tmp_path)


def test_a_crash_is_saved_and_stops_the_run(tmp_path: Path) -> None:
    from kairos.tools._fuzz._target import stateless

    def fragile(data: bytes) -> None:
        if data.startswith(b"\xff"):
            raise IndexError("boom")
        raise KeyError("refused")

    target = Target(
        name="fragile",
        description="test double",
        expected=KeyError,
        seeds=lambda: [b"\x00", b"\xff\x01"],
        session=lambda: stateless(fragile),
    )
    stats = run(target, max_inputs=100, crash_dir=tmp_path)
    assert stats.crash is not None and stats.crash.kind == "crash"
    assert "IndexError: boom" in stats.crash.error
    assert stats.crash.path is not None and stats.crash.path.read_bytes() == b"\xff\x01"
    assert stats.errors == {"KeyError": 1} and stats.inputs == 2


def test_a_hang_is_cut_short_and_saved(tmp_path: Path) -> None:
    import time

    from kairos.tools._fuzz._target import stateless

    def slow(data: bytes) -> None:
        if data == b"hang":
            time.sleep(30)

    target = Target(
        name="slow",
        description="test double",
        expected=KeyError,
        seeds=lambda: [b"ok", b"hang"],
        session=lambda: stateless(slow),
    )
    stats = run(target, max_inputs=10, input_timeout=0.5, crash_dir=tmp_path)
    assert stats.crash is not None and stats.crash.kind == "timeout"
    assert stats.crash.path is not None and stats.crash.path.read_bytes() == b"hang"
