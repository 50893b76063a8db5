"""Declared response fields: rendering, type checks and listApis descriptions."""

import pytest

from kvmcloud.server.api.fields import (
    SUCCESS,
    FieldType,
    ObjectSchema,
    UndeclaredFieldError,
    out,
    related,
)
from kvmcloud.server.api.params import Entity

NIC = ObjectSchema("NicResponse", (out("id", FieldType.STRING, "the nic id"),))
VM = ObjectSchema(
    "UserVmResponse",
    (
        out("id", FieldType.STRING, "the vm id"),
        out("cpunumber", FieldType.INTEGER, "cpus"),
        out("nic", FieldType.SET, "the nics", NIC),
        out("details", FieldType.MAP, "details"),
    ),
    entity=Entity.VIRTUAL_MACHINE,
)


def test_render_drops_nulls_and_refuses_undeclared_fields() -> None:
    assert VM.render({"id": "a", "cpunumber": None}) == {"id": "a"}
    assert VM.render({"id": "a", "jobid": "j"}) == {"id": "a", "jobid": "j"}
    with pytest.raises(UndeclaredFieldError, match="UserVmResponse does not declare bogus"):
        VM.render({"id": "a", "bogus": 1})


def test_problems_name_wrong_types_and_undeclared_nested_fields() -> None:
    item = {"id": "a", "cpunumber": True, "nic": [{"id": 1}, {"mac": "x"}], "details": []}
    assert VM.problems(item) == [
        "UserVmResponse.cpunumber: declared integer, answered bool",
        "UserVmResponse.nic[0].id: declared string, answered int",
        "UserVmResponse.nic[1].mac: not declared",
        "UserVmResponse.details: declared map, answered list",
    ]
    assert VM.problems({"id": "a", "cpunumber": 2, "nic": [], "details": {}}) == []


def test_describe_sorts_nests_and_adds_inherited_job_fields_at_the_top_only() -> None:
    described = VM.describe()
    assert [f["name"] for f in described] == [
        "cpunumber",
        "details",
        "id",
        "jobid",
        "jobstatus",
        "nic",
    ]
    nic = next(f for f in described if f["name"] == "nic")
    assert nic["type"] == "set"
    assert nic["response"] == [{"name": "id", "description": "the nic id", "type": "string"}]


def test_a_field_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declares id twice"):
        ObjectSchema("X", (out("id", FieldType.STRING, "a"), out("id", FieldType.STRING, "b")))


def test_related_names_other_commands_answering_the_same_object() -> None:
    others = [("listVirtualMachines", VM), ("deleteZone", SUCCESS), ("listZones", None)]
    assert related(VM, others) == "listVirtualMachines"
    assert related(SUCCESS, others) == ""
    assert related(None, others) == ""
