# docs/source/parallel/parallel_mpi.txt of IPython 0.10.2 ("Save the following
# text in a file called psum.py"), ported to Python 3.
# Changed from 0.10.2: `MPI.COMM_WORLD.Allreduce(s,MPI.SUM)` became
# `MPI.COMM_WORLD.allreduce(s,MPI.SUM)`: mpi4py's upper-case Allreduce now takes
# buffers (sendbuf, recvbuf, op) and refuses a number ("expecting buffer or
# list/tuple"); the lower-case one reduces Python objects, as the old one did.
# Nothing else.
from mpi4py import MPI
import numpy as np

def psum(a):
    s = np.sum(a)
    return MPI.COMM_WORLD.allreduce(s,MPI.SUM)
