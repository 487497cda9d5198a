"""Big code, big output and big answers travel; what truly cannot be sent fails one call."""

import pytest

from kernel.errors import MessageSizeError


def test_five_megabytes_of_code_run_and_are_echoed_by_every_engine(cluster):
    mec = cluster.client()
    code = "x = 1\n" + "# " + "c" * (5 * 1024 * 1024) + "\n"
    results = mec.execute(code)
    assert [r["input"]["raw"] == code for r in results] == [True, True]
    assert mec.pull("x") == [1, 1]


def test_seventeen_megabytes_printed_arrive_and_the_engine_lives(cluster):
    mec = cluster.client()
    results = mec.execute("print('x' * 17_000_000)", targets=0)
    assert len(results[0]["stdout"]) == 17_000_001
    assert mec.execute("y = 2") is not None and mec.pull("y") == [2, 2]
    assert mec.get_ids() == [0, 1]


def test_an_error_with_a_huge_message_is_cut_in_the_header_but_whole_in_the_exception(cluster):
    from kernel.client import CompositeError

    mec = cluster.client()
    with pytest.raises(CompositeError) as info:
        mec.execute("raise ValueError('v' * 20_000_000)", targets=0)
    error = info.value.elist[0][1]
    assert isinstance(error, ValueError) and len(str(error)) == 20_000_000
    assert mec.get_ids() == [0, 1]


def test_a_request_too_big_to_send_fails_alone_with_a_clear_error(cluster):
    mec = cluster.client()
    with pytest.raises(MessageSizeError, match="header would be 17.2 MiB, over the 16 MiB limit"):
        mec.execute("s = '" + "é" * 3_000_000 + "'")  # 18 MB of header once JSON escapes it
    assert mec.execute("z = 3") is not None and mec.pull("z") == [3, 3]
