"""docs/examples/quickstart.ipynb runs from top to bottom in a real Jupyter kernel (nbclient).

The notebook starts its own cluster (kernel.cluster.Cluster, engine processes
over TLS) and stops it in its last cell.
"""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "examples" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The notebook's code cells, executed: ``{first line of the source: cell}``."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    manager = KernelManager(kernel_name="python3", transport="ipc",
                            ip=str(tmp_path_factory.mktemp("kernel-ipc") / "kernel"))
    nbclient.NotebookClient(nb, timeout=180, km=manager,
                            resources={"metadata": {"path": str(tmp_path_factory.mktemp("notebook"))}}).execute()
    return {cell.source.splitlines()[0]: cell for cell in nb.cells if cell.cell_type == "code"}


def _text(cell):
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def test_every_cell_runs_and_only_the_tagged_one_raises(ran):
    errors = [first for first, cell in ran.items() if any(o.output_type == "error" for o in cell.outputs)]
    assert errors == [first for first, cell in ran.items() if "raises-exception" in cell.metadata.get("tags", [])]
    assert _text(ran["from kernel.cluster import Cluster"]) == "[0, 1]"


def test_px_runs_on_the_engines(ran):
    out = _text(ran['%px print(f"engine {id} is process {pid}")'])
    assert "Parallel execution on engines: all" in out
    assert "[0] Out[" in out and "[1] Out[" in out and "engine 1 is process" in out


def test_px_stream_shows_every_engines_lines(ran):
    out = _text(ran["%px --stream import time; [print(f'step {i} of engine {id}', flush=True) or time.sleep(0.1) "
                    "for i in range(3)];"])
    assert all(f"[stdout:{e}] step {i} of engine {e}\n" in out for e in (0, 1) for i in range(3)), out


def test_the_map_shows_the_notebook_progress_widget(ran):
    cell = ran["squares = tc.map(lambda x: x ** 2, range(200), progress=True)"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs)
    assert _text(cell).endswith("[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]")


def test_awaited_futures_give_their_values(ran):
    assert _text(ran["future = tc.submit(sum, range(10))"]) == "45"
    assert _text(ran["import asyncio"]) == "1024"


def test_a_remote_error_shows_the_engine_and_its_frames(ran):
    [error] = [o for o in ran['mec.execute("def inverse(x):\\n    return 1 / x\\ninverse(0)", targets=0)'].outputs
               if o.output_type == "error"]
    assert error.ename == "CompositeError"
    shown = "\n".join(error.traceback)
    assert "[engine 0:execute] remote traceback:" in shown
    assert "in inverse" in shown and "ZeroDivisionError: division by zero" in shown


def test_the_timeline_is_a_picture(ran):
    assert any("image/png" in o.get("data", {}) for o in ran["tc.plot_timeline()"].outputs)
