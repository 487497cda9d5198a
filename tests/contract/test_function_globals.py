"""One rule for a user function's global names on an engine, whichever interface runs it.

``mec.map``, ``mec.push`` and ``tc.map`` (a MapTask) all run a function that
travelled as code with the engine's namespace as its globals, as 0.10's
engines did (``FunctionType(code, user_ns)``): a name the engine defines wins,
and a ``global`` statement writes there; a global the function brought from
the client fills in a name the engine lacks, and stays there.
"""

from pathlib import Path

import pytest

from kernel import client, paths

CLIENT_ONLY = "client"  # read by the function, defined here only
BOTH = "client"  # defined here and on the engines: the engine's wins


def reads_globals(x):
    return x, ENGINE_ONLY, CLIENT_ONLY, BOTH, id  # noqa: F821 - ENGINE_ONLY and id are the engines'


def counts_calls(x):
    global calls
    calls = calls + 1  # noqa: F821 - the engines' counter
    return calls


ENGINE_GLOBALS = "ENGINE_ONLY = 'engine'; BOTH = 'engine'; calls = 0"

MAPS = [
    pytest.param(lambda mec, tc, f, seq: mec.map(f, seq), id="mec.map"),
    pytest.param(lambda mec, tc, f, seq: tc.map(f, seq), id="tc.map"),
    pytest.param(lambda mec, tc, f, seq: [tc.run(client.MapTask(f, (x,)), block=True) for x in seq],
                 id="MapTask"),
]


@pytest.fixture
def tc(backend):
    tc = client.TaskClient(str(Path(backend.mec_furl).with_name(paths.TC_FURL)))
    yield tc
    tc.close()


@pytest.mark.parametrize("run_map", MAPS)
def test_the_engines_names_first_then_the_functions_own(mec, tc, run_map):
    mec.execute(ENGINE_GLOBALS)
    results = run_map(mec, tc, reads_globals, range(8))
    assert [r[:4] for r in results] == [(x, "engine", "client", "engine") for x in range(8)]
    ran_on = sorted({r[4] for r in results})
    assert mec.pull("CLIENT_ONLY", targets=ran_on) == ["client"] * len(ran_on)  # added where free
    assert mec.pull("BOTH") == ["engine"] * 4  # and nothing overwritten


@pytest.mark.parametrize("run_map", MAPS)
def test_a_global_statement_writes_to_the_engine_namespace(mec, tc, run_map):
    mec.execute(ENGINE_GLOBALS)
    run_map(mec, tc, counts_calls, range(8))
    assert sum(mec.pull("calls")) == 8
