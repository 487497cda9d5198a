"""The types a message's fields may have, each with its check.

A field checks one JSON value that came off the wire and returns it (or
raises ``ProtocolError`` naming the field and what was wrong). The checks
are the protocol's only validation of shapes: code behind them may rely on
what they promise. ``Optional`` marks a field that may be absent (or
``None``); every other field is required.

Every message is checked where it is decoded, so the checks are on the hot
path: a field says which JSON types it ``accepts`` (so ``Either`` tries only
the fields that may take a value's type), and a container names the item
that failed only once it knows one did (a list of 1,000 ids is checked
without making 1,000 paths). An object's fields are checked by a function
``compiled`` writes for them: one inline test per field (``valid_when``),
and the field-by-field check, which names what is wrong, only for an object
that fails one.
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
    accepts = None  # the Python types of the JSON values this field may take; None: any

    def check(self, value, where):
        return value

    def fail(self, value, where):
        raise ProtocolError(f"{where} must be {self.description}, not {_quote(value)}")

    def valid_when(self, v, name):
        """A Python expression, of the variable named ``v``, true only for values ``check`` passes (false
        may mean "ask ``check``"); ``name(obj)`` names a constant for it. None: there is none, call ``check``."""
        return "True"


Any = Field


class Int(Field):
    """An integer (never a bool) from ``low`` to ``high`` inclusive."""

    accepts = (int,)

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high
        bounds = [f">= {low}" if low is not None else "", f"<= {high}" if high is not None else ""]
        self.description = " ".join(["an int", " and ".join(b for b in bounds if b)]).strip()

    def check(self, value, where):
        if type(value) is not int or (self.low is not None and value < self.low) or \
                (self.high is not None and value > self.high):
            self.fail(value, where)
        return value

    def valid_when(self, v, name):
        return " and ".join([f"type({v}) is int"] + ([f"{v} >= {self.low!r}"] if self.low is not None else [])
                            + ([f"{v} <= {self.high!r}"] if self.high is not None else []))


class Number(Field):
    """A finite int or float (never a bool, NaN or infinity) of at least ``low``."""

    accepts = (int, float)

    def __init__(self, low=None):
        self.low = low
        self.description = "a finite number" + (f" >= {low}" if low is not None else "")

    def check(self, value, where):
        if type(value) not in (int, float) or not math.isfinite(value) or \
                (self.low is not None and value < self.low):
            self.fail(value, where)
        return value

    def valid_when(self, v, name):
        return (f"(type({v}) is float or type({v}) is int) and {name(math.isfinite)}({v})"
                + (f" and {v} >= {self.low!r}" if self.low is not None else ""))


class Bool(Field):
    description = "true or false"
    accepts = (bool,)

    def check(self, value, where):
        if type(value) is not bool:
            self.fail(value, where)
        return value

    def valid_when(self, v, name):
        return f"type({v}) is bool"


class Str(Field):
    """A string of at most ``longest`` characters."""

    accepts = (str,)

    def __init__(self, longest=None):
        self.longest = longest
        self.description = "a string" + (f" of at most {longest} characters" if longest else "")

    def check(self, value, where):
        if type(value) is not str or (self.longest is not None and len(value) > self.longest):
            self.fail(value, where)
        return value

    def valid_when(self, v, name):
        return f"type({v}) is str" + (f" and len({v}) <= {self.longest!r}" if self.longest is not None else "")


class Choice(Field):
    """One of a fixed set of strings."""

    accepts = (str,)

    def __init__(self, *values):
        self.values = frozenset(values)
        self.description = "one of " + ", ".join(sorted(self.values))

    def check(self, value, where):
        if type(value) is not str or value not in self.values:
            self.fail(value, where)
        return value

    def valid_when(self, v, name):
        return f"type({v}) is str and {v} in {name(self.values)}"


class ListOf(Field):
    """A list of ``item``, with at most ``longest`` of them."""

    accepts = (list,)

    def __init__(self, item, longest=None, shortest=0):
        self.item, self.longest, self.shortest = item, longest, shortest
        self.description = f"a list of {item.description}" + (
            f" (at most {longest})" if longest is not None else "")
        self._all_valid = all_valid(item)

    def check(self, value, where):
        if type(value) is not list or len(value) < self.shortest or \
                (self.longest is not None and len(value) > self.longest):
            self.fail(value, where)
        if self._all_valid is not None and self._all_valid(value):
            return value
        check = self.item.check
        try:
            for item in value:
                check(item, where)
        except ProtocolError:
            for index, item in enumerate(value):  # again, to name the item that fails
                check(item, f"{where}[{index}]")
            raise
        return value

    def valid_when(self, v, name):
        return None


class Record(Field):
    """A JSON object with these fields (``Optional`` ones may be absent) and no others."""

    accepts = (dict,)

    def __init__(self, fields, description="an object"):
        self.fields = fields
        self.required = required(fields)
        self.description = description
        self.check = compiled(fields, self.check_each)

    def valid_when(self, v, name):
        return None

    def check_each(self, value, where):
        """``check``, field by field, naming the first that is wrong."""
        if type(value) is not dict:
            self.fail(value, where)
        for key in value.keys() - self.fields.keys():
            raise ProtocolError(f"{where} has an unknown field {_quote(key)}")
        for key in self.required - value.keys():
            raise ProtocolError(f"{where} lacks its field {key!r}")
        fields = self.fields
        try:
            for key, item in value.items():
                fields[key].check(item, where)
        except ProtocolError:
            for key, item in value.items():  # again, to name the field that fails
                fields[key].check(item, f"{where}.{key}")
            raise
        return value


class MapOf(Field):
    """A JSON object from strings to ``item``."""

    accepts = (dict,)

    def __init__(self, item=Any(), longest=None):
        self.item, self.longest = item, longest
        self.description = f"an object of {item.description}"
        self._all_valid = all_valid(item)

    def check(self, value, where):
        if type(value) is not dict or (self.longest is not None and len(value) > self.longest):
            self.fail(value, where)
        if self._all_valid is not None and self._all_valid(value.values()):
            return value
        check = self.item.check
        try:
            for item in value.values():
                check(item, where)
        except ProtocolError:
            for key, item in value.items():  # again, to name the entry that fails
                check(item, f"{where}[{key!r}]")
            raise
        return value

    def valid_when(self, v, name):
        return None


class Either(Field):
    """A value that passes one of ``fields``."""

    def __init__(self, *fields):
        self.fields = fields
        self.description = " or ".join(f.description for f in fields)
        kinds = [f.accepts for f in fields]
        self.accepts = None if None in kinds else tuple({t for k in kinds for t in k})

    def check(self, value, where):
        kind = type(value)
        for field in self.fields:
            if field.accepts is None or kind in field.accepts:
                try:
                    return field.check(value, where)
                except ProtocolError:
                    pass
        self.fail(value, where)

    def valid_when(self, v, name):
        tests = [f.valid_when(v, name) for f in self.fields]
        tests = [t for t in tests if t is not None]  # a value none of these pass is for check to judge
        return " or ".join(f"({t})" for t in tests) if tests else None


class Optional(Field):
    """``field``, or absent, or ``None``."""

    def __init__(self, field):
        self.field = field
        self.description = f"{field.description} (optional)"
        self.accepts = None if field.accepts is None else (*field.accepts, type(None))

    def check(self, value, where):
        return None if value is None else self.field.check(value, where)

    def valid_when(self, v, name):
        test = self.field.valid_when(v, name)
        if test == "True":
            return test
        return f"{v} is None or ({test})" if test is not None else None


def required(fields):
    """The keys of ``fields`` that must be present: all but the ``Optional`` ones."""
    return frozenset(k for k, f in fields.items() if not isinstance(f, Optional))


def compiled(fields, check_each, also=(), then=None):
    """A check ``(value, where=None)`` of a JSON object with ``fields`` (and the keys ``also``, unchecked).

    It runs each field's ``valid_when`` inline, and ``check`` for fields
    that have none; a value that fails any of these goes to
    ``check_each(value, where)``, which finds and names what is wrong. The
    same declaration gives both, so they cannot disagree about a valid value.
    ``then(value)``, if given, checks what ties fields together, last.
    """
    source = _Source(ProtocolError=ProtocolError, check_each=check_each, then=then,
                     allowed=frozenset(fields) | frozenset(also), required=required(fields))
    name = source.name
    shape = "type(value) is dict and value.keys() <= allowed"
    if source.constants["required"]:
        shape += " and required <= value.keys()"
    lines, checks, indent = ["def check(value, where=None):", f"    if {shape}:"], [], "        "
    for key, field in fields.items():
        test = field.valid_when("v", name)
        if test is None and isinstance(field, Optional):
            checks += [f"v = value.get({key!r})", f"if v is not None: {name(field.field.check)}(v, where)"]
        elif test is None:
            checks.append(f"{name(field.check)}(value.get({key!r}), where)")
        elif test != "True":
            lines += [f"{indent}v = value.get({key!r})", f"{indent}if {test}:"]
            indent += "    "
    finish = [*(["then(value)"] if then is not None else []), "return value"]
    if checks:
        lines += [f"{indent}try:", *(f"{indent}    {line}" for line in checks),
                  f"{indent}except ProtocolError:", f"{indent}    pass", f"{indent}else:",
                  *(f"{indent}    {line}" for line in finish)]
    else:
        lines += [f"{indent}{line}" for line in finish]
    lines += ["    check_each(value, where)  # raises, naming what is wrong", *(f"    {line}" for line in finish)]
    return source.function(lines)


def all_valid(field):
    """A function telling whether each of some values passes ``field``'s ``valid_when``; None if it has none."""
    source = _Source()
    test = field.valid_when("v", source.name)
    if test is None:
        return None
    if test == "True":
        return lambda values: True
    return source.function(["def all_valid(values):", "    for v in values:", f"        if not ({test}):",
                            "            return False", "    return True"])


class _Source:
    """Python source written from declarations, and the constants it names."""

    def __init__(self, **constants):
        self.constants = constants

    def name(self, obj):
        """A name for ``obj`` in the source."""
        key = f"k{len(self.constants)}"
        self.constants[key] = obj
        return key

    def function(self, lines):
        """The function that ``lines`` define."""
        namespace = dict(self.constants)
        exec("\n".join(lines), namespace)  # noqa: S102 - the source is written here, from declarations
        return namespace[lines[0].split()[1].split("(")[0]]
