"""The atheris engine: libFuzzer with coverage feedback, one subprocess per target.

``atheris.Fuzz()`` never returns (libFuzzer exits the process), so the parent runs
``python -m kairos.tools._fuzz._atheris TARGET STATS_FILE [libFuzzer flags]`` and reads back
what the child wrote: the child imports the target inside ``atheris.instrument_imports()``,
runs the seeds as the initial corpus, mixes libFuzzer's mutations with the structured ones,
and keeps a small JSON stats file up to date (typed errors seen, slowest input).  A crash or
a hang is written by libFuzzer under ``-artifact_prefix``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kairos.tools._fuzz._stats import Crash, Stats

_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def available() -> bool:
    """True when atheris imports here."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def run(
    name: str,
    *,
    max_inputs: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
    input_timeout: float = 10.0,
    crash_dir: Path = Path("fuzz-crashes"),
) -> Stats:
    """Fuzz target ``name`` in an atheris subprocess and collect its stats."""
    stats = Stats(target=name, engine="atheris")
    crash_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"kairos-fuzz-{name}-") as folder:
        stats_file = Path(folder) / "stats.json"
        corpus = Path(folder) / "corpus"
        corpus.mkdir()
        flags = [
            f"-seed={seed + 1}",  # libFuzzer treats 0 as "pick one"
            f"-timeout={max(1, round(input_timeout))}",
            "-max_len=65536",
            f"-artifact_prefix={crash_dir}/{name}-",
            "-print_final_stats=1",
        ]
        if max_inputs is not None:
            flags.append(f"-runs={max_inputs}")
        if seconds is not None:
            flags.append(f"-max_total_time={max(1, round(seconds))}")
        command = [sys.executable, "-m", "kairos.tools._fuzz._atheris", name, str(stats_file)]
        started = time.perf_counter()
        done = subprocess.run(
            [*command, *flags, str(corpus)],
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        stats.seconds = time.perf_counter() - started
        output = done.stdout + done.stderr
        if stats_file.exists():
            child = json.loads(stats_file.read_text())
            stats.inputs = child["inputs"]
            stats.errors = child["errors"]
            stats.max_input_s = child["max_input_s"]
            stats.slowest_size = child["slowest_size"]
        finished = _DONE.search(output)
        if finished:
            stats.inputs = int(finished.group(1))
        if done.returncode != 0:
            artifact = _ARTIFACT.search(output)
            kind = (
                "timeout"
                if "timeout" in output.lower() and "ERROR: libFuzzer" in output
                else ("crash")
            )
            stats.crash = Crash(
                kind,
                _summary(output) or f"atheris exited with status {done.returncode}",
                Path(artifact.group(1)) if artifact else None,
                output[-4000:],
            )
    return stats


def _summary(output: str) -> str:
    """The exception line of the Python traceback atheris printed, if any."""
    lines = [line for line in output.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if "=== Uncaught Python exception" in line:
            for candidate in lines[index + 1 :]:
                if not candidate.startswith((" ", "Traceback")):
                    return candidate.strip()
    for line in lines:
        if "ERROR: libFuzzer" in line:
            return line.strip()
    return ""


def _child(name: str, stats_path: str, argv: list[str]) -> None:
    """The subprocess: set up atheris on target ``name`` and fuzz until libFuzzer exits."""
    import random

    import atheris

    with atheris.instrument_imports():
        from kairos.tools._fuzz import load_target

        target = load_target(name)
        seeds = target.seeds()

    from kairos.tools._fuzz._mutate import BYTE_MUTATORS
    from kairos.tools._fuzz._target import check

    corpus = Path(argv[-1]) if argv else Path()
    if corpus.is_dir():  # a corpus to fuzz from (not single inputs to reproduce)
        for index, data in enumerate(seeds):
            (corpus / f"seed-{index:03d}").write_bytes(data)

    runs = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("-runs=")), -1)
    state: dict[str, Any] = {"inputs": 0, "errors": {}, "max_input_s": 0.0, "slowest_size": 0}
    last_write = [0.0]

    def write_stats(now: float) -> None:
        tmp = stats_path + ".tmp"
        with open(tmp, "w") as file:
            json.dump(state, file)
        os.replace(tmp, stats_path)
        last_write[0] = now

    session = target.session()
    one = session.__enter__()  # left open: libFuzzer ends the process

    def test_one(data: bytes) -> None:
        begin = time.perf_counter()
        error = check(one, target.expected, data)
        now = time.perf_counter()
        state["inputs"] += 1
        changed = False
        if error is not None:
            kind = type(error).__name__
            changed = kind not in state["errors"]
            state["errors"][kind] = state["errors"].get(kind, 0) + 1
        if now - begin > state["max_input_s"]:
            state["max_input_s"], state["slowest_size"] = now - begin, len(data)
            changed = True
        if changed or now - last_write[0] > 0.5 or state["inputs"] >= runs - len(seeds):
            write_stats(now)

    structured = (*target.mutators, *BYTE_MUTATORS)

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return atheris.Mutate(data, max_size)
        return rng.choice(structured)(data, rng, seeds)[:max_size]

    atheris.Setup([sys.argv[0], *argv], test_one, custom_mutator=mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3:])
