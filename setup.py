"""Build script: maps the top-level folders onto the one import package ``kairos``.

The project keeps ``core/``, ``actors/``, ``kernels/``, ``hardware/``, ``topologies/`` and
``tools/`` at the top of the repository, but installs them only as ``kairos`` and
``kairos.<folder>``: a bare top-level module named ``tools`` or ``actors`` would shadow other
projects.  The root package's folder is ``core/``, not ``kairos/``, so that running Python
in a checkout (``python -m``, which puts the working directory first on ``sys.path``) can
never import a half package from the source tree instead of the installed one.  The package
list is computed from the tree so that a new subpackage can never be silently dropped.

The Cython kernels are compiled unless ``KAIROS_NO_CYTHON=1`` is set; a missing compiler
fails the build loudly instead of shipping the slow path without saying so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent.resolve()

# import name -> folder in this repository
PACKAGE_ROOTS = {
    "kairos": "core",
    "kairos.actors": "actors",
    "kairos.kernels": "kernels",
    "kairos.hardware": "hardware",
    "kairos.topologies": "topologies",
    "kairos.tools": "tools",
}


def discover_packages() -> tuple[list[str], dict[str, str]]:
    """Every folder with an ``__init__.py`` below each root, under its ``kairos.`` name."""
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for name, folder in PACKAGE_ROOTS.items():
        packages.append(name)
        package_dir[name] = folder
        for sub in find_packages(where=folder):
            packages.append(f"{name}.{sub}")
            package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


def kernel_extensions() -> list[Extension]:
    if os.environ.get("KAIROS_NO_CYTHON") == "1":
        print(
            "KAIROS_NO_CYTHON=1: building without the compiled kernels; "
            "kairos will run on the NumPy reference kernels.",
            file=sys.stderr,
        )
        return []
    from Cython.Build import cythonize

    extension = Extension(
        "kairos.kernels._compiled",
        sources=["kernels/_compiled.pyx"],
        extra_compile_args=["-O3"] if sys.platform != "win32" else [],
    )
    return cythonize(
        [extension],
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


packages, package_dir = discover_packages()

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "kairos": ["py.typed"],
        "kairos.kernels": ["*.pyi", "*.pyx"],
        "kairos.hardware": ["classes/*.yaml", "templates/*"],
        "kairos.topologies": ["*.yaml", "*.json"],
    },
    ext_modules=kernel_extensions(),
)
