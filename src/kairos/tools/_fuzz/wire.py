"""Fuzz target ``wire``: :func:`kairos.wire.decode` may raise only WireError.

An input is a list of frames, each a little-endian uint32 length then its bytes; bytes left
over when a length overruns the input form the last frame.  So mutations can change the
number of frames as well as their contents.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

import numpy as np

from kairos import wire
from kairos.errors import WireError
from kairos.tools._fuzz import records as fuzz_records
from kairos.tools._fuzz._mutate import BYTE_MUTATORS, mutate_msgpack
from kairos.tools._fuzz._target import ContractViolation, Target, stateless

_LENGTH = struct.Struct("<I")
MAX_FRAMES = 8


def split_frames(data: bytes) -> list[bytes]:
    """The frames an input stands for (see the module docstring)."""
    frames: list[bytes] = []
    offset = 0
    while offset < len(data) and len(frames) < MAX_FRAMES - 1:
        if offset + 4 > len(data):
            break
        (length,) = _LENGTH.unpack_from(data, offset)
        if offset + 4 + length > len(data):
            break
        frames.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    if offset < len(data):
        frames.append(data[offset:])
    return frames


def join_frames(frames: Sequence[bytes]) -> bytes:
    return b"".join(_LENGTH.pack(len(f)) + bytes(f) for f in frames)


def run(data: bytes) -> None:
    message = wire.decode(split_frames(data))
    if not message.is_record and message.data.shape[0] != message.times.shape[0]:
        raise ContractViolation("decode returned an array whose samples do not match its times")


def seeds() -> list[bytes]:
    rng = np.random.default_rng(6)
    messages: list[list[bytes | memoryview]] = []
    for i, dtype in enumerate(sorted(wire.ALLOWED_DTYPES)):
        data = (rng.standard_normal(3) * 10).astype(dtype)
        messages.append(wire.encode(f"s{i}", i, 1_000, 2_000, [10, 20, 30], data))
    messages.append(
        wire.encode("eng", 7, 5, 9, [1, 2], np.zeros((2, 3)), fields=("phase", "c", "r"))
    )
    messages.append(wire.encode("empty", 0, 0, 0, [], np.zeros(0)))
    messages.append(wire.encode("cube", 1, 0, 0, [1], np.zeros((1, 2, 2, 1), dtype="<f4")))
    messages.append(
        wire.encode(
            "mesh",
            3,
            1,
            2,
            [42],
            fuzz_records.seed_state().encode(),
            extra={"origin": "fuzz"},
        )
    )
    messages.append(wire.encode("w/witness", 2**63, -(2**63), 2**63 - 1, [0, 0, 0], {}))
    messages.append(wire.encode("w/witness", 4, 1, 2, [3], fuzz_records.seed_witness().encode()))
    out = [join_frames([bytes(f) for f in frames]) for frames in messages]
    out.append(join_frames([b"t", b"\x80", b"", b""]))  # an empty header map
    out.append(b"")
    return out


def mutate_frames(data: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    """Mutate one frame in place (msgpack-aware for header and record payload), or drop,
    duplicate or swap frames."""
    frames = split_frames(data)
    if not frames:
        return data
    roll = rng.random()
    if roll < 0.1:
        del frames[rng.randrange(len(frames))]
    elif roll < 0.2:
        frames.insert(rng.randrange(len(frames)), rng.choice(frames))
    elif roll < 0.3:
        i, j = rng.randrange(len(frames)), rng.randrange(len(frames))
        frames[i], frames[j] = frames[j], frames[i]
    else:
        i = 1 if rng.random() < 0.5 and len(frames) > 1 else rng.randrange(len(frames))
        if i in (1, 3) and rng.random() < 0.7:
            frames[i] = mutate_msgpack(frames[i], rng, pool)
        else:
            frames[i] = rng.choice(BYTE_MUTATORS)(frames[i], rng, pool)
    return join_frames(frames)


TARGET = Target(
    name="wire",
    description="kairos.wire.decode of a data-plane message's frames",
    expected=WireError,
    seeds=seeds,
    session=lambda: stateless(run),
    mutators=(mutate_frames,),
)
