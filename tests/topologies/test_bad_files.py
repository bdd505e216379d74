"""One invalid topology file per check, each stating the problems it must produce.

Every file under ``bad/`` ends with lines ``# expect: LINE:COL KEY | part | part …``: the
loader must report exactly those problems (no more, no fewer, all at once), each at that
line and column, for that key (``-`` for none), with every part in its message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from kairos.errors import Problem, TopologyError
from kairos.hardware.detect import Detection
from kairos.topologies.loader import load

BAD = Path(__file__).parent / "bad"
_EXPECT = re.compile(r"^# expect: (\d+):(\d+) (\S+) \| (.+)$")


@dataclass(frozen=True)
class Expected:
    line: int
    column: int
    key: str
    parts: tuple[str, ...]

    def matches(self, problem: Problem) -> bool:
        return (
            (problem.line, problem.column) == (self.line, self.column)
            and problem.key == self.key
            and all(part in problem.message for part in self.parts)
        )


def expectations(path: Path) -> list[Expected]:
    found = []
    for text in path.read_text().splitlines():
        match = _EXPECT.match(text)
        if match:
            line, column, key, parts = match.groups()
            found.append(
                Expected(
                    int(line),
                    int(column),
                    "" if key == "-" else key,
                    tuple(p.strip() for p in parts.split(" | ")),
                )
            )
    return found


def _never_detect() -> Detection:
    raise AssertionError("no file here should need detection")


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_file_reports_exactly_its_problems(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} states no expected problem"
    with pytest.raises(TopologyError) as caught:
        load(path, detect=_never_detect)
    problems = caught.value.problems
    text = "\n".join(str(p) for p in problems)
    for want in expected:
        assert any(want.matches(p) for p in problems), f"missing {want} in:\n{text}"
    for problem in problems:
        assert any(w.matches(problem) for w in expected), f"unexpected {problem}"
        assert problem.file == str(path)
        assert str(problem).startswith(f"{path}:{problem.line}:{problem.column}: ")
    assert str(caught.value) == text


def test_there_is_a_file_for_every_check() -> None:
    names = {p.stem for p in BAD.glob("*.yaml")}
    required = {
        "syntax",
        "unknown_keys",
        "unknown_class",
        "unknown_role",
        "unknown_adapter",
        "undeclared_device",
        "unknown_input",
        "layer_rule",
        "cycle",
        "duplicates",
        "windows",
        "ports",
        "budget",
        "missing",
        "clock",
        "encoding",
        "params",
        "adapter_rate",
    }
    assert required <= names
