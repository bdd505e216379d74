"""The log, jsonl, csv, display and motor outputs write exactly what they promise."""

from __future__ import annotations

import colorsys
import csv
import json
import os
import re

import pytest
from structlog.testing import capture_logs

from kairos.actors.adapters import output_adapter
from kairos.errors import AdapterError

STATES = [  # (t_ns, coherence, phase)
    (1_000_000_000, 0.9, 0.25),
    (1_100_000_000, 0.5, -3.0),
    (1_200_000_000, 0.0, 0.0),
]


def feed(adapter, make_state, active_last: bool = True):
    states = [
        make_state(t, c, p, active=(active_last and k == len(STATES) - 1))
        for k, (t, c, p) in enumerate(STATES)
    ]
    for state in states:
        adapter.write(state)
    return states


def expected_record(state) -> dict:
    return {
        "t_ns": state.t_ns,
        "source": state.source,
        "coherence": state.coherence,
        "phase": state.phase,
        "re": state.phasor.real,
        "im": state.phasor.imag,
        "active": state.active,
    }


def test_log_writes_one_line_per_update(context, make_state):
    with capture_logs() as logs:
        adapter = output_adapter("log")({"level": "warning"}, context)
        states = feed(adapter, make_state)
        adapter.close()
    assert len(logs) == 3
    for entry, state in zip(logs, states, strict=True):
        assert entry["log_level"] == "warning"
        assert entry["actor"] == "probe"
        assert entry["coherence"] == pytest.approx(state.coherence)
        assert entry["phase"] == pytest.approx(state.phase)
        assert entry["re"] == pytest.approx(state.phasor.real, abs=1e-6)
        assert entry["im"] == pytest.approx(state.phasor.imag, abs=1e-6)
        assert entry["active"] is state.active


def test_jsonl_appends_parseable_records(context, make_state, tmp_path):
    adapter = output_adapter("jsonl")({"path": "out/mesh.jsonl"}, context)
    states = feed(adapter, make_state)
    # line-buffered: readable before close
    assert len((tmp_path / "out" / "mesh.jsonl").read_text().splitlines()) == 3
    adapter.close()
    again = output_adapter("jsonl")({"path": str(tmp_path / "out" / "mesh.jsonl")}, context)
    again.write(states[0])
    again.close()
    lines = (tmp_path / "out" / "mesh.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records == [expected_record(s) for s in [*states, states[0]]]


def test_jsonl_defaults_to_the_actor_name(context, make_state, tmp_path):
    adapter = output_adapter("jsonl")({}, context)
    adapter.write(make_state(5))
    adapter.close()
    assert json.loads((tmp_path / "probe.jsonl").read_text())["t_ns"] == 5


def test_csv_has_one_header_and_a_row_per_update(context, make_state, tmp_path):
    adapter = output_adapter("csv")({"path": "mesh.csv"}, context)
    states = feed(adapter, make_state)
    adapter.close()
    adapter = output_adapter("csv")({"path": "mesh.csv"}, context)  # appends, no 2nd header
    adapter.write(states[1])
    adapter.close()
    with (tmp_path / "mesh.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    for row, state in zip(rows, [*states, states[1]], strict=True):
        want = expected_record(state)
        assert int(row["t_ns"]) == want["t_ns"]
        assert row["source"] == want["source"]
        for key in ("coherence", "phase", "re", "im"):
            assert float(row[key]) == want[key]
        assert row["active"] == str(int(want["active"]))


ANSI = re.compile(r"^\x1b\[48;2;(\d+);(\d+);(\d+)m( +)\x1b\[0m hue +([\d.]+)° brightness ([\d.]+)$")


def expected_colour(re_part: float, coherence: float):
    hue = (360.0 * re_part) % 360.0
    rgb = colorsys.hsv_to_rgb(hue / 360.0, 1.0, coherence)
    return hue, [round(v * 255) for v in rgb]


@pytest.mark.parametrize("re_part", [0.0, 0.25, 0.5, -0.25, 1.0])
def test_display_json_colour(context, make_state, tmp_path, re_part):
    adapter = output_adapter("display")({"mode": "json", "path": "led.jsonl"}, context)
    adapter.write(make_state(7, 0.6, 0.0, phasor=complex(re_part, 0.1)))
    adapter.close()
    record = json.loads((tmp_path / "led.jsonl").read_text())
    hue, rgb = expected_colour(re_part, 0.6)
    assert record == {"t_ns": 7, "hue": pytest.approx(hue), "brightness": 0.6, "rgb": rgb}


def test_display_json_known_colours(context, make_state, tmp_path):
    adapter = output_adapter("display")({"mode": "json", "path": "led.jsonl"}, context)
    adapter.write(make_state(1, 1.0, 0.0, phasor=complex(0.0, 0.0)))  # hue 0: red
    adapter.write(make_state(2, 1.0, 0.0, phasor=complex(0.5, 0.0)))  # hue 180: cyan
    adapter.write(make_state(3, 0.0, 0.0, phasor=complex(0.5, 0.0)))  # no coherence: black
    adapter.close()
    rgbs = [json.loads(x)["rgb"] for x in (tmp_path / "led.jsonl").read_text().splitlines()]
    assert rgbs == [[255, 0, 0], [0, 255, 255], [0, 0, 0]]


def test_display_terminal_swatch_to_a_file(context, make_state, tmp_path):
    adapter = output_adapter("display")({"path": "tty.txt", "width": 4}, context)
    states = feed(adapter, make_state)
    adapter.close()
    lines = (tmp_path / "tty.txt").read_text().splitlines()
    assert len(lines) == 3
    for line, state in zip(lines, states, strict=True):
        match = ANSI.match(line)
        assert match, repr(line)
        hue, rgb = expected_colour(state.phasor.real, state.coherence)
        assert [int(v) for v in match.group(1, 2, 3)] == rgb
        assert len(match.group(4)) == 4
        assert float(match.group(5)) == pytest.approx(hue, abs=0.05)
        assert float(match.group(6)) == pytest.approx(state.coherence, abs=5e-4)


def test_display_terminal_to_stdout(context, make_state, capsys):
    adapter = output_adapter("display")({}, context)
    adapter.write(make_state(1, 1.0, 0.0, phasor=complex(0.0, 0.0)))
    adapter.close()
    assert capsys.readouterr().out.startswith("\x1b[48;2;255;0;0m        \x1b[0m hue")


def test_motor_commands(context, make_state, tmp_path):
    params = {"path": "motor.jsonl", "max_speed": 2.0, "max_rotation": 0.5}
    adapter = output_adapter("motor")(params, context)
    states = feed(adapter, make_state)
    adapter.close()
    commands = [json.loads(x) for x in (tmp_path / "motor.jsonl").read_text().splitlines()]
    assert commands == [
        {
            "t_ns": s.t_ns,
            "velocity": pytest.approx(2.0 * s.phasor.real),
            "rotation": pytest.approx(0.5 * s.phasor.imag),
        }
        for s in states
    ]
    # write mode truncates what was there
    adapter = output_adapter("motor")({**params, "mode": "write"}, context)
    adapter.write(states[0])
    adapter.close()
    assert len((tmp_path / "motor.jsonl").read_text().splitlines()) == 1


def test_motor_to_a_device_never_blocks(context, make_state, tmp_path):
    fifo = tmp_path / "motor.fifo"
    os.mkfifo(fifo)
    with pytest.raises(AdapterError, match="cannot open"):  # no controller listening
        output_adapter("motor")({"path": str(fifo)}, context)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        adapter = output_adapter("motor")({"path": str(fifo)}, context)
        adapter.write(make_state(1, 1.0, 0.0, phasor=complex(0.5, -0.5)))
        assert json.loads(os.read(reader, 4096)) == {"t_ns": 1, "velocity": 0.5, "rotation": -0.5}
        # a controller that stops reading: the pipe fills, writes still return at once
        for k in range(20_000):
            adapter.write(make_state(k, 1.0, 0.0))
        assert adapter.dropped > 0
        adapter.close()
        # what was written is whole lines, in order
        data = b""
        while chunk := os.read(reader, 1 << 16):
            data += chunk
        lines = data.decode().splitlines()
        times = [json.loads(line)["t_ns"] for line in lines]
        assert times == sorted(times) and times[0] == 0
    finally:
        os.close(reader)
