"""Topology files: the JSON Schema, the loader that validates them, and the examples."""
