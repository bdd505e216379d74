"""The control plane over CurveZMQ on a real agent: who is obeyed, who is not, and replays."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
import zmq
from support import free_port

from kairos import keys
from kairos.actors.spec import ActorProcessSpec
from kairos.control.client import ControlClient
from kairos.control.commands import ActorStatus, Health, Heartbeat, Logs, Spawn, Status, Stop
from kairos.control.protocol import Reply, Request
from kairos.control.sockets import CurveKeys, control_socket
from kairos.errors import AgentError
from kairos.launch.agents import check_handshake, connect
from kairos.security.handshake import HandshakeWatch


def sensor_spec(name: str = "osc", **extra: Any) -> ActorProcessSpec:
    return ActorProcessSpec.from_dict(
        {
            "name": name,
            "role": "sensor",
            "device": "secure-device",
            "device_class": "mac-mini",
            "bind": f"tcp://127.0.0.1:{free_port()}",
            "adapter": "oscillator",
            "rate_hz": 20.0,
            "params": {"freq_hz": 2.0},
        }
        | extra
    )


def spawn_request(
    spec: ActorProcessSpec, expires_ns: int, request_id: str | None = None
) -> Request:
    """A spawn request as a capture or a stranger would send it: with a fixed expiry."""
    return Spawn(spec).request(expires_ns, request_id)


class RawClient:
    """A CurveZMQ DEALER that sends hand-made request frames (for replays and expiries)."""

    def __init__(self, endpoint: str, curve: CurveKeys) -> None:
        self.context = zmq.Context()
        self.sock = control_socket(self.context, zmq.DEALER, curve=curve)
        self.sock.connect(endpoint)

    def exchange(self, frame: bytes, timeout_s: float = 5.0) -> Reply:
        deadline = time.monotonic() + timeout_s
        while True:  # IMMEDIATE: nothing is queued until the handshake is done
            try:
                self.sock.send(frame, zmq.NOBLOCK)
                break
            except zmq.Again:
                if time.monotonic() > deadline:
                    raise TimeoutError("agent not connected") from None
                time.sleep(0.02)
        if not self.sock.poll(int(timeout_s * 1000)):
            raise TimeoutError("no reply")
        return Reply.decode(self.sock.recv())

    def close(self) -> None:
        self.sock.close(linger=0)
        self.context.destroy(linger=0)


def actors(agent: Any) -> tuple[ActorStatus, ...]:
    with agent.client() as client:
        return client.call(Status()).actors


def test_trusted_key_is_obeyed_and_self_test_ran(secure_agent: Any) -> None:
    with secure_agent.client() as client:
        hello = client.hello()
        assert hello.device == "secure-device"
        result = client.call(Spawn(sensor_spec()))
        assert result.outcome == "started"
        health = client.call(Health())
    assert health.security["curve"] is True
    log = secure_agent.log()
    assert "CurveZMQ self-test passed" in log
    assert log.index("self-test passed") < log.index("agent serving")


def test_unknown_keys_are_refused_100_times_and_nothing_is_delivered(
    secure_agent: Any,
) -> None:
    context = zmq.Context()
    outcomes = []
    try:
        for attempt in range(100):
            public, secret = zmq.curve_keypair()
            sock = context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
            sock.setsockopt(zmq.CURVE_SERVERKEY, secure_agent.ring.agent.public)
            request = spawn_request(sensor_spec(f"evil-{attempt}"), 2**62)
            watch = HandshakeWatch(sock)
            sock.connect(secure_agent.endpoint)
            # queued for the handshake, which must refuse it; Again: the refusal came first
            with contextlib.suppress(zmq.Again):
                sock.send(request.encode(), zmq.NOBLOCK)
            outcomes.append(watch.wait(5.0).status)
            assert not sock.poll(0, zmq.POLLIN)
            watch.close()
            sock.close(linger=0)
    finally:
        context.destroy(linger=0)
    assert outcomes == ["refused"] * 100
    with secure_agent.client() as client:
        status = client.call(Status())
        health = client.call(Health())
    assert status.actors == ()  # not one spawn got through
    assert status.counters["handshakes_refused"] == 100
    # no request of theirs was ever read: the only counters are the handshakes
    assert set(status.counters) == {"handshakes_refused", "handshakes_allowed"}
    assert health.security["handshakes_refused"] == 100
    assert "handshake refused: unknown key" in secure_agent.log()


def test_plain_client_without_curve_gets_nothing(secure_agent: Any) -> None:
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        request = spawn_request(sensor_spec(), 2**62).encode()
        sock.connect(secure_agent.endpoint)
        with contextlib.suppress(zmq.Again):  # Again: the agent already dropped us
            sock.send(request, zmq.NOBLOCK)
        assert not sock.poll(1500, zmq.POLLIN)
    finally:
        sock.close(linger=0)
        context.destroy(linger=0)
    assert actors(secure_agent) == ()


def test_launcher_connect_surfaces_handshake_failures(secure_agent: Any, tmp_path: Path) -> None:
    context = zmq.Context()
    try:
        stranger = keys.generate(tmp_path / "other", "stranger")
        with pytest.raises(AgentError, match=r"refused.*kairos keys trust"):
            check_handshake(context, secure_agent.endpoint, secure_agent.ring.curve(stranger), 5)
        wrong_server = CurveKeys(
            secure_agent.ring.launcher.public,
            secure_agent.ring.launcher.secret or b"",
            zmq.curve_keypair()[0],
        )
        with pytest.raises(AgentError, match="handshake failed"):
            check_handshake(context, secure_agent.endpoint, wrong_server, 2)
        with pytest.raises(AgentError, match="not trusted"):
            connect(secure_agent.endpoint, context=context, curve=secure_agent.ring.curve(stranger))
        client = connect(secure_agent.endpoint, context=context, curve=secure_agent.ring.curve())
        assert client.hello().device == "secure-device"
        client.close()
    finally:
        context.destroy(linger=0)


@pytest.mark.exclusive  # a refusal held to one second
def test_revoked_key_open_session_is_refused_within_one_second(
    secure_agent: Any,
) -> None:
    with secure_agent.client(timeout_s=2.0) as client:
        assert client.hello().device == "secure-device"
        keys.revoke(secure_agent.ring.trusted_dir, "launcher")
        revoked_at = time.monotonic()
        refused_after = None
        while time.monotonic() - revoked_at < 5.0:
            reply = client.call_reply(Heartbeat(), timeout_s=2.0)
            if reply.code == "refused":
                refused_after = time.monotonic() - revoked_at
                assert "no longer" in (reply.error or "")
                break
            assert reply.ok
            time.sleep(0.02)
        assert refused_after is not None, "the revoked key was still obeyed after 5 s"
        assert refused_after < 1.0, f"refused only after {refused_after:.2f} s"
        with pytest.raises(AgentError, match="refused"):
            client.call(Spawn(sensor_spec()))
    # a new connection with that key is refused at the handshake
    context = zmq.Context()
    try:
        with pytest.raises(AgentError, match="refused"):
            check_handshake(context, secure_agent.endpoint, secure_agent.ring.curve(), 5)
    finally:
        context.destroy(linger=0)
    # trusting it again restores it (the directory is re-read, no restart)
    keys.trust(secure_agent.ring.trusted_dir, str(secure_agent.ring.launcher.public_file))
    time.sleep(1.0)
    with secure_agent.client() as client:
        assert client.hello().device == "secure-device"
        status = client.call(Status())
        assert status.actors == ()
        assert status.counters["untrusted"] >= 2
    assert "launcher key revoked" in secure_agent.log()


def test_replayed_request_is_not_executed_again(secure_agent: Any) -> None:
    raw = RawClient(secure_agent.endpoint, secure_agent.ring.curve())
    try:
        now = time.time_ns()
        spawn = spawn_request(sensor_spec(), now + 60 * 10**9)
        first = raw.exchange(spawn.encode())
        assert first.ok and Spawn.parse_result(first.result).outcome == "started"
        stop = Stop(("osc",)).request(now + 60 * 10**9)
        assert raw.exchange(stop.encode()).ok
        replay = raw.exchange(spawn.encode())  # captured traffic sent again
        assert replay == first  # the remembered reply, byte for byte
        other = spawn_request(sensor_spec("osc2"), now + 60 * 10**9, request_id=spawn.id)
        reused = raw.exchange(other.encode())
        assert reused.code == "duplicate"
    finally:
        raw.close()
    (osc,) = actors(secure_agent)
    assert osc.state == "stopped" and osc.restarts == 0  # never started a second time
    with secure_agent.client() as client:
        counters = client.call(Status()).counters
        security = client.call(Health()).security
    assert counters["replayed"] == 1 and counters["duplicate"] == 1
    assert security["replayed"] == 1 and security["duplicate"] == 1
    assert _refusal_lines(secure_agent.log(), "replayed", "not executed again")
    assert _refusal_lines(secure_agent.log(), "duplicate", "id reused for another request")


def test_expired_and_far_future_requests_are_refused(secure_agent: Any) -> None:
    raw = RawClient(secure_agent.endpoint, secure_agent.ring.curve())
    try:
        now = time.time_ns()
        late = raw.exchange(spawn_request(sensor_spec(), now - 10**9).encode())
        assert late.code == "expired" and "expired" in (late.error or "")
        assert type(late.result["now_ns"]) is int
        far = raw.exchange(spawn_request(sensor_spec(), now + 3600 * 10**9).encode())
        assert far.code == "expired" and "more than" in (far.error or "")
    finally:
        raw.close()
    assert actors(secure_agent) == ()
    with secure_agent.client() as client:
        assert client.call(Health()).security["expired"] == 2
    (line,) = _refusal_lines(secure_agent.log(), "expired", "")  # the second: a summary later
    assert "expired 1" in line  # the reply's error: expired 1000 ms ago


def _refusal_lines(log: str, code: str, text: str) -> list[str]:
    """The drop log's lines about refused requests with ``code`` that contain ``text``."""
    return [
        line
        for line in log.splitlines()
        if "refused_requests" in line and f"stream={code}" in line and text in line
    ]


def test_oversize_control_frames(secure_agent: Any) -> None:
    raw = RawClient(secure_agent.endpoint, secure_agent.ring.curve())
    try:
        big = raw.exchange(b"\x00" * (2 * 1024 * 1024))
        assert big.code == "bad-request"  # over the protocol's 1 MiB: answered and counted
        raw.sock.send(b"\x00" * (5 * 1024 * 1024))  # over MAXMSGSIZE: the connection drops
        assert not raw.sock.poll(1000, zmq.POLLIN)
    finally:
        raw.close()
    with secure_agent.client() as client:
        assert client.hello().device == "secure-device"  # the agent never noticed
        assert client.call(Health()).security["malformed"] == 1


def test_spawn_refuses_what_is_not_installed_and_the_actor_refuses_bad_params(
    secure_agent: Any, wait: Any
) -> None:
    with secure_agent.client() as client:
        assert client.call_reply(Spawn(sensor_spec(adapter="shell"))).code == "refused"
        assert client.call_reply(Spawn(sensor_spec(role="script"))).code == "refused"
        spec = sensor_spec(curve={"public": "x" * 40, "secret": "y" * 40})
        assert client.call_reply(Spawn(spec)).code == "bad-request"
        assert client.call(Status()).actors == ()
        # params are the actor's to check (the agent loads no schema library): it starts,
        # refuses them in one line and exits 2, and status says so
        spec = sensor_spec(params={"freq_hz": "fast", "volume": 3}, restart={"policy": "never"})
        assert client.call(Spawn(spec)).outcome == "started"

        def failed() -> Any:
            (actor,) = client.call(Status()).actors
            return actor if actor.state == "failed" else None

        assert wait(failed, 30).last_exit == 2
        lines = client.call(Logs("osc", lines=50)).lines
        refusal = [line for line in lines if "refuses its params" in line]
        assert refusal and "volume" in refusal[0] and "freq_hz" in refusal[0], lines


def test_curve_agent_may_bind_beyond_loopback(secure_agent_starter: Any, ring: Any) -> None:
    agent = secure_agent_starter("wide", bind="tcp://0.0.0.0:0")
    port = agent.endpoint.rsplit(":", 1)[1]
    with ControlClient(f"tcp://127.0.0.1:{port}", curve=ring.curve()) as client:
        assert client.hello().device == "secure-device"
