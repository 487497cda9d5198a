#!/usr/bin/env python
# encoding: utf-8
"""A tour of the MultiEngineClient, as in the IPython 0.10 parallel docs.

Needs a running controller and at least two engines (``ipcluster -n 4``).
Converted to Python 3 and nothing else.
"""

from IPython.kernel import client

mec = client.MultiEngineClient()
print("Engine ids:", mec.get_ids())

# Quick and easy parallelism
serial_result = list(map(lambda x: x**10, range(32)))
parallel_result = mec.map(lambda x: x**10, range(32))
print("map agrees with the serial map:", serial_result == parallel_result)


@mec.parallel()
def f(x):
    return 10.0*x**4


print("Parallel function:", f(range(8)))

# Running Python code, and moving Python objects around
mec.execute('a=5')
mec.execute('b=10')
mec.execute('c=a+b', targets=0)
mec.execute('c=a-b', targets=1)
print("c on engines 0 and 1:", mec.pull('c', targets=[0, 1]))

mec.push(dict(a=1.03234, b=3453))
print("Pulled a:", mec.pull('a'))
print("Pulled (a, b) from engine 0:", mec.pull(('a', 'b'), targets=0))


def g(x):
    return 2.0*x**4


mec.push_function(dict(g=g))
mec.execute('y = g(4.0)')
print("g(4.0) on every engine:", mec.pull('y'))

mec['l'] = ['foo', 'bar']
print("Dictionary interface:", mec['l'][0])

# Scatter and gather: a parallel list comprehension
mec.scatter('x', range(64))
mec.execute('y = [i**10 for i in x]')
y = mec.gather('y')
print("Gathered:", len(y), "items, starting", y[:5])

# Non-blocking execution
pr = mec.execute('z = sum(x)', block=False)
pr.get_result()
print("Sum of the blocks:", sum(mec.pull('z')))

# Parallel exceptions
try:
    mec.execute('1/0')
except client.CompositeError as e:
    print("Caught a CompositeError from", len(e.elist), "engines")
    try:
        e.raise_exception()
    except ZeroDivisionError as inner:
        print("The first engine raised ZeroDivisionError:", inner)
