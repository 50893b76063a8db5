"""The /agent/v1 routes agents call (heartbeats), authenticated by the host's key."""

import hmac
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kvmcloud import pki
from kvmcloud.listeners import BodyTooLargeError, client_certificate, read_capped_body
from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.errors import AuthenticationError

# (host uuid, presented key) → None; raises AuthenticationError. The one credential check
# of the agent routes (infrastructure.heartbeats.Heartbeats.authenticate).
AuthenticateAgent = Callable[[str, str], None]
ReceiveHeartbeat = Callable[[msg.Heartbeat, str], msg.HeartbeatReply]
# Largest heartbeat accepted: a report plus the listing of every pool (bounded per pool).
MAX_HEARTBEAT_BYTES = 4 * 1024 * 1024


def agent_routes(
    authenticate: AuthenticateAgent,
    receive_heartbeat: ReceiveHeartbeat,
    *,
    require_client_certificate: bool = True,
) -> list[Route]:
    """Return the routes agents use to report to this server.

    Order matters: the host is identified and its key checked from the headers before
    one byte of the body is read, then the body is read up to its cap, then parsed
    (depth-bounded). Over mutual TLS the client certificate (verified against the CA by
    the listener) must name the same host: one agent's certificate cannot speak for
    another. ``require_client_certificate=False`` is for in-process tests, without TLS.
    """

    async def heartbeat_route(request: Request) -> Response:
        credentials = _credentials(request)
        if credentials is None:
            return _error(401, "missing host uuid or bearer key")
        host_uuid, key = credentials
        if require_client_certificate and not _certificate_names(request, host_uuid):
            return _error(403, "the TLS client certificate is not this host's")
        try:
            await run_in_threadpool(authenticate, host_uuid, key)
        except AuthenticationError:
            return _error(401, "unknown host or wrong key")
        try:
            body = await read_capped_body(request, MAX_HEARTBEAT_BYTES)
        except BodyTooLargeError as exc:
            return _error(413, str(exc))
        try:
            beat = msg.from_json(msg.Heartbeat, body)
        except msg.MessageFormatError as exc:
            return _error(400, str(exc))
        if beat.host_uuid != host_uuid:
            return _error(400, "Heartbeat.host_uuid differs from the authenticated host")
        try:
            reply = await run_in_threadpool(receive_heartbeat, beat, key)
        except AuthenticationError:
            return _error(401, "unknown host or wrong key")
        return Response(msg.to_json(reply), media_type="application/json")

    return [Route("/agent/v1/heartbeat", heartbeat_route, methods=["POST"])]


def _certificate_names(request: Request, host_uuid: str) -> bool:
    pem = client_certificate(request.scope)
    return pem is not None and hmac.compare_digest(pki.common_name(pem), host_uuid)


def _credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    host_uuid = request.headers.get(msg.HOST_UUID_HEADER, "").strip()
    if not hmac.compare_digest(scheme.encode(), msg.AUTHORIZATION_SCHEME.encode()):
        return None
    if not key.strip() or not host_uuid:
        return None
    return host_uuid, key.strip()


def _error(status_code: int, text: str) -> Response:
    return JSONResponse({"error": text}, status_code=status_code)
