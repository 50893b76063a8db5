"""CloudStack's event and event type objects (pure)."""

from typing import Any

from kvmcloud.server.api.responses import format_date, without_none
from kvmcloud.server.events.catalog import EventType
from kvmcloud.server.events.service import EventRow


def event_response(row: EventRow) -> dict[str, Any]:
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


def event_type_response(event_type: EventType) -> dict[str, Any]:
    """Map an event type to listEventTypes' eventtype object."""
    return {"name": event_type.value}
