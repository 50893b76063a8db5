"""CertificateStore: the HTTPS trust directory, one ``<alias>.pem`` each, changed atomically."""

import contextlib
import hashlib
import logging
import os
import re
import ssl
import stat
import tempfile
import threading
from pathlib import Path

from kvmcloud.agent.downloads.tls import MAX_CERTIFICATE_FILE_BYTES, MAX_CERTIFICATE_FILES
from kvmcloud.agent.errors import AgentError
from kvmcloud.protocol.agent_messages import CertificateResult
from kvmcloud.protocol.error_codes import ErrorCode

logger = logging.getLogger(__name__)

# The alias becomes a file name: no separators, no leading dot (no "..", no hidden files).
ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
SUFFIX = ".pem"
DIR_MODE = 0o755
FILE_MODE = 0o644
# Temp files start with a dot and do not end in .pem: neither TrustStore nor held() reads them.
_TEMP_PREFIX = "."
_TEMP_SUFFIX = ".tmp"
_PEM_BEGIN = "-----BEGIN "
_PEM_BEGIN_LINE = re.compile(r"-----BEGIN ([^\r\n-]*)-----")
_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*-----END CERTIFICATE-----"
)


class CertificateError(AgentError):
    """Base of the failures of certificate commands."""

    code = ErrorCode.INTERNAL


class CertificateRejectedError(CertificateError):
    """The alias or the PEM of a certificate command cannot be used; nothing was changed."""

    code = ErrorCode.CERTIFICATE_REJECTED


class CertificateStoreError(CertificateError):
    """The store's directory cannot be read or written (missing rights, read-only, full)."""

    code = ErrorCode.INTERNAL


def check_alias(alias: str) -> None:
    """Refuse an alias that is not 1–64 of ``[A-Za-z0-9._-]`` or starts with a dot.

    Raises:
        CertificateRejectedError: the alias cannot name a file of the store.
    """
    if not ALIAS_PATTERN.fullmatch(alias):
        raise CertificateRejectedError(
            f"certificate alias {alias!r} is not valid: it must be 1 to 64 letters, digits, "
            "'.', '_' or '-', not starting with '.'"
        )


def parse_certificate(pem: str) -> bytes:
    """Return the DER of the one certificate in ``pem``, once OpenSSL has accepted it.

    Text around the block is ignored, as OpenSSL does; any second PEM block is refused, so
    that a private key or a bundle never lands in the trust store.

    Raises:
        CertificateRejectedError: ``pem`` is not exactly one certificate OpenSSL can load.
    """
    if len(pem) > MAX_CERTIFICATE_FILE_BYTES:
        raise CertificateRejectedError(
            f"the PEM is {len(pem)} characters long; at most {MAX_CERTIFICATE_FILE_BYTES} allowed"
        )
    blocks = pem.count(_PEM_BEGIN)
    if blocks == 0:
        raise CertificateRejectedError(
            "the PEM holds no '-----BEGIN CERTIFICATE-----' line: it is not a PEM certificate"
        )
    if blocks > 1:
        raise CertificateRejectedError(
            f"the PEM holds {blocks} PEM blocks; exactly one certificate is expected "
            "(upload each certificate of a chain under its own alias)"
        )
    begin = _PEM_BEGIN_LINE.search(pem)
    label = begin.group(1) if begin is not None else None
    if label != "CERTIFICATE":
        what = "a malformed '-----BEGIN' line" if label is None else f"a {label!r} block"
        hint = ": never send a private key to hosts" if label and "PRIVATE KEY" in label else ""
        raise CertificateRejectedError(f"the PEM holds {what}, not a CERTIFICATE{hint}")
    match = _PEM_CERTIFICATE.search(pem)
    if match is None:
        raise CertificateRejectedError(
            "the PEM certificate is malformed: its base64 body or its "
            "'-----END CERTIFICATE-----' line is broken"
        )
    try:
        der = ssl.PEM_cert_to_DER_cert(match.group(0))
    except ValueError as exc:
        raise CertificateRejectedError(f"the PEM certificate cannot be decoded: {exc}") from exc
    if not der:
        raise CertificateRejectedError("the PEM certificate is empty")
    # What TrustStore will do with the file: a certificate OpenSSL refuses would be skipped
    # at every transfer, so it is refused now, while someone is there to read why.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=der)
    except (ssl.SSLError, ValueError) as exc:
        raise CertificateRejectedError(
            f"the PEM block is not a certificate OpenSSL can read: {exc}"
        ) from exc
    loaded = context.cert_store_stats()["x509"]
    if loaded != 1:
        raise CertificateRejectedError(
            f"the PEM block decodes to {loaded} certificates; exactly one is expected"
        )
    return der


def fingerprint(der: bytes) -> str:
    """Return the SHA-256 fingerprint of a DER certificate, as lower-case hex."""
    return hashlib.sha256(der).hexdigest()


class CertificateStore:
    """The directory TrustStore reads: ``<alias>.pem`` per trusted certificate.

    Every change is atomic (a temp file in the directory, fsynced, renamed over the alias,
    then the directory fsynced), so a transfer reading the store at any moment sees either
    the old certificate or the new one, and a crash leaves one of them on disk. Setup and
    revoke are idempotent and serialised; their results list what the store then holds.
    """

    def __init__(self, cert_dir: Path) -> None:
        self.cert_dir = cert_dir
        self._lock = threading.Lock()
        # Why each file was last skipped by held(): warn when that changes, not every beat.
        self._skipped: dict[str, str] = {}

    def setup(self, alias: str, pem: str) -> CertificateResult:
        """Trust ``pem`` under ``alias``, replacing any other certificate of that alias.

        Raises:
            CertificateRejectedError: the alias or the PEM is not usable.
            CertificateStoreError: the directory cannot be written.
        """
        check_alias(alias)
        der = parse_certificate(pem)
        path = self._path(alias)
        with self._lock:
            if self._current_der(path) == der:
                changed = False
            else:
                self._ensure_dir()
                self._write_atomically(path, ssl.DER_cert_to_PEM_cert(der).encode("ascii"))
                changed = True
                logger.info(
                    "certificate store: trusting %s as %r (sha256 %s)",
                    path,
                    alias,
                    fingerprint(der),
                )
            held = self._held()
        return CertificateResult(alias=alias, changed=changed, held=held)

    def revoke(self, alias: str) -> CertificateResult:
        """Stop trusting ``alias``; ``changed`` says whether it was there.

        Raises:
            CertificateRejectedError: the alias is not valid (nothing can be stored under it).
            CertificateStoreError: the directory cannot be written.
        """
        check_alias(alias)
        path = self._path(alias)
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                changed = False
            except OSError as exc:
                raise CertificateStoreError(f"cannot remove {path}: {exc.strerror or exc}") from exc
            else:
                changed = True
                self._fsync_dir()
                logger.info("certificate store: no longer trusting %r (%s removed)", alias, path)
            held = self._held()
        return CertificateResult(alias=alias, changed=changed, held=held)

    def held(self) -> dict[str, str]:
        """Return alias → SHA-256 fingerprint of every readable certificate of the store.

        A missing directory holds nothing. Files that cannot be read or are not exactly one
        certificate are skipped with a warning (once per file and problem).

        Raises:
            CertificateStoreError: the directory exists but cannot be listed.
        """
        with self._lock:
            return self._held()

    def _path(self, alias: str) -> Path:
        return self.cert_dir / f"{alias}{SUFFIX}"

    def _held(self) -> dict[str, str]:
        try:
            with os.scandir(self.cert_dir) as entries:
                names = sorted(entry.name for entry in entries if entry.name.endswith(SUFFIX))
        except FileNotFoundError:
            names = []
        except OSError as exc:
            raise CertificateStoreError(
                f"cannot list certificate store {self.cert_dir}: {exc.strerror or exc}"
            ) from exc
        if len(names) > MAX_CERTIFICATE_FILES:
            # The same files TrustStore trusts: the first ones in name order.
            logger.warning(
                "certificate store %s has %d files; only the first %d are trusted",
                self.cert_dir,
                len(names),
                MAX_CERTIFICATE_FILES,
            )
        held: dict[str, str] = {}
        skipped: dict[str, str] = {}
        for name in names[:MAX_CERTIFICATE_FILES]:
            try:
                der = parse_certificate(self._read(self.cert_dir / name))
            except (CertificateError, OSError) as exc:
                problem = str(exc)
                if self._skipped.get(name) != problem:
                    logger.warning(
                        "certificate store: %s is not reported as held: %s",
                        self.cert_dir / name,
                        problem,
                    )
                skipped[name] = problem
                continue
            held[name.removesuffix(SUFFIX)] = fingerprint(der)
        self._skipped = skipped
        return held

    @staticmethod
    def _read(path: Path) -> str:
        # Checked through the descriptor (no window between check and read); O_NONBLOCK so
        # that a FIFO named *.pem cannot hang the caller in open().
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CERTIFICATE_FILE_BYTES:
                raise CertificateRejectedError("not a regular file of at most 1 MiB")
            file = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        with file:
            # Non-ASCII can only be commentary around the block (as OpenSSL reads it); in the
            # block itself it makes the certificate malformed, which the parser reports.
            return file.read(MAX_CERTIFICATE_FILE_BYTES + 1).decode("ascii", errors="replace")

    def _current_der(self, path: Path) -> bytes | None:
        try:
            return parse_certificate(self._read(path))
        except (CertificateError, OSError):
            # Missing or unusable: either way the new certificate must be written.
            return None

    def _ensure_dir(self) -> None:
        if self.cert_dir.is_dir():
            return
        try:
            self.cert_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            # mkdir's mode is filtered by the umask; the store must be readable by all.
            os.chmod(self.cert_dir, DIR_MODE)
        except OSError as exc:
            raise CertificateStoreError(
                f"cannot create certificate store {self.cert_dir}: {exc.strerror or exc}"
            ) from exc

    def _write_atomically(self, path: Path, data: bytes) -> None:
        self._remove_leftovers(path)
        try:
            fd, temp_name = tempfile.mkstemp(
                dir=self.cert_dir, prefix=f"{_TEMP_PREFIX}{path.name}.", suffix=_TEMP_SUFFIX
            )
        except OSError as exc:
            raise CertificateStoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                # mkstemp makes it 0600; certificates are public, and tools run by other
                # users (openssl, curl --capath) may be pointed at the store too.
                os.fchmod(file.fileno(), FILE_MODE)
                os.fsync(file.fileno())
            os.replace(temp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            raise CertificateStoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self._fsync_dir()

    def _remove_leftovers(self, path: Path) -> None:
        # Temp files of this alias left by a crash mid-write; under the lock none is in use.
        for leftover in self.cert_dir.glob(f"{_TEMP_PREFIX}{path.name}.*{_TEMP_SUFFIX}"):
            try:
                leftover.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("cannot remove leftover %s: %s", leftover, exc)

    def _fsync_dir(self) -> None:
        # Makes the rename or unlink itself durable; the change has happened either way.
        try:
            fd = os.open(self.cert_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            logger.warning("cannot fsync certificate store %s: %s", self.cert_dir, exc)
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            logger.warning("cannot fsync certificate store %s: %s", self.cert_dir, exc)
        finally:
            os.close(fd)
