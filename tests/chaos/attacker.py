"""A hostile neighbour of an agent's control port, run as its own process by the chaos tests.

    python attacker.py --target HOST:PORT | --decoy  --duration S  [--server-key Z85]
                       [--half-open N] [--garbage-per-s N] [--unknown-keys N]

For ``--duration`` seconds it keeps ``--half-open`` TCP connections open without a word,
opens ``--garbage-per-s`` connections a second that send 4 KiB of random bytes and hang up,
and makes ``--unknown-keys`` CurveZMQ connections with fresh (untrusted) key pairs, each
sending a spawn request.  With ``--decoy`` it does the same against a listener of its own,
so a test can measure a baseline under the same CPU load.  It prints one JSON line: what it
did, and how many replies the unknown keys got (anything but 0 means a stranger was heard).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import socket
import sys
import threading
import time
from typing import Any

import zmq

GARBAGE_BYTES = 4096


def _decoy() -> tuple[str, int, threading.Event]:
    """A TCP listener that accepts and discards everything (the baseline's target)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(512)
    server.setblocking(False)
    stop = threading.Event()

    def serve() -> None:
        selector = selectors.DefaultSelector()
        selector.register(server, selectors.EVENT_READ)
        while not stop.is_set():
            for key, _ in selector.select(0.05):
                if key.fileobj is server:
                    with contextlib.suppress(OSError):
                        conn, _ = server.accept()
                        conn.setblocking(False)
                        selector.register(conn, selectors.EVENT_READ)
                    continue
                conn = key.fileobj  # type: ignore[assignment]
                try:
                    data = conn.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(conn)
                    conn.close()  # type: ignore[union-attr]
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1", server.getsockname()[1], stop


def _half_open(host: str, port: int, count: int, until: float, out: dict[str, Any]) -> None:
    held = []
    for _ in range(count):
        try:
            held.append(socket.create_connection((host, port), timeout=2))
        except OSError:
            out["half_open_failed"] += 1
    out["half_open"] = len(held)
    while time.monotonic() < until:
        time.sleep(0.05)
    for sock in held:
        sock.close()


def _garbage(host: str, port: int, per_s: int, until: float, out: dict[str, Any]) -> None:
    step = 1.0 / per_s
    due = time.monotonic()
    while due < until:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((host, port), timeout=2) as sock,
        ):
            sock.sendall(os.urandom(GARBAGE_BYTES))
            out["garbage_connections"] += 1
            out["garbage_bytes"] += GARBAGE_BYTES
        due += step
        time.sleep(max(0.0, due - time.monotonic()))


def _unknown_keys(
    endpoint: str, server_key: bytes, count: int, until: float, out: dict, wait_s: float
) -> None:
    """Strangers: fresh key pairs, each sending ``stop`` (all) right behind the handshake;
    each waits up to ``wait_s`` for the handshake's outcome (a decoy never answers)."""
    from kairos.control.commands import Stop
    from kairos.security.handshake import HandshakeWatch

    context = zmq.Context()
    step = max(0.0, (until - time.monotonic()) / max(1, count))
    due = time.monotonic()
    try:
        for attempt in range(count):
            public, secret = zmq.curve_keypair()
            sock = context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
            sock.setsockopt(zmq.CURVE_SERVERKEY, server_key)
            watch = HandshakeWatch(sock)
            sock.connect(endpoint)
            request = Stop().request(expires_ns=2**62, request_id=f"stranger-{attempt}")
            with contextlib.suppress(zmq.Again):
                sock.send(request.encode(), zmq.NOBLOCK)  # queued until a handshake
            outcome = watch.wait(wait_s).status
            out["unknown_key_outcomes"][outcome] = out["unknown_key_outcomes"].get(outcome, 0) + 1
            out["unknown_key_attempts"] += 1
            if sock.poll(50, zmq.POLLIN):
                out["unknown_key_replies"] += 1
            watch.close()
            sock.close(0)
            due += step
            time.sleep(max(0.0, due - time.monotonic()))
    finally:
        context.destroy(linger=0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", metavar="HOST:PORT")
    where.add_argument("--decoy", action="store_true")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--server-key", help="the agent's Z85 public key")
    parser.add_argument("--half-open", type=int, default=200)
    parser.add_argument("--garbage-per-s", type=int, default=100)
    parser.add_argument("--unknown-keys", type=int, default=0)
    args = parser.parse_args(argv)
    stop_decoy = None
    if args.decoy:
        host, port, stop_decoy = _decoy()
    else:
        host, _, port_text = args.target.rpartition(":")
        port = int(port_text)
    out: dict[str, Any] = {
        "target": "decoy" if args.decoy else args.target,
        "half_open": 0,
        "half_open_failed": 0,
        "garbage_connections": 0,
        "garbage_bytes": 0,
        "unknown_key_attempts": 0,
        "unknown_key_replies": 0,
        "unknown_key_outcomes": {},
    }
    started = time.monotonic()
    until = started + args.duration
    workers = [
        threading.Thread(target=_half_open, args=(host, port, args.half_open, until, out)),
        threading.Thread(target=_garbage, args=(host, port, args.garbage_per_s, until, out)),
    ]
    if args.unknown_keys and args.server_key:
        endpoint = f"tcp://{host}:{port}"
        wait_s = 0.05 if args.decoy else 5.0
        strangers = (endpoint, args.server_key.encode(), args.unknown_keys, until, out, wait_s)
        workers.append(threading.Thread(target=_unknown_keys, args=strangers))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if stop_decoy is not None:
        stop_decoy.set()
    out["started"] = started
    out["ended"] = time.monotonic()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
