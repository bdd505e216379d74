"""Inspect and clean the emulated cluster: namespaces, links and cgroups named ``kz<id>-…``.

``kairos emulate list`` shows every emulated cluster on this machine and whether the process
that built it still runs; ``kairos emulate clean`` removes what crashed builders left behind
(processes inside, namespaces, veths, bridges, cgroups) and prints each thing it removed.
"""

from __future__ import annotations

import argparse

from kairos.errors import EXIT_OK


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="emulate_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show emulated clusters on this machine")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    clean = actions.add_parser("clean", help="remove leftovers of crashed emulated clusters")
    clean.add_argument("--cluster", metavar="ID", help="only this cluster id")
    clean.add_argument(
        "--force",
        action="store_true",
        help="also tear down clusters whose builder is still running",
    )


def run(args: argparse.Namespace) -> int:
    if args.emulate_command == "clean":
        return _clean(args)
    return _list(args)


def _clean(args: argparse.Namespace) -> int:
    from kairos.emulate.cluster import clean_leftovers

    removed = clean_leftovers(args.cluster, force=args.force)
    for item in removed:
        print(f"removed {item}")
    if not removed:
        print("nothing to clean")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from kairos.emulate.cluster import find_leftovers
    from kairos.tools import _json

    clusters = find_leftovers()
    if args.json:
        print(
            _json.dumps(
                {
                    cid: {
                        "owner_pid": info.owner_pid,
                        "owner_alive": info.owner_alive,
                        "subnet": info.subnet,
                        "namespaces": info.namespaces,
                        "links": info.links,
                        "cgroups": [str(p) for p in info.cgroups],
                    }
                    for cid, info in clusters.items()
                },
                indent=2,
            )
        )
        return EXIT_OK
    if not clusters:
        print("no emulated clusters")
        return EXIT_OK
    for cid, info in sorted(clusters.items()):
        owner = (
            f"owner pid {info.owner_pid} ({'running' if info.owner_alive else 'gone'})"
            if info.owner_pid is not None
            else "no owner record"
        )
        print(f"cluster {cid}: {info.subnet or 'subnet unknown'}, {owner}")
        for namespace in info.namespaces:
            print(f"  netns  {namespace}")
        for link in info.links:
            print(f"  link   {link}")
        for directory in info.cgroups:
            print(f"  cgroup {directory}")
    return EXIT_OK
