"""Fuzz targets for Kairos's decoders and the engines that drive them (``kairos.tools.fuzz``).

Targets are imported on demand (:func:`load_target`) so that the atheris engine can import
each one inside ``atheris.instrument_imports()``.
"""

from __future__ import annotations

import importlib

from kairos.tools._fuzz._target import ContractViolation, Target

#: target name -> module defining ``TARGET``
TARGET_MODULES: dict[str, str] = {
    "wire": "kairos.tools._fuzz.wire",
    "control": "kairos.tools._fuzz.control",
    "topology": "kairos.tools._fuzz.topology",
    "recording": "kairos.tools._fuzz.recording",
}


def load_target(name: str) -> Target:
    """The target called ``name`` (KeyError for an unknown one)."""
    module = importlib.import_module(TARGET_MODULES[name])
    return module.TARGET


__all__ = ["TARGET_MODULES", "ContractViolation", "Target", "load_target"]
