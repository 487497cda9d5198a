"""Many clients at once, and a client that vanishes halfway through a large push."""

import struct
import threading

from kernel import client, furl
from kernel.client import MapTask
from kernel.wire.greeting import greeting
from security import hostile
from tests.harness import wait_for


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def triple(x):
    return 3 * x


def test_fifty_clients_submit_and_fetch_at_once(cluster):
    errors, results = [], {}

    def one_client(k):
        try:
            with client.TaskClient(cluster.tc_furl) as tc:
                ids = [tc.run(MapTask(triple, (k * 100 + i,))) for i in range(20)]
                results[k] = [tc.get_task_result(t, block=True) for t in ids]
        except Exception as e:  # reported below, with the client's number
            errors.append((k, e))

    threads = [threading.Thread(target=one_client, args=(k,)) for k in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not errors
    assert results == {k: [3 * (k * 100 + i) for i in range(20)] for k in range(50)}


def test_a_client_gone_in_the_middle_of_a_large_push_is_forgotten(cluster):
    mec_furl = furl.load(cluster.mec_furl)
    pid = cluster.controller.pid
    before = rss_kb(pid)
    sock = hostile._tls(mec_furl.hints[-1][1])
    header = b'{"op":"call","rid":1,"method":"push","targets":"all"}'
    size = 400 << 20  # announces 400 MB ...
    sock.sendall(greeting(mec_furl.swissnum) + struct.pack("!IH", len(header), 1) + struct.pack("!Q", size) + header)
    chunk = b"\x01" * (1 << 20)
    for _ in range(64):  # ... and sends 64 MB of it
        sock.sendall(chunk)
    wait_for(lambda: rss_kb(pid) > before + 48 * 1024, what="the controller to hold the partial push")
    sock.close()
    wait_for(lambda: rss_kb(pid) < before + 16 * 1024, what="the controller to free the partial push")
    mec = client.MultiEngineClient(cluster.mec_furl)
    assert mec.execute("z = 1")[0]["number"] >= 1


def test_arrays_larger_than_one_write_chunk_go_both_ways(cluster):
    import numpy

    mec = client.MultiEngineClient(cluster.mec_furl)
    for megabytes in (8, 40):
        array = numpy.random.default_rng(megabytes).random(megabytes * 2**17)
        mec.push({"a": array}, targets=0)
        back = mec.pull("a", targets=0)[0]
        assert back.dtype == array.dtype and (back == array).all()
        assert mec.execute("b = a.sum()", targets=0)[0]["number"] >= 1  # the engine is still alive
