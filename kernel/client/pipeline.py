"""Submitting tasks without waiting for each answer, and never losing one.

``run()`` needs a task id at once. Waiting a round trip per task for the
controller to pick one halves the rate at which a loop of ``run()`` calls can
submit, so the client leases blocks of ids instead (the controller records
each lease on disk before giving it out, so no id is ever given twice, also
across restarts) and names its tasks itself.

An id ``run()`` returned is never lost while the submitting machine lives.
The controller answers a submission once the task is in its store; until
then the client keeps the task, and:

- a keeper thread, while any task is unanswered and no call is using the
  connection, reads the answers that came and, if the connection dropped
  (the controller was killed), reconnects and sends the kept tasks again
  under the same ids (the controller accepts an id once), with backoff until
  the controller is back: the script need not call again;
- every other call of the TaskClient first waits for those answers, so a
  submission the controller refused is reported by the next call, naming it
  (the controller remembers the refusal too: a future of that task, or any
  client asking about its id, gets it at once; ``kernel.controller.refusals``).
  A future's own task is not reported again by the next call: its future
  asked for it right after sending it, so it has the refusal already;
- when the script ends, it waits up to the ``client.exit_wait`` setting for
  the answers; what is still unanswered then goes to a courier process
  (``courier.py``) that outlives the script and delivers it once the
  controller is back.
"""

import atexit
import threading
import time
import weakref

from kernel import config, errors, paths
from kernel.client import courier
from kernel.wire import messages

LEASE_FIRST = 16  # ids in the first lease; each next lease doubles, up to LEASE_MOST
LEASE_MOST = 1024
UNANSWERED_MOST = 512  # submissions in flight; beyond this, run() waits for the oldest answer
KEEP_PERIOD = 0.5  # seconds between the keeper's looks while tasks are unanswered
RECONNECT_MOST = 8.0  # the keeper's longest wait between attempts to reach a controller that is down
KEEPER_IDLE = 60.0  # seconds an idle keeper sleeps before it checks that its client still exists


class Pipeline:
    def __init__(self, connection):
        self.connection = connection
        self._ids = iter(())
        self._lease_size = LEASE_FIRST
        self._store = None  # the identity of the task store that leased the ids
        self._unanswered = {}  # request id -> (task, connection generation it was sent on)
        self._unsent = []  # tasks to send again, (taskid, header, buffers) by id
        self._refused = []  # refusals the keeper read, raised by the next call
        self._unreported = set()  # ids of tasks whose refusal their future reports, not the next call
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._keeper = None
        _PIPELINES.add(self)
        courier.resume_orphans()  # tasks a dead courier (or a restarted machine) left in the spool

    def _generation(self):
        return getattr(self.connection, "generation", 0)

    def submit(self, header, buffers, report=True):
        """Send one task's ``run`` request under a leased id; return the id.

        ``report=False``: a refusal is not raised by the next call (the
        task's future, which asks for its outcome at once, gets it).
        """
        with self._lock:
            self.send_kept()
            taskid = self._next_id()
            self._send((taskid, dict(header, ids=[taskid], store=self._store), buffers))  # failing: not submitted
            if not report:
                self._unreported.add(taskid)
            _UNSETTLED.add(self)  # kept alive, even if its client is dropped, until every task is stored
            if len(self._unanswered) >= UNANSWERED_MOST:
                self._answer(next(iter(self._unanswered)))
        self._keep_watch()
        return taskid

    def settle(self, timeout=None):
        """Wait until the controller has stored every task sent; raise what it refused.

        ``timeout`` bounds each wait for an answer (ControllerTimeout).
        """
        with self._lock:
            while True:
                if self._refused:
                    raise self._refused.pop(0)
                self.send_kept()
                if not self._unanswered:
                    _UNSETTLED.discard(self)
                    return
                self._answer(next(iter(self._unanswered)), timeout)

    def pending(self):
        """The tasks not yet stored, as ``(taskid, header, buffers)``."""
        with self._lock:
            return sorted(self._unsent + [task for task, _ in self._unanswered.values()])

    def _next_id(self):
        taskid = next(self._ids, None)
        if taskid is None:
            reply, _ = self.connection.call(messages.Lease.header(n=self._lease_size))
            first, end, self._store = reply["value"]
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
            if isinstance(e, errors.StaleLease):
                self._ids = iter(())  # the rest of that block is stale too: lease afresh
            if taskid in self._unreported:
                self._unreported.discard(taskid)
                return
            raise _refused(e, taskid) from e
        self._unreported.discard(self._unanswered.pop(rid)[0][0])

    def send_kept(self):
        """Send again what went out on a connection that has since been replaced."""
        with self._lock:
            current = self._generation() if getattr(self.connection, "connected", True) else None
            if self._unanswered and next(iter(self._unanswered.values()))[1] != current:
                # in the order sent, so the oldest on the oldest connection: when it is on the
                # current one, they all are (a look at one, not at up to UNANSWERED_MOST, per run())
                self._keep([rid for rid, (_, sent_on) in self._unanswered.items() if sent_on != current])
            while self._unsent:
                self._send(self._unsent[0])
                self._unsent.pop(0)

    def _keep(self, rids):
        if rids:
            self._unsent = sorted(self._unsent + [self._unanswered.pop(rid)[0] for rid in rids])

    # -- the keeper ------------------------------------------------------------------

    def _keep_watch(self):
        """Start the keeper thread once; wake it when there is something to keep."""
        if self._keeper is None:
            self._keeper = threading.Thread(target=_keep, args=(weakref.ref(self),), daemon=True,
                                            name="kernel-task-keeper")
            self._keeper.start()
        if not self._wake.is_set():  # set once per round of the keeper, not once per task
            self._wake.set()

    def _tend(self):
        """Take in the answers that came; after a lost connection, reconnect and send again.

        Returns whether every task is stored; False too when a call was using
        the pipeline or the connection (the keeper looks again soon).
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            settled = self.connection.if_idle(self._take_answers) and not (self._unanswered or self._unsent)
            if settled:
                _UNSETTLED.discard(self)
            return settled
        finally:
            self._lock.release()

    def _take_answers(self):
        self.connection.drain()
        for rid in [rid for rid in self._unanswered if self.connection.ready(rid)]:
            try:
                self._answer(rid)
            except errors.ConnectionLost:
                raise
            except Exception as e:
                self._refused.append(e)
        self.send_kept()


def _keep(ref):
    """The keeper thread: tends one pipeline while it has unanswered tasks, backing off while the
    controller is down; sleeps while there is nothing to keep; ends with its pipeline."""
    delay = KEEP_PERIOD
    while True:
        pipeline = ref()
        if pipeline is None:
            return
        wake = pipeline._wake
        wake.clear()  # a task submitted from here on wakes the wait below
        try:
            settled = pipeline._tend()
            delay = KEEP_PERIOD
        except (errors.ConnectionLost, OSError):
            settled, delay = False, min(RECONNECT_MOST, 2 * delay)
        del pipeline  # the thread must not keep its pipeline alive
        if settled:
            wake.wait(KEEPER_IDLE)
        else:
            time.sleep(delay)


_PIPELINES = weakref.WeakSet()
_UNSETTLED = set()  # pipelines with tasks not yet stored: alive until they are, their client dropped or not


@atexit.register
def _settle_all():
    """A script that ends right after ``run()`` still gets its tasks stored, or handed to a courier."""
    waiting = [pipeline for pipeline in set(_PIPELINES) | _UNSETTLED if pipeline.pending()]
    if waiting:
        wait = config.load(paths.ipython_dir(), "client").exit_wait
        for pipeline in waiting:
            settle_or_hand_over(pipeline, wait)


def settle_or_hand_over(pipeline, wait):
    """Wait up to ``wait`` seconds for the controller to store ``pipeline``'s tasks; spool the rest."""
    deadline = time.monotonic() + wait
    delay = KEEP_PERIOD
    while time.monotonic() < deadline:
        try:
            pipeline.settle(timeout=max(0.0, deadline - time.monotonic()))
            return
        except (errors.ConnectionLost, errors.ControllerTimeout, OSError):
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(RECONNECT_MOST, 2 * delay)
        except Exception:
            pass  # a refusal: reported nowhere now; the others still go
    left = pipeline.pending()
    if left:
        courier.spool(pipeline.connection.source, left)


def _refused(e, taskid):
    message = f"task {taskid} was refused by the controller: {e}"
    try:
        return type(e)(message)
    except Exception:
        return errors.KernelError(message)
