"""CloudStack's paging rules: a page request becomes an offset and a limit (pure)."""

from dataclasses import dataclass
from typing import Protocol

from kvmcloud.server.errors import InvalidParameterError


class PageRequest(Protocol):
    """The page and pagesize a list command was given (None when absent); ListParams is one."""

    @property
    def page(self) -> int | None:
        """The 1-based page asked for."""

    @property
    def page_size(self) -> int | None:
        """The number of items per page asked for; -1 for all."""


@dataclass(frozen=True, slots=True)
class PageWindow:
    """Which slice of the matches to return."""

    offset: int
    limit: int | None


def page_window(page: int | None, page_size: int | None, max_page_size: int) -> PageWindow:
    """Apply CloudStack's paging rules; raise InvalidParameterError when they are broken."""
    if page is None and page_size is None:
        return PageWindow(offset=0, limit=max_page_size)
    if page_size == -1:
        if page is not None:
            raise InvalidParameterError("page", "Can't specify page parameter when pagesize=-1")
        return PageWindow(offset=0, limit=None)
    if page is None or page_size is None:
        missing = "pagesize" if page_size is None else "page"
        raise InvalidParameterError(missing, "page and pagesize must be specified together")
    if page < 1:
        raise InvalidParameterError("page", "page must be at least 1")
    if page_size < 1 or page_size > max_page_size:
        raise InvalidParameterError(
            "pagesize", f"pagesize must be between 1 and {max_page_size} (default.page.size)"
        )
    return PageWindow(offset=(page - 1) * page_size, limit=page_size)
