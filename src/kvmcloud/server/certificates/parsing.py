"""parse_certificate (PEM or bare base64 DER), alias and hypervisor rules, validity text (pure)."""

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from kvmcloud.server.errors import InvalidParameterError, OperationFailedError, shown

HYPERVISOR_KVM = "KVM"
MAX_ALIAS_LENGTH = 64
_ALIAS = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"
_PEM_LINE = 64


@dataclass(frozen=True, slots=True)
class ParsedCertificate:
    """An uploaded certificate, canonical PEM and the fields the API shows."""

    pem: str
    subject: str
    issuer: str
    serial: str
    version: int
    not_before: datetime
    not_after: datetime
    fingerprint: str


def _refuse(why: str) -> OperationFailedError:
    # CloudStack's DirectDownloadManagerImpl.getCertificateFromString text, and its 530.
    return OperationFailedError(
        f"Cannot parse the certificate provided, please provide a PEM certificate. Error: {why}"
    )


def _invalid(why: str) -> OperationFailedError:
    # CloudStack's DirectDownloadManagerImpl.certificateSanity text, and its 530.
    return OperationFailedError(
        f"Certificate is invalid. Please provide a valid certificate. Error: {why}"
    )


def _load(text: str) -> x509.Certificate:
    stripped = text.strip()
    if not stripped:
        raise _refuse("it is empty")
    if "-----BEGIN" not in stripped:
        try:
            der = base64.b64decode("".join(stripped.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _refuse("not a PEM certificate nor base64 of a DER certificate") from None
        try:
            return x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise _refuse(f"not an X.509 certificate ({exc})") from None
    kinds = _PEM_BLOCK.findall(stripped)
    if kinds != ["CERTIFICATE"]:
        # A private key pasted along with the certificate must not end up on every host.
        raise _refuse(
            "give exactly one PEM CERTIFICATE block and nothing else "
            f"(found: {', '.join(kinds) or 'none'})"
        )
    try:
        return x509.load_pem_x509_certificate(stripped.encode())
    except ValueError as exc:
        raise _refuse(f"not an X.509 certificate ({exc})") from None


def parse_certificate(text: str, now: datetime) -> ParsedCertificate:
    """Parse an uploaded certificate and check it is valid at ``now``.

    Raises:
        OperationFailedError: unparsable, expired or not yet valid (CloudStack's 530).
    """
    cert = _load(text)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < not_before:
        raise _invalid(f"the certificate is not valid yet (valid from {not_before.isoformat()})")
    if now > not_after:
        raise _invalid(f"the certificate has expired (valid until {not_after.isoformat()})")
    return ParsedCertificate(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=str(cert.serial_number),
        version=cert.version.value + 1,
        not_before=not_before,
        not_after=not_after,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
    )


def fingerprint_of(text: str) -> str:
    """Return the SHA-256 fingerprint (lower-case hex) of a PEM or base64 certificate."""
    return _load(text).fingerprint(hashes.SHA256()).hex()


def normalise_fingerprint(value: str) -> str:
    """Compare fingerprints written as ``AB:CD…`` or ``abcd…`` alike."""
    return value.replace(":", "").strip().lower()


def check_alias(alias: str) -> str:
    """Return the alias if agents can store it; refuse CloudStack's reserved ones.

    Raises:
        InvalidParameterError: naming ``name``.
    """
    if not 1 <= len(alias) <= MAX_ALIAS_LENGTH or not _ALIAS.fullmatch(alias):
        raise InvalidParameterError(
            "name",
            f"Invalid parameter name value={shown(alias)}: a certificate alias is 1 to "
            f"{MAX_ALIAS_LENGTH} of A-Z a-z 0-9 . _ - and does not start with a dot",
        )
    lowered = alias.lower()
    if lowered == "cloud" or lowered.startswith("cloudca"):
        raise InvalidParameterError(
            "name",
            f"Invalid parameter name value={alias}: the aliases 'cloud' and 'cloudca…' are "
            "reserved",
        )
    return alias


def check_hypervisor(hypervisor: str, param: str = "hypervisor") -> str:
    """Return ``KVM`` for any spelling of it; refuse other hypervisors.

    Raises:
        InvalidParameterError: naming ``param``.
    """
    if hypervisor.strip().upper() != HYPERVISOR_KVM:
        raise InvalidParameterError(
            param,
            f"Invalid parameter {param} value={shown(hypervisor)}: "
            "Currently supporting KVM hosts only",
        )
    return HYPERVISOR_KVM


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _java_date(moment: datetime) -> str:
    # java.util.Date.toString() in UTC, which CloudStack puts in the validity text; names
    # spelled out here so the process locale cannot change them.
    utc = moment.astimezone(UTC)
    day, month = _DAYS[utc.weekday()], _MONTHS[utc.month - 1]
    return f"{day} {month} {utc.day:02d} {utc:%H:%M:%S} UTC {utc.year}"


def validity_text(not_before: datetime, not_after: datetime) -> str:
    """Return CloudStack's validity field: ``From: [<date>] - To: [<date>]``."""
    return f"From: [{_java_date(not_before)}] - To: [{_java_date(not_after)}]"
