"""Every relative link of the README and docs/ leads somewhere.

A link ``[text](path#anchor)`` must name a file or folder of this checkout, relative to the
page it is on, and its anchor, if any, a heading of that page as GitHub renders it (or an
explicit ``id``/``name``).  Files move (the restructuring of issue 12 moved most of them); a
link left behind fails here instead of in a reader's browser.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])

FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,}).*?^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
#: [text](target) and ![alt](target); the target may carry a "title"
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]"  # the text, which may hold one level of brackets
    r"\(\s*<?(?P<target>[^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)"
)
#: [label]: target
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(?P<target>\S+?)>?(?:\s.*)?$", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(?P<text>.*?)[ \t]*#*[ \t]*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<[^>]+\s(?:id|name)=[\"'](?P<anchor>[^\"']+)[\"']")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, …


def prose(markdown: str) -> str:
    """The page without code blocks and code spans, whose brackets are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text (links reduced to their text, markup
    dropped), lower-cased, punctuation removed, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub gives ``page``: heading slugs (a repeated one gets -1, -2, …)
    and explicit HTML ids."""
    markdown = page.read_text(encoding="utf-8")
    found: set[str] = set()
    seen: dict[str, int] = {}
    for match in HEADING.finditer(FENCE.sub("", markdown)):
        base = slug(match["text"])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(m["anchor"] for m in HTML_ANCHOR.finditer(markdown))
    return found


def links(markdown: str) -> list[str]:
    text = prose(markdown)
    return [m["target"] for m in (*INLINE_LINK.finditer(text), *REFERENCE.finditer(text))]


def broken(page: Path) -> list[str]:
    """What is wrong with each relative link of ``page``, one line per link."""
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if not target or EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / unquote(path)).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
            problems.append(f"{target}: no heading with that anchor in {resolved.name}")
    return problems


def test_the_pages_and_their_links_are_found() -> None:
    # a wrong REPO or a broken pattern would make the next test pass vacuously
    assert REPO / "README.md" in PAGES and len(PAGES) >= 10
    assert sum(len(links(p.read_text(encoding="utf-8"))) for p in PAGES) >= 50


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken(page) == []


def test_slugs_follow_github() -> None:
    assert slug("Wire format v1") == "wire-format-v1"
    assert slug("64-bit integers") == "64-bit-integers"
    assert slug("Counters: every drop is told") == "counters-every-drop-is-told"
    assert slug("`kairos tap` in [the docs](tap.md)") == "kairos-tap-in-the-docs"
    assert slug("Sensor → engine (design.md §5.1)") == "sensor--engine-designmd-51"


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Part two\n\n## Part two\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#part-two) [ok too](other.md#part-two-1) [self](#page) [web](https://x.org)\n"
        "[gone](missing.md) [bad anchor](other.md#part-three)\n\n"
        "```\n[not a link](nowhere.md)\n```\n`[nor this](nowhere.md)`\n\n"
        "[ref]: ../nowhere/either.md\n"
    )
    assert broken(page) == [
        "missing.md: no such file",
        "other.md#part-three: no heading with that anchor in other.md",
        "../nowhere/either.md: no such file",
    ]
