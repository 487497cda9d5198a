"""The courier's end when its controller cannot come back (its delivery is tested in test_durability)."""

from kernel.client import courier


def test_a_spool_whose_furl_file_is_gone_is_set_aside_and_no_courier_starts_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    started = []
    monkeypatch.setattr(courier, "start_courier", started.append)
    gone = tmp_path / "removed-cluster" / "security" / "ipcontroller-tc.furl"
    path = courier.spool(str(gone), [(7, {"op": "run", "rid": 1}, [b"x"])])
    assert started == [path]
    assert courier.deliver(path, sleep=lambda s: None) == 1  # at once, not after a week of retries
    assert not path.exists() and path.with_suffix(courier.GAVE_UP).exists()
    courier.resume_orphans()
    assert started == [path]  # nothing more to pick up
