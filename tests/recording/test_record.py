"""``kairos record``: every frame as received, one channel per stream, clocks, SIGINT/SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import msgpack
import numpy as np
from mcap.exceptions import EndOfFile
from mcap.reader import make_reader
from mcap.stream_reader import StreamReader

from kairos import wire
from kairos.tools._recording import format as fmt


def _messages(path: Path) -> list:
    with path.open("rb") as file:
        reader = make_reader(file, validate_crcs=True)
        return list(reader.iter_messages(log_time_order=False))


def test_record_stores_every_frame_with_schema_and_clocks(
    mesh, kairos, synthetic, tmp_path: Path
) -> None:
    out = tmp_path / "run.mcap"
    result = kairos("record", *mesh.connect, "-o", str(out), "--duration", "2.5")
    assert result.returncode == 0, result.stderr

    with out.open("rb") as file:
        reader = make_reader(file, validate_crcs=True)
        summary = reader.get_summary()
        assert summary is not None  # finalised: summary and footer written
        topics = {c.topic for c in summary.channels.values()}
        assert {"mic", "eng", "eng2", "mesh", "eng/witness", "mesh/witness"} <= topics
        for channel in summary.channels.values():
            assert channel.message_encoding == fmt.MESSAGE_ENCODING
            schema = summary.schemas[channel.schema_id]
            assert schema.name == fmt.SCHEMA_NAME and b"sent_ns" in schema.data
        assert summary.statistics.chunk_count >= 2  # chunks close within 0.5 s
        assert {c.compression for c in summary.chunk_indexes} == {"lz4"}
    with out.open("rb") as file:
        metadata = list(make_reader(file).iter_metadata())
    names = [m.name for m in metadata]
    assert names.count(fmt.RECORDING_METADATA) == 1
    clocks = {m.metadata["device"]: m.metadata for m in metadata if m.name == fmt.CLOCK_METADATA}
    assert clocks["kitchen"]["clock_offset_ns"] == "123456"
    assert clocks["kitchen"]["clock_uncertainty_ns"] == "2500"

    last_seq: dict[str, int] = {}
    for _schema, channel, message in _messages(out):
        header, times, payload = fmt.unpack(message.data, channel.topic)
        decoded = wire.decode([channel.topic.encode(), header, times, payload])
        assert message.publish_time == decoded.sent_ns
        assert message.sequence == decoded.seq
        if channel.topic in last_seq:  # nothing lost between recorder and publisher
            assert decoded.seq == last_seq[channel.topic] + 1
        last_seq[channel.topic] = decoded.seq
        if channel.topic == "eng":
            assert np.array_equal(decoded.data, synthetic.engine_rows(decoded.seq, 4))
        if channel.topic == "mic":
            assert np.array_equal(decoded.data, decoded.seq + np.arange(8) / 8)
    assert last_seq["mic"] > 50


def test_stream_globs_select_channels(mesh, kairos, tmp_path: Path) -> None:
    out = tmp_path / "witness.mcap"
    args = ("record", *mesh.connect, "-o", str(out), "--duration", "1.5", "--streams", "*/witness")
    result = kairos(*args)
    assert result.returncode == 0, result.stderr
    topics = {channel.topic for _s, channel, _m in _messages(out)}
    assert topics and all(t.endswith("/witness") for t in topics)


def test_sigint_finalises_the_file(mesh, processes, kairos_cmd, tmp_path: Path) -> None:
    out = tmp_path / "int.mcap"
    proc = processes.start(kairos_cmd("record", *mesh.connect, "-o", str(out)))
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    with out.open("rb") as file:
        summary = make_reader(file).get_summary()
    assert summary is not None and summary.statistics.message_count > 0


def test_sigkill_leaves_a_file_readable_to_its_last_chunk(
    mesh, processes, kairos, kairos_cmd, tmp_path: Path
) -> None:
    out = tmp_path / "killed.mcap"
    proc = processes.start(
        kairos_cmd("record", *mesh.connect, "-o", str(out)), stderr=subprocess.DEVNULL
    )
    time.sleep(3.0)
    proc.kill()
    proc.wait(timeout=10)

    # the official streaming reader yields every record of every complete chunk (CRCs
    # checked), then reports the missing end of the file
    records = []
    with out.open("rb") as file:
        try:
            for record in StreamReader(file, validate_crcs=True).records:
                records.append(record)
        except EndOfFile:
            pass
    messages = [r for r in records if type(r).__name__ == "Message"]
    assert len(messages) > 50
    span_s = (messages[-1].log_time - messages[0].log_time) / 1e9
    assert span_s >= 1.0  # at most the open chunk (≤ 0.5 s) was lost

    refused = kairos("record", "info", str(out))
    assert refused.returncode == 1
    assert "truncated" in refused.stderr and "Traceback" not in refused.stderr
    accepted = kairos("record", "info", str(out), "--allow-truncated", "--json")
    assert accepted.returncode == 0, accepted.stderr
    assert '"truncated": true' in accepted.stdout


def test_info_reports_streams_counts_rates_and_clocks(mesh, kairos, tmp_path: Path) -> None:
    import json

    out = tmp_path / "info.mcap"
    assert kairos("record", *mesh.connect, "-o", str(out), "--duration", "2.5").returncode == 0
    result = kairos("record", "info", str(out), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    counted: dict[str, int] = {}
    for _s, channel, _m in _messages(out):
        counted[channel.topic] = counted.get(channel.topic, 0) + 1
    assert {k: v["messages"] for k, v in info["streams"].items()} == counted
    assert info["messages"] == sum(counted.values())
    assert 1.5 < info["duration_s"] < 4.0
    assert 10 < info["streams"]["mic"]["rate_hz"] < 100  # published at 50 Hz
    assert info["streams"]["mic"]["gaps"] == 0
    assert info["clocks"]["desk"]["clock_offset_ns"] == -7000
    text = kairos("record", "info", str(out))
    assert text.returncode == 0 and "mic" in text.stdout and "kitchen" in text.stdout
    assert max(len(line) for line in text.stdout.splitlines()[1:]) <= 80  # after the path


def test_info_counts_gaps_and_restarts(tmp_path: Path, kairos) -> None:
    from kairos.tools._recording.writer import RecordingWriter, recording_info

    out = tmp_path / "gaps.mcap"
    writer = RecordingWriter(out, recording_info(None, {}, 0, "test"))
    # 2 lost in epoch 1; epoch 2 recorded from seq 2 (2 lost), then 1 lost
    for log_time, (epoch, seq) in enumerate([(1, 0), (1, 1), (1, 4), (2, 2), (2, 3), (2, 5)]):
        frames = wire.encode("s", seq, epoch, log_time, [log_time], np.zeros(1))
        writer.add("s", [bytes(f) for f in frames[1:]], log_time * 10**9, log_time, seq)
    writer.close()
    result = kairos("record", "info", str(out), "--json")
    assert result.returncode == 0, result.stderr
    stream = __import__("json").loads(result.stdout)["streams"]["s"]
    assert (stream["messages"], stream["gaps"], stream["restarts"]) == (6, 5, 1)
    header = msgpack.unpackb(bytes(frames[1]))
    assert header["seq"] == 5


def test_info_shows_a_burst_as_its_count_not_a_rate(tmp_path: Path, kairos) -> None:
    """3 events at one instant once read as 104 504 Hz: a rate needs enough messages over a
    long enough span (streams.steady_rate); a 1 Hz stream over 5 s has one."""
    import json

    from kairos.records import Event
    from kairos.tools._recording.writer import RecordingWriter, recording_info
    from kairos.tools._tap.streams import RATE_MIN_MESSAGES

    out = tmp_path / "burst.mcap"
    writer = RecordingWriter(out, recording_info(None, {}, 0, "test"))
    t0 = 10**18
    for seq in range(3):  # 3 events within 30 µs
        event = Event.degraded(True, "future_stamps", t0).encode()
        frames = wire.encode("eng/events", seq, 1, t0, [t0], event)
        writer.add("eng/events", [bytes(f) for f in frames[1:]], t0 + seq * 10_000, t0, seq)
    for seq in range(6):  # once a second for 5 s
        t = t0 + seq * 10**9
        frames = wire.encode("s", seq, 1, t, [t], np.zeros(1))
        writer.add("s", [bytes(f) for f in frames[1:]], t, t, seq)
    writer.close()
    result = kairos("record", "info", str(out), "--json")
    assert result.returncode == 0, result.stderr
    streams = json.loads(result.stdout)["streams"]
    assert streams["eng/events"]["messages"] == 3 and streams["eng/events"]["rate_hz"] is None
    assert streams["s"]["rate_hz"] == 1.0 and RATE_MIN_MESSAGES <= 6
    text = kairos("record", "info", str(out)).stdout
    (events,) = [line for line in text.splitlines() if line.startswith("eng/events")]
    assert events.split()[1:3] == ["3", "3"] and "msgs" in events and "Hz" not in events
    (steady,) = [line for line in text.splitlines() if line.startswith("s ")]
    assert steady.split()[2] == "1.00"
