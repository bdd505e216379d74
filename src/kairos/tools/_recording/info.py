"""``kairos record info``: what a recording holds, per stream, from one pass over its data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kairos.actors._metrics import StreamTrack
from kairos.errors import RecordingError
from kairos.tools._recording.reader import Extras, header_of, read
from kairos.tools._tap.streams import rate_text, steady_rate


@dataclass
class StreamStats:
    """Counts and times of one stream; gaps and restarts are counted as every receiver
    counts them (kairos.actors._metrics.StreamTrack, docs/wire.md)."""

    messages: int = 0
    samples: int = 0
    bytes: int = 0
    first_ns: int = 0
    last_ns: int = 0
    track: StreamTrack = field(default_factory=StreamTrack)

    @property
    def gaps(self) -> int:
        return self.track.gaps

    @property
    def restarts(self) -> int:
        return self.track.restarts

    @property
    def duration_s(self) -> float:
        return (self.last_ns - self.first_ns) / 1e9

    @property
    def rate_hz(self) -> float | None:
        """Messages per second between the first and last message; None for a stream with
        too few messages or too short a span to have a rate (a burst: see steady_rate)."""
        return steady_rate(self.messages, self.duration_s)


@dataclass
class Summary:
    path: Path
    streams: dict[str, StreamStats] = field(default_factory=dict)
    extras: Extras = field(default_factory=Extras)
    #: the endpoint each stream was received from (recorded in its channel's metadata)
    channel_endpoints: dict[str, str] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return sum(s.messages for s in self.streams.values())

    @property
    def first_ns(self) -> int:
        return min((s.first_ns for s in self.streams.values()), default=0)

    @property
    def last_ns(self) -> int:
        return max((s.last_ns for s in self.streams.values()), default=0)

    @property
    def duration_s(self) -> float:
        return (self.last_ns - self.first_ns) / 1e9

    def clocks(self) -> dict[str, dict[str, int]]:
        """The last clock offset stored for each device."""
        latest: dict[str, dict[str, int]] = {}
        for entry in self.extras.clocks:
            try:
                latest[entry["device"]] = {
                    "clock_offset_ns": int(entry["clock_offset_ns"]),
                    "clock_uncertainty_ns": int(entry["clock_uncertainty_ns"]),
                    "t_ns": int(entry.get("t_ns", "0")),
                }
            except (KeyError, ValueError):
                raise RecordingError(
                    f"{self.path}: malformed kairos.clock metadata {entry!r}"
                ) from None
        return latest

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "topology": self.extras.recording.get("topology", ""),
            "kairos_version": self.extras.recording.get("kairos_version", ""),
            "messages": self.messages,
            "start_ns": self.first_ns,
            "end_ns": self.last_ns,
            "duration_s": self.duration_s,
            "truncated": self.extras.truncated,
            "clocks": self.clocks(),
            "streams": {
                name: {
                    "messages": s.messages,
                    "samples": s.samples,
                    "bytes": s.bytes,
                    "duration_s": s.duration_s,
                    "rate_hz": s.rate_hz,
                    "gaps": s.gaps,
                    "restarts": s.restarts,
                }
                for name, s in sorted(self.streams.items())
            },
        }


def summarise(path: Path, allow_truncated: bool = False) -> Summary:
    """Read the whole data section of ``path`` and count what it holds."""
    summary = Summary(path=path)
    for message in read(path, summary.extras, allow_truncated=allow_truncated):
        stats = summary.streams.get(message.stream)
        if stats is None:
            stats = summary.streams[message.stream] = StreamStats(first_ns=message.log_time)
            endpoint = message.channel_metadata.get("endpoint")
            if endpoint:
                summary.channel_endpoints[message.stream] = endpoint
        header = header_of(message)
        seq, epoch = header.get("seq"), header.get("epoch")
        if not isinstance(seq, int) or not isinstance(epoch, int):
            raise RecordingError(f"{path}: stream {message.stream!r}: header lacks seq or epoch")
        stats.track.advance(epoch, seq, message.log_time, message.log_time)
        stats.messages += 1
        stats.samples += len(message.times) // 8
        stats.bytes += len(message.header) + len(message.times) + len(message.payload)
        stats.last_ns = message.log_time
    return summary


def render(summary: Summary) -> str:
    """The plain-text report: one line per stream, then the clocks (fits 80 columns)."""
    extras = summary.extras
    lines = [
        f"file:      {summary.path}",
        f"topology:  {extras.recording.get('topology') or '-'}"
        f"    kairos {extras.recording.get('kairos_version') or '?'}",
        f"messages:  {summary.messages}    streams: {len(summary.streams)}"
        f"    duration: {summary.duration_s:.3f} s",
    ]
    if extras.truncated:
        lines.append("state:     truncated (recorder did not finish); read to last complete chunk")
    lines.append("")
    width = max([len("stream"), *(len(n) for n in summary.streams)])
    width = min(width, 36)
    lines.append(
        f"{'stream':<{width}} {'msgs':>8} {'rate Hz':>9} {'KiB':>8} {'gaps':>6} {'restarts':>8}"
    )
    for name, s in sorted(summary.streams.items()):
        rate = rate_text(s.messages, s.duration_s)
        lines.append(
            f"{_fit(name, width):<{width}} {s.messages:>8} {rate:>9} "
            f"{s.bytes / 1024:>8.1f} {s.gaps:>6} {s.restarts:>8}"
        )
    clocks = summary.clocks()
    if clocks:
        lines.append("")
        lines.append("device clock offsets to mesh time (last stored):")
        for device, clock in sorted(clocks.items()):
            lines.append(
                f"  {device}: {clock['clock_offset_ns'] / 1e6:+.3f} ms "
                f"± {clock['clock_uncertainty_ns'] / 1e6:.3f} ms"
            )
    return "\n".join(lines)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
