import pytest

from kvmcloud.agent.byte_ranges import ByteRange, UnsatisfiableRangeError, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99, 1000)),
        ("bytes=900-", ByteRange(900, 999, 1000)),
        ("bytes=-100", ByteRange(900, 999, 1000)),
        ("bytes=-5000", ByteRange(0, 999, 1000)),
        ("bytes=10-5000", ByteRange(10, 999, 1000)),
        ("BYTES = 1-1", ByteRange(1, 1, 1000)),
    ],
)
def test_a_single_range_is_served(header: str, expected: ByteRange) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header", [None, "", "bytes=0-1,5-6", "items=0-1", "bytes=-", "bytes=5-1", "bytes=a-b"]
)
def test_anything_else_serves_the_whole_file(header: str | None) -> None:
    assert parse_range(header, 1000) is None


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", 1000), ("bytes=-0", 1000), ("bytes=-1", 0)]
)
def test_a_range_past_the_end_is_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(UnsatisfiableRangeError, match=f"bytes \\*/{size}"):
        parse_range(header, size)


def test_a_range_knows_its_length_and_content_range() -> None:
    byte_range = ByteRange(10, 19, 1000)
    assert byte_range.length == 10
    assert byte_range.content_range() == "bytes 10-19/1000"
