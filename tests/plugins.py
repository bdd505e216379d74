"""Test-only plugin distributions: a module and its entry points, installed on ``sys.path``.

:func:`install` writes a ``.dist-info`` directory next to the module, which
``importlib.metadata`` finds exactly as it finds a pip-installed package, so the tests
exercise the real plugin path (kairos.registry), in this process and in the actor
processes they start (put the returned root on their PYTHONPATH).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from kairos.registry import reset_plugin_cache

#: an encoding plugin: e^{i·gain·θ}, with a state (for checkpoints); and a class that is none
SCALED_PHASE = """
import numpy as np
from kairos.actors import Encoder


class ScaledPhase(Encoder):
    '''e^{i·gain·θ}, counting the samples it encoded (state, for checkpoints).'''

    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["gain"],
        "properties": {"gain": {"type": "number", "description": "phase multiplier"}},
    }

    def __init__(self, params):
        super().__init__(params)
        self.gain = float(params["gain"])
        self.count = 0

    def encode(self, times, values):
        self.count += len(times)
        return np.exp(1j * self.gain * np.asarray(values, dtype=np.float64))

    def state(self):
        return [self.count]

    def restore(self, state):
        (self.count,) = state


class NotAnEncoder:
    '''Named by an entry point of the kairos.encodings group, yet no Encoder subclass.'''
"""


def install(
    root: Path, module: str, source: str, entry_points: Mapping[str, Mapping[str, str]]
) -> Path:
    """Write ``module`` (its ``source``) and a distribution whose ``entry_points`` map a
    group to ``{name: attribute of module, or "other.module:attr"}`` into ``root``; put
    ``root`` on ``sys.path`` and forget the plugin scan.  Returns ``root``; undo with
    :func:`uninstall`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source)
    dist = root / f"{module}-1.0.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines += [
            f"{name} = {target if ':' in target else f'{module}:{target}'}"
            for name, target in entries.items()
        ]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    sys.path.insert(0, str(root))
    reset_plugin_cache()
    return root


def uninstall(root: Path, module: str) -> None:
    """Take ``root`` off ``sys.path``, forget ``module`` and the plugin scan."""
    while str(root) in sys.path:
        sys.path.remove(str(root))
    sys.modules.pop(module, None)
    reset_plugin_cache()
