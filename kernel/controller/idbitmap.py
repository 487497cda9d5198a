"""Which task ids were accepted since the controller started: one bit an id, in memory.

A client names each task with an id it leased and sends it without
waiting; sent again after a reconnect, it must be accepted once. So each
run asks whether its id was accepted already, and asking the task store
(one SQLite lookup) was 5% of the controller's CPU for tasks sent one by
one. Ids leased since the start are numbered from ``start`` up, and every
one accepted passes through the controller, so a bit each answers for them
(a million tasks: 125 KB); older ids are the store's to answer.
"""


class IdBitmap:
    """A set of the ints from ``start`` up."""

    def __init__(self, start):
        self.start = start
        self._bits = bytearray()

    def covers(self, taskid):
        """Whether this set alone knows if ``taskid`` is in it."""
        return taskid >= self.start

    def add(self, taskid):
        offset = taskid - self.start
        if offset < 0:
            raise ValueError(f"task id {taskid} is below this set's start, {self.start}")
        byte = offset >> 3
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1, 2 * len(self._bits)) - len(self._bits)))
        self._bits[byte] |= 1 << (offset & 7)

    def __contains__(self, taskid):
        offset = taskid - self.start
        byte = offset >> 3
        return 0 <= offset and byte < len(self._bits) and bool(self._bits[byte] & (1 << (offset & 7)))
