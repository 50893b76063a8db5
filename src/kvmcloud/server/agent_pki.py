"""AgentPki: the agent CA and this server's certificate under <config_dir>/pki; issue, renew, TLS.

Files (keys 0600, the directory 0700):

* ``ca.key``, ``ca.pem``: the CA that signs every agent's and management server's
  certificate; made by ``kvmcloud-server init``, valid 10 years. Several management
  servers share one CA: copy the directory to each (docs/security.md).
* ``server.key``, ``server.pem``: this server's certificate, named
  ``pki.SERVER_COMMON_NAME`` with the agent listener's host as subject alternative name.
  It is what agents accept as a client and verify when they heartbeat.

The crypto decisions are in :mod:`kvmcloud.pki`; this module reads and writes the files
and builds the SSLContexts, which it changes in place when the server certificate is
renewed so the listeners need no restart.
"""

import logging
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from kvmcloud import pki
from kvmcloud.private_files import replace_private_file

logger = logging.getLogger(__name__)

CA_KEY = "ca.key"
CA_CERT = "ca.pem"
SERVER_KEY = "server.key"
SERVER_CERT = "server.pem"
CERTIFICATE_LIFETIME = pki.DEFAULT_LIFETIME
# Names the server certificate always carries, besides the agent listener's host.
LOCAL_NAMES = ("localhost", "127.0.0.1")


class PkiStoreError(Exception):
    """The PKI directory is missing, damaged or cannot be written; the text says which file."""


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What ``kvmcloud-server ca show`` prints about one certificate."""

    name: str
    subject: str
    fingerprint: str
    not_before: datetime
    not_after: datetime
    addresses: tuple[str, ...]


class AgentPki:
    """The CA and the server certificate; thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._server_context: ssl.SSLContext | None = None
        self._client_context: ssl.SSLContext | None = None

    @classmethod
    def init(cls, directory: Path, server_names: list[str], now: datetime) -> "AgentPki":
        """Make the CA if there is none, and a server certificate if missing or due.

        Raises:
            PkiStoreError: the directory cannot be written.
        """
        store = cls(directory)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise PkiStoreError(f"cannot create {directory}: {exc}") from exc
        if not store._path(CA_KEY).exists() or not store._path(CA_CERT).exists():
            key_pem, cert_pem = pki.new_ca(now)
            _write_private(store._path(CA_KEY), key_pem)
            _write_private(store._path(CA_CERT), cert_pem)
            logger.info("created the agent CA in %s", directory)
        store.ensure_server_certificate(server_names, now)
        return store

    @classmethod
    def load(cls, directory: Path) -> "AgentPki":
        """Open an existing PKI directory.

        Raises:
            PkiStoreError: a file is missing (run ``kvmcloud-server init``).
        """
        store = cls(directory)
        for name in (CA_KEY, CA_CERT, SERVER_KEY, SERVER_CERT):
            if not store._path(name).exists():
                raise PkiStoreError(
                    f"{store._path(name)} is missing; run 'kvmcloud-server init' to create it"
                )
        return store

    @property
    def ca_pem(self) -> str:
        """The CA certificate agents are given at enrolment."""
        return self._read(CA_CERT)

    def issue_agent_certificate(
        self, public_key_pem: str, *, host_uuid: str, address: str, now: datetime
    ) -> str:
        """Sign an agent's certificate: named after its host uuid, valid for its address.

        Raises:
            PkiStoreError: the CA cannot be read, or the key is unusable.
        """
        try:
            return pki.issue(
                self._read(CA_KEY),
                self.ca_pem,
                public_key_pem,
                common_name=host_uuid,
                addresses=[address],
                now=now,
                lifetime=CERTIFICATE_LIFETIME,
            )
        except pki.PkiError as exc:
            raise PkiStoreError(f"cannot issue a certificate: {exc}") from exc

    def ensure_server_certificate(
        self, server_names: list[str], now: datetime, *, force: bool = False
    ) -> bool:
        """Issue this server a new certificate if forced, missing, due, or lacking a name.

        Returns whether it did. The contexts already built pick it up for new handshakes.

        Raises:
            PkiStoreError: the files cannot be read or written.
        """
        names = list(dict.fromkeys([*server_names, *LOCAL_NAMES]))
        with self._lock:
            if not force and self._server_certificate_fits(names, now):
                return False
            key_pem = pki.new_key_pem()
            try:
                cert_pem = pki.issue(
                    self._read(CA_KEY),
                    self._read(CA_CERT),
                    pki.public_key_pem(key_pem),
                    common_name=pki.SERVER_COMMON_NAME,
                    addresses=names,
                    now=now,
                    lifetime=CERTIFICATE_LIFETIME,
                )
            except pki.PkiError as exc:
                raise PkiStoreError(f"cannot issue the server certificate: {exc}") from exc
            # Key first: a crash in between leaves a key without its certificate, which
            # the next run replaces, never a certificate without its key.
            _write_private(self._path(SERVER_KEY), key_pem)
            _write_private(self._path(SERVER_CERT), cert_pem)
            self._reload()
        logger.info("issued this management server a certificate for %s", ", ".join(names))
        return True

    def server_context(self) -> ssl.SSLContext:
        """The agent listener's context: this server's certificate; agents' ones required."""
        with self._lock:
            if self._server_context is None:
                context = pki.tls_context(server=True)
                context.verify_mode = ssl.CERT_REQUIRED
                self._server_context = context
                self._reload()
            return self._server_context

    def client_context(self) -> ssl.SSLContext:
        """The context to call enrolled agents: trust only the CA, present this server's cert."""
        with self._lock:
            if self._client_context is None:
                context = pki.tls_context(server=False)
                self._client_context = context
                self._reload()
            return self._client_context

    def describe(self) -> list[CertificateInfo]:
        """The CA and server certificates, for ``kvmcloud-server ca show``."""
        infos = []
        for label, name in (("CA", CA_CERT), ("server", SERVER_CERT)):
            pem = self._read(name)
            not_before, not_after = pki.validity(pem)
            infos.append(
                CertificateInfo(
                    name=label,
                    subject=pki.common_name(pem),
                    fingerprint=pki.fingerprint(pem),
                    not_before=not_before,
                    not_after=not_after,
                    addresses=tuple(pki.subject_addresses(pem)),
                )
            )
        return infos

    def _server_certificate_fits(self, names: list[str], now: datetime) -> bool:
        if not self._path(SERVER_CERT).exists() or not self._path(SERVER_KEY).exists():
            return False
        pem = self._read(SERVER_CERT)
        not_before, not_after = pki.validity(pem)
        if pki.renewal_due(not_before, not_after, now):
            return False
        return set(names) <= set(pki.subject_addresses(pem))

    def _reload(self) -> None:
        # With the lock held. OpenSSL applies this to later handshakes only.
        cert, key, ca = self._path(SERVER_CERT), self._path(SERVER_KEY), self._path(CA_CERT)
        for context in (self._server_context, self._client_context):
            if context is not None and cert.exists():
                context.load_cert_chain(cert, key)
                context.load_verify_locations(cafile=ca)

    def _path(self, name: str) -> Path:
        return self.directory / name

    def _read(self, name: str) -> str:
        path = self._path(name)
        try:
            return path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise PkiStoreError(f"cannot read {path}: {exc}") from exc


def renewal_window(lifetime: timedelta = CERTIFICATE_LIFETIME) -> timedelta:
    """How long before expiry a certificate of ``lifetime`` is renewed."""
    return lifetime * pki.RENEW_FRACTION


def _write_private(path: Path, text: str) -> None:
    try:
        replace_private_file(path, text)
    except OSError as exc:
        raise PkiStoreError(f"cannot write {path}: {exc}") from exc
