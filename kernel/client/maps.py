"""Block partitioning for scatter and gather: contiguous, first blocks one longer."""

import numpy


def partition(seq, p, q):
    """The ``p``-th of ``q`` contiguous blocks of ``seq``."""
    base, remainder = divmod(len(seq), q)
    low = p * base + min(p, remainder)
    high = low + base + (1 if p < remainder else 0)
    return seq[low:high]


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
    except KeyError:
        raise ValueError(f"unknown distribution {dist!r}: only 'b' (contiguous blocks) exists") from None
