"""The long-lived device processes (actors, agent) keep heavy modules out (kairos._lean).

Each check imports what such a process imports, in a fresh interpreter, and lists the
unwanted modules (or their packages) that came in; docs/performance.md has what each one costs.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: never in an actor or the agent: the CLI's libraries, the YAML and schema machinery of
#: topology files (structlog stays: it is the project's logger, and its asyncio with it)
UNWANTED = {"rich", "jsonschema", "mcap", "yaml"}


def _loaded(prelude: str, modules: list[str]) -> set[str]:
    code = textwrap.dedent(
        f"""
        import importlib, sys
        {prelude}
        for name in {modules!r}:
            importlib.import_module(name)
        print(",".join(sorted(m for m in sys.modules if sys.modules[m])))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    modules = set(result.stdout.strip().split(","))
    return modules | {name.split(".")[0] for name in modules}  # and each one's package


def test_actor_imports_stay_lean():
    loaded = _loaded(
        "from kairos._lean import keep_actor_lean; keep_actor_lean('engine', None)",
        [
            "kairos.actors.__main__",
            "kairos.actors.roles",
            "kairos.actors._runtime",
            "kairos.actors.sensor",
            "kairos.actors.sensors.oscillator",
            "kairos.actors.engine",
            "kairos.actors.sync",
            "kairos.actors.output",
            "kairos.actors.outputs.jsonl",
            "kairos.actors.outputs.display",
        ],
    )
    assert "numpy" in loaded and "zmq" in loaded  # the check sees imports at all
    # psutil only in the system sensor's process (kairos._usage reads /proc on Linux);
    # tempfile only where the clock file is written (the agent)
    assert loaded & (UNWANTED | {"psutil", "tempfile"}) == set()


def test_agent_imports_stay_lean():
    loaded = _loaded(
        "",
        ["kairos.agent.__main__", "kairos.agent.daemon", "kairos.agent.supervisor"],
    )
    assert "zmq" in loaded
    assert loaded & (UNWANTED | {"numpy", "ssl", "_hashlib"}) == set()
    # nor tempfile or importlib.resources (0.15 MB): the clock file and the device classes
    # are written and listed without them (kairos.meshtime, kairos.hardware.classes)
    assert loaded & {"tempfile", "importlib.resources"} == set()
