"""The swarm program's checks and the file limit, without a controller."""

import io
import resource

from kernel.apps import common, swarm


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    return swarm.main(argv, out, err), err.getvalue()


def test_engines_must_be_a_whole_number_of_one_or_more():
    code, err = run(["--engines", "0"])
    assert code == 2 and "--engines: expected at least 1, not 0" in err


def test_more_engines_than_open_files_allow_is_refused_before_any_connects(monkeypatch, tmp_path):
    monkeypatch.setattr(common, "raise_file_limit", lambda: 1024)
    code, err = run(["--engines", "1000", "--ipythondir", str(tmp_path)])
    assert code == 2 and "1000 engines need 1064 open files" in err and "limit of 1024" in err
    assert not (tmp_path / "log").exists()


def test_the_soft_file_limit_is_raised_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lower = min(soft, 256)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lower, hard))
    try:
        assert common.raise_file_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
