"""Keep long-lived device processes (agent, actors) small on a 512 MB Pi Zero.

Some imports cost megabytes for features these processes never use:

* structlog pretty-prints tracebacks with rich whenever it can import it (~5 MB), for output
  nobody reads here (these processes log JSON or plain lines);
* asyncio, which structlog imports, loads ``ssl`` (~4 MB with OpenSSL), and ``hashlib`` loads
  OpenSSL too (~3.5 MB); the agent never speaks TLS (ZeroMQ brings its own CurveZMQ), and
  without ``_hashlib`` hashlib falls back to CPython's built-in SHA-2 and BLAKE2.

The rest is not importing at all: the agent reads a device class's YAML file only when
asked for its windows, so it runs without PyYAML (0.8 MB); tests/runtime/test_lean.py checks
that neither kind of process imports the CLI's libraries.

Call these before anything imports structlog or hashlib; an import of a blocked module then
raises ImportError, which each of those libraries handles.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from kairos.registry import needs_tls


def _block(*modules: str) -> None:
    for name in modules:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


@contextlib.contextmanager
def without(*modules: str) -> Iterator[None]:
    """Import inside as if ``modules`` were not installed, then let them be imported again:
    for a library that uses an optional module the caller does not want it to (structlog's
    rich tracebacks in a CLI process, which imports rich later for its own tables).  A module
    already imported (or already blocked) stays as it is."""
    hidden = [name for name in modules if name not in sys.modules]
    _block(*hidden)
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def keep_actor_lean(role: str, adapter: str | None) -> None:
    """For an actor process of ``role`` with ``adapter`` (None for engines and syncs)."""
    _block("rich")
    if not needs_tls(role, adapter):  # the registry knows which adapters never speak TLS
        _block("ssl", "_hashlib")


def keep_agent_lean() -> None:
    """For the agent daemon: no rich, no TLS, no OpenSSL, and no bz2 or lzma (0.4 MB), which
    ``shutil`` loads for archive formats the agent never writes (it treats them as absent)."""
    _block("rich", "ssl", "_hashlib", "bz2", "_bz2", "lzma", "_lzma")
