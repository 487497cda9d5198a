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


def dumps_many(values):
    """Serialize several values: return ``(counts, pieces)`` for one frame."""
    counts, pieces = [], []
    for value in values:
        parts = dumps(value)
        counts.append(len(parts))
        pieces.extend(parts)
    return counts, pieces


def split(counts, pieces):
    """Cut a flat list of buffers into groups of the given sizes."""
    groups, at = [], 0
    for n in counts:
        groups.append(pieces[at:at + n])
        at += n
    return groups


def loads_many(counts, pieces):
    return [loads(group) for group in split(counts, pieces)]
