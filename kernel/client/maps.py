"""The sequences of a map, and block partitioning for scatter, gather and map.

Blocks are contiguous, the first ones one longer: ``range(10)`` over 4
engines is ``[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]``.
"""

import numpy


def as_sequence(seq):
    """Something ``partition`` can slice: arrays and sequences as they are, others as a list."""
    if isinstance(seq, numpy.ndarray):
        if seq.ndim == 0:
            raise TypeError("cannot partition a 0-dimensional array")
        return seq
    if isinstance(seq, (str, bytes)):
        return seq
    if hasattr(seq, "__getitem__") and hasattr(seq, "__len__") and not isinstance(seq, dict):
        return seq
    try:
        return list(seq)
    except TypeError:
        raise TypeError(f"cannot partition a {type(seq).__name__}: a sequence is needed") from None


def map_sequences(sequences):
    """The sequences of a ``map(func, *sequences)``, checked: at least one, all of equal length."""
    if not sequences:
        raise TypeError("map() needs at least one sequence")
    sequences = [as_sequence(s) for s in sequences]
    if len({len(s) for s in sequences}) > 1:
        raise ValueError("all sequences must have equal length")
    return sequences


def partition(seq, p, q):
    """The ``p``-th of ``q`` contiguous blocks of ``seq`` (a range's blocks are lists)."""
    base, remainder = divmod(len(seq), q)
    low = p * base + min(p, remainder)
    high = low + base + (1 if p < remainder else 0)
    part = seq[low:high]
    return list(part) if isinstance(part, range) else part


def join(partitions):
    """Gather: concatenate arrays, flatten lists and tuples, else keep the list."""
    if not partitions:
        return []
    if all(isinstance(part, numpy.ndarray) for part in partitions):
        return numpy.concatenate(partitions)
    if all(isinstance(part, (list, tuple)) for part in partitions):
        return [item for part in partitions for item in part]
    return list(partitions)


DISTRIBUTIONS = {"b": (partition, join)}


def distribution(dist):
    try:
        return DISTRIBUTIONS[dist]
    except (KeyError, TypeError):
        raise ValueError(f"unknown distribution {dist!r}: only 'b' (contiguous blocks) exists") from None
