"""AgentClient Protocol + HttpAgentClient (httpx): enrol hosts, send commands, follow long ones."""

import hmac
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import httpx

from kvmcloud import pki
from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.enrolment_tokens import EnrolmentToken
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.protocol.redaction import redact_url_in
from kvmcloud.server.errors import (
    ApiError,
    InvalidParameterError,
    ResourceUnavailableError,
)
from kvmcloud.server.sealing.box import SecretBox, is_sealed, pool_secret_context

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], None]
M = TypeVar("M")

# How long one poll may wait on the agent (it answers at once when the command ends). Short,
# because each answer carries bytes done: that is how download progress reaches the API.
POLL_WAIT_S = 2.0
_POLL_MARGIN_S = 15.0
# Consecutive failed polls tolerated before the agent counts as lost.
_MAX_POLL_FAILURES = 5
ENROLL_TIMEOUT_S = 30.0
# A pool file is relayed in pieces this large; a stall this long ends the transfer.
READ_CHUNK_BYTES = 1024 * 1024
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class AgentEndpoint:
    """Where an enrolled agent listens and the key that authenticates to it.

    ``key`` is the host's agent key as stored, sealed for ``key_context``; the
    KeyOpeningAgentClient the composition root wraps around the transport opens it just
    before a request, so the plain key lives no longer than the call.
    """

    url: str
    key: str = field(repr=False)
    name: str
    key_context: str


class AgentUnreachableError(ResourceUnavailableError):
    """The agent did not answer (connection refused, timeout, or lost the command)."""


class PoolFileMissingError(ResourceUnavailableError):
    """The agent has no such verified copy (gone, changed size, or a pool it does not use)."""


@dataclass(frozen=True, slots=True)
class FileStream:
    """A pool file's bytes as the agent streams them: status (200, 206 or 416), headers."""

    status_code: int
    # Content-Length, Content-Range and Accept-Ranges, as the agent sent them.
    headers: dict[str, str]
    chunks: Iterator[bytes]


class AgentClient(Protocol):
    """How the server talks to agents.

    Implementations send :mod:`kvmcloud.protocol.agent_messages` over some transport. They
    raise :class:`AgentUnreachableError` when the agent cannot be reached; a command that
    ran and failed is not an exception but an ``Answer(ok=False)`` for the caller to map.
    They hold no database state and may be called from any thread.
    """

    def bootstrap_certificate(self, url: str, fingerprint: str) -> str:
        """Return the certificate the agent at ``url`` presents, if its SHA-256 is ``fingerprint``.

        Raises InvalidParameterError (``password``) when it is another certificate.
        """
        ...

    def enroll(self, url: str, token: EnrolmentToken, request: msg.EnrollRequest) -> msg.HostReport:
        """Enrol the agent at ``url``, trusting only the certificate the token pins.

        Raises InvalidParameterError when the agent refuses the token.
        """
        ...

    def call(
        self, endpoint: AgentEndpoint, command: msg.Command, *, timeout_s: float
    ) -> msg.Answer:
        """Run a short command and return its answer."""
        ...

    def run(
        self,
        endpoint: AgentEndpoint,
        command_id: str,
        command: msg.Command,
        *,
        deadline_s: float,
        on_progress: ProgressCallback,
    ) -> msg.Answer:
        """Start a long command (idempotent by ``command_id``) and follow it to its answer."""
        ...

    def read_pool_file(
        self, endpoint: AgentEndpoint, request: msg.ReadPoolFileRequest, *, byte_range: str | None
    ) -> AbstractContextManager[FileStream]:
        """Stream a verified pool copy from the agent; ``byte_range`` is a ``Range`` value.

        Raises AgentUnreachableError, or PoolFileMissingError when the agent has no such copy.
        """
        ...


class KeyOpeningAgentClient:
    """An AgentClient that opens each endpoint's sealed key, then lets ``inner`` send."""

    def __init__(self, inner: AgentClient, box: SecretBox) -> None:
        self._inner = inner
        self._box = box

    def bootstrap_certificate(self, url: str, fingerprint: str) -> str:
        """Read the agent's bootstrap certificate, pinned to ``fingerprint``."""
        return self._inner.bootstrap_certificate(url, fingerprint)

    def enroll(self, url: str, token: EnrolmentToken, request: msg.EnrollRequest) -> msg.HostReport:
        """Enrol the agent at ``url`` (the new key in ``request`` is still in the clear)."""
        return self._inner.enroll(url, token, request)

    def call(
        self, endpoint: AgentEndpoint, command: msg.Command, *, timeout_s: float
    ) -> msg.Answer:
        """Run a short command with the opened key."""
        return self._inner.call(
            self._opened(endpoint), self._with_pool_keys(command), timeout_s=timeout_s
        )

    def run(
        self,
        endpoint: AgentEndpoint,
        command_id: str,
        command: msg.Command,
        *,
        deadline_s: float,
        on_progress: ProgressCallback,
    ) -> msg.Answer:
        """Start and follow a long command with the opened key."""
        return self._inner.run(
            self._opened(endpoint),
            command_id,
            self._with_pool_keys(command),
            deadline_s=deadline_s,
            on_progress=on_progress,
        )

    def read_pool_file(
        self, endpoint: AgentEndpoint, request: msg.ReadPoolFileRequest, *, byte_range: str | None
    ) -> AbstractContextManager[FileStream]:
        """Stream a pool copy with the opened key."""
        return self._inner.read_pool_file(
            self._opened(endpoint), self._with_pool_keys(request), byte_range=byte_range
        )

    def _opened(self, endpoint: AgentEndpoint) -> AgentEndpoint:
        return replace(endpoint, key=self._box.open(endpoint.key, endpoint.key_context))

    def _with_pool_keys(self, message: M) -> M:
        """``message`` with every RBD pool key opened (they are sealed until here)."""

        def opened(spec: msg.PoolSpec) -> msg.PoolSpec:
            if spec.secret is None or not is_sealed(spec.secret):
                return spec
            return replace(spec, secret=self._box.open(spec.secret, pool_secret_context(spec.uuid)))

        return msg.map_pool_specs(message, opened)


class HttpAgentClient:
    """AgentClient over HTTP(S) with JSON bodies, following the protocol in agent_messages."""

    def __init__(self, http: httpx.Client, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self._clock = clock

    def bootstrap_certificate(self, url: str, fingerprint: str) -> str:
        """Return the certificate the agent at ``url`` presents, if its SHA-256 is ``fingerprint``.

        Nothing is sent to the agent: the certificate is read from the TLS handshake.

        Raises:
            AgentUnreachableError: no TLS server answers at ``url``.
            InvalidParameterError: it presents another certificate (``password``).
        """
        parts = urlsplit(url)
        address = (parts.hostname or "", parts.port or 443)
        try:
            pem = ssl.get_server_certificate(address, timeout=ENROLL_TIMEOUT_S)
        except (OSError, ssl.SSLError) as exc:
            raise AgentUnreachableError(f"Cannot reach the agent at {url} over TLS: {exc}") from exc
        if not hmac.compare_digest(pki.fingerprint(pem), fingerprint):
            raise InvalidParameterError(
                "password",
                f"The agent at {url} presented a certificate other than the one the enrolment "
                "token given as password names; check the url and the token",
            )
        return pem

    def enroll(self, url: str, token: EnrolmentToken, request: msg.EnrollRequest) -> msg.HostReport:
        """Enrol the agent at ``url``, trusting only the certificate the token pins.

        Raises:
            AgentUnreachableError: the agent cannot be reached.
            InvalidParameterError: it refuses the token or is enrolled already (``password``).
        """
        pinned = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # The bootstrap certificate is self-signed and names no host: it is trusted as
        # itself (pinned), so the host name is not what is checked.
        pinned.check_hostname = False
        pinned.load_verify_locations(cadata=self.bootstrap_certificate(url, token.fingerprint))
        try:
            with httpx.Client(verify=pinned, timeout=ENROLL_TIMEOUT_S) as client:
                response = client.post(
                    f"{url.rstrip('/')}/enroll",
                    content=msg.to_json(request),
                    headers={"Authorization": f"{msg.AUTHORIZATION_SCHEME} {token.secret}"},
                )
        except httpx.HTTPError as exc:
            raise AgentUnreachableError(f"Cannot reach the agent at {url}: {exc}") from exc
        if response.status_code in (403, 409, 429):
            raise InvalidParameterError(
                "password", f"The agent at {url} refused to enrol: {_error_text(response)}"
            )
        _raise_for_status(response, url)
        return msg.from_json(msg.HostReport, response.content)

    def call(
        self, endpoint: AgentEndpoint, command: msg.Command, *, timeout_s: float
    ) -> msg.Answer:
        """Run a short command and return its answer."""
        envelope = msg.CommandEnvelope(id=_new_command_id(), command=command)
        status = self._post(endpoint, envelope, timeout_s=timeout_s)
        if status.answer is None:
            raise AgentUnreachableError(f"Agent {endpoint.name} gave no answer to {command.TYPE}")
        return status.answer

    def run(
        self,
        endpoint: AgentEndpoint,
        command_id: str,
        command: msg.Command,
        *,
        deadline_s: float,
        on_progress: ProgressCallback,
    ) -> msg.Answer:
        """Start a long command (idempotent by ``command_id``) and follow it to its answer."""
        end = self._clock() + deadline_s
        status = self._post(
            endpoint, msg.CommandEnvelope(id=command_id, command=command), timeout_s=60.0
        )
        failures = 0
        while status.answer is None:
            on_progress(status.bytes_done, status.bytes_total)
            remaining = end - self._clock()
            if remaining <= 0:
                raise ResourceUnavailableError(
                    f"{command.TYPE} on {endpoint.name} did not finish within {deadline_s:.0f} s"
                )
            try:
                status = self._poll(endpoint, command_id, wait_s=min(POLL_WAIT_S, remaining))
                failures = 0
            except AgentUnreachableError:
                failures += 1
                if failures >= _MAX_POLL_FAILURES:
                    raise
                time.sleep(1.0)
        on_progress(status.bytes_done, status.bytes_total)
        return status.answer

    @contextmanager
    def read_pool_file(
        self, endpoint: AgentEndpoint, request: msg.ReadPoolFileRequest, *, byte_range: str | None
    ) -> Iterator[FileStream]:
        """Stream a verified pool copy from the agent (``POST /pool-files/read``).

        The response stays open while the caller reads ``chunks``; leaving the context
        closes it.

        Raises:
            AgentUnreachableError: no answer, or the transfer broke off.
            PoolFileMissingError: the agent has no such copy (404).
        """
        headers = _auth(endpoint)
        if byte_range:
            headers["Range"] = byte_range
        try:
            with self._http.stream(
                "POST",
                f"{endpoint.url.rstrip('/')}/pool-files/read",
                content=msg.to_json(request),
                headers=headers,
                timeout=httpx.Timeout(READ_TIMEOUT_S),
            ) as response:
                if response.status_code == 404:
                    response.read()
                    raise PoolFileMissingError(
                        f"Host {endpoint.name} does not hold the copy: {_error_text(response)}"
                    )
                if response.status_code not in (200, 206, 416):
                    response.read()
                    _raise_for_status(response, endpoint.url)
                kept = {
                    name: response.headers[name]
                    for name in ("content-length", "content-range", "accept-ranges")
                    if name in response.headers
                }
                yield FileStream(response.status_code, kept, response.iter_raw(READ_CHUNK_BYTES))
        except httpx.HTTPError as exc:
            raise AgentUnreachableError(
                f"Lost the transfer from the agent of host {endpoint.name}: {exc}"
            ) from exc

    def _post(
        self, endpoint: AgentEndpoint, envelope: msg.CommandEnvelope, *, timeout_s: float
    ) -> msg.CommandStatus:
        try:
            response = self._http.post(
                f"{endpoint.url.rstrip('/')}/commands",
                content=msg.command_to_json(envelope),
                headers=_auth(endpoint),
                timeout=timeout_s,
            )
        except httpx.HTTPError as exc:
            raise AgentUnreachableError(
                f"Cannot reach the agent of host {endpoint.name} at {endpoint.url}: {exc}"
            ) from exc
        _raise_for_status(response, endpoint.url)
        return msg.from_json(msg.CommandStatus, response.content)

    def _poll(
        self, endpoint: AgentEndpoint, command_id: str, *, wait_s: float
    ) -> msg.CommandStatus:
        try:
            response = self._http.get(
                f"{endpoint.url.rstrip('/')}/commands/{command_id}",
                params={"wait_s": f"{wait_s:.1f}"},
                headers=_auth(endpoint),
                timeout=wait_s + _POLL_MARGIN_S,
            )
        except httpx.HTTPError as exc:
            raise AgentUnreachableError(
                f"Lost contact with the agent of host {endpoint.name}: {exc}"
            ) from exc
        if response.status_code == 404:
            raise AgentUnreachableError(
                f"The agent of host {endpoint.name} no longer knows command {command_id} "
                "(was it restarted?)"
            )
        _raise_for_status(response, endpoint.url)
        return msg.from_json(msg.CommandStatus, response.content)


def _error_text(response: httpx.Response) -> str:
    try:
        text = response.json().get("error", "")
    except ValueError:
        text = ""
    return str(text)[:200] or f"HTTP {response.status_code}"


def _auth(endpoint: AgentEndpoint) -> dict[str, str]:
    return {"Authorization": f"{msg.AUTHORIZATION_SCHEME} {endpoint.key}"}


def _raise_for_status(response: httpx.Response, url: str) -> None:
    if response.status_code == 401:
        raise ResourceUnavailableError(
            f"The agent at {url} rejected this server's key; re-add the host to enrol it again"
        )
    if response.status_code >= 300:
        raise ResourceUnavailableError(
            f"The agent at {url} answered HTTP {response.status_code}: {response.text[:200]}"
        )


def _new_command_id() -> str:
    return str(uuid.uuid4())


# Agent wire codes → the CloudStack error code a failed command is reported with.
API_CODE_BY_WIRE_CODE: dict[ErrorCode, int] = {
    ErrorCode.UNSUPPORTED_URL: 431,
    ErrorCode.SOURCE_NOT_FOUND: 431,
    ErrorCode.SOURCE_DENIED: 431,
    ErrorCode.DNS_FAILURE: 431,
    ErrorCode.EGRESS_REFUSED: 431,
    ErrorCode.TLS_FAILURE: 431,
    ErrorCode.BAD_COMMAND: 530,
    ErrorCode.INTERNAL: 530,
}


def error_from_answer(answer: msg.Answer, context: str, *, url: str | None = None) -> ApiError:
    """Turn a failed answer into the ApiError reported to the caller, prefixed by context.

    ``url``, the source URL the command carried, is masked wherever the answer quotes it:
    the agent masks URLs itself, but an older agent masked only a password.
    """
    error = answer.error or msg.ErrorInfo(code=ErrorCode.INTERNAL, message="no reason given")
    message = redact_url_in(error.message, url) if url else error.message
    text = f"{context}: {message}"
    code = API_CODE_BY_WIRE_CODE.get(error.code, ResourceUnavailableError.error_code)
    if code == 431:
        return InvalidParameterError("url", text)
    if code == 530:
        return ApiError(text)
    return ResourceUnavailableError(text)
