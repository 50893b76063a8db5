"""listEvents and listEventTypes."""

from dataclasses import dataclass
from typing import Any

from kvmcloud.server.api.params import ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult, format_date, without_none
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.events import service
from kvmcloud.server.events.catalog import (
    EventType,
    ResourceType,
    parse_end_date,
    parse_start_date,
)
from kvmcloud.server.events.models import EventLevel
from kvmcloud.server.queries import list_window

commands = CommandSet()
EVENT_KEY = "event"
EVENT_TYPE_KEY = "eventtype"


def event_response(row: service.EventRow) -> dict[str, Any]:
    """Map an event to CloudStack's event object."""
    event = row.event
    return without_none(
        {
            "id": event.uuid,
            "username": row.username,
            "type": event.type,
            "level": event.level,
            "description": event.description,
            "account": row.account_name,
            "domainid": row.domain_uuid,
            "domain": row.domain_name,
            "domainpath": row.domain_path,
            "created": format_date(event.created),
            "state": event.state,
            "parentid": row.parent_uuid,
            "resourceid": event.resource_uuid,
            "resourcetype": event.resource_type,
        }
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ListEventsParams(ListParams):
    """Parameters of listEvents."""

    id: Uuid | None = param("the ID of the event", default=None)
    type: str | None = param("the event type (see listEventTypes)", default=None)
    level: EventLevel | None = param("the event level (INFO, WARN, ERROR)", default=None)
    start_date: str | None = param(
        "the start date range of the list you want to retrieve (use format "
        '"yyyy-MM-dd" or the new format "yyyy-MM-dd HH:mm:ss"; UTC)',
        default=None,
    )
    end_date: str | None = param(
        "the end date range of the list you want to retrieve (use format "
        '"yyyy-MM-dd" or the new format "yyyy-MM-dd HH:mm:ss"; UTC)',
        default=None,
    )
    account: str | None = param(
        "list events of this account; must be used with domainId, or the caller's domain",
        default=None,
    )
    domain_id: Uuid | None = param("list only events of accounts in this domain", default=None)
    resource_id: Uuid | None = param(
        "the ID of the resource the events are about (with resourcetype)", default=None
    )
    resource_type: str | None = param(
        "the type of the resource the events are about: Template or Iso", default=None
    )


def _resource_type(text: str) -> ResourceType:
    for member in ResourceType:
        if member.value.lower() == text.strip().lower():
            return member
    allowed = ", ".join(m.value for m in ResourceType)
    raise InvalidParameterError(
        "resourcetype", f"Invalid parameter resourcetype value={text}: must be one of {allowed}"
    )


def _filter(params: ListEventsParams, scope: service.Scope) -> service.EventFilter:
    start = parse_start_date(params.start_date) if params.start_date else None
    end = parse_end_date(params.end_date) if params.end_date else None
    if start is not None and end is not None and start >= end:
        raise InvalidParameterError(
            "startdate",
            f"Invalid parameter startdate value={params.start_date}: it is after enddate "
            f"{params.end_date}",
        )
    if params.resource_id is not None and params.resource_type is None:
        raise InvalidParameterError(
            "resourcetype", "resourceid parameter must be used with resourcetype parameter"
        )
    resource_type = _resource_type(params.resource_type) if params.resource_type else None
    return service.EventFilter(
        scope=scope,
        uuid=params.id,
        type=params.type.strip() if params.type else None,
        level=params.level,
        start=start,
        end=end,
        keyword=params.keyword,
        resource_type=resource_type,
        resource_uuid=params.resource_id,
    )


@commands.command(
    "listEvents",
    ListEventsParams,
    description="A command to list events.",
    response_key=EVENT_KEY,
)
def list_events(ctx: ApiContext, params: ListEventsParams) -> ListResult:
    """List events, newest first: the caller's own, or (admins) an account's, a domain's, all."""
    with ctx.db.transaction() as session:
        window = list_window(session, params)
        scope = service.resolve_scope(
            session,
            command=ctx.command,
            caller_account_id=ctx.caller.account_id,
            is_admin=ctx.caller.is_admin,
            list_all=bool(params.list_all),
            account_name=params.account,
            domain_uuid=params.domain_id,
            by_id=params.id is not None,
        )
        rows, total = service.list_events(
            session, _filter(params, scope), offset=window.offset, limit=window.limit
        )
        return ListResult(EVENT_KEY, [event_response(row) for row in rows], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListEventTypesParams:
    """Parameters of listEventTypes (none)."""


@commands.command(
    "listEventTypes",
    ListEventTypesParams,
    description="List the event types kvmcloud records.",
    response_key=EVENT_TYPE_KEY,
)
def list_event_types(ctx: ApiContext, params: ListEventTypesParams) -> ListResult:
    """List every event type kvmcloud can record."""
    items = [{"name": event_type.value} for event_type in EventType]
    return ListResult(EVENT_TYPE_KEY, items, len(items))
