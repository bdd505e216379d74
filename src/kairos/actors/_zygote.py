"""The zygote: one process that has imported what actors need, and forks each actor from it.

Why: an actor's imports (NumPy, pyzmq, structlog, Kairos's roles) cost 0.28-0.37 s of CPU
on the machine of docs/performance.md, several seconds on a Pi Zero, and every actor paid
them again: a launch of eight actors spent >= 1.1 s of its two cores on imports before any
actor published, and a restarted actor paid them once more.  Forked from a process that has
already imported them, an actor starts in milliseconds, and the pages of those modules stay
shared between the zygote and every actor until one writes to them (docs/control.md,
"Starting actors").

A forked actor runs exactly what ``python -m kairos.actors SPEC.json`` runs
(:func:`kairos.actors.__main__.main`), in its own session, in its own directory, with stdin
on /dev/null and stdout and stderr appended to its log, every other descriptor closed, and
it takes that command line as its title (``ps``, ``pgrep -f`` and the agent's orphan check
see the same as for an exec'd actor).  Only actors that keep to the lean imports are forked
(built-in roles and adapters without TLS, :func:`forkable`); a plugin adapter may import
anything and is exec'd as before.

Why not :mod:`multiprocessing`'s forkserver: it prepares every child for a pickled Python
function (re-importing the parent's ``__main__``, the agent's CLI, in each, and starting a
resource-tracker process), where an actor is a fork and one call.

The protocol, on one ``SOCK_SEQPACKET`` socket pair (one JSON datagram a record):

* agent -> zygote: :class:`ForkRequest` (spec, log and working directory of one actor);
* zygote -> agent: :class:`Ready` once, when the imports are done; one :class:`Forked`
  per request, in order; an :class:`Exited` whenever a child ends (the zygote is its parent
  and reaps it).

The zygote ends when the agent's end of the pair closes (the agent stopped or died); actors
it forked go on running, as exec'd ones would, for the agent's next incarnation to find by
their pid files.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Final

from kairos.registry import needs_tls

#: the module the agent runs as the zygote (``python -m``)
ZYGOTE_MODULE: Final = "kairos.actors._zygote"
#: the only module an agent ever runs as an actor (exec'd, or called in a forked child)
ACTOR_MODULE: Final = "kairos.actors"
#: what an actor forked from the zygote is titled after the interpreter: the command an
#: exec'd actor runs
ACTOR_COMMAND: Final = f"-m {ACTOR_MODULE}"
#: the environment variable an agent gives an exec'd actor its own pid in: the actor stops
#: when that process ends (kairos.actors._runtime), even if it ended before the actor's
#: interpreter could ask who its parent is
PARENT_ENV: Final = "KAIROS_ACTOR_PARENT"
#: what a terminal's Ctrl-C or a service manager's stop sends the whole unit (see serve)
_STOP_SIGNALS: Final = {signal.SIGINT, signal.SIGTERM}
#: the largest datagram either side sends (paths of a spec, a log and a directory)
MAX_DATAGRAM: Final = 64 * 1024
#: imported once by the zygote: what any built-in role needs before its first message
PRELOAD: Final = (
    "numpy",
    "zmq",
    "kairos._log",
    "kairos.kernels",
    "kairos.actors.__main__",
    "kairos.actors.roles",
    "kairos.actors._runtime",
    "kairos.actors.sensor",
    "kairos.actors.engine",
    "kairos.actors.sync",
    "kairos.actors.output",
    "kairos.actors.relay",
)


def is_actor_command(cmdline: list[str], spec: str) -> bool:
    """Whether a process's command line (as psutil gives it) is an actor's of ``spec``:
    exec'd (``python -m kairos.actors SPEC``), or forked and titled so (one string, which
    psutil splits at spaces)."""
    return cmdline[-3:] == ["-m", ACTOR_MODULE, spec] or " ".join(cmdline).endswith(
        f" {ACTOR_COMMAND} {spec}"
    )


def forkable(role: str, adapter: str | None) -> bool:
    """Whether an actor of ``role`` with ``adapter`` may be forked from the zygote: it must
    import nothing the zygote keeps out (TLS, OpenSSL: kairos._lean), which only built-in
    roles and adapters promise (kairos.registry)."""
    return not needs_tls(role, adapter)


# -- the records ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    KIND: ClassVar[str] = ""

    def encode(self) -> bytes:
        return json.dumps({"kind": self.KIND, **asdict(self)}).encode()


@dataclass(frozen=True)
class ForkRequest(_Record):
    """Fork one actor: ``python -m kairos.actors SPEC`` run in ``cwd``, output to ``log``."""

    KIND: ClassVar[str] = "fork"
    spec: str
    log: str
    cwd: str


@dataclass(frozen=True)
class Ready(_Record):
    """The zygote has imported :data:`PRELOAD` and serves requests."""

    KIND: ClassVar[str] = "ready"
    pid: int


@dataclass(frozen=True)
class Forked(_Record):
    """The answer to one request: the actor's pid, or why there is none (``pid`` 0)."""

    KIND: ClassVar[str] = "forked"
    pid: int
    error: str = ""


@dataclass(frozen=True)
class Exited(_Record):
    """A child ended: its exit status, or minus the signal that ended it (as Popen's)."""

    KIND: ClassVar[str] = "exited"
    pid: int
    code: int


_KINDS: Final[dict[str, type[_Record]]] = {k.KIND: k for k in (ForkRequest, Ready, Forked, Exited)}


def decode(datagram: bytes) -> _Record:
    """One record from a datagram; ValueError for anything else."""
    try:
        raw: Any = json.loads(datagram)
        kind = _KINDS[raw.pop("kind")]
        return kind(**raw)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a zygote record: {datagram[:80]!r} ({exc})") from None


# -- the zygote process -----------------------------------------------------------------


def serve(channel_fd: int) -> int:
    """Import :data:`PRELOAD`, say Ready, then fork an actor per request until the agent's
    end of ``channel_fd`` closes; 0 then."""
    import gc
    import importlib
    import select
    import socket

    from kairos._lean import keep_actor_lean

    # a Ctrl-C, or the SIGTERM a service manager sends every process of the agent's unit at
    # once, is for the agent: it stops its actors (whose ends only we can tell it), then
    # closes the channel, which ends us.  Ignored, for every thread (NumPy's BLAS starts
    # some at its import, below, and a process's signal goes to any thread that does not
    # block it), and blocked in this one, the thread that forks: a signal sent to a child
    # before it has set its own handlers then waits for it, instead of being lost, and ends
    # it as it would end an exec'd actor still importing.  From the start: the imports
    # take 0.2-0.3 s here, seconds on a Pi Zero
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    keep_actor_lean("engine", None)  # what every forkable actor keeps to: no rich, no TLS
    for name in PRELOAD:
        importlib.import_module(name)
    import setproctitle  # noqa: F401  (each child titles itself with it)

    # the imported modules' objects, out of the collector's reach: a collection in a child
    # would otherwise write to (and so copy) every page that holds one
    gc.freeze()
    channel = socket.socket(fileno=channel_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so SIGCHLD reaches wake_w
    if not _say(channel, Ready(os.getpid())):
        return 0
    while True:
        readable, _, _ = select.select([channel.fileno(), wake_r], [], [])
        if wake_r in readable:
            while True:
                try:
                    if not os.read(wake_r, 4096):
                        break
                except BlockingIOError:
                    break
            _reap(channel)
        if channel.fileno() in readable:
            try:
                datagram = channel.recv(MAX_DATAGRAM)
            except ConnectionResetError:
                datagram = b""
            if not datagram:
                return 0
            if not _say(channel, _fork(datagram, channel, (wake_r, wake_w))):
                return 0


def _say(channel: Any, record: _Record) -> bool:
    """Send ``record``; False when the agent's end is gone (which ends the zygote)."""
    try:
        channel.send(record.encode())
    except OSError:
        return False
    return True


def _reap(channel: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _say(channel, Exited(pid, os.waitstatus_to_exitcode(status)))


def _fork(datagram: bytes, channel: Any, pipe: tuple[int, int]) -> Forked:
    try:
        request = decode(datagram)
    except ValueError as exc:
        return Forked(0, str(exc))
    if not isinstance(request, ForkRequest):
        return Forked(0, f"expected a fork request, got {request.KIND!r}")
    try:
        log = os.open(request.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        return Forked(0, f"cannot open {request.log}: {exc}")
    titled_r, titled_w = os.pipe()
    zygote = os.getpid()  # the child's parent, whose end (with the agent's) stops it
    try:
        pid = os.fork()
    except OSError as exc:
        for fd in (log, titled_r, titled_w):
            os.close(fd)
        return Forked(0, f"cannot fork: {exc}")
    if pid == 0:  # the actor: never returns
        code = 1
        try:
            os.setsid()  # its own session, like its title, before the zygote answers
            _title(request)
            os.close(titled_w)
            code = _child(request, log, channel, (*pipe, titled_r), zygote)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(log)
    os.close(titled_w)
    # answered once the child leads its session and bears its title (or died): whoever
    # looks it up by its pid from then on (ps, the orphan check) sees an actor
    os.read(titled_r, 1)
    os.close(titled_r)
    return Forked(pid)


def _title(request: ForkRequest) -> None:
    import setproctitle

    setproctitle.setproctitle(f"{sys.executable} {ACTOR_COMMAND} {request.spec}")
    # the kernel's short name stays the interpreter's, as for an exec'd actor
    setproctitle.setthreadtitle(os.path.basename(sys.executable)[:15])


def _child(request: ForkRequest, log: int, channel: Any, fds: tuple[int, ...], parent: int) -> int:
    """What an exec'd ``python -m kairos.actors SPEC`` would be, then its run."""
    import atexit

    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # what a fresh interpreter has, then unblocked: one that waited ends it now
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    channel.close()
    for fd in fds:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)
    os.chdir(request.cwd)
    from kairos.actors import __main__ as actor_main
    from kairos.actors.__main__ import main

    sys.argv = [actor_main.__file__ or ACTOR_MODULE, request.spec]  # as `python -m` sets it

    try:
        code = main([request.spec], parent_pid=parent)
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    return code


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print(f"usage: python -m {ZYGOTE_MODULE} FD (started by a Kairos agent)", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve(int(sys.argv[1])))
