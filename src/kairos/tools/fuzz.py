"""``python -m kairos.tools.fuzz``: fuzz Kairos's decoders for a number of inputs or a time.

Targets: ``wire`` (data-plane decoder), ``control`` (agent and client control decoders),
``topology`` (topology loader), ``recording`` (MCAP recording reader); each may fail only with
its one typed error.  Engines: ``atheris`` (coverage-guided, in a subprocess per target;
the default when it imports), ``random`` (in-process seeded structured mutation, the
fallback and what CI runs) and ``hypothesis`` (shrinks what it finds).  Prints one line per
target; exit status 1 if any input crashed or hung a target (the input is saved and its path
printed), 2 on a usage error, else 0.  ``KAIROS_FUZZ_EXTRA_TARGETS=name=module,…`` adds
targets (for testing the fuzzer itself); ``--target all`` runs the built-in ones only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from kairos.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from kairos.tools import _json
from kairos.tools._fuzz import TARGET_MODULES, load_target, target_modules
from kairos.tools._fuzz._stats import Stats

ENGINES = ("auto", "atheris", "random", "hypothesis")


def build_parser(targets: Sequence[str] = tuple(TARGET_MODULES)) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kairos.tools.fuzz",
        description="Fuzz Kairos's decoders; every malformed input must end in one typed error.",
    )
    parser.add_argument(
        "--target",
        default="all",
        choices=[*targets, "all"],
        help="which decoder to fuzz (default: all)",
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--inputs", type=int, help="inputs per target (default 100000)")
    budget.add_argument("--seconds", type=float, help="time per target instead of a count")
    parser.add_argument(
        "--engine",
        default="auto",
        choices=ENGINES,
        help="auto = atheris when it imports, else random",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (runs are repeatable)")
    parser.add_argument(
        "--input-timeout",
        type=float,
        default=10.0,
        help="seconds one input may take before it counts as a hang (default 10)",
    )
    parser.add_argument(
        "--crash-dir",
        type=Path,
        default=Path("fuzz-crashes"),
        help="where crashing inputs are written (default ./fuzz-crashes)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line per target")
    return parser


def fuzz(name: str, engine: str, args: argparse.Namespace) -> Stats:
    """Run one target with one engine."""
    inputs = args.inputs if args.inputs is not None or args.seconds is not None else 100_000
    common = {"max_inputs": inputs, "seconds": args.seconds, "seed": args.seed}
    if engine == "atheris":
        from kairos.tools._fuzz import _atheris

        return _atheris.run(
            name, input_timeout=args.input_timeout, crash_dir=args.crash_dir, **common
        )
    target = load_target(name)
    if engine == "hypothesis":
        from kairos.tools._fuzz import _hypothesis

        return _hypothesis.run(target, crash_dir=args.crash_dir, **common)
    from kairos.tools._fuzz import _random

    return _random.run(target, input_timeout=args.input_timeout, crash_dir=args.crash_dir, **common)


def line(stats: Stats) -> str:
    """One human line per target."""
    errors = ", ".join(f"{k} ×{v}" for k, v in sorted(stats.errors.items())) or "none"
    text = (
        f"{stats.target:<10} {stats.engine:<10} {stats.inputs:>9} inputs "
        f"{stats.seconds:>8.1f} s  max/input {stats.max_input_s * 1e3:8.2f} ms "
        f"({stats.slowest_size} B)  typed errors: {errors}"
    )
    if stats.crash is not None:
        where = stats.crash.path if stats.crash.path else "(input not saved)"
        text += f"\n  {stats.crash.kind.upper()}: {stats.crash.error}\n  input: {where}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    try:
        targets = target_modules()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser(list(targets))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    if args.inputs is not None and args.inputs < 1:
        parser.print_usage(sys.stderr)
        print("error: --inputs must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.seconds is not None and args.seconds <= 0:
        parser.print_usage(sys.stderr)
        print("error: --seconds must be positive", file=sys.stderr)
        return EXIT_USAGE
    engine = args.engine
    if engine in ("auto", "atheris"):
        from kairos.tools._fuzz import _atheris

        if _atheris.available():
            engine = "atheris"
        elif engine == "atheris":
            print("error: atheris is not installed (pip install atheris)", file=sys.stderr)
            return EXIT_USAGE
        else:
            engine = "random"
    names = list(TARGET_MODULES) if args.target == "all" else [args.target]
    failed = False
    try:
        for name in names:
            stats = fuzz(name, engine, args)
            print(_json.dumps(stats.to_json()) if args.json else line(stats), flush=True)
            if stats.crash is not None and stats.crash.details and not args.json:
                print(stats.crash.details.rstrip(), file=sys.stderr)
            failed |= not stats.ok
    except BrokenPipeError:  # the reader went away (| head): quietly, as every kairos command
        from kairos.tools.cli import closed_pipe

        return closed_pipe()
    return EXIT_FAILURE if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
