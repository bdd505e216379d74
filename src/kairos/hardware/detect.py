"""Which device class this machine is, and why.

Rules, first match wins:

1. an explicit ``override`` argument, then the ``KAIROS_DEVICE_CLASS`` environment variable;
2. a Raspberry Pi, by ``/proc/device-tree/model``: Zero and the single-core Pi 1 → pi-zero,
   Pi 2 → pi-2, Pi 3, 4, 400, 5 and Compute Modules 3/4/5 → pi-4;
3. macOS → mac-mini;
4. otherwise by size: ≥ 8 cores or ≥ 16 GiB → cloud; ≥ 4 cores and ≥ 3 GiB → pi-4;
   ≥ 2 cores and ≥ 768 MiB → pi-2; anything smaller → pi-zero.

(Memory thresholds sit below the nominal sizes because the kernel reserves some: a "4 GB"
board reports about 3.7 GiB.)  Every input is injectable so tests can fake any machine.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from kairos.errors import DeviceClassError
from kairos.hardware.classes import class_names

ENV_VAR = "KAIROS_DEVICE_CLASS"
MODEL_PATH = Path("/proc/device-tree/model")
_GIB = 1024**3
_MIB = 1024**2

# (pattern on the device-tree model, class); checked in order
_PI_MODELS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Raspberry Pi Zero", re.I), "pi-zero"),
    (re.compile(r"Raspberry Pi 2\b", re.I), "pi-2"),
    (re.compile(r"Raspberry Pi (3|4|5|400|500)\b", re.I), "pi-4"),
    (re.compile(r"Raspberry Pi Compute Module (3|4|5)", re.I), "pi-4"),
    (re.compile(r"Raspberry Pi (Model [AB]|Compute Module\b(?! \d))", re.I), "pi-zero"),
)


@dataclass(frozen=True)
class Detection:
    """A detected class name and the evidence for it, in words."""

    name: str
    reason: str


def detect_class(
    override: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    model_path: Path = MODEL_PATH,
    system: str | None = None,
    cpu_count: int | None = None,
    memory_bytes: int | None = None,
) -> Detection:
    """Detect this machine's device class (see the module docstring for the rules)."""
    environ = os.environ if env is None else env
    if override:
        return Detection(_known(override, "override"), "given explicitly")
    if environ.get(ENV_VAR):
        return Detection(_known(environ[ENV_VAR], ENV_VAR), f"set by {ENV_VAR}")
    model = _read_model(model_path)
    if model:
        for pattern, name in _PI_MODELS:
            if pattern.search(model):
                return Detection(name, f"{model_path} says {model!r}")
    system = platform.system() if system is None else system
    if system == "Darwin":
        return Detection("mac-mini", f"macOS on {platform.machine() or 'unknown CPU'}")
    cores = (os.cpu_count() or 1) if cpu_count is None else cpu_count
    memory = psutil.virtual_memory().total if memory_bytes is None else memory_bytes
    size = f"{cores} cores, {memory / _GIB:.1f} GiB"
    board = f" (board {model!r} is not a known Raspberry Pi)" if model else ""
    if cores >= 8 or memory >= 16 * _GIB:
        return Detection("cloud", f"{size}: at least 8 cores or 16 GiB{board}")
    if cores >= 4 and memory >= 3 * _GIB:
        return Detection("pi-4", f"{size}: at least 4 cores and 3 GiB{board}")
    if cores >= 2 and memory >= 768 * _MIB:
        return Detection("pi-2", f"{size}: at least 2 cores and 768 MiB{board}")
    return Detection("pi-zero", f"{size}: smaller than 2 cores and 768 MiB{board}")


def _known(name: str, source: str) -> str:
    if name not in class_names():
        raise DeviceClassError(
            f"{source} names unknown device class {name!r}; valid: {', '.join(class_names())}"
        )
    return name


def _read_model(path: Path) -> str:
    """The board model string, without the device tree's trailing NUL; '' if there is none."""
    try:
        raw = path.read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\x00", b"").decode("utf-8", errors="replace").strip()
