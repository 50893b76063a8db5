"""CloudStack's event and event type objects (pure)."""

from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.api.responses import format_date
from kvmcloud.server.events.catalog import EventType
from kvmcloud.server.events.service import EventRow

EVENT = ObjectSchema(
    "EventResponse",
    (
        out("id", FieldType.STRING, "The ID of the event"),
        out(
            "username",
            FieldType.STRING,
            "The name of the User who performed the action (can be different from the Account "
            "if an admin is performing an action for a User, e.g. starting/stopping a User's "
            "Instance)",
        ),
        out("type", FieldType.STRING, "The type of the event (see event types)"),
        out("level", FieldType.STRING, "The event level (INFO, WARN, ERROR)"),
        out("description", FieldType.STRING, "A brief description of the event"),
        out(
            "account",
            FieldType.STRING,
            "The Account name for the Account that owns the object being acted on in the event "
            "(e.g. the owner of the Instance, IP address, or security group)",
        ),
        out("domainid", FieldType.STRING, "The ID of the Account's domain"),
        out("domain", FieldType.STRING, "The name of the Account's domain"),
        out("domainpath", FieldType.STRING, "path of the Domain the account's domain belongs to"),
        out("created", FieldType.DATE, "The date the event was created"),
        out("state", FieldType.STRING, "The state of the event"),
        out("parentid", FieldType.STRING, "Whether the event is parented"),
        out("resourceid", FieldType.STRING, "The ID of the resource"),
        out("resourcetype", FieldType.STRING, "The type of the resource"),
    ),
    entity=Entity.EVENT,
)


def event_response(row: EventRow) -> dict[str, Any]:
    """Map an event to CloudStack's event object."""
    event = row.event
    return EVENT.render(
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


EVENT_TYPE = ObjectSchema("EventTypeResponse", (out("name", FieldType.STRING, "Event Type"),))


def event_type_response(event_type: EventType) -> dict[str, Any]:
    """Map an event type to listEventTypes' eventtype object."""
    return EVENT_TYPE.render({"name": event_type.value})
