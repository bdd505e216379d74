"""Kairos: a ZeroMQ actor framework for heterogeneous edge clusters.

The public surface is small: the exceptions in :mod:`kairos.errors`, the wire format in
:mod:`kairos.wire`, the actor contract in :mod:`kairos.actors`, and the ``kairos`` command.
"""

from kairos.errors import KairosError

__version__ = "0.1.0"

#: Version of the wire format and of the control protocol (checked at the handshake).
PROTOCOL_VERSION = 1

__all__ = ["PROTOCOL_VERSION", "KairosError", "__version__"]
