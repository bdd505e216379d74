"""The bench's Kairos receiver: an actor on the real runtime that keeps every arrival time.

``python -m kairos.tools.benchmarks._probe SPEC.json OUT.npz`` runs :class:`Probe` under
:class:`~kairos.actors._runtime.ActorRuntime`, so each message goes through the same SUB
socket options, ``wire.decode`` and sequence tracking as an engine's input; the probe only
replaces the engine's computation by writing down (seq, epoch, sent_ns, received mesh time)
for each message, and saves them when it is stopped (SIGTERM).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kairos import _log
from kairos.actors._runtime import Actor, ActorRuntime, Outgoing
from kairos.actors.spec import ActorProcessSpec
from kairos.wire import Message


class Probe(Actor):
    """Records the arrival of every array message of its inputs."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.seq: list[int] = []
        self.epoch: list[int] = []
        self.sent: list[int] = []
        self.received: list[int] = []

    def update(self, now_ns: int, inputs: Sequence[Message]) -> Iterable[Outgoing]:
        # received_ns: stamped by the runtime as soon as the message was decoded
        for message in inputs:
            if message.is_record:
                continue
            self.seq.append(message.seq)
            self.epoch.append(message.epoch)
            self.sent.append(message.sent_ns)
            self.received.append(message.received_ns)
        return ()

    def teardown(self) -> None:
        save_arrivals(self.out, self.seq, self.epoch, self.sent, self.received)


#: the arrays of an arrivals file, in this order (read back by hop.Arrivals.load)
ARRIVAL_FIELDS = ("seq", "epoch", "sent", "received")


def save_arrivals(
    out: Path, seq: list[int], epoch: list[int], sent: list[int], received: list[int]
) -> None:
    """Write arrivals atomically, so a reader never sees half a file."""
    partial = out.with_name(out.name + ".part")
    columns = (seq, epoch, sent, received)
    arrays: dict[str, Any] = {
        name: np.asarray(column, dtype=np.int64)
        for name, column in zip(ARRIVAL_FIELDS, columns, strict=True)
    }
    with partial.open("wb") as handle:
        np.savez(handle, **arrays)
    partial.replace(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m kairos.tools.benchmarks._probe SPEC.json OUT.npz", file=sys.stderr)
        return 2
    _log.configure(json=True, level="warning")
    spec = ActorProcessSpec.read(Path(argv[0]))
    return ActorRuntime(spec, Probe(Path(argv[1]))).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
