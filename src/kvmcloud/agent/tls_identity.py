"""TlsIdentity: the agent's key and certificates on disk, and the TLS contexts built from them.

Files, in ``<state dir>/tls`` (keys 0600):

* ``agent.key`` and ``bootstrap.pem``: made at first start. The bootstrap certificate is
  self-signed; its SHA-256 is the second part of the enrolment token, which the server
  pins when it enrols this agent.
* ``agent.pem`` and ``ca.pem``: the certificate the server's CA issued at enrolment (or a
  renewal), and that CA. From then on the agent serves ``agent.pem`` and accepts only
  clients with a certificate from ``ca.pem``.
* ``pending.key``: the new key of a renewal between its two steps.

The contexts are built once and changed in place, so a new certificate applies to the
next handshake without restarting the listener.
"""

import logging
import ssl
import threading
from datetime import datetime
from pathlib import Path

from kvmcloud import pki
from kvmcloud.agent.enrollment import EnrollmentStateError, write_private_file
from kvmcloud.agent.errors import BadCommandError

logger = logging.getLogger(__name__)

TLS_DIR_NAME = "tls"
KEY_FILE = "agent.key"
BOOTSTRAP_FILE = "bootstrap.pem"
CERT_FILE = "agent.pem"
CA_FILE = "ca.pem"
PENDING_KEY_FILE = "pending.key"


class IdentityError(BadCommandError):
    """A certificate offered to the agent is unusable; the text says why."""


class TlsIdentity:
    """The agent's TLS key material and its server and client SSLContexts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._server_context: ssl.SSLContext | None = None
        self._client_context: ssl.SSLContext | None = None

    @classmethod
    def open(cls, state_dir: Path, now: datetime) -> "TlsIdentity":
        """Load the identity, making the key and bootstrap certificate at first start.

        Raises:
            EnrollmentStateError: the files cannot be read or written.
        """
        identity = cls(state_dir / TLS_DIR_NAME)
        try:
            identity.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise EnrollmentStateError(f"cannot create {identity.directory}: {exc}") from exc
        if not identity._path(KEY_FILE).exists() or not identity._path(BOOTSTRAP_FILE).exists():
            key_pem = pki.new_key_pem()
            write_private_file(identity._path(KEY_FILE), key_pem)
            write_private_file(identity._path(BOOTSTRAP_FILE), pki.self_signed(key_pem, now))
        return identity

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the bootstrap certificate, the enrolment token's second part."""
        return pki.fingerprint(self._read(BOOTSTRAP_FILE))

    @property
    def issued(self) -> bool:
        """Tell whether the CA issued this agent a certificate (it was enrolled)."""
        return self._path(CERT_FILE).exists() and self._path(CA_FILE).exists()

    def certificate_validity(self) -> tuple[datetime, datetime] | None:
        """Return the issued certificate's (not before, not after), None before enrolment."""
        if not self.issued:
            return None
        return pki.validity(self._read(CERT_FILE))

    def public_key_pem(self) -> str:
        """Return the public key the bootstrap certificate carries."""
        return pki.certificate_public_key(self._read(BOOTSTRAP_FILE))

    def install(self, certificate_pem: str, ca_pem: str) -> None:
        """Adopt a certificate the CA issued for this agent's key, and trust that CA.

        Raises:
            IdentityError: it is not for this key or not signed by ``ca_pem``.
            EnrollmentStateError: the files cannot be written.
        """
        with self._lock:
            self._check(certificate_pem, ca_pem, self._read(KEY_FILE))
            write_private_file(self._path(CA_FILE), ca_pem)
            write_private_file(self._path(CERT_FILE), certificate_pem)
            self._configure()

    def begin_renewal(self) -> str:
        """Make a new key (kept aside) and return a CSR for it.

        Raises:
            IdentityError: the agent is not enrolled (nothing to renew).
        """
        with self._lock:
            if not self.issued:
                raise IdentityError("this agent is not enrolled: it has no certificate to renew")
            key_pem = pki.new_key_pem()
            write_private_file(self._path(PENDING_KEY_FILE), key_pem)
            return pki.make_csr(key_pem)

    def finish_renewal(self, certificate_pem: str, ca_pem: str) -> str:
        """Switch to the pending key and its new certificate.

        Returns the new certificate's SHA-256.

        Raises:
            IdentityError: no renewal is pending, or the certificate does not fit it.
            EnrollmentStateError: the files cannot be written.
        """
        with self._lock:
            pending = self._path(PENDING_KEY_FILE)
            if not pending.exists():
                raise IdentityError("no certificate renewal is pending on this agent")
            key_pem = pending.read_text(encoding="ascii")
            self._check(certificate_pem, ca_pem, key_pem)
            write_private_file(self._path(CA_FILE), ca_pem)
            write_private_file(self._path(CERT_FILE), certificate_pem)
            write_private_file(self._path(KEY_FILE), key_pem)
            pending.unlink(missing_ok=True)
            self._configure()
            return pki.fingerprint(certificate_pem)

    def server_context(self) -> ssl.SSLContext:
        """The listener's context, changed in place as the identity changes.

        Before enrolment: the bootstrap certificate, no client certificate asked for.
        After: the issued certificate, and a client certificate from the CA required.
        """
        with self._lock:
            if self._server_context is None:
                context = pki.tls_context(server=True)
                self._server_context = context
                self._configure()
            return self._server_context

    def client_context(self) -> ssl.SSLContext:
        """The heartbeat client's context: trust only the CA, present the issued certificate."""
        with self._lock:
            if self._client_context is None:
                context = pki.tls_context(server=False)
                self._client_context = context
                self._configure()
            return self._client_context

    def _configure(self) -> None:
        # Called with the lock held; OpenSSL applies these to later handshakes only.
        issued = self.issued
        cert = self._path(CERT_FILE if issued else BOOTSTRAP_FILE)
        key = self._path(KEY_FILE)
        if self._server_context is not None:
            self._server_context.load_cert_chain(cert, key)
            if issued:
                self._server_context.load_verify_locations(cafile=self._path(CA_FILE))
                self._server_context.verify_mode = ssl.CERT_REQUIRED
        if self._client_context is not None and issued:
            self._client_context.load_cert_chain(cert, key)
            self._client_context.load_verify_locations(cafile=self._path(CA_FILE))

    def _check(self, certificate_pem: str, ca_pem: str, key_pem: str) -> None:
        try:
            pki.check_issued(certificate_pem, ca_pem, key_pem)
        except pki.PkiError as exc:
            raise IdentityError(str(exc)) from exc

    def _path(self, name: str) -> Path:
        return self.directory / name

    def _read(self, name: str) -> str:
        path = self._path(name)
        try:
            return path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise EnrollmentStateError(f"cannot read {path}: {exc}") from exc


def reset_identity(state_dir: Path) -> None:
    """Remove every key and certificate; the next start makes a new key and bootstrap cert.

    Raises:
        EnrollmentStateError: a file cannot be removed.
    """
    directory = state_dir / TLS_DIR_NAME
    for name in (CERT_FILE, CA_FILE, PENDING_KEY_FILE, BOOTSTRAP_FILE, KEY_FILE):
        try:
            (directory / name).unlink(missing_ok=True)
        except OSError as exc:
            raise EnrollmentStateError(f"cannot remove {directory / name}: {exc}") from exc
