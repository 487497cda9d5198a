"""Legacy IPython.kernel example scripts, converted to Python 3 and nothing else,
run unchanged as programs against a real cluster (a controller and two engines)."""

from tests.harness.scripts import SCRIPTS, run_script


def test_the_scripts_import_the_legacy_names():
    for script in SCRIPTS.glob("*.py"):
        assert "from IPython.kernel import " in script.read_text(), script.name


def test_the_multiengine_tour(cluster, tmp_path):
    assert run_script("multiengine_tour.py", cluster, tmp_path) == [
        "Engine ids: [0, 1]",
        "map agrees with the serial map: True",
        "Parallel function: [0.0, 10.0, 160.0, 810.0, 2560.0, 6250.0, 12960.0, 24010.0]",
        "c on engines 0 and 1: [15, -5]",
        "Pulled a: [1.03234, 1.03234]",
        "Pulled (a, b) from engine 0: [[1.03234, 3453]]",
        "g(4.0) on every engine: [512.0, 512.0]",
        "Dictionary interface: ['foo', 'bar']",
        "Gathered: 64 items, starting [0, 1, 1024, 59049, 1048576]",
        "Sum of the blocks: 2016",
        "Caught a CompositeError from 2 engines",
        "The first engine raised ZeroDivisionError: division by zero",
    ]
