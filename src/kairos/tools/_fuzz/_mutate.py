"""Seeded structured mutation: the fallback engine's way of turning seeds into bad inputs.

Generic byte mutations (flips, truncation, interesting integers over length fields, splices
of seeds, repeated chunks for nesting) plus two format-aware ones: msgpack documents have a
value replaced, removed or retyped and are packed again, and YAML text has lines and scalars
rewritten with the tokens that stress a YAML loader (anchors, aliases, tags, flow brackets).
Everything is driven by one ``random.Random`` so a run is reproducible from its seed.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence
from typing import Any

import msgpack

#: Upper bound on a mutated input: keeps each input's cost bounded by its size.
MAX_INPUT_BYTES = 64 * 1024

Mutator = Callable[[bytes, random.Random, Sequence[bytes]], bytes]

_INTERESTING_INTS = (
    0,
    1,
    -1,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    2**63 - 1,
    2**63,
    2**64 - 1,
    -(2**63),
)

_INTERESTING_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**32,
    2**63 - 1,
    2**63,
    2**64 - 1,
    -(2**63),
    0.0,
    -0.0,
    float("nan"),
    float("inf"),
    1e308,
    "",
    "x" * 300,
    "\u0000",
    "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    b"",
    b"\xff\xfe",
    [],
    [0],
    [2**31],
    [-1],
    [1, 2, 3, 4, 5],
    {},
    {"a": 1},
    {1: 2},
    msgpack.ExtType(5, b"ext"),
)


def flip_bit(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    buf = bytearray(data)
    i = rng.randrange(len(buf))
    buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def set_byte(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        buf[rng.randrange(len(buf))] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return bytes(buf)


def truncate(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    if not data:
        return data
    cut = rng.randrange(len(data))
    return data[:cut] if rng.random() < 0.8 else data[cut:]


def delete_range(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    if len(data) < 2:
        return data
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.randint(1, 32))
    return data[:start] + data[end:]


def insert_random(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    at = rng.randint(0, len(data))
    chunk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return data[:at] + chunk + data[at:]


def interesting_int(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    """Overwrite 1, 2, 4 or 8 bytes with a boundary value: hits length and count fields."""
    width = rng.choice((1, 2, 4, 8))
    if len(data) < width:
        return data + b"\xff" * width
    value = rng.choice(_INTERESTING_INTS) % (1 << (8 * width))
    order = rng.choice(("<", ">"))
    packed = struct.pack(order + {1: "B", 2: "H", 4: "I", 8: "Q"}[width], value)
    at = rng.randrange(len(data) - width + 1)
    return data[:at] + packed + data[at + width :]


def splice(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    """The head of this input joined to the tail of another seed (or of itself)."""
    other = rng.choice(seeds) if seeds else data
    left = rng.randint(0, len(data))
    right = rng.randint(0, len(other))
    return data[:left] + other[right:]


def repeat_chunk(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    """Repeat a short chunk many times: deep nesting, long runs, large counts."""
    if not data:
        return data
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(1, 8)]
    times = rng.choice((2, 16, 256, 2048))
    return data[:start] + chunk * times + data[start:]


BYTE_MUTATORS: tuple[Mutator, ...] = (
    flip_bit,
    set_byte,
    truncate,
    delete_range,
    insert_random,
    interesting_int,
    splice,
    repeat_chunk,
)


# -- msgpack ------------------------------------------------------------------------------


def mutate_msgpack_value(value: Any, rng: random.Random) -> Any:
    """A copy of an unpacked msgpack value with one node replaced, removed or added."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        copy = dict(value)
        roll = rng.random()
        if roll < 0.15:
            del copy[key]
        elif roll < 0.25:
            copy[rng.choice(("extra", "fields", "args", "x" * 70, 7))] = rng.choice(
                _INTERESTING_VALUES
            )
        else:
            copy[key] = mutate_msgpack_value(copy[key], rng)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.7:
        copy_list = list(value)
        i = rng.randrange(len(copy_list))
        if rng.random() < 0.2:
            del copy_list[i]
        else:
            copy_list[i] = mutate_msgpack_value(copy_list[i], rng)
        return copy_list
    if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.5:
        return max(-(2**63), min(2**64 - 1, value + rng.choice((-1, 1, 2**32, -(2**32)))))
    if isinstance(value, str) and value and rng.random() < 0.3:
        return value[: rng.randrange(len(value))] + rng.choice(("", "\u00e9", "/", " ", "\n"))
    return rng.choice(_INTERESTING_VALUES)


def mutate_msgpack(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    """Unpack, change one value, pack again; bytes that are not msgpack get a byte mutation."""
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception:  # not msgpack at all (any of several msgpack error types)
        return rng.choice(BYTE_MUTATORS)(data, rng, seeds)
    try:
        return msgpack.packb(mutate_msgpack_value(value, rng), use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return data


# -- YAML ---------------------------------------------------------------------------------

_YAML_SCALARS = (
    "~",
    "null",
    "''",
    '""',
    "-1",
    "0",
    "1e309",
    ".nan",
    "-.inf",
    "0x7fffffffffffffff",
    "99999999999999999999999",
    "1_000",
    "2001-12-14t21:59:43.10-05:00",
    "yes",
    "on",
    "[]",
    "{}",
    "[a, b]",
    "{a: 1}",
    "&a x",
    "*a",
    "!!binary aGVsbG8=",
    "!!str 5",
    "!!int x",
    "!!float y",
    "!!timestamp z",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!python/object:os.system x",
    "!custom x",
    "|\n  block",
    ">-\n  folded",
    '"\\x00\\uD800"',
    "'a''b'",
    "tcp://[::1]:99999",
    "localhost",
    "auto",
    "x" * 120,
)

_YAML_LINES = (
    "<<: *a",
    "<<: [*a, *a]",
    "<<: 5",
    "? [complex, key]",
    "? {k: v}\n: v",
    "1: numeric key",
    "null: x",
    "---",
    "...",
    "%YAML 1.1",
    "%TAG ! tag:x,2000:",
    "- item",
    "\t tab: x",
    "a: &a {class: pi-4}",
    "b: *a",
    "c: *undefined",
    "name: &n [*n]",
    "# comment",
    "\ufeffname: bom",
    "key: [unclosed",
    "key: {unclosed",
    "key: 'unclosed",
)


def mutate_yaml(data: bytes, rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    """Line- and token-level edits of YAML text."""
    text = data.decode("utf-8", "replace")
    lines = text.split("\n") or [""]
    roll = rng.random()
    i = rng.randrange(len(lines))
    if roll < 0.12:
        del lines[i]
    elif roll < 0.22:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif roll < 0.32:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif roll < 0.42:
        lines[i] = " " * rng.choice((0, 1, 2, 3, 4, 8)) + lines[i].lstrip()
    elif roll < 0.62:
        line = lines[i]
        if ":" in line:
            key, _, _ = line.partition(":")
            lines[i] = f"{key}: {rng.choice(_YAML_SCALARS)}"
        else:
            lines[i] = line + " " + rng.choice(_YAML_SCALARS)
    elif roll < 0.75:
        indent = len(lines[i]) - len(lines[i].lstrip())
        lines.insert(i, " " * indent + rng.choice(_YAML_LINES))
    elif roll < 0.85:
        other = rng.choice(seeds).decode("utf-8", "replace").split("\n") if seeds else lines
        lines.insert(i, rng.choice(other))
    else:
        words = lines[i].replace(",", " ").split()
        if words:
            word = rng.choice(words)
            other_words = " ".join(lines).replace(",", " ").split() or [word]
            lines[i] = lines[i].replace(word, rng.choice(other_words), 1)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


# -- driver -------------------------------------------------------------------------------


class SeedMutator:
    """Produces inputs from seeds: mostly one to four stacked mutations of a seed."""

    def __init__(
        self, seeds: Sequence[bytes], rng: random.Random, structured: Sequence[Mutator] = ()
    ) -> None:
        if not seeds:
            raise ValueError("a mutator needs at least one seed")
        self.seeds = list(seeds)
        self.rng = rng
        self.structured = tuple(structured)

    def __call__(self) -> bytes:
        rng = self.rng
        data = rng.choice(self.seeds)
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            if self.structured and rng.random() < 0.6:
                mutator = rng.choice(self.structured)
            else:
                mutator = rng.choice(BYTE_MUTATORS)
            data = mutator(data, rng, self.seeds)
            if len(data) > MAX_INPUT_BYTES:
                data = data[:MAX_INPUT_BYTES]
        return data
