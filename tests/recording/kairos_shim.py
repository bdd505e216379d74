"""Run the real ``kairos`` entry point with only the subcommands whose modules import.

Other engineers' subcommands land in parallel; until they all exist, ``kairos.tools.cli``
cannot build its parser.  This keeps the real ``main`` (error handling, exit codes) and
drops only the subcommands that are not there yet.
"""

from __future__ import annotations

import importlib
import sys

import kairos.tools.cli as cli


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


cli.SUBCOMMANDS = {k: v for k, v in cli.SUBCOMMANDS.items() if _importable(v[0])}
sys.exit(cli.main())
