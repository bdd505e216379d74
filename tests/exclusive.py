"""Tests that run alone while the rest of the suite runs two at a time (pytest-xdist).

The suite spends most of its time waiting on real processes (a whole run used ~33 % of the two
cores), so two xdist workers halve it. But some tests measure time or own the machine: a clock
estimate held to its uncertainty, a replay held to its schedule, an actor restarted within a
second, an emulated cluster with a 0.1-CPU device, a benchmark. Those are *exclusive*: while one
runs, no other test runs beside it.

The workers share a readers-writer lock, two ``flock`` files in the run's base temporary
directory (the parent of each worker's own, which pytest cleans up like any other): every
other test holds the *run* lock shared, an exclusive test holds it exclusively, and both take
the *gate* first so that a waiting exclusive test is not starved by a stream of shared ones.
An exclusive test keeps its lock while the next test of its worker is exclusive too, so a
module's cluster (a module-scoped fixture) never idles beside another test between two of its
tests. Without xdist nothing is locked.

What is exclusive: every test in :data:`EXCLUSIVE`, and any test marked
``@pytest.mark.exclusive``.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

#: what asserts on timing, on a count that load could change, or runs an emulated cluster:
#: a directory or a file under tests/ (a whole run took 1 534 s of test time, 677 of it these)
EXCLUSIVE = (
    "chaos",  # faults detected and healed within seconds
    "emulated",  # clusters with 0.1-CPU devices; clock estimates held to their uncertainty
    "sites",  # the same across NATs, and rejoins within 3 s
    "meshtime/test_faketime.py",  # clock estimates held to their uncertainty
    "recording/test_bit_identical.py",  # 30 s at 1 kHz recorded without a loss
    "recording/test_record.py",  # every frame recorded
    "recording/test_replay.py",  # a replay held to its schedule
    "faults/test_scenarios.py",  # a clean run drops nothing; coherence within 0.01 of it
    "faults/test_edges_ready.py",  # counts settled within a few witness seconds
    "adapters/test_kuramoto_mesh.py",  # a closed loop through real time locks
)
MARKER = "exclusive"

_held: dict[str, int] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: runs with no other test beside it under pytest-xdist"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(tests):
            continue
        where = item.path.relative_to(tests).as_posix()
        if any(where == path or where.startswith(f"{path}/") for path in EXCLUSIVE):
            item.add_marker(MARKER)


def is_exclusive(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker(MARKER) is not None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # tryfirst: the outermost wrapper, so pytest-timeout's clock starts after the lock is held
    shared = _shared_dir(item.config)
    if shared is None:
        yield
        return
    exclusive = is_exclusive(item)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    if _held.get("mode") != mode:
        _release()
        _acquire(shared, mode)
    try:
        yield
    finally:
        if not (exclusive and is_exclusive(nextitem)):
            _release()


def _shared_dir(config: pytest.Config) -> Path | None:
    """The run's base temporary directory on an xdist worker (each worker's basetemp lies in
    it, named after the worker), else None."""
    if not hasattr(config, "workerinput") or not config.option.basetemp:
        return None
    return Path(config.option.basetemp).parent


def _acquire(shared: Path, mode: int) -> None:
    gate = os.open(shared / "exclusive.gate", os.O_RDWR | os.O_CREAT, 0o600)
    run = os.open(shared / "exclusive.run", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(run, mode)
    finally:
        os.close(gate)  # closing the last descriptor of it releases the gate
    _held.update(mode=mode, fd=run)


def _release() -> None:
    fd = _held.pop("fd", None)
    _held.pop("mode", None)
    if fd is not None:
        os.close(fd)
