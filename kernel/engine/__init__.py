"""The engine: a Python namespace that runs what the controller sends it."""
