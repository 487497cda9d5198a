"""The joblib backend "kernel" against a real cluster of two engine processes over TLS."""

import os

import pytest

joblib = pytest.importorskip("joblib")

import kernel.joblib  # noqa: E402
from kernel import client  # noqa: E402


@pytest.fixture(scope="module")
def tc(cluster4):
    kernel.joblib.register()
    tc = client.TaskClient(cluster4.tc_furl)
    yield tc
    tc.close()


def where(x):
    import os

    return x * x, os.getpid()


def test_parallel_runs_on_the_engines(tc):
    before = len(tc.timeline())
    with joblib.parallel_config(backend="kernel", tc=tc):
        out = joblib.Parallel(n_jobs=-1)(joblib.delayed(where)(i) for i in range(100))
    assert [square for square, _ in out] == [i * i for i in range(100)]
    assert os.getpid() not in {pid for _, pid in out}
    assert len(tc.timeline()) > before  # as tasks (joblib batches them)


def test_n_jobs_counts_the_engines(tc):
    with joblib.parallel_config(backend="kernel", tc=tc):
        assert joblib.effective_n_jobs(-1) == 4
        assert joblib.effective_n_jobs(-2) == 3
        assert joblib.effective_n_jobs(2) == 2
        with pytest.raises(ValueError, match="n_jobs == 0"):
            joblib.Parallel(n_jobs=0)(joblib.delayed(abs)(1) for _ in range(2))


def test_the_first_failure_is_raised_with_its_type(tc):
    with joblib.parallel_config(backend="kernel", tc=tc):
        with pytest.raises(ZeroDivisionError):
            joblib.Parallel(n_jobs=-1)(joblib.delayed(lambda x: 1 / x)(i) for i in range(5))
        assert joblib.Parallel(n_jobs=-1)(joblib.delayed(abs)(-i) for i in range(3)) == [0, 1, 2]


def test_default_clients_from_the_security_directory(cluster4, monkeypatch):
    monkeypatch.setenv("IPYTHONDIR", str(cluster4.dir))
    with joblib.parallel_config(backend="kernel"):
        assert joblib.Parallel(n_jobs=-1)(joblib.delayed(abs)(-i) for i in range(8)) == list(range(8))


def test_grid_search_fits_on_the_engines(tc):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1, 10], "kernel": ["linear", "rbf"]}
    here = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
    before = len(tc.timeline())
    with joblib.parallel_config(backend="kernel", tc=tc):
        there = GridSearchCV(SVC(), grid, n_jobs=-1, cv=3).fit(X, y)
    ran = tc.timeline()[before:]
    assert ran and {r["engineid"] for r in ran} <= {0, 1, 2, 3}
    assert all(r["status"] == "succeeded" for r in ran)
    assert there.best_params_ == here.best_params_
    assert there.best_score_ == pytest.approx(here.best_score_)
