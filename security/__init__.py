"""Adversarial peers for testing a controller's defences (see README.md)."""
