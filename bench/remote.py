"""The functions the workloads send to engines, made to travel by value.

They are compiled with ``__name__ == "__main__"`` (into a namespace of their
own, not the real ``__main__``), so cloudpickle (kernel, dask) ships their
code by value and ipyparallel's canning finds their module on the engine;
engines never need to import ``bench``.
"""

SOURCE = '''
def noop(*args, **kwargs):
    return None

pow10 = lambda x: x**10

def echo(x):
    return x

def spin(seconds):
    """Busy for ``seconds`` of this thread's CPU time (a CPU-bound task of a known size)."""
    import time

    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

def nap(seconds):
    """Asleep for ``seconds``: a task that needs no core, so that many engines on few cores
    still show how well their scheduler keeps them fed."""
    import time

    time.sleep(seconds)
'''

_namespace = {"__name__": "__main__"}
exec(compile(SOURCE, "<bench remote functions>", "exec"), _namespace)

noop = _namespace["noop"]
pow10 = _namespace["pow10"]
echo = _namespace["echo"]
spin = _namespace["spin"]
nap = _namespace["nap"]
