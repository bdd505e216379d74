"""The adapter registry: built-ins, their parameter schemas, lean imports, and plugins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from kairos import registry
from kairos.actors import adapters
from kairos.actors.adapters import (
    AdapterContext,
    OutputAdapter,
    SensorAdapter,
    output_adapter,
    output_names,
    reset_plugin_cache,
    sensor_adapter,
    sensor_names,
)
from kairos.errors import AdapterError

SENSORS = ["file", "kuramoto", "oscillator", "system"]
OUTPUTS = ["csv", "display", "http", "jsonl", "log", "motor", "speaker"]
GROUP = adapters.ENTRY_POINT_GROUP
ALL = [(n, sensor_adapter) for n in SENSORS] + [(n, output_adapter) for n in OUTPUTS]


def test_every_builtin_loads_under_its_name():
    assert set(SENSORS) <= set(sensor_names())
    assert set(OUTPUTS) <= set(output_names())
    for name in SENSORS:
        cls = sensor_adapter(name)
        assert issubclass(cls, SensorAdapter) and cls.name == name
    for name in OUTPUTS:
        cls = output_adapter(name)
        assert issubclass(cls, OutputAdapter) and cls.name == name


@pytest.mark.parametrize(("name", "lookup"), ALL)
def test_params_schema_is_a_closed_valid_json_schema(name, lookup):
    schema = lookup(name).params_schema
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    for key, prop in schema["properties"].items():
        assert prop.get("description"), f"{name}.{key} documents itself (and its default)"
    validator = Draft202012Validator(schema)
    with pytest.raises(ValidationError):
        validator.validate({"no_such_param": 1})


def test_schemas_reject_wrong_types():
    cases = [
        (sensor_adapter("oscillator"), {"freq_hz": "8"}),
        (sensor_adapter("oscillator"), {"noise": -1}),
        (sensor_adapter("kuramoto"), {}),  # omega_hz is required
        (sensor_adapter("file"), {"path": "x.csv", "loop": "yes"}),
        (output_adapter("http"), {"url": "ftp://x"}),
        (output_adapter("display"), {"mode": "hologram"}),
        (output_adapter("motor"), {}),
        (output_adapter("speaker"), {"sample_rate": 8000.5}),
    ]
    for cls, params in cases:
        with pytest.raises(ValidationError):
            Draft202012Validator(cls.params_schema).validate(params)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(AdapterError, match=r"unknown sensor adapter 'nope'; valid: .*oscillator"):
        sensor_adapter("nope")
    with pytest.raises(AdapterError, match=r"unknown output adapter 'nope'; valid: .*speaker"):
        output_adapter("nope")


def test_adapter_modules_import_lean():
    modules = [registry.SENSOR_ADAPTERS.builtins[n].target.split(":")[0] for n in SENSORS]
    modules += [registry.OUTPUT_ADAPTERS.builtins[n].target.split(":")[0] for n in OUTPUTS]
    code = textwrap.dedent(
        f"""
        import importlib, sys
        import numpy, psutil, kairos._log  # what every actor loads anyway (structlog may
        before = set(sys.modules)          # bring rich in itself when it is installed)
        for name in {modules!r}:
            importlib.import_module(name)
        added = {{m.split(".")[0] for m in set(sys.modules) - before}}
        print(",".join(sorted(added & {{"rich", "mcap", "jsonschema", "zmq", "yaml"}})))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


PLUGIN_MODULE = """
import numpy as np
from kairos.actors.adapters import OutputAdapter, SensorAdapter


class Ramp(SensorAdapter):
    name = "my-plugin"
    params_schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def read(self, times_ns):
        return np.arange(len(times_ns), dtype=np.float64)


class Count(OutputAdapter):
    name = "my-output"

    def write(self, state):
        self.count = getattr(self, "count", 0) + 1


NOT_AN_ADAPTER = 42
"""


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """An installed-looking distribution on sys.path whose entry points name adapters."""
    module = "kairos_test_plugin_adapters"
    (tmp_path / f"{module}.py").write_text(PLUGIN_MODULE)
    dist = tmp_path / "kairos_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kairos-test-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[kairos.adapters]\n"
        f"my-plugin = {module}:Ramp\n"
        f"my-output = {module}:Count\n"
        f"not-an-adapter = {module}:NOT_AN_ADAPTER\n"
        "broken = kairos_test_plugin_missing_module:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_plugin_cache()  # the scan is cached per process: see the new distribution
    yield module
    monkeypatch.delitem(sys.modules, module, raising=False)
    reset_plugin_cache()  # and forget it, for the tests that follow


def test_a_plugin_sensor_is_found_through_its_entry_point(plugin_dist, tmp_path):
    names = sensor_names()
    assert "my-plugin" in names
    assert "my-output" not in names and "broken" not in names and "not-an-adapter" not in names
    cls = sensor_adapter("my-plugin")
    assert cls.__module__ == plugin_dist
    sensor = cls({}, 10.0, AdapterContext("p", tmp_path))
    assert list(sensor.read([5, 6, 7])) == [0.0, 1.0, 2.0]


def test_a_plugin_output_is_found_through_its_entry_point(plugin_dist):
    assert "my-output" in output_names()
    assert "my-plugin" not in output_names()
    assert issubclass(output_adapter("my-output"), OutputAdapter)


def test_broken_or_mismatched_plugins_say_what_is_wrong(plugin_dist):
    with pytest.raises(AdapterError, match=r"plugin 'broken' .* failed to load"):
        sensor_adapter("broken")
    with pytest.raises(AdapterError, match=r"plugin 'my-output' .* is not a sensor adapter"):
        sensor_adapter("my-output")
    with pytest.raises(AdapterError, match=r"plugin 'not-an-adapter' .* is not an? output"):
        output_adapter("not-an-adapter")


def test_builtins_win_over_a_plugin_of_the_same_name(tmp_path, monkeypatch):
    dist = tmp_path / "shadow-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shadow\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kairos.adapters]\noscillator = nowhere:Nothing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_plugin_cache()
    try:
        assert "oscillator" in registry.plugins(GROUP)  # the shadowing plugin is installed
        assert sensor_adapter("oscillator").__module__ == "kairos.actors.sensors.oscillator"
        module = sys.modules["kairos.actors.sensors.oscillator"]
        assert Path(module.__file__).name == "oscillator.py"
    finally:
        reset_plugin_cache()


def test_the_plugin_scan_is_cached_until_reset(tmp_path, monkeypatch):
    reset_plugin_cache()
    before = registry.plugins(GROUP)
    assert registry.plugins(GROUP) is before  # one scan per process, not one per lookup
    dist = tmp_path / "late-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: late\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kairos.adapters]\nlate = nowhere:Late\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        # installed after the scan: unseen until the cache is reset
        with pytest.raises(AdapterError, match="unknown sensor adapter 'late'"):
            sensor_adapter("late")
        reset_plugin_cache()
        with pytest.raises(AdapterError, match=r"plugin 'late' \(nowhere:Late\) failed to load"):
            sensor_adapter("late")
    finally:
        reset_plugin_cache()


# -- kairos.registry: the one list of roles, and the lean-import fact of each built-in


def test_roles_are_listed_once_and_typed_from_the_same_list():
    from typing import get_args

    from kairos.topologies import model

    assert registry.ROLES == ("sensor", "engine", "sync", "output", "relay")
    assert model.Role is registry.Role and get_args(registry.Role) == registry.ROLES
    assert set(registry.ADAPTER_KINDS) == {"sensor", "output"}
    assert set(registry.SENSOR_ADAPTERS.builtins) == set(SENSORS)
    assert set(registry.OUTPUT_ADAPTERS.builtins) == set(OUTPUTS)


def test_only_http_of_the_builtins_keeps_tls():
    assert not registry.needs_tls("engine", None) and not registry.needs_tls("sync", None)
    assert registry.needs_tls("output", "http")
    assert not any(registry.needs_tls("sensor", n) for n in SENSORS)
    assert not any(registry.needs_tls("output", n) for n in OUTPUTS if n != "http")
    assert registry.needs_tls("sensor", "my-plugin")  # a plugin may do anything
    assert registry.needs_tls("output", "oscillator")  # a plugin output of a sensor's name


@pytest.mark.parametrize(("name", "lookup"), ALL)
def test_a_builtin_said_to_need_no_tls_runs_without_it(name, lookup):
    role = "sensor" if lookup is sensor_adapter else "output"
    kind = registry.ADAPTER_KINDS[role]
    code = textwrap.dedent(
        f"""
        import sys
        from kairos._lean import keep_actor_lean
        keep_actor_lean({role!r}, {name!r})
        blocked = "ssl" in sys.modules and sys.modules["ssl"] is None
        from kairos.registry import load, ADAPTER_KINDS
        load(ADAPTER_KINDS[{role!r}], {name!r})  # its module imports with ssl blocked
        import kairos._log
        kairos._log.configure(json=True)
        print(blocked)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(not kind.builtins[name].tls)
