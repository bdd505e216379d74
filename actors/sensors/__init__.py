"""Sensor adapters."""
