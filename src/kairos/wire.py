"""Wire format v1: how one data-plane message is laid out in ZeroMQ frames.

A message is four frames (see docs/wire.md for the byte-level contract)::

    [topic, header, times, payload]

* ``topic``: the stream name, UTF-8 (what SUB sockets filter on);
* ``header``: a msgpack map (version, stream, seq, epoch, sent_ns, dtype, shape, fields);
* ``times``: little-endian int64 mesh-time nanoseconds, one per sample (``shape[0]``);
* ``payload``: the raw little-endian array bytes, or a msgpack map when ``dtype`` is
  ``"msgpack"`` (records: witness, mesh state, events).

Decoding never trusts the sender: every inconsistency raises :class:`~kairos.errors.WireError`
and nothing else, so a receiver can drop and count a bad frame with one ``except``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import msgpack
import numpy as np

from kairos.errors import WireError

WIRE_VERSION = 1
RECORD_DTYPE = "msgpack"
#: Largest payload a receiver accepts by default (bytes); bigger frames are refused.
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
MAX_HEADER_BYTES = 4096
MAX_STREAM_NAME = 200
#: SUB prefix a topology consumer subscribes to besides its streams, so that a publisher
#: waiting for its consumers tells them from taps, recorders and the launcher, which
#: subscribe to the same streams.  No stream name starts with NUL, so it never matches data.
CONSUMER_MARK = b"\x00consumer:"
#: Element types allowed on the wire (little-endian or byte-sized only).
ALLOWED_DTYPES = frozenset(
    {"<f8", "<f4", "<c16", "<c8", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"}
)
_HEADER_KEYS = ("version", "stream", "seq", "epoch", "sent_ns", "dtype", "shape")
_HEADER_KEY_SET = frozenset(_HEADER_KEYS)
#: parsed once: building a dtype from its string on every message is measurable
_DTYPES = {text: np.dtype(text) for text in ALLOWED_DTYPES}
_INT64 = np.dtype("<i8")
#: the ``extra`` of every message that has none (shared: one dict less per message)
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})
_pack = msgpack.Packer(use_bin_type=True).pack
#: the packed header keys between the numbers an encode fills in
_KEY_SEQ, _KEY_EPOCH, _KEY_SENT = (_pack(key) for key in ("seq", "epoch", "sent_ns"))
#: an array header is these parts: packed once per stream (the start, up to the ``seq`` key)
#: and per (dtype, shape, fields) (the end), so an encode packs only its three numbers.  The
#: bytes are those msgpack.packb gives for the whole map; ~1 µs less per message.
_HEADER_STARTS: dict[str, bytes] = {}
_HEADER_ENDS: dict[tuple[str, tuple[int, ...], tuple[str, ...]], bytes] = {}
#: field lists seen, each checked once and then shared by every message that names it (a
#: sync hears 13 engine fields 10 000 times a second: checking them was ~1 µs a message)
_FIELDS: dict[tuple[str, ...], tuple[str, ...]] = {}
#: the caches are cleared when they grow past this (streams with ever-changing shapes)
_HEADER_CACHE_SIZE = 256


@dataclass(slots=True)
class Message:
    """One decoded data-plane message (treat it as read-only).

    ``data`` is a read-only NumPy array of ``shape`` (samples first) for array messages, or
    a dict for records.  ``times`` holds one mesh-time stamp per sample.  (Not a frozen
    dataclass: building one is on every receiver's hot path and freezing costs 5×.)
    """

    stream: str
    seq: int
    epoch: int
    sent_ns: int
    times: np.ndarray
    data: Any
    fields: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: mesh time at which a receiver decoded it (set by the actor runtime; 0 otherwise)
    received_ns: int = 0

    @property
    def is_record(self) -> bool:
        return isinstance(self.data, dict)

    def column(self, name: str) -> np.ndarray:
        """The column called ``name`` of a 2-D message with named fields."""
        try:
            index = self.fields.index(name)
        except ValueError:
            raise KeyError(f"stream {self.stream!r} has no field {name!r}") from None
        return self.data[:, index]


def consumer_subscription(consumer: str) -> bytes:
    """The subscription by which actor ``consumer`` announces itself to a publisher."""
    return CONSUMER_MARK + consumer.encode()


def encode(
    stream: str,
    seq: int,
    epoch: int,
    sent_ns: int,
    times: np.ndarray | Sequence[int],
    data: np.ndarray | Mapping[str, Any] | PackedRecord,
    fields: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Build the frames of one message; arrays go out as themselves (no copy)."""
    stamps = _contiguous(times, _INT64)
    if isinstance(data, (Mapping, PackedRecord)):
        header: dict[str, Any] = _header(stream, seq, epoch, sent_ns)
        header["dtype"] = RECORD_DTYPE
        header["shape"] = [len(stamps)]
        payload: Any = (
            data.payload
            if isinstance(data, PackedRecord)
            else msgpack.packb(dict(data), use_bin_type=True)
        )
        packed = _pack_header(header, fields, extra)
        return [stream.encode(), packed, stamps, payload]
    payload = _contiguous(data, None)
    dtype = payload.dtype.str
    if dtype not in ALLOWED_DTYPES:
        if dtype[0] != ">":
            raise WireError(f"stream {stream!r}: dtype {dtype} cannot be sent")
        payload = payload.astype(payload.dtype.newbyteorder("<"))
        dtype = payload.dtype.str
    if payload.ndim == 0 or payload.shape[0] != len(stamps):
        raise WireError(
            f"stream {stream!r}: {len(stamps)} time stamps for data of shape {payload.shape}"
        )
    if extra:
        header = _header(stream, seq, epoch, sent_ns)
        header["dtype"] = dtype
        header["shape"] = list(payload.shape)
        return [stream.encode(), _pack_header(header, fields, extra), stamps, payload]
    header_bytes = _array_header(stream, seq, epoch, sent_ns, dtype, payload.shape, fields)
    return [stream.encode(), header_bytes, stamps, payload]


def _header(stream: str, seq: int, epoch: int, sent_ns: int) -> dict[str, Any]:
    return {
        "version": WIRE_VERSION,
        "stream": stream,
        "seq": int(seq),
        "epoch": int(epoch),
        "sent_ns": int(sent_ns),
    }


def _pack_header(
    header: dict[str, Any], fields: Sequence[str], extra: Mapping[str, Any] | None
) -> bytes:
    if fields:
        header["fields"] = list(fields)
    if extra:
        header["extra"] = dict(extra)
    return msgpack.packb(header, use_bin_type=True)


def _array_header(
    stream: str,
    seq: int,
    epoch: int,
    sent_ns: int,
    dtype: str,
    shape: tuple[int, ...],
    fields: Sequence[str],
) -> bytes:
    """The packed header of an array message without ``extra``: byte for byte what
    ``msgpack.packb`` makes of the map :func:`_header` starts, from cached parts."""
    start = _header_start(stream)
    key = (dtype, shape, tuple(fields))
    end = _HEADER_ENDS.get(key)
    if end is None:
        if len(_HEADER_ENDS) >= _HEADER_CACHE_SIZE:
            _HEADER_ENDS.clear()
        end = _pack("dtype") + _pack(dtype) + _pack("shape") + _pack(list(shape))
        if fields:
            end += _pack("fields") + _pack(list(fields))
        _HEADER_ENDS[key] = end
    size = b"\x88" if fields else b"\x87"  # a fixmap of 8 or 7 keys
    return b"".join(
        (
            size,
            start,
            _pack(int(seq)),
            _KEY_EPOCH,
            _pack(int(epoch)),
            _KEY_SENT,
            _pack(int(sent_ns)),
            end,
        )
    )


@dataclass(frozen=True, slots=True)
class HeaderTemplate:
    """The packed header of every 2-D array message of one stream, layout and fields fixed,
    as the bytes around its four numbers: ``start`` seq ``KEY_EPOCH`` epoch ``KEY_SENT``
    sent_ns ``mid`` rows ``tail``.  What :func:`encode` sends, so a receiver that has
    decoded one such message can check the next ones by comparing bytes
    (kairos.actors._rows): a header that differs in any other byte is decoded in full."""

    start: bytes
    mid: bytes
    tail: bytes
    width: int


#: the packed keys between a header's numbers, for :class:`HeaderTemplate`
KEY_EPOCH, KEY_SENT = _KEY_EPOCH, _KEY_SENT


def header_template(stream: str, dtype: str, width: int, fields: Sequence[str]) -> HeaderTemplate:
    """The :class:`HeaderTemplate` of ``stream``'s messages of ``width`` named ``fields``."""
    start = (b"\x88" if fields else b"\x87") + _header_start(stream)
    mid = _pack("dtype") + _pack(dtype) + _pack("shape") + b"\x92"  # a fixarray of 2 sizes
    tail = _pack(width) + (_pack("fields") + _pack(list(fields)) if fields else b"")
    return HeaderTemplate(start, mid, tail, width)


@dataclass(frozen=True, slots=True)
class PackedRecord:
    """A record payload already packed as a msgpack map: sent as :func:`encode` sends a
    record (dtype ``msgpack``), for a record too big to build as Python objects each time
    (a sync's mesh state of 1 000 nodes: 6.8 ms as NodeState objects, dict and packb)."""

    payload: bytes

    def decode(self) -> dict[str, Any]:
        """The record as the map a receiver decodes (for in-process readers: tests)."""
        return _decode_record(self.payload, "packed record")


def _header_start(stream: str) -> bytes:
    """The packed start of an array header, up to the ``seq`` key (cached per stream)."""
    start = _HEADER_STARTS.get(stream)
    if start is None:
        if len(_HEADER_STARTS) >= _HEADER_CACHE_SIZE:
            _HEADER_STARTS.clear()
        # 7 keys, or 8 with fields: the map's size byte is the first of the packed start
        start = _pack("version") + _pack(WIRE_VERSION) + _pack("stream") + _pack(stream) + _KEY_SEQ
        _HEADER_STARTS[stream] = start
    return start


def _contiguous(values: Any, dtype: np.dtype | None) -> np.ndarray:
    """``values`` as a C-contiguous array (of ``dtype``), without a copy when it already is."""
    if (
        type(values) is np.ndarray
        and values.flags.c_contiguous
        and (dtype is None or values.dtype == dtype)
    ):
        return values
    return np.ascontiguousarray(values, dtype=dtype)


def decode(
    frames: Sequence[bytes | memoryview | Any], max_payload: int = MAX_PAYLOAD_BYTES
) -> Message:
    """Decode the frames of one message, or raise :class:`WireError` saying what is wrong."""
    if len(frames) != 4:
        raise WireError(f"expected 4 frames, got {len(frames)}")
    topic, raw_header, raw_times, payload = frames
    if type(raw_header) is not bytes:  # zmq.Frame or memoryview: the slower, general path
        topic, raw_header, raw_times, payload = (_as_bytes(f) for f in frames)
    header = _decode_header(raw_header)
    stream = header["stream"]
    if topic != stream.encode():
        raise WireError(f"topic {topic!r} does not match header stream {stream!r}")
    shape = header["shape"]
    samples = shape[0]
    if len(raw_times) != samples * 8:
        raise WireError(
            f"stream {stream!r}: times frame has {len(raw_times)} bytes, expected {samples * 8}"
        )
    if len(payload) > max_payload:
        raise WireError(f"stream {stream!r}: payload of {len(payload)} bytes exceeds {max_payload}")
    times = np.frombuffer(raw_times, dtype=_INT64)
    fields = _decode_fields(header, stream) if "fields" in header else ()
    extra = header.get("extra") or _NO_EXTRA
    if extra is not _NO_EXTRA and type(extra) is not dict:
        raise WireError(f"stream {stream!r}: header 'extra' is not a map")
    if header["dtype"] == RECORD_DTYPE:
        data: Any = _decode_record(payload, stream)
    else:
        data = _decode_array(payload, header["dtype"], shape, stream)
        if fields and (data.ndim != 2 or data.shape[1] != len(fields)):
            raise WireError(f"stream {stream!r}: {len(fields)} fields for shape {tuple(shape)}")
    return Message(
        stream=stream,
        seq=header["seq"],
        epoch=header["epoch"],
        sent_ns=header["sent_ns"],
        times=times,
        data=data,
        fields=fields,
        extra=extra,
    )


def _as_bytes(frame: Any) -> bytes | memoryview:
    if isinstance(frame, (bytes, memoryview)):
        return frame
    buffer = getattr(frame, "buffer", None)  # zmq.Frame
    if buffer is not None:
        return buffer
    raise WireError(f"frame of type {type(frame).__name__} is not bytes")


def _decode_header(raw: bytes | memoryview) -> dict[str, Any]:
    if len(raw) > MAX_HEADER_BYTES:
        raise WireError(f"header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise WireError(f"header is not msgpack: {exc}") from None
    if not isinstance(header, dict):
        raise WireError("header is not a map")
    if not header.keys() >= _HEADER_KEY_SET:
        missing = [key for key in _HEADER_KEYS if key not in header]
        raise WireError(f"header lacks {', '.join(missing)}")
    if header["version"] != WIRE_VERSION:
        raise WireError(f"wire version {header['version']!r}, this receiver speaks {WIRE_VERSION}")
    stream = header["stream"]
    if not isinstance(stream, str) or not 0 < len(stream) <= MAX_STREAM_NAME:
        raise WireError("header stream is not a name of 1 to 200 characters")
    seq = header["seq"]
    if type(seq) is not int or not 0 <= seq < 2**64:
        raise WireError(f"stream {stream!r}: header seq is not an unsigned 64-bit integer")
    epoch, sent_ns = header["epoch"], header["sent_ns"]
    if (
        type(epoch) is not int
        or type(sent_ns) is not int
        or not -(2**63) <= epoch < 2**63
        or not -(2**63) <= sent_ns < 2**63
    ):
        key = "sent_ns" if type(epoch) is int and -(2**63) <= epoch < 2**63 else "epoch"
        raise WireError(f"stream {stream!r}: header {key} is not a signed 64-bit integer")
    if type(header["dtype"]) is not str:
        raise WireError(f"stream {stream!r}: header dtype is not a string")
    shape = header["shape"]
    if type(shape) is not list or not 1 <= len(shape) <= 4:
        raise WireError(f"stream {stream!r}: header shape {shape!r} is not 1 to 4 sizes")
    for size in shape:
        if type(size) is not int or not 0 <= size < 2**31:
            raise WireError(f"stream {stream!r}: header shape {shape!r} is not 1 to 4 sizes")
    return header


def _decode_fields(header: Mapping[str, Any], stream: str) -> tuple[str, ...]:
    fields = header.get("fields")
    if fields is None:
        return ()
    if type(fields) is list:
        try:
            known = _FIELDS.get(tuple(fields))
        except TypeError:  # an unhashable element: not a list of names
            known = None
        if known is not None:
            return known
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise WireError(f"stream {stream!r}: header fields is not a list of names")
    names = tuple(fields)
    if len(_FIELDS) >= _HEADER_CACHE_SIZE:
        _FIELDS.clear()
    _FIELDS[names] = names
    return names


def _decode_record(payload: bytes | memoryview, stream: str) -> dict[str, Any]:
    try:
        record = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise WireError(f"stream {stream!r}: record payload is not msgpack: {exc}") from None
    if not isinstance(record, dict):
        raise WireError(f"stream {stream!r}: record payload is not a map")
    return record


def _decode_array(
    payload: bytes | memoryview, dtype_text: str, shape: list[int], stream: str
) -> np.ndarray:
    dtype = _DTYPES.get(dtype_text)
    if dtype is None:
        raise WireError(f"stream {stream!r}: dtype {dtype_text!r} is not allowed")
    expected = dtype.itemsize
    for size in shape:
        expected *= size
    if len(payload) != expected:
        raise WireError(
            f"stream {stream!r}: payload has {len(payload)} bytes, "
            f"{dtype_text} of shape {tuple(shape)} needs {expected}"
        )
    array = np.frombuffer(payload, dtype=dtype)
    return array if len(shape) == 1 else array.reshape(shape)
