from kvmcloud.server.api.params import Entity, ParamType
from kvmcloud.server.app import build_registry
from kvmcloud.server.entities import ABSENT_ENTITIES, ID_COLUMNS

# Filters that name no single kind of entity (CloudStack's listEvents resourceid goes with
# resourcetype), so an unknown value lists nothing instead of being refused. Roles are a
# fixed catalog, not rows: an unknown listRoles id lists nothing.
UNRESOLVED = {("listEvents", "resourceid"), ("listRoles", "id")}
# A list of service names, not of ids.
UNRESOLVED.add(("listVPCs", "supportedservices"))


def test_every_entity_has_its_id_column_or_is_one_kvmcloud_has_none_of():
    assert set(ID_COLUMNS) | ABSENT_ENTITIES == set(Entity)
    assert not set(ID_COLUMNS) & ABSENT_ENTITIES


def test_every_uuid_filter_of_a_list_command_names_its_entity():
    missing = [
        (command.name, spec.name)
        for command in build_registry().all()
        if command.name.startswith("list")
        for spec in command.param_specs()
        if spec.type in (ParamType.UUID, ParamType.LIST)
        and spec.entity is None
        and (command.name, spec.name) not in UNRESOLVED
    ]

    assert missing == []
