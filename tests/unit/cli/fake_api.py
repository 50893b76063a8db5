"""FakeApi: an in-memory CloudStack endpoint behind httpx.MockTransport, and a FakeClock."""

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx

from kvmcloud.cli.api_client import ApiClient, JsonObject
from kvmcloud.protocol.api_signing import is_valid_signature

ENDPOINT = "http://cloud.test/client/api"
API_KEY = "test-api-key"
SECRET_KEY = "test-secret-key"
NOW = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)


class FakeClock:
    """Monotonic time that moves only when the code under test sleeps."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.now_s = 1000.0
        self.sleeps: list[float] = []
        self._stalled = stalled

    def monotonic(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if not self._stalled:
            self.now_s += seconds


class FakeApi:
    """Answer signed requests from scripted replies; record every request's parameters."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.params: list[dict[str, str]] = []
        self._replies: dict[str, Callable[[dict[str, str]], httpx.Response]] = {}
        self._jobs: dict[str, list[JsonObject]] = {}

    def on(self, command: str, payload: JsonObject, *, status: int = 200) -> None:
        """Answer ``command`` with ``payload`` inside its envelope and the given status."""
        body = {f"{command.lower()}response": payload}
        self._replies[command] = lambda _params: httpx.Response(status, json=body)

    def on_raw(self, command: str, response: httpx.Response) -> None:
        """Answer ``command`` with exactly ``response``."""
        self._replies[command] = lambda _params: response

    def script_job(self, jobid: str, *states: JsonObject) -> None:
        """Make each queryAsyncJobResult for ``jobid`` return the next state; the last repeats."""
        self._jobs[jobid] = [{"jobid": jobid, **state} for state in states]

    def job_polls(self, jobid: str) -> int:
        return sum(
            1
            for params in self.params
            if params["command"] == "queryAsyncJobResult" and params["jobid"] == jobid
        )

    def client(
        self,
        clock: FakeClock | None = None,
        *,
        use_post: bool = False,
        secret_key: str = SECRET_KEY,
    ) -> ApiClient:
        clock = clock or FakeClock()
        return ApiClient(
            ENDPOINT,
            API_KEY,
            secret_key,
            http=httpx.Client(transport=httpx.MockTransport(self.handle)),
            use_post=use_post,
            monotonic=clock.monotonic,
            sleep=clock.sleep,
            utc_now=lambda: NOW,
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = dict(request.url.params)
        if request.method == "POST":
            params.update(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.params.append(params)
        if not is_valid_signature(params, SECRET_KEY, params.get("signature", "")):
            return _error(401, "unable to verify user credentials and/or request signature")
        command = params["command"]
        if command == "queryAsyncJobResult" and params.get("jobid") in self._jobs:
            states = self._jobs[params["jobid"]]
            state = states.pop(0) if len(states) > 1 else states[0]
            return httpx.Response(200, json={"queryasyncjobresultresponse": state})
        if command not in self._replies:
            return _error(432, "The given command does not exist", key="errorresponse")
        return self._replies[command](params)


def _error(code: int, text: str, *, key: str = "errorresponse") -> httpx.Response:
    return httpx.Response(code, json={key: {"uuidList": [], "errorcode": code, "errortext": text}})


def pending(percent: int = 0) -> JsonObject:
    return {"jobstatus": 0, "jobprocstatus": percent}


def succeeded(result: JsonObject) -> JsonObject:
    return {"jobstatus": 1, "jobresultcode": 0, "jobresulttype": "object", "jobresult": result}


def failed(code: int, text: str) -> JsonObject:
    return {
        "jobstatus": 2,
        "jobresultcode": code,
        "jobresulttype": "object",
        "jobresult": {"errorcode": code, "errortext": text},
    }
