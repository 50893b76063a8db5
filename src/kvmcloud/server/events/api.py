"""listEvents and listEventTypes."""

from dataclasses import dataclass

from kvmcloud.server.api.params import Entity, OwnerListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult
from kvmcloud.server.events import service
from kvmcloud.server.events.catalog import EventType
from kvmcloud.server.events.models import EventLevel
from kvmcloud.server.events.views import (
    EVENT,
    EVENT_TYPE,
    event_response,
    event_type_response,
)

commands = CommandSet()
EVENT_KEY = "event"
EVENT_TYPE_KEY = "eventtype"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListEventsParams(OwnerListParams):
    """Parameters of listEvents."""

    id: Uuid | None = param("the ID of the event", entity=Entity.EVENT, default=None)
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
    resource_id: Uuid | None = param(
        "the ID of the resource the events are about (with resourcetype)", default=None
    )
    resource_type: str | None = param(
        "the type of the resource the events are about: Template or Iso", default=None
    )


@commands.command(
    "listEvents",
    ListEventsParams,
    description="A command to list events.",
    response_key=EVENT_KEY,
    response=EVENT,
)
def list_events(ctx: ApiContext, params: ListEventsParams) -> ListResult:
    """List events, newest first: the caller's own, or (admins) an account's, a domain's, all."""
    request = service.EventListRequest(
        uuid=params.id,
        type=params.type,
        level=params.level,
        start_date=params.start_date,
        end_date=params.end_date,
        keyword=params.keyword,
        owners=params.owner_filter(),
        resource_uuid=params.resource_id,
        resource_type=params.resource_type,
    )
    rows, total = service.list_events(ctx.db, params, ctx.caller, request, command=ctx.command)
    return ListResult(EVENT_KEY, [event_response(row) for row in rows], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListEventTypesParams:
    """Parameters of listEventTypes (none)."""


@commands.command(
    "listEventTypes",
    ListEventTypesParams,
    description="List the event types kvmcloud records.",
    response_key=EVENT_TYPE_KEY,
    response=EVENT_TYPE,
)
def list_event_types(ctx: ApiContext, params: ListEventTypesParams) -> ListResult:
    """List every event type kvmcloud can record."""
    items = [event_type_response(event_type) for event_type in EventType]
    return ListResult(EVENT_TYPE_KEY, items, len(items))
