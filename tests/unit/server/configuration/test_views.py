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
