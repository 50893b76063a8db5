import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from cs.client import cs_encode

from kvmcloud.protocol.api_signing import (
    format_expires,
    is_valid_signature,
    java_url_encode,
    parse_expires,
    sign,
    string_to_sign,
)

# CloudStack developer guide, "Signing API Requests" (reference section 1.2).
DOC_SECRET = (
    "VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ"
)
DOC_API_KEY = (
    "plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg"
)
DOC_PARAMS = {"apikey": DOC_API_KEY, "command": "listUsers", "response": "json"}
DOC_SIGNATURE = "TTpdDq/7j/J58XCRHomKoQXEQds="

SECRET = "s3cret-key"


def hmac_b64(message: str, secret: str) -> str:
    """HMAC-SHA1 + base64, written out here so the tests do not reuse the module's helper."""
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_with(params: dict[str, str], secret: str, encode: Callable[[str], str]) -> str:
    """Sign as a client does: case-sensitive name sort, ``encode`` each value, lower-case."""
    pairs = "&".join(f"{k}={encode(v)}" for k, v in sorted(params.items()))
    return hmac_b64(pairs.lower(), secret)


def lenient_encode(value: str) -> str:
    return quote(value, safe="-_.*~[]")


def java_reference_encode(value: str) -> str:
    """Byte-by-byte java.net.URLEncoder (UTF-8) with "+" then replaced by "%20"."""
    keep = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_"
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in value.encode())


# --- the documentation test vector -------------------------------------------------------


def test_documentation_vector_string_to_sign():
    assert string_to_sign(DOC_PARAMS) == (
        f"apikey={DOC_API_KEY.lower()}&command=listusers&response=json"
    )


def test_documentation_vector_signature():
    assert sign(DOC_PARAMS, DOC_SECRET) == DOC_SIGNATURE


def test_documentation_vector_verifies():
    assert is_valid_signature(DOC_PARAMS, DOC_SECRET, DOC_SIGNATURE)


def test_documentation_vector_ignores_signature_parameter():
    with_signature = {**DOC_PARAMS, "signature": DOC_SIGNATURE}

    assert sign(with_signature, DOC_SECRET) == DOC_SIGNATURE


# --- java.net.URLEncoder rules -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("a b", "a%20b"),
        ("a+b", "a%2Bb"),
        ("a*b", "a*b"),
        ("a~b", "a%7Eb"),
        ("x[0]", "x%5B0%5D"),
        ("é", "%C3%A9"),
        ("a/b", "a%2Fb"),
        ("http:", "http%3A"),
        ("a=b&c", "a%3Db%26c"),
        ("Az09.-_", "Az09.-_"),
        ("O'Brien!", "O%27Brien%21"),
        ("", ""),
    ],
)
def test_java_url_encode(value, encoded):
    assert java_url_encode(value) == encoded


def test_java_reference_encoder_agrees_with_the_rules():
    # Guards the test helper itself against the reference's examples.
    assert java_reference_encode("a b+c~d*e[f]/g:é") == "a%20b%2Bc%7Ed*e%5Bf%5D%2Fg%3A%C3%A9"


def test_string_to_sign_lower_cases_names_values_and_hex_digits():
    params = {"Command": "listZones", "name": "Zone é/A"}

    assert string_to_sign(params) == "command=listzones&name=zone%20%c3%a9%2fa"


def test_string_to_sign_sorts_names_case_sensitively_before_lower_casing():
    # Java sorts the names as received: upper case sorts before lower case.
    params = {"alpha": "1", "Zeta": "2", "beta": "3"}

    assert string_to_sign(params) == "zeta=2&alpha=1&beta=3"
    assert sign(params, SECRET) == hmac_b64("zeta=2&alpha=1&beta=3", SECRET)


def test_string_to_sign_does_not_encode_names():
    params = {"details[0].HTTP_HEADER:X-Auth-Token": "a b", "command": "registerTemplate"}

    assert string_to_sign(params) == (
        "command=registertemplate&details[0].http_header:x-auth-token=a%20b"
    )


@pytest.mark.parametrize("name", ["signature", "Signature", "SIGNATURE", "sigNature"])
def test_signature_parameter_left_out_in_any_case(name):
    params = {"command": "listZones", name: "whatever"}

    assert string_to_sign(params) == "command=listzones"


def test_sign_matches_independent_java_computation():
    params = {
        "apiKey": "Key-1",
        "command": "registerTemplate",
        "url": "http://h/a b+c*d[1].qcow2?x=1&y=é",
    }
    expected = hmac_b64(
        "apikey=key-1&command=registertemplate&url="
        "http%3a%2f%2fh%2fa%20b%2bc*d%5b1%5d.qcow2%3fx%3d1%26y%3d%c3%a9",
        SECRET,
    )

    assert sign(params, SECRET) == expected


def test_sign_encodes_tilde_as_java_does():
    params = {"command": "listTemplates", "keyword": "~user"}

    assert string_to_sign(params) == "command=listtemplates&keyword=%7euser"


# --- verification: Java form, lenient form, rejections ------------------------------------


ODD_PARAMS = {
    "apiKey": "Key-1",
    "command": "registerTemplate",
    "name": "tilde~x [y]*z",
    "response": "json",
}


def test_accepts_java_signature():
    params = {**ODD_PARAMS, "name": "a b+c*d [e]/é:f"}
    signature = signed_with(params, SECRET, java_reference_encode)

    assert is_valid_signature(params, SECRET, signature)


def test_accepts_java_signature_for_tilde():
    signature = signed_with(ODD_PARAMS, SECRET, java_reference_encode)

    assert is_valid_signature(ODD_PARAMS, SECRET, signature)


def test_accepts_lenient_python_client_signature():
    lenient = signed_with(ODD_PARAMS, SECRET, lenient_encode)
    java = signed_with(ODD_PARAMS, SECRET, java_reference_encode)
    assert lenient != java  # the value really exercises the difference

    assert is_valid_signature(ODD_PARAMS, SECRET, lenient)


def test_accepts_signature_from_real_cs_encoder_for_tilde():
    params = {"command": "listTemplates", "keyword": "home~user", "response": "json"}

    assert is_valid_signature(params, SECRET, signed_with(params, SECRET, cs_encode))


def test_accepts_signature_from_real_cs_encoder_for_brackets():
    params = {"command": "listTemplates", "keyword": "disk[1]", "response": "json"}

    assert is_valid_signature(params, SECRET, signed_with(params, SECRET, cs_encode))


def test_accepts_signature_from_real_cs_encoder_for_tilde_and_brackets():
    # cs escapes [ and ] but not ~: neither the Java form nor the all-lenient one.
    params = {"command": "listTemplates", "keyword": "~user/disk[1]", "response": "json"}
    signature = signed_with(params, SECRET, cs_encode)

    assert is_valid_signature(params, SECRET, signature)


def test_rejects_wrong_secret():
    signature = signed_with(ODD_PARAMS, "other-secret", java_reference_encode)

    assert not is_valid_signature(ODD_PARAMS, SECRET, signature)


def test_rejects_lenient_signature_with_wrong_secret():
    signature = signed_with(ODD_PARAMS, "other-secret", lenient_encode)

    assert not is_valid_signature(ODD_PARAMS, SECRET, signature)


def test_rejects_tampered_value():
    signature = sign(ODD_PARAMS, SECRET)
    tampered = {**ODD_PARAMS, "name": "tilde~x [y]*Z!"}

    assert not is_valid_signature(tampered, SECRET, signature)


def test_rejects_added_parameter():
    signature = sign(ODD_PARAMS, SECRET)

    assert not is_valid_signature({**ODD_PARAMS, "listall": "true"}, SECRET, signature)


@pytest.mark.parametrize("offered", ["", "not-a-signature", "é", DOC_SIGNATURE])
def test_rejects_garbage_signature_without_raising(offered):
    assert not is_valid_signature(ODD_PARAMS, SECRET, offered)


# --- expires -----------------------------------------------------------------------------

NOON = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T12:00:00+0000", NOON),
        ("2024-01-01T12:00:00+00:00", NOON),
        ("2024-01-01T12:00:00Z", NOON),
        ("  2024-01-01T12:00:00Z ", NOON),
        ("2024-01-01T12:00:00.123456Z", NOON.replace(microsecond=123456)),
        ("2024-01-01T12:00:00.123456+0000", NOON.replace(microsecond=123456)),
        ("2024-01-01T14:00:00+0200", NOON),
        ("2024-01-01T07:00:00-05:00", NOON),
    ],
)
def test_parse_expires_accepted_forms(text, expected):
    parsed = parse_expires(text)

    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is not None


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T12:00:00",  # no zone: ambiguous
        "2024-01-01",
        "garbage",
        "",
        "2024-13-01T12:00:00Z",
        "2024-01-01T12:00:00ZZ",
    ],
)
def test_parse_expires_refuses(text):
    assert parse_expires(text) is None


def test_format_expires_uses_cs_format():
    moment = datetime(2024, 5, 1, 12, 20, 30, tzinfo=timezone(timedelta(hours=2)))

    assert format_expires(moment) == "2024-05-01T10:20:30+0000"


def test_format_expires_round_trips():
    moment = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)

    assert parse_expires(format_expires(moment)) == moment
