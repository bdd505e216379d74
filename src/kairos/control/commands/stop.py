"""``stop``: stop one, several or every actor of an agent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kairos.control.commands.base import AgentServices, Command, Result, arg, take
from kairos.control.protocol import BAD_REQUEST, RequestError
from kairos.errors import ProtocolError
from kairos.timeouts import STOP_GRACE_S

#: a stop blocks the agent's loop for up to its grace: never longer than this
MAX_GRACE_S = 10.0


@dataclass(frozen=True)
class StopResult(Result):
    """The actors that were stopped."""

    stopped: tuple[str, ...]

    def to_map(self) -> dict[str, Any]:
        return {"stopped": list(self.stopped)}

    @classmethod
    def from_map(cls, raw: Mapping[str, Any]) -> StopResult:
        stopped = take(raw, "stopped", list)
        if not all(isinstance(name, str) for name in stopped):
            raise ProtocolError("result key 'stopped' must be a list of names")
        return cls(tuple(stopped))


@dataclass(frozen=True)
class Stop(Command[StopResult]):
    """Stop actors: SIGTERM, then SIGKILL after the grace period; they are not restarted.

    Request args: ``{"name": str}`` for one actor, ``{"names": [str, ...]}`` for several,
    or ``{"all": true}``; optional ``"grace_s": float`` (default 3, at most 10).  Naming an
    actor the agent does not know is ``refused``.  The reply comes once they are gone.
    Reply result: ``{"stopped": [str, ...]}``.

    ``Stop()`` stops every actor; ``Stop(("a", "b"))`` the named ones.
    """

    name = "stop"
    result_type = StopResult

    #: the actors to stop; None: every actor
    names: tuple[str, ...] | None = None
    grace_s: float = STOP_GRACE_S

    def args(self) -> dict[str, Any]:
        which: dict[str, Any] = {"all": True} if self.names is None else {"names": list(self.names)}
        return {**which, "grace_s": float(self.grace_s)}

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Stop:
        grace = float(arg(args, "grace_s", (int, float), STOP_GRACE_S))
        if not 0.0 <= grace <= MAX_GRACE_S:
            raise RequestError(BAD_REQUEST, f"grace_s must be within 0 and {MAX_GRACE_S}")
        names: tuple[str, ...] | None
        if arg(args, "all", bool, False):
            names = None
        elif "name" in args:
            names = (arg(args, "name", str),)
        elif "names" in args:
            listed = arg(args, "names", list)
            if not all(isinstance(n, str) for n in listed):
                raise RequestError(BAD_REQUEST, "argument 'names' must be a list of strings")
            names = tuple(listed)
        else:
            raise RequestError(BAD_REQUEST, "stop needs 'name', 'names' or 'all': true")
        return cls(names=names, grace_s=grace)

    def execute(self, agent: AgentServices, received_ns: int) -> StopResult:
        names = None if self.names is None else list(self.names)
        return StopResult(tuple(agent.supervisor.stop(names, self.grace_s)))
