"""The control protocol over a real agent: handshake, versions, ids, expiry, bad frames."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest
import zmq

from kairos import PROTOCOL_VERSION
from kairos.control.client import ControlClient
from kairos.control.commands import Clock, ClockSet, Heartbeat, Hello, Logs, Spawn, Status, Stop
from kairos.control.protocol import Reply, Request, VersionMismatch, new_id
from kairos.errors import AgentError


def test_hello_reports_versions_and_identity(client: ControlClient) -> None:
    hello = client.hello()
    assert hello.version == PROTOCOL_VERSION
    assert hello.device == "test-device"
    assert hello.device_class == "mac-mini"
    assert isinstance(hello.agent_version, str)


def test_request_of_another_version_is_one_clear_error(agent, client) -> None:
    request = dataclasses.replace(Hello().request(client.now_ns() + 10**10), v=99)
    reply = Reply.decode(agent.raw([request.encode()])[0])
    assert reply.code == "version-mismatch"
    assert "99" in reply.error and str(PROTOCOL_VERSION) in reply.error
    with pytest.raises(AgentError, match="version-mismatch"):
        client.call(Hello(version=PROTOCOL_VERSION + 1))


def test_client_refuses_agent_of_another_version(port: int) -> None:
    """The client side of a mismatch: a fake agent answering with v=99."""
    context = zmq.Context.instance()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(f"tcp://127.0.0.1:{port}")
    try:
        with ControlClient(f"tcp://127.0.0.1:{port}", timeout_s=5.0) as client:
            request_id = _send_when_connected(client)
            assert router.poll(5000)
            identity, frame = router.recv_multipart()
            assert Request.decode(frame).id == request_id
            fake = msgpack.packb(
                {
                    "v": 99,
                    "id": request_id,
                    "ok": True,
                    "code": "ok",
                    "error": None,
                    "result": {"version": 99},
                }
            )
            router.send_multipart([identity, fake])
            with pytest.raises(VersionMismatch, match="99"):
                client.wait(request_id, 5.0)
    finally:
        router.close()


def _send_when_connected(client: ControlClient) -> str:
    import time

    deadline = time.monotonic() + 5
    while True:
        try:
            return client.send(Hello())
        except AgentError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_expired_request_is_refused_and_not_executed(agent, client, sensor_spec) -> None:
    client.hello()
    request = Spawn(sensor_spec()).request(client.now_ns() + client.agent_offset_ns - 10**9)
    reply = Reply.decode(agent.raw([request.encode()])[0])
    assert reply.code == "expired"
    assert client.call(Status()).actors == ()


def test_repeated_id_answers_once(agent, client, sensor_spec, status_of) -> None:
    request_id = new_id()
    spec = sensor_spec()
    first = client.call(Spawn(spec), request_id=request_id)
    assert first.outcome == "started"
    client.call(Stop(("osc",)))
    # the same request again: the remembered reply, and the actor is NOT started again
    again = client.call(Spawn(spec), request_id=request_id)
    assert again == first
    assert status_of(client, "osc").state == "stopped"
    # the same id with other content is a duplicate, refused
    with pytest.raises(AgentError, match="duplicate"):
        client.call(Stop(), request_id=request_id)
    counters = client.call(Status()).counters
    assert counters["replayed"] == 1 and counters["duplicate"] == 1


def test_malformed_frames_are_refused_counted_and_survived(agent, client) -> None:
    good = Hello().request(client.now_ns() + 10**10)
    hello = Hello.name
    bad_frames = [
        [b"\xc1not msgpack"],
        [msgpack.packb([1, 2, 3])],
        [msgpack.packb({"v": PROTOCOL_VERSION, "id": 7, "cmd": hello, "expires_ns": 1})],
        [msgpack.packb({"v": PROTOCOL_VERSION, "id": "x", "cmd": hello, "expires_ns": "soon"})],
        [good.encode(), b"extra frame"],
        [b"\x00" * (2 * 1024 * 1024)],
    ]
    for frames in bad_frames:
        reply = Reply.decode(agent.raw(frames)[0])
        assert reply.code == "bad-request", frames[0][:20]
        assert reply.error
    assert client.hello().version == PROTOCOL_VERSION
    counters = client.call(Status()).counters
    assert counters["malformed"] == len(bad_frames)
    assert agent.proc.poll() is None


def test_unknown_command_and_bad_arguments(client) -> None:
    unknown = dataclasses.replace(client.request(Status()), cmd="rm -rf /")
    assert client.exchange(unknown).code == "unknown-command"
    # the commands' own requests, with an argument of the wrong type, and with none at all
    logs = client.request(Logs("osc"))
    wrong = {key: 3 if isinstance(value, str) else value for key, value in logs.args.items()}
    assert client.exchange(dataclasses.replace(logs, args=wrong)).code == "bad-request"
    stop = client.request(Stop())
    assert client.exchange(dataclasses.replace(stop, args={})).code == "bad-request"


def test_req_clients_are_answered_with_their_envelope(agent, client) -> None:
    """Clients in other languages may use REQ: the empty delimiter frame is kept."""
    context = zmq.Context.instance()
    req = context.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    try:
        req.connect(agent.endpoint)
        request = Heartbeat().request(client.now_ns() + 10**10)
        req.send(request.encode())
        assert req.poll(5000)
        reply = Reply.decode(req.recv())
        assert reply.ok and reply.id == request.id
    finally:
        req.close()


def test_clock_probe_and_clock_set(agent, client) -> None:
    import json

    t1 = client.now_ns()
    probe = client.call(Clock(t1))
    assert probe.t1 == t1
    assert probe.t2 <= probe.t3
    base = json.loads((agent.state_dir / "clock.json").read_text())["base_ns"]
    written = client.call(
        ClockSet(offset_ns=1_500_000, skew_ppm=12.5, uncertainty_ns=40_000, anchor_ns=probe.t3)
    )
    assert written.base_ns == base
    state = json.loads((agent.state_dir / "clock.json").read_text())
    expected = {
        "base_ns": base,
        "offset_ns": 1_500_000,
        "skew_ppm": 12.5,
        "uncertainty_ns": 40_000,
        "anchor_ns": probe.t3,
        "synced": True,
    }
    assert {key: state[key] for key in expected} == expected
    assert client.call(Clock()).offset_ns == 1_500_000
    with pytest.raises(AgentError, match="bad-request"):
        client.call(ClockSet(offset_ns=0, skew_ppm=5000.0))
    with pytest.raises(AgentError, match="step_threshold_ns must be positive"):
        client.call(ClockSet(offset_ns=0, step_threshold_ns=0))
    # the first correction was a step; the agent's probe replies carry its base's bound and,
    # from the second reply on, how long after t3 the previous one reached the socket
    assert state["steps"] == 1 and written.stepped
    second = client.call(Clock())
    assert 0 < second.base_error_ns < 1_000_000 and second.send_delay_ns > 0
