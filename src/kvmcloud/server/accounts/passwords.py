"""Password hashing (pure): PBKDF2-SHA256 with a per-user salt, constant-time verify."""

import base64
import hashlib
import hmac
import secrets

# OWASP's 2023 figure for PBKDF2-HMAC-SHA256; stored with each hash, so raising it later
# leaves existing hashes verifiable.
ITERATIONS = 600_000
SALT_BYTES = 16
_SCHEME = "pbkdf2_sha256"
# A password longer than this is refused before hashing: PBKDF2 pre-hashes long keys, but
# a megabyte-long "password" is never legitimate and costs the server a hash per try.
MAX_PASSWORD_CHARS = 1024
# Generated passwords: 24 URL-safe characters, 144 bits.
GENERATED_BYTES = 18


class PasswordHashError(ValueError):
    """A stored value is not a password hash this module wrote."""


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """Return ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` (base64) for ``password``."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = _derive(password, salt, iterations)
    return f"{_SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Tell whether ``password`` matches ``stored``; False for no or a malformed hash.

    The comparison is constant-time; a user without a password never matches.
    """
    if not stored or len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        iterations, salt, expected = _parse(stored)
    except PasswordHashError:
        return False
    return hmac.compare_digest(_derive(password, salt, iterations), expected)


def dummy_verify(password: str) -> None:
    """Spend the time a verify would, so an unknown user answers as slowly as a known one."""
    _derive(password[:MAX_PASSWORD_CHARS], b"\0" * SALT_BYTES, ITERATIONS)


def needs_rehash(stored: str) -> bool:
    """Tell whether ``stored`` was made with fewer iterations than today's."""
    try:
        iterations, _salt, _hash = _parse(stored)
    except PasswordHashError:
        return True
    return iterations < ITERATIONS


def generate_password() -> str:
    """A random password for the bootstrap admin (printed once by ``init``)."""
    return secrets.token_urlsafe(GENERATED_BYTES)


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)


def _parse(stored: str) -> tuple[int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != _SCHEME or not parts[1].isdigit():
        raise PasswordHashError("not a pbkdf2_sha256 hash")
    iterations = int(parts[1])
    if not 1 <= iterations <= 10 * ITERATIONS:
        raise PasswordHashError("iteration count out of range")
    try:
        return iterations, _unb64(parts[2]), _unb64(parts[3])
    except ValueError:
        raise PasswordHashError("bad base64 in the hash") from None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
