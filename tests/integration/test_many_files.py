"""A client in a process that holds more than 1,024 open files still works."""

import os
import resource

import pytest


def test_a_client_works_with_file_descriptors_past_1024(cluster, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard limit on open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        mec = cluster.client()  # its socket's descriptor is above 1,024
        assert mec.execute("x = 1", block=False).get_result() is not None
        assert mec.pull("x") == [1, 1]
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
