"""The kairos.actors facade: what a role or plugin author imports, loaded only when used."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import kairos.actors

CONTRACT = ("Actor", "ActorContext", "Outgoing", "ActorProcessSpec")


@pytest.mark.parametrize("name", kairos.actors.__all__)
def test_every_exported_name_is_the_object_of_its_defining_module(name: str) -> None:
    obj = getattr(kairos.actors, name)
    # where the object says it was defined, under the name it was defined with: an alias
    # (MeshPulse) is that same object, never a copy that could drift from it
    home = importlib.import_module(obj.__module__)
    assert getattr(home, obj.__qualname__) is obj
    assert obj.__module__.startswith("kairos.")


def test_the_actor_contract_is_exported() -> None:
    assert set(CONTRACT) <= set(kairos.actors.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        kairos.actors.NoSuchThing  # noqa: B018 - the lookup is the test


def test_the_spec_alone_does_not_load_numpy() -> None:
    """The agent imports kairos.actors for the spec; NumPy waits until an actor starts."""
    probe = (
        "import sys\n"
        "from kairos.actors import ActorProcessSpec\n"
        "import kairos.agent.daemon\n"
        "assert ActorProcessSpec.__name__ == 'ActorProcessSpec'\n"
        "print('numpy' in sys.modules)\n"
    )
    lean = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert lean.stdout.strip() == "False"
    # and the same probe sees NumPy once the contract itself is asked for: the check can fail
    full = probe.replace("import ActorProcessSpec", "import ActorProcessSpec, Actor")
    loaded = subprocess.run(
        [sys.executable, "-c", full], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "True"
