"""Per-stream inspection, as ``ros2 topic echo|hz|bw`` and ``dora topic`` users expect.

``echo`` prints every message of the selected streams; ``hz`` and ``bw`` print, once a
second, each stream's message rate (with min/max/std of the interval) or bandwidth over a
sliding window of the last messages, measured at receive time.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from kairos import wire
from kairos.tools import _json

WINDOW = 1000
#: a rate is the messages after the first divided by the span from the first to the last, and
#: says something only for a steady stream: at least this many messages over at least this
#: long (a 1 Hz witness has a rate after 5 s).  Fewer, or a burst (3 events at one instant
#: gave "104 504 Hz"), are shown as their count.
RATE_MIN_MESSAGES = 5
RATE_MIN_SPAN_S = 1.0


def steady_rate(messages: int, span_s: float) -> float | None:
    """Messages per second over ``span_s`` (first to last message), or None when there are
    too few messages or too short a span for a rate to mean anything."""
    if messages < RATE_MIN_MESSAGES or span_s < RATE_MIN_SPAN_S:
        return None
    return (messages - 1) / span_s


def rate_text(messages: int, span_s: float) -> str:
    """A rate in Hz, or the count when there is no steady rate (``3 msgs``)."""
    rate = steady_rate(messages, span_s)
    return f"{rate:.2f}" if rate is not None else f"{messages} msgs"


def describe(message: wire.Message) -> dict[str, Any]:
    """A JSON-ready view of one message: header fields, sample times and data."""
    data: Any
    if message.is_record:
        data = message.data
    else:
        array = message.data
        data = array.tolist() if not np.iscomplexobj(array) else _complex(array)
    out: dict[str, Any] = {
        "stream": message.stream,
        "seq": message.seq,
        "epoch": message.epoch,
        "sent_ns": message.sent_ns,
        "times": message.times.tolist(),
    }
    if not message.is_record:
        out["dtype"] = message.data.dtype.str
        out["shape"] = list(message.data.shape)
    if message.fields:
        out["fields"] = list(message.fields)
    out["data"] = data
    return out


def _complex(array: np.ndarray) -> Any:
    return np.stack([array.real, array.imag], axis=-1).tolist()


def echo_line(message: wire.Message, as_json: bool) -> str:
    """One message as a JSON line, or as a short human block (header line, then rows)."""
    described = describe(message)
    if as_json:
        return _json.dumps(described, default=_jsonable)
    head = (
        f"--- {message.stream}  seq {message.seq}  epoch {message.epoch}  sent_ns {message.sent_ns}"
    )
    if message.is_record:
        return head + "\n" + json.dumps(message.data, indent=2, default=_jsonable)
    lines = [head + f"  {described['dtype']} {tuple(described['shape'])}"]
    if message.fields:
        lines.append("t_ns " + " ".join(message.fields))
    rows = described["data"]
    for stamp, row in zip(described["times"], rows, strict=True):
        values = row if isinstance(row, list) else [row]
        lines.append(f"{stamp} " + " ".join(_value(v) for v in values))
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "(" + ",".join(_value(v) for v in value) + ")"
    return repr(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot show {type(value).__name__}")


@dataclass
class _Window:
    arrivals: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    sizes: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW))
    total: int = 0


class Meter:
    """Receive-time rate and bandwidth statistics per stream over the last WINDOW messages."""

    def __init__(self) -> None:
        self.streams: dict[str, _Window] = {}

    def add(self, stream: str, frames: Sequence[bytes], now: float) -> None:
        window = self.streams.setdefault(stream, _Window())
        window.arrivals.append(now)
        window.sizes.append(sum(len(f) for f in frames))
        window.total += 1

    def hz(self, stream: str) -> dict[str, Any]:
        arrivals = list(self.streams[stream].arrivals)
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        if not gaps:
            return {"stream": stream, "rate_hz": None, "window": len(arrivals)}
        mean = sum(gaps) / len(gaps)
        return {
            "stream": stream,
            "rate_hz": 1.0 / mean if mean > 0 else math.inf,
            "min_s": min(gaps),
            "max_s": max(gaps),
            "std_s": statistics.pstdev(gaps),
            "window": len(arrivals),
        }

    def bw(self, stream: str) -> dict[str, Any]:
        window = self.streams[stream]
        arrivals = list(window.arrivals)
        sizes = list(window.sizes)
        span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
        # bytes after the first arrival, over the time they took to arrive
        rate = sum(sizes[1:]) / span if span > 0 else None
        return {
            "stream": stream,
            "bytes_per_s": rate,
            "mean_bytes": sum(sizes) / len(sizes),
            "min_bytes": min(sizes),
            "max_bytes": max(sizes),
            "window": len(sizes),
        }


def report(meter: Meter, kind: str, as_json: bool, out: TextIO) -> None:
    """Print one hz or bw report for every stream seen so far."""
    for stream in sorted(meter.streams):
        stats = meter.hz(stream) if kind == "hz" else meter.bw(stream)
        if as_json:
            out.write(_json.dumps({"t": time.time(), **stats}) + "\n")
        elif kind == "hz":
            if stats["rate_hz"] is None:
                out.write(f"{stream}: waiting for a second message\n")
                continue
            out.write(
                f"{stream}: average rate: {stats['rate_hz']:.3f}\n"
                f"\tmin: {stats['min_s']:.6f}s max: {stats['max_s']:.6f}s "
                f"std dev: {stats['std_s']:.5f}s window: {stats['window']}\n"
            )
        else:
            rate = stats["bytes_per_s"]
            shown = "-" if rate is None else _bytes(rate) + "/s"
            out.write(
                f"{stream}: {shown} from {stats['window']} messages\n"
                f"\tMessage size mean: {_bytes(stats['mean_bytes'])} "
                f"min: {_bytes(stats['min_bytes'])} max: {_bytes(stats['max_bytes'])}\n"
            )
    out.flush()


def _bytes(value: float) -> str:
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.2f} {unit}"
        value /= 1000
    return f"{value:.2f} GB"
