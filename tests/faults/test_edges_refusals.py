"""Every control request the agent refuses is counted and told, without flooding its log.

A real agent on 127.0.0.1 gets 50 frames that are not msgpack, 5 requests of two frames, 10
unknown commands and 3 expired requests: ``status`` counts each code and ``refused_requests``
in all, and its log has exactly one line per code (the first refusal, with what was wrong);
the rest would be summed up in one line per code every 10 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import zmq
from support import start_agent

from kairos.control.client import ControlClient
from kairos.control.commands import Heartbeat, Status
from kairos.control.protocol import Reply, Request


def test_refused_requests_are_counted_and_logged_once_per_code(processes, tmp_path: Path) -> None:
    agent = start_agent(processes, tmp_path, tmp_path / "state", "refusals", device="here")
    endpoint, log = agent.endpoint, agent.log_path
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(endpoint)
    codes: list[str] = []
    try:

        def exchange(*frames: bytes) -> None:
            dealer.send_multipart(list(frames))
            assert dealer.poll(5000), "no reply"
            codes.append(Reply.decode(dealer.recv()).code)

        for k in range(50):
            exchange(b"\xc1 not msgpack %d" % k)
        for _ in range(5):
            exchange(b"one", b"two")
        now = time.time_ns()
        for _ in range(10):
            exchange(Request("launch-missiles", {}, now + 60 * 10**9).encode())
        for _ in range(3):
            exchange(Heartbeat().request(now - 10**9).encode())
    finally:
        dealer.close()
        context.term()
    assert codes == ["bad-request"] * 55 + ["unknown-command"] * 10 + ["expired"] * 3
    with ControlClient(endpoint) as client:
        counters = client.call(Status()).counters
    assert counters["bad-request"] == 55 and counters["malformed"] == 55
    assert counters["unknown-command"] == 10 and counters["expired"] == 3
    assert counters["refused_requests"] == 68
    lines = [line for line in log.read_text().splitlines() if "refused_requests" in line]
    by_code = {code: [line for line in lines if f"stream={code}" in line] for code in set(codes)}
    assert {code: len(found) for code, found in by_code.items()} == {
        "bad-request": 1,
        "unknown-command": 1,
        "expired": 1,
    }, lines
    assert "not msgpack" in by_code["bad-request"][0]
    assert "launch-missiles" in by_code["unknown-command"][0]
