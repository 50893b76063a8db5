"""TrustStore (system CAs plus the agent's PEM directory) and TLS failures explained."""

import logging
import ssl
from pathlib import Path

logger = logging.getLogger(__name__)

UPLOAD_API = "uploadTemplateDirectDownloadCertificate"
# Far more than any zone needs; bounds the work of building a context per transfer.
MAX_CERTIFICATE_FILES = 1000
MAX_CERTIFICATE_FILE_BYTES = 1024 * 1024

# OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h) grouped by what the operator
# must do about them.
_UNKNOWN_ISSUER = frozenset(
    {
        2,  # UNABLE_TO_GET_ISSUER_CERT
        18,  # DEPTH_ZERO_SELF_SIGNED_CERT
        19,  # SELF_SIGNED_CERT_IN_CHAIN
        20,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        21,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    }
)
_NOT_YET_VALID = frozenset({9, 13})  # CERT_NOT_YET_VALID, ERROR_IN_CERT_NOT_BEFORE_FIELD
_EXPIRED = frozenset({10, 14})  # CERT_HAS_EXPIRED, ERROR_IN_CERT_NOT_AFTER_FIELD
_NAME_MISMATCH = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH


class TrustStore:
    """What HTTPS downloads trust: the system's CAs plus every ``*.pem`` in ``cert_dir``.

    The directory holds one PEM file per alias (``<alias>.pem``), written by the
    certificate API. It is read afresh for every transfer, so a certificate added or
    removed there applies to the next download without restarting the agent. A file that
    cannot be read or parsed is skipped with a warning: trusting less fails closed.
    """

    def __init__(self, cert_dir: Path | None = None) -> None:
        self.cert_dir = cert_dir

    def ssl_context(self) -> ssl.SSLContext:
        """Return a new client context: verification and host-name checking always on."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        # A certificate in the store is trusted as an anchor even when it is not a
        # self-signed root (an intermediate, or the server's own certificate), as
        # CloudStack's keystore trusts any certificate imported into it.
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        for path in self.certificate_files():
            try:
                context.load_verify_locations(cafile=str(path))
            except (OSError, ssl.SSLError, ValueError) as exc:
                logger.warning(
                    "not trusting %s: it is not a readable PEM certificate: %s", path, exc
                )
        return context

    def certificate_files(self) -> list[Path]:
        """Return the PEM files of the store, sorted; none when the directory is missing."""
        if self.cert_dir is None:
            return []
        try:
            candidates = sorted(self.cert_dir.glob("*.pem"))
        except OSError as exc:
            logger.warning("cannot list certificate store %s: %s", self.cert_dir, exc)
            return []
        files = []
        for path in candidates[:MAX_CERTIFICATE_FILES]:
            try:
                if not path.is_file() or path.stat().st_size > MAX_CERTIFICATE_FILE_BYTES:
                    logger.warning("not trusting %s: not a regular file of at most 1 MiB", path)
                    continue
            except OSError as exc:
                logger.warning("not trusting %s: %s", path, exc)
                continue
            files.append(path)
        if len(candidates) > MAX_CERTIFICATE_FILES:
            logger.warning(
                "certificate store %s has %d files; only the first %d are trusted",
                self.cert_dir,
                len(candidates),
                MAX_CERTIFICATE_FILES,
            )
        return files


def describe_tls_error(exc: ssl.SSLError, *, host: str, port: int, url: str) -> str:
    """Say what was wrong with a TLS connection to ``host:port`` for ``url``, for operators."""
    where = f"{host}:{port} for {url}"
    if not isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.reason or exc.strerror or str(exc)
        return f"TLS handshake with {where} failed: {reason}"
    code, detail = exc.verify_code, exc.verify_message
    if code in _UNKNOWN_ISSUER:
        return (
            f"the TLS certificate of {where} is signed by an unknown authority ({detail}); "
            f"upload its CA with {UPLOAD_API} so that the hosts trust it"
        )
    if code in _EXPIRED:
        return f"the TLS certificate of {where} has expired ({detail}); the server must renew it"
    if code in _NOT_YET_VALID:
        return (
            f"the TLS certificate of {where} is not yet valid ({detail}); check the clocks of "
            "this host and of the server"
        )
    if code in _NAME_MISMATCH:
        return (
            f"the TLS certificate of {where} is not valid for the name {host!r} ({detail}); "
            "the URL must use a name the certificate lists"
        )
    return f"the TLS certificate of {where} was refused: {detail} (OpenSSL verify error {code})"
