"""The topology reader gives the same answers on libyaml's parser and on pure-Python PyYAML.

libyaml is used when PyYAML was built with it (8× faster); the pure loader is the fallback.
Both feed the same bounded composer, so problems must be found at the same places.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz.corpus import TOPOLOGY

from kairos.errors import TopologyError
from kairos.hardware.detect import Detection
from kairos.topologies import _yaml
from kairos.topologies.loader import load_text

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("bad/*.yaml")) + sorted((HERE.parents[1] / "topologies").glob("*.yaml"))
LIBYAML = _yaml._libyaml_loader()


def _detect() -> Detection:
    return Detection("pi-4", "fixed by the test")


def _outcome(text: str, loader: type, monkeypatch: pytest.MonkeyPatch) -> list[tuple] | None:
    monkeypatch.setattr(_yaml, "_Loader", loader)
    try:
        load_text(text, "t.yaml", detect=_detect)
    except TopologyError as exc:
        return [(p.line, p.column, p.key) for p in exc.problems]
    return None


@pytest.mark.skipif(LIBYAML is None, reason="PyYAML is built without libyaml")
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_both_parsers_find_the_same_problems_at_the_same_places(path, monkeypatch):
    text = path.read_text()
    assert _outcome(text, LIBYAML, monkeypatch) == _outcome(text, _yaml._PureLoader, monkeypatch)


@pytest.mark.skipif(LIBYAML is None, reason="PyYAML is built without libyaml")
@pytest.mark.parametrize(("name", "data"), TOPOLOGY, ids=[name for name, _ in TOPOLOGY])
def test_both_parsers_refuse_the_same_malformed_inputs(name, data, monkeypatch):
    # positions may differ only where the pure scanner stops a long run of brackets early
    text = data.decode("utf-8", "replace")
    fast = _outcome(text, LIBYAML, monkeypatch)
    pure = _outcome(text, _yaml._PureLoader, monkeypatch)
    assert (fast is None) == (pure is None)
    if fast is not None and "bracket" not in name and "deep" not in name:
        assert [line for line, _, _ in fast] == [line for line, _, _ in pure]


def test_the_pure_scanner_stops_a_long_run_of_brackets(monkeypatch):
    text = "name: t\ndevices: " + "[" * 5000 + "]" * 5000 + "\n"
    monkeypatch.setattr(_yaml, "_Loader", _yaml._PureLoader)
    with pytest.raises(TopologyError, match="nesting too deep") as caught:
        load_text(text, "t.yaml", detect=_detect)
    assert caught.value.problems[0].column == len("devices: ") + _yaml._MAX_OPEN + 1
