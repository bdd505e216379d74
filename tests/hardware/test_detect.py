"""Device class detection from the board model, the OS, or size; and `kairos devices`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import run_kairos

from kairos.errors import DeviceClassError
from kairos.hardware.classes import class_names
from kairos.hardware.detect import detect_class

GIB = 1024**3


def model_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model"
    path.write_bytes(text.encode() + b"\x00")  # the device tree ends strings with NUL
    return path


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("Raspberry Pi Zero W Rev 1.1", "pi-zero"),
        ("Raspberry Pi Zero 2 W Rev 1.0", "pi-zero"),
        ("Raspberry Pi Model B Rev 2", "pi-zero"),
        ("Raspberry Pi 2 Model B Rev 1.1", "pi-2"),
        ("Raspberry Pi 3 Model B Plus Rev 1.3", "pi-4"),
        ("Raspberry Pi 4 Model B Rev 1.4", "pi-4"),
        ("Raspberry Pi 400 Rev 1.0", "pi-4"),
        ("Raspberry Pi 5 Model B Rev 1.0", "pi-4"),
        ("Raspberry Pi Compute Module 4 Rev 1.0", "pi-4"),
    ],
)
def test_raspberry_pi_models(tmp_path: Path, model: str, expected: str) -> None:
    # a big core count must not matter: the board model wins
    found = detect_class(
        env={}, model_path=model_file(tmp_path, model), system="Linux", cpu_count=64
    )
    assert found.name == expected
    assert model in found.reason


def test_macos_is_a_mac_mini(tmp_path: Path) -> None:
    found = detect_class(env={}, model_path=tmp_path / "none", system="Darwin")
    assert found.name == "mac-mini"
    assert found.reason.startswith("macOS")


@pytest.mark.parametrize(
    ("cores", "memory", "expected"),
    [
        (8, 4 * GIB, "cloud"),
        (2, 32 * GIB, "cloud"),
        (4, 4 * GIB, "pi-4"),
        (6, 3 * GIB, "pi-4"),
        (4, 2 * GIB, "pi-2"),
        (2, 1 * GIB, "pi-2"),
        (1, 8 * GIB, "pi-zero"),
        (2, 512 * 1024**2, "pi-zero"),
    ],
)
def test_other_machines_by_size(tmp_path: Path, cores: int, memory: int, expected: str) -> None:
    found = detect_class(
        env={}, model_path=tmp_path / "none", system="Linux", cpu_count=cores, memory_bytes=memory
    )
    assert found.name == expected
    assert f"{cores} cores" in found.reason


def test_unknown_board_falls_back_to_size(tmp_path: Path) -> None:
    found = detect_class(
        env={},
        model_path=model_file(tmp_path, "Pine64 RockPro64"),
        system="Linux",
        cpu_count=6,
        memory_bytes=4 * GIB,
    )
    assert found.name == "pi-4"
    assert "Pine64 RockPro64" in found.reason


def test_override_beats_environment_beats_detection(tmp_path: Path) -> None:
    pi_zero = model_file(tmp_path, "Raspberry Pi Zero W Rev 1.1")
    env = {"KAIROS_DEVICE_CLASS": "cloud"}
    assert detect_class(env=env, model_path=pi_zero).name == "cloud"
    assert detect_class(env=env, model_path=pi_zero).reason == "set by KAIROS_DEVICE_CLASS"
    assert detect_class("pi-2", env=env, model_path=pi_zero).name == "pi-2"


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(DeviceClassError, match="valid: cloud, mac-mini, pi-2, pi-4, pi-zero"):
        detect_class("pi-9", env={})
    with pytest.raises(DeviceClassError, match="KAIROS_DEVICE_CLASS names unknown"):
        detect_class(env={"KAIROS_DEVICE_CLASS": "huge"})


def test_this_machine_gets_a_known_class() -> None:
    assert detect_class(env={}).name in class_names()


# -- kairos devices ------------------------------------------------------------------------


def test_devices_command_prints_class_windows_budget_and_kernels() -> None:
    result = run_kairos("devices", env=_env(KAIROS_DEVICE_CLASS="pi-zero"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "class: pi-zero (set by KAIROS_DEVICE_CLASS)"
    assert "  windows: fast τ_base 0.01 s, slow τ_max 1 s" in lines
    assert any(line.startswith("  budget: at most 4 actors, 1000 Hz") for line in lines)
    assert lines[-1].startswith("kernels: ")


def test_devices_list_and_json() -> None:
    listed = run_kairos("devices", "--list", "--class", "pi-4", env=_env())
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("class: pi-4 (given explicitly)")
    for name in class_names():
        assert any(line.split()[:1] == [name] for line in listed.stdout.splitlines())
    as_json = run_kairos("devices", "--json", "--list", "--class", "cloud", env=_env())
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["class"] == "cloud"
    assert document["device_class"]["tau_base_s"] == 0.001
    assert document["device_class"]["budget"]["max_actors"] == 256
    assert {c["name"] for c in document["classes"]} == set(class_names())
    assert set(document["kernels"]) == {"backend", "reason"}


def test_devices_unknown_class_is_a_usage_error() -> None:
    result = run_kairos("devices", "--class", "pi-9", env=_env())
    assert result.returncode == 2
    assert "unknown device class 'pi-9'; valid: cloud" in result.stderr


def _env(**extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "KAIROS_DEVICE_CLASS"}
    return {**env, **extra}
