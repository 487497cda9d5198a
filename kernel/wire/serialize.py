"""Serialization of user values: cloudpickle protocol 5, buffers out of band.

Functions, lambdas and closures travel whole. numpy arrays (and anything else
exposing ``PickleBuffer``) are not copied into the pickle: their memory goes
out as separate frame buffers and the receiver's arrays wrap the received,
writable ``bytearray`` directly. Only clients and engines call ``loads``; the
controller forwards the pieces as opaque bytes.
"""

import pickle

import cloudpickle

OUT_OF_BAND_MIN = 4096  # smaller buffers are cheaper in-band


def dumps(obj):
    """Return ``[pickle_bytes, *raw_buffers]`` for ``obj``."""
    buffers = []

    def keep(buf):
        raw = buf.raw()
        if raw.nbytes < OUT_OF_BAND_MIN:
            return True  # serialize in-band
        buffers.append(raw)
        return False

    head = cloudpickle.dumps(obj, protocol=5, buffer_callback=keep)
    return [head, *buffers]


def loads(pieces):
    """Inverse of ``dumps``; arrays share the received memory."""
    head, *buffers = pieces
    return pickle.loads(head, buffers=buffers)
