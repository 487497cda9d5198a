"""A joblib backend that runs joblib's calls as tasks on the engines (``pip install 'kernel[joblib]'``).

    import joblib
    import kernel.joblib

    kernel.joblib.register()                       # the backend "kernel"
    with joblib.parallel_config(backend="kernel"):
        joblib.Parallel(n_jobs=-1)(joblib.delayed(f)(i) for i in range(100))

Inside the block, whatever uses joblib runs there too: scikit-learn's
``GridSearchCV(..., n_jobs=-1)`` fits its candidates on the engines.
``n_jobs=-1`` (or None) means every engine, ``-2`` all but one, a positive
number that many calls in flight at once. joblib batches small calls itself
(its auto-batching), and each batch is one MapTask of ``tc.executor()``.

The clients come from the security directory (``$IPYTHONDIR``), or pass
your own: ``parallel_config(backend="kernel", tc=tc, mec=mec)``. ``mec``
only counts the engines; without one, the multiengine FURL file beside the
task client's is used.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
from joblib.parallel import AutoBatchingMixin

from kernel import paths
from kernel.errors import NoEnginesRegistered

__all__ = ["KernelBackend", "register"]


def register(name="kernel", make_default=False):
    """Register the backend with joblib as ``name``."""
    joblib.register_parallel_backend(name, KernelBackend, make_default=make_default)


class KernelBackend(AutoBatchingMixin, joblib.ParallelBackendBase):
    """Each batch of joblib calls a task, load balanced over the engines."""

    supports_retrieve_callback = True
    default_n_jobs = -1

    def __init__(self, tc=None, mec=None, nesting_level=None, inner_max_num_threads=None, **backend_kwargs):
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads,
                         **backend_kwargs)
        self._given = {"tc": tc, "mec": mec}
        self._made = {}
        self._executor = None
        self._callbacks = None  # the thread joblib's callbacks run on (see submit)

    def _client(self, kind):
        """The given client of ``kind`` ('tc' or 'mec'), else one made (and later closed) here."""
        if self._given[kind] is not None:
            return self._given[kind]
        if kind not in self._made:
            from kernel import client

            if kind == "tc":
                self._made[kind] = client.TaskClient()
            else:
                self._made[kind] = client.MultiEngineClient(self._mec_furl())
        return self._made[kind]

    def _mec_furl(self):
        """The multiengine FURL file beside the task client's, if it has one (else the default)."""
        tc = self._given["tc"]
        source = getattr(getattr(tc, "_connection", None), "source", None) if tc is not None else None
        if source and not source.startswith("pb://"):
            beside = Path(source).with_name(paths.MEC_FURL)
            if beside.exists():
                return str(beside)
        return ""

    def effective_n_jobs(self, n_jobs):
        """How many calls run at once: every engine for -1 (or None), all but one for -2, ..."""
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is not None and n_jobs > 0:
            return n_jobs
        engines = len(self._client("mec").get_ids())
        if not engines:
            raise NoEnginesRegistered("the kernel joblib backend found no engines registered with the "
                                      "controller: start some (ipengine, ipcluster) first")
        return max(engines + 1 + (-1 if n_jobs is None else n_jobs), 1)

    def configure(self, n_jobs=1, parallel=None, **backend_kwargs):
        n_jobs = self.effective_n_jobs(n_jobs)
        self.parallel = parallel
        self._executor = self._client("tc").executor()
        if self._callbacks is None:
            self._callbacks = ThreadPoolExecutor(1, thread_name_prefix="kernel-joblib-callbacks")
        return n_jobs

    def submit(self, func, callback=None):
        future = self._executor.submit(func)
        if callback is not None:
            # Not on the client's reader thread, which settles the future: joblib's callback takes the
            # Parallel's lock, which its main thread holds while it submits, and a submit may wait for
            # that reader (a lease of task ids). Run there, the two waited for each other for ever.
            future.add_done_callback(lambda done: self._call_back(callback, done))
        return future

    def _call_back(self, callback, future):
        try:
            self._callbacks.submit(callback, future)
        except RuntimeError:  # shut down: the Parallel call is over, and nobody waits for this one
            pass

    def retrieve_result_callback(self, future):
        return future.result()

    def abort_everything(self, ensure_ready=True):
        """A call failed: the tasks not finished are aborted."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        if ensure_ready:
            self._executor = self._client("tc").executor()

    def terminate(self):
        """The Parallel call is over: the clients made here are closed (made again if needed)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._callbacks is not None:
            self._callbacks.shutdown(wait=False)
            self._callbacks = None
        for made in self._made.values():
            made.close()
        self._made = {}
        self.reset_batch_stats()
