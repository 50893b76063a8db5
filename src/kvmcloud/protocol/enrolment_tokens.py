"""Enrolment tokens: ``<secret>.<SHA-256 of the agent's bootstrap certificate>``, made and read.

The agent prints the token; the operator gives it to addHost as ``password``. The secret
proves the server may enrol the agent; the fingerprint lets the server check, before it
sends the secret, that it talks to that agent and not to whoever answers at the address.
"""

import re
from dataclasses import dataclass, field

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{16,128}")


class TokenFormatError(ValueError):
    """The text is not an enrolment token."""


@dataclass(frozen=True, slots=True)
class EnrolmentToken:
    """The two parts of an enrolment token."""

    secret: str = field(repr=False)
    fingerprint: str

    def __str__(self) -> str:
        return f"{self.secret}.{self.fingerprint}"


def parse_token(text: str) -> EnrolmentToken:
    """Split a token into its secret and fingerprint.

    Raises:
        TokenFormatError: it is not ``<secret>.<64 hex digits>``.
    """
    secret, dot, fingerprint = text.strip().rpartition(".")
    fingerprint = fingerprint.lower()
    if not dot or not _SECRET.fullmatch(secret) or not _FINGERPRINT.fullmatch(fingerprint):
        raise TokenFormatError(
            "must be the enrolment token the agent prints: <secret>.<64 hex digits>"
        )
    return EnrolmentToken(secret=secret, fingerprint=fingerprint)
