"""Process entry point: ``python -m kairos.actors SPEC.json`` runs one actor until SIGTERM.

Exit status: 0 after a clean stop; 2 when the actor cannot start as specified (a spec that
does not parse, an unknown role, adapter or encoding, params its class refuses: a
ConfigError), said in one log line on stderr; 1 when the actor failed otherwise (its sockets,
or a failure while running).  The agent's restart policy decides what happens next.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kairos._lean import keep_actor_lean
from kairos.actors._zygote import PARENT_ENV
from kairos.actors.spec import ActorProcessSpec
from kairos.errors import ConfigError, KairosError

if TYPE_CHECKING:
    from kairos.actors._runtime import Actor, ActorRuntime

EXIT_FAILED = 1
EXIT_UNUSABLE = 2


def main(argv: list[str], parent_pid: int | None = None) -> int:
    """Run the actor of ``argv``'s spec; it stops when ``parent_pid`` (default: the process
    that started this one) ends."""
    parent = _started_by() if parent_pid is None else parent_pid
    if len(argv) != 1:
        print("usage: python -m kairos.actors SPEC.json", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        spec = ActorProcessSpec.read(Path(argv[0]))
    except (OSError, KairosError) as exc:
        print(f"kairos actor: cannot read spec {argv[0]}: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    keep_actor_lean(spec.role, spec.adapter)  # before anything imports structlog or hashlib

    from kairos import _log
    from kairos.actors.roles import make_actor

    _log.configure(json=True)
    log = _log.get("actor", actor=spec.name)
    try:
        if spec.role == "relay":  # a forwarder: no Actor, no update(), no seq of its own
            return _relay(spec, parent)
        return _runtime(spec, make_actor(spec), parent).run()
    except ConfigError as exc:
        log.error("actor cannot start", error=str(exc))  # one JSON line on stderr
        return EXIT_UNUSABLE
    except KairosError as exc:
        log.error("actor failed", error=str(exc))
        return EXIT_FAILED


def _started_by() -> int:
    """The agent that exec'd this actor, as it said (PARENT_ENV); else this process's parent.
    Asked of the kernel alone, an actor whose agent died while it started (its imports take
    0.3 s of CPU and more) would take its new parent for its agent and never stop."""
    given = os.environ.get(PARENT_ENV, "")
    return int(given) if given.isdigit() else os.getppid()


def _runtime(spec: ActorProcessSpec, actor: Actor, parent_pid: int) -> ActorRuntime:
    """The runtime for ``actor``; a socket it cannot open is a KairosError naming it."""
    import zmq

    from kairos.actors._runtime import ActorRuntime

    try:
        return ActorRuntime(spec, actor, parent_pid)
    except zmq.ZMQError as exc:
        raise KairosError(f"cannot open the actor's sockets (bind {spec.bind}): {exc}") from exc


def _relay(spec: ActorProcessSpec, parent_pid: int) -> int:
    """The relay of ``spec`` (kairos.actors.relay); a socket it cannot open is a KairosError."""
    import zmq

    from kairos.actors import relay

    try:
        return relay.run(spec, parent_pid)
    except zmq.ZMQError as exc:
        raise KairosError(f"cannot open the relay's sockets (bind {spec.bind}): {exc}") from exc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
