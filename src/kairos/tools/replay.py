"""Republish a recording onto a topology's endpoints with its original timing.

  kairos replay IN.mcap [--topology FILE] [--speed X | --max-speed] [--loop]
                [--streams GLOB ...] [--start S] [--end S] [--replace ACTOR ...]

Each replayed actor's streams are sent verbatim from an XPUB bound at that actor's endpoint
(the topology's, or the endpoint recorded with the stream), after the topology's live
consumers have announced themselves as to a live publisher (docs/wire.md, "Ready handshake"),
so engines, sync, outputs and the tap run as they did live.  ``--replace``
replays only the named actors while the rest of the topology runs live.  Into a topology
with ``mesh.encrypt``, pass ``--mesh-key FILE`` (the running launch's key): each XPUB is then
a CurveZMQ server that admits only holders of that key, as the live actors' PUBs do.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kairos import _log
from kairos.errors import RecordingError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", metavar="IN.mcap", help="recording to replay")
    parser.add_argument("--topology", metavar="FILE", help="topology whose endpoints to use")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="time factor (2 = twice as fast)"
    )
    pace.add_argument(
        "--max-speed", action="store_true", help="send as fast as the sockets allow (no drops)"
    )
    parser.add_argument("--loop", action="store_true", help="start over at the end, until Ctrl-C")
    parser.add_argument(
        "--streams",
        nargs="+",
        action="extend",
        default=[],
        metavar="GLOB",
        help="replay only streams matching these globs (fnmatch)",
    )
    parser.add_argument(
        "--start", type=float, default=0.0, metavar="S", help="seconds into the recording"
    )
    parser.add_argument("--end", type=float, metavar="S", help="stop S seconds into it")
    parser.add_argument(
        "--replace",
        nargs="+",
        action="extend",
        default=[],
        metavar="ACTOR",
        help="replay only these actors' streams; the rest of the topology runs live",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="S",
        help="how long to wait for the topology's live consumers before sending (default 10)",
    )
    parser.add_argument(
        "--mesh-key",
        metavar="FILE",
        help="the launch's data-plane key (mesh.encrypt): STATE_DIR/mesh.key_secret",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run with SCHED_FIFO priority for tight timing (Linux; root or CAP_SYS_NICE)",
    )
    parser.add_argument(
        "--allow-truncated",
        action="store_true",
        help="replay a recording whose recorder did not finish, up to its last chunk",
    )
    parser.set_defaults(_parser=parser)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args._parser
    if args.speed <= 0:
        parser.error("--speed must be positive")
    if args.start < 0 or (args.end is not None and args.end <= args.start):
        parser.error("need 0 <= --start < --end")
    if args.wait < 0:
        parser.error("--wait must not be negative")

    from kairos.tools._recording import format as fmt
    from kairos.tools._recording.info import summarise
    from kairos.tools._recording.player import Publishers, play
    from kairos.tools._recording.reader import read
    from kairos.tools._recording.stop import StopOnSignal
    from kairos.tools._tap.source import load_topology, read_mesh_key

    log = _log.get("replay")
    if args.realtime:
        from kairos.tools._recording.realtime import request_realtime

        request_realtime()
    mesh_key = read_mesh_key(args.mesh_key)
    path = Path(args.recording)
    summary = summarise(path, allow_truncated=args.allow_truncated)  # validates the whole file
    topology = load_topology(Path(args.topology)) if args.topology else None
    replaced = set(args.replace)
    if topology is not None:
        unknown = sorted(replaced - set(topology.actors))
        if unknown:
            raise RecordingError(f"--replace {', '.join(unknown)}: not actors of {args.topology}")
    recorded_actors = {fmt.actor_of(s) for s in summary.streams}
    missing = sorted(replaced - recorded_actors)
    if missing:
        raise RecordingError(f"{path}: holds no stream of {', '.join(missing)}")

    endpoints: dict[str, str] = {}
    for stream in sorted(summary.streams):
        actor = fmt.actor_of(stream)
        if replaced and actor not in replaced:
            continue
        if not fmt.matches(stream, args.streams):
            continue
        endpoint = _endpoint(stream, actor, topology, summary, path)
        if endpoint is None:
            log.warning("stream skipped: its actor is not in the topology", stream=stream)
            continue
        endpoints[stream] = endpoint
    if not endpoints:
        raise RecordingError(f"{path}: no recorded stream matches the selection")

    expected = _live_consumers(endpoints, topology)
    first = summary.first_ns
    start_ns = first + int(args.start * 1e9)
    end_ns = None if args.end is None else first + int(args.end * 1e9)
    span_ns = (min(summary.last_ns, end_ns) if end_ns is not None else summary.last_ns) - start_ns

    if mesh_key is None and topology is not None and topology.mesh.encrypt:
        raise RecordingError(
            f"{args.topology} encrypts its data plane (mesh.encrypt): its actors subscribe "
            "over CurveZMQ only; pass --mesh-key STATE_DIR/mesh.key_secret"
        )
    publishers = Publishers(endpoints, mesh_key=mesh_key)
    stop = StopOnSignal()
    try:
        short = publishers.wait_for(expected, args.wait)
        if short:
            log.warning("not every consumer subscribed; replaying anyway", waiting_for=short)

        def selected() -> Iterator[Any]:
            for message in read(path, allow_truncated=args.allow_truncated):
                if message.stream not in endpoints or message.log_time < start_ns:
                    continue
                if end_ns is not None and message.log_time >= end_ns:
                    break
                yield message

        speed = None if args.max_speed else args.speed
        total = 0
        began = time.monotonic()
        with _progress(span_ns, start_ns) as advance:
            while True:
                outcome = play(selected(), publishers, speed, lambda: stop.raised, advance)
                total += outcome.messages
                if outcome.stalls:
                    log.info(
                        "sender waited for room below the high-water mark", times=outcome.stalls
                    )
                if not args.loop or stop.raised or outcome.messages == 0:
                    break
    finally:
        stop.restore()
        publishers.close()
    print(
        f"kairos replay: {total} messages of {len(endpoints)} streams "
        f"in {time.monotonic() - began:.2f} s",
        file=sys.stderr,
    )
    return 0


def _endpoint(stream: str, actor: str, topology: Any, summary: Any, path: Path) -> str | None:
    if topology is not None:
        return topology.endpoint(actor) if actor in topology.actors else None
    recorded = summary.extras.endpoints.get(actor)
    if recorded:
        return recorded
    channel_endpoint = summary.channel_endpoints.get(stream)
    if channel_endpoint:
        return channel_endpoint
    raise RecordingError(
        f"{path}: no endpoint recorded for stream {stream!r}; give --topology FILE"
    )


def _live_consumers(endpoints: dict[str, str], topology: Any) -> dict[str, set[str]]:
    """The consumers each replay endpoint waits for, as a live publisher would: the topology
    actors taking a replayed main stream as input, except those replayed themselves (they
    are not running).  Pulse followers are not waited for (nor are they live).  Without a
    topology no consumer is known by name: only the watcher grace applies."""
    from kairos.tools._recording import format as fmt

    expected: dict[str, set[str]] = {}
    if topology is None:
        return expected
    replayed = {fmt.actor_of(stream) for stream in endpoints}
    for stream, endpoint in endpoints.items():
        if stream != fmt.actor_of(stream):
            continue
        names = {
            spec.name
            for spec in topology.actors.values()
            if stream in spec.inputs and spec.name not in replayed
        }
        if names:
            expected.setdefault(endpoint, set()).update(names)
    return expected


class _progress:
    """A rich progress bar over recording time, shown only when stderr is a terminal."""

    def __init__(self, span_ns: int, start_ns: int) -> None:
        self._span = max(1, span_ns)
        self._start = start_ns
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            return lambda log_time: None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("replay"),
            BarColumn(),
            TextColumn("{task.fields[at]:>8.1f} / {task.fields[of]:.1f} s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task("replay", total=self._span, at=0.0, of=self._span / 1e9)
        self._bar.start()
        last = [0.0]

        def advance(log_time: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.1:  # a redraw per message would cost more than the replay
                last[0] = now
                done = max(0, log_time - self._start)
                self._bar.update(self._task, completed=done, at=done / 1e9)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
