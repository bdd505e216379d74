"""Shows the state as a colour: hue from Re of the phasor, brightness from coherence.

``terminal`` mode prints a truecolor ANSI swatch per update; ``json`` mode writes
{t_ns, hue, brightness, rgb} lines that a LED driver can consume.
"""

from __future__ import annotations

import colorsys
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from kairos.actors.adapters import AdapterContext, OutputAdapter, OutputState
from kairos.actors.outputs._common import LineSink, path_schema, resolve_path


def state_colour(state: OutputState) -> tuple[float, float, tuple[int, int, int]]:
    """(hue in degrees [0, 360), brightness in [0, 1], (r, g, b) in 0..255)."""
    hue = (360.0 * float(state.phasor.real)) % 360.0
    brightness = min(max(float(state.coherence), 0.0), 1.0)
    red, green, blue = colorsys.hsv_to_rgb(hue / 360.0, 1.0, brightness)
    return hue, brightness, (round(red * 255), round(green * 255), round(blue * 255))


class DisplayOutput(OutputAdapter):
    """A colour per update, as an ANSI swatch line or a JSON line."""

    name = "display"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "mode": {"enum": ["terminal", "json"], "description": "output form (default terminal)"},
            "path": path_schema(
                "file or device to write to, relative to the actor's work directory "
                "(default stdout)"
            ),
            "width": {
                "type": "integer",
                "minimum": 1,
                "maximum": 200,
                "description": "swatch width in characters, terminal mode (default 8)",
            },
        },
    }

    def __init__(self, params: Mapping[str, Any], context: AdapterContext):
        super().__init__(params, context)
        self.mode = str(params.get("mode", "terminal"))
        self.width = int(params.get("width", 8))
        path = params.get("path")
        self.path = resolve_path(path, context) if path else None
        self._sink = LineSink(self.path, adapter=self.name)

    def write(self, state: OutputState) -> None:
        hue, brightness, (red, green, blue) = state_colour(state)
        if self.mode == "json":
            record = {
                "t_ns": int(state.t_ns),
                "hue": hue,
                "brightness": brightness,
                "rgb": [red, green, blue],
            }
            self._sink.write_line(json.dumps(record, separators=(",", ":")))
            return
        swatch = f"\x1b[48;2;{red};{green};{blue}m{' ' * self.width}\x1b[0m"
        self._sink.write_line(f"{swatch} hue {hue:5.1f}° brightness {brightness:.3f}")

    def close(self) -> None:
        self._sink.close()
