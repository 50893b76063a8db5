from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pytest

from kvmcloud.protocol.checksums import Checksum, ChecksumAlgorithm
from kvmcloud.server.accounts.visibility import OwnerFilter
from kvmcloud.server.api.params import (
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    MAX_NAME_CHARS,
    MAX_PARAMS,
    MAX_VALUE_CHARS,
    DomainListParams,
    Entity,
    ListParams,
    Long,
    OwnerListParams,
    ParamSpec,
    ParamType,
    RawParams,
    Uuid,
    check_bounds,
    cloudstack_name,
    describe,
    entity_ids,
    param,
    parse_params,
)
from kvmcloud.server.errors import (
    InvalidParameterError,
    NotFoundError,
    RequestTooLargeError,
    shown,
)

ZONE = "6f2c1d7e-0b1a-4c55-9a3e-1f2d3c4b5a69"
ZONE_2 = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


class Color(StrEnum):
    RED = "Red"
    DARK_BLUE = "DarkBlue"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExampleParams:
    name: str = param("the name", length=10)
    zone_id: Uuid = param("the zone")
    os_type_id: Uuid | None = param("the OS type", default=None)
    zone_ids: list[Uuid] | None = param("several zones", default=None)
    is_public: bool | None = param("whether public", default=None)
    size: int | None = param("a size", default=None)
    checksum: Checksum | None = param("the checksum", default=None)
    details: dict[str, str] | None = param("details map", default=None)
    tags: list[str] | None = param("tags", default=None, length=5)
    color: Color | None = param("a color", default=None)
    filter_kind: str | None = param("renamed", name="kindfilter", default=None)
    disk_size: Long | None = param("a long", default=None)
    cpus: int | None = param("a bounded integer", minimum=1, maximum=64, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequiredMapParams:
    details: dict[str, str] = param("required map")


def parse(
    params: dict[str, str], cls: type[Any] = ExampleParams, command: str = "registerTemplate"
) -> Any:
    return parse_params(cls, command, RawParams(params))


def base(**extra: str) -> dict[str, str]:
    return {"name": "n", "zoneid": ZONE, **extra}


def parse_error(params: dict[str, str], cls: type[Any] = ExampleParams) -> InvalidParameterError:
    with pytest.raises(InvalidParameterError) as info:
        parse(params, cls)
    return info.value


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "name"),
    [
        ("zone_id", "zoneid"),
        ("os_type_id", "ostypeid"),
        ("name", "name"),
        ("page_size", "pagesize"),
    ],
)
def test_cloudstack_name_drops_underscores(field, name):
    assert cloudstack_name(field) == name


def test_minimal_request_parses_with_defaults():
    parsed = parse(base())

    assert parsed == ExampleParams(name="n", zone_id=Uuid(ZONE))
    assert parsed.os_type_id is None and parsed.details is None


def test_names_are_matched_case_insensitively():
    parsed = parse({"Name": "n", "ZONEID": ZONE, "osTypeId": ZONE_2, "isPublic": "true"})

    assert parsed.zone_id == ZONE
    assert parsed.os_type_id == ZONE_2
    assert parsed.is_public is True


def test_name_override():
    assert parse(base(kindfilter="self")).filter_kind == "self"
    assert parse(base(filter_kind="self", filterkind="self")).filter_kind is None


def test_unknown_parameters_are_ignored():
    parsed = parse(base(command="registerTemplate", apiKey="k", signature="s", response="json"))

    assert parsed == ExampleParams(name="n", zone_id=Uuid(ZONE))


# --- required -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "present"), [("zoneid", {"name": "n"}), ("name", {"zoneid": ZONE})]
)
def test_missing_required_parameter(missing, present):
    error = parse_error(present)

    assert error.param == missing
    assert error.error_code == 431
    assert str(error) == (
        f"Unable to execute API command registertemplate due to missing parameter {missing}"
    )


def test_missing_required_map():
    error = parse_error({}, RequiredMapParams)

    assert error.param == "details"
    assert str(error) == (
        "Unable to execute API command registertemplate due to missing parameter details"
    )


def test_empty_optional_value_is_treated_as_absent():
    parsed = parse(base(isPublic="", size="", ostypeid="", color=""))

    assert parsed == ExampleParams(name="n", zone_id=Uuid(ZONE))


@dataclass(frozen=True, slots=True, kw_only=True)
class TagParams:
    host_tags: str | None = param("tags", keep_empty=True, default=None)
    name: str | None = param("name", default=None)


def test_a_keep_empty_parameter_passes_an_empty_value_on():
    parsed = parse_params(TagParams, "updateHost", RawParams({"hosttags": "", "name": ""}))

    assert parsed == TagParams(host_tags="", name=None)
    assert parse_params(TagParams, "updateHost", RawParams({})) == TagParams()
    assert [s.keep_empty for s in describe(TagParams)] == [True, False]


# --- booleans, integers, enums ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("True", True), ("TRUE", True), ("false", False), ("FALSE", False)],
)
def test_boolean_values(text, value):
    assert parse(base(ispublic=text)).is_public is value


def test_boolean_reads_pythons_none_as_false_as_cloudstack_does():
    assert parse(base(ispublic="None")).is_public is False


@pytest.mark.parametrize("text", ["yes", "no", "1", "0", "on", "truthy", "none", "null"])
def test_boolean_refuses_other_words(text):
    error = parse_error(base(ispublic=text))

    assert error.param == "ispublic"
    assert error.error_code == 431
    assert f"Invalid parameter ispublic value={text}" in str(error)


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("42", 42), ("-1", -1)])
def test_integer_values(text, value):
    assert parse(base(size=text)).size == value


@pytest.mark.parametrize(
    "text", ["abc", "1.5", "12abc", " 12", "12 ", "12\n", "1_000", "١٢", "0x10", "1e3", "+"]
)
def test_integer_refuses_non_integers(text):
    error = parse_error(base(size=text))

    assert error.param == "size"
    assert "Invalid parameter size value=" in str(error)
    assert "integer" in str(error)


@pytest.mark.parametrize(("text", "value"), [(str(INT_MIN), INT_MIN), (str(INT_MAX), INT_MAX)])
def test_integer_takes_java_int_range(text, value):
    assert parse(base(size=text)).size == value


@pytest.mark.parametrize("text", [str(INT_MAX + 1), str(INT_MIN - 1), "99999999999999999999"])
def test_integer_outside_java_int_range_is_refused_naming_it(text):
    error = parse_error(base(size=text))

    assert error.param == "size" and error.error_code == 431
    assert str(error) == (
        f"Invalid parameter size value={text}: must be an integer from {INT_MIN} to {INT_MAX}"
    )


@pytest.mark.parametrize(("text", "value"), [(str(LONG_MAX), LONG_MAX), (str(LONG_MIN), LONG_MIN)])
def test_long_takes_java_long_range(text, value):
    assert parse(base(disksize=text)).disk_size == value


@pytest.mark.parametrize("text", [str(LONG_MAX + 1), str(LONG_MIN - 1), "9" * 40, "9" * 41])
def test_long_outside_java_long_range_is_refused(text):
    error = parse_error(base(disksize=text))

    assert error.param == "disksize"
    assert "must be a long" in str(error)


@pytest.mark.parametrize(("text", "ok"), [("1", True), ("64", True), ("0", False), ("65", False)])
def test_declared_minimum_and_maximum(text, ok):
    if ok:
        assert parse(base(cpus=text)).cpus == int(text)
    else:
        error = parse_error(base(cpus=text))
        assert error.param == "cpus" and "from 1 to 64" in str(error)


def test_hostile_value_is_shown_escaped_and_bounded():
    error = parse_error(base(size="\x00\r\n" + "9" * 200))

    text = str(error)
    assert "\x00" not in text and "\r" not in text and "\n" not in text
    assert "value=\\x00\\r\\n999" in text
    assert len(text) < 200


@pytest.mark.parametrize(
    ("text", "value"),
    [("Red", Color.RED), ("red", Color.RED), ("RED", Color.RED), ("darkblue", Color.DARK_BLUE)],
)
def test_enum_matched_case_insensitively(text, value):
    assert parse(base(color=text)).color is value


def test_enum_refuses_unknown_member_and_lists_allowed():
    error = parse_error(base(color="green"))

    assert error.param == "color"
    assert "Invalid parameter color value=green" in str(error)
    assert "Red" in str(error) and "DarkBlue" in str(error)


# --- uuids --------------------------------------------------------------------------------


def test_uuid_is_normalised():
    assert parse(base(zoneid=ZONE.upper())).zone_id == ZONE


@pytest.mark.parametrize(
    "text",
    [
        "not-a-uuid",
        "123",
        ZONE[:-1],
        f"{ZONE} ",
        f" {ZONE}",
        f"{ZONE}\n",
        f"{{{ZONE}}}",
        f"urn:uuid:{ZONE}",
        ZONE.replace("-", ""),
    ],
)
def test_bad_uuid_gets_cloudstack_invalid_value_text(text):
    error = parse_error(base(zoneid=text))

    assert isinstance(error, NotFoundError)
    assert error.error_code == 431
    assert error.param == "zoneid"
    assert str(error) == (
        "Unable to execute API command registertemplate due to invalid value. Invalid parameter "
        f"zoneid value={shown(text)} due to incorrect long value format, or entity does not "
        "exist or due to incorrect parameter annotation for the field in api cmd class."
    )


# --- lists --------------------------------------------------------------------------------


def test_uuid_list_is_comma_joined():
    parsed = parse(base(zoneids=f"{ZONE}, {ZONE_2.upper()},,"))

    assert parsed.zone_ids == [ZONE, ZONE_2]


def test_uuid_list_with_bad_member_names_parameter_and_member():
    error = parse_error(base(zoneids=f"{ZONE},bogus"))

    assert isinstance(error, NotFoundError)
    assert error.param == "zoneids"
    assert "Invalid parameter zoneids value=bogus " in str(error)


def test_string_list():
    assert parse(base(tags="a,b, c")).tags == ["a", "b", "c"]


def test_string_list_item_length_is_checked():
    error = parse_error(base(tags="short,toolong"))

    assert error.param == "tags"
    assert "longer than 5 characters" in str(error)


# --- strings ------------------------------------------------------------------------------


def test_string_at_max_length_is_accepted():
    assert parse(base(name="x" * 10)).name == "x" * 10


def test_too_long_string_is_refused():
    error = parse_error(base(name="x" * 11))

    assert error.param == "name"
    assert error.error_code == 431
    assert "Invalid parameter name value=" in str(error)
    assert "longer than 10 characters" in str(error)


def test_default_length_is_255():
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Plain:
        text: str = param("some text")

    assert parse({"text": "y" * 255}, Plain).text == "y" * 255
    assert parse_error({"text": "y" * 256}, Plain).param == "text"


# --- checksums ----------------------------------------------------------------------------


def test_checksum_is_parsed():
    parsed = parse(base(checksum="{sha256}" + SHA256.upper()))

    assert parsed.checksum == Checksum(ChecksumAlgorithm.SHA256, SHA256)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{MD5}" + SHA256, "MD5 digest length should be 32 instead of 64"),
        ("{CRC32}abcd", "not supported"),
        ("xyz", "hexadecimal"),
    ],
)
def test_checksum_errors_name_checksum(text, reason):
    error = parse_error(base(checksum=text))

    assert error.param == "checksum"
    assert error.error_code == 431
    assert f"Invalid parameter checksum value={text}" in str(error)
    assert reason in str(error)


# --- maps ---------------------------------------------------------------------------------


def test_map_keeps_key_case():
    parsed = parse(base(**{"details[0].HTTP_HEADER:X-Auth-Token": "secret"}))

    assert parsed.details == {"HTTP_HEADER:X-Auth-Token": "secret"}


def test_map_prefix_is_case_insensitive_and_group_collects_keys():
    parsed = parse(base(**{"Details[0].a": "1", "DETAILS[0].B": "2"}))

    assert parsed.details == {"a": "1", "B": "2"}


def test_map_uses_only_the_lowest_group():
    parsed = parse(base(**{"details[1].a": "1", "details[0].b": "2", "details[2].c": "3"}))

    assert parsed.details == {"b": "2"}


def test_map_group_indexes_compare_as_numbers():
    parsed = parse(base(**{"details[10].a": "1", "details[9].b": "2"}))

    assert parsed.details == {"b": "2"}


def test_too_many_map_groups_are_refused():
    params = base(**{f"details[{i}].k": "v" for i in range(257)})

    error = parse_error(params)

    assert error.param == "details"
    assert error.error_code == 431


def test_many_keys_in_one_group_are_fine():
    params = base(**{f"details[0].k{i}": "v" for i in range(300)})

    details = parse(params).details

    assert details is not None and len(details) == 300


# --- describe (listApis) ------------------------------------------------------------------


def test_describe_reports_names_types_required_and_length():
    specs = {spec.field: spec for spec in describe(ExampleParams)}

    assert specs["name"] == ParamSpec("name", "name", ParamType.STRING, True, "the name", 10)
    assert specs["zone_id"] == ParamSpec("zone_id", "zoneid", ParamType.UUID, True, "the zone", 255)
    assert specs["filter_kind"].name == "kindfilter"
    assert {field: spec.type for field, spec in specs.items()} == {
        "name": ParamType.STRING,
        "zone_id": ParamType.UUID,
        "os_type_id": ParamType.UUID,
        "zone_ids": ParamType.LIST,
        "is_public": ParamType.BOOLEAN,
        "size": ParamType.INTEGER,
        "checksum": ParamType.STRING,
        "details": ParamType.MAP,
        "tags": ParamType.LIST,
        "color": ParamType.STRING,
        "filter_kind": ParamType.STRING,
        "disk_size": ParamType.LONG,
        "cpus": ParamType.INTEGER,
    }
    assert (specs["cpus"].minimum, specs["cpus"].maximum) == (1, 64)
    assert [field for field, spec in specs.items() if spec.required] == ["name", "zone_id"]
    assert specs["tags"].length == 5


def test_describe_keeps_declaration_order():
    assert [spec.name for spec in describe(ListParams)] == [
        "keyword",
        "page",
        "pagesize",
        "listall",
    ]


def test_list_params():
    parsed = parse(
        {"keyword": "web", "page": "2", "pageSize": "10", "listAll": "TRUE"},
        ListParams,
        "listZones",
    )

    assert parsed == ListParams(keyword="web", page=2, page_size=10, list_all=True)


def test_owner_list_params_give_the_owner_filter():
    parsed = parse(
        {"account": "bob", "domainId": ZONE, "isRecursive": "true", "listall": "true"},
        OwnerListParams,
        "listVirtualMachines",
    )

    assert [spec.name for spec in describe(OwnerListParams)] == [
        "keyword",
        "page",
        "pagesize",
        "listall",
        "domainid",
        "isrecursive",
        "account",
    ]
    assert parsed.owner_filter() == OwnerFilter(
        account_name="bob", domain_uuid=ZONE, is_recursive=True, list_all=True
    )
    assert parse({}, DomainListParams, "listAccounts").owner_filter("x") == OwnerFilter(
        account_name="x"
    )


# --- paging -------------------------------------------------------------------------------


# --- bounds on the raw request --------------------------------------------------------------


def test_bounds_accept_a_large_legitimate_request():
    check_bounds({f"details[{i}].key": "v" for i in range(MAX_PARAMS - 1)} | {"u": "x" * 4096})
    check_bounds({"userdata": "x" * MAX_VALUE_CHARS, "n" * MAX_NAME_CHARS: "v"})


def test_bounds_refuse_too_many_parameters():
    with pytest.raises(RequestTooLargeError) as info:
        check_bounds({str(i): "" for i in range(MAX_PARAMS + 1)})
    assert info.value.error_code == 413


def test_bounds_refuse_a_long_name_showing_its_start():
    with pytest.raises(InvalidParameterError) as info:
        check_bounds({"\x00" + "n" * MAX_NAME_CHARS: "v"})
    assert "\\x00nnn" in str(info.value) and "\x00" not in str(info.value)
    assert len(str(info.value)) < 200


def test_bounds_refuse_a_long_value_naming_it_without_quoting_it():
    with pytest.raises(InvalidParameterError) as info:
        check_bounds({"password": "hunter2" * (MAX_VALUE_CHARS // 7 + 1)})
    assert info.value.param == "password"
    assert str(info.value).startswith("Invalid parameter password: longer than")
    assert "hunter2" not in str(info.value)


# --- entities -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterParams:
    id: Uuid | None = param("the zone", entity=Entity.ZONE, default=None)
    ids: list[Uuid] | None = param("zones", entity=Entity.ZONE, default=None)
    other: Uuid | None = param("no entity", default=None)


def test_entity_ids_yields_given_ids_with_their_spec():
    parsed = parse({"id": ZONE, "ids": f"{ZONE},{ZONE_2}", "other": ZONE}, FilterParams)

    given = [
        (spec.name, spec.entity, ids) for spec, ids in entity_ids(describe(FilterParams), parsed)
    ]

    assert given == [("id", Entity.ZONE, [ZONE]), ("ids", Entity.ZONE, [ZONE, ZONE_2])]


def test_entity_ids_skips_absent_parameters():
    assert list(entity_ids(describe(FilterParams), parse({}, FilterParams))) == []
