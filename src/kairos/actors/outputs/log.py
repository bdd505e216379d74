"""Logs each state update as one structlog line: the simplest way to see an output work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from kairos import _log
from kairos.actors.adapters import AdapterContext, OutputAdapter, OutputState

_LEVELS = ("debug", "info", "warning", "error")


class LogOutput(OutputAdapter):
    """One log line per update: coherence, phase, Re/Im of the phasor, active."""

    name = "log"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "level": {"enum": list(_LEVELS), "description": "log level (default info)"},
        },
    }

    def __init__(self, params: Mapping[str, Any], context: AdapterContext):
        super().__init__(params, context)
        self.level = str(params.get("level", "info"))
        self._logger = _log.get("output", actor=context.actor)
        self._emit = getattr(self._logger, self.level)

    def write(self, state: OutputState) -> None:
        self._emit(
            "state",
            source=state.source,
            t_ns=state.t_ns,
            coherence=round(float(state.coherence), 6),
            phase=round(float(state.phase), 6),
            re=round(float(state.phasor.real), 6),
            im=round(float(state.phasor.imag), 6),
            active=bool(state.active),
        )
