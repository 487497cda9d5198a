"""Clients, the controller and engines tell each other their versions when they connect."""

import platform
import re
import warnings

import pytest

from kernel import furl as furls
from kernel import versions
from kernel.tls import connect_pinned
from kernel.wire import framing
from kernel.wire.greeting import greeting
from tests.harness import wait_for


def register_an_engine_claiming(cluster, claimed):
    """An engine process of another installation, as far as the controller can tell."""
    furl = furls.load(cluster.engine_furl)
    sock = connect_pinned(furl.hints, furl.tubid, 10)
    sock.sendall(greeting(furl.swissnum))
    for part in framing.encode({"op": "register", "pid": 1, "host": "elsewhere", "versions": claimed}):
        sock.sendall(part)
    return sock


def test_every_engines_versions_are_shown_and_matching_ones_raise_no_warning(cluster):
    with warnings.catch_warnings():
        warnings.simplefilter("error", versions.VersionMismatchWarning)
        mec = cluster.client()
        assert mec.get_versions() == {0: versions.local(), 1: versions.local()}


def test_an_engine_of_another_python_is_warned_of_by_client_and_controller(cluster):
    mec = cluster.client()
    claimed = dict(versions.local(), python="3.99.0")
    sock = register_an_engine_claiming(cluster, claimed)
    try:
        wait_for(lambda: len(mec.get_ids()) == 3, what="the third engine")
        here = f"Python 3.99.0 on engine 2, {platform.python_version()} on this client"
        with pytest.warns(versions.VersionMismatchWarning, match=re.escape(here)):
            assert mec.get_versions()[2] == claimed
        log = cluster.log(cluster.controller)
        wait_for(lambda: "Python 3.99.0 on engine 2" in log.read_text(), what="the controller's warning")
    finally:
        sock.close()
