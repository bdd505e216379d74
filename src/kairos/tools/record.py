"""Record every message of a topology (or of given endpoints) to an MCAP file.

  kairos record [FILE | --connect ENDPOINT ...] -o OUT.mcap [--streams GLOB ...] [--duration S]
  kairos record info REC.mcap [--json] [--allow-truncated]
  kairos record export REC.mcap -o OUT.mcap --format json     JSON MCAP, for any viewer
  kairos record export REC.mcap -o DIR --format csv           one CSV file per stream

One channel per stream; each message is stored exactly as received (docs/recording.md).
SIGINT or SIGTERM finalise the file; a recorder killed outright leaves a file that reads up
to its last complete chunk.  A topology with ``mesh.encrypt`` needs ``--mesh-key FILE``; the
recording itself holds the decrypted frames (keep it as private as the key).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from kairos.errors import RecordingError
from kairos.tools import _json

_USAGE = (
    "kairos record [FILE | --connect ENDPOINT ...] -o OUT.mcap [--streams GLOB ...] "
    "[--duration S]\n       kairos record info REC.mcap [--json] [--allow-truncated]"
    "\n       kairos record export REC.mcap -o OUT --format json|csv"
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = _USAGE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "target",
        nargs="*",
        metavar="FILE",
        help="topology file; or: info REC.mcap; or: export REC.mcap",
    )
    parser.add_argument(
        "--connect",
        action="append",
        default=[],
        metavar="ENDPOINT",
        help="data endpoint to subscribe to (repeatable), e.g. tcp://127.0.0.1:7801",
    )
    parser.add_argument("-o", "--output", metavar="OUT.mcap", help="file to write")
    parser.add_argument(
        "--streams",
        nargs="+",
        action="extend",
        default=[],
        metavar="GLOB",
        help="record only streams matching these globs (fnmatch, e.g. 'mic*' '*/witness')",
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument(
        "--mesh-key",
        metavar="FILE",
        help="the launch's data-plane key (mesh.encrypt): STATE_DIR/mesh.key_secret",
    )
    parser.add_argument(
        "--clock-file",
        metavar="PATH",
        help="the local agent's clock file, to stamp receive times in mesh time",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run with SCHED_FIFO priority for tight timing (Linux; root or CAP_SYS_NICE)",
    )
    parser.add_argument("--json", action="store_true", help="info: print JSON")
    parser.add_argument(
        "--format",
        choices=["json", "csv"],
        help="export: json (an MCAP file any viewer decodes) or csv (a directory)",
    )
    parser.add_argument(
        "--allow-truncated",
        action="store_true",
        help="info: report a recording whose recorder did not finish, up to its last chunk",
    )
    parser.set_defaults(_parser=parser)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args._parser
    if args.target[:1] == ["info"]:
        if len(args.target) != 2:
            parser.error("record info takes exactly one recording: kairos record info REC.mcap")
        return _info(Path(args.target[1]), args.json, args.allow_truncated)
    if args.target[:1] == ["export"]:
        if len(args.target) != 2:
            parser.error("record export takes exactly one recording: kairos record export REC.mcap")
        if not args.output or not args.format:
            parser.error("record export needs -o OUT and --format json|csv")
        return _export(Path(args.target[1]), Path(args.output), args.format)
    if args.format:
        parser.error("--format applies to record export; a recording holds the wire frames")
    if len(args.target) > 1:
        parser.error(f"expected at most one topology FILE, got {' '.join(args.target)}")
    if not args.output:
        parser.error("the output file is required: -o OUT.mcap")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    return _record(args)


def _info(path: Path, as_json: bool, allow_truncated: bool) -> int:
    from kairos.tools._recording.info import render, summarise

    summary = summarise(path, allow_truncated=allow_truncated)
    if as_json:
        print(_json.dumps(summary.to_json()))
    else:
        print(render(summary))
    return 0


def _export(path: Path, out: Path, kind: str) -> int:
    from kairos.tools._recording.export import export_csv, export_json

    if out.resolve() == path.resolve():
        raise RecordingError(f"{out}: the export would overwrite the recording it reads")
    counts = (export_json if kind == "json" else export_csv)(path, out)
    print(
        f"kairos record: {sum(counts.values())} samples of {len(counts)} streams exported "
        f"to {out} ({kind})",
        file=sys.stderr,
    )
    return 0


def _record(args: argparse.Namespace) -> int:
    from kairos import __version__, wire
    from kairos.client import Subscription
    from kairos.meshtime import MeshClock
    from kairos.tools._recording import format as fmt
    from kairos.tools._recording.stop import StopOnSignal
    from kairos.tools._recording.writer import RecordingWriter, recording_info
    from kairos.tools._tap.source import read_mesh_key, resolve

    mesh_key = read_mesh_key(args.mesh_key)
    sources = resolve(args.target[0] if args.target else None, args.connect)
    if mesh_key is None and getattr(getattr(sources.topology, "mesh", None), "encrypt", False):
        print(
            "kairos record: the topology encrypts its data plane (mesh.encrypt) and no "
            "--mesh-key was given: nothing will be recorded",
            file=sys.stderr,
        )
    if args.realtime:
        from kairos.tools._recording.realtime import request_realtime

        request_realtime()
    clock = MeshClock(Path(args.clock_file) if args.clock_file else None)
    out = Path(args.output)
    if out.is_dir():
        raise RecordingError(f"{out}: is a directory; give a file name such as run.mcap")
    labels = {endpoint: label for label, endpoint in sources.endpoints.items()}
    start = clock.now_ns()
    writer = RecordingWriter(
        out,
        recording_info(
            sources.topology_name,
            sources.endpoints,
            start,
            __version__,
            getattr(sources.topology, "mesh", None),
        ),
    )
    # records are stored verbatim, typed or not: only the witnesses are read (for clocks)
    subscriber = Subscription(sources.endpoints, mesh_key=mesh_key, typed_records=False)
    stop = StopOnSignal()
    deadline = None if args.duration is None else time.monotonic() + args.duration
    dropped = 0
    try:
        while not stop.raised and (deadline is None or time.monotonic() < deadline):
            wait = 0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))
            if subscriber.wait(wait):
                # stamp everything queued first: the stamps are what replay's timing follows
                batch = [(ep, frames, clock.now_ns()) for ep, frames in subscriber.frames()]
                for endpoint, frames, log_time in batch:
                    try:
                        message = subscriber.decode(endpoint, frames, track=False).message
                    except wire.WireError:
                        dropped += 1
                        continue
                    if not fmt.matches(message.stream, args.streams):
                        continue
                    writer.add(
                        message.stream,
                        frames[1:],
                        log_time,
                        message.sent_ns,
                        message.seq,
                        {"endpoint": endpoint, "actor": labels.get(endpoint, "")},
                    )
                    _note_clock(writer, message)
            writer.tick()
            clock.refresh()
    finally:
        stop.restore()
        problems = subscriber.problems()
        subscriber.close()
        writer.close()
    for endpoint, why in problems.items():
        print(f"kairos record: nothing from {endpoint}: {why}", file=sys.stderr)
    print(
        f"kairos record: {writer.messages} messages written to {out}"
        + (f" ({dropped} undecodable frames dropped)" if dropped else ""),
        file=sys.stderr,
    )
    return 0


def _note_clock(writer: Any, message: Any) -> None:
    """Store the clock offset a witness record reports for its device (others are ignored)."""
    from kairos.errors import WireError
    from kairos.records import WITNESS_STREAM, Witness, expect, split_stream

    if split_stream(message.stream)[1] != WITNESS_STREAM:
        return
    try:
        witness = expect(message, Witness)
    except WireError:
        return  # stored as received; a malformed witness just says nothing of clocks
    writer.note_clock(
        witness.device, witness.clock_offset_ns, witness.clock_uncertainty_ns, witness.t_ns
    )
