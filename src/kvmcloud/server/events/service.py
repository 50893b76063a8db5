"""Recording events in the caller's transaction; who may see which; the listEvents query."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from kvmcloud.server.accounts.models import Account, Domain, User
from kvmcloud.server.errors import InvalidParameterError, NotFoundError, PermissionDeniedError
from kvmcloud.server.events.models import Event, EventLevel, EventState
from kvmcloud.server.jobs.models import AsyncJob


def record_event(
    session: Session,
    *,
    type: str,
    level: EventLevel,
    description: str,
    account_id: int | None,
    user_id: int | None,
    domain_id: int | None = None,
    resource_type: str | None,
    resource_uuid: str | None,
    now: datetime,
    state: EventState = EventState.COMPLETED,
    start_id: int | None = None,
) -> Event:
    """Add an event in the caller's transaction, so it is kept exactly when the change is.

    The domain defaults to the account's.
    """
    if domain_id is None and account_id is not None:
        account = session.get(Account, account_id)
        domain_id = account.domain_id if account is not None else None
    event = Event(
        type=type,
        state=state,
        level=level,
        description=description,
        user_id=user_id,
        account_id=account_id,
        domain_id=domain_id,
        resource_type=resource_type,
        resource_uuid=resource_uuid,
        start_id=start_id,
        archived=False,
        created=now,
    )
    session.add(event)
    session.flush()
    return event


def record_job_event(
    session: Session,
    job_id: int,
    *,
    type: str,
    level: EventLevel,
    description: str,
    resource_type: str,
    resource_uuid: str | None,
    now: datetime,
) -> Event:
    """Record an event for the account and user that ran job ``job_id``."""
    job = session.get(AsyncJob, job_id)
    return record_event(
        session,
        type=type,
        level=level,
        description=description,
        account_id=job.account_id if job is not None else None,
        user_id=job.user_id if job is not None else None,
        resource_type=resource_type,
        resource_uuid=resource_uuid,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose events a caller lists: one account, one domain, or (None, None) every one."""

    account_id: int | None
    domain_id: int | None


def resolve_scope(
    session: Session,
    *,
    command: str,
    caller_account_id: int,
    is_admin: bool,
    list_all: bool,
    account_name: str | None,
    domain_uuid: str | None,
    by_id: bool,
) -> Scope:
    """Apply CloudStack's list visibility rules (AccountManager.buildACLSearchParameters).

    A user sees only their own account's events; naming another account is 531. An admin
    sees the account named (in ``domainid`` or their own domain), else the domain given,
    else everything with listall=true or when asking for one event by id, else their own.
    """
    caller = session.get(Account, caller_account_id)
    assert caller is not None
    domain = None
    if domain_uuid is not None:
        domain = session.scalars(select(Domain).where(Domain.uuid == domain_uuid)).first()
        if domain is None:
            raise NotFoundError(command, "domainid", domain_uuid)
        if not is_admin and domain.id != caller.domain_id:
            raise PermissionDeniedError(
                f"Account {caller.account_name} does not have permission to list the events "
                f"of domain {domain.name}"
            )
    if account_name is not None:
        in_domain = domain.id if domain is not None else caller.domain_id
        account = session.scalars(
            select(Account).where(
                Account.account_name == account_name, Account.domain_id == in_domain
            )
        ).first()
        if account is None:
            where = domain or session.get(Domain, in_domain)
            raise InvalidParameterError(
                "account",
                f"Unable to find account {account_name} in domain "
                f"{where.name if where is not None else in_domain}",
            )
        if not is_admin and account.id != caller.id:
            raise PermissionDeniedError(
                f"Account {caller.account_name} does not have permission to list the events "
                f"of account {account_name}"
            )
        return Scope(account.id, None)
    if not is_admin:
        return Scope(caller.id, None)
    if domain is not None:
        return Scope(None, domain.id)
    if list_all or by_id:
        return Scope(None, None)
    return Scope(caller.id, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """listEvents' filters, already checked; ``end`` is exclusive."""

    scope: Scope
    uuid: str | None = None
    type: str | None = None
    level: EventLevel | None = None
    start: datetime | None = None
    end: datetime | None = None
    keyword: str | None = None
    resource_type: str | None = None
    resource_uuid: str | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event with the names listEvents shows next to it."""

    event: Event
    username: str | None
    account_name: str | None
    domain_uuid: str | None
    domain_name: str | None
    domain_path: str | None
    parent_uuid: str | None


def _query(wanted: EventFilter) -> Select[Event, str, str, str, str, str, str]:
    parent = aliased(Event)
    query = (
        select(
            Event,
            User.username,
            Account.account_name,
            Domain.uuid,
            Domain.name,
            Domain.path,
            parent.uuid,
        )
        .outerjoin(User, Event.user_id == User.id)
        .outerjoin(Account, Event.account_id == Account.id)
        .outerjoin(Domain, Event.domain_id == Domain.id)
        .outerjoin(parent, Event.start_id == parent.id)
        .where(Event.archived.is_(False))
    )
    if wanted.scope.account_id is not None:
        query = query.where(Event.account_id == wanted.scope.account_id)
    if wanted.scope.domain_id is not None:
        query = query.where(Event.domain_id == wanted.scope.domain_id)
    if wanted.uuid is not None:
        query = query.where(Event.uuid == wanted.uuid)
    if wanted.type is not None:
        # Types are upper case; CloudStack's MySQL compares without regard to case.
        query = query.where(Event.type == wanted.type.upper())
    if wanted.level is not None:
        query = query.where(Event.level == wanted.level)
    if wanted.start is not None:
        query = query.where(Event.created >= wanted.start)
    if wanted.end is not None:
        query = query.where(Event.created < wanted.end)
    if wanted.keyword:
        query = query.where(
            or_(
                Event.description.icontains(wanted.keyword, autoescape=True),
                Event.type.icontains(wanted.keyword, autoescape=True),
            )
        )
    if wanted.resource_type is not None:
        query = query.where(Event.resource_type == wanted.resource_type)
    if wanted.resource_uuid is not None:
        query = query.where(Event.resource_uuid == wanted.resource_uuid)
    return query


def list_events(
    session: Session, wanted: EventFilter, *, offset: int, limit: int | None
) -> tuple[list[EventRow], int]:
    """Return one page of matching events, newest first, and how many match in all."""
    query = _query(wanted)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Event.created.desc(), Event.id.desc()).offset(offset).limit(limit)
    )
    return [EventRow(*row) for row in rows], total
