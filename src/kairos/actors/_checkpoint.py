"""Checkpoint files ("temporal signatures"): an actor's state, atomic and checksummed.

Layout: the magic ``KAIROSCP``, a format version byte, the SHA-256 of the payload, then the
payload: a msgpack document in which complex numbers travel as ext type 1 (two little-endian
float64).  A file is written to a temporary name, flushed, fsynced and renamed over the old
one, so a crash leaves either the old or the new checkpoint, never half of one; a file whose
checksum does not match is reported and ignored.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import Any

import msgpack

from kairos.errors import KairosError

MAGIC = b"KAIROSCP"
VERSION = 1
_COMPLEX = 1
_HEADER = len(MAGIC) + 1 + 32


class CheckpointError(KairosError):
    """Raised when a checkpoint file is truncated, foreign, of another version or corrupt."""


def _default(value: Any) -> Any:
    if isinstance(value, complex):
        return msgpack.ExtType(_COMPLEX, struct.pack("<dd", value.real, value.imag))
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    raise TypeError(f"cannot checkpoint a {type(value).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _COMPLEX and len(data) == 16:
        real, imag = struct.unpack("<dd", data)
        return complex(real, imag)
    raise CheckpointError(f"unknown ext type {code} in checkpoint")


def write_checkpoint(path: Path, document: dict[str, Any]) -> None:
    payload = msgpack.packb(document, default=_default, use_bin_type=True)
    blob = MAGIC + bytes([VERSION]) + hashlib.sha256(payload).digest() + payload
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The document in ``path``, or CheckpointError saying why it cannot be trusted."""
    blob = Path(path).read_bytes()
    if len(blob) < _HEADER or not blob.startswith(MAGIC):
        raise CheckpointError(f"{path}: not a Kairos checkpoint")
    if blob[len(MAGIC)] != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {blob[len(MAGIC)]}, expected {VERSION}")
    digest, payload = blob[len(MAGIC) + 1 : _HEADER], blob[_HEADER:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"{path}: checksum mismatch (corrupted checkpoint)")
    try:
        document = msgpack.unpackb(payload, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise CheckpointError(f"{path}: undecodable checkpoint: {exc}") from None
    if not isinstance(document, dict):
        raise CheckpointError(f"{path}: checkpoint is not a map")
    return document
