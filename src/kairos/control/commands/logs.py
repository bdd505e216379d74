"""``logs``: the tail of one actor's log file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.control.commands.base import AgentServices, Command, arg
from kairos.control.protocol import BAD_REQUEST, RequestError

MAX_LINES = 1000


class Logs(Command):
    """The last lines an actor wrote to stdout and stderr (one log file per actor).

    Request args: ``{"name": str, "lines": int}`` (lines: 1 to 1000, default 50).
    Reply result: ``{"name": str, "lines": [str, ...]}``.  An unknown actor is ``refused``.
    """

    name = "logs"

    def execute(self, agent: AgentServices, args: Mapping[str, Any], received_ns: int) -> dict:
        name = arg(args, "name", str)
        lines = arg(args, "lines", int, 50)
        if not 1 <= lines <= MAX_LINES:
            raise RequestError(BAD_REQUEST, f"lines must be within 1 and {MAX_LINES}")
        return {"name": name, "lines": agent.supervisor.log_tail(name, lines)}
