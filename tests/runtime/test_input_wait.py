"""Actor.input_wait_s: a role that acts only at its ticks takes its inputs in batches.

The runtime runs in this process (its loop in a thread) around a counting actor, fed by a
PUB socket of the test at one message every 2 ms: with a 50 ms wait, update() sees the
inputs at most once per 50 ms, and every message still arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest
import zmq
from support import free_port

from kairos import wire
from kairos.actors._runtime import Actor, ActorRuntime, Outgoing
from kairos.actors.spec import ActorProcessSpec, InputLink
from kairos.topologies.model import Encoding

SEND_EVERY_S = 0.002
SEND_FOR_S = 0.6


class _Counting(Actor):
    def __init__(self, wait_s: float) -> None:
        self.input_wait_s = wait_s
        self.calls_with_input = 0
        self.received: list[int] = []

    def update(self, now_ns: int, inputs: Sequence[wire.Message]) -> Iterable[Outgoing]:
        if inputs:
            self.calls_with_input += 1
            self.received.extend(m.seq for m in inputs)
        return []


def _run(tmp_path: Path, wait_s: float) -> tuple[_Counting, int]:
    """Run the runtime (in this thread, as an actor process does) while a thread feeds it."""
    feed = free_port()
    spec = ActorProcessSpec(
        name="counter",
        role="engine",
        device="local",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{free_port()}",
        inputs=(InputLink("src", "src", f"tcp://127.0.0.1:{feed}"),),
        encoding=Encoding(type="phase"),
        windows=(0.5, 10.0),
        work_dir=str(tmp_path / "counter"),
    )
    actor = _Counting(wait_s)
    context = zmq.Context()
    pub = context.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(f"tcp://127.0.0.1:{feed}")
    runtime = ActorRuntime(spec, actor)
    sent = [0]

    def feed_then_stop() -> None:
        try:
            if not pub.poll(5000):  # the runtime's subscription
                return
            pub.recv()
            data, start = np.zeros((1, 1)), time.monotonic()
            while time.monotonic() - start < SEND_FOR_S:
                frames = wire.encode("src", sent[0], 1, time.time_ns(), [sent[0]], data, ("x",))
                pub.send_multipart(frames)
                sent[0] += 1
                time.sleep(SEND_EVERY_S)
            deadline = time.monotonic() + 5.0
            while len(actor.received) < sent[0] and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            runtime._on_signal(0, None)  # what SIGTERM does

    feeder = threading.Thread(target=feed_then_stop, daemon=True)
    try:
        feeder.start()
        assert runtime.run() == 0
        feeder.join(5.0)
    finally:
        pub.close()
        context.term()
    assert not feeder.is_alive()
    return actor, sent[0]


@pytest.mark.timeout(60)
def test_inputs_wait_in_the_queue_and_arrive_in_batches(tmp_path: Path) -> None:
    actor, sent = _run(tmp_path, wait_s=0.05)
    assert actor.received == list(range(sent))  # nothing lost, in order
    # at most one batch per 50 ms window of the 0.6 s (+ the first, taken at once, and the tail)
    assert actor.calls_with_input <= SEND_FOR_S / 0.05 + 3, (actor.calls_with_input, sent)
