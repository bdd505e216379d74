"""The control protocol's messages: one msgpack map per request and per reply.

A client (launcher, tool) sends ``{"v", "id", "cmd", "expires_ns", "args"}`` on a DEALER; the
agent's ROUTER answers ``{"v", "id", "ok", "code", "error", "result"}``.  Decoding never
trusts the peer: anything malformed raises :class:`~kairos.errors.ProtocolError` carrying the
reply code, so the agent can answer it and count it instead of crashing.  Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack

from kairos import PROTOCOL_VERSION
from kairos.errors import ProtocolError

#: Largest control frame either side accepts (bytes).
MAX_FRAME_BYTES: Final = 1024 * 1024
MAX_ID_CHARS: Final = 64
MAX_CMD_CHARS: Final = 64

OK: Final = "ok"
BAD_REQUEST: Final = "bad-request"
UNKNOWN_COMMAND: Final = "unknown-command"
VERSION_MISMATCH: Final = "version-mismatch"
EXPIRED: Final = "expired"
DUPLICATE: Final = "duplicate"
REFUSED: Final = "refused"
ERROR: Final = "error"
CODES: Final = frozenset(
    {OK, BAD_REQUEST, UNKNOWN_COMMAND, VERSION_MISMATCH, EXPIRED, DUPLICATE, REFUSED, ERROR}
)


class RequestError(ProtocolError):
    """Raised when a request cannot be executed; ``code`` is the reply code to answer with."""

    def __init__(self, code: str, message: str, request_id: str = "") -> None:
        self.code = code
        self.request_id = request_id
        super().__init__(message)


class VersionMismatch(ProtocolError):
    """Raised on a client when the agent speaks another control-protocol version."""


def new_id() -> str:
    """A fresh request id (uuid4 hex): unique, so the agent's replay cache never confuses two."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Request:
    """One control request, as sent on the wire."""

    cmd: str
    args: dict[str, Any]
    expires_ns: int
    id: str = field(default_factory=new_id)
    v: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        return _pack(
            {
                "v": self.v,
                "id": self.id,
                "cmd": self.cmd,
                "expires_ns": self.expires_ns,
                "args": self.args,
            }
        )

    def digest(self) -> str:
        """Hash of what the request asks (command and arguments, not its expiry): a resent
        request matches it, a reused id with other content does not."""
        return hashlib.sha256(_pack({"cmd": self.cmd, "args": self.args})).hexdigest()

    @classmethod
    def decode(cls, frame: bytes | memoryview) -> Request:
        """Parse one request frame, or raise RequestError with the code to answer."""
        raw = _unpack(frame, "request")
        raw_id = raw.get("id")
        valid_id = isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_ID_CHARS
        request_id: str = raw_id if valid_id else ""  # type: ignore[assignment]
        version = raw.get("v")
        if type(version) is not int:
            raise RequestError(BAD_REQUEST, "request field 'v' is not an integer", request_id)
        if version != PROTOCOL_VERSION:
            raise RequestError(
                VERSION_MISMATCH,
                f"request speaks control protocol {version}, this agent speaks "
                f"{PROTOCOL_VERSION}; install the same kairos version on both sides",
                request_id,
            )
        if not valid_id:
            raise RequestError(BAD_REQUEST, f"request 'id' is not a string of 1 to {MAX_ID_CHARS}")
        cmd = raw.get("cmd")
        if not isinstance(cmd, str) or not 0 < len(cmd) <= MAX_CMD_CHARS:
            raise RequestError(
                BAD_REQUEST, f"request 'cmd' is not a string of 1 to {MAX_CMD_CHARS}", request_id
            )
        expires = raw.get("expires_ns")
        if type(expires) is not int:
            raise RequestError(BAD_REQUEST, "request 'expires_ns' is not an integer", request_id)
        args = raw.get("args", {})
        if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
            raise RequestError(BAD_REQUEST, "request 'args' is not a map of names", request_id)
        return cls(cmd=cmd, args=args, expires_ns=expires, id=request_id, v=version)


@dataclass(frozen=True)
class Reply:
    """One control reply; ``ok`` is True exactly when ``code`` is ``"ok"``."""

    id: str
    code: str
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    v: int = PROTOCOL_VERSION

    @property
    def ok(self) -> bool:
        return self.code == OK

    def encode(self) -> bytes:
        return _pack(
            {
                "v": self.v,
                "id": self.id,
                "ok": self.ok,
                "code": self.code,
                "error": self.error,
                "result": self.result,
            }
        )

    @classmethod
    def success(cls, request_id: str, result: dict[str, Any]) -> Reply:
        return cls(id=request_id, code=OK, result=result)

    @classmethod
    def failure(
        cls, request_id: str, code: str, error: str, result: dict[str, Any] | None = None
    ) -> Reply:
        return cls(id=request_id, code=code, error=error, result=result or {})

    @classmethod
    def decode(cls, frame: bytes | memoryview) -> Reply:
        """Parse one reply frame, or raise ProtocolError saying what is wrong with it."""
        raw = _unpack(frame, "reply")
        version = raw.get("v")
        if type(version) is not int:
            # not a reply of any version (a bool or 1.0 would compare equal to 1): malformed
            raise ProtocolError(f"reply field 'v' is not an integer: {_short(version)}")
        if version != PROTOCOL_VERSION:
            raise VersionMismatch(
                f"agent speaks control protocol {version!r}, this client speaks "
                f"{PROTOCOL_VERSION}; install the same kairos version on both sides"
            )
        code = raw.get("code")
        # type first: a list or map from the peer is unhashable and `in CODES` would raise
        if not isinstance(code, str) or code not in CODES:
            raise ProtocolError(f"reply code {_short(code)} is not one of {sorted(CODES)}")
        request_id, result, error = raw.get("id"), raw.get("result", {}), raw.get("error")
        if not isinstance(request_id, str):
            raise ProtocolError("reply 'id' is not a string")
        if not isinstance(result, dict):
            raise ProtocolError("reply 'result' is not a map")
        if error is not None and not isinstance(error, str):
            raise ProtocolError("reply 'error' is not a string")
        if raw.get("ok") is not (code == OK):
            raise ProtocolError(f"reply 'ok' disagrees with code {code!r}")
        return cls(id=request_id, code=code, result=result, error=error, v=version)


def spec_hash(spec_json: str) -> str:
    """Short hash of an actor spec's canonical JSON, as ``status`` reports it."""
    canonical = json.dumps(json.loads(spec_json), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _short(value: object, limit: int = 80) -> str:
    """A peer's value for an error message, cut short: a hostile frame can hold 1 MiB."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pack(value: dict[str, Any]) -> bytes:
    try:
        return msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(f"control message cannot be encoded as msgpack: {exc}") from None


def _unpack(frame: bytes | memoryview, what: str) -> dict[str, Any]:
    if len(frame) > MAX_FRAME_BYTES:
        raise RequestError(BAD_REQUEST, f"{what} of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        raw = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise RequestError(BAD_REQUEST, f"{what} is not msgpack: {exc}") from None
    if not isinstance(raw, dict):
        raise RequestError(BAD_REQUEST, f"{what} is not a msgpack map")
    return raw
