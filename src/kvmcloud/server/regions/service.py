"""Apply a listRegions call's paging (queries: the page size limit is a setting)."""

from kvmcloud.server.db import Database
from kvmcloud.server.paging import PageRequest, PageWindow
from kvmcloud.server.queries import list_window


def region_window(db: Database, page: PageRequest) -> PageWindow:
    """The page asked for, checked against default.page.size like every list's.

    Raises:
        InvalidParameterError: bad page or pagesize.
    """
    with db.transaction() as session:
        return list_window(session, page)
