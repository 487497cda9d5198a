"""A real controller's log rotates at the size [log] sets, keeping [log] backups of it."""

from kernel import paths

MAX_SIZE = 300  # bytes: the controller's first lines (three FURL files written) fill more


def test_the_controller_log_rotates_past_its_size_and_keeps_its_backups(cluster_factory, monkeypatch):
    monkeypatch.setenv("KERNEL_LOG_MAX_SIZE", str(MAX_SIZE))
    monkeypatch.setenv("KERNEL_LOG_BACKUPS", "1")
    c = cluster_factory("logs")
    c.start_controller()
    c.start_engines(1)
    name = f"ipcontroller-{c.controller.pid}.log"
    files = sorted(p.name for p in paths.log_dir(c.dir).glob("ipcontroller-*"))
    assert files == [name, f"{name}.1"]
    rotated = (paths.log_dir(c.dir) / f"{name}.1").read_text()
    assert MAX_SIZE <= len(rotated) < 2 * MAX_SIZE and rotated.endswith("\n")
