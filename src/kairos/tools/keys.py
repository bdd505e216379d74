"""Manage CurveZMQ keys: generate a key pair, trust or revoke a launcher key, list keys.

An agent on a non-loopback address obeys only launchers whose public key is in its trusted
directory: run `kairos keys generate` on the launcher machine, copy its NAME.key to the device
and run `kairos keys trust NAME.key` there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kairos.errors import EXIT_OK
from kairos.tools import _json


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    gen = actions.add_parser("generate", help="make a key pair (secret file mode 0600)")
    gen.add_argument("--name", default="launcher", help="key name (default: launcher)")
    gen.add_argument("--dir", type=Path, help="where to write it (default: CONFIG/keys)")
    gen.add_argument("--force", action="store_true", help="replace an existing pair")
    trust = actions.add_parser("trust", help="allow a launcher's public key on this agent")
    trust.add_argument("key", help="a NAME.key file, or the 40-character public key")
    trust.add_argument("--name", help="name to trust it under (default: from the file)")
    trust.add_argument("--trusted-dir", type=Path, help="default: CONFIG/trusted")
    revoke = actions.add_parser("revoke", help="remove a trusted key (its session ends)")
    revoke.add_argument("name")
    revoke.add_argument("--trusted-dir", type=Path, help="default: CONFIG/trusted")
    listing = actions.add_parser("list", help="show key pairs and trusted keys")
    listing.add_argument("--dir", type=Path, help="key pairs (default: CONFIG/keys)")
    listing.add_argument("--trusted-dir", type=Path, help="default: CONFIG/trusted")
    listing.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from kairos import keys

    if args.keys_action == "generate":
        pair = keys.generate(args.dir or keys.default_keys_dir(), args.name, force=args.force)
        print(f"public key  {pair.public.decode()}")
        print(f"wrote       {pair.public_file} (share this one)")
        print(f"            {pair.secret_file} (mode 0600: keep it here)")
        return EXIT_OK
    if args.keys_action == "trust":
        trusted = keys.trust(args.trusted_dir or keys.default_trusted_dir(), args.key, args.name)
        print(f"trusted {trusted.name} ({keys.fingerprint(trusted.public)}…) in {trusted.path}")
        return EXIT_OK
    if args.keys_action == "revoke":
        removed = keys.revoke(args.trusted_dir or keys.default_trusted_dir(), args.name)
        print(f"revoked {args.name} ({removed})")
        return EXIT_OK
    pairs_dir = args.dir or keys.default_keys_dir()
    allowed = keys.list_trusted(args.trusted_dir or keys.default_trusted_dir())
    pairs = sorted(p.name.removesuffix(keys.SECRET_SUFFIX) for p in pairs_dir.glob("*.key_secret"))
    if args.json:
        print(
            _json.dumps(
                {
                    "pairs": pairs,
                    "trusted": [{"name": k.name, "public": k.public.decode()} for k in allowed],
                }
            )
        )
        return EXIT_OK
    print(f"key pairs in {pairs_dir}: {', '.join(pairs) or 'none'}")
    print(f"trusted launcher keys: {len(allowed)}")
    for key in allowed:
        print(f"  {key.name:<20} {key.public.decode()}")
    return EXIT_OK
