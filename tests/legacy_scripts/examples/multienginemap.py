# docs/examples/kernel/multienginemap.py of IPython 0.10.2, ported to Python 3.
# Changed from 0.10.2: the four print statements became print() calls, and the
# file ends with a newline. Nothing else.
from IPython.kernel import client

mec = client.MultiEngineClient()

result = mec.map(lambda x: 2*x, range(10))
print("Simple, default map: ", result)

m = mec.mapper(block=False)
pr = m.map(lambda x: 2*x, range(10))
print("Submitted map, got PendingResult: ", pr)
result = pr.r
print("Using a mapper: ", result)

@mec.parallel()
def f(x): return 2*x

result = f(range(10))
print("Using a parallel function: ", result)
