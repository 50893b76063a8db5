"""The /agent/v1 routes agents call (heartbeats), authenticated by the host's key."""

import hmac
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.errors import AuthenticationError

ReceiveHeartbeat = Callable[[msg.Heartbeat, str], msg.HeartbeatReply]


def agent_routes(receive_heartbeat: ReceiveHeartbeat) -> list[Route]:
    """Return the routes agents use to report to this server."""

    def heartbeat(body: bytes, key: str) -> msg.HeartbeatReply:
        return receive_heartbeat(msg.from_json(msg.Heartbeat, body), key)

    async def heartbeat_route(request: Request) -> Response:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if not hmac.compare_digest(scheme.encode(), msg.AUTHORIZATION_SCHEME.encode()) or not key:
            return JSONResponse({"error": "missing bearer key"}, status_code=401)
        body = await request.body()
        try:
            reply = await run_in_threadpool(heartbeat, body, key)
        except msg.MessageFormatError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except AuthenticationError:
            return JSONResponse({"error": "unknown host or wrong key"}, status_code=401)
        return Response(msg.to_json(reply), media_type="application/json")

    return [Route("/agent/v1/heartbeat", heartbeat_route, methods=["POST"])]
