"""Device facts: the device classes (``classes/*.yaml``) and the detection of this machine.

Installing the agent as a service lives in :mod:`kairos.agent.install`, the emulated cluster
in :mod:`kairos.emulate`: this package only says what a device is.
"""
