"""The ``kairos`` command line: one module per subcommand, wired together in :mod:`.cli`."""
