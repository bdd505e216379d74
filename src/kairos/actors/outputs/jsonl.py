"""Appends one JSON object per state update to a file: the easiest format to post-process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from kairos.actors.adapters import AdapterContext, OutputAdapter, OutputState
from kairos.actors.outputs._common import LineSink, path_schema, resolve_path, state_record


class JsonlOutput(OutputAdapter):
    """Lines of {t_ns, source, coherence, phase, re, im, active}."""

    name = "jsonl"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "path": path_schema(
                "file to append to, relative to the actor's work directory (default <actor>.jsonl)"
            ),
        },
    }

    def __init__(self, params: Mapping[str, Any], context: AdapterContext):
        super().__init__(params, context)
        self.path = resolve_path(params.get("path", f"{context.actor}.jsonl"), context)
        self._sink = LineSink(self.path, adapter=self.name)

    def write(self, state: OutputState) -> None:
        self._sink.write_line(json.dumps(state_record(state), separators=(",", ":")))

    def close(self) -> None:
        self._sink.close()
