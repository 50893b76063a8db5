"""Recording events in the caller's transaction; who may see which; the listEvents query."""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, Domain, User
from kvmcloud.server.accounts.owners import owned_by, scope_of
from kvmcloud.server.accounts.visibility import OwnerFilter, Scope
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.events.catalog import (
    COMMAND_EVENTS,
    EventType,
    ResourceType,
    command_event_description,
    event_subject,
    job_event_description,
    parse_end_date,
    parse_resource_type,
    parse_start_date,
)
from kvmcloud.server.events.models import Event, EventLevel, EventState
from kvmcloud.server.jobs.models import AsyncJob
from kvmcloud.server.paging import PageRequest, PageWindow
from kvmcloud.server.queries import list_window


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


logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandEvents:
    """Records the event a synchronous command leaves when it succeeded (COMMAND_EVENTS).

    The API edge calls it after the command's own transaction committed, as CloudStack's
    ActionEventInterceptor records the completed event after the method returned.
    """

    db: Database
    clock: Callable[[], datetime]

    def __call__(
        self,
        caller: Caller,
        command: str,
        item: Mapping[str, Any] | None,
        target_id: str | None,
    ) -> None:
        """Record ``command``'s event for ``caller``, about the object it answered or ``id``."""
        event = COMMAND_EVENTS.get(command)
        if event is None:
            return
        uuid, subject = event_subject(item, target_id)
        try:
            with self.db.transaction() as session:
                record_event(
                    session,
                    type=event.type.value,
                    level=EventLevel.INFO,
                    description=command_event_description(event, subject),
                    account_id=caller.account_id,
                    user_id=caller.user_id,
                    resource_type=event.resource_type.value,
                    resource_uuid=uuid,
                    now=self.clock(),
                )
        except Exception:
            # The change itself is committed and answered; a lost event must not turn
            # that success into an error the client would retry.
            logger.exception("could not record the %s event of %s", event.type.value, command)


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


def record_job_outcome(
    db: Database,
    job_id: int,
    *,
    event_type: EventType,
    resource_type: ResourceType,
    error: str | None,
    clock: Callable[[], datetime],
) -> None:
    """Record how job ``job_id`` ended, about its instance: INFO, or ERROR with ``error``."""
    with db.transaction() as session:
        job = session.get(AsyncJob, job_id)
        resource = job.instance_uuid if job is not None else None
        record_job_event(
            session,
            job_id,
            type=event_type.value,
            level=EventLevel.INFO if error is None else EventLevel.ERROR,
            description=job_event_description(event_type, resource or "?", error),
            resource_type=resource_type.value,
            resource_uuid=resource,
            now=clock(),
        )


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
    # An event records its own domain: a domain's events are those recorded in it.
    query = query.where(owned_by(wanted.scope, Event.account_id, domain_column=Event.domain_id))
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


@dataclass(frozen=True, slots=True, kw_only=True)
class EventListRequest:
    """What listEvents asks for, as given: dates and resource type not yet parsed."""

    uuid: str | None = None
    type: str | None = None
    level: EventLevel | None = None
    start_date: str | None = None
    end_date: str | None = None
    keyword: str | None = None
    owners: OwnerFilter = field(default_factory=OwnerFilter)
    resource_uuid: str | None = None
    resource_type: str | None = None


def list_events(
    db: Database, page: PageRequest, caller: Caller, request: EventListRequest, *, command: str
) -> tuple[list[EventRow], int]:
    """Return one page of the events the caller may see, newest first, and the total.

    Raises:
        InvalidParameterError: a bad page, account, date range or resource type.
        NotFoundError: an unknown domain.
        PermissionDeniedError: an account or domain out of the caller's reach.
    """
    with db.transaction() as session:
        window = list_window(session, page)
        scope = scope_of(
            session, caller, request.owners, command=command, by_id=request.uuid is not None
        )
        return _page(session, _filter(request, scope), window)


def _filter(request: EventListRequest, scope: Scope) -> EventFilter:
    start = parse_start_date(request.start_date) if request.start_date else None
    end = parse_end_date(request.end_date) if request.end_date else None
    if start is not None and end is not None and start >= end:
        raise InvalidParameterError(
            "startdate",
            f"Invalid parameter startdate value={request.start_date}: it is after enddate "
            f"{request.end_date}",
        )
    if request.resource_uuid is not None and request.resource_type is None:
        raise InvalidParameterError(
            "resourcetype", "resourceid parameter must be used with resourcetype parameter"
        )
    resource_type = parse_resource_type(request.resource_type) if request.resource_type else None
    return EventFilter(
        scope=scope,
        uuid=request.uuid,
        type=request.type.strip() if request.type else None,
        level=request.level,
        start=start,
        end=end,
        keyword=request.keyword,
        resource_type=resource_type,
        resource_uuid=request.resource_uuid,
    )


def _page(session: Session, wanted: EventFilter, window: PageWindow) -> tuple[list[EventRow], int]:
    query = _query(wanted)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Event.created.desc(), Event.id.desc())
        .offset(window.offset)
        .limit(window.limit)
    )
    return [EventRow(*row) for row in rows], total
