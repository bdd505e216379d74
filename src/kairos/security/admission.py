"""What an agent admits in a ``spawn`` beyond its installed roles and adapters.

The agent runs nothing but installed roles and adapters (``spawn`` refuses others); here
the adapter's parameters are validated against the adapter's own ``params_schema`` (the
same check ``kairos validate`` makes on the launcher's side, repeated because the agent
trusts no launcher's validation), and a mesh key in the spec must be a real key pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.actors import adapters
from kairos.actors.spec import ActorProcessSpec
from kairos.control.protocol import BAD_REQUEST, RequestError
from kairos.errors import KairosError


def check_spawn(args: Mapping[str, Any]) -> None:
    """RequestError (bad-request) for invalid adapter params or a malformed mesh key.

    A spec that does not parse, or names a role or adapter this agent lacks, is left to
    ``spawn`` itself, which answers it.
    """
    raw = args.get("spec")
    if not isinstance(raw, dict):
        return
    try:
        spec = ActorProcessSpec.from_dict(raw)
    except KairosError:
        return
    if spec.curve is not None:
        from kairos.meshkey import MeshKey

        try:
            MeshKey.from_spec(spec.curve)
        except KairosError as exc:
            raise RequestError(BAD_REQUEST, f"spawn {spec.name!r}: {exc}") from None
    lookup = {"sensor": adapters.sensor_adapter, "output": adapters.output_adapter}.get(spec.role)
    if lookup is None or spec.adapter is None:
        return
    try:
        cls = lookup(spec.adapter)
    except KairosError:
        return  # not installed: spawn refuses it with the list of installed adapters
    problems = params_problems(getattr(cls, "params_schema", {"type": "object"}), spec.params)
    if problems:
        raise RequestError(
            BAD_REQUEST,
            f"spawn {spec.name!r}: {spec.role} adapter {spec.adapter!r} params: "
            + "; ".join(problems),
        )


def params_problems(schema: Mapping[str, Any], params: Any) -> list[str]:
    """Every way ``params`` breaks ``schema`` (JSON Schema 2020-12), each as one phrase."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        validator = Draft202012Validator(dict(schema))
        errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    except SchemaError as exc:
        return [f"the adapter's params_schema is invalid: {exc.message}"]
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(params)'}: {error.message}"
        for error in errors
    ]
