"""The checks of an adapter's or encoder's params that need no schema library.

``kairos validate`` and the launcher check params against the class's full ``params_schema``
with jsonschema; an actor process may not import it (the lean processes, docs/control.md),
yet must refuse params it was never meant to take, whoever sent the spec.  So a class's
constructor checks here the shape of its params against the same schema: a mapping, no
key it does not know (when the schema is closed), every required key, and each known key's
JSON type.  Bounds, patterns and enums are the launcher's; a value that passes here but
cannot be used makes the constructor fail with its own message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.errors import ConfigError

_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int, float),
    "integer": (int,),
    "string": (str,),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (Mapping,),
}


def params_problems(schema: Mapping[str, Any], params: Any) -> list[str]:
    """Every way ``params`` breaks the shape ``schema`` gives, each as one phrase."""
    if not isinstance(params, Mapping):
        return [f"params must be a mapping, not {type(params).__name__}"]
    properties: Mapping[str, Any] = schema.get("properties", {})
    problems = []
    if schema.get("additionalProperties") is False:
        unknown = sorted(str(key) for key in params if key not in properties)
        if unknown:
            valid = ", ".join(sorted(properties)) or "(none)"
            keys = f"{_plural('key', unknown)} {', '.join(unknown)}"
            problems.append(f"unknown {keys}; valid: {valid}")
    missing = [key for key in schema.get("required", ()) if key not in params]
    if missing:
        problems.append(f"missing required {_plural('key', missing)} {', '.join(missing)}")
    for key, value in params.items():
        wanted = properties.get(key, {}).get("type") if key in properties else None
        if wanted is not None and not _is_type(value, wanted):
            problems.append(f"{key}: must be {_names(wanted)}, not {value!r}")
    return problems


def check_params(schema: Mapping[str, Any], params: Any, owner: str) -> None:
    """ConfigError naming ``owner`` and every problem of ``params``, if there is one."""
    problems = params_problems(schema, params)
    if problems:
        raise ConfigError(f"{owner} refuses its params: {'; '.join(problems)}")


def _is_type(value: Any, wanted: str | list[str]) -> bool:
    kinds = [wanted] if isinstance(wanted, str) else list(wanted)
    for kind in kinds:
        if kind == "null" and value is None:
            return True
        if kind in ("number", "integer") and isinstance(value, bool):
            continue  # JSON's true is no number
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return True
        if isinstance(value, _TYPES.get(kind, ())):
            return True
    return False


def _names(wanted: str | list[str]) -> str:
    kinds = [wanted] if isinstance(wanted, str) else list(wanted)
    return " or ".join(f"an {k}" if k[:1] in "aeiou" else f"a {k}" for k in kinds)


def _plural(word: str, items: list[str]) -> str:
    return word if len(items) == 1 else f"{word}s"
