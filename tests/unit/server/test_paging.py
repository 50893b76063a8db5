import pytest

from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.paging import PageWindow, page_window


def test_no_paging_returns_at_most_max_page_size():
    assert page_window(None, None, 500) == PageWindow(offset=0, limit=500)


@pytest.mark.parametrize(
    ("page", "page_size", "offset"), [(1, 10, 0), (2, 10, 10), (3, 25, 50), (1, 500, 0)]
)
def test_page_offsets(page, page_size, offset):
    assert page_window(page, page_size, 500) == PageWindow(offset=offset, limit=page_size)


@pytest.mark.parametrize(
    ("page", "page_size", "missing"), [(1, None, "pagesize"), (None, 10, "page")]
)
def test_page_and_pagesize_must_come_together(page, page_size, missing):
    with pytest.raises(InvalidParameterError) as info:
        page_window(page, page_size, 500)

    assert info.value.param == missing
    assert info.value.error_code == 431


def test_pagesize_minus_one_is_unlimited():
    assert page_window(None, -1, 500) == PageWindow(offset=0, limit=None)


def test_pagesize_minus_one_refuses_page():
    with pytest.raises(InvalidParameterError) as info:
        page_window(1, -1, 500)

    assert info.value.param == "page"


@pytest.mark.parametrize("page_size", [501, 10_000, 0, -2])
def test_pagesize_out_of_range_is_refused(page_size):
    with pytest.raises(InvalidParameterError) as info:
        page_window(1, page_size, 500)

    assert info.value.param == "pagesize"
    assert "500" in str(info.value)


@pytest.mark.parametrize("page", [0, -1])
def test_page_below_one_is_refused(page):
    with pytest.raises(InvalidParameterError) as info:
        page_window(page, 10, 500)

    assert info.value.param == "page"
