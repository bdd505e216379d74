"""Pieces shared by the output adapters: the state record, paths, and a non-blocking line sink.

Outputs are called on the actor's loop, so nothing here may block: regular files are
line-buffered (a local write), and devices, FIFOs and ttys are written without blocking,
holding a bounded backlog and counting what had to be dropped.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import select
import stat
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from kairos.actors.adapters import AdapterContext, OutputState
from kairos.errors import AdapterError

#: Bytes a slow device may fall behind before new lines are dropped.
BACKLOG_LIMIT = 64 * 1024
#: How long closing waits for a slow device to take the lines still queued.
CLOSE_GRACE_S = 0.5


def state_record(state: OutputState) -> dict[str, Any]:
    """The fields every record-writing output emits, as plain JSON-able values."""
    return {
        "t_ns": int(state.t_ns),
        "source": state.source,
        "coherence": float(state.coherence),
        "phase": float(state.phase),
        "re": float(state.phasor.real),
        "im": float(state.phasor.imag),
        "active": bool(state.active),
    }


RECORD_FIELDS = ("t_ns", "source", "coherence", "phase", "re", "im", "active")


def resolve_path(path: str, context: AdapterContext) -> Path:
    """``path`` as given if absolute, else inside the actor's work directory."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(context.work_dir) / candidate


def path_schema(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description}


class LineSink:
    """Writes text lines to a regular file, a device (tty, FIFO) or stdout, never blocking.

    ``dropped`` counts lines a device could not take in time (a full backlog).
    """

    def __init__(self, path: Path | None, *, append: bool = True, adapter: str = "output"):
        self.path = path
        self.dropped = 0
        self._adapter = adapter
        self._text: TextIO | None = None
        self._fd: int | None = None
        self._backlog: collections.deque[bytes] = collections.deque()
        self._backlog_bytes = 0
        self._owns_text = False
        if path is None:
            self._text = sys.stdout
            return
        try:
            if path.exists() and not stat.S_ISREG(path.stat().st_mode):
                flags = os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
                self._fd = os.open(path, flags | (os.O_APPEND if append else 0))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._text = path.open("a" if append else "w", buffering=1, encoding="utf-8")
                self._owns_text = True
        except OSError as exc:
            raise AdapterError(f"{adapter} output: cannot open {path}: {exc.strerror}") from exc

    @property
    def is_new(self) -> bool:
        """True when writing starts at the beginning of an empty regular file."""
        return self._owns_text and self._text is not None and self._text.tell() == 0

    def write_line(self, line: str) -> None:
        if self._text is not None:
            self._text.write(line + "\n")
            if not self._owns_text:
                self._text.flush()
            return
        data = (line + "\n").encode()
        if self._backlog_bytes + len(data) > BACKLOG_LIMIT:
            self.dropped += 1
        else:
            self._backlog.append(data)
            self._backlog_bytes += len(data)
        self._drain()

    def _drain(self) -> None:
        """Write queued lines one at a time (a pipe takes a short line whole or not at all)."""
        while self._fd is not None and self._backlog:
            head = self._backlog[0]
            try:
                written = os.write(self._fd, head)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EINTR):
                    return
                raise AdapterError(
                    f"{self._adapter} output: cannot write to {self.path}: {exc.strerror}"
                ) from exc
            self._backlog_bytes -= written
            if written < len(head):  # the device took part of a line: finish it next time
                self._backlog[0] = head[written:]
                return
            self._backlog.popleft()

    def close(self) -> None:
        if self._fd is not None:
            # give a slow device a moment to take the rest, so no line is left half-written
            deadline = time.monotonic() + CLOSE_GRACE_S
            with contextlib.suppress(AdapterError):
                self._drain()
                while self._backlog and (left := deadline - time.monotonic()) > 0:
                    select.select([], [self._fd], [], left)
                    self._drain()
            self.dropped += len(self._backlog)
            self._backlog.clear()
            os.close(self._fd)
            self._fd = None
        if self._text is not None:
            if self._owns_text:
                self._text.close()
            else:
                self._text.flush()
            self._text = None
