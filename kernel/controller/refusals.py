"""Leased task ids whose ``run`` the controller refused, remembered a while.

A client names its tasks with leased ids and goes on without waiting for
the answer to each ``run``. A question about an id whose task has not come
waits for it (up to the ``lease_wait`` setting); but when the controller
has refused that task (a malformed request, or one that failed while it
was being accepted), it knows the task will never come. The last ``KEPT``
refused ids are remembered with why, so such a question is answered at once
with the refusal, and the id is never accepted afterwards. Memory only: a
restarted controller forgets them.
"""

from collections import OrderedDict

from kernel.errors import KernelError

KEPT = 4096  # refused ids remembered; past this the oldest are forgotten
MESSAGE_MOST = 1000  # characters of a refusal's reason kept


class Refusals:
    """Refused ids, the newest ``kept``, each with its error's type and message."""

    def __init__(self, kept=KEPT):
        self.kept = kept
        self._why = OrderedDict()  # taskid -> (error type, message), oldest first

    def __contains__(self, taskid):
        return taskid in self._why

    def note(self, taskids, error):
        """Remember that the tasks of ``taskids`` were refused with ``error`` (a KernelError).

        An id refused again keeps its first reason: that is the one already told.
        """
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        why = (type(error), message[:MESSAGE_MOST])
        for taskid in taskids:
            self._why.setdefault(taskid, why)
        while len(self._why) > self.kept:
            self._why.popitem(last=False)

    def reason(self, taskid):
        """The refusal itself, as its request was answered: raised again if the task is sent again."""
        etype, message = self._why[taskid]
        return _error(etype, message)

    def error(self, taskids):
        """What a question about ``taskids`` gets: the refusal of the lowest refused one, of the
        refusal's own type and naming the task; None if none of them was refused."""
        refused = [taskid for taskid in taskids if taskid in self._why]
        if not refused:
            return None
        taskid = min(refused)
        etype, message = self._why[taskid]
        return _error(etype, f"task {taskid} was refused by the controller: {message}")


def _error(etype, message):
    try:
        return etype(message)
    except Exception:  # an error type that takes other arguments
        return KernelError(message)
