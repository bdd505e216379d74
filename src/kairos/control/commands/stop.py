"""``stop``: stop one, several or every actor of an agent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.control.commands.base import AgentServices, Command, arg
from kairos.control.protocol import BAD_REQUEST, RequestError

MAX_GRACE_S = 10.0


class Stop(Command):
    """Stop actors: SIGTERM, then SIGKILL after the grace period; they are not restarted.

    Request args: ``{"name": str}`` for one actor, ``{"names": [str, ...]}`` for several,
    or ``{"all": true}``; optional ``"grace_s": float`` (default 3, at most 10).  Naming an
    actor the agent does not know is ``refused``.  The reply comes once they are gone.
    Reply result: ``{"stopped": [str, ...]}``.
    """

    name = "stop"

    def execute(self, agent: AgentServices, args: Mapping[str, Any], received_ns: int) -> dict:
        grace = float(arg(args, "grace_s", (int, float), 3.0))
        if not 0.0 <= grace <= MAX_GRACE_S:
            raise RequestError(BAD_REQUEST, f"grace_s must be within 0 and {MAX_GRACE_S}")
        if arg(args, "all", bool, False):
            names = None
        elif "name" in args:
            names = [arg(args, "name", str)]
        elif "names" in args:
            names = arg(args, "names", list)
            if not all(isinstance(n, str) for n in names):
                raise RequestError(BAD_REQUEST, "argument 'names' must be a list of strings")
        else:
            raise RequestError(BAD_REQUEST, "stop needs 'name', 'names' or 'all': true")
        return {"stopped": agent.supervisor.stop(names, grace)}
