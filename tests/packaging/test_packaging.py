"""The package as installed: one import root, every source package present, wheels build."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from importlib.metadata import distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
DISTRIBUTION = "kairos-mesh"
# names a project must never install at the top level (the repository's own folders)
BARE = ("actors", "kernels", "hardware", "topologies", "tools", "core", "src")


def source_packages() -> list[str]:
    """Every folder under src/ with an ``__init__.py``: its path is its import name."""
    return [
        ".".join(init.parent.relative_to(SRC).parts)
        for init in sorted((SRC / "kairos").rglob("__init__.py"))
    ]


def test_the_source_tree_is_found() -> None:
    assert len(source_packages()) >= 10  # a wrong REPO path would make the next test vacuous


@pytest.mark.parametrize("name", source_packages())
def test_every_source_package_is_installed(name: str) -> None:
    spec = importlib.util.find_spec(name)
    assert spec is not None, f"{name} is in the source tree but not installed"


def installed_files() -> list[str]:
    """The RECORD of the installed kairos (a source checkout's egg-info has none)."""
    for dist in distributions(name=DISTRIBUTION):
        record = dist.read_text("RECORD")
        if record:
            return [line.split(",")[0] for line in record.splitlines() if line]
    pytest.fail(f"{DISTRIBUTION} is not installed (no dist-info with a RECORD)")


def test_no_bare_top_level_module_is_installed() -> None:
    top = {Path(f).parts[0] for f in installed_files()}
    assert not top & set(BARE), f"bare top-level modules installed: {top & set(BARE)}"
    for name in BARE:
        spec = importlib.util.find_spec(name)
        assert spec is None or "kairos" not in str(spec.origin), f"{name} comes from kairos"


def _build_wheel(tmp_path: Path, env: dict[str, str]) -> tuple[Path, str]:
    out = tmp_path / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("kairos_mesh-*.whl")
    return wheel, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_holds_one_package_root_and_the_compiled_kernels(tmp_path: Path) -> None:
    wheel, _ = _build_wheel(tmp_path, {"KAIROS_NO_CYTHON": "0"})
    names = zipfile.ZipFile(wheel).namelist()
    roots = {n.split("/")[0] for n in names}
    assert roots == {
        "kairos",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }
    assert any(n.startswith("kairos/kernels/_compiled") and n.endswith(".so") for n in names)
    assert any(n.startswith("kairos/actors/_drain") and n.endswith(".so") for n in names)
    for data in (
        "kairos/topologies/schema.json",
        "kairos/topologies/examples/demo.yaml",
        "kairos/py.typed",
    ):
        assert data in names
    assert any(n.startswith("kairos/hardware/classes/") for n in names)
    assert any(n.startswith("kairos/agent/templates/") for n in names)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_opting_out_of_cython_builds_without_the_extension_and_says_so(tmp_path: Path) -> None:
    wheel, log = _build_wheel(tmp_path, {"KAIROS_NO_CYTHON": "1"})
    names = zipfile.ZipFile(wheel).namelist()
    assert not any(n.endswith(".so") for n in names)
    assert "KAIROS_NO_CYTHON=1" in log
    assert "-py3-none-any" in wheel.name  # a pure wheel, honestly labelled
