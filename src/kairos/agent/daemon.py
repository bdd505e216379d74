"""The agent daemon: one ROUTER socket, one single-threaded poll loop, timers.

Requests are decoded defensively, answered once per id (a repeated id gets the remembered
reply, never a second execution), refused when expired, and dispatched to the command
classes of :mod:`kairos.control.commands`.  With CurveZMQ (required beyond loopback) the
allow-list guard runs on this loop's context, a self-test proves an unknown key is refused
before the agent serves, and every request is checked against the keys trusted *now*.
Between requests the loop reaps and restarts actors, samples health every second and pets
the service watchdog.  SIGTERM or SIGINT stop
every actor and end the loop with exit status 0.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from collections import Counter, OrderedDict
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any, Final

import zmq

from kairos import _log
from kairos.agent.clock import AgentClock
from kairos.agent.config import AgentConfig
from kairos.agent.health import HealthMonitor
from kairos.agent.notify import notify, watchdog_interval_s
from kairos.agent.supervisor import Supervisor
from kairos.control.commands import COMMANDS, HealthReport, Spawn
from kairos.control.protocol import (
    BAD_REQUEST,
    DUPLICATE,
    ERROR,
    EXPIRED,
    REFUSED,
    UNKNOWN_COMMAND,
    Reply,
    Request,
    RequestError,
)
from kairos.control.sockets import LOOPBACK_SELF_TEST, bind, control_socket, dial_out
from kairos.drops import DropLog, Reason
from kairos.errors import AgentError, KairosError
from kairos.hardware.detect import detect_class
from kairos.keys import fingerprint
from kairos.security.admission import check_spawn
from kairos.security.guard import RELOAD_EVERY_S, ControlGuard
from kairos.security.policy import control_security
from kairos.security.selftest import prove_refusal
from kairos.timeouts import poll_ms

#: replies remembered for repeated ids (more while they have not expired)
REPLAY_CACHE_SIZE: Final = 10_000
#: hard bound on remembered replies; beyond it new requests are refused until ids expire
MAX_REMEMBERED: Final = 100_000
#: a request may not stay valid longer than this (it is remembered until it expires)
MAX_TTL_NS: Final = 120 * 10**9
#: how often actors are checked without a wake-up (restarts due after a backoff); an actor's
#: exit itself wakes the loop at once: SIGCHLD for an exec'd actor, the zygote's notice for a
#: forked one
SUPERVISE_EVERY_S: Final = 0.2
HEALTH_EVERY_S: Final = 1.0
MAX_BATCH: Final = 100


class Agent:
    """One device's daemon; ``serve()`` runs until SIGTERM/SIGINT or ``request_stop()``."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        # decided first: a bind (or dial) beyond loopback without keys starts nothing at all
        self.security = control_security(
            config.dial or config.bind, config.curve_key, config.trusted_keys_dir
        )
        self.device = config.device
        self.state_dir = Path(config.state_dir)
        # specs (which may carry the mesh key) and logs are for this user only
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.state_dir, 0o700)
        self.device_class = _device_class(config.device_class)
        self._log = _log.get("agent", device=self.device)
        self.clock = AgentClock(self.state_dir / "clock.json")
        self.supervisor = Supervisor(self.state_dir, self.clock.path, start=config.actor_start)
        self.health = _GuardedHealth(HealthMonitor(), self)
        self.guard: ControlGuard | None = None
        self._replies: OrderedDict[str, tuple[str, bytes, int]] = OrderedDict()
        self._counts: Counter[str] = Counter()
        #: every refusal is logged through it: the first of each code at once, then at most
        #: one summary per code every 10 s, so a flood of bad requests cannot flood the log
        self._drops = DropLog(self._log)
        self._stop = False
        self._child_exited = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.endpoint: str | None = None

    # -- what commands see ---------------------------------------------------------------

    def local_ns(self) -> int:
        return self.clock.local_ns()

    def mesh_ns(self) -> int:
        return self.clock.mesh_ns()

    def counters(self) -> dict[str, int]:
        counts = dict(self._counts)
        if self.guard is not None:
            counts["handshakes_refused"] = self.guard.refused_handshakes
            counts["handshakes_allowed"] = self.guard.allowed_handshakes
        refused = self._drops.total(Reason.REFUSED_REQUEST)
        if refused:  # like the codes: a counter appears once it counts something
            counts[Reason.REFUSED_REQUEST.value] = refused
        return counts

    def security_counters(self) -> dict[str, Any]:
        """What the control plane refused, for ``health`` (and ``status`` counters)."""
        counts = self.counters()
        return {
            "curve": self.security.enabled,
            "handshakes_refused": counts.get("handshakes_refused", 0),
            "untrusted_requests": counts.get("untrusted", 0),
            "replayed": counts.get("replayed", 0),
            "expired": counts.get(EXPIRED, 0),
            "duplicate": counts.get(DUPLICATE, 0),
            "malformed": counts.get("malformed", 0),
            "unknown_command": counts.get(UNKNOWN_COMMAND, 0),
            "refused": counts.get(REFUSED, 0),
        }

    # -- the loop ------------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        self._stop = True

    def serve(self) -> int:
        """Clean up orphans, bind, announce readiness, serve; 0 after a clean shutdown."""
        self.supervisor.start_zygote()  # its imports run while the agent starts
        orphans = self.supervisor.cleanup_orphans()
        if orphans:
            self._log.warning("stopped orphans of a previous agent", pids=orphans)
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, self._on_child)
        context = zmq.Context()
        curve = self.security.curve
        if curve is not None and self.security.trusted_dir is not None:
            self.guard = ControlGuard(context, self.security.trusted_dir)
        sock: zmq.Socket | None = None
        try:
            if self.guard is not None:
                self.guard.start()  # before the socket exists: no handshake goes unanswered
            sock = control_socket(context, zmq.ROUTER, curve=curve)
            dial = self.config.dial
            # a dialling agent proves its guard on a loopback port of the same socket,
            # closed again before it dials: nothing can reach a NAT'd agent's own port
            self.endpoint = bind(sock, LOOPBACK_SELF_TEST if dial else self.config.bind)
            if self.guard is not None and curve is not None:
                prove_refusal(sock, self.endpoint, curve.public, self.guard)
                self.guard.reset_counts()  # count only real peers from here on
                self._log.info(
                    "CurveZMQ self-test passed: an unknown key is refused",
                    key=fingerprint(curve.public),
                )
            elif self.config.trusted_keys_dir is not None:
                self._log.warning(
                    "trusted_keys_dir is set but no curve_key: CurveZMQ is off (loopback only)",
                    trusted_keys_dir=str(self.config.trusted_keys_dir),
                )
            if dial is not None:
                sock.unbind(self.endpoint)
                dial_out(sock, dial)
                self.endpoint = dial
            self._announce()
            self._loop(sock)
        finally:
            self._log.info("agent stopping: stopping every actor")
            self.supervisor.shutdown()
            if sock is not None:
                sock.close(linger=0)
            if self.guard is not None:
                self.guard.stop()
            context.term()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._wake_r.close()
            self._wake_w.close()
        self._log.info("agent stopped")
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True
        self._wake()

    def _on_child(self, signum: int, frame: FrameType | None) -> None:
        self._child_exited = True
        self._wake()

    def _wake(self) -> None:
        # a byte on the wake-up pair ends the poll now; the flags say why
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _announce(self) -> None:
        self._log.info(
            "agent serving",
            endpoint=self.endpoint,
            curve=self.security.enabled,
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
        poller.register(self._wake_r.fileno(), zmq.POLLIN)
        actor_ends: int | None = None  # the supervisor's wake_fd, polled while it has one
        next_supervise = next_health = time.monotonic()
        watchdog_s = watchdog_interval_s()
        next_watchdog = time.monotonic() if watchdog_s else float("inf")
        while not self._stop:
            now = time.monotonic()
            if now >= next_supervise or self._child_exited:
                self._child_exited = False
                self.supervisor.poll()
                next_supervise = now + SUPERVISE_EVERY_S
            if now >= next_health:
                self.health.sample()
                self._drops.flush()
                next_health = now + HEALTH_EVERY_S
            if now >= next_watchdog:
                try:
                    notify("WATCHDOG=1")
                except AgentError as exc:
                    self._log.error("watchdog ping failed", error=str(exc))
                next_watchdog = now + watchdog_s  # type: ignore[operator]
            if self.guard is not None:
                self.guard.maybe_reload()
            wake = min(next_supervise, next_health, next_watchdog)
            if self.guard is not None:
                wake = min(wake, time.monotonic() + RELOAD_EVERY_S)
            wait = wake - time.monotonic()
            if self.supervisor.wake_fd() != actor_ends:
                if actor_ends is not None:
                    poller.unregister(actor_ends)
                actor_ends = self.supervisor.wake_fd()
                if actor_ends is not None:
                    poller.register(actor_ends, zmq.POLLIN)
            try:
                # rounded up: a timeout rounded down wakes just before the deadline and then
                # spins on poll(0) until it passes (~45 wasted polls a second when idle)
                events = dict(poller.poll(poll_ms(wait)))
            except zmq.ZMQError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            if actor_ends is not None and actor_ends in events:
                self._child_exited = True  # the zygote told an end (read by the supervisor)
            if self._wake_r.fileno() in events:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            if sock in events:
                for _ in range(MAX_BATCH):
                    try:
                        parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    received_ns = self.clock.local_ns()
                    if self._admitted(sock, parts):
                        self._handle(sock, [p.bytes for p in parts], received_ns)

    # -- one request ---------------------------------------------------------------------

    def _admitted(self, sock: zmq.Socket, parts: list[zmq.Frame]) -> bool:
        """With CurveZMQ, only requests from keys trusted now (a revoked key's open
        connection is refused from the next reload on, within a second)."""
        if self.guard is None:
            return True
        user_id = parts[-1].get("User-Id")
        key = user_id.encode() if isinstance(user_id, str) else b""
        if self.guard.trusts(key):
            return True
        self._refuse("untrusted", error="launcher key not trusted", key=fingerprint(key) or "none")
        envelope = [b""] if len(parts) == 3 and len(parts[1]) == 0 else []
        try:
            request_id = Request.decode(parts[-1].bytes).id
        except RequestError as exc:
            request_id = exc.request_id
        reply = Reply.failure(
            request_id, REFUSED, "this launcher's key is not (or no longer) trusted by this agent"
        )
        self._send(sock, parts[0].bytes, envelope, reply.encode())
        return False

    def _handle(self, sock: zmq.Socket, frames: list[bytes], received_ns: int) -> None:
        identity, body = frames[0], frames[1:]
        envelope: list[bytes] = []
        if len(body) == 2 and body[0] == b"":  # a REQ client: keep its empty delimiter
            envelope, body = [b""], body[1:]
        if len(body) != 1:
            self._refuse(BAD_REQUEST, malformed=True, error=f"{len(body)} frames")
            reply = Reply.failure("", BAD_REQUEST, f"expected 1 frame, got {len(body)}")
            self._send(sock, identity, envelope, reply.encode())
            return
        encoded = self._reply_to(body[0], received_ns)
        self.clock.before_send()  # a clock reply's t3 → send delay (kairos.agent.clock)
        self._send(sock, identity, envelope, encoded)

    def _reply_to(self, frame: bytes, received_ns: int) -> bytes:
        try:
            request = Request.decode(frame)
        except RequestError as exc:
            self._refuse(exc.code, malformed=exc.code == BAD_REQUEST, error=str(exc))
            return Reply.failure(exc.request_id, exc.code, str(exc)).encode()
        digest = request.digest()
        remembered = self._replies.get(request.id)
        if remembered is not None:
            if remembered[0] == digest:
                self._refuse("replayed", error="not executed again", id=request.id)
                return remembered[1]
            self._refuse(DUPLICATE, error="id reused for another request", id=request.id)
            return Reply.failure(
                request.id, DUPLICATE, f"id {request.id} was already used for another request"
            ).encode()
        if len(self._replies) >= MAX_REMEMBERED:
            self._forget_expired()
            if len(self._replies) >= MAX_REMEMBERED:  # a flood of long-lived ids: refuse
                self._refuse(ERROR, error="busy: too many live requests", id=request.id)
                return Reply.failure(
                    request.id, ERROR, "agent busy: too many live requests"
                ).encode()
        reply = self._execute(request, received_ns)
        encoded = reply.encode()
        self._replies[request.id] = (digest, encoded, request.expires_ns)
        if len(self._replies) > REPLAY_CACHE_SIZE:
            self._forget_expired()
        if reply.ok:
            self._count(reply.code)
        else:
            self._refuse(reply.code, error=reply.error, id=request.id, cmd=request.cmd)
        return encoded

    def _forget_expired(self) -> None:
        """Drop remembered replies of requests that have expired: a replay of one of them is
        refused as expired, so an id is remembered for as long as it could be executed."""
        now = self.mesh_ns()
        for request_id in [i for i, (_, _, expires) in self._replies.items() if expires < now]:
            del self._replies[request_id]

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
        if request.expires_ns - now > MAX_TTL_NS:
            ahead_s = (request.expires_ns - now) / 1e9
            return Reply.failure(
                request.id,
                EXPIRED,
                f"{request.cmd} expires {ahead_s:.0f} s from now on this agent's clock, more "
                f"than {MAX_TTL_NS // 10**9} s: correct the clock estimate and resend",
                {"now_ns": now},
            )
        command_type = COMMANDS.get(request.cmd)
        if command_type is None:
            return Reply.failure(
                request.id,
                UNKNOWN_COMMAND,
                f"unknown command {request.cmd!r}; known: {', '.join(sorted(COMMANDS))}",
            )
        try:
            command = command_type.from_args(request.args)
            if isinstance(command, Spawn):
                check_spawn(command.spec)  # a mesh key must be a real key pair
            result = command.execute(self, received_ns).to_map()
        except RequestError as exc:
            return Reply.failure(request.id, exc.code, str(exc))
        except AgentError as exc:
            return Reply.failure(request.id, exc.code or ERROR, str(exc))
        except KairosError as exc:
            return Reply.failure(request.id, ERROR, str(exc))
        except Exception as exc:  # a command's bug must never take the agent down
            self._log.exception("command failed", cmd=request.cmd)
            return Reply.failure(request.id, ERROR, f"{request.cmd} failed: {exc!r}")
        if command_type.logged:
            self._log.info("command", cmd=request.cmd, id=request.id)
        return Reply.success(request.id, result)

    def _send(self, sock: zmq.Socket, identity: bytes, envelope: list[bytes], data: bytes) -> None:
        try:
            sock.send_multipart([identity, *envelope, data], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # EHOSTUNREACH (ROUTER_MANDATORY) or a full queue
            self._count("unroutable")
            self._log.warning("reply not delivered", error=str(exc))

    def _refuse(self, code: str, malformed: bool = False, **detail: Any) -> None:
        """Count a refused request and log it through the drop log (its code as the stream)."""
        self._count(code, malformed)
        self._drops.drop(code, Reason.REFUSED_REQUEST, **detail)

    def _count(self, code: str, malformed: bool = False) -> None:
        self._counts[code] += 1
        if malformed:
            self._counts["malformed"] += 1


class _GuardedHealth:
    """The health monitor as commands see it: its sample plus the control plane's refusals."""

    def __init__(self, monitor: HealthMonitor, agent: Agent) -> None:
        self._monitor = monitor
        self._agent = agent

    def sample(self) -> HealthReport:
        return self._monitor.sample()

    @property
    def latest(self) -> HealthReport:
        return replace(self._monitor.latest, security=self._agent.security_counters())


def _device_class(requested: str) -> str:
    """The configured class (checked to exist), or the detected one for ``auto``."""
    return detect_class(None if requested in ("", "auto") else requested).name
