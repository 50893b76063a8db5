import base64
import json

import pytest

from kvmcloud.server.templates.extract_tokens import (
    ExpiredTokenError,
    ExtractClaims,
    TokenError,
    sign_token,
    signing_key,
    verify_token,
)

KEY = signing_key(b"k" * 32)
OTHER_KEY = signing_key(b"o" * 32)
CLAIMS = ExtractClaims(ref_id=7, template_uuid="tmpl-1", expires_s=1_000)


def test_a_signed_token_verifies_to_its_claims_before_it_expires() -> None:
    token = sign_token(CLAIMS, "aaaa0001", KEY)
    assert verify_token(token, {"aaaa0001": KEY}, now_s=999.9) == CLAIMS


def test_a_token_is_url_safe_and_carries_no_key_material() -> None:
    token = sign_token(CLAIMS, "aaaa0001", KEY)
    assert all(c.isalnum() or c in "-_." for c in token)
    assert base64.urlsafe_b64encode(KEY).decode().rstrip("=") not in token


def test_an_expired_token_is_refused_as_expired() -> None:
    token = sign_token(CLAIMS, "aaaa0001", KEY)
    with pytest.raises(ExpiredTokenError):
        verify_token(token, {"aaaa0001": KEY}, now_s=1_000)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = sign_token(CLAIMS, "aaaa0001", OTHER_KEY)
    with pytest.raises(TokenError) as caught:
        verify_token(token, {"aaaa0001": KEY}, now_s=0)
    assert not isinstance(caught.value, ExpiredTokenError)


def test_a_token_naming_an_unknown_key_is_refused() -> None:
    token = sign_token(CLAIMS, "bbbb0002", KEY)
    with pytest.raises(TokenError):
        verify_token(token, {"aaaa0001": KEY}, now_s=0)


def test_an_older_key_still_held_verifies_its_tokens() -> None:
    token = sign_token(CLAIMS, "aaaa0001", KEY)
    assert verify_token(token, {"aaaa0001": KEY, "bbbb0002": OTHER_KEY}, now_s=0) == CLAIMS


def test_a_tampered_payload_is_refused_even_with_a_later_expiry() -> None:
    token = sign_token(CLAIMS, "aaaa0001", KEY)
    _, signature = token.split(".")
    forged = json.dumps({"k": "aaaa0001", "r": 8, "t": "tmpl-1", "e": 9_999_999_999}).encode()
    body = base64.urlsafe_b64encode(forged).decode().rstrip("=")
    with pytest.raises(TokenError) as caught:
        verify_token(f"{body}.{signature}", {"aaaa0001": KEY}, now_s=0)
    assert not isinstance(caught.value, ExpiredTokenError)


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b.c", "é.x", "a" * 2000 + ".b", "!!!!.????", ".", "e30.AAAA"]
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        verify_token(token, {"aaaa0001": KEY}, now_s=0)


def test_the_signing_key_depends_on_the_secret() -> None:
    assert signing_key(b"k" * 32) == KEY
    assert signing_key(b"k" * 32) != signing_key(b"l" * 32)
