"""Measure Kairos on this machine, against raw pyzmq and NumPy where there is a baseline.

kairos bench [hop|pipeline|kernels|footprint|scale|relay|all] [--json] [--quick] [--only PART]

``--json`` prints one JSON document with a key per benchmark that ran, each a list of rows;
otherwise a table is printed, with progress while the benchmarks run.  ``--quick`` shortens
every hold and search (a smoke run: the figures are rough).  docs/performance.md says what
each figure measures.  ``--only PART`` runs one part of a benchmark that has parts (scale:
pairs, sync, pi-zero), for work on that part; without it every part runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from typing import Any

from kairos.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

BENCHMARKS = ("hop", "pipeline", "kernels", "footprint", "scale", "relay")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "benchmark",
        nargs="?",
        default="all",
        choices=[*BENCHMARKS, "all"],
        help="which benchmark to run (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document to stdout")
    parser.add_argument(
        "--quick", action="store_true", help="short holds and searches: a smoke run, rough figures"
    )
    parser.add_argument(
        "--only",
        metavar="PART",
        help="run one part of the benchmark (scale: pairs, sync or pi-zero)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from kairos.errors import KairosError
    from kairos.tools.benchmarks import _report

    chosen = BENCHMARKS if args.benchmark == "all" else (args.benchmark,)
    only = getattr(args, "only", None)
    if only is not None:
        # a benchmark made of parts names them in its PARTS (kairos.tools.benchmarks.scale)
        parts: tuple[str, ...] = ()
        if args.benchmark != "all":
            module = importlib.import_module(f"kairos.tools.benchmarks.{args.benchmark}")
            parts = getattr(module, "PARTS", ())
        if only not in parts:
            print(
                f"kairos bench: --only {only!r}: {args.benchmark} has "
                + (f"the parts {', '.join(parts)}" if parts else "no parts"),
                file=sys.stderr,
            )
            return EXIT_USAGE
    errors = Console(stderr=True)
    show_progress = not args.json or errors.is_terminal
    results: dict[str, list[dict[str, Any]]] = {}
    failed = []
    started = time.monotonic()
    with _Progress(errors, enabled=show_progress) as progress:
        for name in chosen:
            progress.say(f"{name}: starting")
            module = importlib.import_module(f"kairos.tools.benchmarks.{name}")
            try:
                options = {"only": only} if only is not None else {}
                results[name] = list(module.run(progress=progress.say, quick=args.quick, **options))
            except KairosError as exc:
                failed.append(name)
                errors.print(f"kairos bench: {name} failed: {exc}", markup=False, highlight=False)
            except Exception:  # a bug in one benchmark must not lose the others' results
                failed.append(name)
                errors.print(
                    f"kairos bench: {name} crashed:\n{traceback.format_exc()}",
                    markup=False,
                    highlight=False,
                )
    elapsed = time.monotonic() - started
    if args.json:
        print(_report.to_json(results))
    else:
        out = Console()
        for table in _report.tables(results):
            out.print(table)
        out.print(f"{len(results)} benchmark(s) in {elapsed:.0f} s; see docs/performance.md")
    return EXIT_FAILURE if failed else EXIT_OK


class _Progress:
    """A spinner with the latest step on stderr, or nothing when output is not a terminal."""

    def __init__(self, console: Any, enabled: bool) -> None:
        self._console = console
        self._enabled = enabled
        self._status: Any = None

    def __enter__(self) -> _Progress:
        if self._enabled and self._console.is_terminal:
            self._status = self._console.status("kairos bench")
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)

    def say(self, text: str) -> None:
        if not self._enabled:
            return
        if self._status is not None:
            self._status.update(text)
            self._console.log(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)
