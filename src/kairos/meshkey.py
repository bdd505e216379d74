"""Data-plane encryption (``mesh.encrypt: true``): one CurveZMQ key pair per launch.

Every actor's PUB is a CurveZMQ server with the mesh pair and admits only clients that
prove they hold the same pair (a ZAP authenticator on the actor's context that allows the
mesh public key alone); every SUB connects as a client with that pair.  A subscriber
without the secret gets nothing.  The launcher makes the pair, hands it to actors inside
their specs over the CurveZMQ control plane only, and writes it (mode 0600) to its state
directory for ``tap``, ``record`` and ``replay --mesh-key FILE``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import zmq
from zmq.auth.thread import ThreadAuthenticator

from kairos import keys
from kairos.errors import SecurityError

ZAP_DOMAIN: Final = b"kairos-mesh"
MESH_KEY_NAME: Final = "mesh"


@dataclass(frozen=True)
class MeshKey:
    """The launch's data-plane key pair (Z85)."""

    public: bytes
    secret: bytes

    @classmethod
    def new(cls) -> MeshKey:
        public, secret = zmq.curve_keypair()
        return cls(public, secret)

    def as_spec(self) -> dict[str, str]:
        """The form an actor spec carries (``ActorProcessSpec.curve``)."""
        return {"public": self.public.decode(), "secret": self.secret.decode()}

    @classmethod
    def from_spec(cls, raw: Any) -> MeshKey:
        if not isinstance(raw, dict) or set(raw) != {"public", "secret"}:
            raise SecurityError("spec 'curve' must be a map with exactly 'public' and 'secret'")
        public = keys.check_key(str(raw["public"]), "mesh public key")
        secret = keys.check_key(str(raw["secret"]), "mesh secret key")
        if zmq.curve_public(secret) != public:
            raise SecurityError("spec 'curve': the mesh public key does not match its secret")
        return cls(public, secret)

    def write(self, directory: Path) -> Path:
        """Write the pair as ``mesh.key_secret`` (mode 0600) in ``directory``; its path."""
        path = directory / f"{MESH_KEY_NAME}{keys.SECRET_SUFFIX}"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys.write_certificate(path, MESH_KEY_NAME, self.public, self.secret, force=True)
        return path

    @classmethod
    def read(cls, path: Path) -> MeshKey:
        """The pair from a file the launcher wrote (``--mesh-key FILE``)."""
        public, secret = keys.read_key_file(Path(path))
        if secret is None:
            raise SecurityError(f"{path} holds no secret key: pass the launcher's mesh key file")
        return cls(public, secret)


def serve_encrypted(context: zmq.Context, sock: zmq.Socket, key: MeshKey) -> ThreadAuthenticator:
    """Make ``sock`` (a PUB/XPUB, before bind) a CurveZMQ server admitting only mesh clients.

    Returns the authenticator to stop after the socket is closed.
    """
    auth = ThreadAuthenticator(context, log=logging.getLogger("kairos.zap.mesh"))
    auth.start()
    auth.configure_curve_callback(ZAP_DOMAIN.decode(), credentials_provider=_OnlyKey(key.public))
    serve_also(sock, key)
    return auth


def serve_also(sock: zmq.Socket, key: MeshKey) -> None:
    """Make ``sock`` (before bind) a CurveZMQ server of the mesh too, answered by the
    authenticator :func:`serve_encrypted` started on the same context (a relay's two sides:
    one context holds one ZAP handler)."""
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, key.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, key.secret)
    sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
    sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)  # no authenticator answering: admit nobody


def connect_encrypted(sock: zmq.Socket, key: MeshKey) -> None:
    """Make ``sock`` (a SUB, or a publisher's XPUB dialling a relay; before connect) a
    CurveZMQ client of the mesh's servers."""
    sock.setsockopt(zmq.CURVE_PUBLICKEY, key.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, key.secret)
    sock.setsockopt(zmq.CURVE_SERVERKEY, key.public)


class _OnlyKey:
    """ZAP credentials provider that admits one public key."""

    def __init__(self, public: bytes) -> None:
        self.public = public

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.public
