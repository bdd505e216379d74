"""``kairos agent install`` and ``kairos agent uninstall``: the agent as a system service.

Called by :mod:`kairos.tools.agent`; the work is done by :mod:`kairos.agent.install`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kairos.agent.config import LOG_LEVELS, SERVICE_BIND
from kairos.errors import EXIT_OK, EXIT_USAGE


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user",
        action="store_true",
        help="a per-user service (systemd --user, ~/Library/LaunchAgents) instead of system-wide",
    )
    parser.add_argument(
        "--root", type=Path, metavar="DIR", help="stage every path under DIR; touch no service"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be done and write nothing"
    )
    parser.add_argument(
        "--platform",
        choices=("linux", "darwin"),
        help="render for this system instead of the running one (with --root or --dry-run)",
    )


def configure_install(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument(
        "--class",
        dest="device_class",
        default="auto",
        metavar="NAME",
        help="device class of this machine (default: detect it)",
    )
    parser.add_argument("--bind", help=f"control endpoint of the agent (default {SERVICE_BIND})")
    parser.add_argument(
        "--dial",
        metavar="ENDPOINT",
        help="a device behind NAT: the agent connects out to the launcher listening at "
        "ENDPOINT instead of binding (docs/sites.md)",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter the service runs (default: this one)"
    )
    parser.add_argument(
        "--agent-log-level",
        default="info",
        choices=LOG_LEVELS,
        help="log level written to agent.yaml",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing agent.yaml")


def configure_uninstall(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument(
        "--purge", action="store_true", help="also delete trusted keys, state and logs"
    )


def _needs_staging(args: argparse.Namespace) -> str | None:
    if args.platform and args.root is None and not args.dry_run:
        return "--platform renders for another system: use it with --root or --dry-run"
    return None


def run_install(args: argparse.Namespace) -> int:
    from kairos.agent.install import install

    problem = _needs_staging(args)
    if problem:
        print(f"kairos agent install: {problem}", file=sys.stderr)
        return EXIT_USAGE
    plan = install(
        device_class=args.device_class,
        user=args.user,
        root=args.root,
        dry_run=args.dry_run,
        bind=args.bind,
        dial=args.dial,
        python=args.python,
        platform=args.platform,
        force=args.force,
        log_level=args.agent_log_level,
    )
    if args.dry_run:
        sys.stdout.write(plan.render())
        return EXIT_OK
    for note in plan.notes:
        print(f"note: {note}")
    for path in plan.written:
        print(f"wrote {path}")
    for path in plan.kept:
        print(f"kept {path} (exists; --force overwrites it)")
    for command in plan.ran:
        print(f"ran {' '.join(command)}")
    if plan.root is not None:
        print(f"staged under {plan.root}; no service manager was called")
    _print_key_steps(plan)
    return EXIT_OK


def _print_key_steps(plan: Any) -> None:
    """The agent's public key, and what a launcher needs before this agent obeys it."""
    if plan.agent_key is None:
        return
    layout = plan.layout
    made = "made now" if plan.key_generated else "kept: it existed"
    public = plan.agent_key.decode()
    sudo = "sudo " if layout.scope == "system" else ""
    print(f"agent public key {public} ({made}; {layout.agent_public_key})")
    print("before a launcher can command this agent:")
    print(f'  1. in the topology, give this device  agent_key: "{public}"')
    print("  2. on the launcher machine, once:  kairos keys generate   (writes launcher.key)")
    print(
        "  3. copy that launcher.key here and trust it:  "
        f"{sudo}kairos keys trust launcher.key --trusted-dir {layout.trusted_dir}"
    )


def run_uninstall(args: argparse.Namespace) -> int:
    from kairos.agent.install import uninstall

    problem = _needs_staging(args)
    if problem:
        print(f"kairos agent uninstall: {problem}", file=sys.stderr)
        return EXIT_USAGE
    plan = uninstall(
        user=args.user,
        root=args.root,
        dry_run=args.dry_run,
        platform=args.platform,
        purge=args.purge,
    )
    if args.dry_run:
        sys.stdout.write(plan.render())
        return EXIT_OK
    for command in plan.ran:
        print(f"ran {' '.join(command)}")
    for path in plan.removed:
        print(f"removed {path}")
    for path in plan.kept:
        print(f"kept {path} (not empty; --purge deletes it)")
    if not plan.removed:
        print("nothing was installed")
    return EXIT_OK
