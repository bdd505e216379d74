"""The actor runtime and the four roles: sensor, engine, sync and output.

An actor is one OS process.  The runtime (:mod:`kairos.actors._runtime`) owns its sockets,
timing, sequence numbers, witness metrics and shutdown; a role only turns inputs into
outputs.  Sensor and output behaviour is pluggable through adapters
(:mod:`kairos.actors.adapters`).
"""
