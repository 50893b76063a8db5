"""Resolve whose resource limits a listResourceLimits call asks for (queries)."""

from dataclasses import dataclass

from sqlalchemy import select

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.accounts.owners import scope_of
from kvmcloud.server.accounts.visibility import OwnerFilter
from kvmcloud.server.db import Database
from kvmcloud.server.paging import PageRequest, PageWindow
from kvmcloud.server.queries import list_window


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitOwner:
    """Whose limits are listed: an account (with its domain), or a domain alone."""

    account_name: str | None
    domain_uuid: str
    domain_name: str
    domain_path: str


def limit_owner(
    db: Database, page: PageRequest, caller: Caller, owners: OwnerFilter, *, command: str
) -> tuple[LimitOwner, PageWindow]:
    """Whose limits to list, as CloudStack's searchForLimits chooses, and the page asked for.

    ``account`` (in ``domainid`` or the caller's domain) names an account; ``domainid``
    alone names the domain; neither names the caller's own account.

    Raises:
        InvalidParameterError: bad paging, an unknown account.
        NotFoundError: an unknown domain.
        PermissionDeniedError: an account or domain out of the caller's reach.
    """
    with db.transaction() as session:
        window = list_window(session, page)
        scope = scope_of(session, caller, owners, command=command)
        if owners.account_name is not None and scope.account_id is not None:
            account = session.get_one(Account, scope.account_id)
            domain = session.get_one(Domain, account.domain_id)
            name: str | None = account.account_name
        elif owners.domain_uuid is not None:
            domain = session.scalars(select(Domain).where(Domain.uuid == owners.domain_uuid)).one()
            name = None
        else:
            domain = session.get_one(Domain, caller.domain_id)
            name = caller.account_name
        owner = LimitOwner(
            account_name=name,
            domain_uuid=domain.uuid,
            domain_name=domain.name,
            domain_path=domain.path,
        )
        return owner, window
