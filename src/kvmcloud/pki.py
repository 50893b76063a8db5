"""Agent-trust certificates (pure): keys, the CA, CSRs, issued certificates, fingerprints."""

import hashlib
import ipaddress
import ssl
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = timedelta(days=3650)
DEFAULT_LIFETIME = timedelta(days=365)
# Renew once less than this share of a certificate's lifetime is left.
RENEW_FRACTION = 1 / 3
# The management servers' certificates carry this name; agents accept no other client.
SERVER_COMMON_NAME = "kvmcloud management server"
CA_COMMON_NAME = "kvmcloud agent CA"
BOOTSTRAP_COMMON_NAME = "kvmcloud-agent bootstrap"
# Issued certificates start a little in the past: clocks of hosts are never quite equal.
_BACKDATE = timedelta(minutes=5)


class PkiError(ValueError):
    """A key, certificate or request is unusable; the text says why."""


def new_key_pem() -> str:
    """Return a new P-256 private key, PEM (PKCS#8, unencrypted: the file is 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(key_pem: str) -> str:
    """Return the public half of a private key, PEM."""
    return _public_pem(_key(key_pem).public_key())


def new_ca(now: datetime, *, lifetime: timedelta = CA_LIFETIME) -> tuple[str, str]:
    """Return (key PEM, certificate PEM) of a new self-signed CA."""
    key_pem = new_key_pem()
    key = _key(key_pem)
    name = _name(CA_COMMON_NAME)
    builder = (
        _builder(name, name, key.public_key(), now, lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return key_pem, _pem(builder.sign(key, hashes.SHA256()))


def self_signed(key_pem: str, now: datetime, *, lifetime: timedelta = CA_LIFETIME) -> str:
    """Return the agent's bootstrap certificate for ``key_pem`` (pinned by fingerprint)."""
    key = _key(key_pem)
    name = _name(BOOTSTRAP_COMMON_NAME)
    builder = _builder(name, name, key.public_key(), now, lifetime).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    return _pem(builder.sign(key, hashes.SHA256()))


def make_csr(key_pem: str) -> str:
    """Return a certificate signing request for ``key_pem`` (the CA chooses every name)."""
    request = x509.CertificateSigningRequestBuilder().subject_name(_name("kvmcloud-agent"))
    return (
        request.sign(_key(key_pem), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode("ascii")
    )


def csr_public_key(csr_pem: str) -> str:
    """Return the public key (PEM) of a CSR whose signature proves the key is held.

    Raises:
        PkiError: not a CSR, or its signature does not verify.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise PkiError(f"not a PEM certificate request: {exc}") from exc
    if not csr.is_signature_valid:
        raise PkiError("the certificate request's signature does not verify")
    return _public_pem(csr.public_key())


def certificate_public_key(cert_pem: str) -> str:
    """Return the public key (PEM) a certificate binds."""
    return _public_pem(_cert(cert_pem).public_key())


def issue(
    ca_key_pem: str,
    ca_cert_pem: str,
    public_key_pem: str,
    *,
    common_name: str,
    addresses: list[str],
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    """Sign a certificate for client and server use: ``common_name``, SANs ``addresses``.

    Names come from the CA's caller, never from the requester, so an agent cannot get a
    certificate naming the management server or another host.

    Raises:
        PkiError: the public key or the CA is unusable.
    """
    ca_key, ca_cert = _key(ca_key_pem), _cert(ca_cert_pem)
    try:
        public_key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise PkiError(f"not a PEM public key: {exc}") from exc
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise PkiError("only EC public keys are accepted")
    not_after = min(now + lifetime, ca_cert.not_valid_after_utc)
    builder = (
        _builder(_name(common_name), ca_cert.subject, public_key, now, not_after - now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(_ec_public(ca_key.public_key())),
            critical=False,
        )
    )
    if addresses:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(a) for a in addresses]), critical=False
        )
    return _pem(builder.sign(ca_key, hashes.SHA256()))


def check_issued(cert_pem: str, ca_cert_pem: str, key_pem: str) -> None:
    """Check that ``cert_pem`` is signed by the CA and binds ``key_pem``'s public key.

    Raises:
        PkiError: it is not.
    """
    cert, ca_cert = _cert(cert_pem), _cert(ca_cert_pem)
    if certificate_public_key(cert_pem) != _public_pem(_key(key_pem).public_key()):
        raise PkiError("the certificate is not for this agent's key")
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise PkiError("the certificate is not signed by the CA given with it") from exc


def fingerprint(cert_pem: str) -> str:
    """Return the SHA-256 of the certificate's DER, lower-case hex."""
    return fingerprint_der(_cert(cert_pem).public_bytes(serialization.Encoding.DER))


def fingerprint_der(der: bytes) -> str:
    """Return the SHA-256 of a DER certificate, lower-case hex."""
    return hashlib.sha256(der).hexdigest()


def der_to_pem(der: bytes) -> str:
    """Return a DER certificate as PEM.

    Raises:
        PkiError: not a certificate.
    """
    try:
        return _pem(x509.load_der_x509_certificate(der))
    except ValueError as exc:
        raise PkiError(f"not a DER certificate: {exc}") from exc


def common_name(cert_pem: str) -> str:
    """Return the certificate's subject common name ("" when it has none)."""
    names = _cert(cert_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def validity(cert_pem: str) -> tuple[datetime, datetime]:
    """Return (not before, not after), aware, in UTC."""
    cert = _cert(cert_pem)
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def subject_addresses(cert_pem: str) -> list[str]:
    """Return the DNS names and IP addresses the certificate names."""
    try:
        san = _cert(cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names: list[str] = [str(n) for n in san.value.get_values_for_type(x509.DNSName)]
    names += [str(a) for a in san.value.get_values_for_type(x509.IPAddress)]
    return names


def renewal_due(
    not_before: datetime, not_after: datetime, now: datetime, *, fraction: float = RENEW_FRACTION
) -> bool:
    """Tell whether less than ``fraction`` of the lifetime is left (or it already ended)."""
    return now >= not_after - (not_after - not_before) * fraction


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    lifetime: timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + lifetime)
    )


def _general_name(address: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        return x509.DNSName(address)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key(key_pem: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise PkiError(f"not a PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError("only EC private keys are used")
    return key


def _ec_public(key: object) -> ec.EllipticCurvePublicKey:
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _cert(cert_pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise PkiError(f"not a PEM certificate: {exc}") from exc


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _public_pem(key: object) -> str:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise PkiError("only EC public keys are accepted")
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def tls_context(*, server: bool) -> ssl.SSLContext:
    """A fresh agent-trust TLS context (TLS 1.2 at least), as a listener or as a client."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
