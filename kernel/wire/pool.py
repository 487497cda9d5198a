"""Recycled receive buffers for the controller.

The controller receives a big buffer only to forward it. A fresh memory map
costs a page fault per 4 KiB the first time it is written, which on a
virtual machine is as much CPU as decrypting the bytes; a map the controller
already touched costs nothing. So big buffers are carved out of maps ("slabs")
kept here and reused once nothing refers to them any more, and slabs left
idle are unmapped by ``trim`` so memory goes back after a burst.

A slab is free when its reference count is back to the pool's own: every
buffer handed out is a memoryview of it, and a memoryview keeps its slab
referenced while any view of it lives (in a queue, a decoder, a frame being
written).
"""

import mmap
import sys

from kernel.wire import framing

SLAB_ROUND = 1 << 20
IDLE_SECONDS = 2.0


class BufferPool:
    def __init__(self, clock, idle_seconds=IDLE_SECONDS):
        self.clock = clock
        self.idle_seconds = idle_seconds
        self._slabs = []  # [slab, last handed out at]

    @staticmethod
    def _free(entry):
        # the pool's list and getrefcount's argument are the only references left
        return sys.getrefcount(entry[0]) == 2

    def allocate(self, n):
        """A writable buffer of ``n`` bytes; big ones come from a free slab when one fits."""
        if n < framing.LAZY_MIN:
            return framing.allocate(n)
        fitting = [e for e in self._slabs if n <= len(e[0]) <= 2 * n and self._free(e)]
        if fitting:
            entry = min(fitting, key=lambda e: len(e[0]))
        else:
            size = -(-n // SLAB_ROUND) * SLAB_ROUND
            entry = [framing.allocate(size), None]
            self._slabs.append(entry)
        entry[1] = self.clock.seconds()
        return memoryview(entry[0])[:n]

    def trim(self):
        """Unmap the free slabs that nobody asked for in the last ``idle_seconds``."""
        now = self.clock.seconds()
        keep = []
        for entry in self._slabs:
            if now - entry[1] >= self.idle_seconds and self._free(entry):
                entry[0].close()
            else:
                keep.append(entry)
        self._slabs = keep

    @property
    def mapped_bytes(self):
        return sum(len(e[0]) for e in self._slabs)
