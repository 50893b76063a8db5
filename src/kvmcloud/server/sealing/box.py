"""SecretBox: AES-GCM seal/open of secrets at rest, bound to their column and row (pure)."""

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# enc:v1:<key id>:<urlsafe base64 of nonce + ciphertext + tag>
SEALED_PREFIX = "enc:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[0-9a-f]{8,32}$")


class SecretsError(Exception):
    """Base of the secrets-at-rest errors; messages never contain secret material."""


class SealedValueError(SecretsError):
    """A sealed value cannot be opened: wrong key, wrong column or row, tampered, or not sealed."""


class UnknownKeyError(SealedValueError):
    """A value is sealed under a key id the loaded key file does not hold."""


def user_secret_context(user_uuid: str) -> str:
    """Context binding an API secret key to its ``user`` row."""
    return f"user.secret_key:{user_uuid}"


def agent_key_context(host_uuid: str) -> str:
    """Context binding an agent key to its ``host`` row."""
    return f"host.agent_key:{host_uuid}"


def pool_secret_context(pool_uuid: str) -> str:
    """Context binding an RBD pool's cephx key to its ``storage_pool`` row."""
    return f"storage_pool.secret:{pool_uuid}"


def header_context(template_uuid: str, detail_name: str) -> str:
    """Context binding an HTTP_HEADER detail value to its template and header name."""
    return f"vm_template_details.value:{template_uuid}:{detail_name}"


def agent_key_digest(agent_key: str) -> str:
    """Return the lookup digest of an agent key (hex SHA-256).

    Agent keys are 256 random bits, so a plain hash cannot be reversed by guessing, and it
    does not change when the secrets key is rotated.
    """
    return hashlib.sha256(agent_key.encode()).hexdigest()


def is_sealed(value: str) -> bool:
    """Tell whether a stored value is in the sealed text format."""
    return value.startswith(SEALED_PREFIX)


def key_id_of(value: str) -> str | None:
    """Return the key id a sealed value names, or None when it is not sealed."""
    if not is_sealed(value):
        return None
    key_id, _, _ = value[len(SEALED_PREFIX) :].partition(":")
    return key_id


def new_key_id() -> str:
    """Return a fresh random key id (8 hex digits)."""
    return os.urandom(4).hex()


def new_key() -> bytes:
    """Return fresh key material for AES-256-GCM."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def check_key(key_id: str, key: bytes) -> None:
    """Refuse a key id or key material that a SecretBox cannot use.

    Raises:
        SecretsError: the id is not 8–32 lower-case hex digits or the key is not 32 bytes.
    """
    if not _KEY_ID.match(key_id):
        raise SecretsError(f"key id {key_id!r} must be 8 to 32 lower-case hex digits")
    if len(key) != KEY_BYTES:
        raise SecretsError(f"key {key_id} must be {KEY_BYTES} bytes, not {len(key)}")


@dataclass(frozen=True, slots=True)
class SecretBox:
    """Seals with the current key; opens with any key it holds (older ones during rotation)."""

    keys: Mapping[str, bytes] = field(repr=False)
    current: str

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            check_key(key_id, key)
        if self.current not in self.keys:
            raise SecretsError(f"the current key {self.current} is not among the keys")

    def seal(self, plaintext: str, context: str) -> str:
        """Encrypt ``plaintext`` under the current key, bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(
            nonce, plaintext.encode(), _associated_data(self.current, context)
        )
        token = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{SEALED_PREFIX}{self.current}:{token}"

    def open(self, value: str, context: str) -> str:
        """Decrypt a value sealed for ``context``.

        Raises:
            UnknownKeyError: sealed under a key this box does not hold.
            SealedValueError: not sealed, malformed, tampered with, or sealed for another
                context (a value copied from another column or row).
        """
        if not is_sealed(value):
            raise SealedValueError(f"a value for {_column(context)} is not sealed")
        key_id, _, token = value[len(SEALED_PREFIX) :].partition(":")
        key = self.keys.get(key_id)
        if key is None:
            raise UnknownKeyError(
                f"a value for {_column(context)} is sealed under key {key_id!r}, "
                "which the key file does not hold"
            )
        try:
            raw = base64.urlsafe_b64decode(token.encode())
        except (binascii.Error, ValueError):
            raise SealedValueError(f"a sealed value for {_column(context)} is malformed") from None
        if len(raw) < NONCE_BYTES + 16:
            raise SealedValueError(f"a sealed value for {_column(context)} is malformed")
        try:
            plain = AESGCM(key).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated_data(key_id, context)
            )
        except InvalidTag:
            raise SealedValueError(
                f"a sealed value for {_column(context)} does not open: tampered with, or "
                "sealed for another column or row"
            ) from None
        return plain.decode()

    def is_current(self, value: str) -> bool:
        """Tell whether ``value`` is sealed under the current key (nothing to re-seal)."""
        return key_id_of(value) == self.current


def _associated_data(key_id: str, context: str) -> bytes:
    return f"kvmcloud:v1:{key_id}:{context}".encode()


def _column(context: str) -> str:
    # The table.column part only: row ids and header names stay out of error texts.
    return context.partition(":")[0]
