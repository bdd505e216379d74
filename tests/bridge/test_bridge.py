"""``kairos bridge foxglove`` read by Foxglove's own client, ``kairos record export`` read by
the official MCAP readers, and ``kairos plot``: all on one launched demo (conftest)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest
from mcap.decoder import DecoderFactory
from mcap.reader import make_reader
from synthetic_mesh import kairos_argv as kairos

from kairos import wire
from kairos.actors.engine import ENGINE_FIELDS
from kairos.client import load_topology
from kairos.jsonview import MESSAGE_ENCODING, SCHEMA_ENCODING
from kairos.tools._recording import format as fmt
from kairos.tools._recording.export import CSV_LEAD, csv_name
from kairos.tools._recording.reader import read
from kairos.tools._tap.catalog import stream_schema
from kairos.tools._tap.state import MESH_KEYS
from kairos.tools.bridge import served_streams

#: the engine values ``kairos tap --json`` shows as published
ROW_KEYS = tuple(f for f in ENGINE_FIELDS if not f.startswith(("collapsed", "tsync", "delta")))
#: ``kairos tap --json`` key -> witness key
WITNESS_KEYS = {
    "rate_hz": "rate_hz",
    "clock_offset_ns": "clock_offset_ns",
    "clock_uncertainty_ns": "clock_uncertainty_ns",
    "gaps": "gaps",
    "latency_ms": "latency_p50_ms",
}


def _client(run) -> tuple[list[dict], dict[str, list[dict]]]:
    """The channels the Node client was advertised, and its messages by topic."""
    lines = [json.loads(line) for line in run.client_lines]
    advertised = lines[0]["advertised"]
    assert lines[-1] == {"done": len(lines) - 2}
    messages: dict[str, list[dict]] = defaultdict(list)
    for line in lines[1:-1]:
        messages[line["topic"]].append(line)
    return advertised, messages


def _t_ns(body: dict) -> int:
    return body["timestamp"]["sec"] * 1_000_000_000 + body["timestamp"]["nsec"]


def test_bridge_advertises_every_stream_with_its_schema(demo_run) -> None:
    advertised, _ = _client(demo_run)
    served = {info.stream: info for info in served_streams(load_topology(demo_run.topology))}
    # 2 engines (rows, events, witness), the sync (state, pulse, events, witness), and the
    # witnesses of 3 sensors and 2 outputs
    assert len(served) == 2 * 3 + 4 + 5
    assert {c["topic"] for c in advertised} == set(served)
    for channel in advertised:
        info = served[channel["topic"]]
        name, schema = stream_schema(info)
        assert channel["encoding"] == MESSAGE_ENCODING, channel["topic"]
        assert channel["schemaEncoding"] == SCHEMA_ENCODING, channel["topic"]
        assert channel["schemaName"] == name
        assert json.loads(channel["schema"]) == schema
        jsonschema.Draft202012Validator.check_schema(schema)


def test_bridge_values_equal_the_tap_at_the_same_sequence_numbers(demo_run) -> None:
    advertised, messages = _client(demo_run)
    validators = {
        c["topic"]: jsonschema.Draft202012Validator(json.loads(c["schema"])) for c in advertised
    }
    # every message decodes, fits its channel's schema, and its log time is its sample time
    for topic, received in messages.items():
        for line in received:
            validators[topic].validate(line["data"])
            assert int(line["log_time"]) == _t_ns(line["data"]), topic
    # at least 5 s of the engines, the mesh and every witness
    for topic in ("coherent", "noisy", "mesh", "mesh/pulse"):
        stamps = [int(line["log_time"]) for line in messages[topic]]
        assert max(stamps) - min(stamps) >= 5e9, topic
    assert all(messages[f"{actor}/witness"] for actor in load_topology(demo_run.topology).actors)

    snapshot = [json.loads(line) for line in demo_run.tap_json.splitlines()]
    nodes = {r["node"]: r for r in snapshot if r["node"] != "mesh"}
    (mesh,) = [r for r in snapshot if r["node"] == "mesh"]
    assert set(nodes) == {"coherent", "noisy"}
    for name, node in nodes.items():
        rows = [
            line["data"] for line in messages[name] if line["data"]["wire"]["seq"] == node["seq"]
        ]
        assert rows, f"the client never got {name} seq {node['seq']}"
        last = max(rows, key=lambda row: row["wire"]["row"])  # the tap shows the last row
        assert _t_ns(last) == node["t_mesh_ns"]
        for key in ROW_KEYS:
            assert last[key] == node[key], (name, key)
        for window in ("fast", "slow", "pair"):
            assert bool(last[f"collapsed_{window}"]) == node[f"collapsed_{window}"]
        heard = [
            tuple(line["data"][k] for k in WITNESS_KEYS.values())
            for line in messages[f"{name}/witness"]
        ]
        assert tuple(node[k] for k in WITNESS_KEYS) in heard, name
    (state,) = [
        line["data"] for line in messages["mesh"] if line["data"]["wire"]["seq"] == mesh["seq"]
    ]
    assert _t_ns(state) == mesh["t_mesh_ns"]
    for key in MESH_KEYS:
        assert state[key] == mesh[key], key
    for name, node in nodes.items():
        assert state["nodes"][name]["delta_p"] == node["delta_p"]
        assert state["nodes"][name]["stale"] == node["stale"]


# -- export -----------------------------------------------------------------------------------


class JsonDecoders(DecoderFactory):
    """The decoder a reader of JSON MCAP files (Foxglove's conventions) brings: json."""

    def decoder_for(self, message_encoding, schema):
        if message_encoding == "json" and schema is not None and schema.encoding == "jsonschema":
            return lambda data: json.loads(data)
        return None


@pytest.fixture(scope="module")
def exported(demo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("export") / "run.json.mcap"
    result = subprocess.run(
        kairos("record", "export", str(demo_run.recording), "-o", str(out), "--format", "json"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    info = subprocess.run(
        kairos("record", "info", str(demo_run.recording), "--json"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert info.returncode == 0, info.stderr
    return out, json.loads(info.stdout)


def test_export_json_decodes_with_the_python_reader(demo_run, exported) -> None:
    out, info = exported
    counts: dict[str, int] = defaultdict(int)
    rows: dict[str, list[dict]] = defaultdict(list)
    validators = {}
    with out.open("rb") as handle:
        reader = make_reader(handle, decoder_factories=[JsonDecoders()])
        for schema, channel, message, decoded in reader.iter_decoded_messages(log_time_order=False):
            assert channel.message_encoding == "json" and schema.encoding == "jsonschema"
            if channel.topic not in validators:
                validators[channel.topic] = jsonschema.Draft202012Validator(json.loads(schema.data))
            validators[channel.topic].validate(decoded)
            assert message.log_time == _t_ns(decoded)
            counts[channel.topic] += 1
            if len(rows[channel.topic]) < 64:
                rows[channel.topic].append(decoded)
        metadata = {}
        for record in reader.iter_metadata():
            metadata.setdefault(record.name, []).append(record.metadata)
    # one JSON message per sample: `kairos record info` counts them (a record has one stamp)
    assert set(counts) == set(info["streams"])
    for stream, stats in info["streams"].items():
        assert counts[stream] == stats["samples"], stream
        if "/" in stream or stream == "mesh":
            assert counts[stream] == stats["messages"], stream
    assert sum(counts.values()) > 5_000
    # the recording's metadata, carried over
    with demo_run.recording.open("rb") as handle:
        original = [
            m.metadata
            for m in make_reader(handle).iter_metadata()
            if m.name == fmt.RECORDING_METADATA
        ]
    assert metadata[fmt.RECORDING_METADATA] == original
    assert len(metadata[fmt.CLOCK_METADATA]) >= 1
    # values: the first engine message's rows, as the raw recording holds them
    first = next(r for r in read(demo_run.recording) if r.stream == "coherent")
    raw = wire.decode([b"coherent", first.header, first.times, first.payload])
    for i, row in enumerate(raw.data[:8]):
        assert rows["coherent"][i]["wire"]["seq"] == raw.seq
        assert [rows["coherent"][i][f] for f in ENGINE_FIELDS] == row.tolist()


def test_export_json_decodes_with_the_typescript_reader(demo_run, exported) -> None:
    out, info = exported
    result = subprocess.run(
        [demo_run.node, str(demo_run.node_dir / "mcap_read.mjs"), str(out)],
        cwd=demo_run.node_dir, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    read_back = json.loads(result.stdout)
    assert read_back["done"] and read_back["undecodable"] == 0
    assert read_back["counts"] == {s: v["samples"] for s, v in info["streams"].items()}
    for topic, channel in read_back["channels"].items():
        assert channel["messageEncoding"] == "json" and channel["schemaEncoding"] == "jsonschema"
        jsonschema.validate(read_back["first"][topic]["data"], channel["schema"])
    names = {m["name"] for m in read_back["metadata"]}
    assert {fmt.RECORDING_METADATA, fmt.CLOCK_METADATA} <= names


def test_export_csv_writes_one_file_per_stream(demo_run, exported, tmp_path: Path) -> None:
    _, info = exported
    out = tmp_path / "csv"
    result = subprocess.run(
        kairos("record", "export", str(demo_run.recording), "-o", str(out), "--format", "csv"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(csv_name(s) for s in info["streams"])
    for stream, stats in info["streams"].items():
        with (out / csv_name(stream)).open(newline="") as handle:
            table = list(csv.DictReader(handle))
        assert len(table) == stats["samples"], stream
        assert tuple(table[0])[: len(CSV_LEAD)] == CSV_LEAD
    with (out / "coherent.csv").open(newline="") as handle:
        first = next(csv.DictReader(handle))
    raw = next(r for r in read(demo_run.recording) if r.stream == "coherent")
    message = wire.decode([b"coherent", raw.header, raw.times, raw.payload])
    assert int(first["t_ns"]) == int(message.times[0]) and int(first["seq"]) == message.seq
    assert [float(first[f]) for f in ENGINE_FIELDS] == message.data[0].tolist()
    with (out / "mesh.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert "nodes.coherent.coherence" in header and "global_coherence" in header


def test_export_refuses_bad_arguments(demo_run) -> None:
    same = subprocess.run(
        kairos("record", "export", str(demo_run.recording), "-o", str(demo_run.recording),
               "--format", "json"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert same.returncode == 1 and "would overwrite the recording" in same.stderr
    no_format = subprocess.run(
        kairos("record", "export", str(demo_run.recording), "-o", "x.mcap"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert no_format.returncode == 2 and "--format json|csv" in no_format.stderr


# -- plot -----------------------------------------------------------------------------------------


def _drawn(ax) -> int:
    """The most data points of any curve of a panel (axhline's 2 points are not data)."""
    return max((len(line.get_xdata()) for line in ax.get_lines()), default=0)


def test_plot_has_data_in_every_panel(demo_run, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from kairos.tools.plot import build_figure

    figure = build_figure(demo_run.recording)
    axes = figure.get_axes()
    titles = [ax.get_title(loc="left") for ax in axes]
    assert titles == ["node coherent", "node noisy", "mesh", "device clocks to mesh time"]
    for ax in axes:
        assert _drawn(ax) >= 3, ax.get_title(loc="left")  # the clocks: one point a second
        assert ax.get_ylabel() and ax.get_legend() is not None
    # node panels: three curves of ~800 rows a second; the thresholds drawn
    for ax in axes[:2]:
        assert len(ax.get_lines()) == 4 and _drawn(ax) > 1000
    assert any(t.get_text() == "emergence 0.75" for t in axes[2].get_legend().get_texts())
    assert axes[-1].get_xlabel() == "time since the first sample (s)"

    picked = build_figure(demo_run.recording, 1.0, 3.0, ["noisy"])
    assert next(ax.get_title(loc="left") for ax in picked.get_axes()) == "node noisy"
    assert len(picked.get_axes()) == 3
    assert picked.get_axes()[0].get_xlim() == (1.0, 3.0)
    xs = picked.get_axes()[0].get_lines()[0].get_xdata()
    assert min(xs) >= 1.0 and max(xs) <= 3.0

    png = tmp_path / "run.png"
    result = subprocess.run(
        kairos("plot", str(demo_run.recording), "-o", str(png)),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 30_000 < png.stat().st_size < 300_000
    unknown = subprocess.run(
        kairos("plot", str(demo_run.recording), "-o", str(png), "--nodes", "nope"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unknown.returncode == 1 and "nope not in" in unknown.stderr
    assert "coherent, noisy" in unknown.stderr


def test_bridge_refuses_a_port_out_of_range(demo_run) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kairos.tools.cli", "bridge", "foxglove", str(demo_run.topology),
         "--port", "70000"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "not a port number" in result.stderr
