"""The wire, one layer a module: framing, serialization, messages, sessions."""
