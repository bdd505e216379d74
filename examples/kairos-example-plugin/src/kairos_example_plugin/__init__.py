"""An example Kairos plugin: the ``am-tone`` sensor adapter and the ``hilbert`` encoding.

Each lives in its own module, named by its entry point, so an actor imports only the one it
uses (a sensor never loads the encoding, and the other way round).
"""
