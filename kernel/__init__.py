"""kernel: a capability-secured parallel computing cluster for Python.

A controller listens for engines and clients over TLS; holding a FURL file is
the right to use the interface it names. Start with ``from kernel import client``.
"""

__version__ = "0.1.0"
