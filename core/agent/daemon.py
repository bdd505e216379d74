"""The agent daemon: one ROUTER socket, one single-threaded poll loop, timers.

Requests are decoded defensively, answered once per id (a repeated id gets the remembered
reply, never a second execution), refused when expired, and dispatched to the command
classes of :mod:`kairos.control.commands`.  Between requests the loop reaps and restarts
actors, samples health every second and pets the service watchdog.  SIGTERM or SIGINT stop
every actor and end the loop with exit status 0.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections import Counter, OrderedDict
from pathlib import Path
from types import FrameType
from typing import Any, Final

import zmq

from kairos import _log
from kairos.agent.clock import AgentClock
from kairos.agent.config import AgentConfig
from kairos.agent.health import HealthMonitor
from kairos.agent.supervisor import Supervisor
from kairos.control.commands import COMMANDS
from kairos.control.protocol import (
    BAD_REQUEST,
    DUPLICATE,
    ERROR,
    EXPIRED,
    MAX_FRAME_BYTES,
    UNKNOWN_COMMAND,
    Reply,
    Request,
    RequestError,
)
from kairos.control.sockets import CurveKeys, bind, control_socket
from kairos.errors import AgentError, KairosError
from kairos.hardware.detect import detect_class
from kairos.hardware.notify import notify, watchdog_interval_s

#: replies remembered for repeated ids
REPLAY_CACHE_SIZE: Final = 10_000
#: beyond this, libzmq drops the peer without a reply (memory guard); up to it we answer
HARD_FRAME_LIMIT: Final = 4 * MAX_FRAME_BYTES
SUPERVISE_EVERY_S: Final = 0.05
HEALTH_EVERY_S: Final = 1.0
MAX_BATCH: Final = 100


class Agent:
    """One device's daemon; ``serve()`` runs until SIGTERM/SIGINT or ``request_stop()``."""

    def __init__(self, config: AgentConfig, *, curve: CurveKeys | None = None) -> None:
        self.config = config
        self.device = config.device
        self.state_dir = Path(config.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.device_class = _device_class(config.device_class)
        self._log = _log.get("agent", device=self.device)
        self.clock = AgentClock(self.state_dir / "clock.json")
        self.supervisor = Supervisor(self.state_dir, self.clock.path)
        self.health = HealthMonitor()
        self._curve = curve
        self._replies: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._counts: Counter[str] = Counter()
        self._stop = False
        self.endpoint: str | None = None

    # -- what commands see ---------------------------------------------------------------

    def local_ns(self) -> int:
        return self.clock.local_ns()

    def mesh_ns(self) -> int:
        return self.clock.mesh_ns()

    def counters(self) -> dict[str, int]:
        return dict(self._counts)

    # -- the loop ------------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        self._stop = True

    def serve(self) -> int:
        """Clean up orphans, bind, announce readiness, serve; 0 after a clean shutdown."""
        orphans = self.supervisor.cleanup_orphans()
        if orphans:
            self._log.warning("stopped orphans of a previous agent", pids=orphans)
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        context = zmq.Context()
        sock = control_socket(context, zmq.ROUTER, curve=self._curve)
        sock.setsockopt(zmq.MAXMSGSIZE, HARD_FRAME_LIMIT)
        try:
            self.endpoint = bind(sock, self.config.bind)
            if self.config.trusted_keys_dir is not None and self._curve is None:
                self._log.warning(
                    "trusted_keys_dir is configured but this agent does not enforce CurveZMQ yet",
                    trusted_keys_dir=str(self.config.trusted_keys_dir),
                )
            if not _is_loopback(self.endpoint) and self._curve is None:
                self._log.warning(
                    "control plane bound beyond loopback without CurveZMQ", endpoint=self.endpoint
                )
            self._announce()
            self._loop(sock)
        finally:
            self._log.info("agent stopping: stopping every actor")
            self.supervisor.shutdown()
            sock.close(linger=0)
            context.term()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self._log.info("agent stopped")
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True

    def _announce(self) -> None:
        self._log.info(
            "agent serving",
            endpoint=self.endpoint,
            device_class=self.device_class,
            state_dir=str(self.state_dir),
            pid=os.getpid(),
        )
        if self.config.ready_file is not None:
            ready = Path(self.config.ready_file)
            tmp = ready.with_name(ready.name + ".tmp")
            tmp.write_text(f"{self.endpoint}\n")
            os.replace(tmp, ready)
        notify("READY=1")  # a NOTIFY_SOCKET we cannot reach is an error: fail loudly

    def _loop(self, sock: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        next_supervise = next_health = time.monotonic()
        watchdog_s = watchdog_interval_s()
        next_watchdog = time.monotonic() if watchdog_s else float("inf")
        while not self._stop:
            now = time.monotonic()
            if now >= next_supervise:
                self.supervisor.poll()
                next_supervise = now + SUPERVISE_EVERY_S
            if now >= next_health:
                self.health.sample()
                next_health = now + HEALTH_EVERY_S
            if now >= next_watchdog:
                try:
                    notify("WATCHDOG=1")
                except AgentError as exc:
                    self._log.error("watchdog ping failed", error=str(exc))
                next_watchdog = now + watchdog_s  # type: ignore[operator]
            wait = min(next_supervise, next_health, next_watchdog) - time.monotonic()
            try:
                events = dict(poller.poll(max(0, int(wait * 1000))))
            except zmq.ZMQError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            if sock in events:
                for _ in range(MAX_BATCH):
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._handle(sock, frames, self.clock.local_ns())

    # -- one request ---------------------------------------------------------------------

    def _handle(self, sock: zmq.Socket, frames: list[bytes], received_ns: int) -> None:
        identity, body = frames[0], frames[1:]
        envelope: list[bytes] = []
        if len(body) == 2 and body[0] == b"":  # a REQ client: keep its empty delimiter
            envelope, body = [b""], body[1:]
        if len(body) != 1:
            self._count(BAD_REQUEST, malformed=True)
            reply = Reply.failure("", BAD_REQUEST, f"expected 1 frame, got {len(body)}")
            self._send(sock, identity, envelope, reply.encode())
            return
        encoded = self._reply_to(body[0], received_ns)
        self._send(sock, identity, envelope, encoded)

    def _reply_to(self, frame: bytes, received_ns: int) -> bytes:
        try:
            request = Request.decode(frame)
        except RequestError as exc:
            self._count(exc.code, malformed=exc.code == BAD_REQUEST)
            self._log.warning("malformed request refused", code=exc.code, error=str(exc))
            return Reply.failure(exc.request_id, exc.code, str(exc)).encode()
        digest = request.digest()
        remembered = self._replies.get(request.id)
        if remembered is not None:
            self._replies.move_to_end(request.id)
            if remembered[0] == digest:
                self._count("replayed")
                return remembered[1]
            self._count(DUPLICATE)
            return Reply.failure(
                request.id, DUPLICATE, f"id {request.id} was already used for another request"
            ).encode()
        reply = self._execute(request, received_ns)
        encoded = reply.encode()
        self._replies[request.id] = (digest, encoded)
        while len(self._replies) > REPLAY_CACHE_SIZE:
            self._replies.popitem(last=False)
        self._count(reply.code)
        return encoded

    def _execute(self, request: Request, received_ns: int) -> Reply:
        now = self.mesh_ns()
        if now > request.expires_ns:
            late_ms = (now - request.expires_ns) / 1e6
            return Reply.failure(
                request.id,
                EXPIRED,
                f"{request.cmd} expired {late_ms:.0f} ms ago on this agent's clock",
                {"now_ns": now},
            )
        command = COMMANDS.get(request.cmd)
        if command is None:
            return Reply.failure(
                request.id,
                UNKNOWN_COMMAND,
                f"unknown command {request.cmd!r}; known: {', '.join(sorted(COMMANDS))}",
            )
        try:
            result = command.execute(self, request.args, received_ns)
        except RequestError as exc:
            return Reply.failure(request.id, exc.code, str(exc))
        except AgentError as exc:
            return Reply.failure(request.id, exc.code or ERROR, str(exc))
        except KairosError as exc:
            return Reply.failure(request.id, ERROR, str(exc))
        except Exception as exc:  # a command's bug must never take the agent down
            self._log.exception("command failed", cmd=request.cmd)
            return Reply.failure(request.id, ERROR, f"{request.cmd} failed: {exc!r}")
        if request.cmd not in ("heartbeat", "clock"):
            self._log.info("command", cmd=request.cmd, id=request.id)
        return Reply.success(request.id, result)

    def _send(self, sock: zmq.Socket, identity: bytes, envelope: list[bytes], data: bytes) -> None:
        try:
            sock.send_multipart([identity, *envelope, data], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # EHOSTUNREACH (ROUTER_MANDATORY) or a full queue
            self._count("unroutable")
            self._log.warning("reply not delivered", error=str(exc))

    def _count(self, code: str, malformed: bool = False) -> None:
        self._counts[code] += 1
        if malformed:
            self._counts["malformed"] += 1


def _is_loopback(endpoint: str) -> bool:
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    return endpoint.startswith(("ipc://", "inproc://")) or host in (
        "127.0.0.1",
        "localhost",
        "[::1]",
    )


def _device_class(requested: str) -> str:
    """The configured class (checked to exist), or the detected one for ``auto``."""
    return detect_class(None if requested in ("", "auto") else requested).name
