"""``IPython.kernel`` is ``kernel``: every 0.10 module and exception name, with or without a real IPython."""

import inspect
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from twisted.python.failure import Failure

import kernel
import kernel.client
import kernel.client.asyncclient
import kernel.errors
import kernel.magic
from kernel.client.asyncclient import AsyncMultiEngineClient, collect_exceptions, get_multiengine_client
from kernel.errors import BadFURLError
from tests.reactorcalls import ReactorCalls

REPO = Path(kernel.__file__).resolve().parent.parent
LEGACY = REPO / "legacy" / "IPython" / "kernel"

# every class of IPython/kernel/error.py in 0.10.2, in its order
ERROR_NAMES_0_10 = [
    "KernelError", "NotDefined", "QueueCleared", "IdInUse", "ProtocolError", "ConnectionError",
    "InvalidEngineID", "NoEnginesRegistered", "InvalidClientID", "InvalidDeferredID",
    "SerializationError", "MessageSizeError", "PBMessageSizeError", "ResultNotCompleted",
    "ResultAlreadyRetrieved", "ClientError", "TaskAborted", "TaskTimeout", "NotAPendingResult",
    "UnpickleableException", "AbortedPendingDeferredError", "InvalidProperty",
    "MissingBlockArgument", "StopLocalExecution", "SecurityError", "FileTimeoutError",
    "TaskRejectError", "CompositeError",
]
RENAMED = {"ConnectionError": "ConnectionLost", "UnpickleableException": "KernelRemoteError",
           "TaskRejectError": "UnmetDependency"}


def test_legacy_modules_are_the_kernel_modules():
    import IPython.kernel.magic
    from IPython.kernel import TaskRejectError, asyncclient, client, multiengineclient, task, taskclient
    from IPython.kernel.client import MapTask

    assert client is kernel.client
    assert asyncclient is kernel.client.asyncclient
    assert IPython.kernel.magic is kernel.magic
    assert (task, taskclient, multiengineclient) == (
        kernel.client.task, kernel.client.taskclient, kernel.client.multiengine)
    assert MapTask is kernel.client.MapTask
    assert TaskRejectError is kernel.errors.UnmetDependency


@pytest.mark.parametrize("name", ERROR_NAMES_0_10)
def test_every_0_10_error_name_is_the_one_kernel_raises(name):
    from IPython.kernel import error

    found = getattr(error, name)
    assert issubclass(found, kernel.errors.KernelError)
    if name == "CompositeError":
        assert found is kernel.client.CompositeError
    else:
        assert found is getattr(kernel.errors, RENAMED.get(name, name))
    assert name in error.__all__


def test_the_client_facade_names_the_same_error_classes():
    from IPython.kernel import error

    for name in ("InvalidDeferredID", "NotAPendingResult", "StopLocalExecution", "MissingBlockArgument"):
        assert getattr(kernel.client, name) is getattr(error, name)
    assert issubclass(error.ConnectionError, ConnectionError)  # the builtin too
    assert issubclass(error.NotAPendingResult, TypeError)
    assert issubclass(error.MissingBlockArgument, ValueError)
    assert issubclass(kernel.errors.DependencyTimeout, error.TaskTimeout)  # 0.10's dependency timeout


def test_not_defined_shows_its_name():
    e = kernel.errors.NotDefined("x")
    assert (e.name, e.args, repr(e), str(e)) == ("x", ("x",), "<NotDefined: x>", "<NotDefined: x>")


def test_no_such_task_is_the_key_error_of_0_10_and_an_index_error():
    e = kernel.errors.NoSuchTask("no tasks found for ids: 7")
    assert isinstance(e, KeyError) and isinstance(e, IndexError)


def test_collect_exceptions_passes_results_and_composes_failures():
    from IPython.kernel.error import CompositeError

    assert collect_exceptions([1, 2], "map") == [1, 2]
    inner = CompositeError("inner", [(KeyError, KeyError("k"), "tb k")])
    failures = [Failure(ZeroDivisionError("zero")), Failure(inner)]
    with pytest.raises(CompositeError) as raised:
        collect_exceptions([1, *failures], "map")
    assert raised.value.message == "one or more exceptions from call to method: map"
    assert [etype for etype, _, _ in raised.value.elist] == [ZeroDivisionError, KeyError]  # flattened
    assert "ZeroDivisionError" in raised.value.elist[0][2]


def test_get_client_factories_have_the_0_10_signature():
    for factory in (kernel.client.get_multiengine_client, kernel.client.get_task_client,
                    kernel.client.asyncclient.get_multiengine_client,
                    kernel.client.asyncclient.get_task_client):
        assert inspect.signature(factory).parameters["furl_or_file"].default == ""
    with pytest.raises(BadFURLError, match="not a FURL"):
        kernel.client.get_multiengine_client("nonsense-not-a-furl-or-file")
    with pytest.raises(BadFURLError, match="not a FURL"):
        kernel.client.get_task_client("nonsense-not-a-furl-or-file")


def test_async_client_fails_its_deferred_on_a_bad_furl_and_ends_its_thread():
    reactor = ReactorCalls()
    client = AsyncMultiEngineClient("nonsense-not-a-furl-or-file", reactor)
    with pytest.raises(BadFURLError):
        reactor.wait(client.connected())
    thread = client._thread.thread
    thread.join(30)
    assert not thread.is_alive()
    with pytest.raises(BadFURLError):
        reactor.wait(get_multiengine_client("nonsense-not-a-furl-or-file", reactor))


def test_async_client_refuses_an_unknown_deferred_id_at_once():
    from IPython.kernel.error import InvalidDeferredID

    d = AsyncMultiEngineClient("unused", ReactorCalls()).get_pending_deferred(42, block=True)
    failures = []
    d.addErrback(failures.append)
    assert failures and failures[0].check(InvalidDeferredID)


def test_real_ipython_is_left_alone():
    import IPython

    assert hasattr(IPython, "embed") and hasattr(IPython, "get_ipython")


def test_without_ipython_installed(tmp_path):
    """A site directory holding everything but IPython, plus the legacy package: the alias still works."""
    site = Path(sysconfig.get_paths()["purelib"])
    fake = tmp_path / "site"
    fake.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith("ipython"):
            (fake / entry.name).symlink_to(entry)
    shutil.copytree(LEGACY, fake / "IPython" / "kernel", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import IPython.kernel.client as c, IPython.kernel.magic, kernel.client, IPython;"
            "from IPython.kernel import asyncclient, error;"
            "assert c is kernel.client; assert not hasattr(IPython, 'embed');"
            "assert error.InvalidDeferredID is kernel.client.InvalidDeferredID; print('ok')")
    env = dict(os.environ, PYTHONPATH=f"{fake}{os.pathsep}{REPO}")
    result = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


def test_host_port_tuple_explains_furl_files():
    with pytest.raises(BadFURLError, match="ipcontroller-mec.furl"):
        kernel.client.MultiEngineClient(("127.0.0.1", 10105))
    with pytest.raises(BadFURLError, match="FURL file"):
        kernel.client.TaskClient(("127.0.0.1", 10113))
