from typing import Any

import pytest

from kvmcloud.server.configuration.definitions import (
    BY_NAME,
    DEFINITIONS,
    ConfigKey,
    ConfigValueError,
)


@pytest.mark.parametrize("key", DEFINITIONS, ids=lambda k: k.name)
def test_default_parses(key):
    key.parse(key.default)


def test_names_are_unique_and_indexed():
    assert len(BY_NAME) == len(DEFINITIONS)
    assert all(BY_NAME[key.name] is key for key in DEFINITIONS)


# CloudStack reference (direct download), section 5: name → (default, category, dynamic, value).
CLOUDSTACK_DEFAULTS = {
    # Read at every tick of the scheduler, so it is dynamic here (CloudStack reads it at start).
    "direct.download.certificate.background.task.interval": ("0", "Advanced", True, 0.0),
    "direct.download.connect.timeout": ("5000", "Advanced", True, 5000),
    "direct.download.socket.timeout": ("5000", "Advanced", True, 5000),
    "direct.download.connection.request.timeout": ("5000", "Hidden", True, 5000),
    "store.download.follow.redirects": ("false", "Advanced", True, False),
    "primary.storage.download.wait": ("10800", "Storage", False, 10800),
}


@pytest.mark.parametrize(("name", "expected"), CLOUDSTACK_DEFAULTS.items())
def test_cloudstack_defaults(name, expected):
    default, category, dynamic, value = expected
    key = BY_NAME[name]

    assert (key.default, key.category, key.is_dynamic) == (default, category, dynamic)
    assert key.parse(key.default) == value
    assert type(key.parse(key.default)) is type(value)


def test_other_defaults():
    assert BY_NAME["ping.interval"].parse(BY_NAME["ping.interval"].default) == 60
    assert BY_NAME["ping.timeout"].parse(BY_NAME["ping.timeout"].default) == 2.5
    assert BY_NAME["default.page.size"].parse(BY_NAME["default.page.size"].default) == 500


def keys_of_type(type_name: str) -> list[ConfigKey[Any]]:
    return [key for key in DEFINITIONS if key.type_name == type_name]


NUMERIC_OR_BOOLEAN = [k for k in DEFINITIONS if k.type_name != "String"]


def test_every_key_has_a_known_type():
    assert {key.type_name for key in DEFINITIONS} <= {
        "Integer",
        "Long",
        "Float",
        "Boolean",
        "String",
    }


def test_instance_name_takes_a_short_dns_label_only():
    from kvmcloud.server.configuration.definitions import INSTANCE_NAME

    assert INSTANCE_NAME.parse(" e2e-7f ") == "e2e-7f"
    for bad in ("", "a b", "x/y", "a" * 33, "i_1"):
        with pytest.raises(ConfigValueError):
            INSTANCE_NAME.parse(bad)


@pytest.mark.parametrize("key", NUMERIC_OR_BOOLEAN, ids=lambda k: k.name)
@pytest.mark.parametrize("text", ["abc", "", "1e3x"])
def test_parsers_reject_garbage(key, text):
    with pytest.raises(ConfigValueError):
        key.parse(text)


@pytest.mark.parametrize("key", keys_of_type("Boolean"), ids=lambda k: k.name)
@pytest.mark.parametrize(("text", "value"), [("true", True), ("FALSE", False), (" True ", True)])
def test_boolean_accepts(key, text, value):
    assert key.parse(text) is value


@pytest.mark.parametrize("key", keys_of_type("Boolean"), ids=lambda k: k.name)
@pytest.mark.parametrize("text", ["yes", "no", "1", "0", "on"])
def test_boolean_rejects(key, text):
    with pytest.raises(ConfigValueError):
        key.parse(text)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("direct.download.connect.timeout", 1, 3_600_000),
        ("direct.download.socket.timeout", 1, 3_600_000),
        ("direct.download.connection.request.timeout", 1, 3_600_000),
        ("primary.storage.download.wait", 1, 7 * 86400),
        ("ping.interval", 1, 3600),
        ("default.page.size", 1, 100_000),
    ],
)
def test_integer_ranges(name, low, high):
    parse = BY_NAME[name].parse

    assert parse(str(low)) == low
    assert parse(f" {high} ") == high
    for bad in (str(low - 1), str(high + 1), "1.5", "true"):
        with pytest.raises(ConfigValueError):
            parse(bad)


def test_integer_error_texts():
    parse = BY_NAME["ping.interval"].parse

    with pytest.raises(ConfigValueError, match="must be an integer"):
        parse("abc")
    with pytest.raises(ConfigValueError, match="must be between 1 and 3600"):
        parse("0")


def test_float_range():
    parse = BY_NAME["ping.timeout"].parse

    assert parse("1") == 1.0
    assert parse("100") == 100.0
    assert parse("3.75") == 3.75
    for bad in ("0.99", "100.01", "-1", "nan", "inf", "abc"):
        with pytest.raises(ConfigValueError):
            parse(bad)


def test_config_value_error_is_a_value_error():
    assert issubclass(ConfigValueError, ValueError)


def test_certificate_sync_interval_takes_fractions_of_hours():
    parse = BY_NAME["direct.download.certificate.background.task.interval"].parse

    assert parse("0") == 0
    assert parse("0.25") == 0.25
    assert parse("8760") == 8760
    for bad in ("-1", "8761", "soon"):
        with pytest.raises(ConfigValueError):
            parse(bad)
