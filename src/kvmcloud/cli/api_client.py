"""ApiClient: sign with protocol.api_signing and send; unwrap envelopes; poll async jobs.

Errors raised here (the CLI prints them; nothing else of httpx leaks out)::

    ApiClientError                  base
    ├── ApiCallError                the server answered with a CloudStack error (.code, .text),
    │                               or an async job finished with one
    ├── ApiConnectionError          the endpoint could not be reached
    ├── ApiResponseError            a reply that is not a CloudStack JSON envelope
    └── JobTimeoutError             jobs still pending when the time ran out (.jobids, .timeout_s)
"""

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import TypeAlias

import httpx

from kvmcloud.protocol.api_signing import sign

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
JsonObject: TypeAlias = dict[str, "JsonValue"]

# What cs 5.2.0 sends: signature version 3 with a ten-minute expiry, offset written as +0000.
EXPIRES_AFTER = timedelta(seconds=600)
EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"

DEFAULT_POLL_INTERVAL_S = 2.0
DEFAULT_JOB_TIMEOUT_S = 3600.0

# CloudStack's "internal error"; used when a failed job carries no code of its own.
INTERNAL_ERROR_CODE = 530


class JobStatus(IntEnum):
    """``jobstatus`` of queryAsyncJobResult; anything past PENDING is final."""

    PENDING = 0
    SUCCEEDED = 1
    FAILED = 2


class ApiClientError(Exception):
    """Base of every error the API client raises."""


class ApiCallError(ApiClientError):
    """The server, or an async job, reported a CloudStack error code and text."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"error {code}: {text}")
        self.code = code
        self.text = text


class ApiConnectionError(ApiClientError):
    """The API endpoint could not be reached or the connection broke."""


class ApiResponseError(ApiClientError):
    """The server replied with something that is not a CloudStack JSON envelope."""


class JobTimeoutError(ApiClientError):
    """Async jobs were still pending when the wait ran out."""

    def __init__(self, jobids: Sequence[str], timeout_s: float) -> None:
        super().__init__(f"job(s) {', '.join(jobids)} still running after {timeout_s:g} s")
        self.jobids = list(jobids)
        self.timeout_s = timeout_s


JobProgress: TypeAlias = Callable[[str, JsonObject], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ApiClient:
    """Call a CloudStack-compatible API with signature-v3 requests and poll its async jobs.

    ``http`` is owned by the caller. ``monotonic``, ``sleep`` and ``utc_now`` exist so tests
    can drive job polling and request expiry without real time passing.
    """

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        secret_key: str,
        *,
        http: httpx.Client,
        use_post: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        utc_now: Callable[[], datetime] = _utc_now,
        session: tuple[str, str] | None = None,
    ) -> None:
        # (session id, sessionkey) from a login: used instead of the keys when given.
        self._session = session
        self._endpoint = endpoint
        self._api_key = api_key
        self._secret_key = secret_key
        self._http = http
        self._use_post = use_post
        self._monotonic = monotonic
        self._sleep = sleep
        self._utc_now = utc_now

    def signed_params(self, command: str, params: Mapping[str, str]) -> dict[str, str]:
        """Return ``params`` plus command, key, expiry and the signature over all of them."""
        expires = (self._utc_now().astimezone(UTC) + EXPIRES_AFTER).strftime(EXPIRES_FORMAT)
        query = {
            **params,
            "command": command,
            "response": "json",
            "apiKey": self._api_key,
            "signatureVersion": "3",
            "expires": expires,
        }
        query["signature"] = sign(query, self._secret_key)
        return query

    def call(self, command: str, params: Mapping[str, str]) -> JsonObject:
        """Send one signed request and return the payload inside its one-key envelope.

        Raises:
            ApiCallError: the server answered with an error status.
            ApiConnectionError: the endpoint could not be reached.
            ApiResponseError: the reply is not a CloudStack JSON envelope.
        """
        headers: dict[str, str] = {}
        if self._session is not None:
            session_id, session_key = self._session
            # CloudStack's CookieAndParameter: the session cookie and the sessionkey both.
            query = {**params, "command": command, "response": "json", "sessionkey": session_key}
            headers["Cookie"] = f"JSESSIONID={session_id}"
        else:
            query = self.signed_params(command, params)
        try:
            if self._use_post:
                response = self._http.post(self._endpoint, data=query, headers=headers)
            else:
                response = self._http.get(self._endpoint, params=query, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ApiConnectionError(f"cannot reach {self._endpoint}: {exc}") from exc
        return _unwrap(command, response)

    def log_in(self, username: str, password: str, domain: str | None) -> tuple[str, str]:
        """POST login; return the session id (JSESSIONID cookie) and the sessionkey.

        Raises:
            ApiCallError: the server refused the login.
            ApiConnectionError: the endpoint could not be reached.
            ApiResponseError: the reply carries no session.
        """
        form = {"command": "login", "response": "json", "username": username}
        form["password"] = password
        if domain:
            form["domain"] = domain
        try:
            response = self._http.post(self._endpoint, data=form)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ApiConnectionError(f"cannot reach {self._endpoint}: {exc}") from exc
        payload = _unwrap("login", response)
        session_id = response.cookies.get("JSESSIONID")
        session_key = payload.get("sessionkey")
        if not session_id or not isinstance(session_key, str):
            raise ApiResponseError("login: the reply carries no session cookie or sessionkey")
        return session_id, session_key

    def log_out(self) -> None:
        """POST logout with the session cookie (nothing to do without a session)."""
        if self._session is None:
            return
        try:
            self._http.post(
                self._endpoint,
                data={"command": "logout", "response": "json"},
                headers={"Cookie": f"JSESSIONID={self._session[0]}"},
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ApiConnectionError(f"cannot reach {self._endpoint}: {exc}") from exc

    def query_job(self, jobid: str) -> JsonObject:
        """Return queryAsyncJobResult's reply for one job."""
        return self.call("queryAsyncJobResult", {"jobid": jobid})

    def wait_for_jobs(
        self,
        jobids: Sequence[str],
        *,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        timeout_s: float = DEFAULT_JOB_TIMEOUT_S,
        on_progress: JobProgress | None = None,
    ) -> dict[str, JsonObject]:
        """Poll jobs together until all are final; return each job's last reply by id.

        Failed jobs are returned, not raised, so a caller following several can report
        every outcome. ``on_progress(jobid, reply)`` sees every reply, pending or final.

        Raises:
            JobTimeoutError: some jobs were still pending after ``timeout_s``.
        """
        if poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be positive")
        pending = list(dict.fromkeys(jobids))
        finished: dict[str, JsonObject] = {}
        deadline = self._monotonic() + timeout_s
        # The deadline ends the wait; the round count bounds it even if the clock stalls.
        for _ in range(math.ceil(timeout_s / poll_interval_s) + 1):
            for jobid in pending:
                reply = self.query_job(jobid)
                if on_progress is not None:
                    on_progress(jobid, reply)
                if job_status(reply) is not JobStatus.PENDING:
                    finished[jobid] = reply
            pending = [jobid for jobid in pending if jobid not in finished]
            remaining_s = deadline - self._monotonic()
            if not pending or remaining_s <= 0:
                break
            self._sleep(min(poll_interval_s, remaining_s))
        if pending:
            raise JobTimeoutError(pending, timeout_s)
        return {jobid: finished[jobid] for jobid in dict.fromkeys(jobids)}

    def wait_for_job(
        self,
        jobid: str,
        *,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        timeout_s: float = DEFAULT_JOB_TIMEOUT_S,
        on_progress: Callable[[JsonObject], None] | None = None,
    ) -> JsonObject:
        """Poll one job until it is final and return its ``jobresult``.

        Raises:
            ApiCallError: the job failed; code and text come from its ``jobresult``.
            JobTimeoutError: the job was still pending after ``timeout_s``.
        """

        def report(_jobid: str, reply: JsonObject) -> None:
            if on_progress is not None:
                on_progress(reply)

        reply = self.wait_for_jobs(
            [jobid], poll_interval_s=poll_interval_s, timeout_s=timeout_s, on_progress=report
        )[jobid]
        if job_status(reply) is not JobStatus.SUCCEEDED:
            raise job_error(reply)
        result = reply.get("jobresult")
        return result if isinstance(result, dict) else {}


def job_status(reply: JsonObject) -> JobStatus:
    """Read ``jobstatus``; statuses past FAILED (Marvin's 3 = cancelled) count as FAILED.

    Raises:
        ApiResponseError: the reply has no integer ``jobstatus``.
    """
    status = _as_int(reply.get("jobstatus"))
    if status is None:
        raise ApiResponseError(f"queryAsyncJobResult reply without a jobstatus: {reply}")
    if status in (JobStatus.PENDING, JobStatus.SUCCEEDED):
        return JobStatus(status)
    return JobStatus.FAILED


def job_progress_percent(reply: JsonObject) -> int | None:
    """Return ``jobprocstatus`` as a percentage clamped to 0-100, if the reply has one."""
    percent = _as_int(reply.get("jobprocstatus"))
    return None if percent is None else max(0, min(100, percent))


def job_error(reply: JsonObject) -> ApiCallError:
    """Build the error a failed job reports: ``jobresult.errorcode`` and ``errortext``."""
    result = reply.get("jobresult")
    code = None
    text = None
    if isinstance(result, dict):
        code = _as_int(result.get("errorcode"))
        errortext = result.get("errortext")
        text = errortext if isinstance(errortext, str) else None
    elif isinstance(result, str):
        # Very old servers send jobresulttype "text" with the message as a bare string.
        text = result
    if code is None:
        code = _as_int(reply.get("jobresultcode")) or INTERNAL_ERROR_CODE
    return ApiCallError(code, text or f"job {reply.get('jobid', '?')} failed")


def _unwrap(command: str, response: httpx.Response) -> JsonObject:
    body = _json_object(response)
    if response.status_code != httpx.codes.OK:
        raise _call_error(response, body)
    if body is None or len(body) != 1:
        raise ApiResponseError(
            f"{command}: expected a one-key JSON envelope, got HTTP {response.status_code} "
            f"{response.text[:200]!r}"
        )
    (payload,) = body.values()
    if not isinstance(payload, dict):
        raise ApiResponseError(f"{command}: the envelope does not hold an object: {body}")
    return payload


def _call_error(response: httpx.Response, body: JsonObject | None) -> ApiCallError:
    inner: JsonObject = {}
    if body is not None:
        payload = next(iter(body.values())) if len(body) == 1 else body
        inner = payload if isinstance(payload, dict) else body
    errortext = inner.get("errortext")
    text = (
        errortext
        if isinstance(errortext, str)
        else response.headers.get("X-Description") or response.text[:200] or response.reason_phrase
    )
    code = _as_int(inner.get("errorcode")) or response.status_code
    return ApiCallError(code, text)


def _json_object(response: httpx.Response) -> JsonObject | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _as_int(value: JsonValue) -> int | None:
    # JSON booleans are ints to Python; a status or code is never a boolean.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None
