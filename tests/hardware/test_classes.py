"""Device classes are packaged data files that match docs/design.md §4."""

from __future__ import annotations

import pytest

from kairos.errors import DeviceClassError
from kairos.hardware.classes import all_classes, class_names, load_class

# name: (τ_base, τ_max, weight, max_actors, max_sample_rate_hz, memory_mb, cpu_quota)
DESIGN = {
    "pi-zero": (0.01, 1.0, 0.5, 4, 1000, 512, 0.1),
    "pi-2": (60.0, 3600.0, 1.0, 8, 5000, 1024, 0.5),
    "pi-4": (1.0, 60.0, 1.0, 16, 20000, 2048, 1.0),
    "mac-mini": (0.1, 600.0, 1.5, 64, 200000, None, None),
    "cloud": (0.001, 10.0, 2.0, 256, 1000000, None, None),
}


def test_every_design_class_is_installed() -> None:
    assert set(class_names()) == set(DESIGN)


@pytest.mark.parametrize("name", sorted(DESIGN))
def test_class_values(name: str) -> None:
    cls = load_class(name)
    b = cls.budget
    assert (
        cls.tau_base_s,
        cls.tau_max_s,
        cls.weight,
        b.max_actors,
        b.max_sample_rate_hz,
        b.memory_mb,
        b.cpu_quota,
    ) == DESIGN[name]
    assert cls.windows == (cls.tau_base_s, cls.tau_max_s)
    assert cls.name == name
    assert cls.description and cls.typical_hardware and cls.role


def test_unknown_class_lists_the_valid_ones() -> None:
    with pytest.raises(DeviceClassError) as caught:
        load_class("pi-5")
    assert str(caught.value) == (
        "unknown device class 'pi-5'; valid: cloud, mac-mini, pi-2, pi-4, pi-zero"
    )


def test_classes_are_frozen() -> None:
    cls = load_class("pi-4")
    with pytest.raises(AttributeError):
        cls.tau_base_s = 2.0  # type: ignore[misc]


def test_all_classes_fastest_first() -> None:
    assert [c.name for c in all_classes()] == ["cloud", "pi-zero", "mac-mini", "pi-4", "pi-2"]
