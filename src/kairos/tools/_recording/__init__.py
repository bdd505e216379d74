"""Private helpers of ``kairos record`` and ``kairos replay``: the MCAP layout of Kairos
messages, the writer with its flush policy, and the reader that copes with truncated files."""
