"""Submitting tasks without waiting for each answer.

``run()`` needs a task id at once. Waiting a round trip per task for the
controller to pick one halves the rate at which a loop of ``run()`` calls can
submit, so the client leases blocks of ids instead (the controller records
each lease on disk before giving it out, so no id is ever given twice, also
across restarts) and names its tasks itself.

What is not lost: the controller answers a submission once the task is in
its store, and until then the client keeps the task. If the connection drops
first, the kept tasks are sent again, under the same ids, as soon as the
client reconnects; the controller accepts an id once. Every other call of the
TaskClient first waits for those answers, so a submission the controller
refused is reported by the next call, naming the task.
"""

import atexit
import weakref

from kernel import errors
from kernel.wire import messages

LEASE_FIRST = 16  # ids in the first lease; each next lease doubles, up to LEASE_MOST
LEASE_MOST = 1024
UNANSWERED_MOST = 512  # submissions in flight; beyond this, run() waits for the oldest answer
EXIT_WAIT = 30.0  # seconds a script's exit waits for each answer from a stuck controller


class Pipeline:
    def __init__(self, connection):
        self.connection = connection
        self._ids = iter(())
        self._lease_size = LEASE_FIRST
        self._unanswered = {}  # request id -> (task, connection generation it was sent on)
        self._unsent = []  # tasks to send again, (taskid, header, buffers) by id
        _PIPELINES.add(self)

    def _generation(self):
        return getattr(self.connection, "generation", 0)

    def submit(self, header, buffers):
        """Send one task's ``run`` request under a leased id; return the id."""
        self.send_kept()
        taskid = self._next_id()
        self._send((taskid, dict(header, ids=[taskid]), buffers))  # failing here: not submitted
        if len(self._unanswered) >= UNANSWERED_MOST:
            self._answer(next(iter(self._unanswered)))
        return taskid

    def settle(self, timeout=None):
        """Wait until the controller has stored every task sent; raise what it refused.

        ``timeout`` bounds each wait for an answer (ControllerTimeout).
        """
        while True:
            self.send_kept()
            if not self._unanswered:
                return
            self._answer(next(iter(self._unanswered)), timeout)

    def _next_id(self):
        taskid = next(self._ids, None)
        if taskid is None:
            reply, _ = self.connection.call(messages.Lease.header(n=self._lease_size))
            first, end = reply["value"]
            self._lease_size = min(LEASE_MOST, 2 * self._lease_size)
            self._ids = iter(range(first, end))
            taskid = next(self._ids)
        return taskid

    def _send(self, task):
        rid = self.connection.request(task[1], task[2])
        self._unanswered[rid] = (task, self._generation())

    def _answer(self, rid, timeout=None):
        try:
            self.connection.wait(rid, timeout)
        except errors.ConnectionLost:
            self._keep(list(self._unanswered))  # all of them went down with the connection
            raise
        except errors.ControllerTimeout:
            raise  # still in flight: the answer may come later
        except Exception as e:
            taskid = self._unanswered.pop(rid)[0][0]
            raise _refused(e, taskid) from e
        del self._unanswered[rid]

    def send_kept(self):
        """Send again what went out on a connection that has since been replaced."""
        current = self._generation() if getattr(self.connection, "connected", True) else None
        self._keep([rid for rid, (_, sent_on) in self._unanswered.items() if sent_on != current])
        while self._unsent:
            self._send(self._unsent[0])
            self._unsent.pop(0)

    def _keep(self, rids):
        if rids:
            self._unsent = sorted(self._unsent + [self._unanswered.pop(rid)[0] for rid in rids])


_PIPELINES = weakref.WeakSet()


@atexit.register
def _settle_all():
    """A script that ends right after ``run()`` still gets its tasks stored."""
    for pipeline in list(_PIPELINES):
        try:
            pipeline.settle(timeout=EXIT_WAIT)
        except Exception:
            pass  # nothing left to tell it to


def _refused(e, taskid):
    message = f"task {taskid} was refused by the controller: {e}"
    try:
        return type(e)(message)
    except Exception:
        return errors.KernelError(message)
