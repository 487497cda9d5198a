"""Shared fixtures: real clusters in temporary directories, always cleaned up (see tests/harness)."""

import os

import pytest

from tests.harness import ProcessCluster, World


@pytest.fixture(autouse=True, scope="session")
def private_default_dir(tmp_path_factory):
    """The default cluster directory (IPYTHONDIR) of every test and every process it starts is a temp one,
    so nothing lands in ~/.ipython: a client's spool at exit, a cluster started with no directory named."""
    saved = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = str(tmp_path_factory.mktemp("default-ipythondir"))
    yield
    if saved is None:
        del os.environ["IPYTHONDIR"]
    else:
        os.environ["IPYTHONDIR"] = saved


@pytest.fixture
def cluster_factory(tmp_path):
    """Make clusters in fresh temp directories; every process is killed afterwards."""
    made = []

    def make(name="cluster", **kwargs):
        cluster = ProcessCluster(tmp_path / name, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture
def world_factory(tmp_path):
    """Make in-process clusters on a virtual clock (``World``) in temp directories; all stopped afterwards.

    ``make(name)`` with a name already used opens that directory again: a restarted controller.
    """
    made = []

    def make(name=None, **options):
        world = World(tmp_path / (name or f"world{len(made)}"), **options)
        made.append(world)
        return world

    yield make
    for world in made:
        world.stop()


@pytest.fixture
def cluster(cluster_factory):
    """A controller with two engines."""
    c = cluster_factory()
    c.start_controller()
    c.start_engines(2)
    return c


@pytest.fixture(scope="module")
def cluster4(tmp_path_factory):
    """A controller with four engines, shared by one test module."""
    c = ProcessCluster(tmp_path_factory.mktemp("cluster4"))
    try:
        c.start_controller()
        c.start_engines(4)
        yield c
    finally:
        c.stop()
