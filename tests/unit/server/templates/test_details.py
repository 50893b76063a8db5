"""Template details: download request headers and the rest (pure)."""

import pytest

from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.sealing.box import SecretBox, header_context
from kvmcloud.server.templates.details import (
    MAX_HEADER_VALUE_BYTES,
    header_detail_name,
    header_name,
    is_header_detail,
    parse_details,
)
from kvmcloud.server.templates.models import TemplateDetail


def test_headers_are_split_from_other_details() -> None:
    headers, others = parse_details(
        {
            "HTTP_HEADER:Authorization": "Bearer x",
            "http_header: X-Trace ": "1",
            "rootDiskController": "scsi",
        }
    )
    assert headers == {"Authorization": "Bearer x", "X-Trace": "1"}
    assert others == {"rootDiskController": "scsi"}


@pytest.mark.parametrize(
    ("details", "text"),
    [
        ({"HTTP_HEADER:Bad Name": "x"}, "does not name a valid HTTP header"),
        ({"HTTP_HEADER:X": "a\r\nInjected: 1"}, "contains a line break"),
        ({"HTTP_HEADER:X": "é" * 1025}, "longer than 2048 bytes"),
    ],
)
def test_bad_headers_are_refused(details: dict[str, str], text: str) -> None:
    with pytest.raises(InvalidParameterError, match=text):
        parse_details(details)


def test_a_header_round_trips_through_its_detail_name() -> None:
    name = header_detail_name("Authorization")
    assert is_header_detail(name) and header_name(name) == "Authorization"
    assert not is_header_detail("rootDiskController")


def test_the_longest_header_value_fits_its_column_once_sealed() -> None:
    box = SecretBox({"0123abcd": bytes(32)}, current="0123abcd")
    value = "x" * MAX_HEADER_VALUE_BYTES
    assert parse_details({"HTTP_HEADER:Authorization": value})[0] == {"Authorization": value}
    sealed = box.seal(value, header_context("t" * 36, "HTTP_HEADER:" + "N" * 200))
    assert len(sealed) <= TemplateDetail.__table__.c.value.type.length
