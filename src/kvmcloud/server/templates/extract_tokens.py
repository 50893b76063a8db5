"""Signed, expiring extract-URL tokens: sign_token(), verify_token(), signing_key() (pure)."""

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

# Keeps the derived key apart from any other use of the secrets key it comes from.
_KEY_LABEL = b"kvmcloud:extract-url:v1"
_MAX_TOKEN_CHARS = 1024
_URLSAFE_B64 = re.compile(r"[A-Za-z0-9_-]+")


class TokenError(Exception):
    """An extract token is malformed, tampered with, signed by an unknown key, or expired."""


class ExpiredTokenError(TokenError):
    """A well-signed extract token whose lifetime is over."""


@dataclass(frozen=True, slots=True)
class ExtractClaims:
    """What an extract token grants: reading one verified pool copy until ``expires_s``."""

    ref_id: int
    template_uuid: str
    expires_s: int


def signing_key(secret: bytes) -> bytes:
    """Derive the extract-URL signing key from a secrets key (the servers share it)."""
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def sign_token(claims: ExtractClaims, key_id: str, key: bytes) -> str:
    """Return ``<payload>.<signature>``, both URL-safe base64 without padding."""
    payload = json.dumps(
        {"k": key_id, "r": claims.ref_id, "t": claims.template_uuid, "e": claims.expires_s},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    body = _encode(payload)
    return f"{body}.{_encode(_mac(key, body))}"


def verify_token(token: str, keys: Mapping[str, bytes], now_s: float) -> ExtractClaims:
    """Return the claims of a token signed with one of ``keys`` that has not expired.

    The signature is checked before anything in the payload is trusted, and the expiry
    only after it: an expired token is one this server really issued.

    Raises:
        TokenError: malformed, unknown key, or a signature that does not match.
        ExpiredTokenError: signed correctly, but ``expires_s`` has passed.
    """
    if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenError("malformed token")
    body, signature = token.split(".")
    try:
        payload = json.loads(_decode(body))
        given = _decode(signature)
    except (ValueError, binascii.Error):
        raise TokenError("malformed token") from None
    if not isinstance(payload, dict):
        raise TokenError("malformed token")
    key = keys.get(str(payload.get("k")))
    if key is None or not hmac.compare_digest(_mac(key, body), given):
        raise TokenError("bad signature")
    ref_id, template_uuid, expires_s = payload.get("r"), payload.get("t"), payload.get("e")
    if not (
        isinstance(ref_id, int) and isinstance(template_uuid, str) and isinstance(expires_s, int)
    ):
        raise TokenError("malformed token")
    if now_s >= expires_s:
        raise ExpiredTokenError("token expired")
    return ExtractClaims(ref_id, template_uuid, expires_s)


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode(), hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    if not _URLSAFE_B64.fullmatch(text):
        raise ValueError("not URL-safe base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
