#!/usr/bin/env python
# encoding: utf-8
"""A task farm, as in the IPython 0.10 examples helloworld.py and taskmap.py.

Needs a running controller and at least one engine (``ipcluster -n 4``).
Converted to Python 3 and nothing else.
"""

from IPython.kernel import client

tc = client.TaskClient()
mec = client.MultiEngineClient()

# helloworld.py
mec.execute('import time')
hello_taskid = tc.run(client.StringTask('time.sleep(3) ; word = "Hello,"', pull=('word')))
world_taskid = tc.run(client.StringTask('time.sleep(3) ; word = "World!"', pull=('word')))
print("Submitted tasks:", hello_taskid, world_taskid)
print(tc.get_task_result(hello_taskid, block=True).ns.word,
      tc.get_task_result(world_taskid, block=True).ns.word)

# taskmap.py
result = tc.map(lambda x: 2*x, list(range(10)))
print("Simple, default map: ", result)

m = tc.mapper(block=False, clear_after=True, clear_before=True)
tids = m.map(lambda x: 2*x, list(range(10)))
print("Submitted", len(tids), "tasks")
tc.barrier(tids)
result = [tc.get_task_result(tid) for tid in tids]
print("Using a mapper: ", result)


@tc.parallel()
def f(x):
    return 2*x


result = f(list(range(10)))
print("Using a parallel function: ", result)

# MapTask: a function and its arguments
def power(x, n=2):
    return x**n


taskids = [tc.run(client.MapTask(power, (x,), {'n': 3})) for x in range(5)]
tc.barrier(taskids)
print("Cubes:", [tc.get_task_result(tid) for tid in taskids])

# A StringTask that pushes, computes and pulls
tr = tc.get_task_result(tc.run(client.StringTask('c = a * b', push=dict(a=6, b=7), pull=['c'])),
                        block=True)
print("6 * 7 =", tr.ns.c)
