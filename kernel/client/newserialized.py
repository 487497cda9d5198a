"""0.10's ``IPython.kernel.newserialized``: values as ``push_serialized`` took them and ``pull_serialized`` gave them.

A ``Serialized`` holds a value's bytes, a type descriptor (``'ndarray'``:
the array's raw buffer with its shape and dtype; ``'pickle'``: anything
else) and metadata. ``serialize(obj)`` and ``unserialize(s)`` convert, as
do 0.10's adapters ``ISerialized(UnSerialized(obj))`` and
``IUnSerialized(s).getObject()``. The wire does not carry these objects:
``push_serialized`` unpacks them, so engines see plain values and arrays
still move as raw buffers. ``pull_serialized`` gives plain values, as
``pull`` does; for them ``IUnSerialized(v).getObject()`` and
``unserialize(v)`` are ``v`` itself, so 0.10 code that unpacks what it
pulled runs unchanged.
"""

import pickle

import cloudpickle
import numpy

from kernel.errors import SerializationError

__all__ = ["ISerialized", "IUnSerialized", "Serialized", "UnSerialized", "SerializeIt", "UnSerializeIt",
           "serialize", "unserialize"]


class Serialized:
    """A value's bytes, its type descriptor and its metadata."""

    def __init__(self, data, typeDescriptor, metadata=None):
        self.data = data
        self.typeDescriptor = typeDescriptor
        self.metadata = {} if metadata is None else metadata

    def getData(self):
        return self.data

    def getDataSize(self, units=10.0**6):
        return len(self.data) / units

    def getTypeDescriptor(self):
        return self.typeDescriptor

    def getMetadata(self):
        return self.metadata

    def __repr__(self):
        return f"<Serialized {self.typeDescriptor} {len(self.data)} bytes>"


class UnSerialized:
    """A plain value, waiting to be serialized."""

    def __init__(self, obj):
        self.obj = obj

    def getObject(self):
        return self.obj


class SerializeIt(Serialized):
    """The Serialized form of an UnSerialized: arrays as raw buffers, the rest pickled."""

    def __init__(self, unSerialized):
        obj = unSerialized.getObject()
        if isinstance(obj, numpy.ndarray) and not obj.dtype.hasobject:
            obj = numpy.ascontiguousarray(obj)
            super().__init__(obj.tobytes(), "ndarray", {"shape": obj.shape, "dtype": obj.dtype.str})
        else:
            try:
                data = cloudpickle.dumps(obj)
            except Exception as e:
                raise SerializationError(f"cannot serialize {type(obj).__name__} object: {e}") from e
            super().__init__(data, "pickle")


class UnSerializeIt(UnSerialized):
    """The value a Serialized holds; arrays come back writable."""

    def __init__(self, serialized):
        self.serialized = serialized

    def getObject(self):
        kind = self.serialized.getTypeDescriptor()
        data = self.serialized.getData()
        if kind == "ndarray":
            metadata = self.serialized.getMetadata()
            array = numpy.frombuffer(data, dtype=metadata["dtype"]).copy()
            return array.reshape(metadata["shape"])
        if kind == "pickle":
            return pickle.loads(data)
        raise SerializationError(f"unknown type descriptor {kind!r}: expected 'ndarray' or 'pickle'")


class _Interface:
    """What a 0.10 client did with a zope interface: ``I(obj)`` adapts, ``I.providedBy(obj)``, ``list(I)``."""

    def __init__(self, name, methods, provider, source, adapter, plain=None):
        self.__name__ = name
        self._methods = methods
        self._provider = provider
        self._source = source
        self._adapter = adapter
        self._plain = plain  # what adapts any other object, if anything does

    def providedBy(self, obj):
        return isinstance(obj, self._provider)

    def __iter__(self):
        return iter(self._methods)

    def __call__(self, obj):
        if self.providedBy(obj):
            return obj
        if isinstance(obj, self._source):
            return self._adapter(obj)
        if self._plain is not None:
            return self._plain(obj)
        raise TypeError(f"could not adapt {type(obj).__name__} to {self.__name__}: "
                        f"expected a {self._provider.__name__} or a {self._source.__name__}")

    def __repr__(self):
        return f"<Interface {__name__}.{self.__name__}>"


ISerialized = _Interface("ISerialized", ("getData", "getDataSize", "getTypeDescriptor", "getMetadata"),
                         Serialized, UnSerialized, SerializeIt)
IUnSerialized = _Interface("IUnSerialized", ("getObject",), UnSerialized, Serialized, UnSerializeIt,
                           plain=UnSerialized)


def serialize(obj):
    """``obj`` as a Serialized."""
    return ISerialized(UnSerialized(obj))


def unserialize(serialized):
    """The value a Serialized holds; any other value is its own."""
    return IUnSerialized(serialized).getObject()


def plain_values(namespace):
    """``push_serialized``'s namespace with each Serialized value unpacked (plain values pass as they are)."""
    if not isinstance(namespace, dict):
        raise TypeError(f"push_serialized takes a dict, not {type(namespace).__name__}")
    return {k: unserialize(v) for k, v in namespace.items()}
