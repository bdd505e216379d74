"""Security of the control and data planes: CurveZMQ allow-lists, self-tests, mesh keys.

``endpoints`` says which binds may go without CurveZMQ (loopback only), ``guard`` is the
agent's ZAP allow-list on its own context, ``selftest`` proves at start-up that an unknown
key is refused, ``handshake`` turns a silent CurveZMQ failure into an error, and ``mesh``
encrypts the data plane with one key pair per launch (see docs/security.md).  Import the
modules themselves: an actor process that only needs ``mesh`` should not load the rest.
"""
