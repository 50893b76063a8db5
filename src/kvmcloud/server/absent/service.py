"""Check a list request for objects kvmcloud has none of, as CloudStack would (queries)."""

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.owners import scope_of
from kvmcloud.server.accounts.visibility import OwnerFilter
from kvmcloud.server.db import Database
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import list_window


def check_list_request(
    db: Database, page: PageRequest, caller: Caller, owners: OwnerFilter | None, *, command: str
) -> None:
    """Refuse what CloudStack refuses in such a list: bad paging, an owner out of reach.

    There is nothing to list, but a request CloudStack would refuse must not get an empty
    list here: a client would take a typo in ``account`` for "none".

    Raises:
        InvalidParameterError: bad page or pagesize, an unknown account.
        NotFoundError: an unknown domain.
        PermissionDeniedError: an account or domain out of the caller's reach.
    """
    with db.transaction() as session:
        list_window(session, page)
        if owners is not None:
            scope_of(session, caller, owners, command=command)
