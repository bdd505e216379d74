"""What one fuzz run found: counts, typed errors seen, slowest input, and any crash."""

from __future__ import annotations

import hashlib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Crash:
    """An input that crashed or hung a target, saved to ``path``."""

    kind: str  # "crash" or "timeout"
    error: str
    path: Path | None
    details: str = ""


@dataclass
class Stats:
    target: str
    engine: str
    inputs: int = 0
    seconds: float = 0.0
    #: typed errors seen: exception class name -> count
    errors: dict[str, int] = field(default_factory=dict)
    max_input_s: float = 0.0
    slowest_size: int = 0
    crash: Crash | None = None
    #: False when the engine could not bound each input's time (not in the main thread)
    hang_guard: bool = True

    @property
    def ok(self) -> bool:
        return self.crash is None

    def note(self, error: BaseException | None, elapsed_s: float, size: int) -> None:
        self.inputs += 1
        if error is not None:
            name = type(error).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
        if elapsed_s > self.max_input_s:
            self.max_input_s = elapsed_s
            self.slowest_size = size

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "engine": self.engine,
            "inputs": self.inputs,
            "seconds": round(self.seconds, 3),
            "errors": dict(sorted(self.errors.items())),
            "max_input_ms": round(self.max_input_s * 1e3, 3),
            "slowest_input_bytes": self.slowest_size,
            "hang_guard": self.hang_guard,
            "crash": None
            if self.crash is None
            else {
                "kind": self.crash.kind,
                "error": self.crash.error,
                "input": str(self.crash.path) if self.crash.path else None,
            },
        }


def save_input(folder: Path, target: str, kind: str, data: bytes) -> Path:
    """Write a crashing input under ``folder`` (named by its hash) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{target}-{kind}-{hashlib.sha1(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path


def describe(exc: BaseException) -> tuple[str, str]:
    """One line naming the exception, and its formatted traceback."""
    line = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
    if len(line) > 500:
        line = line[:500] + "…"
    return line, "".join(traceback.format_exception(exc))
