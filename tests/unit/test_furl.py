"""The FURL parser: strict, with messages that quote the bad part."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel import furl
from kernel.errors import BadFURLError

TUBID = "a" * 52
SWISS = furl.new_swissnum()


def test_round_trip_with_several_hints():
    text = f"pb://{TUBID}@10.0.0.1:123,localhost:9,[::1]:7/{SWISS}"
    parsed = furl.parse(text)
    assert parsed.tubid == TUBID
    assert parsed.hints == (("10.0.0.1", 123), ("localhost", 9), ("::1", 7))
    assert parsed.swissnum == SWISS
    assert str(parsed) == text


def test_swissnum_has_at_least_128_bits():
    assert len(SWISS) * 5 >= 128
    assert furl.new_swissnum() != furl.new_swissnum()


@pytest.mark.parametrize("text, quoted", [
    ("http://x", "http://x"),
    (f"pb://{TUBID}127.0.0.1:1/{SWISS}", "no '@'"),
    (f"pb://short@127.0.0.1:1/{SWISS}", "'short'"),
    (f"pb://{'A' * 52}@127.0.0.1:1/{SWISS}", "bad tub id"),
    (f"pb://{TUBID}@127.0.0.1:1", "no '/<swissnum>'"),
    (f"pb://{TUBID}@127.0.0.1:1/abc", "bad swissnum (of 3 characters)"),
    (f"pb://{TUBID}@127.0.0.1:99999/{SWISS}", "'99999'"),
    (f"pb://{TUBID}@127.0.0.1:x/{SWISS}", "'x'"),
    (f"pb://{TUBID}@127.0.0.1/{SWISS}", "'127.0.0.1'"),
    (f"pb://{TUBID}@/{SWISS}", "no location hints"),
    (f"pb://{TUBID}@bad host:1/{SWISS}", "'bad host'"),
])
def test_malformed_furls_are_refused_naming_the_part(text, quoted):
    with pytest.raises(BadFURLError) as info:
        furl.parse(text)
    assert quoted in str(info.value)
    assert SWISS not in str(info.value) and SWISS[:8] not in str(info.value)  # the secret is never quoted


def test_load_from_file_and_missing_file(tmp_path):
    path = tmp_path / "x.furl"
    path.write_text(f"pb://{TUBID}@127.0.0.1:1/{SWISS}\n")
    assert furl.load(str(path)).swissnum == SWISS
    with pytest.raises(BadFURLError, match="no such file"):
        furl.load(str(tmp_path / "missing.furl"))
    path.write_text("garbage")
    with pytest.raises(BadFURLError, match="x.furl"):
        furl.load(str(path))


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_bad_furl(text):
    try:
        parsed = furl.parse(text)
    except BadFURLError:
        return
    assert furl.parse(str(parsed)) == parsed


@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True),
                          st.integers(1, 65535)), min_size=1, max_size=4))
def test_generated_valid_furls_round_trip(hints):
    made = furl.FURL(TUBID, tuple(hints), SWISS)
    assert furl.parse(str(made)) == made
