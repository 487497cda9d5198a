"""Hypothesis strategies for messages drawn from their declarations (``kernel.wire.messages``)."""

from hypothesis import strategies as st

from kernel.wire import fields, messages

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def drawn(field):
    """A Hypothesis strategy for the values ``field`` (kernel.wire.fields) accepts."""
    if isinstance(field, fields.Optional):
        return st.none() | drawn(field.field)
    if isinstance(field, fields.Int):
        return st.integers(-5 if field.low is None else field.low, 50 if field.high is None else min(field.high, 50))
    if isinstance(field, fields.Number):
        return st.floats(0 if field.low is None else field.low, 1e6, allow_nan=False)
    if isinstance(field, fields.Bool):
        return st.booleans()
    if isinstance(field, fields.Str):
        return st.text(max_size=min(field.longest or 12, 12))
    if isinstance(field, fields.Choice):
        return st.sampled_from(sorted(field.values))
    if isinstance(field, fields.ListOf):
        return st.lists(drawn(field.item), min_size=field.shortest, max_size=3)
    if isinstance(field, fields.MapOf):
        return st.dictionaries(st.text(max_size=6), drawn(field.item), max_size=3)
    if isinstance(field, fields.Record):
        return _record(field.fields)
    if isinstance(field, fields.Either):
        return st.one_of([drawn(f) for f in field.fields])
    return json_values


def _record(declared):
    required = {k: drawn(f) for k, f in declared.items() if not isinstance(f, fields.Optional)}
    optional = {k: drawn(f) for k, f in declared.items() if isinstance(f, fields.Optional)}
    return st.fixed_dictionaries(required, optional=optional)


def declared_header(message):
    """A header of ``message`` as declared (its call's ``args`` those of its method)."""
    header = _record(message.fields).map(lambda fields_: {**fields_, "op": message.op})
    if "args" in message.fields:  # a call: the arguments of its method
        def with_args(h):
            return _record(messages.ENGINE_METHODS.get(h["method"], {})).map(lambda a: {**h, "args": a})
        header = header.flatmap(with_args)
    return header


def spoiled(header):
    """``header`` with one field dropped, replaced by any JSON value, or one added."""
    keys = sorted(k for k in header if k != "op")
    drop = st.sampled_from(keys).map(lambda k: {x: v for x, v in header.items() if x != k}) if keys else st.just(header)
    swap = (st.tuples(st.sampled_from(keys), json_values).map(lambda kv: {**header, kv[0]: kv[1]})
            if keys else st.just(header))
    extra = json_values.map(lambda v: {**header, "x": v})
    return st.one_of(drop, swap, extra)


ALL = [m for channel in messages.CHANNELS for m in channel.messages.values()]
headers = st.sampled_from(ALL).flatmap(declared_header).flatmap(
    lambda h: st.one_of(st.just(h), spoiled(h))) | json_values.map(lambda v: {"op": "nonsense", "rid": 1, "x": v})
