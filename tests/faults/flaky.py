"""A flaky sensor adapter plugin: raises OSError on chosen reads, as an I²C read does.

It writes how many reads it failed and how many samples those reads were asked for to
``flaky.json`` in its work directory (at close, or once ``fail_until`` reads are done): the
ground truth a witness must match exactly.  Install it with :func:`plugins.install` (or a
directory of your own) and put that directory on the actors' PYTHONPATH.
"""

from __future__ import annotations

FLAKY_MODULE = "kairos_edges_flaky"
FLAKY_SOURCE = '''
from pathlib import Path

import numpy as np

from kairos.actors.adapters import SensorAdapter


class Flaky(SensorAdapter):
    """Raises OSError on every ``fail_every``-th read (up to read ``fail_until``), or on every
    read from ``fail_from`` on; otherwise a sine, or a ``freq_hz`` cosine."""

    name = "flaky"
    params_schema = {
        "type": "object",
        "properties": {
            "fail_every": {"type": "integer", "minimum": 1},
            "fail_from": {"type": "integer", "minimum": 1},
            "fail_until": {"type": "integer", "minimum": 1},
            "freq_hz": {"type": "number", "exclusiveMinimum": 0},
        },
        "additionalProperties": False,
    }

    def __init__(self, params, rate_hz, context):
        super().__init__(params, rate_hz, context)
        self.calls = self.raised = self.lost = self.last_t = 0
        self.out = Path(context.work_dir) / "flaky.json"

    def read(self, times_ns):
        self.calls += 1
        self.last_t = int(times_ns[-1])
        every = self.params.get("fail_every")
        start = self.params.get("fail_from")
        until = self.params.get("fail_until")
        if until is not None and self.calls == until:
            self.close()  # the truth so far is final: no read fails after this one
        failing = every and self.calls % every == 0 and (until is None or self.calls < until)
        if failing or (start and self.calls >= start):
            self.raised += 1
            self.lost += len(times_ns)
            raise OSError(5, "I2C read failed")
        freq_hz = self.params.get("freq_hz")
        if freq_hz is None:
            return np.sin(times_ns / 1e9)
        return np.cos(2 * np.pi * freq_hz * (times_ns.astype(np.float64) / 1e9))

    def close(self):
        self.out.write_text(
            '{"calls": %d, "raised": %d, "lost": %d, "last_t": %d}'
            % (self.calls, self.raised, self.lost, self.last_t)
        )
'''
