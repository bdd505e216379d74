"""``python -m kairos.agent``: the agent alone, without the rest of the ``kairos`` command.

The launcher starts local agents this way; it is ``kairos agent run`` with the same options.
"""

from __future__ import annotations

import argparse
import sys

from kairos._lean import keep_agent_lean

keep_agent_lean()  # before structlog or hashlib is imported

from kairos import _log  # noqa: E402
from kairos.agent.config import add_run_arguments, config_from_args  # noqa: E402
from kairos.agent.daemon import Agent  # noqa: E402
from kairos.errors import EXIT_FAILURE, KairosError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kairos.agent", description=__doc__)
    parser.add_argument("--log-json", action="store_true", help="log JSON lines to stderr")
    parser.add_argument("--log-level", default="info")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    _log.configure(json=args.log_json, level=args.log_level)
    try:
        config = config_from_args(args)
        if config.log_level:
            _log.configure(json=args.log_json, level=config.log_level)
        return Agent(config).serve()
    except KairosError as exc:
        print(f"kairos agent: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
