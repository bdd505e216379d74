"""Fuzz targets for Kairos's decoders and the engines that drive them (``kairos.tools.fuzz``).

Targets are imported on demand (:func:`load_target`) so that the atheris engine can import
each one inside ``atheris.instrument_imports()``.
"""

from __future__ import annotations

import importlib
import os
from typing import Final

from kairos.tools._fuzz._target import ContractViolation, Target

#: target name -> module defining ``TARGET``
TARGET_MODULES: dict[str, str] = {
    "wire": "kairos.tools._fuzz.wire",
    "control": "kairos.tools._fuzz.control",
    "topology": "kairos.tools._fuzz.topology",
    "recording": "kairos.tools._fuzz.recording",
    "records": "kairos.tools._fuzz.records",
}

#: ``name=module[,name=module…]``: more targets, each module defining ``TARGET``.  For testing
#: the fuzzer itself (a target known to crash proves crashes are caught, saved and reported);
#: an environment variable so that the atheris engine's subprocess sees the same targets.
EXTRA_TARGETS_ENV: Final = "KAIROS_FUZZ_EXTRA_TARGETS"


def extra_targets(value: str) -> dict[str, str]:
    """Parse an ``EXTRA_TARGETS_ENV`` value; ValueError names a malformed entry."""
    extra: dict[str, str] = {}
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        name, sep, module = (part.strip() for part in entry.partition("="))
        if not sep or not name or not module:
            raise ValueError(f"{EXTRA_TARGETS_ENV}: {entry!r} is not NAME=MODULE")
        if name in TARGET_MODULES or name == "all":
            raise ValueError(f"{EXTRA_TARGETS_ENV}: {name!r} is a built-in target name")
        extra[name] = module
    return extra


def target_modules() -> dict[str, str]:
    """Every target: the built-in ones, then those of ``EXTRA_TARGETS_ENV`` (ValueError if it
    is malformed)."""
    return {**TARGET_MODULES, **extra_targets(os.environ.get(EXTRA_TARGETS_ENV, ""))}


def load_target(name: str) -> Target:
    """The target called ``name`` (KeyError for an unknown one)."""
    module = importlib.import_module(target_modules()[name])
    return module.TARGET


__all__ = [
    "EXTRA_TARGETS_ENV",
    "TARGET_MODULES",
    "ContractViolation",
    "Target",
    "extra_targets",
    "load_target",
    "target_modules",
]
