"""The one check of a value that came from outside which Python's types do not make: an int that is not a bool.

``True`` is an ``int``: a JSON header, a config file or a user's argument
that says ``true`` where a count or an id belongs must be refused, not taken
as 1. Every layer may import this module; it imports nothing of kernel.
"""


def is_int(value):
    """An int, and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)
