import pytest

from kvmcloud.agent.downloads.http import (
    parse_content_length,
    parse_content_range_total,
)


@pytest.mark.parametrize(
    ("value", "total"),
    [
        ("bytes 0-0/1234", 1234),
        ("bytes 0-511/1048576", 1048576),
        ("bytes */99", 99),
        ("bytes 0-0/*", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_parse_content_range_total(value, total):
    assert parse_content_range_total(value) == total


@pytest.mark.parametrize(
    ("value", "length"), [("10", 10), (" 7 ", 7), ("-1", None), ("x", None), (None, None)]
)
def test_parse_content_length(value, length):
    assert parse_content_length(value) == length
