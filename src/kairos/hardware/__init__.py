"""Device classes and detection, agent service installation, and the emulated cluster."""
