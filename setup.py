"""Build script: only the Cython extensions (the kernels, the sync's drain); everything else
is declared in pyproject.toml.

The kernels are compiled unless ``KAIROS_NO_CYTHON=1`` is set; a missing compiler fails the
build loudly instead of shipping the slow path without saying so.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup


def kernel_extensions() -> list[Extension]:
    if os.environ.get("KAIROS_NO_CYTHON") == "1":
        print(
            "KAIROS_NO_CYTHON=1: building without the compiled kernels; "
            "kairos will run on the NumPy reference kernels.",
            file=sys.stderr,
        )
        return []
    from Cython.Build import cythonize

    flags = ["-O3"] if sys.platform != "win32" else []
    kernels = Extension(
        "kairos.kernels._compiled",
        sources=["src/kairos/kernels/_compiled.pyx"],
        extra_compile_args=flags,
    )
    # the sync's receive path (kairos.actors._rows): libzmq is reached at run time through
    # the library pyzmq loaded, so nothing is linked here
    drain = Extension(
        "kairos.actors._drain",
        sources=["src/kairos/actors/_drain.pyx"],
        extra_compile_args=flags,
    )
    return cythonize(
        [kernels, drain],
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


setup(ext_modules=kernel_extensions())
