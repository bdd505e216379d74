"""``kairos tap``: the snapshot's values equal what was published; echo, hz, bw; 80 columns;
each node's drops, wrong clocks and degraded state, in the view and the JSON."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console
from synthetic_mesh import ENG_CLOCK_FAULTS, ENG_COUNTERS, ENG_DEGRADED, SYNC_CLOCK_FAULTS

from kairos import wire
from kairos.actors.engine import ENGINE_FIELDS
from kairos.drops import Reason
from kairos.tools._tap.render import CLOCK_LABELS, CLOCK_MARK, DROP_LABELS, table
from kairos.tools._tap.state import DROP_COUNTERS, MESH_KEYS, NODE_KEYS, MeshView

ENGINE_CHUNKS = {"eng": 4, "eng2": 2}


def test_once_json_has_every_key_with_published_values(mesh, kairos, synthetic) -> None:
    result = kairos("tap", *mesh.connect, "--once", "--json", "--timeout", "20")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    nodes = {r["node"]: r for r in records if r["node"] != "mesh"}
    meshes = [r for r in records if r["node"] == "mesh"]
    assert set(nodes) == {"eng", "eng2"} and len(meshes) == 1
    for name, record in nodes.items():
        assert list(record) == list(NODE_KEYS)
        row = synthetic.engine_rows(record["seq"], ENGINE_CHUNKS[name])[-1]
        for key in (
            "coherence_fast",
            "coherence_slow",
            "phase_fast",
            "phase_slow",
            "resonance_fast",
            "resonance_slow",
        ):
            assert record[key] == row[ENGINE_FIELDS.index(key)], key
        assert record["collapsed"] == {
            w: bool(row[ENGINE_FIELDS.index(f"collapsed_{w}")]) for w in ("fast", "slow", "pair")
        }
        assert isinstance(record["t_mesh_ns"], int)
        assert record["gaps"] == 3 and record["latency_ms"] == 0.5
        assert record["clock_uncertainty_ns"] == 2500
        index = sorted(ENGINE_CHUNKS).index(name)  # synthetic delta_p = 0.001·k + index
        assert (
            abs((record["delta_p"] - index) / 0.001 - round((record["delta_p"] - index) / 0.001))
            < 1e-6
        )
    assert nodes["eng"]["device"] == "kitchen" and nodes["eng"]["class"] == "pi-zero"
    assert nodes["eng"]["clock_offset_ns"] == 123456 and nodes["eng2"]["clock_offset_ns"] == -7000
    assert nodes["eng"]["rate_hz"] == pytest.approx(20.0)
    # what went wrong: the engine's witness totals, its inputs' clocks, its degraded reason;
    # eng2 counts nothing, but the sync's witness reports its clock
    for key in DROP_COUNTERS:
        assert nodes["eng"][key] == ENG_COUNTERS[key], key
        assert nodes["eng2"][key] == 0, key
    assert nodes["eng"]["clock_faults"] == ENG_CLOCK_FAULTS  # not imu: its clock is None
    assert nodes["eng"]["degraded"] == ENG_DEGRADED
    assert nodes["eng2"]["clock_faults"] == SYNC_CLOCK_FAULTS and nodes["eng2"]["degraded"] is None
    sync = meshes[0]
    assert set(MESH_KEYS) <= set(sync)
    expected = synthetic.sync_state(sync["seq"], sync["t_mesh_ns"], {}).encode()
    for key in ("global_coherence", "order_parameter", "mesh_phase", "emerged"):
        assert sync[key] == expected[key], key


def test_once_times_out_with_a_clear_message(kairos, port: int) -> None:
    result = kairos("tap", "--connect", f"tcp://127.0.0.1:{port}", "--once", "--timeout", "1")
    assert result.returncode == 1
    assert "no complete snapshot within 1 s" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("columns", [80, 160])
def test_view_fits_the_terminal_and_tells_drops_and_clocks(
    mesh, processes, kairos_cmd, columns: int
) -> None:
    env = {**os.environ, "TERM": "dumb", "COLUMNS": str(columns), "LINES": "24"}
    proc = processes.start(
        kairos_cmd("tap", *mesh.connect), env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        out, _ = proc.communicate(timeout=3.5)
    except subprocess.TimeoutExpired:
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=10)
    lines = [line for line in out.splitlines() if line.strip()]
    assert any(line.startswith("eng ") for line in lines)
    assert any(line.startswith("mesh") for line in lines)
    assert max(len(line) for line in lines) <= columns
    assert "\x1b[" not in out  # no cursor movement or colour on a dumb terminal
    # the last snapshot (from its header on): each node's note is the line under its row
    last = lines[max(i for i, line in enumerate(lines) if line.startswith("node ")) :]
    eng = next(i for i, line in enumerate(last) if line.startswith("eng "))
    eng2 = next(i for i, line in enumerate(last) if line.startswith("eng2"))
    eng_note = " ".join(line.strip() for line in last[eng + 1 : eng2])  # it may wrap
    assert eng_note.lstrip().startswith("↳")
    for key, count in ENG_COUNTERS.items():
        assert f"{DROP_LABELS[key]} {count}" in eng_note, key
    assert f"{CLOCK_MARK} mic ahead, cam behind" in eng_note
    assert f"degraded ({ENG_DEGRADED})" in eng_note
    eng2_note = last[eng2 + 1]
    assert f"{CLOCK_MARK} eng2 ahead" in eng2_note and "drops" not in eng2_note


def _engine_witness(synthetic, name: str, **faults) -> list[bytes]:
    actor = {"name": name, "role": "engine", "device": "d", "class": "pi-4", "period_s": 0.1}
    record = synthetic.witness({**actor, **faults}, 1, 9)
    return [bytes(f) for f in wire.encode(f"{name}/witness", 0, 1, 2, [30], record.encode())]


def _engine_rows(name: str) -> list[bytes]:
    rows = np.full((1, len(ENGINE_FIELDS)), 0.5)
    return [bytes(f) for f in wire.encode(name, 7, 1, 2, [20], rows, ENGINE_FIELDS)]


def _rendered(view: MeshView, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(table(view, width))
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [80, 160])
def test_only_a_node_with_something_wrong_has_a_note(synthetic, width: int) -> None:
    view = MeshView()
    view.take(
        {
            "calm": _engine_rows("calm"),
            "calm/witness": _engine_witness(synthetic, "calm"),
            "sick": _engine_rows("sick"),
            "sick/witness": _engine_witness(
                synthetic,
                "sick",
                counters={Reason.TIME_VIOLATION.value: 1234567, Reason.INVALID_SAMPLE.value: 8},
                inputs={"osc": {"time_violations": 1234567, "clock": Reason.TIME_VIOLATION.value}},
                degraded=Reason.TIME_VIOLATION.value,
            ),
        }
    )
    assert view.decode_errors == 0
    lines = _rendered(view, width)
    assert max(len(line) for line in lines) <= width
    calm = next(i for i, line in enumerate(lines) if line.startswith("calm "))
    sick = next(i for i, line in enumerate(lines) if line.startswith("sick "))
    assert sick == calm + 1  # no note under calm: every counter is 0, no clock, not degraded
    note = " ".join(line.strip() for line in lines[sick + 1 :])
    assert note.lstrip().startswith("↳ drops ord 1234567 inv 8 ·")
    assert "dec " not in note and "fut " not in note and " q " not in note
    assert f"{CLOCK_MARK} osc back" in note and "degraded (time_violations)" in note
    # the columns after a note line up with those before it
    header = lines[0]
    assert lines[calm].index("0.50") == lines[sick].index("0.50") and header.startswith("node")
    record = view.nodes["sick"].record()
    assert record["clock_faults"] == {"osc": "time_violations"}
    assert record["time_violations"] == 1234567 and record["future_stamps"] == 0
    calm_record = view.nodes["calm"].record()
    assert calm_record["clock_faults"] == {} and calm_record["degraded"] is None


def test_a_sync_witness_marks_the_node_and_a_healed_clock_clears(synthetic) -> None:
    view = MeshView()
    view.take({"e": _engine_rows("e"), "e/witness": _engine_witness(synthetic, "e")})
    view.records(only_updated=True)  # reset the update marks
    sync = {"name": "m", "role": "sync", "device": "d", "class": "pi-4", "period_s": 0.1}

    def sync_witness(clock: str | None) -> list[bytes]:
        inputs = {"e": {"msgs": 5, "clock": clock}}
        record = synthetic.witness({**sync, "inputs": inputs}, 1, 9).encode()
        return [bytes(f) for f in wire.encode("m/witness", 0, 1, 2, [30], record)]

    view.take({"m/witness": sync_witness(Reason.FUTURE_STAMP.value)})
    assert [r["node"] for r in view.records(only_updated=True)] == ["e"]
    assert view.nodes["e"].record()["clock_faults"] == {"e": "future_stamps"}
    assert f"{CLOCK_MARK} e ahead" in "\n".join(_rendered(view, 80))
    view.take({"m/witness": sync_witness(Reason.FUTURE_STAMP.value)})
    assert view.records(only_updated=True) == []  # the same report is no update
    view.take({"m/witness": sync_witness(None)})
    assert view.nodes["e"].record()["clock_faults"] == {}
    assert CLOCK_MARK not in "\n".join(_rendered(view, 80))


def test_every_reported_counter_and_clock_reason_has_a_label() -> None:
    assert set(DROP_LABELS) == set(DROP_COUNTERS)
    assert len(set(DROP_LABELS.values())) == len(DROP_LABELS)
    reasons = {Reason.FUTURE_STAMP.value, Reason.TIME_VIOLATION.value}
    assert reasons < set(CLOCK_LABELS)  # and "behind" (checked against the mesh above)


def test_echo_prints_the_stream_as_published(mesh, kairos, synthetic) -> None:
    result = kairos("tap", *mesh.connect, "--stream", "eng", "--once", "--json")
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    assert message["stream"] == "eng" and message["fields"] == list(ENGINE_FIELDS)
    assert message["data"] == synthetic.engine_rows(message["seq"], 4).tolist()
    text = kairos("tap", *mesh.connect, "--stream", "mic", "--once")
    assert text.returncode == 0 and text.stdout.startswith("--- mic  seq ")


def test_hz_and_bw_report_each_stream(mesh, processes, kairos_cmd) -> None:
    for flag, key in (("--hz", "rate_hz"), ("--bw", "bytes_per_s")):
        proc = processes.start(
            kairos_cmd("tap", *mesh.connect, flag, "--stream", "mic", "--json"),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            out, _ = proc.communicate(timeout=3.5)
        except subprocess.TimeoutExpired:
            proc.send_signal(2)
            out, _ = proc.communicate(timeout=10)
        reports = [json.loads(line) for line in out.splitlines()]
        assert reports and {r["stream"] for r in reports} == {"mic"}
        assert reports[-1][key] is not None and reports[-1][key] > 0


def test_view_classifies_by_content_and_counts_bad_frames(synthetic) -> None:
    view = MeshView()
    rows = np.zeros((2, len(ENGINE_FIELDS)))
    rows[-1, ENGINE_FIELDS.index("coherence_slow")] = 0.75
    engine = wire.encode("e", 7, 1, 2, [10, 20], rows, ENGINE_FIELDS)
    sensor = wire.encode("s", 0, 1, 2, [10, 20], np.ones(2))
    state = synthetic.sync_state(3, 30, {"e": {"device": "d"}})
    sync = wire.encode("m", 3, 1, 2, [30], state.encode())
    actor = {"name": "e", "role": "engine", "device": "d", "class": "pi-4", "period_s": 0.1}
    witness = wire.encode("e/witness", 0, 1, 2, [30], synthetic.witness(actor, 1, 9).encode())
    partial = wire.encode("m", 4, 1, 2, [30], {"global_coherence": 0.5})  # not a mesh state
    view.take(
        {
            "e": [bytes(f) for f in engine],
            "s": [bytes(f) for f in sensor],
            "m": [bytes(f) for f in sync],
            "e/witness": [bytes(f) for f in witness],
            "x": [b"x", b"not msgpack"],
            "m/partial": [bytes(f) for f in partial],
        }
    )
    assert view.decode_errors == 2  # the bad frame and the record that is not a mesh state
    assert set(view.nodes) == {"e"} and set(view.meshes) == {"m"}
    record = view.nodes["e"].record()
    assert record["coherence_slow"] == 0.75 and record["t_mesh_ns"] == 20
    assert record["delta_p"] == state.nodes["e"].delta_p and record["class"] == "pi-4"
    # a snapshot also waits for what the sync reports of the nodes' clocks
    assert not view.complete() and view.missing() == ["witness of m"]
    sync_actor = {**actor, "name": "m", "role": "sync"}
    sync_witness = synthetic.witness(sync_actor, 1, 9).encode()
    view.take(
        {"m/witness": [bytes(f) for f in wire.encode("m/witness", 0, 1, 2, [30], sync_witness)]}
    )
    assert view.complete()


def test_tap_needs_a_source(kairos) -> None:
    result = kairos("tap", "--once")
    assert result.returncode == 1 and "nothing to listen to" in result.stderr


def test_tap_is_importable_without_rich_side_effects() -> None:
    code = "import kairos.tools.tap, sys; print('rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # heavy imports happen in run(), not at import


def test_list_shows_every_stream_with_endpoint_type_and_rate(mesh, kairos) -> None:
    """--connect: the streams heard, each with the endpoint it came from, what it carries,
    and a rate only where there are enough messages (the 1 Hz witnesses show a count)."""
    result = kairos("tap", *mesh.connect, "--list", "--listen", "2.5", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["stream"]: r for r in map(json.loads, result.stdout.splitlines())}
    endpoints = mesh.endpoints
    expected = {
        "mic": "samples",
        "eng": "engine rows",
        "eng2": "engine rows",
        "mesh": "MeshState",
        **{f"{actor}/witness": "Witness" for actor in endpoints},
    }
    assert {s: r["type"] for s, r in rows.items()} == expected
    for stream, row in rows.items():
        assert row["endpoint"] == endpoints[stream.partition("/")[0]], stream
        assert row["messages"] > 0
    # published every 20, 50, 100 and 100 ms
    for stream, hz in (("mic", 50), ("eng", 20), ("eng2", 10), ("mesh", 10)):
        assert hz / 2 < rows[stream]["rate_hz"] < hz * 2, stream
    assert all(rows[f"{a}/witness"]["rate_hz"] is None for a in endpoints)  # 2-3 in 2.5 s
    text = kairos("tap", *mesh.connect, "--list", "--listen", "1.5")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["stream", "endpoint", "type", "rate", "Hz"]
    (witness,) = [line for line in lines if line.startswith("mic/witness")]
    assert witness.endswith("msgs") and endpoints["mic"] in witness


def test_list_with_a_topology_names_the_silent_streams(kairos, tmp_path, port: int) -> None:
    """With a topology, every stream its actors publish is listed, heard or not."""
    from pathlib import Path

    topology = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"
    text = tmp_path / "demo.yaml"
    text.write_text(topology.read_text().replace("base_port: 7800", f"base_port: {port}"))
    result = kairos("tap", str(text), "--list", "--listen", "0.3", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["stream"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["mesh/pulse"] == {
        "stream": "mesh/pulse",
        "actor": "mesh",
        "endpoint": f"tcp://127.0.0.1:{port + 5}",
        "type": "Pulse",
        "messages": 0,
        "rate_hz": None,
    }
    assert rows["coherent"]["type"] == "engine rows" and rows["osc-a"]["type"] == "samples"
    assert {r["type"] for s, r in rows.items() if s.endswith("/events")} == {"Event"}
    assert len(rows) == 18  # 8 witnesses, 3 sensors, 2 engines (+ events), sync (+ pulse, events)
