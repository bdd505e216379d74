"""Entry point of the ``kairos`` command.

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``.  Those modules import their heavy dependencies (rich, mcap, jsonschema)
inside ``run`` so that ``kairos agent run`` stays lean on a 512 MB Pi Zero.

Exit status: 0 success, 1 failure, 2 usage or invalid input.  A reader that closes the
pipe early (``kairos validate --json FILE | head -1``) ends any command quietly with status 1
(the output was not delivered in full), never with a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from kairos.errors import EXIT_FAILURE, KairosError

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "launch": ("kairos.tools.launch", "start every actor of a topology and watch it"),
    "validate": ("kairos.tools.validate", "check a topology file without starting anything"),
    "agent": ("kairos.tools.agent", "run, install or inspect the per-device agent"),
    "tap": ("kairos.tools.tap", "watch live coherence, or inspect one stream"),
    "record": ("kairos.tools.record", "record every message to an MCAP file"),
    "replay": ("kairos.tools.replay", "republish a recording onto a topology"),
    "bridge": ("kairos.tools.bridge", "serve the live mesh to Foxglove"),
    "plot": ("kairos.tools.plot", "plot a recording to a PNG"),
    "keys": ("kairos.tools.keys", "manage CurveZMQ keys and trusted launchers"),
    "devices": ("kairos.tools.devices", "show this machine's device class and kernels"),
    "bench": ("kairos.tools.bench", "measure Kairos against raw pyzmq and NumPy"),
    "emulate": ("kairos.tools.emulate", "manage the emulated cluster (namespaces, cgroups)"),
}


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``, skipping global options and their values."""
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
        elif arg == "--log-level":
            skip_next = True
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the chosen subcommand's module is imported and configured."""
    parser = argparse.ArgumentParser(
        prog="kairos", description="ZeroMQ actor framework for edge clusters."
    )
    parser.add_argument("--log-json", action="store_true", help="log JSON lines to stderr")
    parser.add_argument("--log-level", default="info", help="debug, info, warning or error")
    from kairos import __version__

    parser.add_argument("--version", action="version", version=f"kairos {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen_command(argv)
    for name, (module_name, summary) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            module = importlib.import_module(module_name)
            sub.description = module.__doc__
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
            module.configure(sub)
            sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if _chosen_command(arguments) == "agent" and "run" in arguments:
        from kairos._lean import keep_agent_lean

        keep_agent_lean()  # the agent is a long-lived device process: keep it small
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    from kairos import _log

    _log.configure(json=args.log_json, level=args.log_level)
    try:
        status = int(args._run(args))
        sys.stdout.flush()  # here, not at exit: a closed pipe must raise inside this try
        return status
    except KairosError as exc:
        print(f"kairos {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 128 + signal.SIGINT  # what a shell reports for a command ended by Ctrl-C
    except BrokenPipeError:
        return closed_pipe()


def closed_pipe() -> int:
    """The reader of stdout went away (``| head``): stop quietly with status 1.

    Python's recipe for SIGPIPE: point stdout at /dev/null, so that the interpreter's own
    flush at exit finds nowhere broken to write the rest of the buffer to and stays quiet.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
