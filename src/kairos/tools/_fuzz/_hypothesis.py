"""The hypothesis engine: the same seeds and mutations, driven and shrunk by hypothesis.

Slower per input than the random engine, but a crash comes back shrunk to a small input.
Inputs are half raw ``st.binary()`` and half seed mutations drawn from ``st.randoms()``.  A
time budget is honoured between batches of 1 000 examples.
"""

from __future__ import annotations

import time
from pathlib import Path

from kairos.tools._fuzz._mutate import SeedMutator
from kairos.tools._fuzz._stats import Crash, Stats, describe, save_input
from kairos.tools._fuzz._target import Target, check

BATCH = 1_000


def run(
    target: Target,
    *,
    max_inputs: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
    crash_dir: Path = Path("fuzz-crashes"),
) -> Stats:
    """Fuzz ``target`` with hypothesis until ``max_inputs`` or ``seconds`` are spent."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    stats = Stats(target=target.name, engine="hypothesis", hang_guard=False)
    seeds = target.seeds()
    mutated = st.randoms(use_true_random=False).map(
        lambda rng: SeedMutator(seeds, rng, target.mutators)()
    )
    inputs = st.one_of(st.sampled_from(seeds), mutated, st.binary(max_size=4096))
    failing: list[bytes] = []
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else float("inf")
    batch = 0
    with target.session() as one:

        def probe(data: bytes) -> None:
            begin = time.perf_counter()
            try:
                error = check(one, target.expected, data)
            except Exception:
                failing[:] = [data]  # the last failure hypothesis replays is the shrunk one
                raise
            stats.note(error, time.perf_counter() - begin, len(data))

        while time.perf_counter() < deadline:
            remaining = BATCH if max_inputs is None else min(BATCH, max_inputs - stats.inputs)
            if remaining <= 0:
                break
            test = settings(
                max_examples=remaining,
                deadline=None,
                database=None,
                phases=[Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            )(hypothesis_seed(seed * 1_000_003 + batch)(given(inputs)(probe)))
            batch += 1
            before = stats.inputs
            try:
                test()
            except Exception as exc:
                line, details = describe(exc)
                path = save_input(crash_dir, target.name, "crash", failing[0]) if failing else None
                stats.crash = Crash("crash", line, path, details)
                break
            if stats.inputs == before:
                break  # hypothesis found nothing new to try
    stats.seconds = time.perf_counter() - started
    return stats
