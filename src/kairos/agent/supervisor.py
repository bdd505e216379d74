"""The agent's supervisor: starts actor processes, restarts them per policy, stops them.

Every actor is ``sys.executable -m kairos.actors <state-dir>/actors/<name>/spec.json`` — never
a shell, never anything else — in its own session (a Ctrl-C in a terminal does not reach it),
with stdout and stderr appended to ``actor.log`` beside its spec.  On Linux, an actor that
keeps to the lean imports is forked from the agent's zygote, which has imported them already
(kairos.agent.zygote: the same command, run in milliseconds instead of 0.3 s of imports);
any other is exec'd, and so is every actor with ``actor_start: exec``.  A pid file beside
them lets the next incarnation of an agent killed with SIGKILL find and stop the orphans it
left.  Nothing here blocks for long except ``stop``, which is bounded by its grace period,
and a spawn that waits for a zygote still importing (bounded by READY_WAIT_S).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil

from kairos import _log
from kairos.actors._zygote import (
    ACTOR_MODULE,
    PARENT_ENV,
    ForkRequest,
    forkable,
    is_actor_command,
)
from kairos.actors.spec import ActorProcessSpec
from kairos.agent.config import EXEC, FORK
from kairos.agent.zygote import ForkedActor, Zygote
from kairos.control.commands.spawn import RESTARTED, STARTED, UNCHANGED
from kairos.control.commands.status import BACKOFF, FAILED, RUNNING, STOPPED, ActorStatus
from kairos.control.protocol import REFUSED
from kairos.errors import AgentError
from kairos.timeouts import STOP_GRACE_S
from kairos.topologies.model import RestartPolicy

#: running this long without dying resets the backoff and the restart budget
HEALTHY_AFTER_S: Final = 60.0
MAX_LOG_BYTES: Final = 8 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_actor_name(name: str) -> str:
    """Actor names become directory names: letters, digits, ``_ . -``; no path tricks."""
    # a spec is parsed from a peer's map: its name may not even be a string
    if not isinstance(name, str) or not _NAME.match(name) or name in {".", ".."}:
        raise AgentError(
            f"actor name {name!r} is not a plain name (letters, digits, _ . -)", code=REFUSED
        )
    return name


@dataclass
class ActorProcess:
    """What the supervisor knows of one actor."""

    name: str
    spec_hash: str
    policy: RestartPolicy
    directory: Path
    #: whether the zygote may fork it (kairos.actors._zygote.forkable)
    forkable: bool = False
    state: str = STOPPED
    #: a Popen when exec'd, a ForkedActor (the same questions) when forked
    process: subprocess.Popen | ForkedActor | None = None
    restarts: int = 0
    #: restarts since the actor last ran healthy; bounded by policy.max_restarts
    consecutive: int = 0
    last_exit: int | None = None
    started_at: float = 0.0
    next_start_at: float = 0.0

    @property
    def spec_path(self) -> Path:
        return self.directory / "spec.json"

    @property
    def log_path(self) -> Path:
        return self.directory / "actor.log"

    @property
    def pid_path(self) -> Path:
        return self.directory / "pid"

    def snapshot(self, now: float) -> ActorStatus:
        running = self.state == RUNNING and self.process is not None
        return ActorStatus(
            name=self.name,
            state=self.state,
            pid=self.process.pid if running and self.process else None,
            restarts=self.restarts,
            last_exit=self.last_exit,
            uptime_s=round(now - self.started_at, 3) if running else 0.0,
            spec_hash=self.spec_hash,
            policy=self.policy.policy,
            next_start_s=round(max(0.0, self.next_start_at - now), 3)
            if self.state == BACKOFF
            else None,
        )


class Supervisor:
    """Owns every actor process of one agent."""

    def __init__(
        self,
        state_dir: Path,
        clock_file: Path,
        python: str = sys.executable,
        start: str = FORK,
    ) -> None:
        # absolute: each actor runs with its own directory as cwd and is given its spec's path
        self.state_dir = state_dir.absolute()
        self.actors_dir = self.state_dir / "actors"
        self.actors_dir.mkdir(parents=True, exist_ok=True)
        self.clock_file = clock_file
        self.python = python
        #: FORK where the platform allows it (Linux: a fork after NumPy's import is safe
        #: there; macOS's system libraries are not), else EXEC
        self.start = start if sys.platform.startswith("linux") else EXEC
        self.zygote: Zygote | None = None
        self.actors: dict[str, ActorProcess] = {}
        self._log = _log.get("agent.supervisor")

    def start_zygote(self) -> None:
        """Start the zygote (with FORK), so that its imports run while the agent starts."""
        if self.start != FORK or self.zygote is not None:
            return
        try:
            self.zygote = Zygote(self.python)
        except AgentError as exc:
            self._log.error("actors will be exec'd", error=str(exc))

    def wake_fd(self) -> int | None:
        """A descriptor readable when an actor ended (the zygote's channel), if any: the
        agent polls it, so a forked actor's end wakes it as SIGCHLD does for exec'd ones."""
        zygote = self.zygote
        return zygote.fileno() if zygote is not None and not zygote.closed else None

    # -- commands ------------------------------------------------------------------------

    def spawn(self, spec: ActorProcessSpec, received_hash: str) -> str:
        """Start ``spec`` unless it already runs identically; "started", "unchanged" or
        "restarted"."""
        name = check_actor_name(spec.name)
        current = self.actors.get(name)
        if current is not None and current.state in (RUNNING, BACKOFF):
            if current.spec_hash == received_hash:
                return UNCHANGED
            self.stop([name], STOP_GRACE_S)
            outcome = RESTARTED
        else:
            outcome = STARTED
        directory = self.actors_dir / name
        work_dir = directory / "work"
        work_dir.mkdir(parents=True, exist_ok=True)
        final = dataclasses.replace(spec, clock_file=str(self.clock_file), work_dir=str(work_dir))
        actor = ActorProcess(
            name=name,
            spec_hash=received_hash,
            policy=spec.restart,
            directory=directory,
            forkable=forkable(spec.role, spec.adapter),
        )
        tmp = actor.spec_path.with_suffix(".tmp")
        tmp.write_text(final.to_json())
        os.replace(tmp, actor.spec_path)
        self.actors[name] = actor
        self._start(actor)
        return outcome

    def stop(self, names: Iterable[str] | None, grace_s: float = STOP_GRACE_S) -> list[str]:
        """Stop the named actors (all when None): SIGTERM, SIGKILL after ``grace_s``."""
        if names is None:
            targets = list(self.actors.values())
        else:
            targets = []
            for name in names:
                if name not in self.actors:
                    raise AgentError(f"no actor named {name!r} on this agent", code=REFUSED)
                targets.append(self.actors[name])
        live = [
            (a, a.process) for a in targets if a.process is not None and a.process.poll() is None
        ]
        for _, process in live:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for actor, process in live:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._log.warning(
                    "actor ignored SIGTERM, killing", actor=actor.name, pid=process.pid
                )
                process.kill()
                process.wait(timeout=5)
        for actor in targets:
            if actor.process is not None:
                self._exited(actor, actor.process.returncode)
            actor.state = STOPPED
        return [a.name for a in targets]

    def status(self) -> list[ActorStatus]:
        now = time.monotonic()
        return [actor.snapshot(now) for actor in self.actors.values()]

    def log_tail(self, name: str, lines: int) -> list[str]:
        check_actor_name(name)
        path = self.actors_dir / name / "actor.log"
        if name not in self.actors and not path.exists():
            raise AgentError(f"no actor named {name!r} on this agent", code=REFUSED)
        return tail(path, lines)

    # -- the loop's periodic work --------------------------------------------------------

    def poll(self) -> None:
        """Reap exits, apply restart policies, start actors whose backoff is over."""
        if self.zygote is not None and self.zygote.lost():
            self._zygote_lost(self.zygote)
        now = time.monotonic()
        for actor in list(self.actors.values()):
            if actor.state == RUNNING and actor.process is not None:
                code = actor.process.poll()
                if code is None:
                    if actor.consecutive and now - actor.started_at >= HEALTHY_AFTER_S:
                        actor.consecutive = 0
                    continue
                self._exited(actor, code)
                self._after_exit(actor, code, now)
            elif actor.state == BACKOFF and now >= actor.next_start_at:
                actor.restarts += 1
                self._start(actor)

    def shutdown(self, grace_s: float = STOP_GRACE_S) -> None:
        self.stop(None, grace_s)
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    def cleanup_orphans(self) -> list[int]:
        """Stop actors left running by an earlier incarnation of this agent (found by pid
        file, confirmed by command line); returns the pids stopped."""
        victims: list[psutil.Process] = []
        for pid_path in sorted(self.actors_dir.glob("*/pid")):
            proc = _orphan(pid_path)
            if proc is not None:
                victims.append(proc)
            pid_path.unlink(missing_ok=True)
        for proc in victims:
            self._log.warning("stopping orphan actor", pid=proc.pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(victims, timeout=STOP_GRACE_S)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=STOP_GRACE_S)
        return [p.pid for p in victims]

    # -- internals -----------------------------------------------------------------------

    def _start(self, actor: ActorProcess) -> None:
        _rotate(actor.log_path)
        process = self._fork(actor) or self._exec(actor)
        actor.process = process
        actor.state = RUNNING
        actor.started_at = time.monotonic()
        record = {"pid": process.pid, "spec": str(actor.spec_path)}
        tmp = actor.pid_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, actor.pid_path)
        self._log.info(
            "actor started",
            actor=actor.name,
            pid=process.pid,
            restarts=actor.restarts,
            forked=isinstance(process, ForkedActor),
        )

    def _fork(self, actor: ActorProcess) -> ForkedActor | None:
        """The actor forked by the zygote; None when it is exec'd instead (not forkable, no
        zygote, one still importing after READY_WAIT_S, or one that failed: said)."""
        zygote = self.zygote
        if not actor.forkable or zygote is None or not zygote.wait_ready():
            return None
        request = ForkRequest(str(actor.spec_path), str(actor.log_path), str(actor.directory))
        try:
            return zygote.fork(request)
        except AgentError as exc:
            self._log.warning("exec'ing the actor instead", actor=actor.name, error=str(exc))
            return None

    def _exec(self, actor: ActorProcess) -> subprocess.Popen:
        argv = [self.python, "-m", ACTOR_MODULE, str(actor.spec_path)]
        with open(actor.log_path, "ab") as log:
            try:
                return subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                    cwd=actor.directory,
                    env={**os.environ, PARENT_ENV: str(os.getpid())},
                )
            except OSError as exc:
                actor.state = FAILED
                raise AgentError(f"cannot start actor {actor.name!r}: {exc}") from None

    def _zygote_lost(self, zygote: Zygote) -> None:
        """The zygote died: nothing can tell its actors' ends any more.  Stop those still
        running (each still this actor: ForkedActor.running); their restart policies start
        them again, from a new zygote, unless this one never became ready or died within
        HEALTHY_AFTER_S of its start: then every actor is exec'd from now on, rather than a
        zygote started again and again (its imports cost what an actor's do)."""
        orphans = zygote.orphans()
        zygote.close()
        self.zygote = None
        for child in orphans:
            if child.running():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
                child.returncode = -signal.SIGKILL
        lived_s = time.monotonic() - zygote.started_at
        again = zygote.ready and lived_s >= HEALTHY_AFTER_S
        self._log.error(
            "the zygote died: stopped the actors it forked",
            actors=len(orphans),
            code=zygote.process.returncode,
            lived_s=round(lived_s, 3),
            then="a new zygote" if again else "every actor exec'd from now on",
        )
        if again:
            self.start_zygote()
        else:
            self.start = EXEC

    def _exited(self, actor: ActorProcess, code: int | None) -> None:
        actor.last_exit = code
        actor.pid_path.unlink(missing_ok=True)
        actor.process = None

    def _after_exit(self, actor: ActorProcess, code: int, now: float) -> None:
        policy = actor.policy
        wants_restart = policy.policy == "always" or (policy.policy == "on-failure" and code != 0)
        if not wants_restart:
            actor.state = STOPPED if code == 0 else FAILED
            self._log.info("actor exited", actor=actor.name, code=code, state=actor.state)
            return
        if actor.consecutive >= policy.max_restarts:
            actor.state = FAILED
            self._log.error(
                "actor failed: restart budget spent",
                actor=actor.name,
                code=code,
                restarts=actor.restarts,
            )
            return
        delay = min(policy.backoff_s * (2**actor.consecutive), policy.backoff_max_s)
        actor.consecutive += 1
        actor.state = BACKOFF
        actor.next_start_at = now + delay
        self._log.warning("actor exited, restarting", actor=actor.name, code=code, delay_s=delay)


def _orphan(pid_path: Path) -> psutil.Process | None:
    """The process a pid file names, if it is still a kairos actor of that very spec."""
    try:
        record = json.loads(pid_path.read_text())
        pid, spec = int(record["pid"]), str(record["spec"])
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None
    if proc.pid == os.getpid():
        return None
    return proc if is_actor_command(cmdline, spec) else None


def _rotate(path: Path) -> None:
    """Keep one old log beside the current one, so a crash-looping actor cannot fill a disk."""
    with contextlib.suppress(OSError):
        if path.stat().st_size > MAX_LOG_BYTES:
            os.replace(path, path.with_suffix(".log.1"))


def tail(path: Path, lines: int, chunk: int = 64 * 1024) -> list[str]:
    """The last ``lines`` lines of a file, read from its end."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            data = b""
            position = end
            while position > 0 and data.count(b"\n") <= lines:
                step = min(chunk, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    except FileNotFoundError:
        return []
    text = data.decode("utf-8", errors="replace").splitlines()
    return text[-lines:] if lines > 0 else []
