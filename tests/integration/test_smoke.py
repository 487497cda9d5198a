"""The cluster comes up over TLS and answers a first call."""


def test_two_engines_register_with_ids_0_and_1(cluster):
    mec = cluster.client()
    assert mec.get_ids() == [0, 1]
    assert mec.pull("id") == [0, 1]
