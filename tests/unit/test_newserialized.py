"""``IPython.kernel.newserialized``: 0.10.2's test_newserialized.py in its Python 3 form, and what
push_serialized and pull_serialized make of Serialized and plain values."""

import numpy
import pytest
from numpy.testing import assert_array_equal

from IPython.kernel.newserialized import (
    ISerialized,
    IUnSerialized,
    Serialized,
    SerializeIt,
    UnSerialized,
    UnSerializeIt,
    serialize,
    unserialize,
)
from kernel.client import newserialized
from kernel.errors import SerializationError


def test_serialized_interfaces():
    us = UnSerialized({'a': 10, 'b': list(range(10))})
    s = ISerialized(us)
    uss = IUnSerialized(s)
    assert ISerialized.providedBy(s)
    assert IUnSerialized.providedBy(us)
    assert IUnSerialized.providedBy(uss)
    assert isinstance(s, SerializeIt) and isinstance(uss, UnSerializeIt)
    for m in list(ISerialized):
        assert hasattr(s, m)
    for m in list(IUnSerialized):
        assert hasattr(us, m) and hasattr(uss, m)
    assert ISerialized(s) is s and IUnSerialized(us) is us


def test_pickle_serialized():
    obj = {'a': 1.45345, 'b': 'asdfsdf', 'c': 10000}
    original_ser = ISerialized(UnSerialized(obj))
    assert original_ser.getTypeDescriptor() == 'pickle'
    assert original_ser.getMetadata() == {}
    second_obj = IUnSerialized(original_ser).getObject()
    assert second_obj == obj
    second_ser = ISerialized(UnSerialized(second_obj))
    assert second_ser.getData() == original_ser.getData()
    assert second_ser.getTypeDescriptor() == original_ser.getTypeDescriptor()
    assert second_ser.getMetadata() == original_ser.getMetadata()


def test_ndarray_serialized():
    a = numpy.linspace(0.0, 1.0, 1000)
    ser1 = ISerialized(UnSerialized(a))
    assert ser1.getTypeDescriptor() == 'ndarray'
    md = ser1.getMetadata()
    assert md['shape'] == a.shape and md['dtype'] == a.dtype.str
    buff = ser1.getData()
    assert buff == a.tobytes()
    assert ser1.getDataSize(units=1) == a.nbytes
    final = IUnSerialized(Serialized(buff, 'ndarray', md)).getObject()
    assert_array_equal(final, a)
    assert (final.dtype.str, final.shape) == (a.dtype.str, a.shape)
    final[0] = 5.0  # writable, as 0.10's copy made it


def test_non_contiguous_and_object_arrays():
    a = numpy.arange(24).reshape(4, 6)[:, ::2]
    assert_array_equal(unserialize(serialize(a)), a)
    objects = numpy.array([{'x': 1}, None], dtype=object)
    assert serialize(objects).getTypeDescriptor() == 'pickle'
    assert list(unserialize(serialize(objects))) == [{'x': 1}, None]


def test_functions_and_lambdas_serialize():
    assert unserialize(serialize(lambda x: x + 1))(1) == 2


def test_bad_inputs_name_the_cause():
    with pytest.raises(TypeError, match="could not adapt int to ISerialized"):
        ISerialized(3)
    with pytest.raises(SerializationError, match="unknown type descriptor 'json'"):
        unserialize(Serialized(b'{}', 'json'))
    with pytest.raises(SerializationError, match="cannot serialize generator"):
        serialize(x for x in ())


def test_push_serialized_takes_serialized_and_plain_values():
    assert newserialized.plain_values({'a': serialize([1, 2]), 'b': 3}) == {'a': [1, 2], 'b': 3}
    with pytest.raises(TypeError, match="push_serialized takes a dict, not list"):
        newserialized.plain_values([serialize(1)])


def test_a_plain_value_is_its_own_unserialized_form():
    # pull_serialized gives plain values: 0.10 code unpacking them gets them back
    a = numpy.arange(3)
    assert IUnSerialized(a).getObject() is a and unserialize('text') == 'text'
