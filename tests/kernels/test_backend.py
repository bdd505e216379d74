"""Backend choice: the environment variable, the fallback that says so once, CI's guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import kairos.kernels as facade
from kairos.kernels import _reference

PROBE = "import json, kairos.kernels as k; print(json.dumps([k.BACKEND, k.BACKEND_REASON]))"
# makes `import kairos.kernels._compiled` fail, as on a machine where it was never built
BLOCK_COMPILED = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "kairos.kernels._compiled":
            raise ImportError("blocked by the test")
        return None
sys.meta_path.insert(0, Block())
"""


def compiled_importable() -> bool:
    try:
        from kairos.kernels import _compiled  # noqa: F401
    except ImportError:
        return False
    return True


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "KAIROS_KERNELS"}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def backend_of(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_compiled_backend_required():
    """CI sets KAIROS_REQUIRE_COMPILED=1: then a missing compiled module is a failure."""
    if os.environ.get("KAIROS_REQUIRE_COMPILED") != "1":
        pytest.skip("KAIROS_REQUIRE_COMPILED is not set")
    assert compiled_importable(), "the compiled kernels did not build"
    if os.environ.get("KAIROS_KERNELS", "").strip().lower() != "reference":
        assert facade.BACKEND == "compiled", facade.BACKEND_REASON


def test_facade_exports_the_chosen_backend():
    module = facade._backend
    assert facade.BACKEND in ("compiled", "reference")
    assert module.__name__ == f"kairos.kernels._{facade.BACKEND}"
    for name in ("carrier_cycles", "lockin", "integrate", "resonance", "collapse", "mesh"):
        assert getattr(facade, name) is getattr(module, name)
    assert facade.kuramoto is module.kuramoto and facade.wrap_phase is module.wrap_phase


def test_environment_forces_the_reference():
    backend, reason = backend_of(run_python(PROBE, KAIROS_KERNELS="reference"))
    assert backend == "reference"
    assert "KAIROS_KERNELS=reference" in reason


def test_compiled_is_the_default_when_built():
    if not compiled_importable():
        pytest.skip("the compiled kernels are not built")
    backend, reason = backend_of(run_python(PROBE))
    assert backend == "compiled", reason


def test_missing_compiled_module_falls_back_and_says_so_once():
    code = BLOCK_COMPILED + "import kairos.kernels; import kairos.kernels as again\n" + PROBE
    result = run_python(code)
    backend, reason = backend_of(result)
    assert backend == "reference"
    assert "blocked by the test" in reason
    log = result.stdout + result.stderr
    assert log.count("kernels.fallback") == 1, log


def test_forcing_compiled_when_missing_is_an_error():
    result = run_python(BLOCK_COMPILED + PROBE, KAIROS_KERNELS="compiled")
    assert result.returncode != 0
    assert "KernelError" in result.stderr and "do not import" in result.stderr


def test_unknown_choice_is_an_error():
    result = run_python(PROBE, KAIROS_KERNELS="fortran")
    assert result.returncode != 0
    assert "KAIROS_KERNELS='fortran' is not one of auto, compiled, reference" in result.stderr


def test_reference_module_is_complete():
    names = ("carrier_cycles", "lockin", "integrate", "resonance", "collapse", "mesh")
    assert all(callable(getattr(_reference, name)) for name in (*names, "kuramoto"))
