"""Default seeds for the random sensors, so runs repeat without a configured seed."""

from __future__ import annotations

import hashlib


def seed_from_name(name: str) -> int:
    """A stable 64-bit seed from an actor name (Python's hash() changes between runs)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
