"""Wire format v1: round trips and malformed frames (each raises WireError, nothing else)."""

from __future__ import annotations

import contextlib

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kairos import wire
from kairos.errors import WireError

DTYPES = ["<f8", "<f4", "<c16", "<c8", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1"]


def _bytes(frames):
    return [bytes(f) for f in frames]


@settings(derandomize=True, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(DTYPES),
    rows=st.integers(0, 40),
    cols=st.integers(1, 4),
    two_d=st.booleans(),
    seq=st.integers(0, 2**64 - 1),
    epoch=st.integers(-(2**63), 2**63 - 1),
    stream=st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s),
    data=st.data(),
)
def test_arrays_round_trip(dtype, rows, cols, two_d, seq, epoch, stream, data):
    shape = (rows, cols) if two_d else (rows,)
    array = data.draw(hnp.arrays(np.dtype(dtype), shape))
    times = data.draw(hnp.arrays(np.int64, rows))
    fields = tuple(f"c{i}" for i in range(cols)) if two_d else ()
    frames = wire.encode(stream, seq, epoch, 7, times, array, fields)
    message = wire.decode(_bytes(frames))
    assert message.stream == stream
    assert (message.seq, message.epoch, message.sent_ns) == (seq, epoch, 7)
    assert message.data.dtype == np.dtype(dtype)
    assert message.data.tobytes() == np.ascontiguousarray(array).tobytes()
    assert message.times.tolist() == times.tolist()
    assert message.fields == fields


@settings(derandomize=True, max_examples=80)
@given(
    record=st.dictionaries(
        st.text(max_size=10),
        st.one_of(
            st.integers(-(2**63), 2**63 - 1),
            st.floats(allow_nan=False),
            st.text(),
            st.booleans(),
            st.none(),
            st.lists(st.integers(0, 9), max_size=5),
        ),
        max_size=8,
    )
)
def test_records_round_trip(record):
    message = wire.decode(_bytes(wire.encode("s/witness", 1, 2, 3, [5], record)))
    assert message.is_record
    assert message.data == record


def test_big_endian_input_is_sent_little_endian():
    array = np.arange(4, dtype=">f8")
    message = wire.decode(_bytes(wire.encode("s", 0, 0, 0, np.arange(4), array)))
    assert message.data.dtype.str == "<f8"
    assert message.data.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_array_payload_is_sent_without_copy():
    array = np.arange(1000, dtype=np.float64)
    payload = wire.encode("s", 0, 0, 0, np.arange(1000), array)[3]
    assert np.shares_memory(np.frombuffer(memoryview(payload), dtype=np.float64), array)


def test_encode_refuses_mismatched_times():
    with pytest.raises(WireError, match="time stamps"):
        wire.encode("s", 0, 0, 0, [1, 2], np.zeros(3))


def _good():
    return _bytes(wire.encode("s", 3, 4, 5, [10, 20], np.array([1.0, 2.0])))


def _with_header(**changes):
    frames = _good()
    header = msgpack.unpackb(frames[1])
    for key, value in changes.items():
        if value is ...:
            del header[key]
        else:
            header[key] = value
    frames[1] = msgpack.packb(header)
    return frames


MALFORMED = {
    "three frames": _good()[:3],
    "five frames": [*_good(), b""],
    "header not msgpack": [b"s", b"\xc1\xc1", _good()[2], _good()[3]],
    "header not a map": [b"s", msgpack.packb([1, 2]), _good()[2], _good()[3]],
    "missing seq": _with_header(seq=...),
    "wrong version": _with_header(version=2),
    "stream not text": _with_header(stream=5),
    "empty stream": _with_header(stream=""),
    "seq not int": _with_header(seq="1"),
    "seq negative": _with_header(seq=-1),
    "epoch too big": _with_header(epoch=2**63),
    "dtype unknown": _with_header(dtype="object"),
    "dtype big-endian": _with_header(dtype=">f8"),
    "shape not list": _with_header(shape=2),
    "shape negative": _with_header(shape=[-2]),
    "shape too deep": _with_header(shape=[1, 1, 1, 1, 2]),
    "fields wrong count": _with_header(fields=["a", "b", "c"]),
    "fields not names": _with_header(fields=[1]),
    "extra not map": _with_header(extra=[1]),
    "topic mismatch": [b"t", *_good()[1:]],
    "topic not utf8": [b"\xff", *_good()[1:]],
    "times short": [*_good()[:2], b"\x00" * 8, _good()[3]],
    "payload short": [*_good()[:3], b"\x00" * 15],
    "record not msgpack": [*_bytes(wire.encode("s", 0, 0, 0, [1], {"a": 1}))[:3], b"\xc1"],
    "record not map": [*_bytes(wire.encode("s", 0, 0, 0, [1], {"a": 1}))[:3], msgpack.packb([1])],
    "oversize header": [b"s", b"\x00" * 5000, _good()[2], _good()[3]],
    "not bytes": ["s", *_good()[1:]],
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_frames_raise_wire_error(case):
    with pytest.raises(WireError):
        wire.decode(MALFORMED[case])


def test_oversize_payload_is_refused():
    frames = _bytes(wire.encode("s", 0, 0, 0, np.arange(100), np.zeros(100)))
    with pytest.raises(WireError, match="exceeds"):
        wire.decode(frames, max_payload=100)


@settings(derandomize=True, max_examples=300)
@given(st.lists(st.binary(max_size=64), min_size=0, max_size=6))
def test_random_bytes_only_ever_raise_wire_error(frames):
    with contextlib.suppress(WireError):
        wire.decode(frames)


def test_zmq_frames_decode(port):
    """What a SUB socket really hands over (zmq.Frame objects, copy=False) decodes."""
    import zmq

    ctx = zmq.Context()
    try:
        pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
        pub.bind(f"tcp://127.0.0.1:{port}")
        sub.connect(f"tcp://127.0.0.1:{port}")
        sub.setsockopt(zmq.SUBSCRIBE, b"s")
        frames = wire.encode("s", 1, 2, 3, [4, 5], np.array([1.5, 2.5]))
        for _ in range(100):  # slow joiner: resend until the subscription is in place
            pub.send_multipart(frames, copy=False)
            if sub.poll(50):
                break
        message = wire.decode(sub.recv_multipart(copy=False))
        assert message.data.tolist() == [1.5, 2.5]
    finally:
        ctx.destroy(linger=0)
