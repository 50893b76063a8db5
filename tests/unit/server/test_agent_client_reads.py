"""HttpAgentClient.read_pool_file: what it sends, and how the agent's refusals map."""

import httpx
import pytest

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.agent_client import (
    AgentEndpoint,
    AgentUnreachableError,
    HttpAgentClient,
    PoolFileMissingError,
)
from kvmcloud.server.errors import ResourceUnavailableError

ENDPOINT = AgentEndpoint(url="https://agent:8252/", key="k1", name="kvm1", key_context="c")
REQUEST = msg.ReadPoolFileRequest(
    pool=msg.PoolSpec(uuid="p1", type=msg.PoolType.FILESYSTEM, path="/pool"),
    name="t1.qcow2",
    size_bytes=4,
)


def client(handler: httpx.MockTransport) -> HttpAgentClient:
    return HttpAgentClient(httpx.Client(transport=handler))


def test_it_posts_the_request_with_the_key_and_range_and_relays_the_body() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"Content-Length": "4", "Content-Range": "bytes 0-3/4", "X-Other": "dropped"}
        return httpx.Response(206, stream=httpx.ByteStream(b"QFI\xfb"), headers=headers)

    with client(httpx.MockTransport(answer)).read_pool_file(
        ENDPOINT, REQUEST, byte_range="bytes=0-3"
    ) as stream:
        body = b"".join(stream.chunks)
    (request,) = seen
    assert str(request.url) == "https://agent:8252/pool-files/read"
    assert request.headers["authorization"] == "Bearer k1"
    assert request.headers["range"] == "bytes=0-3"
    assert msg.from_json(msg.ReadPoolFileRequest, request.content) == REQUEST
    assert (stream.status_code, body) == (206, b"QFI\xfb")
    assert stream.headers == {"content-length": "4", "content-range": "bytes 0-3/4"}


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, PoolFileMissingError), (401, ResourceUnavailableError), (503, ResourceUnavailableError)],
)
def test_refusals_become_errors(status: int, error: type[Exception]) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(status, json={"error": "no"}))
    reading = client(transport).read_pool_file(ENDPOINT, REQUEST, byte_range=None)
    with pytest.raises(error), reading:
        pass


def test_a_connection_failure_is_unreachable() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    reading = client(httpx.MockTransport(fail)).read_pool_file(ENDPOINT, REQUEST, byte_range=None)
    with pytest.raises(AgentUnreachableError), reading:
        pass
