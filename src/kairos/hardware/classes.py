"""Device classes: the windows, mesh weight and resource budget of each kind of device.

Each class is a data file ``classes/<name>.yaml`` shipped inside the package, so that a new
class is a new file, not a code change.  The topology loader takes engine windows and the
device budget from here; the emulator enforces ``cpu_quota`` and ``memory_mb``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kairos.errors import DeviceClassError

#: the class files, beside this module: Kairos ships compiled extensions, which load only from
#: files, so its package is always a folder on disk and needs no ``importlib.resources`` (which
#: imports tempfile, shutil, bz2 and lzma: 0.8 MB of an idle agent's 25 MB budget)
_FOLDER = Path(__file__).with_name("classes")
_KEYS = {
    "name",
    "description",
    "typical_hardware",
    "role",
    "tau_base_s",
    "tau_max_s",
    "weight",
    "budget",
}
_BUDGET_KEYS = {"max_actors", "max_sample_rate_hz", "memory_mb", "cpu_quota"}


@dataclass(frozen=True)
class Budget:
    """What one device of a class can sustain; None means no limit."""

    max_actors: int
    #: total sample rate of all sensors on the device (Hz)
    max_sample_rate_hz: float
    memory_mb: int | None
    #: CPU cores' worth the emulator grants (cgroup cpu.max); None: unlimited
    cpu_quota: float | None


@dataclass(frozen=True)
class DeviceClass:
    """One kind of device (docs/design.md §4): its integration windows, weight and budget."""

    name: str
    description: str
    typical_hardware: str
    role: str
    #: fast window (the Emissary), seconds
    tau_base_s: float
    #: slow window (the Master), seconds
    tau_max_s: float
    #: default mesh weight of the engines on such a device
    weight: float
    budget: Budget

    @property
    def windows(self) -> tuple[float, float]:
        return (self.tau_base_s, self.tau_max_s)


@functools.cache
def class_names() -> tuple[str, ...]:
    """Names of every installed device class, sorted."""
    return tuple(
        sorted(
            entry.name[: -len(".yaml")]
            for entry in _FOLDER.iterdir()
            if entry.name.endswith(".yaml")
        )
    )


@functools.cache
def load_class(name: str) -> DeviceClass:
    """The device class called ``name``; DeviceClassError names the valid ones if unknown."""
    if name not in class_names():
        raise DeviceClassError(f"unknown device class {name!r}; valid: {', '.join(class_names())}")
    import yaml  # here: an agent only checks a class name, without PyYAML (~1 MB of RSS)

    entry = _FOLDER / f"{name}.yaml"
    where = f"device class file {entry}"
    try:
        raw = yaml.safe_load(entry.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DeviceClassError(f"{where} is not valid YAML: {exc}") from None
    return _parse(raw, name, where)


def all_classes() -> list[DeviceClass]:
    """Every installed class, sorted by fast window (fastest first)."""
    return sorted((load_class(n) for n in class_names()), key=lambda c: c.tau_base_s)


def _parse(raw: Any, name: str, where: str) -> DeviceClass:
    if not isinstance(raw, dict):
        raise DeviceClassError(f"{where} is not a mapping")
    missing = sorted(_KEYS - raw.keys())
    unknown = sorted(raw.keys() - _KEYS)
    if missing or unknown:
        raise DeviceClassError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    if raw["name"] != name:
        raise DeviceClassError(f"{where}: name {raw['name']!r} does not match the file name")
    budget = raw["budget"]
    if not isinstance(budget, dict) or set(budget) != _BUDGET_KEYS:
        raise DeviceClassError(f"{where}: budget needs exactly {sorted(_BUDGET_KEYS)}")
    try:
        result = DeviceClass(
            name=name,
            description=str(raw["description"]),
            typical_hardware=str(raw["typical_hardware"]),
            role=str(raw["role"]),
            tau_base_s=float(raw["tau_base_s"]),
            tau_max_s=float(raw["tau_max_s"]),
            weight=float(raw["weight"]),
            budget=Budget(
                max_actors=int(budget["max_actors"]),
                max_sample_rate_hz=float(budget["max_sample_rate_hz"]),
                memory_mb=None if budget["memory_mb"] is None else int(budget["memory_mb"]),
                cpu_quota=None if budget["cpu_quota"] is None else float(budget["cpu_quota"]),
            ),
        )
    except (TypeError, ValueError) as exc:
        raise DeviceClassError(f"{where}: {exc}") from None
    if not 0 < result.tau_base_s < result.tau_max_s:
        raise DeviceClassError(f"{where}: needs 0 < tau_base_s < tau_max_s")
    if result.weight <= 0 or result.budget.max_actors < 1 or result.budget.max_sample_rate_hz <= 0:
        raise DeviceClassError(f"{where}: weight, max_actors and max_sample_rate_hz must be > 0")
    return result
