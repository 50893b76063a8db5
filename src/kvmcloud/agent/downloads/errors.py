"""DownloadError tree: every way a download can fail, each carrying its wire code.

```
DownloadError                     .code (protocol/error_codes.py)
├── UnsupportedUrlError           unsupported_url      no downloader for the URL's scheme
├── SourceUnavailableError        source_unavailable   network error, 5xx, refused, short body
├── SourceNotFoundError           source_not_found     HTTP 404 / 410
├── SourceDeniedError             source_denied        HTTP 401 / 403
├── DnsFailureError               dns_failure          the host name does not resolve
├── SourceRefusedError            egress_refused       the egress policy refuses the host
├── TlsFailureError               tls_failure          handshake or certificate failure
├── DownloadTimeoutError          timeout              connect, read or overall deadline
├── ChecksumMismatchError         checksum_mismatch    .expected, .actual
├── PoolFullError                 pool_full            not enough space, or ENOSPC
├── ImageRejectedError            image_rejected       wrong format, backing file, unreadable
└── DownloadCancelledError        cancelled            the agent is shutting down
```

``BadCommandError`` and ``PoolUnavailableError``, which pools and VM volumes raise too, are
``AgentError`` subclasses in agent/errors.py.

Messages are meant for operators: they name the URL, the HTTP status, the pool path, the
sizes involved. They never contain request header values, which may be secrets, nor what a
source sent as text (an HTTP reason phrase, a malformed status line): a source may be a
service the registering user should learn nothing about.
"""

from kvmcloud.agent.errors import AgentError
from kvmcloud.protocol.error_codes import ErrorCode


class DownloadError(AgentError):
    """Base of every download failure; ``code`` is what goes on the wire."""

    code: ErrorCode = ErrorCode.INTERNAL


class UnsupportedUrlError(DownloadError):
    """No downloader handles this URL (scheme unknown or the URL is malformed)."""

    code = ErrorCode.UNSUPPORTED_URL


class SourceUnavailableError(DownloadError):
    """The source could not deliver: connection failure, 5xx, redirect refused, short body."""

    code = ErrorCode.SOURCE_UNAVAILABLE


class SourceNotFoundError(DownloadError):
    """The source says the image does not exist (HTTP 404 or 410)."""

    code = ErrorCode.SOURCE_NOT_FOUND


class SourceDeniedError(DownloadError):
    """The source refused access (HTTP 401 or 403); usually missing or wrong headers."""

    code = ErrorCode.SOURCE_DENIED


class DnsFailureError(DownloadError):
    """The source host name could not be resolved from this host."""

    code = ErrorCode.DNS_FAILURE


class SourceRefusedError(DownloadError):
    """The egress policy refuses the source's host or address: nothing was sent to it."""

    code = ErrorCode.EGRESS_REFUSED


class TlsFailureError(DownloadError):
    """The TLS handshake failed, typically an untrusted or mismatched certificate."""

    code = ErrorCode.TLS_FAILURE


class DownloadTimeoutError(DownloadError):
    """Connecting, a single read, or the whole transfer took longer than allowed."""

    code = ErrorCode.TIMEOUT


class ChecksumMismatchError(DownloadError):
    """The downloaded bytes do not match the registered checksum."""

    code = ErrorCode.CHECKSUM_MISMATCH

    def __init__(self, expected: str, actual: str, *, url: str) -> None:
        super().__init__(f"checksum mismatch for {url}: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class PoolFullError(DownloadError):
    """The pool has less free space than the image needs."""

    code = ErrorCode.POOL_FULL


class ImageRejectedError(DownloadError):
    """The image is not what was registered, has a backing file, or cannot be read."""

    code = ErrorCode.IMAGE_REJECTED


class DownloadCancelledError(DownloadError):
    """The download was cancelled, e.g. because the agent is shutting down."""

    code = ErrorCode.CANCELLED
