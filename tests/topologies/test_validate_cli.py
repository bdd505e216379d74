"""`kairos validate`: exit codes, one problem per line, summaries, JSON; nothing is started."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import psutil
from support import free_port, run_kairos

EXAMPLES = Path(__file__).parents[2] / "topologies"
BAD = Path(__file__).parent / "bad"
_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<key>\S+): (?P<msg>.+)$")


def test_valid_examples_exit_0_with_a_summary() -> None:
    files = [str(EXAMPLES / f"{n}.yaml") for n in ("demo", "home", "lab", "robot")]
    result = run_kairos("validate", *files)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"{files[0]}: valid: topology 'demo', 1 device, 8 actors "
        "(3 sensors, 2 engines, 1 sync, 2 outputs)"
    )
    assert lines[3].startswith(f"{files[3]}: valid: topology 'robot', 4 devices, 10 actors")
    assert len(lines) == 4


def test_invalid_file_exits_2_with_every_problem_on_its_own_line() -> None:
    path = str(BAD / "layer_rule.yaml")
    result = run_kairos("validate", path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == f"{path}: 4 problems"
    problems = [_LINE.match(line) for line in lines[:-1]]
    assert all(problems), lines
    assert [(m["file"], m["line"], m["col"], m["key"]) for m in problems if m] == [
        (path, "7", "43", "actors.e2.inputs[0]"),
        (path, "8", "43", "actors.y.inputs[1]"),
        (path, "9", "42", "actors.o.inputs[0]"),
        (path, "10", "43", "actors.o2.inputs[0]"),
    ]


def test_one_bad_file_among_good_ones_fails_the_run() -> None:
    good, bad = str(EXAMPLES / "demo.yaml"), str(BAD / "unknown_class.yaml")
    result = run_kairos("validate", good, bad)
    assert result.returncode == 2
    assert result.stdout.startswith(f"{good}: valid")
    assert result.stderr.startswith(f"{bad}:3:15: devices.pc.class: unknown device class")
    assert result.stderr.endswith(f"{bad}: 1 problem\n")


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    result = run_kairos("validate", str(missing))
    assert result.returncode == 2
    assert f"{missing}:1:1: cannot read the file" in result.stderr


def test_json_prints_the_resolved_topology() -> None:
    result = run_kairos("validate", "--json", str(EXAMPLES / "home.yaml"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["name"] == "home"
    assert document["devices"]["kitchen"]["weight"] == 0.5
    assert document["actors"]["living-engine"]["windows"] == [1.0, 60.0]
    assert document["actors"]["mic"]["chunk"] == 4
    assert document["endpoints"]["mesh"] == "tcp://10.77.0.13:7805"
    several = run_kairos(
        "validate", "--json", str(EXAMPLES / "demo.yaml"), str(EXAMPLES / "lab.yaml")
    )
    assert [t["name"] for t in json.loads(several.stdout)] == ["demo", "lab"]


def test_usage_error_without_a_file() -> None:
    result = run_kairos("validate")
    assert result.returncode == 2
    assert "FILE" in result.stderr


def test_validation_starts_nothing(tmp_path: Path) -> None:
    """A valid topology is only read: no process, no bound port, no output file."""
    ports = [free_port() for _ in range(2)]
    topology = tmp_path / "t.yaml"
    topology.write_text(
        "name: t\n"
        "devices:\n"
        "  pc: {class: mac-mini, agent: localhost}\n"
        "actors:\n"
        f"  s: {{role: sensor, device: pc, adapter: oscillator, rate_hz: 100, port: {ports[0]}}}\n"
        "  e: {role: engine, device: pc, inputs: [s]}\n"
        "  y: {role: sync, device: pc, inputs: [e]}\n"
        f"  o: {{role: output, device: pc, inputs: [y], adapter: jsonl, port: {ports[1]},\n"
        f"      params: {{path: {tmp_path / 'out.jsonl'}}}}}\n"
    )
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = run_kairos("validate", str(topology), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.yaml"]
    for port in ports:  # still free: nothing bound them, nothing is left listening
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_encodings_unknown_or_with_bad_params_are_reported_at_their_lines(tmp_path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(
        "name: t\n"
        "devices:\n"
        "  pc: {class: mac-mini, agent: localhost}\n"
        "actors:\n"
        "  s: {role: sensor, device: pc, adapter: oscillator, rate_hz: 100}\n"
        "  a: {role: engine, device: pc, inputs: [s], encoding: {type: hilbert}}\n"
        "  b:\n"
        "    role: engine\n"
        "    device: pc\n"
        "    inputs: [s]\n"
        "    encoding:\n"
        "      type: lockin\n"
        "      freq_hz: fast\n"
    )
    result = run_kairos("validate", str(path))
    assert result.returncode == 2
    unknown, params, count = result.stderr.splitlines()
    assert unknown.startswith(  # the built-ins, then any installed plugin
        f"{path}:6:63: actors.a.encoding.type: unknown type 'hilbert'; "
        "valid: complex, direct, lockin, phase"
    )
    assert (
        params == f"{path}:13:16: actors.b.encoding.freq_hz: must be a number, not a string 'fast'"
    )
    assert count == f"{path}: 2 problems"
