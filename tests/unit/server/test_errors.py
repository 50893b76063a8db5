import pytest

from kvmcloud.server.errors import (
    CS_INVALID_PARAMETER_VALUE,
    CS_SERVER_API_EXCEPTION,
    SHOWN_VALUE_CHARS,
    ApiError,
    AuthenticationError,
    InsufficientCapacityError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RequestTooLargeError,
    ResourceInUseError,
    ResourceUnavailableError,
    UnsupportedActionError,
    shown,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ApiError("x"), 530),
        (AuthenticationError(), 401),
        (InvalidParameterError("p", "x"), 431),
        (NotFoundError("listZones", "id", "v"), 431),
        (UnsupportedActionError("x"), 432),
        (PermissionDeniedError("x"), 531),
        (InsufficientCapacityError("x"), 533),
        (ResourceUnavailableError("x"), 534),
        (ResourceInUseError("x"), 536),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_error_codes(error, code):
    assert error.error_code == code
    assert isinstance(error, ApiError)


def test_cs_error_codes():
    assert CS_SERVER_API_EXCEPTION == 9999
    assert CS_INVALID_PARAMETER_VALUE == 4350
    assert ApiError("x").cs_error_code == 9999
    assert InvalidParameterError("p", "x").cs_error_code == 4350
    assert NotFoundError("c", "p", "v").cs_error_code == 4350


def test_message_is_kept():
    error = ResourceInUseError("template is in use")

    assert error.message == "template is in use"
    assert str(error) == "template is in use"


def test_authentication_default_text():
    assert AuthenticationError().message == (
        "unable to verify user credentials and/or request signature"
    )


def test_invalid_parameter_names_param():
    error = InvalidParameterError("zoneid", "the zoneid is bad")

    assert error.param == "zoneid"
    assert error.message == "the zoneid is bad"


def test_not_found_text_is_cloudstacks():
    error = NotFoundError("deleteTemplate", "id", "1234")

    assert isinstance(error, InvalidParameterError)
    assert error.param == "id"
    assert error.message == (
        "Unable to execute API command deletetemplate due to invalid value. Invalid parameter "
        "id value=1234 due to incorrect long value format, or entity does not exist or due to "
        "incorrect parameter annotation for the field in api cmd class."
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ("a\x00b", "a\\x00b"),
        ("\r\n\t", "\\r\\n\\t"),
        ("\x1b\x7f\x85", "\\x1b\\x7f\\x85"),
        ("\u2028\u200b", "\\u2028\\u200b"),
        ("é 日本 💥", "é 日本 💥"),
    ],
)
def test_shown_escapes_what_does_not_print(value, text):
    assert shown(value) == text


def test_shown_is_bounded():
    assert shown("x" * 1000) == "x" * SHOWN_VALUE_CHARS + "…"
    assert shown("x" * SHOWN_VALUE_CHARS) == "x" * SHOWN_VALUE_CHARS


def test_not_found_text_shows_the_value_escaped():
    error = NotFoundError("listZones", "id", "\x00" * 500)

    assert "value=\\x00\\x00" in str(error) and "\x00" not in str(error)
    assert len(str(error)) < 600
    assert error.param == "id"


def test_request_too_large_is_413():
    assert RequestTooLargeError("big").error_code == 413


@pytest.mark.parametrize(
    ("param", "message", "text"),
    [
        ("hypervisor", "KVM only", "Invalid parameter hypervisor: KVM only"),
        ("id", "the id is bad", "the id is bad"),
        ("id", "invalid uuid", "Invalid parameter id: invalid uuid"),
        ("hostid", "Host h is not Up", "Invalid parameter hostid: Host h is not Up"),
        ("url", "URL check failed", "URL check failed"),
        ("a\x00", "bad", "Invalid parameter a\\x00: bad"),
    ],
)
def test_invalid_parameter_text_always_names_the_parameter(param, message, text):
    error = InvalidParameterError(param, message)

    assert error.naming_text() == text
    assert error.message == message
