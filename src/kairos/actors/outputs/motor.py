"""Drives a motor controller: forward velocity from Re and rotation from Im of the phasor.

Commands are JSON lines written to a file or a device (a serial tty, a FIFO); a device is
written without blocking, so a stalled controller costs dropped commands, never a stalled
actor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from kairos.actors.adapters import AdapterContext, OutputAdapter, OutputState
from kairos.actors.outputs._common import LineSink, path_schema, resolve_path


class MotorOutput(OutputAdapter):
    """Lines of {t_ns, velocity = Re·max_speed, rotation = Im·max_rotation}."""

    name = "motor"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["path"],
        "properties": {
            "path": path_schema(
                "file or device (e.g. /dev/ttyUSB0) to write commands to; relative paths are "
                "inside the actor's work directory"
            ),
            "max_speed": {"type": "number", "description": "velocity at Re = 1 (default 1.0)"},
            "max_rotation": {
                "type": "number",
                "description": "rotation at Im = 1 (default 1.0)",
            },
            "mode": {
                "enum": ["append", "write"],
                "description": "append to the file, or truncate it first (default append)",
            },
        },
    }

    def __init__(self, params: Mapping[str, Any], context: AdapterContext):
        super().__init__(params, context)
        self.path = resolve_path(params["path"], context)
        self.max_speed = float(params.get("max_speed", 1.0))
        self.max_rotation = float(params.get("max_rotation", 1.0))
        append = params.get("mode", "append") == "append"
        self._sink = LineSink(self.path, append=append, adapter=self.name)

    @property
    def dropped(self) -> int:
        """Commands a device could not take without blocking."""
        return self._sink.dropped

    def write(self, state: OutputState) -> None:
        command = {
            "t_ns": int(state.t_ns),
            "velocity": float(state.phasor.real) * self.max_speed,
            "rotation": float(state.phasor.imag) * self.max_rotation,
        }
        self._sink.write_line(json.dumps(command, separators=(",", ":")))

    def close(self) -> None:
        self._sink.close()
