"""Appends one CSV row per state update, under a header row written once per new file."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any, ClassVar

from kairos.actors.adapters import AdapterContext, OutputAdapter, OutputState
from kairos.actors.outputs._common import (
    RECORD_FIELDS,
    LineSink,
    path_schema,
    resolve_path,
    state_record,
)


class CsvOutput(OutputAdapter):
    """Rows of t_ns, source, coherence, phase, re, im, active (active as 0 or 1)."""

    name = "csv"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "path": path_schema(
                "file to append to, relative to the actor's work directory (default <actor>.csv)"
            ),
        },
    }

    def __init__(self, params: Mapping[str, Any], context: AdapterContext):
        super().__init__(params, context)
        self.path = resolve_path(params.get("path", f"{context.actor}.csv"), context)
        self._sink = LineSink(self.path, adapter=self.name)
        if self._sink.is_new:
            self._sink.write_line(",".join(RECORD_FIELDS))

    def write(self, state: OutputState) -> None:
        record = state_record(state)
        record["active"] = int(record["active"])
        row = io.StringIO()
        csv.writer(row, lineterminator="").writerow([record[f] for f in RECORD_FIELDS])
        self._sink.write_line(row.getvalue())

    def close(self) -> None:
        self._sink.close()
