"""Start every actor of a topology on its device's agent, show live status, tear down.

Validates first (an invalid topology prints every problem, starts nothing and exits 2),
prints the plan, starts an agent for each ``localhost`` device, deploys, and watches until
Ctrl-C, SIGTERM or the end of ``--duration``; then stops every actor and every agent it
started, and exits 0.

Agents beyond loopback are spoken to over CurveZMQ only: each such device needs its
``agent_key`` in the topology and the launcher its own key pair (``--key``, default
``launcher`` from ``kairos keys generate``); a device without ``agent_key`` is a usage error
(exit 2) found before anything starts.  With ``mesh.encrypt`` the data-plane key file is
printed, for ``kairos tap/record/replay --mesh-key``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the topology file (YAML)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument(
        "--emulate",
        action="store_true",
        help="run each device in an emulated cluster (Linux, root: namespaces and cgroups)",
    )
    parser.add_argument("--no-status", action="store_true", help="do not show the live status")
    parser.add_argument("--state-dir", type=Path, help="agents' logs, specs and outputs go here")
    parser.add_argument(
        "--exclude",
        nargs="+",
        default=[],
        metavar="ACTOR",
        help="plan these actors' endpoints but do not start them (e.g. replayed by kairos replay)",
    )
    parser.add_argument(
        "--key",
        metavar="NAME_OR_FILE",
        help="the launcher's CurveZMQ key pair for agents beyond loopback: a name from "
        "`kairos keys generate` or a NAME.key_secret file (default: launcher)",
    )


def run(args: argparse.Namespace) -> int:
    from kairos.errors import (
        EXIT_FAILURE,
        EXIT_OK,
        EXIT_USAGE,
        KairosError,
        SecurityError,
        TopologyError,
    )
    from kairos.launch import Launch, PlanError
    from kairos.launch.view import StatusView

    if args.duration is not None and args.duration <= 0:
        print("kairos launch: --duration must be positive", file=sys.stderr)
        return EXIT_USAGE
    launch = Launch(
        args.file,
        state_dir=args.state_dir,
        exclude=args.exclude,
        emulate=args.emulate,
        key=args.key,
    )
    try:
        plan = launch.load()
        launch.check_keys()
    except TopologyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(
            f"kairos launch: {len(exc.problems)} problem(s); nothing was started", file=sys.stderr
        )
        return EXIT_USAGE
    except (PlanError, SecurityError) as exc:
        print(f"kairos launch: {exc}; nothing was started", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"topology {plan.topology.name}: {len(plan.actors)} actors on {len(plan.devices)} device(s)"
    )
    for line in plan.lines():
        print(line)
    sys.stdout.flush()
    previous = {
        sig: signal.signal(sig, launch.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        launched = launch.start()
        if args.emulate:
            print("emulated cluster: endpoints inside it")
            for line in launched.lines():
                print(line)
        if launch.mesh_key_file is not None:
            print(
                f"data plane encrypted; mesh key: {launch.mesh_key_file} "
                "(kairos tap/record/replay --mesh-key FILE)"
            )
        print(
            f"deployed (logs and outputs in {launch.state_dir}); Ctrl-C stops everything",
            flush=True,
        )
        if args.no_status:
            launch.run(args.duration)
        else:
            with StatusView() as view:
                launch.run(args.duration, view)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a launch is meant to end: the finally below tears it down
    except KairosError as exc:
        print(f"kairos launch: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        launch.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", flush=True)
    return EXIT_OK
