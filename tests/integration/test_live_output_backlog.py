"""A chatty engine and a client that does not read: the controller drops output instead of keeping it.

Real processes over TLS. One engine prints about 100 MB while the client
that called it reads nothing; the controller's memory must not grow with
what was printed. When the client finally streams, it shows what reached it,
says how many bytes it did not get, and raises the command's error.
"""

import io
import re

import pytest

from kernel import client
from tests.harness import ProcessCluster, wait_for

pytestmark = pytest.mark.timeout(300)

LINE = 16 * 1024  # bytes a line, newline included
LINES = 6000  # about 100 MB in all
CHATTER = (f"import sys\nfor i in range({LINES}):\n    sys.stdout.write('x' * {LINE - 1} + '\\n')\n"
           "raise ValueError('printed enough')\n")  # an error: the result carries no copy of the text


def rss(pid):
    """The process's resident memory, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb * 1024


def test_output_a_client_does_not_read_is_dropped_not_kept(tmp_path):
    cluster = ProcessCluster(tmp_path / "cluster")
    try:
        cluster.start_controller()
        cluster.start_engines(1)
        quiet = client.MultiEngineClient(cluster.mec_furl)  # calls, then reads nothing for a while
        watcher = client.MultiEngineClient(cluster.mec_furl)
        controller = cluster.controller.pid
        quiet.execute("pass")
        before = rss(controller)
        pr = quiet.execute(CHATTER, targets=0, block=False)
        wait_for(lambda: dict(watcher.queue_status(targets=0))[0]["pending"] == "None", timeout=240,
                 interval=0.1, what="the engine to finish printing")
        grown = rss(controller) - before
        assert grown < 40 * 2**20, f"the controller grew by {grown / 2**20:.0f} MiB"  # ~100 MB were printed

        out = io.StringIO()
        with pytest.raises(client.CompositeError, match="printed enough"):
            pr.stream_output(out)
        shown = out.getvalue()
        dropped = sum(int(n) for n in re.findall(r"\((\d+) bytes of output not shown here", shown))
        lines = shown.count("x" * 100 + "\n")
        assert dropped > 50 * 2**20  # most of it never left the controller
        assert lines * LINE + dropped == LINES * LINE  # each byte shown once, or counted as not shown
        watcher.close()
        quiet.close()
    finally:
        cluster.stop()
