"""The in-process engine: seeded structured mutation, with a time bound on every input.

Each seed is run once as it is, then mutated inputs follow until the input count or the time
budget is spent, or an input crashes (the run stops there and the input is saved).  Inputs
are bounded with ``SIGALRM`` (only possible in the main thread): an input that takes longer
than ``input_timeout`` is a hang, reported like a crash.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from kairos.tools._fuzz._mutate import SeedMutator
from kairos.tools._fuzz._stats import Crash, Stats, describe, save_input
from kairos.tools._fuzz._target import Target, check


class InputTimeout(BaseException):
    """Raised inside a target by the alarm when one input runs too long.

    A BaseException, so that a decoder's ``except Exception`` cannot turn a hang into a
    typed error.
    """


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise InputTimeout


def inputs(target: Target, seed: int) -> Iterator[bytes]:
    """The seeds as they are, then mutated inputs, forever."""
    seeds = target.seeds()
    yield from seeds
    source = SeedMutator(seeds, random.Random(seed), target.mutators)
    while True:
        yield source()


def run(
    target: Target,
    *,
    max_inputs: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
    input_timeout: float = 10.0,
    crash_dir: Path = Path("fuzz-crashes"),
) -> Stats:
    """Fuzz ``target`` until ``max_inputs`` or ``seconds`` (whichever comes first)."""
    stats = Stats(target=target.name, engine="random")
    guard = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")
    stats.hang_guard = guard
    previous = signal.signal(signal.SIGALRM, _alarm) if guard else None
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else float("inf")
    try:
        with target.session() as one:
            for data in inputs(target, seed):
                if max_inputs is not None and stats.inputs >= max_inputs:
                    break
                if time.perf_counter() >= deadline:
                    break
                begin = time.perf_counter()
                try:
                    if guard:
                        signal.setitimer(signal.ITIMER_REAL, input_timeout)
                    try:
                        error = check(one, target.expected, data)
                    finally:
                        if guard:
                            signal.setitimer(signal.ITIMER_REAL, 0)
                except InputTimeout:
                    stats.crash = Crash(
                        "timeout",
                        f"one input ran longer than {input_timeout} s",
                        save_input(crash_dir, target.name, "timeout", data),
                    )
                    stats.note(None, time.perf_counter() - begin, len(data))
                    break
                except Exception as exc:
                    line, details = describe(exc)
                    stats.crash = Crash(
                        "crash", line, save_input(crash_dir, target.name, "crash", data), details
                    )
                    stats.note(None, time.perf_counter() - begin, len(data))
                    break
                stats.note(error, time.perf_counter() - begin, len(data))
    finally:
        if guard:
            signal.signal(signal.SIGALRM, previous)
        stats.seconds = time.perf_counter() - started
    return stats
