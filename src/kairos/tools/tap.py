"""Watch live coherence, phase, resonance and clock offsets of every node and the mesh.

  kairos tap [FILE | --connect ENDPOINT ...] [--json] [--once [--timeout S]]
  kairos tap ... --stream NAME [--json] [--once]     print every message (echo)
  kairos tap ... [--stream NAME] --hz | --bw         rate or bandwidth, once a second
  kairos tap ... --list [--listen S] [--json]        every stream: endpoint, type, rate

The view refreshes 4 times a second and fits 80 columns (more detail from 100); on a dumb
terminal or a pipe it prints a snapshot once a second.  ``--json`` prints one JSON object
per node update and one with ``"node": "mesh"`` per sync update.  A topology with
``mesh.encrypt`` needs ``--mesh-key FILE`` (the launcher prints its path): without the key
its publishers send nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from kairos.errors import KairosError
from kairos.tools import _json

REFRESH_S = 0.22  # 4.5 Hz
BATCH_PRINT_S = 1.0
#: --list listens this long by default: a witness (1 Hz) needs 5 messages over 4 s for a
#: rate (streams.RATE_MIN_MESSAGES); faster streams have theirs in well under a second
LIST_LISTEN_S = 6.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("file", nargs="?", metavar="FILE", help="topology file")
    parser.add_argument(
        "--connect",
        action="append",
        default=[],
        metavar="ENDPOINT",
        help="data endpoint to subscribe to (repeatable), e.g. tcp://127.0.0.1:7801",
    )
    parser.add_argument("--json", action="store_true", help="JSON lines instead of the view")
    parser.add_argument(
        "--once",
        action="store_true",
        help="print one complete snapshot (every node and the mesh; echo: one message) and exit",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="--once: give up (exit 1) after S seconds (default 10)",
    )
    parser.add_argument(
        "--stream",
        action="append",
        default=[],
        metavar="NAME",
        help="inspect this stream (glob allowed, repeatable): echo its messages",
    )
    parser.add_argument(
        "--mesh-key",
        metavar="FILE",
        help="the launch's data-plane key (mesh.encrypt): STATE_DIR/mesh.key_secret",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="list every stream (the topology's, and any heard) with endpoint, type and rate",
    )
    parser.add_argument(
        "--listen",
        type=float,
        default=LIST_LISTEN_S,
        metavar="S",
        help=f"--list: measure rates over S seconds (default {LIST_LISTEN_S:g})",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--hz", action="store_true", help="print each stream's message rate")
    what.add_argument("--bw", action="store_true", help="print each stream's bandwidth")
    parser.set_defaults(_parser=parser)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args._parser
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if (args.hz or args.bw) and args.once:
        parser.error("--once applies to the view and to echo, not to --hz or --bw")
    if args.list and (args.hz or args.bw or args.once or args.stream):
        parser.error("--list stands alone: not with --hz, --bw, --once or --stream")
    if args.listen <= 0:
        parser.error("--listen must be positive")
    from kairos.tools._tap.source import Subscription, encryption_hint, read_mesh_key, resolve

    mesh_key = read_mesh_key(args.mesh_key)
    sources = resolve(args.file, args.connect)
    hint = encryption_hint(sources, mesh_key)
    if hint and not args.once:  # --once says it in its error
        print(f"kairos tap: {hint}", file=sys.stderr)
    subscriber = Subscription(sources.endpoints, mesh_key=mesh_key)
    from kairos.tools._recording.stop import StopOnSignal

    stop = StopOnSignal()
    try:
        if args.list:
            return _list(subscriber, sources, args, stop)
        if args.hz or args.bw:
            return _meter(subscriber, args, stop)
        if args.stream:
            return _echo(subscriber, args, stop, hint)
        return _view(subscriber, sources, args, stop, hint)
    finally:
        stop.restore()
        subscriber.close()


def _why(subscriber: Any, hint: str) -> str:
    """Why nothing came: publishers that refused our handshakes, else the topology's hint."""
    problems = subscriber.problems()
    if problems:
        return "; handshake failed: " + "; ".join(f"{ep}: {why}" for ep, why in problems.items())
    return f" ({hint})" if hint else ""


def _echo(subscriber: Any, args: argparse.Namespace, stop: Any, hint: str = "") -> int:
    from kairos import wire
    from kairos.tools._recording.format import matches
    from kairos.tools._tap.streams import echo_line

    deadline = time.monotonic() + args.timeout
    while not stop.raised:
        if args.once and time.monotonic() >= deadline:
            raise KairosError(
                f"no message on {', '.join(args.stream)} within {args.timeout:g} s"
                + _why(subscriber, hint)
            )
        if not subscriber.wait(0.1):
            continue
        for endpoint, frames in subscriber.frames():
            if not matches(frames[0].decode(errors="replace"), args.stream):
                continue
            try:
                received = subscriber.decode(endpoint, frames)
            except wire.WireError as exc:
                print(f"kairos tap: dropped an undecodable frame: {exc}", file=sys.stderr)
                continue
            print(echo_line(received.message, args.json), flush=True)
            if args.once:
                return 0
    return 0


def _list(subscriber: Any, sources: Any, args: argparse.Namespace, stop: Any) -> int:
    """Listen ``--listen`` seconds, then print every stream: the topology's (heard or
    not) and any other heard, with the endpoint it came from, what it carries and its rate
    (or its count: streams.steady_rate)."""
    from kairos import wire
    from kairos.records import record_class
    from kairos.tools._tap.catalog import ENGINE_ROWS, SAMPLES, topology_streams
    from kairos.tools._tap.streams import rate_text, steady_rate

    rows: dict[str, dict[str, Any]] = {}
    if sources.topology is not None:
        for info in topology_streams(sources.topology):
            rows[info.stream] = {
                "stream": info.stream,
                "actor": info.actor,
                "endpoint": info.endpoint,
                "type": info.type_name,
            }
    heard: dict[str, list[float]] = {}  # stream -> [messages, first, last arrival]
    deadline = time.monotonic() + args.listen
    while not stop.raised and (remaining := deadline - time.monotonic()) > 0:
        if not subscriber.wait(min(0.1, remaining)):
            continue
        now = time.monotonic()
        for endpoint, frames in subscriber.frames():
            stream = frames[0].decode(errors="replace")
            seen = heard.setdefault(stream, [0, now, now])
            seen[0] += 1
            seen[2] = now
            if stream in rows:
                continue
            try:
                message = wire.decode(frames)
                kind = (
                    record_class(stream).__name__
                    if message.is_record
                    else ENGINE_ROWS
                    if message.fields == _engine_fields()
                    else SAMPLES
                )
            except wire.WireError:
                kind = "undecodable"
            rows[stream] = {"stream": stream, "actor": "", "endpoint": endpoint, "type": kind}
    for row in rows.values():
        count, first, last = heard.get(row["stream"], (0, 0.0, 0.0))
        row["messages"] = int(count)
        row["rate_hz"] = steady_rate(int(count), last - first)
        row["shown"] = rate_text(int(count), last - first) if count else "silent"
    listed = sorted(rows.values(), key=lambda r: r["stream"])
    if args.json:
        for row in listed:
            print(_json.dumps({k: v for k, v in row.items() if k != "shown"}), flush=True)
        return 0
    width = max([6, *(len(r["stream"]) for r in listed)])
    end_width = max([8, *(len(r["endpoint"]) for r in listed)])
    print(f"{'stream':<{width}}  {'endpoint':<{end_width}}  {'type':<12} {'rate Hz':>10}")
    for row in listed:
        print(
            f"{row['stream']:<{width}}  {row['endpoint']:<{end_width}}  {row['type']:<12} "
            f"{row['shown']:>10}"
        )
    print(f"(rates measured over {args.listen:g} s of listening)")
    return 0


def _engine_fields() -> tuple[str, ...]:
    from kairos.actors.engine import ENGINE_FIELDS

    return ENGINE_FIELDS


def _meter(subscriber: Any, args: argparse.Namespace, stop: Any) -> int:
    from kairos.tools._recording.format import matches
    from kairos.tools._tap.streams import Meter, report

    meter = Meter()
    next_report = time.monotonic() + 1.0
    while not stop.raised:
        subscriber.wait(max(0.0, next_report - time.monotonic()))
        now = time.monotonic()
        for _, frames in subscriber.frames():
            stream = frames[0].decode(errors="replace")
            if matches(stream, args.stream):
                meter.add(stream, frames, now)
        if now >= next_report:
            report(meter, "hz" if args.hz else "bw", args.json, sys.stdout)
            next_report += 1.0
    return 0


def _view(
    subscriber: Any, sources: Any, args: argparse.Namespace, stop: Any, hint: str = ""
) -> int:
    from rich.console import Console

    from kairos.tools._tap.render import table
    from kairos.tools._tap.state import MeshView

    view = MeshView(sources.engines, sources.syncs, sources.node_info)
    console = Console(highlight=False)
    started = time.monotonic()
    # without a topology, listen a little before calling a snapshot complete: the witness
    # records come once a second and say which streams are engines
    settle = 0.0 if sources.topology is not None else 1.5
    live = None
    if not args.json and not args.once and console.is_terminal and not console.is_dumb_terminal:
        from rich.live import Live

        live = Live(console=console, auto_refresh=False, screen=False, transient=False)
        live.start()
    next_print = started + BATCH_PRINT_S
    try:
        while not stop.raised:
            tick_end = time.monotonic() + REFRESH_S
            latest: dict[bytes, list[bytes]] = {}
            while (remaining := tick_end - time.monotonic()) > 0:
                if subscriber.wait(remaining):
                    for _, frames in subscriber.frames():
                        latest[frames[0]] = frames  # only the latest of each is decoded
            view.take({k.decode(errors="replace"): v for k, v in latest.items()})
            view.tick()
            now = time.monotonic()
            if args.once:
                if view.complete() and now - started >= settle:
                    _print_snapshot(view, console, args.json)
                    return 0
                if now - started >= args.timeout:
                    lacking = "; ".join(view.missing())
                    raise KairosError(
                        f"no complete snapshot within {args.timeout:g} s; still missing: {lacking}"
                        + _why(subscriber, hint)
                    )
                continue
            if args.json:
                for record in view.records(only_updated=True):
                    print(_json.dumps(record), flush=True)
            elif live is not None:
                live.update(table(view, console.width), refresh=True)
            elif now >= next_print:
                console.print(table(view, console.width))
                console.print()
                next_print += BATCH_PRINT_S
    finally:
        if live is not None:
            live.stop()
    return 0


def _print_snapshot(view: Any, console: Any, as_json: bool) -> None:
    from kairos.tools._tap.render import table

    if as_json:
        for record in view.records():
            print(_json.dumps(record), flush=True)
    else:
        console.print(table(view, console.width))
