"""The control commands without sockets: each builds its request, the agent side rebuilds it
from the wire, and each result parses back what the agent encoded; nothing outside
``kairos.control.commands`` spells a command's name."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kairos
from kairos.actors.spec import ActorProcessSpec
from kairos.control.commands import (
    COMMANDS,
    ActorStatus,
    Clock,
    ClockReading,
    ClockSet,
    ClockSetResult,
    Command,
    Health,
    HealthReport,
    Heartbeat,
    HeartbeatResult,
    Hello,
    HelloResult,
    Logs,
    LogsResult,
    Result,
    Spawn,
    SpawnResult,
    Status,
    StatusResult,
    Stop,
    StopResult,
)
from kairos.control.protocol import BAD_REQUEST, Reply, Request, RequestError
from kairos.errors import ProtocolError
from kairos.meshtime import ClockState
from kairos.timeouts import STOP_GRACE_S

SPEC = ActorProcessSpec(
    name="osc",
    role="sensor",
    device="box",
    device_class="mac-mini",
    bind="tcp://127.0.0.1:7000",
    adapter="oscillator",
    params={"freq_hz": 2.0},
    rate_hz=50.0,
)

#: one instance of every command, with arguments where it takes them
COMMAND_CASES: list[Command[Any]] = [
    Hello(),
    Hello(version=7),
    Heartbeat(),
    Status(),
    Health(),
    Spawn(SPEC),
    Stop(),
    Stop(("a", "b"), grace_s=1.5),
    Logs("osc", lines=20),
    Clock(),
    Clock(t1=123_456_789),
    ClockSet(offset_ns=-1_500, skew_ppm=12.5, uncertainty_ns=40_000, anchor_ns=99),
    ClockSet(offset_ns=3),
]

#: one result of every command
RESULT_CASES: list[Result] = [
    HelloResult(1, "0.9.0", "box", "mac-mini", 10**18),
    HeartbeatResult(10**18, 3, 2),
    StatusResult(
        "box",
        "pi-zero",
        10**18,
        {"ok": 4, "malformed": 1},
        (
            ActorStatus("a", "running", 42, 1, -9, 12.5, "abc", "on-failure", None),
            ActorStatus("b", "backoff", None, 3, 1, 0.0, "def", "always", 0.4),
        ),
    ),
    HealthReport(
        1.7e9, 12.0, 4, 2**33, 2**32, 50.0, (0.5, 0.4, 0.3), None, 2**25, 0.3, {"curve": True}
    ),
    HealthReport(1.7e9, 12.0, 4, 2**33, 2**32, 50.0, None, 48.5, 2**25, 0.3),
    SpawnResult("osc", "started", "0123456789abcdef", 4242),
    SpawnResult("osc", "unchanged", "0123456789abcdef", None),
    StopResult(("a", "b")),
    StopResult(()),
    LogsResult("osc", ("first", "second")),
    ClockReading(None, 5, 6, -7, 8, False),
    ClockReading(4, 5, 6, -7, 8, True),
    ClockSetResult(1, 2, 3.5, 4, 5),
]


def test_the_registry_holds_every_command_once() -> None:
    assert sorted(COMMANDS) == sorted(
        {"hello", "heartbeat", "status", "health", "spawn", "stop", "logs", "clock", "clock_set"}
    )
    assert {type(c) for c in COMMAND_CASES} == set(COMMANDS.values())
    assert {c.result_type for c in COMMANDS.values()} == {type(r) for r in RESULT_CASES} - {
        ActorStatus
    }


@pytest.mark.parametrize("command", COMMAND_CASES, ids=repr)
def test_request_round_trips_through_the_wire(command: Command[Any]) -> None:
    request = command.request(expires_ns=10**18, request_id="r1")
    received = Request.decode(request.encode())
    assert received == request
    assert received.cmd == command.name
    rebuilt = COMMANDS[received.cmd].from_args(received.args)
    assert rebuilt == command


@pytest.mark.parametrize("result", RESULT_CASES, ids=lambda r: type(r).__name__)
def test_result_round_trips_through_the_wire(result: Result) -> None:
    reply = Reply.decode(Reply.success("r1", result.to_map()).encode())
    assert type(result).from_map(reply.result) == result


@pytest.mark.parametrize("result", RESULT_CASES, ids=lambda r: type(r).__name__)
def test_a_result_missing_a_key_is_a_protocol_error_naming_it(result: Result) -> None:
    encoded = result.to_map()
    # these may be None, so a reply without them means None
    optional = {"security", "t1", "pid", "load", "temperature_c"}
    required = [k for k in encoded if k not in optional]
    for key in required:
        with pytest.raises(ProtocolError, match=repr(key)):
            type(result).from_map({k: v for k, v in encoded.items() if k != key})


def test_wrong_types_in_a_result_are_refused() -> None:
    good = HeartbeatResult(1, 2, 3).to_map()
    for bad in ({**good, "now_ns": "soon"}, {**good, "actors": True}, {**good, "running": 1.5}):
        with pytest.raises(ProtocolError):
            Heartbeat.parse_result(bad)
    status = RESULT_CASES[2].to_map()
    with pytest.raises(ProtocolError, match=r"status reply.*counters"):
        Status.parse_result({**status, "counters": {"ok": "many"}})
    with pytest.raises(ProtocolError, match="actors"):
        Status.parse_result({**status, "actors": ["osc"]})
    # an int where a float is meant is a float (another agent may encode 3.0 as 3)
    reading = ClockSet.parse_result({**ClockSetResult(1, 2, 3.5, 4, 5).to_map(), "skew_ppm": 3})
    assert reading.skew_ppm == 3.0 and type(reading.skew_ppm) is float


@pytest.mark.parametrize(
    ("command", "args", "match"),
    [
        (Logs, {"name": 3}, "'name' must be str"),
        (Logs, {"name": "osc", "lines": 0}, "within 1 and"),
        (Logs, {}, "'name' is required"),
        (Stop, {}, "needs 'name', 'names' or 'all'"),
        (Stop, {"names": ["a", 1]}, "list of strings"),
        (Stop, {"all": True, "grace_s": 11.0}, "grace_s must be within"),
        (Stop, {"all": True, "grace_s": True}, "not bool"),
        (ClockSet, {"skew_ppm": 1.0}, "'offset_ns' is required"),
        (ClockSet, {"offset_ns": 0, "skew_ppm": 5000.0}, "beyond"),
        (ClockSet, {"offset_ns": 0, "skew_ppm": float("nan")}, "beyond"),
        (Stop, {"all": True, "grace_s": float("nan")}, "grace_s must be within"),
        (ClockSet, {"offset_ns": 0, "uncertainty_ns": -1}, "negative"),
        (Hello, {"version": "1"}, "'version' must be int"),
        (Spawn, {"spec": []}, "'spec' must be dict"),
        (Spawn, {"spec": {"name": "osc"}}, "spawn: malformed actor spec"),
    ],
)
def test_bad_arguments_are_bad_requests(
    command: type[Command[Any]], args: dict[str, Any], match: str
) -> None:
    with pytest.raises(RequestError, match=match) as info:
        command.from_args(args)
    assert info.value.code == BAD_REQUEST


def test_single_name_stop_and_defaults_are_read_as_documented() -> None:
    assert Stop.from_args({"name": "osc"}) == Stop(("osc",), STOP_GRACE_S)
    assert Stop.from_args({"all": True}) == Stop()
    assert Logs.from_args({"name": "osc"}).lines == 50
    assert Clock.from_args({"t1": "not a time"}) == Clock()  # an echo only: never refused
    assert Hello.from_args({}) == Hello(version=kairos.PROTOCOL_VERSION)
    # commands without arguments ignore what a newer client may add
    assert Status.from_args({"verbose": True}) == Status()


#: what msgpack can carry in a hostile request's args
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
#: each command's own argument keys (so the fuzz reaches past "argument is required")
_KEYS = sorted({key for command in COMMAND_CASES for key in command.args()} | {"name", "all"})


@settings(derandomize=True, max_examples=300)
@given(
    st.sampled_from(sorted(COMMANDS)),
    st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), _VALUES, max_size=5),
)
def test_hostile_arguments_raise_only_bad_request(name: str, args: dict[str, Any]) -> None:
    """The agent answers whatever from_args raises only if it is a RequestError."""
    try:
        command = COMMANDS[name].from_args(args)
    except RequestError as exc:
        assert exc.code == BAD_REQUEST
        return
    assert isinstance(command, COMMANDS[name])


class _FakeClock:
    """The agent clock's interface over a real ClockState, without its file."""

    def __init__(self) -> None:
        self.state = ClockState(base_ns=1, base_error_ns=40)
        self.send_delay_ns = 0
        self.reply_t3: int | None = None

    def set(
        self,
        offset_ns: int,
        skew_ppm: float,
        uncertainty_ns: int,
        anchor_ns: int,
        step_threshold_ns: int | None = None,
    ) -> bool:
        steps = self.state.steps
        self.state = self.state.retarget(
            offset_ns,
            skew_ppm,
            uncertainty_ns,
            anchor_ns,
            mono_ns=0,
            step_threshold_ns=step_threshold_ns,
        )
        return self.state.steps != steps


class _FakeSupervisor:
    def __init__(self) -> None:
        self.actors = [
            ActorStatus("a", "running", 11, spec_hash="h1", policy="always"),
            ActorStatus("b", "failed", None, restarts=5, last_exit=1, spec_hash="h2"),
        ]
        self.stopped: list[tuple[list[str] | None, float]] = []

    def status(self) -> list[ActorStatus]:
        return list(self.actors)

    def stop(self, names: list[str] | None, grace_s: float) -> list[str]:
        self.stopped.append((names, grace_s))
        return names if names is not None else [a.name for a in self.actors]


class _FakeAgent:
    """What a command sees of an agent (kairos.control.commands.base.AgentServices)."""

    device = "box"
    device_class = "pi-4"
    state_dir = Path("/nonexistent")

    def __init__(self) -> None:
        self.supervisor = _FakeSupervisor()
        self.clock = _FakeClock()
        self.health = None

    def local_ns(self) -> int:
        return 1_000

    def mesh_ns(self) -> int:
        return 2_000

    def counters(self) -> dict[str, int]:
        return {"ok": 3}


def test_commands_execute_against_the_agent_services() -> None:
    agent = _FakeAgent()
    assert Heartbeat().execute(agent, 0) == HeartbeatResult(2_000, 2, 1)
    status = Status().execute(agent, 0)
    assert status == StatusResult("box", "pi-4", 2_000, {"ok": 3}, tuple(agent.supervisor.actors))
    assert status.actor("b") is not None and not status.actor("b").active
    assert status.actor("a").active and status.actor("zz") is None
    assert Stop(("a",), 1.0).execute(agent, 0) == StopResult(("a",))
    assert Stop().execute(agent, 0) == StopResult(("a", "b"))
    assert agent.supervisor.stopped == [(["a"], 1.0), (None, STOP_GRACE_S)]
    reading = Clock(t1=5).execute(agent, 500)
    assert (reading.t1, reading.t2, reading.t3, reading.synced) == (5, 500, 1_000, False)
    assert (reading.base_error_ns, reading.send_delay_ns) == (40, 0)
    assert agent.clock.reply_t3 == 1_000  # the agent times the rest up to its socket
    written = ClockSet(offset_ns=70).execute(agent, 900)  # no anchor: the time of receipt
    # the first correction is a step
    assert written == ClockSetResult(1, 70, 0.0, 0, 900, steps=1, stepped=True)
    # within the threshold: slewed; beyond it: a second step
    assert not ClockSet(offset_ns=50_000_000).execute(agent, 900).stepped
    beyond = ClockSet(offset_ns=-2_000_000_000, step_threshold_ns=100_000_000)
    assert beyond.execute(agent, 900) == ClockSetResult(
        1, -2_000_000_000, 0.0, 0, 900, steps=2, stepped=True
    )
    hello = Hello().execute(agent, 0)
    assert (hello.device, hello.device_class, hello.now_ns) == ("box", "pi-4", 2_000)
    with pytest.raises(RequestError) as info:
        Hello(version=kairos.PROTOCOL_VERSION + 1).execute(agent, 0)
    assert info.value.code == "version-mismatch"


def test_results_encode_as_msgpack_maps() -> None:
    for result in RESULT_CASES:
        packed = msgpack.packb(result.to_map(), use_bin_type=True)
        assert msgpack.unpackb(packed, raw=False) == result.to_map()


# -- no command name outside kairos.control.commands -------------------------------------

SOURCE = Path(kairos.__file__).parent
#: (module, literal): a word that happens to equal a command's name, and why it may stay
ALLOWED: dict[tuple[str, str], str] = {
    ("tools/agent.py", "status"): "the `kairos agent status` subcommand, a CLI word",
    ("topologies/_devices.py", "clock"): "the topology file's `clock:` key",
    ("records.py", "clock"): "the wire's clock event kind and an input's clock fault key",
}
#: modules that hand-build requests on purpose, named in the integrator's report
ALLOWED_MODULES: dict[str, str] = {}


def command_name_literals(source: Path) -> list[tuple[str, int, str]]:
    """Every string literal equal to a command's name in a module of ``source`` outside
    control/commands, as (module, line, literal)."""
    found = []
    for path in sorted(source.rglob("*.py")):
        module = path.relative_to(source).as_posix()
        if module.startswith("control/commands/") or module in ALLOWED_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in COMMANDS
                and (module, node.value) not in ALLOWED
            ):
                found.append((module, node.lineno, node.value))
    return found


def test_no_module_outside_the_commands_spells_a_command_name() -> None:
    assert command_name_literals(SOURCE) == []


def test_the_name_check_finds_a_spelled_name(tmp_path: Path) -> None:
    """The check above can fail: a launcher that spells a name is caught."""
    (tmp_path / "launch").mkdir()
    (tmp_path / "launch" / "bad.py").write_text(
        "from kairos.control.protocol import Request\n"
        "request = Request(cmd='stop', args={'all': True}, expires_ns=1)\n"
    )
    assert command_name_literals(tmp_path) == [("launch/bad.py", 2, "stop")]


def test_allowed_literals_still_exist() -> None:
    """An allowance whose literal is gone is stale: remove it."""
    for module, literal in ALLOWED:
        tree = ast.parse((SOURCE / module).read_text())
        assert any(
            isinstance(node, ast.Constant) and node.value == literal for node in ast.walk(tree)
        ), (module, literal)
