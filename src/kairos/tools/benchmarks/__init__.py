"""Benchmarks behind ``kairos bench``: each module exposes ``run(progress, quick) -> rows``."""
