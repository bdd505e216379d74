"""Actor processes for real: signals, the ready wait, gap counting, and the parent watch."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import plugins
import psutil
import pytest
import zmq
from support import free_port, kill_tree

from kairos import wire
from kairos.actors.spec import ActorProcessSpec, InputLink
from kairos.topologies.model import Encoding


def sensor_spec(
    tmp_path: Path, port: int, consumers: tuple[str, ...] = ("eng",)
) -> ActorProcessSpec:
    return ActorProcessSpec(
        name="mic",
        role="sensor",
        device="local",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{port}",
        adapter="oscillator",
        params={"freq_hz": 5.0},
        rate_hz=200.0,
        chunk=4,
        consumers=consumers,
        work_dir=str(tmp_path / "mic"),
    )


def engine_spec(tmp_path: Path, feed_port: int, engine_port: int) -> ActorProcessSpec:
    """An engine fed by stream ``mic`` from a test's own publisher on ``feed_port``."""
    return ActorProcessSpec(
        name="eng",
        role="engine",
        device="local",
        device_class="mac-mini",
        bind=f"tcp://127.0.0.1:{engine_port}",
        inputs=(InputLink("mic", "mic", f"tcp://127.0.0.1:{feed_port}"),),
        encoding=Encoding(type="phase"),
        windows=(0.5, 10.0),
        work_dir=str(tmp_path / "eng"),
    )


def start(tmp_path: Path, spec: ActorProcessSpec, processes) -> subprocess.Popen:
    path = tmp_path / f"{spec.name}.json"
    path.write_text(spec.to_json())
    return processes.start([sys.executable, "-m", "kairos.actors", str(path)], cwd=tmp_path)


def receive(sub: zmq.Socket, timeout_s: float) -> wire.Message | None:
    if sub.poll(int(timeout_s * 1000)):
        return wire.decode(sub.recv_multipart(copy=False))
    return None


class _Sockets:
    """Sockets for one test, all closed (with their context) at the end."""

    def __init__(self) -> None:
        self.context = zmq.Context()
        self._made: list[zmq.Socket] = []

    def socket(self, kind: int) -> zmq.Socket:
        sock = self.context.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        self._made.append(sock)
        return sock

    def close(self) -> None:
        for sock in self._made:
            sock.close(linger=0)
        self.context.destroy(linger=0)


@pytest.fixture
def context():
    owned = _Sockets()
    yield owned
    owned.close()


def test_sensor_waits_for_its_consumer_not_a_watcher_then_sends_from_seq_zero(
    tmp_path, processes, context
):
    port = free_port()
    proc = start(tmp_path, sensor_spec(tmp_path, port), processes)
    watcher = context.socket(zmq.SUB)  # a tap or recorder: subscribes, but is not waited for
    watcher.setsockopt(zmq.SUBSCRIBE, b"mic")
    watcher.connect(f"tcp://127.0.0.1:{port}")
    assert receive(watcher, 1.5) is None  # the sensor is up, but its consumer is not
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"mic")
    sub.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription("eng"))
    sub.connect(f"tcp://127.0.0.1:{port}")
    first = None
    while (message := receive(sub, 5.0)) is not None:
        if message.stream == "mic":
            first = message
            break
    assert first is not None and first.seq == 0  # nothing was lost to the slow joiner
    assert first.data.shape == (4,)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0


def test_a_watcher_dialling_before_the_bind_gets_seq_zero_when_the_consumer_is_prompt(
    tmp_path, processes, context
):
    """The watchers' grace counts from the bind (kairos.actors._ready.first_send_at): with
    its consumer in at once, the sensor's first message goes out 0.3 s after it bound, and a
    watcher redialling every 100 ms (ZeroMQ's default), dialling since before, has it."""
    port = free_port()
    watcher = context.socket(zmq.SUB)  # default RECONNECT_IVL: 100 ms
    watcher.setsockopt(zmq.SUBSCRIBE, b"mic")
    watcher.connect(f"tcp://127.0.0.1:{port}")
    consumer = context.socket(zmq.SUB)
    consumer.setsockopt(zmq.SUBSCRIBE, b"mic")
    consumer.setsockopt(zmq.SUBSCRIBE, wire.consumer_subscription("eng"))
    consumer.connect(f"tcp://127.0.0.1:{port}")
    proc = start(tmp_path, sensor_spec(tmp_path, port), processes)
    for sub in (consumer, watcher):
        first = None
        while (message := receive(sub, 10.0)) is not None:
            if message.stream == "mic":
                first = message
                break
        assert first is not None and first.seq == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0


def test_witness_counts_gaps_and_restarts_of_an_input(tmp_path, processes, context):
    """An engine fed by a hand-made publisher: a skipped seq is a gap, a new epoch a restart,
    and a new epoch first heard at seq k > 0 both (its first k messages were lost)."""
    feed_port, engine_port = free_port(), free_port()
    pub = context.socket(zmq.XPUB)
    pub.bind(f"tcp://127.0.0.1:{feed_port}")
    spec = engine_spec(tmp_path, feed_port, engine_port)
    start(tmp_path, spec, processes)
    assert pub.poll(10_000)  # the engine subscribed
    pub.recv()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"eng/witness")
    sub.connect(f"tcp://127.0.0.1:{engine_port}")
    t0 = time.time_ns()
    # seq 2, 3 missing; a restart; a restart whose seq 0, 1 are missing
    sends = [(1, 0), (1, 1), (1, 4), (1, 5), (2, 0), (3, 2)]
    for k, (epoch, seq) in enumerate(sends):
        times = [t0 + k * 10_000_000 + i * 1_000_000 for i in range(4)]
        pub.send_multipart(wire.encode("mic", seq, epoch, times[-1], times, [0.1] * 4))
    deadline = time.monotonic() + 10
    inputs = {}
    while time.monotonic() < deadline:
        message = receive(sub, 1.5)
        if message is not None and message.data["inputs"].get("mic", {}).get("msgs") == 6:
            inputs = message.data["inputs"]["mic"]
            break
    assert inputs["gaps"] == 4
    assert inputs["restarts"] == 2
    assert inputs["outage_ns"] > 0


def test_actor_stops_when_its_parent_dies(tmp_path):
    """A stand-in agent (a shell) starts an actor then is killed -9: the actor exits by itself."""
    spec = sensor_spec(tmp_path, free_port(), consumers=())
    path = tmp_path / "mic.json"
    path.write_text(spec.to_json())
    parent = subprocess.Popen(
        ["/bin/sh", "-c", f'"{sys.executable}" -m kairos.actors "{path}" & echo $!; wait'],
        stdout=subprocess.PIPE,
        text=True,
    )
    actor_pid = None
    try:
        actor_pid = int(parent.stdout.readline())
        actor = psutil.Process(actor_pid)
        time.sleep(1.5)
        assert actor.is_running()
        parent.kill()
        parent.wait(timeout=5)
        gone, _ = psutil.wait_procs([actor], timeout=5)
        assert gone, "the actor outlived its parent by more than 5 s"
    finally:
        kill_tree(parent.pid)
        parent.stdout.close()
        if actor_pid is not None:
            kill_tree(actor_pid)


def test_a_restarted_actor_counts_what_it_missed_while_dead(tmp_path, processes, context):
    """Input positions survive kill -9: the new life counts the messages sent meanwhile."""
    feed_port, engine_port = free_port(), free_port()
    pub = context.socket(zmq.XPUB)
    pub.setsockopt(zmq.XPUB_VERBOSE, 1)
    pub.bind(f"tcp://127.0.0.1:{feed_port}")
    spec = engine_spec(tmp_path, feed_port, engine_port)
    t0 = time.time_ns()
    seq = 0

    def send(count: int) -> None:
        nonlocal seq
        for _ in range(count):
            times = [t0 + seq * 4_000_000 + i * 1_000_000 for i in range(4)]
            pub.send_multipart(wire.encode("mic", seq, 7, times[-1], times, [0.5] * 4))
            seq += 1

    def wait_subscribed() -> None:
        while True:  # skip the unsubscription a killed subscriber leaves behind
            assert pub.poll(10_000)
            if pub.recv() == b"\x01mic":
                return

    first = start(tmp_path, spec, processes)
    wait_subscribed()
    send(20)
    time.sleep(1.0)  # processed
    first.kill()
    first.wait(timeout=5)
    send(13)  # nobody hears these
    start(tmp_path, spec, processes)
    wait_subscribed()
    send(5)
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"eng/witness")
    sub.connect(f"tcp://127.0.0.1:{engine_port}")
    deadline = time.monotonic() + 10
    inputs = {}
    while time.monotonic() < deadline:
        message = receive(sub, 1.5)
        if message is not None and message.data["inputs"].get("mic", {}).get("msgs") == 5:
            inputs = message.data["inputs"]["mic"]
            break
    assert inputs["gaps"] == 13
    assert inputs["restarts"] == 0


# -- start-up failures: one line on stderr, exit 2, never a traceback


def failed_start(tmp_path: Path, spec: ActorProcessSpec, processes, **kwargs) -> str:
    """Run an actor that must refuse to start; its stderr (after asserting exit 2)."""
    path = tmp_path / f"{spec.name}.json"
    path.write_text(spec.to_json())
    proc = processes.start(
        [sys.executable, "-m", "kairos.actors", str(path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    return err


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # role constructors that raised ValueError before
        ({"windows": None}, "engine 'eng' needs windows (fast, slow)"),
        ({"role": "sensor", "rate_hz": None}, "sensor 'eng' needs rate_hz above 0 and an adapter"),
        ({"role": "output"}, "output 'eng' needs an adapter"),
        ({"role": "sync", "rate_hz": -1.0}, "sync 'eng' needs a tick rate above 0 Hz"),
        ({"role": "filter"}, "unknown role 'filter'; valid: sensor, engine, sync, output"),
        # what the agent leaves to the actor: its encoding's and adapter's params
        (
            {"encoding": Encoding("lockin", {"lp_cycles": 2})},
            "missing required key freq_hz",
        ),
        ({"encoding": Encoding("hilbert")}, "unknown encoding 'hilbert'; valid: complex, direct"),
        (
            {"role": "output", "adapter": "log", "params": {"level": 3, "colour": "red"}},
            "output adapter 'log' refuses its params: unknown key colour",
        ),
        (
            {"role": "output", "adapter": "jsonl", "params": {"path": "/proc/none/x.jsonl"}},
            "jsonl output: cannot open /proc/none/x.jsonl",
        ),
    ],
)
def test_an_actor_that_cannot_start_says_why_and_exits_2(
    tmp_path, processes, change, reason
) -> None:
    spec = dataclasses.replace(engine_spec(tmp_path, free_port(), free_port()), **change)
    records = [json.loads(line) for line in failed_start(tmp_path, spec, processes).splitlines()]
    (refusal,) = [r for r in records if r["level"] == "error"]
    assert (refusal["event"], refusal["actor"]) == ("actor cannot start", "eng")
    assert reason in refusal["error"], refusal


def test_an_unreadable_spec_exits_2(tmp_path, processes) -> None:
    path = tmp_path / "spec.json"
    path.write_text('{"name": "x", "role": "engine", "mesh": {"hysteresis": "wide"}}')
    proc = processes.start(
        [sys.executable, "-m", "kairos.actors", str(path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "malformed actor spec" in err and "hysteresis" in err and "Traceback" not in err


# -- a plugin encoding, found through its entry point by a real actor process


def test_an_engine_process_runs_a_plugin_encoding(tmp_path, processes, context) -> None:
    site = plugins.install(
        tmp_path / "site",
        "kairos_proc_plugin",
        plugins.SCALED_PHASE,
        {"kairos.encodings": {"scaled-phase": "ScaledPhase"}},
    )
    try:
        env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
        feed_port, engine_port = free_port(), free_port()
        spec = dataclasses.replace(
            engine_spec(tmp_path, feed_port, engine_port),
            encoding=Encoding("scaled-phase", {"gain": "x"}),
        )
        (refusal,) = [
            json.loads(line)
            for line in failed_start(tmp_path, spec, processes, env=env).splitlines()
            if '"error"' in line
        ]
        assert "gain: must be a number" in refusal["error"]  # the plugin's own schema
        pub = context.socket(zmq.XPUB)
        pub.bind(f"tcp://127.0.0.1:{feed_port}")
        spec = dataclasses.replace(spec, encoding=Encoding("scaled-phase", {"gain": 2.5}))
        path = tmp_path / "eng.json"
        path.write_text(spec.to_json())
        processes.start([sys.executable, "-m", "kairos.actors", str(path)], env=env)
        assert pub.poll(20_000)  # the engine subscribed
        pub.recv()
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"eng")
        sub.connect(f"tcp://127.0.0.1:{engine_port}")
        time.sleep(0.5)  # the engine's grace for watchers, and our subscription
        t0 = time.time_ns()
        rows = None
        deadline = time.monotonic() + 20
        k = 0
        while rows is None and time.monotonic() < deadline:
            times = [t0 + k * 10_000_000 + i * 1_000_000 for i in range(4)]
            pub.send_multipart(wire.encode("mic", k, 1, times[-1], times, [0.4] * 4))
            k += 1
            message = receive(sub, 0.1)
            if message is not None and message.stream == "eng":
                rows = message
        assert rows is not None, "the engine published nothing"
        # θ = 0.4 encoded as e^{i·2.5·θ}: the node's phase is 1.0 rad
        assert rows.column("phase_fast")[-1] == pytest.approx(1.0)
    finally:
        plugins.uninstall(site, "kairos_proc_plugin")


@pytest.mark.skipif(not Path("/proc/self/timerslack_ns").exists(), reason="Linux ≥ 4.6 only")
def test_an_actor_times_its_waits_with_1_us_of_timer_slack(tmp_path, processes, context):
    """The loop's thread asks Linux for 1 µs of timer slack (kairos.actors._runtime
    .precise_timers), so a chunk or a tick leaves on time, not up to 50 µs late."""
    from kairos.actors._runtime import TIMER_SLACK_NS

    port = free_port()
    proc = start(tmp_path, sensor_spec(tmp_path, port, consumers=()), processes)
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"mic")
    sub.connect(f"tcp://127.0.0.1:{port}")
    deadline, first = time.monotonic() + 10.0, None
    while first is None and time.monotonic() < deadline:
        message = receive(sub, 1.0)  # the witness ("mic/witness") matches the prefix too
        first = message if message is not None and message.stream == "mic" else None
    assert first is not None, "the sensor never published"
    # the main thread (its id is the pid) runs the loop
    assert int(Path(f"/proc/{proc.pid}/timerslack_ns").read_text()) == TIMER_SLACK_NS
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
