"""Output adapters: act on node or mesh state (files, HTTP, sound, light, motors)."""
