"""Hand-written malformed inputs, one list per fuzz target, in each target's input layout.

Each case is ``(name, input)``.  ``KNOWN_BUGS`` maps the cases that currently crash or hang
their decoder to the bug report; their tests are strict xfails, so fixing the bug turns them
into failures until the entry is removed here.
"""

from __future__ import annotations

import copy
import struct

import msgpack

from kairos.tools._fuzz import records as fuzz_records
from kairos.tools._fuzz.wire import join_frames

# -- wire ----------------------------------------------------------------------------------

_HEADER = {
    "version": 1,
    "stream": "s",
    "seq": 0,
    "epoch": 0,
    "sent_ns": 0,
    "dtype": "<f8",
    "shape": [1],
}


def _wire(header: object, times: bytes = b"\0" * 8, payload: bytes = b"\0" * 8) -> bytes:
    raw = header if isinstance(header, bytes) else msgpack.packb(header, use_bin_type=True)
    return join_frames([b"s", raw, times, payload])


def _with(**changes: object) -> dict:
    header = dict(_HEADER)
    for key, value in changes.items():
        if value is _DROP:
            del header[key]
        else:
            header[key] = value
    return header


_DROP = object()

WIRE: list[tuple[str, bytes]] = [
    ("three frames", join_frames([b"s", msgpack.packb(_HEADER), b"\0" * 8])),
    ("five frames", _wire(_HEADER) + join_frames([b"more"])),
    ("header not msgpack", _wire(b"\xc1")),
    ("header truncated", _wire(msgpack.packb(_HEADER)[:-3])),
    ("header is a list", _wire([1, 2, 3])),
    ("header lacks shape", _wire(_with(shape=_DROP))),
    ("wire version 2", _wire(_with(version=2))),
    ("version is a string", _wire(_with(version="1"))),
    ("empty stream name", _wire(_with(stream=""))),
    ("stream name of 201 chars", _wire(_with(stream="s" * 201))),
    ("stream is bytes", _wire(_with(stream=b"s"))),
    ("negative seq", _wire(_with(seq=-1))),
    ("seq is a float", _wire(_with(seq=1.0))),
    ("seq is a bool", _wire(_with(seq=True))),
    ("epoch beyond int64", _wire(_with(epoch=2**63))),
    ("dtype big-endian", _wire(_with(dtype=">f8"))),
    ("dtype object", _wire(_with(dtype="O"))),
    ("dtype is a list", _wire(_with(dtype=["<f8"]))),
    ("shape of 2**31 samples", _wire(_with(shape=[2**31]))),
    ("shape with five sizes", _wire(_with(shape=[1, 1, 1, 1, 1]))),
    ("shape is empty", _wire(_with(shape=[]))),
    ("shape holds a bool", _wire(_with(shape=[True]))),
    ("shape negative", _wire(_with(shape=[-1]))),
    ("times one byte short", _wire(_HEADER, times=b"\0" * 7)),
    ("payload one byte short", _wire(_HEADER, payload=b"\0" * 7)),
    ("payload size overflows", _wire(_with(shape=[1, 2**30, 2**30, 2**30]), payload=b"")),
    ("fields not a list", _wire(_with(fields="a"))),
    ("fields count mismatch", _wire(_with(fields=["a", "b"]))),
    ("fields on a 1-D array", _wire(_with(fields=["a"]))),
    ("extra not a map", _wire(_with(extra=[1]))),
    ("record payload not msgpack", _wire(_with(dtype="msgpack"), payload=b"\xc1")),
    ("record payload a list", _wire(_with(dtype="msgpack"), payload=msgpack.packb([1]))),
    ("record with int keys", _wire(_with(dtype="msgpack"), payload=msgpack.packb({1: 2}))),
    ("record nested 100000 deep", _wire(_with(dtype="msgpack"), payload=b"\x91" * 100_000)),
    ("header of 5000 bytes", _wire(_with(pad="x" * 5000))),
    ("header with int keys", _wire({1: 1})),
    ("topic not UTF-8", join_frames([b"\xff", msgpack.packb(_HEADER), b"\0" * 8, b"\0" * 8])),
    ("topic differs", join_frames([b"t", msgpack.packb(_HEADER), b"\0" * 8, b"\0" * 8])),
]

# -- control -------------------------------------------------------------------------------

_REQUEST = {"v": 1, "id": "abc", "cmd": "status", "expires_ns": 10, "args": {}}
_REPLY = {"v": 1, "id": "abc", "ok": True, "code": "ok", "error": None, "result": {}}


def _request(**changes: object) -> bytes:
    return b"\x00" + msgpack.packb({**_REQUEST, **changes}, use_bin_type=True)


def _reply(**changes: object) -> bytes:
    return b"\x01" + msgpack.packb({**_REPLY, **changes}, use_bin_type=True)


_DEEP_ARGS = b"\x00\x85" + msgpack.packb(_REQUEST)[1:-2] + msgpack.packb("args")
_DEEP_ARGS = (
    b"\x00\x85"
    + b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in _REQUEST.items() if k != "args")
    + msgpack.packb("args")
    + b"\x81\xa1a"
    + b"\x91" * 1000
    + b"\xc0"
)

CONTROL: list[tuple[str, bytes]] = [
    ("empty request", b"\x00"),
    ("request not msgpack", b"\x00\xc1"),
    ("request a list", b"\x00" + msgpack.packb([1])),
    ("request int keys", b"\x00" + msgpack.packb({1: 1})),
    ("request v a bool", _request(v=True)),
    ("request v 2", _request(v=2)),
    ("request id of 65 chars", _request(id="i" * 65)),
    ("request id a list", _request(id=["x"])),
    ("request cmd empty", _request(cmd="")),
    ("request cmd unhashable", _request(cmd=[1])),
    ("request expires a float", _request(expires_ns=1.5)),
    ("request args a list", _request(args=[1])),
    ("request args bytes keys", b"\x00" + msgpack.packb({**_REQUEST, "args": {b"k": 1}})),
    ("request args 1000 deep", _DEEP_ARGS),
    ("request frame over 1 MiB", _request(args={"blob": b"x" * (1024 * 1024)})),
    ("reply v missing", b"\x01" + msgpack.packb({k: v for k, v in _REPLY.items() if k != "v"})),
    ("reply code unknown", _reply(code="nope")),
    ("reply code a list", _reply(code=["ok"])),
    ("reply code a map", _reply(code={"a": 1})),
    ("reply code a number", _reply(code=1)),
    ("reply v a bool", _reply(v=True)),
    ("reply v a float", _reply(v=1.0)),
    ("reply v a list", _reply(v=[1])),
    ("reply ok disagrees", _reply(ok=False)),
    ("reply id a number", _reply(id=5)),
    ("reply result a list", _reply(result=[1])),
    ("reply error a number", _reply(error=5)),
    ("reply truncated", _reply()[:-4]),
]

# -- topology ------------------------------------------------------------------------------

_BASE = b"""\
name: t
devices:
  pc: {class: mac-mini, agent: localhost}
actors:
  s: {role: sensor, device: pc, adapter: oscillator, rate_hz: 100}
"""


def _laughs(levels: int) -> bytes:
    lines = ["name: t", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines).encode()


def _merge_bomb(levels: int) -> bytes:
    lines = ["name: t", "m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    for i in range(1, levels + 1):
        lines.append(f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 10) + "]}")
    return "\n".join(lines).encode()


def _deep_aliases(count: int, depth: int) -> bytes:
    """Each anchor nests the previous one ``depth`` levels deeper: shallow text, deep data."""
    lines = ["name: t", "d0: &d0 1"]
    for i in range(1, count + 1):
        lines.append(f"d{i}: &d{i} " + "[" * depth + f"*d{i - 1}" + "]" * depth)
    return "\n".join(lines).encode()


def _sync_chain(length: int) -> bytes:
    """A loop of sync → sync links through ``length`` syncs (found by a recursive walk)."""
    lines = [_BASE.decode().rstrip("\n"), "  e: {role: engine, device: pc, inputs: [s]}"]
    lines.append(f"  y0: {{role: sync, device: pc, inputs: [e, y{length - 1}]}}")
    lines += [f"  y{i}: {{role: sync, device: pc, inputs: [y{i - 1}]}}" for i in range(1, length)]
    return "\n".join(lines).encode() + b"\n"


TOPOLOGY: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("a list", b"- a\n- b\n"),
    ("a scalar", b"42"),
    ("two documents", _BASE + b"---\n" + _BASE),
    ("tab indentation", _BASE.replace(b"  pc", b"\tpc")),
    ("unclosed flow map", _BASE.replace(b"100}", b"100")),
    ("duplicate keys", _BASE + b"devices: {}\n"),
    ("numeric key", _BASE + b"1: x\n"),
    ("complex key", _BASE + b"? [a, b]\n: c\n"),
    ("undefined alias", _BASE + b"x: *nothing\n"),
    ("merge of a scalar", _BASE.replace(b"pc: {", b"pc: {<<: 5, ")),
    ("python tag", _BASE + b"x: !!python/object:os.system ls\n"),
    ("binary tag", _BASE + b"x: !!binary aGVsbG8=\n"),
    ("bad binary tag", _BASE + b"x: !!binary '%%%'\n"),
    ("null bytes", _BASE + b"x: \0\n"),
    ("NaN rate", _BASE.replace(b"rate_hz: 100", b"rate_hz: .nan")),
    ("huge rate", _BASE.replace(b"rate_hz: 100", b"rate_hz: 1e309")),
    ("invalid UTF-8", _BASE + b"x: \xff\xfe\n"),
    ("bad float tag", _BASE + b"x: !!float y\n"),
    ("bad int tag", _BASE + b"x: !!int x\n"),
    ("bad timestamp tag", _BASE + b"x: !!timestamp z\n"),
    ("empty int tag", _BASE + b"x: !!int ''\n"),
    ("recursive alias", b"name: &x [*x]\n"),
    ("recursive mapping alias", b"a: &m {b: *m}\n"),
    ("flow nesting 5000 deep", b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    ("alias bomb of 10**7 values", _laughs(7)),
    ("bad bool tag", _BASE + b"x: !!bool x\n"),
    ("bad binary-base int tag", _BASE + b"x: !!int 0b\n"),
    ("out-of-range timestamp tag", _BASE + b"x: !!timestamp 2020-13-45\n"),
    ("merge of itself", b"a: &m {<<: *m}\n"),
    ("merge of itself through a list", b"a: &m {b: 1, <<: [*m]}\n"),
    ("merge bomb of 10**7 pairs", _merge_bomb(7)),
    ("alias chain 20 x 10 deep", _deep_aliases(20, 10)),
    ("NaN in params", _BASE.replace(b"100}", b"100, params: {freq_hz: .NaN}}")),
    ("rate beyond float range", _BASE.replace(b"rate_hz: 100", b"rate_hz: 1" + b"0" * 400)),
    ("a line of 2400 open brackets", b"name: t\ndevices: " + b"[" * 2400 + b"]" * 2400 + b"\n"),
    ("sync inputs a number", _BASE + b"  y: {role: sync, device: pc, inputs: 5}\n"),
    ("a cycle of 1500 syncs", _sync_chain(1500)),
    ("agent port of 5000 digits", _BASE.replace(b"localhost", b"tcp://h:" + b"9" * 5000)),
    ("agent port a superscript digit", _BASE.replace(b"localhost", "tcp://h:²".encode())),
]

# -- recording -----------------------------------------------------------------------------

_MAGIC = b"\x89MCAP0\r\n"


def _record(opcode: int, body: bytes) -> bytes:
    return bytes([opcode]) + struct.pack("<Q", len(body)) + body


def _string(text: bytes) -> bytes:
    return struct.pack("<I", len(text)) + text


_MCAP_HEADER = _record(0x01, _string(b"kairos") + _string(b"fuzz"))

RECORDING: list[tuple[str, bytes]] = [
    ("empty file", b""),
    ("magic only", _MAGIC),
    ("bad magic", b"\x89MCAP9\r\n" + _MCAP_HEADER),
    ("header only", _MAGIC + _MCAP_HEADER),
    ("record over the size limit", _MAGIC + _MCAP_HEADER + b"\x80" + b"\xff" * 8),
    ("record length past the end", _MAGIC + _MCAP_HEADER + b"\x80" + struct.pack("<Q", 100)),
    (
        "chunk whose records length exceeds 2**63",
        _MAGIC
        + _MCAP_HEADER
        + _record(0x06, struct.pack("<QQQI", 0, 0, 0, 0) + _string(b"") + struct.pack("<Q", 2**63)),
    ),
    (
        "chunk with an unknown compression",
        _MAGIC
        + _MCAP_HEADER
        + _record(0x06, struct.pack("<QQQI", 0, 0, 4, 0) + _string(b"rot13") + struct.pack("<Q", 4))
        + b"abcd",
    ),
    (
        "message on an undeclared channel",
        _MAGIC + _MCAP_HEADER + _record(0x05, struct.pack("<HIQQ", 7, 0, 0, 0) + b"data"),
    ),
]

# -- records ------------------------------------------------------------------------------


def _rec(stream: int, payload: object) -> bytes:
    """A records-target input: the stream selector (0 mesh, 1 pulse, 2 events, 3 witness)."""
    return bytes([stream]) + msgpack.packb(payload, use_bin_type=True)


def _changed(base: dict, path: tuple, value: object) -> dict:
    """``base`` with the key at ``path`` set to ``value`` (or deleted for _DROP)."""
    out = copy.deepcopy(base)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_STATE = fuzz_records.seed_state().encode()
_WITNESS = fuzz_records.seed_witness().encode()
_PULSE = fuzz_records.seed_state().pulse().encode()
_EVENT = {"kind": "collapse", "window": "slow", "state": True, "t_ns": 1, "value": 0.97}

RECORDS: list[tuple[str, bytes]] = [
    ("payload is a list", _rec(0, [1, 2])),
    ("payload is an int", _rec(3, 7)),
    ("payload is not msgpack", bytes([1]) + b"\xc1"),
    ("empty input", b""),
    ("mesh state without nodes", _rec(0, _changed(_STATE, ("nodes",), _DROP))),
    ("phasor of three parts", _rec(0, _changed(_STATE, ("phasor",), [1.0, 2.0, 3.0]))),
    ("phasor of strings", _rec(0, _changed(_STATE, ("phasor",), ["a", "b"]))),
    ("phasor is a map", _rec(0, _changed(_STATE, ("phasor",), {"re": 1}))),
    ("stale node named by a number", _rec(0, _changed(_STATE, ("stale_nodes",), [3]))),
    ("nodes is a list", _rec(0, _changed(_STATE, ("nodes",), [1]))),
    ("node entry is a string", _rec(0, _changed(_STATE, ("nodes", "a"), "x"))),
    ("node lacks its weight", _rec(0, _changed(_STATE, ("nodes", "a", "weight"), _DROP))),
    ("node coherence is a bool", _rec(0, _changed(_STATE, ("nodes", "a", "coherence"), True))),
    ("emerged is 1", _rec(0, _changed(_STATE, ("emerged",), 1))),
    ("t_ns is a float", _rec(1, _changed(_PULSE, ("t_ns",), 1.5))),
    ("pulse phase is None", _rec(1, _changed(_PULSE, ("mesh_phase",), None))),
    ("event of an unknown kind", _rec(2, _changed(_EVENT, ("kind",), "boom"))),
    ("event window is a number", _rec(2, _changed(_EVENT, ("window",), 3))),
    ("witness lacks its inputs", _rec(3, _changed(_WITNESS, ("inputs",), _DROP))),
    ("witness pid is a string", _rec(3, _changed(_WITNESS, ("pid",), "42"))),
    ("witness input lacks gaps", _rec(3, _changed(_WITNESS, ("inputs", "osc", "gaps"), _DROP))),
    ("witness input is a list", _rec(3, _changed(_WITNESS, ("inputs", "osc"), [1]))),
    ("witness latency is a string", _rec(3, _changed(_WITNESS, ("latency_p99_ms",), "1"))),
]

CORPUS: dict[str, list[tuple[str, bytes]]] = {
    "wire": WIRE,
    "control": CONTROL,
    "topology": TOPOLOGY,
    "recording": RECORDING,
    "records": RECORDS,
}

#: (target, case) -> the bug it reproduces (reported to the lead; see docs/fuzzing.md)
KNOWN_BUGS: dict[tuple[str, str], str] = {}
