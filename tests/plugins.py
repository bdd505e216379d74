"""Test-only plugin distributions: a module and its entry points, installed on ``sys.path``.

:func:`install` writes a ``.dist-info`` directory next to the module, which
``importlib.metadata`` finds exactly as it finds a pip-installed package, so the tests
exercise the real plugin path (kairos.registry), in this process and in the actor
processes they start (pass :func:`pythonpath` on to them).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from kairos.registry import reset_plugin_cache


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
