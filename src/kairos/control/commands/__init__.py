"""The control commands, one module each; the registry maps a request's ``cmd`` to one.

A client builds a command (``Spawn(spec)``, ``Stop(("osc",))``, ``Status()``) and hands it
to :class:`kairos.control.client.ControlClient`, which returns its typed result; the agent
looks the request's ``cmd`` up here, rebuilds the command from its ``args`` and executes it.
"""

from __future__ import annotations

from typing import Any

from kairos.control.commands.base import AgentServices, Command, Result
from kairos.control.commands.clock import Clock, ClockReading
from kairos.control.commands.clock_set import ClockSet, ClockSetResult
from kairos.control.commands.health import Health, HealthReport
from kairos.control.commands.heartbeat import Heartbeat, HeartbeatResult
from kairos.control.commands.hello import Hello, HelloResult
from kairos.control.commands.logs import Logs, LogsResult
from kairos.control.commands.spawn import Spawn, SpawnResult
from kairos.control.commands.status import ActorStatus, Status, StatusResult
from kairos.control.commands.stop import Stop, StopResult

#: every command an agent answers, by name
COMMANDS: dict[str, type[Command[Any]]] = {
    command.name: command
    for command in (Hello, Spawn, Stop, Status, Health, Logs, Clock, ClockSet, Heartbeat)
}

__all__ = [
    "COMMANDS",
    "ActorStatus",
    "AgentServices",
    "Clock",
    "ClockReading",
    "ClockSet",
    "ClockSetResult",
    "Command",
    "Health",
    "HealthReport",
    "Heartbeat",
    "HeartbeatResult",
    "Hello",
    "HelloResult",
    "Logs",
    "LogsResult",
    "Result",
    "Spawn",
    "SpawnResult",
    "Status",
    "StatusResult",
    "Stop",
    "StopResult",
]
