"""Topology files: the JSON Schema, the loader that validates them, and the examples.

The example topologies (``demo``, ``home``, ``lab``, ``robot``) ship inside the package, in
``examples/``, so that ``kairos bench`` and the fuzzers find them in an installed wheel; the
repository's top-level ``topologies/`` is a link to that folder, so a checkout reads the very
same files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.abc import Traversable

#: the example topologies shipped with the package, by name
EXAMPLES = ("demo", "home", "lab", "robot")


def example(name: str) -> Traversable:
    """The shipped example topology ``name`` (one of :data:`EXAMPLES`)."""
    # imported here: importlib.resources pulls in tempfile, shutil, bz2 and lzma, ~1 MB of
    # every actor's memory (an actor imports this package for its spec, never an example)
    from importlib import resources

    return resources.files(__name__).joinpath("examples").joinpath(f"{name}.yaml")
