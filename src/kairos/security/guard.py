"""The agent's allow-list: a ZAP authenticator on the agent's own context.

libzmq asks a ZAP handler about every CurveZMQ handshake, but only one bound on the *same*
context as the socket (and accepts everyone when there is none).  The guard starts pyzmq's
authenticator on the agent's context, answers from the public keys in the trusted directory,
reloads that directory at least every second, and is asked again for every request: the
authenticator sets each frame's ``User-Id`` to the client's Z85 public key, so a launcher
whose key was revoked stops being obeyed on its open connection too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import zmq
from zmq.auth.thread import ThreadAuthenticator

from kairos import _log, keys
from kairos.control.sockets import ZAP_DOMAIN
from kairos.errors import SecurityError

#: the trusted directory is re-read at least this often
RELOAD_EVERY_S: Final = 0.5


class ControlGuard:
    """Allow-list of launcher keys for one agent context; ``start()`` before binding."""

    def __init__(self, context: zmq.Context, trusted_dir: Path) -> None:
        self.context = context
        self.trusted_dir = Path(trusted_dir)
        self._log = _log.get("agent.security", trusted_dir=str(self.trusted_dir))
        self._auth: ThreadAuthenticator | None = None
        self._allowed: dict[bytes, str] = {}  # Z85 public key -> trusted name
        self._extra: frozenset[bytes] = frozenset()
        self._bad_files: set[Path] = set()
        self._lock = threading.Lock()
        self._next_reload = 0.0
        #: handshakes refused (unknown key) and allowed, counted in the authenticator thread
        self.refused_handshakes = 0
        self.allowed_handshakes = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Load the trusted keys and start answering ZAP requests on the context."""
        self.reload()
        auth = ThreadAuthenticator(self.context, log=logging.getLogger("kairos.zap"))
        auth.start()
        auth.configure_curve_callback(ZAP_DOMAIN.decode(), credentials_provider=self)
        self._auth = auth
        if not self.is_running():
            raise SecurityError("the ZAP authenticator thread did not start")
        if not self._allowed:
            self._log.warning(
                "no trusted launcher keys: this agent obeys nobody until one is trusted "
                "(kairos keys trust LAUNCHER.key)"
            )

    def stop(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None

    def is_running(self) -> bool:
        auth = self._auth
        return auth is not None and auth.is_alive()

    # -- the allow-list ----------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the trusted directory; a file that is not a key is logged, never trusted."""
        allowed: dict[bytes, str] = {}
        paths = sorted(self.trusted_dir.glob(f"*{keys.PUBLIC_SUFFIX}"))
        for path in paths:
            try:
                public, _ = keys.read_key_file(path)
            except SecurityError as exc:
                if path not in self._bad_files:
                    self._log.error("ignoring an unreadable trusted key file", error=str(exc))
                    self._bad_files.add(path)
                continue
            allowed[public] = path.name.removesuffix(keys.PUBLIC_SUFFIX)
        self._bad_files &= set(paths)
        removed = set(self._allowed) - set(allowed)
        added = set(allowed) - set(self._allowed)
        for key in removed:
            self._log.warning(
                "launcher key revoked", name=self._allowed[key], key=keys.fingerprint(key)
            )
        for key in added:
            self._log.info("launcher key trusted", name=allowed[key], key=keys.fingerprint(key))
        self._allowed = allowed  # replaced whole: the authenticator thread reads it
        self._next_reload = time.monotonic() + RELOAD_EVERY_S

    def maybe_reload(self) -> None:
        """Reload when the last reload is older than :data:`RELOAD_EVERY_S`."""
        if time.monotonic() >= self._next_reload:
            self.reload()

    def reset_counts(self) -> None:
        with self._lock:
            self.refused_handshakes = self.allowed_handshakes = 0

    def trusts(self, public: bytes) -> bool:
        return public in self._allowed or public in self._extra

    def name_of(self, public: bytes) -> str:
        return self._allowed.get(public, "self-test" if public in self._extra else "?")

    @contextlib.contextmanager
    def also_allowing(self, public: bytes) -> Iterator[None]:
        """Trust one more key for the duration of a block (the start-up self-test's key)."""
        self._extra = self._extra | {public}
        try:
            yield
        finally:
            self._extra = self._extra - {public}

    # -- called by the authenticator thread --------------------------------------------------

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP decision for one CurveZMQ handshake (``key`` is the client's Z85 key)."""
        allowed = self.trusts(key)
        with self._lock:
            if allowed:
                self.allowed_handshakes += 1
            else:
                self.refused_handshakes += 1
        if not allowed:
            self._log.warning("handshake refused: unknown key", key=keys.fingerprint(key))
        return allowed
