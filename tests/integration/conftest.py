"""Fixtures of the integration tests beyond tests/conftest.py's clusters."""

import pytest

from tests.harness import wait_for


@pytest.fixture
def mec(cluster4):
    """A client on the module's four engines (all registered), their namespaces and counters reset."""
    mec = cluster4.client()
    wait_for(lambda: mec.get_ids() == [0, 1, 2, 3], what="4 engines")
    mec.reset()
    yield mec
    mec.close()
