"""Reading values that may have the wrong type: the schema reported those; here they are skipped."""

from __future__ import annotations

import math
from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range (the YAML reader reported it)
        return None
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def seconds(value: float) -> str:
    return f"{value:g} s"


def article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def normal_host(host: str) -> str:
    host = host.strip("[]").lower()
    return "127.0.0.1" if host in ("localhost", "::1") else host
