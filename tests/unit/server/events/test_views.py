from datetime import UTC, datetime

from kvmcloud.server.events.catalog import EventType
from kvmcloud.server.events.models import Event, EventLevel, EventState
from kvmcloud.server.events.service import EventRow
from kvmcloud.server.events.views import event_response, event_type_response


def make_event(**changes: object) -> Event:
    values: dict[str, object] = {
        "uuid": "ev-1",
        "type": "VM.START",
        "state": EventState.COMPLETED,
        "level": EventLevel.INFO,
        "description": "Completed starting VM vm-1",
        "resource_type": "VirtualMachine",
        "resource_uuid": "vm-1",
        "created": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    values.update(changes)
    return Event(**values)


def test_event_response_names_who_and_where():
    row = EventRow(make_event(), "admin", "admin", "dom-1", "ROOT", "/", "ev-0")
    assert event_response(row) == {
        "id": "ev-1",
        "username": "admin",
        "type": "VM.START",
        "level": "INFO",
        "description": "Completed starting VM vm-1",
        "account": "admin",
        "domainid": "dom-1",
        "domain": "ROOT",
        "domainpath": "/",
        "created": "2026-01-02T03:04:05+0000",
        "state": "Completed",
        "parentid": "ev-0",
        "resourceid": "vm-1",
        "resourcetype": "VirtualMachine",
    }


def test_event_response_leaves_out_what_is_unknown():
    row = EventRow(make_event(resource_type=None, resource_uuid=None), *[None] * 6)
    item = event_response(row)
    assert set(item) == {"id", "type", "level", "description", "created", "state"}


def test_event_type_response():
    assert event_type_response(EventType.VM_CREATE) == {"name": "VM.CREATE"}
