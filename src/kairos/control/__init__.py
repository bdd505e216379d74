"""The control plane: how launchers and tools command an agent over ZeroMQ.

``protocol`` defines the request and reply maps, ``sockets`` the one place control sockets
are made, ``client`` the DEALER side, and ``commands`` one class per command whose docstring
is its part of the protocol (see docs/control.md).
"""

from kairos.control.client import ControlClient
from kairos.control.protocol import Reply, Request, RequestError, VersionMismatch, new_id
from kairos.control.sockets import CurveKeys, control_socket

__all__ = [
    "ControlClient",
    "CurveKeys",
    "Reply",
    "Request",
    "RequestError",
    "VersionMismatch",
    "control_socket",
    "new_id",
]
