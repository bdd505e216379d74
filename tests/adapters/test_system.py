"""The system sensor: three columns of real measurements of this machine."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import psutil

from kairos.actors.adapters import AdapterContext, sensor_adapter
from kairos.actors.sensors.system import SystemSensor, cpu_temperature


def test_declares_its_fields_and_rate_limit():
    cls = sensor_adapter("system")
    assert cls is SystemSensor
    assert cls.fields == ("cpu_percent", "memory_percent", "temperature_c")
    assert cls.max_rate_hz == 10


def test_reads_three_columns_of_plausible_values():
    sensor = sensor_adapter("system")({}, 10.0, AdapterContext("health", Path.cwd()))
    sum(i * i for i in range(200_000))  # some CPU work between the two psutil calls
    rows = sensor.read(np.arange(4, dtype=np.int64))
    assert rows.shape == (4, 3) and rows.dtype == np.float64
    cpu, memory, temperature = rows[0]
    assert 0.0 <= cpu <= 100.0
    assert 0.0 < memory <= 100.0
    assert abs(memory - psutil.virtual_memory().percent) < 10.0
    assert math.isnan(temperature) or -40.0 < temperature < 150.0
    assert np.array_equal(rows, np.tile(rows[0], (4, 1)), equal_nan=True)
    assert sensor.read(np.arange(0, dtype=np.int64)).shape == (0, 3)


def test_temperature_is_nan_without_sensors(monkeypatch):
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: {}, raising=False)
    assert math.isnan(cpu_temperature())


def test_temperature_prefers_the_cpu_package(monkeypatch):
    from collections import namedtuple

    reading = namedtuple("shwtemp", "label current high critical")
    chips = {
        "acpitz": [reading("", 40.0, None, None)],
        "coretemp": [reading("Core 0", 50.0, None, None), reading("Package id 0", 55.0, 90, 99)],
    }
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: chips, raising=False)
    assert cpu_temperature() == 55.0
    del chips["coretemp"]
    assert cpu_temperature() == 40.0
