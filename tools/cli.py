"""Entry point of the ``kairos`` command.

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``.  Those modules import their heavy dependencies (rich, mcap, jsonschema)
inside ``run`` so that ``kairos agent run`` stays lean on a 512 MB Pi Zero.

Exit status: 0 success, 1 failure, 2 usage or invalid input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kairos.errors import KairosError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "launch": ("kairos.tools.launch", "start every actor of a topology and watch it"),
    "validate": ("kairos.tools.validate", "check a topology file without starting anything"),
    "agent": ("kairos.tools.agent", "run, install or inspect the per-device agent"),
    "tap": ("kairos.tools.tap", "watch live coherence, or inspect one stream"),
    "record": ("kairos.tools.record", "record every message to an MCAP file"),
    "replay": ("kairos.tools.replay", "republish a recording onto a topology"),
    "keys": ("kairos.tools.keys", "manage CurveZMQ keys and trusted launchers"),
    "devices": ("kairos.tools.devices", "show this machine's device class and kernels"),
    "bench": ("kairos.tools.bench", "measure Kairos against raw pyzmq and NumPy"),
    "emulate": ("kairos.tools.emulate", "manage the emulated cluster (namespaces, cgroups)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message, drop nothing."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kairos", description="ZeroMQ actor framework for edge clusters.")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines to stderr")
    parser.add_argument("--log-level", default="info", help="debug, info, warning or error")
    from kairos import __version__

    parser.add_argument("--version", action="version", version=f"kairos {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=summary, description=module.__doc__)
        module.configure(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from kairos import _log

    _log.configure(json=args.log_json, level=args.log_level)
    try:
        return int(args._run(args))
    except KairosError as exc:
        print(f"kairos {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
