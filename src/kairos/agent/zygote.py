"""The agent's side of the zygote (kairos.actors._zygote): start it, ask it for actors, and
hear from it when they end.

The agent starts the zygote first thing when it serves, so that its imports overlap the
agent's own start-up and a launch's first spawn finds it ready; a spawn that comes while it
is still importing waits for it at most :data:`READY_WAIT_S` after it was started, then
the actor is exec'd instead (never a spawn that waits longer).  A :class:`ForkedActor`
answers what the supervisor asks of a :class:`subprocess.Popen` (``pid``, ``poll``,
``wait``, ``send_signal``, ``kill``, ``returncode``), so the supervisor handles both kinds
alike; the zygote, their parent, reaps them and tells their exit status.

The zygote ignores SIGTERM and SIGINT (a service manager's stop signals every process of
the agent's unit at once; the agent stops its actors, then closes the channel, which ends
the zygote).  If it dies all the same (SIGKILL, the OOM killer), the actors it forked lose
the parent that would tell their end: the supervisor then stops them and its restart
policies start them again (from a new zygote, or exec'd: Supervisor._zygote_lost); an
actor whose end nobody saw is reported with exit status :data:`LOST_EXIT`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from typing import Final

import psutil

from kairos import _log
from kairos.actors._zygote import (
    MAX_DATAGRAM,
    ZYGOTE_MODULE,
    Exited,
    Forked,
    ForkRequest,
    Ready,
    decode,
    is_actor_command,
)
from kairos.errors import AgentError

#: how long after the zygote was started a spawn may wait for its imports (0.22-0.31 s on
#: the machine of docs/performance.md); an actor that would wait longer is exec'd
READY_WAIT_S: Final = 3.0
#: a fork request's answer: the zygote forks within milliseconds once ready
ANSWER_WAIT_S: Final = 5.0
#: how long a closed zygote may take to exit before it is killed
EXIT_WAIT_S: Final = 2.0
#: the exit status of a forked actor that ended after its zygote died (nobody saw its end)
LOST_EXIT: Final = 255
#: how often the end of such an actor is looked for while the agent waits for it
_LOST_POLL_S: Final = 0.02


class ForkedActor:
    """One actor forked by the zygote, as the supervisor sees a Popen."""

    def __init__(self, zygote: Zygote, pid: int, spec: str) -> None:
        self.zygote = zygote
        self.pid = pid
        self.spec = spec
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.zygote.collect(0.0)
        if self.returncode is None and self.zygote.closed and not self.running():
            self.returncode = LOST_EXIT
        return self.returncode

    def running(self) -> bool:
        """Whether its pid is still this actor (asked of the kernel: for when the zygote
        that would tell its end is gone)."""
        try:
            proc = psutil.Process(self.pid)
            return proc.status() != psutil.STATUS_ZOMBIE and is_actor_command(
                proc.cmdline(), self.spec
            )
        except psutil.Error:
            return False

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"actor pid {self.pid}", timeout or 0.0)
            if self.zygote.closed:
                time.sleep(_LOST_POLL_S if left is None else min(_LOST_POLL_S, left))
            else:
                self.zygote.collect(left)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, sig: int) -> None:
        # only while its end is not known: the zygote reaps it right after it ends, and its
        # pid may then be another process's (the window is the time the notice takes to
        # reach the agent, which reads pending notices first, here)
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """A running zygote and its channel; every method returns within its bound."""

    def __init__(self, python: str) -> None:
        self._log = _log.get("agent.zygote")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [python, "-m", ZYGOTE_MODULE, str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise AgentError(f"cannot start the zygote: {exc}") from None
        finally:
            theirs.close()
        self.channel = ours
        self.started_at = time.monotonic()
        self.ready = False
        self.closed = False
        self.children: dict[int, ForkedActor] = {}
        self._answers: list[Forked] = []

    def fileno(self) -> int:
        """Readable when the zygote has something to say (a child's end): poll it."""
        return self.channel.fileno()

    def wait_ready(self) -> bool:
        """Whether the zygote serves, waiting for it up to READY_WAIT_S after its start."""
        while not self.ready and not self.closed:
            left = self.started_at + READY_WAIT_S - time.monotonic()
            if left <= 0:
                return False
            self.collect(left)
        return self.ready and not self.closed

    def fork(self, request: ForkRequest) -> ForkedActor:
        """Ask for one actor; AgentError when the zygote cannot give it."""
        try:
            self.channel.send(request.encode())
        except OSError as exc:
            self._close()
            raise AgentError(f"the zygote is gone: {exc}") from None
        deadline = time.monotonic() + ANSWER_WAIT_S
        while not self._answers:
            left = deadline - time.monotonic()
            if self.closed or left <= 0:
                raise AgentError("the zygote did not answer a fork request")
            self.collect(left)
        answer = self._answers.pop(0)
        if not answer.pid:
            raise AgentError(f"the zygote could not fork the actor: {answer.error}")
        child = ForkedActor(self, answer.pid, request.spec)
        self.children[answer.pid] = child
        return child

    def collect(self, timeout: float | None) -> None:
        """Read what the zygote said, waiting up to ``timeout`` for the first datagram."""
        if self.closed:
            return
        wait = timeout
        while True:
            readable, _, _ = select.select([self.channel], [], [], wait)
            if not readable:
                return
            wait = 0.0
            try:
                datagram = self.channel.recv(MAX_DATAGRAM)
            except OSError:
                datagram = b""
            if not datagram:
                self._close()
                return
            try:
                record = decode(datagram)
            except ValueError as exc:
                self._log.error("ignoring what the zygote said", error=str(exc))
                continue
            if isinstance(record, Exited):
                child = self.children.pop(record.pid, None)
                if child is not None:
                    child.returncode = record.code
            elif isinstance(record, Forked):
                self._answers.append(record)
            elif isinstance(record, Ready):
                self.ready = True
                self._log.info(
                    "zygote ready", pid=record.pid, s=round(time.monotonic() - self.started_at, 3)
                )

    def lost(self) -> bool:
        """Whether the zygote ended while the agent still needed it."""
        self.collect(0.0)
        return self.closed

    def orphans(self) -> list[ForkedActor]:
        """The actors whose end the zygote can no longer tell (it is gone)."""
        return [c for c in self.children.values() if c.returncode is None] if self.closed else []

    def close(self) -> None:
        """End the zygote (its actors, if any still run, go on); bounded by EXIT_WAIT_S."""
        self._close()
        try:
            self.process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=EXIT_WAIT_S)

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.channel.close()
