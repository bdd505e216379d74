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


def _loaded(prelude: str, modules: list[str], then: str = "") -> set[str]:
    """What a fresh interpreter holds after ``prelude``, importing ``modules`` and ``then``."""
    imports = f"import importlib, sys\n{prelude}\n"
    imports += f"for name in {modules!r}:\n    importlib.import_module(name)\n"
    report = 'print(",".join(sorted(m for m in sys.modules if sys.modules[m])))\n'
    code = imports + textwrap.dedent(then) + "\n" + report
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    modules = set(result.stdout.strip().split(","))
    return modules | {name.split(".")[0] for name in modules}  # and each one's package


#: what the random sensors run at construction and first read (numpy.random loads lazily)
_RANDOM_SENSORS = """
    from pathlib import Path
    import numpy
    from kairos.actors.adapters import AdapterContext, sensor_adapter
    context = AdapterContext("s", work_dir=Path.cwd())
    noisy = {"noise": 1.0, "phase_jitter": 0.1}
    sensor_adapter("oscillator")(noisy, 100.0, context).read(numpy.arange(5))
    sensor_adapter("kuramoto")({"omega_hz": 1.0}, 100.0, context)
"""


def test_actor_imports_stay_lean():
    loaded = _loaded(
        "from kairos._lean import keep_actor_lean; keep_actor_lean('engine', None)",
        [
            "kairos.actors.__main__",
            "kairos.actors.roles",
            "kairos.actors._runtime",
            "kairos.actors.sensor",
            "kairos.actors.sensors.oscillator",
            "kairos.actors.sensors.kuramoto",
            "kairos.actors.engine",
            "kairos.actors.sync",
            "kairos.actors.output",
            "kairos.actors.outputs.jsonl",
            "kairos.actors.outputs.display",
        ],
        then=_RANDOM_SENSORS,
    )
    assert "numpy" in loaded and "zmq" in loaded  # the check sees imports at all
    # psutil only in the system sensor's process (kairos._usage reads /proc on Linux);
    # tempfile only where the clock file is written (the agent); numpy.random (2.8 MB) nowhere:
    # the random sensors draw from the standard library's generator (sensors/_draws.py)
    assert loaded & (UNWANTED | {"psutil", "tempfile", "numpy.random"}) == set()


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
