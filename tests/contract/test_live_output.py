"""Live output and Ctrl-C, on both clusters (in-process and TLS processes).

What engines print reaches the client while their code still runs
(``PendingResult.stream_output``, ``add_output_callback``, ``%px --stream``),
whole, in order, with long lines and bytes that are not text; Ctrl-C while a
client waits on a call stops that call on the engines. Held code waits for a
release file, so a test decides when it ends; nothing waits on time.
"""

import io
import signal
import threading

import pytest

from kernel import client, magic
from kernel.client.streaming import OutputChunk
from tests.harness import wait_for

HOLD = ("import os as _os, time as _time\n"
        "while not _os.path.exists({release!r}):\n"
        "    _time.sleep(0.002)\n")


def held(path):
    return HOLD.format(release=str(path))


def lines_of(chunks, eid, name="stdout"):
    return "".join(c.text for c in chunks if c.id == eid and c.name == name)


def test_output_arrives_while_the_code_still_runs(mec, tmp_path):
    release = tmp_path / "release"
    pr = mec.execute(f"print('before', id)\n{held(release)}print('after', id)", targets=[0, 2], block=False)
    chunks = []
    pr.add_output_callback(chunks.append)
    wait_for(lambda: {c.id for c in chunks if "before" in c.text} == {0, 2}, what="the first lines")
    assert not pr.done()  # the engines are still in the code: the lines came live
    release.touch()
    results = pr.result(timeout=60)
    assert [lines_of(chunks, eid) for eid in (0, 2)] == ["before 0\nafter 0\n", "before 2\nafter 2\n"]
    assert [r["stdout"] for r in results] == ["before 0\nafter 0\n", "before 2\nafter 2\n"]  # as ever


def test_stream_output_prints_each_line_after_its_engine_and_returns_the_result(mec):
    out = io.StringIO()
    pr = mec.execute("import sys\nprint('one')\nprint('two', end='')\nsys.stderr.write('oops\\n')",
                     targets=[1], block=False)
    results = pr.stream_output(out)
    assert out.getvalue() == "[stdout:1] one\n[stdout:1] two\n[stderr:1] oops\n"
    assert results[0]["stdout"] == "one\ntwo" and results[0]["stderr"] == "oops\n"
    assert pr.r is results


def test_what_was_printed_before_stream_output_is_shown_first(mec):
    pr = mec.execute("for i in range(3): print(i)", targets=0, block=False)
    pr.result(timeout=60)  # all of it arrived before anyone asked
    out = io.StringIO()
    pr.stream_output(out)
    assert out.getvalue() == "[stdout:0] 0\n[stdout:0] 1\n[stdout:0] 2\n"


def test_interleaved_engines_never_share_a_line(mec, tmp_path):
    def gate(half):  # engine N holds until the file gate-N-<half> exists
        return ("import os as _os, time as _time\n"
                f"while not _os.path.exists(_os.path.join({str(tmp_path)!r}, 'gate-%d-{half}' % id)):\n"
                "    _time.sleep(0.002)\n")

    pr = mec.execute(f"{gate(1)}print('start', id, end='')\n{gate(2)}print(' end', id)", targets=[0, 1],
                     block=False)
    chunks = []
    pr.add_output_callback(chunks.append)
    for n, (eid, half) in enumerate([(0, 1), (1, 1), (0, 2), (1, 2)]):  # start 0, start 1, end 0, end 1
        (tmp_path / f"gate-{eid}-{half}").touch()
        wait_for(lambda: len(chunks) > n, what=f"engine {eid}'s half {half}")
    out = io.StringIO()
    pr.stream_output(out)
    assert out.getvalue().splitlines() == ["[stdout:0] start 0", "[stdout:1] start 1",
                                           "[stdout:0]  end 0", "[stdout:1]  end 1"]


def test_long_lines_and_bytes_that_are_not_text_pass_whole(mec):
    code = ("import sys\n"
            "sys.stdout.write('x' * 300000 + 'é' * 70000 + '\\n')\n"
            "print('\\ud800 lone \\x00 \\x1b[0m \\udcff end')\n")
    pr = mec.execute(code, targets=3, block=False)
    chunks = []
    pr.add_output_callback(chunks.append)
    pr.result(timeout=60)
    assert all(len(c.text.encode("utf-8", "surrogatepass")) <= 1 << 16 for c in chunks)
    text = lines_of(chunks, 3)
    assert text.startswith("x" * 300000 + "é" * 70000 + "\n")  # no character cut in two
    assert text.endswith(" lone \x00 \x1b[0m \ufffd\ufffd\ufffd end\n")  # lone surrogates replaced
    assert all(c.dropped == 0 for c in chunks)
    out = io.StringIO()
    pr.stream_output(out)
    assert out.getvalue().count("[stdout:3] ") == 2


def test_the_output_of_a_failing_command_comes_before_its_error(mec):
    out = io.StringIO()
    pr = mec.execute("print('about to fail')\n1/0", targets=2, block=False)
    with pytest.raises(client.CompositeError):
        pr.stream_output(out)
    assert out.getvalue() == "[stdout:2] about to fail\n"


def test_a_callback_that_raises_is_reported_and_the_call_goes_on(mec):
    pr = mec.execute("print('x')", targets=0, block=False)

    def broken(chunk):
        raise ValueError("no")

    with pytest.warns(RuntimeWarning, match="an output callback raised ValueError: no"):
        pr.add_output_callback(broken)
        assert pr.result(timeout=60)[0]["stdout"] == "x\n"


def test_blocking_calls_ask_for_no_stream(mec):
    assert mec.execute("print('quiet')", targets=0)[0]["stdout"] == "quiet\n"
    pr = mec.execute("print('kept')", targets=0, block=False)
    assert list(mec._connection.output_sinks) == list(pr._rids)
    pr.r
    assert mec._connection.output_sinks == {}


def test_output_chunks_are_plain_tuples():
    assert OutputChunk(1, "stdout", "x") == (1, "stdout", "x", 0)


# -- %px --stream -----------------------------------------------------------------------------------


@pytest.fixture
def ip(shell, mec, capsys):
    pytest.importorskip("IPython")
    mec.activate()
    capsys.readouterr()
    yield shell
    magic._active = None


def test_px_stream_prints_as_it_goes_and_returns_nothing(ip, mec, capsys):
    mec.targets = [0, 1]
    result = ip.run_cell("%px --stream print('hi from', id)", store_history=True)
    assert result.result is None and result.error_in_exec is None
    out = capsys.readouterr().out
    assert "[stdout:0] hi from 0\n" in out and "[stdout:1] hi from 1\n" in out
    result = ip.run_cell("%%px --stream\nfor i in range(2):\n    print(i)\n", store_history=True)
    out = capsys.readouterr().out
    assert out.count("[stdout:0] 0\n[stdout:0] 1\n") == 1 or "[stdout:0] 0\n" in out
    assert mec.pull("i") == [1, 1]


# -- Ctrl-C ------------------------------------------------------------------------------------------


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt in this process, whatever it inherited: a shell runs a
    command it puts in the background with SIGINT ignored, and Python then leaves it so."""
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, inherited)


def press_ctrl_c_once(started):
    """Send this (the main) thread SIGINT, as Ctrl-C does, once ``started`` exists."""
    def press():
        wait_for(started.exists, timeout=60, what="the engines to run the code")
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


LOOP = "open({started!r} + str(id), 'w').close()\nwhile True:\n    pass\n"


@pytest.mark.parametrize("how", ["blocking", "get_result", "barrier"])
def test_ctrl_c_while_waiting_interrupts_the_engines(mec, tmp_path, how, ctrl_c_raises):
    mec.push({"kept": 7})
    code = LOOP.format(started=str(tmp_path / "started-"))
    press = press_ctrl_c_once(tmp_path / "started-1")
    with pytest.raises(KeyboardInterrupt):
        if how == "blocking":
            mec.execute(code, targets=1)
        elif how == "get_result":
            mec.execute(code, targets=1, block=False).get_result()
        else:
            mec.barrier([mec.execute("x = 1", targets=0, block=False), mec.execute(code, targets=1, block=False)])
    press.join(60)
    after = mec.execute("after = kept * 2", targets=[0, 1], block=False)
    assert len(after.result(timeout=60)) == 2  # engine 1 is free: its loop was interrupted
    assert mec.pull("after", targets=[0, 1]) == [14, 14]


@pytest.mark.parametrize("block", [True, False])
def test_ctrl_c_just_as_the_call_went_out_still_interrupts_the_engine(mec, tmp_path, monkeypatch, block,
                                                                     ctrl_c_raises):
    """The Ctrl-C lands inside ``request``, after the call was sent and before its id came back."""
    started = tmp_path / "started-1"
    request, pressed = mec._connection.request, []

    def sent_then_ctrl_c(header, buffers=(), sent=None):
        rid = request(header, buffers, sent)
        if not pressed:
            pressed.append(rid)
            wait_for(started.exists, timeout=60, what="the engine to run the code")
            signal.raise_signal(signal.SIGINT)  # KeyboardInterrupt at once, here
        return rid

    monkeypatch.setattr(mec._connection, "request", sent_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        mec.execute(LOOP.format(started=str(tmp_path / "started-")), targets=1, block=block)
    assert len(mec.execute("x = 2", targets=1, block=False).result(timeout=60)) == 1  # the loop was stopped
