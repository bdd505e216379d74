"""``logs``: the tail of one actor's log file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos.control.commands.base import AgentServices, Command, Result, arg, take
from kairos.control.protocol import BAD_REQUEST, RequestError
from kairos.errors import ProtocolError

MAX_LINES = 1000
DEFAULT_LINES = 50


@dataclass(frozen=True)
class LogsResult(Result):
    """The last lines of one actor's log, oldest first."""

    name: str
    lines: tuple[str, ...]

    def to_map(self) -> dict[str, Any]:
        return {"name": self.name, "lines": list(self.lines)}

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> LogsResult:
        lines = take(raw, "lines", list)
        if not all(isinstance(line, str) for line in lines):
            raise ProtocolError("result key 'lines' must be a list of strings")
        return cls(name=take(raw, "name", str), lines=tuple(lines))


@dataclass(frozen=True)
class Logs(Command[LogsResult]):
    """The last lines an actor wrote to stdout and stderr (one log file per actor).

    Request args: ``{"name": str, "lines": int}`` (lines: 1 to 1000, default 50).
    Reply result: ``{"name": str, "lines": [str, ...]}``.  An unknown actor is ``refused``.
    """

    name = "logs"
    result_type = LogsResult

    #: the actor
    actor: str
    lines: int = DEFAULT_LINES

    def args(self) -> dict[str, Any]:
        return {"name": self.actor, "lines": self.lines}

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Logs:
        name = arg(args, "name", str)
        lines = arg(args, "lines", int, DEFAULT_LINES)
        if not 1 <= lines <= MAX_LINES:
            raise RequestError(BAD_REQUEST, f"lines must be within 1 and {MAX_LINES}")
        return cls(actor=name, lines=lines)

    def execute(self, agent: AgentServices, received_ns: int) -> LogsResult:
        return LogsResult(self.actor, tuple(agent.supervisor.log_tail(self.actor, self.lines)))
