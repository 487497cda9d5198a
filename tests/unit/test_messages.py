"""The declared messages: each field's check, the channels, and the protocol document."""

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.errors import ProtocolError
from kernel.wire import fields, messages
from tests.harness.schema import ALL, declared_header, spoiled

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_the_protocol_document_is_written_from_the_declarations():
    assert DOC.read_text() == messages.markdown(), "run: python -m kernel.wire.messages > docs/protocol.md"


@pytest.mark.parametrize("field, good, bad", [
    (fields.Int(0), [0, 7, 2**40], [-1, True, 1.0, "1", None]),
    (fields.Int(1, 3), [1, 3], [0, 4]),
    (fields.Number(0), [0, 0.5, 10], [-0.1, math.nan, math.inf, False, "1"]),
    (fields.Bool(), [True, False], [0, 1, "true", None]),
    (fields.Str(3), ["", "abc"], ["abcd", b"a", 1]),
    (fields.Choice("a", "b"), ["a", "b"], ["c", 1]),
    (fields.ListOf(fields.Int(0), longest=2), [[], [1, 2]], [[1, 2, 3], [True], (1,), "12"]),
    (fields.MapOf(fields.Str()), [{}, {"a": "b"}], [{"a": 1}, []]),
    (fields.ListOf(fields.Optional(fields.Int(0))), [[None, 3]], [[None, -1], [1.5], [[]]]),
    (fields.ListOf(fields.Any()), [[], [None, [1], {}]], [(1,), {}]),
    (fields.MapOf(fields.Int(0)), [{"a": 1}], [{"a": -1}, {"a": None}]),
    (fields.Either(fields.Choice("all"), fields.Int(0)), ["all", 3], ["some", -1]),
    (fields.Optional(fields.Int(0)), [None, 1], [-1]),
    (fields.Record({"a": fields.Int(), "b": fields.Optional(fields.Str())}), [{"a": 1}, {"a": 1, "b": "x"}],
     [{}, {"a": 1, "c": 2}, {"a": "1"}, []]),
])
def test_each_field_passes_its_values_and_names_what_is_wrong_with_others(field, good, bad):
    for value in good:
        assert field.check(value, "m.f") is value
    for value in bad:
        with pytest.raises(ProtocolError, match=r"^m\.f"):
            field.check(value, "m.f")


TRICKY = st.sampled_from([-1, 0, True, 0.5, math.inf, math.nan, "", [], {}, None])


def _near(message):
    """Headers of ``message`` as declared, spoiled, or with one field set to a value near a boundary."""
    def tricky(header):
        keys = sorted(k for k in header if k != "op")
        if not keys:
            return st.just(header)
        return st.tuples(st.sampled_from(keys), TRICKY).map(lambda kv: {**header, kv[0]: kv[1]})
    return declared_header(message).flatmap(lambda h: st.one_of(st.just(h), spoiled(h), tricky(h)))


def _verdict(check, header):
    try:
        check(header)
    except ProtocolError as e:
        return str(e)
    return None


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ALL).flatmap(lambda m: st.tuples(st.just(m), _near(m))))
def test_the_compiled_check_of_a_message_agrees_with_checking_it_field_by_field(case):
    message, header = case
    by_fields = _verdict(lambda h: (message._check_each(h, None), message.check_more(h)), header)
    assert _verdict(message.check, header) == by_fields


def test_a_failure_deep_in_a_value_names_the_item_that_failed():
    ids = list(range(1000))
    ids[500] = True
    with pytest.raises(ProtocolError, match=r"^stop_calls.calls\[500\] must be an int >= 0, not True$"):
        messages.MULTIENGINE.decode({"op": "stop_calls", "rid": 3, "calls": ids})
    nested = fields.MapOf(fields.Record({"n": fields.ListOf(fields.Either(fields.Choice("all"), fields.Int(0)))}))
    with pytest.raises(ProtocolError, match=r"^x\['b'\].n\[1\] must be one of all or an int >= 0, not 'some'$"):
        nested.check({"a": {"n": ["all"]}, "b": {"n": [2, "some"]}}, "x")
    assert nested.check({"a": {"n": ["all", 0]}}, "x") == {"a": {"n": ["all", 0]}}


def test_a_decoded_message_is_checked_against_its_declaration():
    lease = {"op": "lease", "rid": 3, "n": 10}
    assert messages.TASKS.decode(lease) is messages.Lease
    for bad, named in [({"op": "lease", "rid": 3}, "field 'n'"),
                       ({"op": "lease", "rid": 3, "n": 10, "x": 1}, "no field 'x'"),
                       ({"op": "lease", "rid": 3, "n": 0}, "lease.n must be an int >= 1 and <= 4096"),
                       ({"op": "zap", "rid": 1}, "unknown task message 'zap'")]:
        with pytest.raises(ProtocolError, match=named):
            messages.TASKS.decode(bad)


def test_a_calls_arguments_are_checked_per_method():
    call = {"op": "call", "rid": 1, "method": "pull", "targets": [0, 1], "args": {"keys": ["a", "b"]}}
    assert messages.MULTIENGINE.decode(call) is messages.MultiEngineCall
    for args in (["x"], {"keys": 3}, {"keys": "a", "extra": 1}):
        with pytest.raises(ProtocolError, match="call.args"):
            messages.MULTIENGINE.decode(dict(call, args=args))
    with pytest.raises(ProtocolError, match="call.args"):
        messages.MULTIENGINE.decode(dict(call, method="kill", args={"controller": "yes"}))


def test_a_task_with_a_non_finite_timeout_is_refused_where_it_enters():
    spec = {"kind": "map", "retries": 0, "has_depend": False, "timeout": math.nan}
    with pytest.raises(ProtocolError, match=r"run.tasks\[0\]\[0\].timeout must be a finite number"):
        messages.TASKS.decode({"op": "run", "rid": 1, "tasks": [[spec]], "counts": [1]})


def test_every_channel_holds_each_op_once_and_every_request_is_answered():
    for channel in messages.CHANNELS:
        for op, message in channel.messages.items():
            assert message.op == op
            if "rid" in message.fields and channel in (messages.MULTIENGINE, messages.TASKS):
                assert message.answer is messages.Result


def test_a_session_must_answer_every_message_of_its_channel():
    class Half:
        @messages.responder(messages.Lease)
        def lease(self):
            pass

    with pytest.raises(TypeError, match="no responder for run, get_results"):
        messages.TASKS.responders(Half())


def test_the_engine_answers_exactly_the_declared_methods():
    from kernel.engine import methods

    assert set(methods.METHODS) == set(messages.ENGINE_METHODS)


@pytest.mark.parametrize("desired_id", [True, -1, "0", 1.0])
def test_an_engine_cannot_register_under_an_id_that_is_not_a_whole_number(desired_id):
    with pytest.raises(ProtocolError, match="register.desired_id"):
        messages.FROM_ENGINE.decode({"op": "register", "desired_id": desired_id, "pid": 1})
