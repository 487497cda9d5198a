"""The scale bench's own parts: its options, the memory guard, busy efficiency, the plain processes
beside the napping map and the table over rounds."""

import argparse

import pytest

from bench.procs import stolen_share
from bench.scale.__main__ import engine_counts, parse, workload_names
from bench.scale.sweep import available_memory, memory_note
from bench.scale.table import per_round, render, spread
from bench.remote import nap
from bench.scale.workloads import ScaleConfig, bare_run, chosen, efficiency, floor
from bench.timing import MB


def test_engine_counts_keep_order_and_drop_repeats():
    assert engine_counts("2, 8,14,8") == [2, 8, 14]
    assert parse(["--engines", "100,2"]).engines == [100, 2]


@pytest.mark.parametrize("text", ["", "2,x", "0", "2,-1"])
def test_bad_engine_counts_say_what_is_wrong(text):
    with pytest.raises(argparse.ArgumentTypeError, match="engine|whole numbers"):
        engine_counts(text)


def test_only_names_workloads_of_the_scale_bench():
    assert workload_names("broadcast, idle,broadcast") == ["broadcast", "idle"]
    assert parse(["--only", "engine_memory"]).only == ["engine_memory"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown workload bogus: choose from engine_memory"):
        workload_names("broadcast,bogus")


def test_memory_guard_skips_only_what_does_not_fit():
    gib = 2**30
    assert memory_note(100, 50 * MB, 20 * gib) is None
    note = memory_note(100, 250 * MB, 20 * gib)
    assert "100 engines need about 24.4 GiB" in note and "20.0 GiB available" in note
    assert memory_note(1000, 250 * MB, None) is None  # unknown: try


def test_available_memory_reads_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100 kB\nMemAvailable:   2048 kB\n")
    assert available_memory(str(meminfo)) == 2048 * 1024
    assert available_memory(str(tmp_path / "missing")) is None


def test_busy_efficiency_is_ideal_wall_over_real():
    # 14 engines × 200 tasks of 5 ms: 1 s if every engine is busy throughout
    assert efficiency(2800, 0.005, 14, 1.0) == pytest.approx(1.0)
    assert efficiency(2800, 0.005, 14, 1.25) == pytest.approx(0.8)


def test_spread_is_median_and_range_over_rounds():
    assert spread([], "µs") == "–"
    assert spread([0.9], "") == "0.90"
    assert spread([3000.0, 1000.0, 2000.0], "tasks/s") == "2,000 (1,000–3,000)"


def _run(system, engines, rnd, **values):
    return {"system": system, "engines": engines, "round": rnd, "load_before": [1.0, 1, 1], "load_after": [2.0, 1, 1],
            "metrics": {k.replace("__", "."): {"value": v} for k, v in values.items()}, "details": {}}


def test_ratios_pair_values_of_the_same_round():
    runs = [_run("kernel", 2, 1, legacy__rate=3000), _run("ray", 2, 1, legacy__rate=1500),
            _run("kernel", 2, 2, legacy__rate=2000), _run("ray", 2, 2, legacy__rate=2000),
            _run("kernel", 2, 3, legacy__rate=2000)]  # Ray did not run in round 3
    assert per_round(runs, "legacy.rate", ("kernel", 2), ("ray", 2)) == [2.0, 1.0]


def test_render_has_a_row_per_system_and_count_notes_and_goals():
    runs = [_run("kernel", 2, 1, one_by_one__scheduler_cpu=100.0, busy__efficiency=0.9),
            _run("kernel", 100, 1, one_by_one__scheduler_cpu=150.0),
            {"system": "ray", "engines": 2, "round": 1, "note": "ray is not installed"}]
    text = render({"started": "2026-12-04T20:00:00", "machine": {"machine": "x86_64", "cpus": 2, "python": "3.11"},
                   "options": {"rounds": 1, "quick": False}, "runs": runs, "versions": {"kernel": "0.1"}})
    rows = [line for line in text.splitlines() if line.startswith("| kernel")]
    assert len(rows) == 2 and "| 100 |" in rows[1]
    assert "at 100 engines ÷ at 2: 1.50" in text
    assert "busy efficiency at 2 engines: 0.90" in text
    assert "ray × 2: not run: ray is not installed" in text


def test_busy_efficiency_is_also_given_for_the_rounds_the_hypervisor_left_alone():
    runs = [_run("kernel", 2, rnd, busy__efficiency=eff) for rnd, eff in enumerate((0.95, 0.80, 0.93), 1)]
    for run, steal in zip(runs, (0.0, 0.12, None)):  # None: not known (no /proc/stat)
        run["details"]["busy"] = {"steal": steal}
    text = render({"started": "2026-12-04T20:00:00", "machine": {"machine": "x86_64", "cpus": 2, "python": "3.11"},
                   "options": {"rounds": 3, "quick": False}, "runs": runs, "versions": {"kernel": "0.1"}})
    assert "busy efficiency at 2 engines: 0.93 (0.80–0.95); in the 2 of 3 rounds with under 1% steal: " \
           "0.94 (0.93–0.95)" in text


def test_napping_efficiency_over_plain_processes_has_a_goal_line_at_each_count():
    runs = [_run("kernel", n, 1, nap__relative=r) for n, r in ((2, 0.97), (14, 0.99))]
    text = render({"started": "2026-12-04T20:00:00", "machine": {"machine": "x86_64", "cpus": 2, "python": "3.11"},
                   "options": {"rounds": 1, "quick": False}, "runs": runs, "versions": {"kernel": "0.1"}})
    assert "napping efficiency at 2 engines over plain processes': 0.97" in text
    assert "napping efficiency at 14 engines over plain processes': 0.99" in text


def test_bare_run_waits_for_every_process_to_finish_its_calls():
    assert bare_run(nap, 3, 4, 0.01) >= 0.04  # each of the three sleeps 4 × 10 ms


def test_the_machines_stolen_share_is_read_from_its_cpu_times():
    before = [100, 0, 50, 800, 0, 0, 0, 10]
    assert stolen_share(before, [160, 0, 80, 900, 0, 0, 0, 20]) == 10 / 200
    assert stolen_share(None, before) is None and stolen_share(before, before) is None


def test_the_engines_memory_is_measured_whatever_is_chosen():
    assert [w.name for w in chosen(ScaleConfig(only=["broadcast"]))] == ["engine_memory", "broadcast"]


def test_a_broadcasts_floor_is_its_busiest_process_or_all_its_work_spread_over_the_cores():
    assert floor(1000.0, 12000.0, 16) == 1000.0  # one process's serial share bounds it
    assert floor(1000.0, 32000.0, 16) == 2000.0  # the cores are too few for all the work sooner
    assert floor(1000.0, 32000.0) == floor(1000.0, 32000.0, 16)


def test_the_broadcast_goal_line_gives_each_kernels_time_its_serial_share_and_floor():
    runs = [_run(system, 100, 1, broadcast__median=median, broadcast__busiest_cpu_per_engine=busiest,
                 broadcast__floor=low)
            for system, median, busiest, low in (("kernel", 9000.0, 28.0, 2800.0),
                                                 ("kernel-relays", 11000.0, 10.5, 1300.0))]
    text = render({"started": "2026-12-05T20:00:00", "machine": {"machine": "x86_64", "cpus": 2, "python": "3.11"},
                   "options": {"rounds": 1, "quick": False}, "runs": runs, "versions": {"kernel": "0.1"}})
    assert "kernel broadcast no-op to 100 engines: 9,000 µs" in text
    assert "kernel-relays broadcast no-op to 100 engines: 11,000 µs" in text
    assert "kernel busiest scheduling process's CPU per broadcast to 100 engines: 2,800 µs" in text
    assert "kernel-relays busiest scheduling process's CPU per broadcast to 100 engines: 1,050 µs" in text
    assert "kernel-relays broadcast's floor on 16 cores at 100 engines: 1,300 µs" in text

