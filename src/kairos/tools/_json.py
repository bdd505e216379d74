"""Machine-readable output (every ``--json``) is strict JSON (RFC 8259), always.

Python's :func:`json.dumps` writes a non-finite float as ``NaN`` or ``Infinity``, which is not
JSON: ``JSON.parse`` in a browser, ``jq`` and every strict parser reject the whole line.  One
bad sample (an I²C read returning NaN) would so break a dashboard fed by ``kairos tap --json``.
Every ``--json`` writer of the CLI therefore goes through :func:`dumps`, which writes a
non-finite number as ``null`` (docs/wire.md, "JSON output").
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any


def finite(value: Any, default: Callable[[Any], Any] | None = None) -> Any:
    """``value`` with every NaN and ±Inf float (nested in dicts, lists, tuples) as None.

    ``default`` turns a value JSON cannot hold (a NumPy scalar) into one it can, as for
    :func:`json.dumps`; its result is screened too.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, dict):
        return {key: finite(item, default) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item, default) for item in value]
    if default is not None:
        return finite(default(value), default)
    return value  # json.dumps raises TypeError for it, as it would have anyway


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None, **options: Any) -> str:
    """:func:`json.dumps` of ``value`` with non-finite numbers written as ``null``."""
    return json.dumps(finite(value, default), allow_nan=False, **options)
