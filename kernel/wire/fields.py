"""The types a message's fields may have, each with its check.

A field checks one JSON value that came off the wire and returns it (or
raises ``ProtocolError`` naming the field and what was wrong). The checks
are the protocol's only validation of shapes: code behind them may rely on
what they promise. ``Optional`` marks a field that may be absent (or
``None``); every other field is required.
"""

import math

from kernel.errors import ProtocolError

_SHOWN = 60  # characters of a bad value quoted in an error


def _quote(value):
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


class Field:
    """A JSON value of any shape."""

    description = "any JSON value"

    def check(self, value, where):
        return value

    def fail(self, value, where):
        raise ProtocolError(f"{where} must be {self.description}, not {_quote(value)}")


Any = Field


class Int(Field):
    """An integer (never a bool) from ``low`` to ``high`` inclusive."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high
        bounds = [f">= {low}" if low is not None else "", f"<= {high}" if high is not None else ""]
        self.description = " ".join(["an int", " and ".join(b for b in bounds if b)]).strip()

    def check(self, value, where):
        if type(value) is not int or (self.low is not None and value < self.low) or \
                (self.high is not None and value > self.high):
            self.fail(value, where)
        return value


class Number(Field):
    """A finite int or float (never a bool, NaN or infinity) of at least ``low``."""

    def __init__(self, low=None):
        self.low = low
        self.description = "a finite number" + (f" >= {low}" if low is not None else "")

    def check(self, value, where):
        if type(value) not in (int, float) or not math.isfinite(value) or \
                (self.low is not None and value < self.low):
            self.fail(value, where)
        return value


class Bool(Field):
    description = "true or false"

    def check(self, value, where):
        if type(value) is not bool:
            self.fail(value, where)
        return value


class Str(Field):
    """A string of at most ``longest`` characters."""

    def __init__(self, longest=None):
        self.longest = longest
        self.description = "a string" + (f" of at most {longest} characters" if longest else "")

    def check(self, value, where):
        if type(value) is not str or (self.longest is not None and len(value) > self.longest):
            self.fail(value, where)
        return value


class Choice(Field):
    """One of a fixed set of strings."""

    def __init__(self, *values):
        self.values = frozenset(values)
        self.description = "one of " + ", ".join(sorted(self.values))

    def check(self, value, where):
        if type(value) is not str or value not in self.values:
            self.fail(value, where)
        return value


class ListOf(Field):
    """A list of ``item``, with at most ``longest`` of them."""

    def __init__(self, item, longest=None, shortest=0):
        self.item, self.longest, self.shortest = item, longest, shortest
        self.description = f"a list of {item.description}" + (
            f" (at most {longest})" if longest is not None else "")

    def check(self, value, where):
        if type(value) is not list or len(value) < self.shortest or \
                (self.longest is not None and len(value) > self.longest):
            self.fail(value, where)
        check = self.item.check
        if type(self.item) is not Field:
            for index, item in enumerate(value):
                check(item, f"{where}[{index}]")
        return value


class Record(Field):
    """A JSON object with these fields (``Optional`` ones may be absent) and no others."""

    def __init__(self, fields, description="an object"):
        self.fields = fields
        self.required = frozenset(k for k, f in fields.items() if not isinstance(f, Optional))
        self.description = description

    def check(self, value, where):
        if type(value) is not dict:
            self.fail(value, where)
        for key in value.keys() - self.fields.keys():
            raise ProtocolError(f"{where} has an unknown field {_quote(key)}")
        for key in self.required - value.keys():
            raise ProtocolError(f"{where} lacks its field {key!r}")
        for key, item in value.items():
            self.fields[key].check(item, f"{where}.{key}")
        return value


class MapOf(Field):
    """A JSON object from strings to ``item``."""

    def __init__(self, item=Any(), longest=None):
        self.item, self.longest = item, longest
        self.description = f"an object of {item.description}"

    def check(self, value, where):
        if type(value) is not dict or (self.longest is not None and len(value) > self.longest):
            self.fail(value, where)
        for key, item in value.items():
            self.item.check(item, f"{where}[{key!r}]")
        return value


class Either(Field):
    """A value that passes one of ``fields``."""

    def __init__(self, *fields):
        self.fields = fields
        self.description = " or ".join(f.description for f in fields)

    def check(self, value, where):
        for field in self.fields:
            try:
                return field.check(value, where)
            except ProtocolError:
                pass
        self.fail(value, where)


class Optional(Field):
    """``field``, or absent, or ``None``."""

    def __init__(self, field):
        self.field = field
        self.description = f"{field.description} (optional)"

    def check(self, value, where):
        return None if value is None else self.field.check(value, where)
