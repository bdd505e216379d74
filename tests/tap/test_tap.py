"""``kairos tap``: the snapshot's values equal what was published; echo, hz, bw; 80 columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kairos import wire
from kairos.actors.engine import ENGINE_FIELDS
from kairos.tools._tap.state import MESH_KEYS, NODE_KEYS, MeshView

ENGINE_CHUNKS = {"eng": 4, "eng2": 2}


def test_once_json_has_every_key_with_published_values(mesh, kairos, synthetic) -> None:
    result = kairos("tap", *mesh.connect, "--once", "--json", "--timeout", "20")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    nodes = {r["node"]: r for r in records if r["node"] != "mesh"}
    meshes = [r for r in records if r["node"] == "mesh"]
    assert set(nodes) == {"eng", "eng2"} and len(meshes) == 1
    for name, record in nodes.items():
        assert set(NODE_KEYS) <= set(record)
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


def test_view_fits_80_columns_on_a_dumb_terminal(mesh, processes, kairos_cmd) -> None:
    env = {**os.environ, "TERM": "dumb", "COLUMNS": "80", "LINES": "24"}
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
    assert max(len(line) for line in lines) <= 80
    assert "\x1b[" not in out  # no cursor movement or colour on a dumb terminal


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
    assert view.complete()


def test_tap_needs_a_source(kairos) -> None:
    result = kairos("tap", "--once")
    assert result.returncode == 1 and "nothing to listen to" in result.stderr


def test_tap_is_importable_without_rich_side_effects() -> None:
    code = "import kairos.tools.tap, sys; print('rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # heavy imports happen in run(), not at import
