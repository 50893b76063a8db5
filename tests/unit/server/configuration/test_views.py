from kvmcloud.server.configuration.models import ConfigurationValue
from kvmcloud.server.configuration.views import configuration_response


def setting(name: str, **changes: object) -> ConfigurationValue:
    values: dict[str, object] = {
        "name": name,
        "value": "250",
        "category": "Advanced",
        "component": "management-server",
        "description": "Most items a list API returns per page",
        "default_value": "500",
        "scope": "Global",
        "is_dynamic": True,
    }
    values.update(changes)
    return ConfigurationValue(**values)


def test_a_known_setting_shows_its_type_and_lower_cased_scope():
    assert configuration_response(setting("default.page.size")) == {
        "name": "default.page.size",
        "value": "250",
        "category": "Advanced",
        "description": "Most items a list API returns per page",
        "scope": "global",
        "isdynamic": True,
        "component": "management-server",
        "defaultvalue": "500",
        "displaytext": "default.page.size",
        "type": "Integer",
        "group": "Miscellaneous",
        "subgroup": "Others",
    }


def test_an_unknown_setting_has_no_type_and_empty_fields_are_left_out():
    item = configuration_response(setting("no.such.setting", value=None, description=None))
    assert "type" not in item and "value" not in item and "description" not in item
    assert item["name"] == "no.such.setting"


def test_a_zone_value_is_shown_with_the_zone_scope_and_id():
    item = configuration_response(
        setting("direct.download.egress.allow", value="", scope="Zone"),
        zone_uuid="5b1c6a36-0b43-4cf8-9d0e-8f3c0e0b0c11",
        zone_value="127.0.0.0/8",
    )

    assert item["value"] == "127.0.0.0/8"
    assert item["scope"] == "zone"
    assert item["id"] == "5b1c6a36-0b43-4cf8-9d0e-8f3c0e0b0c11"
