"""Serve the live mesh to a viewer.

  kairos bridge foxglove TOPOLOGY [--host 127.0.0.1] [--port 8765] [--mesh-key FILE]

``foxglove``: the Foxglove WebSocket protocol, served by the official ``foxglove-sdk``
(``pip install 'kairos-mesh[foxglove]'``).  Every engine, sync, witness and event stream of
the topology is a channel with a JSON schema (kairos.jsonview), so Foxglove's Plot, Raw
Messages and State Transitions panels work without set-up; each sample is one message whose
log time is its sample time (mesh time).  Sensor samples are left out: at hundreds of rows a
second per sensor, JSON over a WebSocket costs more than a viewer needs (use ``kairos tap
--stream``).  The server listens on 127.0.0.1 unless ``--host`` says otherwise; it has no
authentication, so binding another address shows the mesh to that network.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kairos.errors import KairosError
from kairos.loopback import is_loopback_host

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("protocol", choices=["foxglove"], help="the viewer's protocol")
    parser.add_argument("file", metavar="TOPOLOGY", help="topology file")
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}; any other shows the mesh "
        "to that network, unauthenticated)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--mesh-key",
        metavar="FILE",
        help="the launch's data-plane key (mesh.encrypt): STATE_DIR/mesh.key_secret",
    )
    parser.set_defaults(_parser=parser)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args._parser
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}: not a port number (0-65535)")
    try:
        import foxglove
    except ImportError:
        raise KairosError(
            "the Foxglove bridge needs the foxglove-sdk package: "
            "pip install 'kairos-mesh[foxglove]'"
        ) from None
    from kairos import jsonview, wire
    from kairos.client import Subscription
    from kairos.tools._recording.stop import StopOnSignal
    from kairos.tools._tap.source import encryption_hint, read_mesh_key, resolve

    mesh_key = read_mesh_key(args.mesh_key)
    sources = resolve(args.file, [])
    hint = encryption_hint(sources, mesh_key)
    if hint:
        print(f"kairos bridge: {hint}", file=sys.stderr)
    served = served_streams(sources.topology)
    if not is_loopback_host(args.host):
        print(
            f"kairos bridge: listening on {args.host}: anyone who reaches it sees the mesh "
            "(the Foxglove protocol has no authentication here)",
            file=sys.stderr,
        )
    context = foxglove.Context()
    channels = {info.stream: _channel(foxglove, context, info) for info in served}
    try:
        server = foxglove.start_server(
            name=f"kairos {sources.topology_name}",
            host=args.host,
            port=args.port,
            context=context,
        )
    except Exception as exc:  # the SDK raises its own error types for a busy port
        raise KairosError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    endpoints = {s.actor: s.endpoint for s in served}
    subscriber = Subscription(endpoints, [s.stream for s in served], mesh_key=mesh_key)
    stop = StopOnSignal()
    print(
        f"kairos bridge: serving {len(channels)} channels of {sources.topology_name!r} on "
        f"ws://{args.host}:{server.port} (Foxglove: Open connection, Foxglove WebSocket)",
        file=sys.stderr,
        flush=True,
    )
    undecodable = 0
    try:
        while not stop.raised:
            received = subscriber.next(timeout_s=0.1)
            if received is None:
                continue
            channel = channels.get(received.stream)
            if channel is None:
                continue
            try:
                samples = jsonview.json_messages(received.message, received.record)
            except wire.WireError as exc:
                undecodable += 1
                if undecodable == 1:
                    print(f"kairos bridge: dropped a message: {exc}", file=sys.stderr)
                continue
            for t_ns, body in samples:
                channel.log(json.dumps(body, allow_nan=False).encode(), log_time=t_ns)
    finally:
        stop.restore()
        problems = subscriber.problems()
        subscriber.close()
        server.stop()
    for endpoint, why in problems.items():
        print(f"kairos bridge: nothing from {endpoint}: {why}", file=sys.stderr)
    return 0


def served_streams(topology: Any) -> list[Any]:
    """The streams of a topology the bridge makes channels of: all but sensor samples."""
    from kairos.tools._tap.catalog import SAMPLES, topology_streams

    return [info for info in topology_streams(topology) if info.carries != SAMPLES]


def _channel(foxglove: Any, context: Any, info: Any) -> Any:
    """The channel of one stream, with its JSON schema (records: the record's; engines:
    the engine's row fields)."""
    from kairos import jsonview
    from kairos.tools._tap.catalog import stream_schema

    name, schema = stream_schema(info)
    return foxglove.Channel(
        info.stream,
        schema=foxglove.Schema(
            name=name,
            encoding=jsonview.SCHEMA_ENCODING,
            data=json.dumps(schema).encode(),
        ),
        message_encoding=jsonview.MESSAGE_ENCODING,
        context=context,
        metadata={"actor": info.actor, "role": info.role, "endpoint": info.endpoint},
    )
