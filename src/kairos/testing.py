"""A test double for actor logic: feed messages to an actor without sockets or processes.

Shipped with the package so that users unit-test their own actors the way we test ours::

    harness = ActorHarness(Engine(spec))
    out = harness.feed(message("mic", times, values))
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kairos import _log, wire
from kairos.actors._runtime import Actor, ActorContext, Outgoing
from kairos.actors.spec import ActorProcessSpec
from kairos.meshtime import MeshClock


def message(
    stream: str,
    times: Sequence[int] | np.ndarray,
    data: np.ndarray | Mapping[str, Any],
    *,
    seq: int = 0,
    epoch: int = 1,
    fields: Sequence[str] = (),
) -> wire.Message:
    """A message as a subscriber would decode it (it really goes through encode/decode)."""
    stamps = np.asarray(times, dtype=np.int64)
    sent = int(stamps[-1]) if len(stamps) else 0
    frames = wire.encode(stream, seq, epoch, sent, stamps, data, fields)
    return wire.decode([bytes(f) for f in frames])


class ActorHarness:
    """Drives one actor: ``setup`` once, then ``feed`` messages or ``tick`` at given times."""

    def __init__(
        self, actor: Actor, spec: ActorProcessSpec | None = None, work_dir: Path | None = None
    ) -> None:
        self.actor = actor
        self.spec = spec or getattr(actor, "spec", None)
        self._own_dir = work_dir is None
        self.work_dir = (
            Path(tempfile.mkdtemp(prefix="kairos-harness-")) if work_dir is None else work_dir
        )
        self.work_dir.mkdir(parents=True, exist_ok=True)
        context = ActorContext(self.spec, MeshClock(), _log.get("harness"), self.work_dir)  # type: ignore[arg-type]
        actor.setup(context)

    def feed(self, *messages: wire.Message, now_ns: int | None = None) -> list[Outgoing]:
        """Deliver messages together, at ``now_ns`` (default: the last sample time)."""
        if now_ns is None:
            now_ns = max((int(m.times[-1]) for m in messages if len(m.times)), default=0)
        return list(self.actor.update(now_ns, list(messages)))

    def tick(self, now_ns: int) -> list[Outgoing]:
        """A timer call with no input (sensors sample, syncs tick)."""
        return list(self.actor.update(now_ns, []))

    def close(self) -> None:
        self.actor.teardown()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> ActorHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
