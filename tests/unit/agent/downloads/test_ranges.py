import pytest

from kvmcloud.agent.downloads.ranges import (
    ContentRange,
    continues_at,
    parse_content_range,
    resume_headers,
    resume_validator,
)


def test_resume_headers_with_a_validator():
    assert resume_headers(1048576, '"abc"') == {"Range": "bytes=1048576-", "If-Range": '"abc"'}


def test_resume_headers_without_a_validator_ask_for_the_rest_unconditionally():
    assert resume_headers(7, None) == {"Range": "bytes=7-"}


def test_resume_headers_refuse_a_negative_offset():
    with pytest.raises(ValueError, match="negative"):
        resume_headers(-1, None)


@pytest.mark.parametrize(
    ("etag", "last_modified", "validator"),
    [
        ('"v1"', "Wed, 21 Oct 2015 07:28:00 GMT", '"v1"'),  # a strong ETag wins
        (' "v1" ', None, '"v1"'),
        ('W/"v1"', "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ('W/"v1"', None, None),  # weak ETags are not allowed in If-Range
        ("unquoted", None, None),
        (None, "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
        (None, "  ", None),
        (None, "bad\r\ndate", None),
        (None, None, None),
    ],
)
def test_resume_validator(etag, last_modified, validator):
    assert resume_validator(etag, last_modified) == validator


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("bytes 100-199/1000", ContentRange(100, 199, 1000)),
        ("BYTES 0-0/1", ContentRange(0, 0, 1)),
        ("bytes 5-9/*", ContentRange(5, 9, None)),
        ("bytes 9-5/10", None),
        ("bytes */1000", None),
        ("items 0-1/2", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_content_range(value, parsed):
    assert parse_content_range(value) == parsed


@pytest.mark.parametrize(
    ("content_range", "offset", "total", "expected"),
    [
        (ContentRange(100, 999, 1000), 100, 1000, True),
        (ContentRange(100, 999, 1000), 100, None, True),  # total learnt from the 206
        (ContentRange(100, 999, None), 100, 1000, True),
        (ContentRange(0, 999, 1000), 100, 1000, False),  # not where we stopped
        (ContentRange(100, 1999, 2000), 100, 1000, False),  # the object changed size
        (ContentRange(100, 499, 1000), 100, 1000, False),  # only part of the rest
        (None, 100, 1000, False),
    ],
)
def test_continues_at(content_range, offset, total, expected):
    assert continues_at(content_range, offset, total) is expected
