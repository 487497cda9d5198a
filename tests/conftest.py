"""Shared fixtures: real clusters in temporary directories, always cleaned up."""

import pytest

from tests.cluster import Cluster


@pytest.fixture
def cluster_factory(tmp_path):
    """Make clusters in fresh temp directories; every process is killed afterwards."""
    made = []

    def make(name="cluster", **kwargs):
        cluster = Cluster(tmp_path / name, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


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
    c = Cluster(tmp_path_factory.mktemp("cluster4"))
    c.start_controller()
    c.start_engines(4)
    yield c
    c.stop()
