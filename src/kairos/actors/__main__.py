"""Process entry point: ``python -m kairos.actors SPEC.json`` runs one actor until SIGTERM.

Exit status: 0 after a clean stop, 1 when the actor failed (the agent's restart policy
decides what happens next), 2 when the spec itself is unusable.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kairos._lean import keep_actor_lean
from kairos.actors.spec import ActorProcessSpec
from kairos.errors import KairosError


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m kairos.actors SPEC.json", file=sys.stderr)
        return 2
    try:
        spec = ActorProcessSpec.read(Path(argv[0]))
    except (OSError, KairosError) as exc:
        print(f"kairos actor: cannot read spec {argv[0]}: {exc}", file=sys.stderr)
        return 2
    keep_actor_lean(spec.adapter)  # before anything imports structlog or hashlib

    from kairos import _log
    from kairos.actors._runtime import ActorRuntime
    from kairos.actors.roles import make_actor

    _log.configure(json=True)
    try:
        actor = make_actor(spec)
        return ActorRuntime(spec, actor).run()
    except KairosError as exc:
        _log.get("actor", actor=spec.name).error("actor failed", error=str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
