"""The documentation stands alone and keeps up with the tree.

Three promises, each checked against the files of this checkout:

* docs/architecture.md's tree lists every package under src/kairos (every folder with an
  ``__init__.py``) and every module in them, private ones too, and draws nothing that is
  not there, so a module added or moved without a word in the map fails here rather than
  in a reader's head;
* nothing in src/, docs/, tests/ or the README cites a design document that is not in the
  repository, or points at a path outside it;
* every ``design.md §N`` citation names a section docs/design.md has.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "kairos"
DOCS = REPO / "docs"
ARCHITECTURE = DOCS / "architecture.md"
DESIGN = DOCS / "design.md"
#: what the documentation checks read: the code, the docs, the tests, the README
SCANNED = ("src", "docs", "tests", "README.md")
#: files that are not text (or are build output) and cannot cite anything
SKIPPED_SUFFIXES = frozenset({".so", ".pyd", ".c", ".mcap", ".pyc", ".bin", ".png"})
SKIPPED_DIRS = frozenset({"__pycache__", "build", ".pytest_cache", ".mypy_cache", ".ruff_cache"})

# Spelled in two pieces so that this file, which is scanned too, does not contain them.
EXTERNAL_DESIGN = ("DESIGN" + " §", "DESIGN" + ".md")
OUTSIDE_PATHS = (".." + "/shared", "/work" + "/shared")

TREE_LINE = re.compile(r"^(?P<indent>(?:[│ ] {3})*)(?:├── |└── )(?P<name>\S+)")
HEADING = re.compile(r"^#{1,6}\s+(?P<number>\d+(?:\.\d+)*)\.?\s", re.MULTILINE)
#: "design.md §5.1", "design.md §5.1–5.4", "design.md §5.1-5.4"
SECTIONS = r"§\s*(?P<first>\d+(?:\.\d+)*)(?:\s*[–-]\s*(?P<last>\d+(?:\.\d+)*))?"
CITATION = re.compile(r"design\.md\s+" + SECTIONS)
#: a bare "§5.6" in a file that cites design.md elsewhere refers to design.md too
BARE_SECTION = re.compile(SECTIONS)
MARKDOWN_LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?:#[^)]*)?\)")


def scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        top = REPO / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in candidates:
            if not path.is_file() or path.suffix in SKIPPED_SUFFIXES:
                continue
            if SKIPPED_DIRS.intersection(path.relative_to(REPO).parts):
                continue
            yield path


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # binary data (a recording, a fuzz corpus entry): cites nothing


def texts() -> list[tuple[Path, str]]:
    return [(p, text) for p in scanned_files() if (text := read_text(p)) is not None]


def architecture_tree(markdown: str) -> set[str]:
    """Paths (relative to src/kairos, folders ending in '/') drawn in the first tree block."""
    block = re.search(r"```text\n(src/kairos/\n.*?)```", markdown, re.DOTALL)
    if block is None:
        return set()
    paths: set[str] = set()
    stack: list[str] = []
    for line in block.group(1).splitlines()[1:]:
        match = TREE_LINE.match(line)
        if match is None:
            continue  # a description's continuation line
        depth = len(match["indent"]) // 4
        del stack[depth:]
        name = match["name"]
        paths.add("".join(stack) + name)
        if name.endswith("/"):
            stack.append(name)
    return paths


def source_packages() -> list[str]:
    """Every folder under src/kairos with an __init__.py, as 'actors/sensors/'."""
    return [
        "".join(f"{part}/" for part in init.parent.relative_to(SRC).parts)
        for init in sorted(SRC.rglob("__init__.py"))
        if init.parent != SRC
    ]


#: source files the tree draws one by one (a package's __init__.py is its folder's line)
MODULE_SUFFIXES = frozenset({".py", ".pyx", ".json"})


def source_modules() -> list[str]:
    """Every module (and the schema) under src/kairos, private ones too: 'wire.py',
    'actors/_screen.py', 'control/commands/spawn.py', 'kernels/_compiled.pyx', …"""
    return sorted(
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*")
        if path.suffix in MODULE_SUFFIXES
        and path.name != "__init__.py"
        and "__pycache__" not in path.parts
    )


def design_sections() -> set[str]:
    return {m["number"] for m in HEADING.finditer(DESIGN.read_text(encoding="utf-8"))}


def cited_sections(text: str) -> Iterator[tuple[str, int]]:
    """(section, line) of every design.md citation; bare § numbers too where the file cites it."""
    pattern = BARE_SECTION if CITATION.search(text) else CITATION
    for match in pattern.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield match["first"], line
        if match["last"]:
            yield match["last"], line


# -- the map --------------------------------------------------------------------------------


def test_the_tree_and_the_sources_are_found() -> None:
    # a wrong REPO or an unparsable tree would make the next tests pass vacuously
    assert len(source_packages()) >= 10
    assert {"wire.py", "actors/_screen.py", "control/commands/spawn.py"} <= set(source_modules())
    assert {"actors/", "actors/sensors/", "wire.py"} <= architecture_tree(ARCHITECTURE.read_text())


@pytest.mark.parametrize("path", source_packages() + source_modules())
def test_every_package_and_module_is_in_the_architecture_tree(path: str) -> None:
    tree = architecture_tree(ARCHITECTURE.read_text(encoding="utf-8"))
    assert path in tree, f"src/kairos/{path} is missing from the tree in {ARCHITECTURE}"


def test_every_folder_and_file_in_the_tree_exists() -> None:
    tree = architecture_tree(ARCHITECTURE.read_text(encoding="utf-8"))
    missing = sorted(p for p in tree if p.endswith("/") and not (SRC / p).is_dir())
    assert not missing, f"docs/architecture.md draws folders that are not in src/kairos: {missing}"
    gone = sorted(p for p in tree if not p.endswith("/") and not (SRC / p).is_file())
    assert not gone, f"docs/architecture.md draws files that are not in src/kairos: {gone}"


def test_the_tree_parser_sees_nesting_and_descriptions() -> None:
    sample = (
        "```text\nsrc/kairos/\n"
        "├── wire.py          a module\n"
        "├── actors/          a package\n"
        "│   │                a continuation line\n"
        "│   └── sensors/     nested\n"
        "└── tools/\n"
        "    └── _tap/        nested under the last entry\n"
        "```\n"
    )
    assert architecture_tree(sample) == {
        "wire.py",
        "actors/",
        "actors/sensors/",
        "tools/",
        "tools/_tap/",
    }


# -- nothing outside the repository ---------------------------------------------------------


def test_no_citation_of_a_design_document_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path, text in texts()
        for n, line in enumerate(text.splitlines(), 1)
        if any(marker in line for marker in EXTERNAL_DESIGN + OUTSIDE_PATHS)
    ]
    assert not found, "cite docs/design.md §N instead:\n" + "\n".join(found)


def test_no_markdown_link_leaves_the_repository() -> None:
    found = []
    for path, text in texts():
        if path.suffix != ".md":
            continue
        for match in MARKDOWN_LINK.finditer(text):
            target = match["target"]
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (path.parent / target).resolve()
            if not resolved.is_relative_to(REPO.resolve()):
                found.append(f"{path.relative_to(REPO)}: {target}")
    assert not found, "links out of the repository:\n" + "\n".join(found)


# -- every cited section exists -------------------------------------------------------------


def test_design_has_the_sections_the_code_cites() -> None:
    sections = design_sections()
    # the numbers other pages and modules were written against
    cited = ("2", "4", "5", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6", "6", "7", "8", "9", "10")
    missing = [number for number in cited if number not in sections]
    assert not missing, f"docs/design.md has no section {missing}"


def test_every_design_citation_names_an_existing_section() -> None:
    sections = design_sections()
    citations = 0
    wrong = []
    for path, text in texts():
        for number, line in cited_sections(text):
            citations += 1
            if number not in sections:
                wrong.append(f"{path.relative_to(REPO)}:{line}: §{number}")
    assert citations >= 20  # the code does cite it: a broken pattern would find nothing
    assert not wrong, f"no such section in docs/design.md ({sorted(sections)}):\n" + "\n".join(
        wrong
    )


def test_the_citation_pattern_reads_ranges_and_bare_numbers() -> None:
    text = "see design.md §5.1–5.4 and docs/design.md §10; later §5.6."
    assert [n for n, _ in cited_sections(text)] == ["5.1", "5.4", "10", "5.6"]
    assert list(cited_sections("§5.6 of some other document")) == []
