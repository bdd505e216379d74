"""Plays one column of a CSV, .npy or WAV file as a sensor stream.

Every file sample is played in order, one per requested stamp when the file's rate equals
the actor's (the stamps only say when); a file recorded at another rate is resampled by
holding the latest file sample.  At the end the sensor loops or returns fewer rows and stays
exhausted.  The whole column is read at construction, so a bad file fails the actor's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kairos.actors.adapters import AdapterContext, SensorAdapter
from kairos.actors.sensors._readers import read_csv, read_npy, read_wav
from kairos.errors import AdapterError

_FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".npy": "npy", ".wav": "wav"}


class FileSensor(SensorAdapter):
    """Replays a recorded signal from a file, at the file's rate."""

    name = "file"
    dtype = "<f8"
    max_rate_hz = None
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["path"],
        "properties": {
            "path": {
                "type": "string",
                "minLength": 1,
                "description": "CSV, .npy or WAV file; relative paths start at the topology "
                "file's directory",
            },
            "column": {
                "type": ["integer", "string"],
                "description": "column index or CSV header name (.npy: index, or field of a "
                "structured array; WAV: channel index); default 0",
            },
            "loop": {"type": "boolean", "description": "restart at the end (default false)"},
            "rate_hz": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "sample rate of the file (default: the WAV header's rate, or "
                "the actor's rate_hz for CSV and .npy)",
            },
            "format": {
                "enum": ["csv", "npy", "wav"],
                "description": "file format (default: from the suffix .csv/.txt/.tsv, .npy, .wav)",
            },
            "delimiter": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1,
                "description": "CSV field delimiter (default ',', or a tab for .tsv)",
            },
            "base_dir": {
                "type": "string",
                "description": "directory relative paths start from (injected by the "
                "launcher: the topology file's directory; default the working directory)",
            },
        },
    }

    def __init__(self, params: Mapping[str, Any], rate_hz: float, context: AdapterContext):
        super().__init__(params, rate_hz, context)
        base = Path(params.get("base_dir") or Path.cwd())
        self.path = (base / Path(params["path"]).expanduser()).resolve()
        if not self.path.is_file():
            raise AdapterError(f"file sensor: {self.path}: no such file")
        fmt = params.get("format") or _FORMATS.get(self.path.suffix.lower())
        if fmt is None:
            raise AdapterError(
                f"file sensor: {self.path}: unknown format; set format: csv, npy or wav"
            )
        column = params.get("column")
        file_rate: float | None = params.get("rate_hz")
        if fmt == "csv":
            tab = self.path.suffix.lower() == ".tsv"
            delimiter = params.get("delimiter", "\t" if tab else ",")
            self.values = read_csv(self.path, 0 if column is None else column, delimiter)
        elif fmt == "npy":
            self.values = read_npy(self.path, column)
        else:
            self.values, header_rate = read_wav(self.path, column)
            file_rate = file_rate or header_rate
        file_rate = file_rate or rate_hz
        if not file_rate or not rate_hz or rate_hz <= 0 or file_rate <= 0:
            raise AdapterError(f"file sensor: {self.path}: needs a sample rate (set rate_hz)")
        self.file_rate_hz = float(file_rate)
        self.loop = bool(params.get("loop", False))
        self._step = self.file_rate_hz / float(rate_hz)
        self._played = 0  # stamps served so far

    @property
    def exhausted(self) -> bool:
        """True once a non-looping file has played its last sample."""
        return not self.loop and self._index(self._played) >= len(self.values)

    def _index(self, count: int | np.ndarray) -> Any:
        """File index of the count-th stamp (hold the latest sample when resampling)."""
        if self._step == 1.0:
            return count
        return np.floor(np.asarray(count, dtype=np.float64) * self._step + 1e-9).astype(np.int64)

    def read(self, times_ns: np.ndarray) -> np.ndarray:
        n = len(self.values)
        counts = self._played + np.arange(len(times_ns), dtype=np.int64)
        index = np.asarray(self._index(counts), dtype=np.int64)
        if self.loop and n:
            index %= n
        else:
            index = index[index < n]
        self._played += len(index)
        return self.values[index]
