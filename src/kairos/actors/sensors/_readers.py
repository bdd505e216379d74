"""Readers that turn one column of a CSV, .npy or WAV file into a float64 array.

Each raises :class:`~kairos.errors.AdapterError` naming the path (and the line for CSV), so
a bad file is reported when the actor starts, not in the middle of a run.
"""

from __future__ import annotations

import csv
import wave
from pathlib import Path

import numpy as np

from kairos.errors import AdapterError

Column = int | str


def _fail(path: Path, message: str) -> AdapterError:
    return AdapterError(f"file sensor: {path}: {message}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path: Path, column: Column, delimiter: str = ",") -> np.ndarray:
    """One column of a CSV file; a first row whose cells are not all numbers is a header."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [(n, row) for n, row in enumerate(csv.reader(handle, delimiter=delimiter), 1)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(path, f"cannot read: {exc}") from exc
    rows = [(n, row) for n, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise _fail(path, "no rows")
    header: list[str] | None = None
    if not all(_is_number(cell) for cell in rows[0][1]):
        header = [cell.strip() for cell in rows[0][1]]
        rows = rows[1:]
    if isinstance(column, str):
        if header is None or column not in header:
            names = ", ".join(header) if header else "none (no header row)"
            raise _fail(path, f"no column {column!r}; columns: {names}")
        index = header.index(column)
    else:
        index = column
    values = np.empty(len(rows), dtype=np.float64)
    for k, (line, row) in enumerate(rows):
        if not -len(row) <= index < len(row):
            raise _fail(path, f"line {line}: no column {index} (the row has {len(row)})")
        try:
            values[k] = float(row[index])
        except ValueError:
            raise _fail(path, f"line {line}: {row[index]!r} is not a number") from None
    return values


def read_npy(path: Path, column: Column | None) -> np.ndarray:
    """A 1-D array, one column of a 2-D array, or one field of a structured array."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _fail(path, f"cannot read as .npy: {exc}") from exc
    if array.dtype.names is not None:
        if not isinstance(column, str) or column not in array.dtype.names:
            raise _fail(path, f"name a field as column; fields: {', '.join(array.dtype.names)}")
        array, column = array[column], None
    elif isinstance(column, str):
        raise _fail(path, f"column {column!r}: a plain .npy array has no column names")
    if array.ndim == 2:
        index = 0 if column is None else column
        if not isinstance(index, int) or not -array.shape[1] <= index < array.shape[1]:
            raise _fail(path, f"no column {index} (the array has {array.shape[1]})")
        array = array[:, index]
    elif array.ndim != 1:
        raise _fail(path, f"expected a 1-D or 2-D array, got shape {array.shape}")
    elif column not in (None, 0):
        raise _fail(path, f"no column {column}: the array is 1-D")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise _fail(path, f"dtype {array.dtype} is not numeric")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise _fail(path, "complex values: the file sensor plays real values")
    return np.array(array, dtype=np.float64)


def read_wav(path: Path, column: Column | None) -> tuple[np.ndarray, float]:
    """One channel of a PCM WAV file scaled to [−1, 1], and the file's sample rate."""
    if isinstance(column, str):
        raise _fail(path, f"column {column!r}: WAV channels are chosen by index")
    try:
        with wave.open(str(path), "rb") as handle:
            channels = handle.getnchannels()
            width = handle.getsampwidth()
            rate = float(handle.getframerate())
            raw = handle.readframes(handle.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise _fail(path, f"cannot read as PCM WAV: {exc}") from exc
    channel = 0 if column is None else column
    if not -channels <= channel < channels:
        raise _fail(path, f"no channel {channel} (the file has {channels})")
    frames = len(raw) // (width * channels)
    data = np.frombuffer(raw[: frames * width * channels], dtype=np.uint8)
    data = data.reshape(frames, channels, width)[:, channel, :]
    if width == 1:  # 8-bit WAV is unsigned, centred on 128
        values = (data[:, 0].astype(np.float64) - 128.0) / 128.0
    elif width in (2, 3, 4):
        padded = np.zeros((frames, 4), dtype=np.uint8)
        padded[:, 4 - width :] = data  # little-endian bytes into the top of an int32
        ints = padded.view("<i4")[:, 0]
        values = ints.astype(np.float64) / 2147483648.0
    else:
        raise _fail(path, f"{8 * width}-bit samples are not supported (8, 16, 24 or 32)")
    return values, rate
