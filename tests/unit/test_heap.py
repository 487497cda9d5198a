"""The controller's malloc tuning: applied on glibc, a quiet no-op elsewhere."""

import ctypes
import platform

import pytest

from kernel.controller import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's thresholds are glibc's")
def test_glibc_takes_both_thresholds():
    assert heap.keep_buffers_on_the_heap() is True


def test_without_mallopt_nothing_is_changed(monkeypatch):
    class NoMallopt:
        def __init__(self, name):
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert heap.keep_buffers_on_the_heap() is False
