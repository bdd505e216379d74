"""The control commands, one module each; the registry maps a request's ``cmd`` to one."""

from __future__ import annotations

from kairos.control.commands.base import AgentServices, Command
from kairos.control.commands.clock import Clock
from kairos.control.commands.clock_set import ClockSet
from kairos.control.commands.health import Health
from kairos.control.commands.heartbeat import Heartbeat
from kairos.control.commands.hello import Hello
from kairos.control.commands.logs import Logs
from kairos.control.commands.spawn import Spawn
from kairos.control.commands.status import Status
from kairos.control.commands.stop import Stop

#: every command an agent answers, by name
COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Hello(),
        Spawn(),
        Stop(),
        Status(),
        Health(),
        Logs(),
        Clock(),
        ClockSet(),
        Heartbeat(),
    )
}

__all__ = ["COMMANDS", "AgentServices", "Command"]
