"""Versions exchanged on connecting, and which differences are warned of."""

import warnings

import pytest

from kernel import versions


def test_local_versions_name_kernel_python_cloudpickle_and_the_protocol():
    import platform

    import cloudpickle
    import kernel

    assert versions.local() == {"kernel": kernel.__version__, "python": platform.python_version(),
                                "cloudpickle": cloudpickle.__version__, "protocol": str(versions.PROTOCOL)}


def test_a_peer_that_tells_no_protocol_speaks_the_first_revision_only():
    assert versions.speaks({}, 1) and not versions.speaks({}, 2)
    assert versions.speaks({"protocol": "2"}, 2) and versions.speaks({"protocol": "3"}, 2)
    assert not versions.speaks({"protocol": "2"}, 3)
    assert versions.speaks({"protocol": "²"}, 1) and not versions.speaks({"protocol": "two"}, 2)  # junk: the first
    assert versions.speaks(versions.received(versions.local()), versions.PROTOCOL)


def test_a_peers_versions_are_kept_only_as_short_strings_of_known_fields():
    assert versions.received({"python": "3.11.7", "cloudpickle": 3, "os": "x", "kernel": "9" * 100}) == \
        {"python": "3.11.7", "kernel": "9" * 64}
    assert versions.received(["python"]) == {} == versions.received(None)


@pytest.mark.parametrize("theirs, named", [
    ({"python": "3.12.1", "cloudpickle": "3.1.3"}, ["Python 3.12.1 on engine 4, 3.11.7 on this client"]),
    ({"python": "3.11.7", "cloudpickle": "2.2.1"}, ["cloudpickle 2.2.1 on engine 4, 3.1.3 on this client"]),
    ({"python": "3.10.0", "cloudpickle": "4.0.0"}, ["Python 3.10.0", "cloudpickle 4.0.0"]),
])
def test_another_python_minor_or_cloudpickle_major_is_a_conflict_naming_both(theirs, named):
    mine = {"kernel": "0.1.0", "python": "3.11.7", "cloudpickle": "3.1.3"}
    sentence = versions.conflict(mine, theirs, "this client", "engine 4")
    assert all(part in sentence for part in named)


def test_bugfix_releases_and_unknown_versions_are_no_conflict():
    mine = {"kernel": "0.1.0", "python": "3.11.7", "cloudpickle": "3.1.3"}
    assert versions.conflict(mine, {"kernel": "0.2", "python": "3.11.2", "cloudpickle": "3.0.0"}, "a", "b") is None
    assert versions.conflict(mine, {}, "a", "b") is None


def test_a_mismatch_is_a_warning_of_its_own_category():
    theirs = dict(versions.local(), python="2.7.18")
    with pytest.warns(versions.VersionMismatchWarning, match="Python 2.7.18 on the controller"):
        versions.warn_of_mismatch(theirs, "the controller")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        versions.warn_of_mismatch(versions.local(), "the controller")
